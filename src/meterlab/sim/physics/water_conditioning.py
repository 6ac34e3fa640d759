"""Water conditioning of the water rig: the temperature-conditioning circulator, the line pressure regulator
and the pressure loss across each meter under test.

- Circulator (heater/chiller on the supply tank): while it runs, the line's water follows its setpoint,
  bounded to what the unit can hold, with a first-order lag (integrated exactly); its controller takes out
  the rig's drift. While it is stopped the water rig's own temperature model applies unchanged (drift,
  excursion faults).
- Pressure regulator at the meters' inlet: while it regulates, its outlet follows its setpoint with a
  first-order lag, starting from the pressure the line had; the line gets that pressure as long as the
  booster's head less the rig's pressure drop allows it (physics/water_rig.py). Not regulating: the line
  has the supply's own pressure, as without a regulator.
- Pressure loss: Δp = Δp(Q3)·(Q/Q3)² across the meter at each position (MeterSpec q3_m3h,
  pressure_loss_at_q3_kpa), with the flow of the line.

Signals: circulator.run (1 = running), circulator.setpoint_c, water.pressure_bar.setpoint (gauge bar, None =
not regulating), meter<n>.pressure_loss_pa (differential, Pa)."""

from __future__ import annotations

import math
from typing import Any

from meterlab.sim.scenario import MeterSpec, Scenario, WaterConditioningParams
from meterlab.sim.world import Component, World

PA_PER_KPA = 1e3


class WaterConditioning(Component):
    name = "water_conditioning"

    def __init__(self, params: WaterConditioningParams, meters: list[MeterSpec], *, rig: str = "water_rig"):
        self.p = params
        self.meters = meters
        self.rig_name = rig
        self.circulator_on = False
        self.circulator_setpoint_c = 20.0
        self.pressure_setpoint_bar: float | None = None
        self.regulator_outlet_bar = 0.0

    def attach(self, world: World) -> None:
        super().attach(world)
        self.rig = world.component(self.rig_name)
        self.rig.regulator_head_bar = self.p.supply_head_bar
        world.define_signal("circulator.run", lambda: self.circulator_on, self._set_run, "1 = conditioning")
        world.define_signal("circulator.setpoint_c", lambda: self.circulator_setpoint_c, self._set_setpoint,
                            "°C, bounded to what the unit can hold")
        world.define_signal("water.pressure_bar.setpoint", lambda: self.pressure_setpoint_bar,
                            self._set_pressure_setpoint, "gauge bar the regulator holds; None = not regulating")
        for position, meter in enumerate(self.meters, start=1):
            world.define_signal(f"meter{position}.pressure_loss_pa", lambda m=meter: self.pressure_loss_pa(m),
                                doc="across the meter, Pa")

    # -- actuators ------------------------------------------------------------------------------------------
    def _set_run(self, value: Any) -> None:
        self.circulator_on = bool(value)
        self.rig.temperature_conditioned = self.circulator_on

    def _set_setpoint(self, value: Any) -> None:
        self.circulator_setpoint_c = float(value)

    def _set_pressure_setpoint(self, value: Any) -> None:
        if value is None:
            self.pressure_setpoint_bar = None
            self.rig.regulated_pressure_bar = None
            return
        if self.pressure_setpoint_bar is None:
            self.regulator_outlet_bar = self.rig.line_pressure_bar  # starts from where the line is
        self.pressure_setpoint_bar = max(0.0, float(value))
        self.rig.regulated_pressure_bar = self.regulator_outlet_bar

    # -- physics --------------------------------------------------------------------------------------------
    @property
    def circulator_target_c(self) -> float:
        return min(max(self.circulator_setpoint_c, self.p.circulator_min_c), self.p.circulator_max_c)

    def pressure_loss_pa(self, meter: MeterSpec) -> float:
        share = self.rig.flowrate_m3h / meter.q3_m3h
        return meter.pressure_loss_at_q3_kpa * PA_PER_KPA * share * share

    def step_limit_s(self) -> float:
        """Unlimited unless the water is heading for the circulator's setpoint (the meters feel its temperature as at
        a step's end) or the regulator's outlet for its own."""
        heading = self.circulator_on and self.rig.water_temperature_c != self.circulator_target_c
        regulating = self.pressure_setpoint_bar is not None and self.regulator_outlet_bar != self.pressure_setpoint_bar
        return self.world.max_step_s if heading or regulating else math.inf

    def step(self, t_s: float, dt_s: float) -> None:
        if self.circulator_on:
            target = self.circulator_target_c
            decay = math.exp(-dt_s / self.p.circulator_time_constant_s)
            self.rig.water_temperature_c = target + (self.rig.water_temperature_c - target) * decay
        if self.pressure_setpoint_bar is not None:
            decay = math.exp(-dt_s / self.p.regulator_time_constant_s)
            target = self.pressure_setpoint_bar
            self.regulator_outlet_bar = target + (self.regulator_outlet_bar - target) * decay
            self.rig.regulated_pressure_bar = self.regulator_outlet_bar


def build(world: World, scenario: Scenario) -> None:
    world.add(WaterConditioning(scenario.water_conditioning, scenario.meters))
