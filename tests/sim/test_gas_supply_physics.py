"""The gas supply of the safety tests on a manual clock: the meter's inlet pressure ramps at the controller's rate,
settles on its setpoint, and never exceeds the supply."""

import pytest

from meterlab.sim.clock import ManualClock
from meterlab.sim.physics import build_world
from meterlab.sim.scenario import GasSupplyParams, Scenario


def world_of(**sections):
    clock = ManualClock()
    return build_world(Scenario(**sections), clock), clock


def run(world, clock, seconds):
    clock.advance(seconds)
    world.advance()


def test_the_inlet_pressure_ramps_at_the_set_rate_then_settles_on_the_setpoint():
    world, clock = world_of(gas_supply=GasSupplyParams(supply_gauge_pa=2000.0, time_constant_s=0.5,
                                                       max_slew_pa_per_s=5000.0))
    ambient = world.read("ambient.pressure_pa")
    assert world.read("gas_supply.pressure_pa") == pytest.approx(ambient + 2000.0)  # not regulating: the supply
    with world.now():
        world.write("gas_supply.pressure_pa.slew_per_s", 50.0)
        world.write("gas_supply.pressure_pa.setpoint", ambient + 200.0)
    run(world, clock, 10.0)
    first = world.read("gas_supply.pressure_pa") - ambient
    run(world, clock, 10.0)
    second = world.read("gas_supply.pressure_pa") - ambient
    assert first == pytest.approx(1500.0, abs=1e-6) and first - second == pytest.approx(500.0, abs=1e-6)
    run(world, clock, 60.0)
    assert world.read("gas_supply.pressure_pa") - ambient == pytest.approx(200.0, abs=1e-6)
    with world.now():  # above the supply: the valve gives what the supply has, no more
        world.write("gas_supply.pressure_pa.slew_per_s", None)
        world.write("gas_supply.pressure_pa.setpoint", ambient + 9000.0)
    run(world, clock, 30.0)
    assert world.read("gas_supply.pressure_pa") - ambient == pytest.approx(2000.0, abs=1e-6)
