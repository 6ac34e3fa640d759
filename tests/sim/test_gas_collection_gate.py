"""The simulated gas rig's timed collection: gas.gate follows the collect output (and the bell's section only during
a bell run), and the meters' pulses and the timer's reference counted over it give volume and time exactly."""

import pytest

from meterlab.sim.clock import ManualClock
from meterlab.sim.physics import build_world
from meterlab.sim.reference_params import GasRigParams
from meterlab.sim.scenario import MeterSpec, Scenario


def world_with(*errors_pct, **rig):
    meters = [MeterSpec(serial=f"G{i}", error_curve=[[0.01, e], [100.0, e]], pulse_value_l=0.01,
                        register_resolution_l=0.001) for i, e in enumerate(errors_pct, start=1)]
    clock = ManualClock()
    world = build_world(Scenario(gas_rig=GasRigParams(**rig), gas_meters=meters), clock)
    world.max_step_s = 0.5
    return world, clock


def switch(world, **signals):
    with world.now():
        for name, value in signals.items():
            world.write(name, value)


def test_collect_opens_the_gate_and_the_counts_over_it_are_the_flow_times_the_time():
    world, clock = world_with(1.0, -2.0, meter_pressure_drop_pa=0.0, meter_temperature_step_c=0.0)
    edges = []
    world.on("gas.gate", lambda value=None, **_: edges.append((world.t_s, world.read("gas_meter1.pulse"),
                                                                world.read("gas_meter2.pulse"),
                                                                world.read("gas.timebase"))))
    switch(world, inlet_valve=1, vacuum_pump=1, nozzle8=1)
    clock.advance(10.0)
    world.advance()
    switch(world, collect=1)
    assert world.read("gas.gate")
    clock.advance(123.4)
    world.advance()
    switch(world, collect=0)
    assert not world.read("gas.gate")
    (t0, a0, b0, n0), (t1, a1, b1, n1) = edges
    assert t1 - t0 == pytest.approx(123.4)
    assert n1 - n0 == pytest.approx(123.4 * 10000001.8, abs=1)  # the timer's reference (ctr-02's frequency)
    volume_l = world.read("gas.flowrate_m3h") / 3.6 * 123.4  # no drop, one temperature: every meter sees it
    assert (a1 - a0) * 0.01 == pytest.approx(volume_l * 1.01, abs=0.011)
    assert (b1 - b0) * 0.01 == pytest.approx(volume_l * 0.98, abs=0.011)


def test_the_bell_section_gates_only_a_bell_run():
    # the bell parked inside its measuring section: bell.gate is on, but gas.gate stays off until the bell valve
    # opens (a bell run); a timed collection from the atmosphere is not disturbed by where the bell stands
    world, _ = world_with(0.0, bell_initial_position_m=0.5)
    assert world.read("bell.gate")
    switch(world, inlet_valve=1, vacuum_pump=1, nozzle6=1)
    assert not world.read("gas.gate")
    switch(world, bell_valve=1)
    assert world.read("gas.gate")
    switch(world, bell_valve=0)
    assert not world.read("gas.gate")
