"""Voltage dips, short interruptions (IEC 61000-4-11) and steady voltage variation from an AC source."""

from __future__ import annotations

from typing import Any, ClassVar

from meterlab.instruments.emc.base import (
    EmcGenerator,
    GeneratorOptions,
    TableProperty,
    mapped_number,
    pop_list,
    without_none,
)
from meterlab.instruments.errors import InstrumentValueError


class DipsGenerator(EmcGenerator):
    """Voltage dips, short interruptions (IEC 61000-4-11) and steady voltage variation (power voltage
    variation test) from a programmable AC source.

    configure(): mode (dips|variation; set from the other parameters if not given), nominal_voltage_v,
    mains_frequency_hz (50|60), residual_pct, duration_cycles, phase_angle_deg, count, interval_s,
    variation_pct, output (ac|dc). Measured: output_voltage_v, events_delivered. Dips complete after `count` events;
    a variation runs until stop()."""

    class Options(GeneratorOptions):
        family: ClassVar[str] = "dips"

    family = "dips"
    disturbances = ("dips", "voltage_variation", "dc_voltage_variation", "dc_dips")
    order = ("mode", "output", "nominal_voltage_v", "mains_frequency_hz")
    mode = TableProperty("dips (dips and interruptions) | variation (steady variation until stop)", "enum")
    output = TableProperty("ac (mains) | dc (a DC supply: a DC-powered meter, or one whose battery it replaces)",
                           "enum")
    nominal_voltage_v = TableProperty("Nominal (rated) output voltage, rms (DC: the voltage), in V.")
    mains_frequency_hz = TableProperty("Output frequency, 50 or 60 Hz (as the strings '50', '60').", "enum",
                                       cast=mapped_number)
    residual_pct = TableProperty("Residual voltage during a dip, % of nominal (0 = interruption).")
    duration_cycles = TableProperty("Duration of a dip in mains cycles.")
    duration_ms = TableProperty("Duration of a dip on the DC output, in ms.")
    phase_angle_deg = TableProperty("Start phase of a dip, in degrees.")
    count = TableProperty("Dip events per test.", "int")
    interval_s = TableProperty("Time between dip events, in seconds.")
    variation_pct = TableProperty("Steady variation of the output from nominal, in %.")
    output_voltage_v = TableProperty("Output voltage now, rms, in V.", readonly=True)
    events_delivered = TableProperty("Dip events delivered since START.", "int", readonly=True)

    def _complete(self, params: dict[str, Any]) -> dict[str, Any]:
        if "mode" not in params:
            if params.get("variation_pct") is not None:
                params["mode"] = "variation"
            elif any(params.get(k) is not None for k in ("residual_pct", "duration_cycles")):
                params["mode"] = "dips"
        return params

    def _runs(self, kind: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """`dips_interruptions`: one run per entry of `reductions` (residual_pct, duration_cycles, the
        60 Hz duration when mains_frequency_hz is 60), each `count` times `interval_s` apart, for every
        start phase in `phase_angles_deg` if given. `voltage_variation`: `limit: upper|lower` picks
        upper_voltage_pct / lower_voltage_pct (both in turn if no limit); `dc_voltage_variation` the same on the
        DC output. `dc_dips`: one run per entry of `reductions` (residual_pct, duration_ms) on the DC output,
        each `count` times `interval_s` apart (no phase on DC)."""
        if kind == "dc_dips":
            params.pop("mains_frequency_hz", None)
            reductions = params.pop("reductions", None) or [{}]
            return [without_none({**params, **reduction, "mode": "dips", "output": "dc"}) for reduction in reductions]
        if kind == "dc_voltage_variation":
            params["output"] = "dc"
            params.pop("mains_frequency_hz", None)  # no frequency on a DC supply
            kind = "voltage_variation"
        else:  # said every time: a source left on DC by a DC test must not feed an AC test
            params["output"] = "ac"
        if kind == "voltage_variation":
            upper, lower = params.pop("upper_voltage_pct", None), params.pop("lower_voltage_pct", None)
            params.pop("frequency_variation_pct", None)  # a frequency change is not applied by this source
            limit = params.pop("limit", None)
            if limit is not None:
                chosen = {"upper": upper, "lower": lower}.get(limit)
                if chosen is None:
                    raise InstrumentValueError(self.name, "limit", limit,
                                               "upper or lower, with upper_voltage_pct / lower_voltage_pct given")
                return [without_none({**params, "mode": "variation", "variation_pct": chosen})]
            variations = [pct for pct in (upper, lower) if pct is not None] or [params.pop("variation_pct", None)]
            return [without_none({**params, "mode": "variation", "variation_pct": pct}) for pct in variations]
        sixty = str(params.get("mains_frequency_hz", "")).startswith("60")
        reductions = params.pop("reductions", None) or [{}]
        angles = pop_list(params, "phase_angles_deg", "phase_angle_deg")
        runs = []
        for reduction in reductions:
            reduction = dict(reduction)
            duration_60 = reduction.pop("duration_cycles_60hz", None)
            if sixty and duration_60 is not None:
                reduction["duration_cycles"] = duration_60
            runs += [without_none({**params, **reduction, "mode": "dips", "phase_angle_deg": a}) for a in angles]
        return runs
