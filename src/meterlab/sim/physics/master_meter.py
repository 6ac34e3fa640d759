"""Reference master meters in series with the meters under test, so a test knows the truth.

A master meter integrates the TRUE volume that passes it (the source rig's step volume, moved to the master
meter's own pressure and temperature where the rig says how: `rig.at_master_meter()`, the gas rig) through
ITS OWN error curve (the scenario's `master_meter` / `gas_rig.master_meter`, interpolated linearly in log Q
like a meter under test's, without random error). The truth stays readable for tests as `<name>.true_volume_l`.

Signals, for a master meter named <name> (`master_meter` in the water line, `gas_master_meter` in the gas
line): <name>.totalizer_m3 (indicated volume since the last reset), <name>.volume_flow_m3h (indicated
flowrate now), <name>.mass_flow_kg_h, <name>.density_kg_m3, <name>.temperature_c, <name>.pressure_pa
(absolute), <name>.system_condition (1 = ok), <name>.true_volume_l (truth, not an instrument reading),
<name>.reset (write 1: totalizer to zero). Fault: <name>_fault (system condition 0 for duration_s, or until
the end)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from meterlab.metrology.fluids import STANDARD_PRESSURE_PA
from meterlab.sim.physics.meters import SimulatedMeter
from meterlab.sim.physics.water_rig import true_water_density
from meterlab.sim.reference_params import MasterMeterParams
from meterlab.sim.scenario import FaultSpec, MeterSpec, Scenario
from meterlab.sim.world import Component, World

L_PER_M3 = 1000.0
PA_PER_BAR = 1e5
SYSTEM_OK, SYSTEM_FAULT = 1, 0


class Conditions(NamedTuple):
    """What the master meter sees now: true flowrate at its own p and T, temperature, pressure, density."""

    flowrate_m3h: float
    temperature_c: float
    pressure_pa: float
    density_kg_m3: float


class MasterMeter(Component):
    def __init__(self, name: str, params: MasterMeterParams, *, source: str, conditions: Callable[[], Conditions]):
        self.name, self.source, self.conditions = name, source, conditions
        spec = MeterSpec(serial=name, error_curve=params.error_curve, repeatability_pct=0.0, pulse_value_l=1.0,
                         register_resolution_l=1e-6, initial_register_l=params.initial_totalizer_m3 * L_PER_M3)
        # the meter model without random error (its generator is never drawn from, so it takes none of the
        # world's seeded streams: adding a master meter changes no other component's random numbers)
        self.meter = SimulatedMeter(spec, 1, np.random.default_rng(0))
        self.true_volume_l = 0.0
        self.system_condition = SYSTEM_OK

    def attach(self, world: World) -> None:
        super().attach(world)
        name = self.name
        world.define_signal(f"{name}.totalizer_m3", lambda: self.meter.indicated_volume_l / L_PER_M3)
        world.define_signal(f"{name}.volume_flow_m3h", lambda: self.indicated_flowrate_m3h())
        world.define_signal(f"{name}.mass_flow_kg_h",
                            lambda: self.indicated_flowrate_m3h() * self.conditions().density_kg_m3)
        world.define_signal(f"{name}.density_kg_m3", lambda: self.conditions().density_kg_m3)
        world.define_signal(f"{name}.temperature_c", lambda: self.conditions().temperature_c)
        world.define_signal(f"{name}.pressure_pa", lambda: self.conditions().pressure_pa)
        world.define_signal(f"{name}.system_condition", lambda: self.system_condition)
        world.define_signal(f"{name}.true_volume_l", lambda: self.true_volume_l, doc="truth, for tests")
        world.define_signal(f"{name}.reset", lambda: False, lambda value: value and self.reset())
        world.on_fault(f"{name}_fault", self.fail)

    def curve_error_pct(self, flowrate_m3h: float) -> float:
        return self.meter.curve_error_pct(flowrate_m3h)

    def indicated_flowrate_m3h(self) -> float:
        flowrate = self.conditions().flowrate_m3h
        return flowrate * (1 + self.meter.error_pct(flowrate) / 100) if flowrate > 0 else 0.0

    def reset(self) -> None:
        self.meter.indicated_volume_l = 0.0

    def fail(self, fault: FaultSpec | None = None) -> None:
        self.system_condition = SYSTEM_FAULT
        if fault is not None and fault.duration_s:
            self.world.schedule(self.world.t_s + fault.duration_s, self._recover)

    def _recover(self) -> None:
        self.system_condition = SYSTEM_OK

    def step_limit_s(self) -> float:
        return math.inf  # it counts what the rig passes; a flow that changes limits the rig's own step

    def step(self, t_s: float, dt_s: float) -> None:
        rig = self.world.component(self.source)
        if rig.step_volume_l <= 0:
            return
        at_master_meter = getattr(rig, "at_master_meter", None)  # gas: the volume at the meter's own p and T
        factor = at_master_meter() if at_master_meter else 1.0
        volume_l = rig.step_volume_l * factor
        self.true_volume_l += volume_l
        self.meter.pass_volume(volume_l, rig.step_flowrate_m3h * factor)


def water_line_conditions(world: World) -> Callable[[], Conditions]:
    """The water line at the master meter: the rig's flowrate, temperature and (gauge -> absolute) pressure."""

    def conditions() -> Conditions:
        signals = world.signals
        temperature_c = signals["water.temperature_c"].read()
        pressure_pa = STANDARD_PRESSURE_PA + signals["water.pressure_bar"].read() * PA_PER_BAR
        return Conditions(signals["water.flowrate_m3h"].read(), temperature_c, pressure_pa,
                          true_water_density(temperature_c, pressure_pa))  # Tanaka, Kell above 40 °C

    return conditions


def build(world: World, scenario: Scenario) -> None:
    world.add(MasterMeter("master_meter", scenario.master_meter, source="water_rig",
                          conditions=water_line_conditions(world)))
