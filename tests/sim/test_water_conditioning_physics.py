"""Water conditioning physics on a manual clock: circulator lag and bounds, regulated pressure bounded by the
booster's head, pressure loss Δp(Q3)·(Q/Q3)², and the water rig unchanged while nothing is commanded."""

import math

import pytest

from meterlab.sim.clock import ManualClock
from meterlab.sim.physics import build_world
from meterlab.sim.scenario import MeterSpec, Scenario, WaterConditioningParams, WaterRigParams

RIG = WaterRigParams(max_flowrate_m3h=6.0, pump_time_constant_s=2.0, water_temperature_c=20.0,
                     water_temperature_drift_c_per_h=0.6, static_pressure_bar=4.0, pressure_drop_bar_at_max_flow=1.6)
CONDITIONING = WaterConditioningParams(circulator_time_constant_s=300.0, circulator_min_c=5.0,
                                       circulator_max_c=90.0, regulator_time_constant_s=4.0, supply_head_bar=10.0)


def meter(serial, **extra):
    return MeterSpec(serial=serial, error_curve=[[0.1, 0.0], [6.0, 0.0]], pulse_value_l=0.01,
                     register_resolution_l=0.001, **extra)


def world_with(*meters, max_step_s=1.0):
    clock = ManualClock()
    scenario = Scenario(water_rig=RIG, water_conditioning=CONDITIONING, meters=list(meters))
    world = build_world(scenario, clock)
    world.max_step_s = max_step_s
    return world, clock


def run(world, clock, seconds):
    clock.advance(seconds)
    world.advance()


def flow(world, speed):
    with world.now():
        world.write("start_valve", 1)
        world.write("pump.speed_setpoint", speed)
        world.write("pump.run", 1)


def test_without_commands_the_rig_keeps_its_own_temperature_drift_and_pressure():
    world, clock = world_with(meter("A"))
    run(world, clock, 3600)
    assert world.read("water.temperature_c") == pytest.approx(20.6, abs=1e-9)  # drift only
    assert world.read("water.pressure_bar") == pytest.approx(4.0)
    flow(world, 0.5)
    run(world, clock, 60)
    assert world.read("water.pressure_bar") == pytest.approx(4.0 - 1.6 * 0.25, rel=1e-6)


@pytest.mark.parametrize("max_step_s", [0.1, 1.0])
def test_the_water_follows_the_circulator_with_an_exact_first_order_lag(max_step_s):
    world, clock = world_with(max_step_s=max_step_s)
    world.write("circulator.setpoint_c", 50.0)
    world.write("circulator.run", 1)
    run(world, clock, 300)  # one time constant; the running circulator takes out the rig's drift
    assert world.read("water.temperature_c") == pytest.approx(50.0 - 30.0 * math.exp(-1), rel=1e-9)
    run(world, clock, 3000)
    assert world.read("water.temperature_c") == pytest.approx(50.0, abs=1e-3)


def test_the_circulator_holds_only_what_the_unit_can_and_stopping_it_lets_the_water_drift():
    world, clock = world_with()
    world.write("circulator.setpoint_c", 120.0)
    world.write("circulator.run", 1)
    run(world, clock, 10 * 300)
    assert world.read("water.temperature_c") == pytest.approx(90.0, abs=0.01)
    world.write("circulator.setpoint_c", -10.0)
    run(world, clock, 20 * 300)
    assert world.read("water.temperature_c") == pytest.approx(5.0, abs=0.01)
    world.write("circulator.run", 0)
    before = world.read("water.temperature_c")
    run(world, clock, 3600)
    assert world.read("water.temperature_c") == pytest.approx(before + 0.6, abs=1e-6)


def test_the_regulator_starts_from_the_line_and_lags_towards_its_setpoint():
    world, clock = world_with()
    world.write("water.pressure_bar.setpoint", 7.0)
    assert world.read("water.pressure_bar") == pytest.approx(4.0)  # no jump at the command
    run(world, clock, 4.0)
    assert world.read("water.pressure_bar") == pytest.approx(7.0 - 3.0 * math.exp(-1), rel=1e-6)
    run(world, clock, 60)
    assert world.read("water.pressure_bar") == pytest.approx(7.0, abs=1e-6)
    world.write("water.pressure_bar.setpoint", 0.3)  # R 49 low pressure, 0.03 MPa
    run(world, clock, 120)
    assert world.read("water.pressure_bar") == pytest.approx(0.3, abs=1e-6)


def test_the_regulated_pressure_is_bounded_by_the_booster_head_less_the_rig_drop():
    world, clock = world_with()
    world.write("water.pressure_bar.setpoint", 16.0)
    run(world, clock, 120)
    assert world.read("water.pressure_bar") == pytest.approx(10.0, abs=1e-6)  # the head at zero flow
    flow(world, 1.0)
    run(world, clock, 60)
    assert world.read("water.pressure_bar") == pytest.approx(10.0 - 1.6, abs=1e-6)
    world.write("water.pressure_bar.setpoint", None)  # not regulating: the supply's own pressure again
    assert world.read("water.pressure_bar") == pytest.approx(4.0 - 1.6, abs=1e-6)


def test_pressure_loss_follows_the_square_of_the_flow_per_meter_and_is_zero_at_rest():
    world, clock = world_with(meter("A", q3_m3h=2.5, pressure_loss_at_q3_kpa=40.0), meter("B"))
    assert world.read("meter1.pressure_loss_pa") == 0.0
    flow(world, 0.5)  # 3 m³/h once settled
    run(world, clock, 60)
    assert world.read("water.flowrate_m3h") == pytest.approx(3.0)
    assert world.read("meter1.pressure_loss_pa") == pytest.approx(40e3 * (3.0 / 2.5) ** 2)
    assert world.read("meter2.pressure_loss_pa") == pytest.approx(25e3 * (3.0 / 2.5) ** 2)  # the defaults
    assert "meter3.pressure_loss_pa" not in world.signals


def test_scenario_refuses_an_inverted_circulator_range():
    with pytest.raises(ValueError, match="circulator_min_c must be below circulator_max_c"):
        WaterConditioningParams(circulator_min_c=50, circulator_max_c=40)


def test_hot_water_has_a_true_density_joined_to_tanaka_at_40_c():
    from meterlab.metrology.fluids import water_density_tanaka
    from meterlab.sim.physics.water_rig import true_water_density

    assert true_water_density(25.0, 3e5) == water_density_tanaka(25.0, 3e5)  # cold water: unchanged
    assert true_water_density(40.0 + 1e-9) == pytest.approx(float(water_density_tanaka(40.0)), rel=1e-9)
    assert true_water_density(60.0) == pytest.approx(983.20, abs=0.02)  # handbook values at 101.325 kPa
    assert true_water_density(90.0) == pytest.approx(965.32, abs=0.03)


def test_the_tank_fills_with_hot_water_by_its_true_density():
    from meterlab.sim.physics.water_rig import true_water_density

    world, clock = world_with()
    world.write("circulator.setpoint_c", 70.0)
    world.write("circulator.run", 1)
    run(world, clock, 20 * 300)
    flow(world, 0.5)
    run(world, clock, 60)
    rig = world.component("water_rig")
    before_l, before_kg = rig.total_volume_l, world.read("tank.mass_kg")
    world.write("diverter", 1)
    run(world, clock, 60)
    pressure_pa = 101325.0 + world.read("water.pressure_bar") * 1e5
    gained_kg = world.read("tank.mass_kg") - before_kg
    assert gained_kg == pytest.approx(true_water_density(70.0, pressure_pa) * (rig.total_volume_l - before_l) / 1e3,
                                      rel=1e-6)
