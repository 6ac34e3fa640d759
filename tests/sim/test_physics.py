"""The water rig and the meters under test, on a manual clock: exact dynamics, ρ·V, error curves, noise."""

import math
import statistics

import pytest

from meterlab.metrology.fluids import water_density_tanaka
from meterlab.sim.clock import ManualClock
from meterlab.sim.physics import build_world
from meterlab.sim.scenario import MeterSpec, Scenario, Susceptibility, WaterRigParams

RIG = WaterRigParams(max_flowrate_m3h=6.0, pump_time_constant_s=2.0,
                     water_temperature_c=20.0, water_temperature_drift_c_per_h=0.6, static_pressure_bar=4.0,
                     pressure_drop_bar_at_max_flow=1.6, tank_capacity_kg=500, tank_drain_rate_kg_s=10)


def meter(serial, curve, repeatability_pct=0.0, **extra):
    return MeterSpec(serial=serial, error_curve=curve, repeatability_pct=repeatability_pct, pulse_value_l=0.01,
                     register_resolution_l=0.001, **extra)


def world_with(*meters, seed=1, max_step_s=1.0):
    clock = ManualClock()
    world = build_world(Scenario(seed=seed, water_rig=RIG, meters=list(meters)), clock)
    world.max_step_s = max_step_s
    return world, clock


def run(world, clock, seconds):
    clock.advance(seconds)
    world.advance()


def start_flow(world, speed=0.5):
    with world.now():
        world.write("start_valve", 1)
        world.write("pump.speed_setpoint", speed)
        world.write("pump.run", 1)


@pytest.mark.parametrize("max_step_s", [1.0, 0.05])
def test_flow_is_a_first_order_lag_integrated_exactly(max_step_s):
    world, clock = world_with(max_step_s=max_step_s)
    rig = world.component("water_rig")
    start_flow(world)
    run(world, clock, 2.0)
    assert rig.flowrate_m3h == pytest.approx(3.0 * (1 - math.exp(-1)), rel=1e-12)
    run(world, clock, 8.0)
    tau, t = 2.0, 10.0
    expected_l = 3.0 / 3.6 * (t - tau * (1 - math.exp(-t / tau)))
    assert rig.total_volume_l == pytest.approx(expected_l, rel=1e-12)


def test_closed_valve_or_stopped_pump_means_no_flow():
    world, clock = world_with()
    with world.now():
        world.write("pump.run", 1)
        world.write("pump.speed_setpoint", 1.0)
    run(world, clock, 30)
    assert world.read("water.flowrate_m3h") == 0
    start_flow(world)
    run(world, clock, 30)
    world.write("pump.run", 0)
    run(world, clock, 60)
    assert world.read("water.flowrate_m3h") == 0  # the tail ends exactly


def test_the_tank_gains_rho_v_only_while_diverted_overflows_and_drains():
    # Mass is conserved between meter and tank: rho at the line's temperature and absolute pressure.
    world, clock = world_with()
    start_flow(world)
    run(world, clock, 60)
    world.write("diverter", 1)
    run(world, clock, 100)
    world.write("diverter", 0)
    line_pa = 101325.0 + world.read("water.pressure_bar") * 1e5
    rho = water_density_tanaka(world.read("water.temperature_c"), line_pa)
    assert world.read("tank.mass_kg") == pytest.approx(rho * 3.0 / 3.6 * 100 / 1000, rel=2e-6)  # t drifts
    assert world.read("tank.steady") is False
    run(world, clock, 100)
    assert world.read("tank.mass_kg") == pytest.approx(rho * 3.0 / 3.6 * 100 / 1000, rel=2e-6)  # t drifts
    assert world.read("tank.steady") is True
    world.write("diverter", 1)
    run(world, clock, 3600)
    assert world.read("tank.mass_kg") == 500  # capacity: the rest overflows
    world.write("diverter", 0)
    world.write("drain_valve", 1)
    run(world, clock, 20)
    assert world.read("tank.mass_kg") == pytest.approx(500 - 10 * 20)
    run(world, clock, 40)
    assert world.read("tank.mass_kg") == 0


def test_temperature_drifts_and_pressure_falls_with_flow_squared():
    world, clock = world_with()
    start_flow(world, 1.0)
    run(world, clock, 3600)
    assert world.read("water.temperature_c") == pytest.approx(20.6)
    assert world.read("water.pressure_bar") == pytest.approx(4.0 - 1.6)
    run(world, clock, 10 * 3600)  # a day-long test: the drift stops at its limit (default 2 °C)
    assert world.read("water.temperature_c") == pytest.approx(22.0)


def test_error_curve_is_linear_in_log_q_and_flat_beyond_its_ends():
    world, _ = world_with(meter("A", [[0.1, 2.0], [1.0, 0.0], [4.0, -1.0]]))
    m = world.component("meters").meter("A")
    assert m.curve_error_pct(math.sqrt(0.1 * 1.0)) == pytest.approx(1.0)
    assert m.curve_error_pct(2.0) == pytest.approx(-0.5)
    assert m.curve_error_pct(0.01) == 2.0 and m.curve_error_pct(10) == -1.0


def test_meters_in_series_see_the_same_volume_through_their_own_curves():
    world, clock = world_with(meter("A", [[1.0, 0.5], [6.0, 0.5]]), meter("B", [[1.0, -1.0], [6.0, -1.0]]))
    start_flow(world)
    run(world, clock, 200)
    rig, meters = world.component("water_rig"), world.component("meters")
    true_l = rig.total_volume_l
    a, b = meters.meter(1), meters.meter(2)
    assert a.indicated_volume_l == pytest.approx(true_l * 1.005, rel=1e-12)
    assert b.indicated_volume_l == pytest.approx(true_l * 0.99, rel=1e-12)
    assert world.read("meter1.pulse") == math.floor(true_l * 1.005 / 0.01 + 1e-9)
    assert world.read("meter2.register_l") == pytest.approx(math.floor(true_l * 0.99 / 0.001) * 0.001)


def test_meters_turned_round_see_the_flow_backwards_and_only_a_bidirectional_one_counts_it():
    """A: measures reverse flow, +1 % off its curve in reverse; B: designed for one direction. Both turned round."""
    world, clock = world_with(meter("A", [[1.0, 0.5], [6.0, 0.5]], measures_reverse_flow=True,
                                    reverse_error_shift_pct=1.0), meter("B", [[1.0, -1.0], [6.0, -1.0]]))
    with world.now():
        world.write("meters.direction", "reverse")
    start_flow(world)
    run(world, clock, 200)
    true_l = world.component("water_rig").total_volume_l  # the rig (and its tank) still see a forward flow
    assert true_l > 0 and world.read("meters.direction") == "reverse"
    a, b = world.component("meters").meter(1), world.component("meters").meter(2)
    assert world.read("meter1.reverse_register_l") == pytest.approx(true_l * 1.015, rel=1e-12)
    assert world.read("meter1.pulse") == math.floor(true_l * 1.015 / 0.01 + 1e-9)
    assert a.indicated_volume_l == 0.0  # the forward register does not run back
    assert (world.read("meter2.pulse"), b.indicated_volume_l, b.reverse_indicated_l) == (0, 0.0, 0.0)
    assert a.reverse_volume_l == b.reverse_volume_l == pytest.approx(true_l, rel=1e-12)
    with world.now():
        world.write("meters.direction", "forward")
    run(world, clock, 10)
    assert b.indicated_volume_l > 0
    with pytest.raises(ValueError, match="direction 'backwards'"), world.now():
        world.write("meters.direction", "backwards")


def test_a_reverse_error_without_measuring_reverse_flow_is_refused():
    with pytest.raises(ValueError, match="measures_reverse_flow: true"):
        meter("A", [[1.0, 0.0]], reverse_error_shift_pct=1.0)


def test_random_error_is_drawn_once_per_measurement_with_the_stated_sigma():
    world, clock = world_with(meter("N", [[0.1, 0.3], [6.0, 0.3]], repeatability_pct=0.2), seed=11)
    m = world.component("meters").meter("N")
    errors = []
    for _ in range(400):
        world.emit("measurement_start")
        errors.append(m.error_pct(3.0))
        assert m.error_pct(3.0) == errors[-1]  # constant within a measurement
    assert statistics.mean(errors) == pytest.approx(0.3, abs=0.04)
    assert statistics.stdev(errors) == pytest.approx(0.2, rel=0.15)


def test_disturbances_act_per_the_meters_susceptibility():
    susceptible = meter("S", [[0.1, 0.0], [6.0, 0.0]], susceptibility={
        "burst": Susceptibility(effect="error_shift", error_shift_pct=3.0),
        "surge": Susceptibility(effect="reset"),
        "esd": Susceptibility(effect="lost_pulses", lost_pulse_fraction=0.5),
    })
    immune = meter("I", [[0.1, 0.0], [6.0, 0.0]])
    world, clock = world_with(susceptible, immune)
    meters = world.component("meters")
    start_flow(world)
    run(world, clock, 30)
    with world.now():
        meters.disturb("S", "burst", True)
        meters.disturb("I", "burst", True)
    assert meters.meter("S").error_pct(3.0) == 3.0 and meters.meter("I").error_pct(3.0) == 0.0
    with world.now():
        meters.disturb("S", "burst", False)
    assert meters.meter("S").error_pct(3.0) == 0.0
    before = (world.read("meter1.pulse"), world.read("meter2.pulse"))
    with world.now():
        meters.disturb("S", "esd", True)
    run(world, clock, 100)
    lost = (world.read("meter2.pulse") - before[1]) - (world.read("meter1.pulse") - before[0])
    assert lost == pytest.approx((world.read("meter2.pulse") - before[1]) / 2, rel=0.05)
    with world.now():
        meters.disturb("S", "surge", True)
    assert world.read("meter1.register_l") < 1 < world.read("meter2.register_l")
