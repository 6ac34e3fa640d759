"""The gas supply of the safety-function tests: the pressure at the meter's inlet, set by a pressure controller.

A supply at its nominal gauge pressure (`supply_gauge_pa`) feeds the meter under test through a pressure
controller's valve. While the controller regulates, the inlet pressure moves to its setpoint at the ramp rate it
was given (bounded by the valve's `max_slew_pa_per_s`), then settles with a first-order lag (`time_constant_s`):
dp/dt = clip((p_set - p) / tau, -rate, +rate), integrated exactly (physics/lags.py). The valve cannot give more
than the supply, nor less than the atmosphere. Not regulating, the inlet returns to the supply's pressure the
same way. Pressures are absolute, like the gas rig's: the gauge pressure above `ambient.pressure_pa` (the
gas rig's ambient, drifting with it); a setpoint is held as the gauge pressure it was when written (a simplification
for an absolute controller: the ambient's drift during a test is not taken out).

Signals: gas_supply.pressure_pa (absolute, at the meter's inlet), gas_supply.pressure_pa.setpoint (rw, absolute
Pa; None = not regulating), gas_supply.pressure_pa.slew_per_s (rw, Pa/s; None = as fast as the valve can)."""

from __future__ import annotations

import math
from typing import Any

from meterlab.sim.physics.lags import follow
from meterlab.sim.scenario import GasSupplyParams, Scenario
from meterlab.sim.world import Component, World

STANDARD_ATMOSPHERE_PA = 101325.0  # only where the world has no ambient pressure (a world built without a gas rig)
PORT = "gas_supply.pressure_pa"


class GasSupply(Component):
    name = "gas_supply"

    def __init__(self, params: GasSupplyParams):
        self.p = params
        self.gauge_pa = params.supply_gauge_pa
        self.setpoint_gauge_pa: float | None = None
        self.slew_pa_per_s: float | None = None

    def attach(self, world: World) -> None:
        super().attach(world)
        world.define_signal(PORT, lambda: self.ambient_pa() + self.gauge_pa, doc="absolute, at the meter's inlet")
        world.define_signal(f"{PORT}.setpoint", self._setpoint_absolute, self._set_setpoint,
                            "absolute Pa the controller holds; None = not regulating")
        world.define_signal(f"{PORT}.slew_per_s", lambda: self.slew_pa_per_s, self._set_slew,
                            "Pa/s towards a new setpoint; None = as fast as the valve can")

    def ambient_pa(self) -> float:
        ambient = self.world.signals.get("ambient.pressure_pa")
        return float(ambient.read()) if ambient is not None else STANDARD_ATMOSPHERE_PA

    def _setpoint_absolute(self) -> float | None:
        return None if self.setpoint_gauge_pa is None else self.ambient_pa() + self.setpoint_gauge_pa

    def _set_setpoint(self, value: Any) -> None:
        self.setpoint_gauge_pa = None if value is None else float(value) - self.ambient_pa()

    def _set_slew(self, value: Any) -> None:
        self.slew_pa_per_s = None if value is None or value <= 0 else float(value)

    def _target_pa(self) -> float:
        target = self.p.supply_gauge_pa if self.setpoint_gauge_pa is None else self.setpoint_gauge_pa
        return min(max(target, 0.0), self.p.supply_gauge_pa)  # the valve passes no more than the supply

    def step_limit_s(self) -> float:
        return math.inf if self._target_pa() == self.gauge_pa else self.world.max_step_s

    def step(self, t_s: float, dt_s: float) -> None:
        target = self._target_pa()
        if target == self.gauge_pa:
            return
        rate = self.p.max_slew_pa_per_s if self.slew_pa_per_s is None else min(self.slew_pa_per_s,
                                                                               self.p.max_slew_pa_per_s)
        self.gauge_pa, _ = follow(self.gauge_pa, target, self.p.time_constant_s, rate, rate, dt_s)


def build(world: World, scenario: Scenario) -> None:
    world.add(GasSupply(scenario.gas_supply))
