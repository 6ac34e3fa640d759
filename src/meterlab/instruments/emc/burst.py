"""Burst / electrical fast transient generators (IEC 61000-4-4)."""

from __future__ import annotations

from typing import Any, ClassVar

from meterlab.instruments.emc.base import EmcGenerator, GeneratorOptions, TableProperty, pop_list, without_none


class BurstGenerator(EmcGenerator):
    """Electrical fast transient / burst generator (IEC 61000-4-4).

    configure(): voltage_kv, polarity, repetition_khz, burst_length_ms, burst_period_ms, coupling
    (L, N, PE, L+N, L+PE, N+PE, L+N+PE or `lines`, `clamp`), duration_s (profile: duration_per_polarity_s)."""

    class Options(GeneratorOptions):
        family: ClassVar[str] = "burst"

    family = "burst"
    disturbances = ("burst",)
    aliases = {"duration_per_polarity_s": "duration_s"}
    voltage_kv = TableProperty("Peak voltage of the pulses (open circuit), in kV.")
    polarity = TableProperty("positive | negative", "enum")
    repetition_khz = TableProperty("Repetition frequency of the spikes within a burst, in kHz.")
    burst_length_ms = TableProperty("Burst duration, in ms.")
    burst_period_ms = TableProperty("Burst period, in ms.")
    coupling = TableProperty("Lines the burst is coupled to, or the capacitive clamp.", "enum")
    duration_s = TableProperty("Test duration, in seconds.")

    def _runs(self, kind: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Profile `burst_mains`/`burst_signal`: one run per polarity; the profile's descriptive `coupling`
        text becomes `clamp` if it names the clamp, `lines` otherwise (explicit values are kept)."""
        coupling = params.get("coupling")
        if isinstance(coupling, str) and coupling not in self.table.values.get("coupling", {}):
            params["coupling"] = "clamp" if "clamp" in coupling.lower() else "lines"
        polarities = pop_list(params, "polarities", "polarity")
        return [without_none({**params, "polarity": p}) for p in polarities]
