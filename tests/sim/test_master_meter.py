"""Master meters in the water and gas lines: the totalizer follows the TRUE volume through the master meter's
own error curve (at its own p and T in the gas line); reset; system condition fault; manual clock."""

import math

import pytest

from meterlab.metrology.fluids import water_density_tanaka
from meterlab.metrology.reference_volume import gas_volume_at_meter
from meterlab.sim.clock import ManualClock
from meterlab.sim.faults import schedule_physical_fault
from meterlab.sim.physics import build_world
from meterlab.sim.reference_params import GasRigParams, MasterMeterParams
from meterlab.sim.scenario import FaultSpec, MeterSpec, Scenario, WaterRigParams

CURVE = [[0.5, 1.2], [2.0, 0.4], [6.0, -0.2]]


def water_world(curve=CURVE, **master_meter):
    clock = ManualClock()
    scenario = Scenario(water_rig=WaterRigParams(max_flowrate_m3h=6.0, pump_time_constant_s=2.0),
                        master_meter=MasterMeterParams(error_curve=curve, **master_meter))
    return build_world(scenario, clock), clock


def run(world, clock, seconds):
    clock.advance(seconds)
    world.advance()


def start_water(world, speed):
    with world.now():
        world.write("start_valve", 1)
        world.write("pump.speed_setpoint", speed)
        world.write("pump.run", 1)


def log_interpolated(curve, q):
    for (q0, e0), (q1, e1) in zip(curve, curve[1:]):
        if q0 <= q <= q1:
            return e0 + (e1 - e0) * math.log(q / q0) / math.log(q1 / q0)
    raise ValueError(q)


def test_the_water_master_meter_totalizes_the_true_volume_through_its_own_curve():
    world, clock = water_world()
    mm = world.component("master_meter")
    start_water(world, 0.5)
    run(world, clock, 60)  # 30 time constants: steady at 3 m3/h
    start_true, start_total = world.read("master_meter.true_volume_l"), world.read("master_meter.totalizer_m3")
    run(world, clock, 600)
    true_l = world.read("master_meter.true_volume_l") - start_true
    assert true_l == pytest.approx(3.0 / 3.6 * 600, rel=1e-9)  # the rig's volume: the truth
    error = log_interpolated(CURVE, 3.0)
    assert mm.curve_error_pct(3.0) == pytest.approx(error)
    indicated_m3 = world.read("master_meter.totalizer_m3") - start_total
    assert indicated_m3 * 1000 == pytest.approx(true_l * (1 + error / 100), rel=1e-9)
    assert world.read("master_meter.volume_flow_m3h") == pytest.approx(3.0 * (1 + error / 100), rel=1e-9)


def test_the_water_master_meter_reads_the_lines_temperature_pressure_and_density():
    world, clock = water_world()
    start_water(world, 1.0)
    run(world, clock, 60)
    t_c, gauge_bar = world.read("water.temperature_c"), world.read("water.pressure_bar")
    assert world.read("master_meter.temperature_c") == t_c
    assert world.read("master_meter.pressure_pa") == pytest.approx(101325 + gauge_bar * 1e5)
    density = water_density_tanaka(t_c, 101325 + gauge_bar * 1e5)
    assert world.read("master_meter.density_kg_m3") == pytest.approx(density, rel=1e-12)
    assert world.read("master_meter.mass_flow_kg_h") == pytest.approx(
        world.read("master_meter.volume_flow_m3h") * density, rel=1e-12)


def test_reset_zeroes_the_totalizer_and_the_truth_goes_on():
    world, clock = water_world(initial_totalizer_m3=12.5)
    assert world.read("master_meter.totalizer_m3") == 12.5
    start_water(world, 0.5)
    run(world, clock, 30)
    true_before = world.read("master_meter.true_volume_l")
    world.write("master_meter.reset", 1)
    assert world.read("master_meter.totalizer_m3") == 0.0
    assert world.read("master_meter.true_volume_l") == true_before
    run(world, clock, 10)
    assert world.read("master_meter.totalizer_m3") > 0


def test_no_flow_no_volume_and_a_fault_shows_in_the_system_condition():
    world, clock = water_world()
    run(world, clock, 100)
    assert world.read("master_meter.totalizer_m3") == 0 and world.read("master_meter.volume_flow_m3h") == 0
    assert world.read("master_meter.system_condition") == 1
    schedule_physical_fault(FaultSpec(kind="master_meter_fault", at_s=100, duration_s=50), world)
    assert world.read("master_meter.system_condition") == 0
    run(world, clock, 49)
    assert world.read("master_meter.system_condition") == 0
    run(world, clock, 2)
    assert world.read("master_meter.system_condition") == 1


def test_the_gas_master_meter_sees_the_volume_at_its_own_pressure_and_temperature():
    curve = [[1.0, -0.6], [20.0, 0.3]]
    params = GasRigParams(master_meter=MasterMeterParams(error_curve=curve), meter_pressure_drop_pa=400.0,
                          gas_temperature_c=22.0)
    clock = ManualClock()
    meters = [MeterSpec(serial=f"G{n}", error_curve=[[1.0, 0.0]], pulse_value_l=1.0, register_resolution_l=0.001)
              for n in (1, 2)]
    world = build_world(Scenario(gas_rig=params, gas_meters=meters), clock)
    rig = world.component("gas_rig")
    with world.now():
        for name in ("bell_valve", "vacuum_pump", "nozzle8"):
            world.write(name, 1)
    run(world, clock, 100)
    p_mm = world.read("gas_master_meter.pressure_pa")
    assert p_mm == world.read("gas.nozzle_pressure_pa") < world.read("gas.meter2.pressure_pa")  # after the meters
    true_l = gas_volume_at_meter(rig.bell_volume_out_l, p_ref_pa=world.read("bell.pressure_pa"), t_ref_c=22.0,
                                 p_mut_pa=p_mm, t_mut_c=22.0)
    assert world.read("gas_master_meter.true_volume_l") == pytest.approx(true_l, rel=1e-11)
    flowrate = world.read("gas.mass_flow_kg_s") / world.read("gas_master_meter.density_kg_m3") * 3600
    error = log_interpolated(curve, flowrate)
    assert world.read("gas_master_meter.totalizer_m3") * 1000 == pytest.approx(true_l * (1 + error / 100), rel=1e-11)
    assert world.read("gas_master_meter.volume_flow_m3h") == pytest.approx(flowrate * (1 + error / 100), rel=1e-12)
