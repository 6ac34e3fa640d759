"""Simulated dips/interruptions/variation AC source: `count` dips of `duration_cycles` `interval_s` apart,
or a steady variation of the output until STOP."""

from __future__ import annotations

from typing import Any

from meterlab.sim.devices.emc.base import RUNNING, STANDBY, GeneratorParams, SimEmcGenerator


class DipsParams(GeneratorParams):
    identity: str = "SIM-DIPS 1.00"


class SimDipsGenerator(SimEmcGenerator):
    Params = DipsParams
    family = "dips"
    DEFAULTS = {"mode": "dips", "nominal_voltage_v": 230, "mains_frequency_hz": "50", "residual_pct": 0,
                "duration_cycles": 1, "phase_angle_deg": 0, "count": 3, "interval_s": 10, "variation_pct": 0,
                "output": "ac", "duration_ms": 10}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events = 0
        self.in_dip = False

    def kind(self) -> str:
        if self.is_set("mode", "variation"):  # a meter on a DC supply reacts to it as to its own kind
            return "dc_voltage_variation" if self.is_set("output", "dc") else "voltage_variation"
        return "dc_dips" if self.is_set("output", "dc") else "dips"

    def begin(self, t0_s: float) -> None:
        self.events, self.in_dip = 0, False
        if self.is_set("mode", "variation"):
            return  # a steady variation lasts until STOP
        self._dip(t0_s, 0)

    def _dip(self, start_s: float, index: int) -> None:
        self.in_dip = True
        if self.is_set("output", "dc"):  # a DC dip lasts a time; an AC one mains cycles
            dip_s = self.v("duration_ms") / 1000
        else:
            dip_s = self.v("duration_cycles") / float(self.v("mains_frequency_hz"))
        self.at(start_s + dip_s, lambda: self._dip_over(start_s, index))

    def _dip_over(self, start_s: float, index: int) -> None:
        self.in_dip = False
        self.events += 1
        if self.events >= self.v("count"):
            self.complete_test()
            return
        next_s = max(start_s + self.v("interval_s"), self.world.t_s)
        self.at(next_s, lambda: self._dip(next_s, index + 1))

    def finished(self) -> None:
        self.in_dip = False

    def q_output_voltage_v(self) -> str:
        nominal = self.v("nominal_voltage_v")
        if self.state == STANDBY:
            volts = 0.0
        elif self.state == RUNNING and self.is_set("mode", "variation"):
            volts = nominal * (1 + self.v("variation_pct") / 100)
        elif self.in_dip:
            volts = nominal * self.v("residual_pct") / 100
        else:
            volts = nominal
        return f"{volts:.1f}"

    def q_events_delivered(self) -> str:
        return str(self.events)
