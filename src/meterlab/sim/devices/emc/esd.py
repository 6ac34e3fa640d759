"""Simulated ESD simulator: `count` discharges `interval_s` apart."""

from __future__ import annotations

from typing import Any

from meterlab.sim.devices.emc.base import GeneratorParams, SimEmcGenerator, counted


class EsdParams(GeneratorParams):
    identity: str = "SIM-ESD 1.00"


class SimEsdSimulator(SimEmcGenerator):
    Params = EsdParams
    family = "esd"
    DEFAULTS = {"discharge": "contact", "voltage_kv": 2.0, "polarity": "positive", "count": 10, "interval_s": 1}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.discharges = 0

    def kind(self) -> str:
        return "esd"

    def begin(self, t0_s: float) -> None:
        self.discharges = 0
        counted(self, t0_s, self.v("interval_s"), self.v("count"), self._discharge)

    def _discharge(self) -> None:
        self.discharges += 1

    def q_discharges_delivered(self) -> str:
        return str(self.discharges)
