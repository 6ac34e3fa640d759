"""Surge generators (IEC 61000-4-5, combination wave)."""

from __future__ import annotations

from typing import Any, ClassVar

from meterlab.instruments.emc.base import EmcGenerator, GeneratorOptions, TableProperty, pop_list, without_none


class SurgeGenerator(EmcGenerator):
    """Combination-wave surge generator (IEC 61000-4-5).

    configure(): voltage_kv, polarity (positive|negative), coupling (L-N|L-PE|N-PE|IMP-OUT), phase_angle_deg,
    count, interval_s (repetition). Measured: peak_voltage_v, peak_current_a (last surge), last_coupling,
    pulses_delivered."""

    class Options(GeneratorOptions):
        family: ClassVar[str] = "surge"

    family = "surge"
    disturbances = ("surge",)
    voltage_kv = TableProperty("Open-circuit peak voltage in kV.")
    polarity = TableProperty("positive | negative", "enum")
    coupling = TableProperty("Coupling path: L-N, L-PE, N-PE, or IMP-OUT (impulse output to an external CDN).",
                             "enum")
    phase_angle_deg = TableProperty("Mains phase angle the surge is synchronised to, in degrees.")
    count = TableProperty("Surges per test.", "int")
    interval_s = TableProperty("Time between surges (repetition), in seconds.")
    last_coupling = TableProperty("Coupling path of the last surge (LC?).", "enum", readonly=True,
                                  values_key="coupling")
    peak_voltage_v = TableProperty("Measured peak voltage of the last surge, signed, in V.", "int", readonly=True)
    peak_current_a = TableProperty("Measured peak current of the last surge, signed, in A.", "int", readonly=True)
    pulses_delivered = TableProperty("Surges delivered since START.", "int", readonly=True)

    def _runs(self, kind: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Profile `surge_mains`: line_to_line_kv on L-N, line_to_earth_kv on L-PE and N-PE (or explicit
        `couplings`/`coupling` with `voltage_kv`), x polarities x phase_angles_deg."""
        line_kv, earth_kv = params.pop("line_to_line_kv", None), params.pop("line_to_earth_kv", None)
        for key in ("symmetrical_line_to_earth_kv", "shielded_line_kv"):
            params.pop(key, None)  # signal-line levels: chosen by the procedure with explicit parameters
        couplings = pop_list(params, "couplings", "coupling", ())
        voltage = params.pop("voltage_kv", None)
        if not couplings:
            couplings = ([c for c, kv in (("L-N", line_kv), ("L-PE", earth_kv), ("N-PE", earth_kv)) if kv is not None]
                         or [None])
        levels = {"L-N": line_kv, "L-PE": earth_kv, "N-PE": earth_kv}
        polarities = pop_list(params, "polarities", "polarity")
        angles = pop_list(params, "phase_angles_deg", "phase_angle_deg")
        return [without_none({**params, "voltage_kv": voltage if voltage is not None else levels.get(c),
                               "coupling": c, "polarity": p, "phase_angle_deg": a})
                for c in couplings for p in polarities for a in angles]
