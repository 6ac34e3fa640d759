"""Magnetic field sources: static and power frequency (IEC 61000-4-8)."""

from __future__ import annotations

from typing import Any, ClassVar

from meterlab.instruments.emc.base import EmcGenerator, GeneratorOptions, TableProperty, mapped_number, without_none


class MagneticFieldSource(EmcGenerator):
    """Magnetic field source: static (permanent-magnet substitute, electromagnet) or power frequency
    (IEC 61000-4-8 coil), continuous or pulsed.

    configure(): field (static|power_frequency; set from the other parameters if not given),
    flux_density_mt, field_a_per_m, frequency_hz (50|60), duration_s (0 = until stop(); profile: dwell_s),
    pulse_s (power frequency: each field's length; 0 = continuous), pulse_period_s (from one field's start to
    the next). Measured: field_now (mT or A/m; 0 between two pulses)."""

    class Options(GeneratorOptions):
        family: ClassVar[str] = "magnetic_field"

    family = "magnetic_field"
    disturbances = ("magnetic_field", "power_frequency_magnetic_field", "power_frequency_magnetic_field_short")
    order = ("field",)
    aliases = {"dwell_s": "duration_s", "mains_frequency_hz": "frequency_hz"}
    field = TableProperty("static | power_frequency", "enum")
    flux_density_mt = TableProperty("Static flux density, in mT.")
    field_a_per_m = TableProperty("Power-frequency field strength, rms, in A/m.")
    frequency_hz = TableProperty("Power frequency, 50 or 60 Hz (as the strings '50', '60').", "enum",
                                 cast=mapped_number)
    duration_s = TableProperty("How long the field is applied, in seconds (0: until stop).")
    pulse_s = TableProperty("Power frequency, pulsed: how long each field lasts, in seconds (0: continuous).")
    pulse_period_s = TableProperty("Pulsed: from the start of one field to the next, in seconds.")
    field_now = TableProperty("Field applied now (mT static, A/m power frequency; 0 when off).", readonly=True)

    def _complete(self, params: dict[str, Any]) -> dict[str, Any]:
        if "field" not in params:
            if params.get("flux_density_mt") is not None:
                params["field"] = "static"
            elif params.get("field_a_per_m") is not None:
                params["field"] = "power_frequency"
        return params

    def _runs(self, kind: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """`magnetic_field`: one run (flux_density_mt for dwell_s). `power_frequency_magnetic_field`: the
        continuous field (field_a_per_m, until stop: applied during the measurement).
        `power_frequency_magnetic_field_short`: the short-duration field, pulsed until stop (applied during the
        measurement): short_duration_field_a_per_m for short_duration_max_s every short_duration_interval_s."""
        if kind == "magnetic_field":
            return [without_none({**params, "field": "static"})]
        if kind == "power_frequency_magnetic_field_short":
            return [without_none({**_pulsed(params), "field": "power_frequency"})]
        return [without_none({**params, "field": "power_frequency", "pulse_s": 0})]


def _pulsed(params: dict[str, Any]) -> dict[str, Any]:
    """The short-duration field of a profile as the source's pulse settings (the longest allowed field each time)."""
    params.pop("short_duration_min_s", None)
    pulse = {"field_a_per_m": params.pop("short_duration_field_a_per_m", None),
             "pulse_s": params.pop("short_duration_max_s", None),
             "pulse_period_s": params.pop("short_duration_interval_s", None), "duration_s": 0}
    return {**params, **pulse}
