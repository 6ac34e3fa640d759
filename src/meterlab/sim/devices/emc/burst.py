"""Simulated burst/EFT generator: the burst is applied for `duration_s`."""

from __future__ import annotations

from meterlab.sim.devices.emc.base import GeneratorParams, SimEmcGenerator


class BurstParams(GeneratorParams):
    identity: str = "SIM-BURST 1.00"


class SimBurstGenerator(SimEmcGenerator):
    Params = BurstParams
    family = "burst"
    DEFAULTS = {"voltage_kv": 0.5, "polarity": "positive", "repetition_khz": 5, "burst_length_ms": 15,
                "burst_period_ms": 300, "coupling": "L+N+PE", "duration_s": 60}

    def kind(self) -> str:
        return "burst"

    def begin(self, t0_s: float) -> None:
        self.at(t0_s + self.v("duration_s"), self.complete_test)
