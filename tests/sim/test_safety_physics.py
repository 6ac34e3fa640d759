"""The smart gas meter's safety functions on a manual clock (physics/safety.py): the seismic logics against the
shaker table and shocks, gas in use, pressure drop, excess flow, the valve stopping the rig's flow, its leak, the
reset, and the faults a test must be able to catch."""

import pytest
from pydantic import ValidationError

from meterlab.sim.clock import ManualClock
from meterlab.sim.physics import build_world
from meterlab.sim.scenario import Scenario

GAL = 0.01
OPERATE = [(250, 0.3), (250, 0.5), (250, 0.7)]
NON_OPERATE = [(250, 0.1), (80, 0.3), (80, 0.5), (80, 0.7)]
LOGICS = ["dwell_by_level", "trigger_then_peaks"]
NOZZLE_0_66_M3H = "nozzle5"  # about 0.66 m³/h through the meter


def world_of(flowing=True, nozzles=(NOZZLE_0_66_M3H,), **safety):
    scenario = Scenario(gas_meters=[dict(serial="G1", error_curve=[[0.1, 0.0]], pulse_value_l=0.1,
                                         register_resolution_l=0.1, safety=safety)])
    clock = ManualClock()
    world = build_world(scenario, clock)
    if flowing:
        for signal in ("inlet_valve", "vacuum_pump", *nozzles):
            world.write(signal, 1)
    return world, clock


def run(world, clock, seconds):
    for _ in range(int(seconds)):
        clock.advance(1.0)
        world.advance()


def quake(world, clock, gal, period_s, seconds=60):
    world.component("shaker").start_sine("X", gal * GAL, 1 / period_s, float(seconds))
    run(world, clock, seconds + 5)


def causes(world):
    return [e.cause for e in world.component("safety1").events]


@pytest.mark.parametrize("logic", LOGICS)
@pytest.mark.parametrize("gal, period_s", OPERATE)
def test_a_correct_logic_operates_at_250_gal(logic, gal, period_s):
    world, clock = world_of(logic=logic)
    run(world, clock, 10)
    quake(world, clock, gal, period_s)
    unit = world.component("safety1")
    assert causes(world) == ["seismic"] and unit.valve == "closed"
    assert 10 < unit.events[0].t_s < 10 + 8  # within seconds of the start (1 s start-up ramp)
    assert world.read("gas.flowrate_m3h") == 0.0  # the closed valve stops the line


@pytest.mark.parametrize("logic", LOGICS)
@pytest.mark.parametrize("gal, period_s", NON_OPERATE)
def test_a_correct_logic_does_not_operate_at_0_1_s_nor_at_80_gal(logic, gal, period_s):
    world, clock = world_of(logic=logic)
    run(world, clock, 10)
    quake(world, clock, gal, period_s)
    assert causes(world) == [] and world.component("safety1").valve == "open"
    assert world.read("gas.flowrate_m3h") > 0.5


@pytest.mark.parametrize("logic", LOGICS)
@pytest.mark.parametrize("fault, trips", [("none", False), ("trips_on_shocks", True)])
def test_a_shock_impulse_trips_only_a_logic_without_impulse_rejection(logic, fault, trips):
    world, clock = world_of(logic=logic, fault=fault)
    run(world, clock, 10)
    world.component("shock").fire("X", 1000.0, 0.011)
    run(world, clock, 10)
    assert causes(world) == (["seismic"] if trips else [])


def test_a_meter_that_never_trips_does_not_close_for_anything():
    world, clock = world_of(fault="never_trips")
    run(world, clock, 10)
    quake(world, clock, 250, 0.5)
    world.write("gas_supply.pressure_pa.setpoint", world.read("ambient.pressure_pa") + 100.0)
    run(world, clock, 30)
    assert causes(world) == [] and world.component("safety1").valve == "open"


def test_a_quake_without_gas_in_use_does_not_shut_off_but_gas_used_soon_after_does():
    world, clock = world_of(flowing=False)
    run(world, clock, 200)
    quake(world, clock, 250, 0.5, seconds=20)
    assert causes(world) == []
    for signal in ("inlet_valve", "vacuum_pump", NOZZLE_0_66_M3H):  # gas used within 2 min of the detection
        world.write(signal, 1)
    run(world, clock, 5)
    assert causes(world) == ["seismic"]


def test_gas_used_only_long_after_a_quake_does_not_shut_off():
    world, clock = world_of(flowing=False)
    run(world, clock, 200)
    quake(world, clock, 250, 0.5, seconds=20)
    run(world, clock, 150)
    for signal in ("inlet_valve", "vacuum_pump", NOZZLE_0_66_M3H):
        world.write(signal, 1)
    run(world, clock, 5)
    assert causes(world) == []


@pytest.mark.parametrize("gauge_pa, shuts", [(250.0, True), (350.0, False)])
def test_the_inlet_pressure_below_the_meters_threshold_shuts_off_after_its_dwell(gauge_pa, shuts):
    world, clock = world_of(pressure_drop_gauge_pa=300.0, pressure_drop_dwell_s=2.0)
    run(world, clock, 5)
    world.write("gas_supply.pressure_pa.setpoint", world.read("ambient.pressure_pa") + gauge_pa)
    run(world, clock, 20)
    assert causes(world) == (["pressure_drop"] if shuts else [])


@pytest.mark.parametrize("nozzles, shuts", [(("nozzle7",), False), (("nozzle5", "nozzle6", "nozzle7", "nozzle8"), True)])
def test_a_flow_above_the_excess_threshold_shuts_off_after_its_dwell(nozzles, shuts):
    world, clock = world_of(nozzles=nozzles, excess_flow_m3h=5.0, excess_flow_dwell_s=30.0)
    run(world, clock, 25)
    assert causes(world) == []
    run(world, clock, 10)
    assert causes(world) == (["excess_flow"] if shuts else [])
    assert (world.read("gas_meter1.valve") == "closed") is shuts


@pytest.mark.parametrize("fault, leak_l_h", [("none", 0.0), ("valve_leaks", 3.0)])
def test_a_closed_valve_passes_only_its_leak(fault, leak_l_h):
    world, clock = world_of(fault=fault, leak_l_h=leak_l_h)
    run(world, clock, 10)
    quake(world, clock, 250, 0.5)
    assert world.read("gas_meter1.valve") == "closed"
    assert world.read("gas_meter1.flow_l_h") == pytest.approx(leak_l_h, rel=0.02)


def test_a_reset_opens_the_valve_clears_the_alarms_and_keeps_the_log():
    world, clock = world_of(restore_check_s=0)  # no restore check: the valve opens at once, gas flows again
    run(world, clock, 10)
    quake(world, clock, 250, 0.5)
    unit = world.component("safety1")
    assert unit.alarms == {"seismic"}
    world.write("gas_meter1.safety_reset", 1)
    run(world, clock, 5)
    assert unit.valve == "open" and unit.alarms == set() and causes(world) == ["seismic", "reset"]
    assert world.read("gas.flowrate_m3h") > 0.5


def _shut_by_a_quake_then_flow_stopped(**safety):
    world, clock = world_of(**safety)
    run(world, clock, 10)
    quake(world, clock, 250, 0.5)
    for signal in ("inlet_valve", "vacuum_pump", NOZZLE_0_66_M3H):
        world.write(signal, 0)
    run(world, clock, 2)
    return world, clock, world.component("safety1")


def test_a_reset_without_gas_drawn_opens_the_valve_after_its_restore_check():
    world, clock, unit = _shut_by_a_quake_then_flow_stopped(restore_check_s=60)
    world.write("gas_meter1.safety_reset", 1)
    run(world, clock, 30)
    assert unit.valve == "restoring" and world.read("gas_meter1.valve") == "restoring"
    run(world, clock, 31)
    assert unit.valve == "open" and causes(world) == ["seismic", "reset"]


@pytest.mark.parametrize("fault, valve, logged", [("none", "closed", ["seismic", "reset", "restore_check"]),
                                                  ("no_restore_check", "open", ["seismic", "reset"])])
def test_gas_drawn_during_the_restore_check_closes_the_valve_again_unless_the_check_is_missing(fault, valve, logged):
    world, clock, unit = _shut_by_a_quake_then_flow_stopped(restore_check_s=60, fault=fault)
    for signal in ("inlet_valve", "vacuum_pump", "nozzle1"):  # a small flow downstream: a leak
        world.write(signal, 1)
    world.write("gas_meter1.safety_reset", 1)
    run(world, clock, 10)
    assert unit.valve == valve and causes(world) == logged


def test_a_valve_that_reopens_by_itself_opens_without_a_reset_or_a_logged_event():
    world, clock, unit = _shut_by_a_quake_then_flow_stopped(fault="reopens_itself", reopen_after_s=100)
    assert unit.valve == "closed"  # closed a few seconds into the 60 s quake, after it still
    run(world, clock, 50)
    assert unit.valve == "open" and causes(world) == ["seismic"]


@pytest.mark.parametrize("fault, closes", [("none", True), ("no_continuous_use", False)])
def test_an_uninterrupted_use_closes_after_its_band_s_time_unless_the_function_is_missing(fault, closes):
    bands = [{"up_to_m3h": 0.8, "limit_s": 300}, {"up_to_m3h": 5.0, "limit_s": 100}]
    world, clock = world_of(continuous_use=bands, fault=fault)  # about 0.66 m³/h: the 300 s band
    unit = world.component("safety1")
    run(world, clock, 295)
    assert unit.valve == "open"
    run(world, clock, 10)
    assert (unit.valve != "open") is closes and causes(world) == (["continuous_use"] if closes else [])
    if closes:
        assert unit.events[0].t_s == pytest.approx(300, abs=1.0)


def test_an_interruption_restarts_the_continuous_use_count():
    world, clock = world_of(continuous_use=[{"up_to_m3h": 5.0, "limit_s": 100}])
    unit = world.component("safety1")
    run(world, clock, 80)
    world.write("vacuum_pump", 0)  # the use stops ...
    run(world, clock, 3)
    world.write("vacuum_pump", 1)  # ... and starts again: 80 s are not counted
    run(world, clock, 80)
    assert unit.valve == "open"
    run(world, clock, 25)
    assert causes(world) == ["continuous_use"]


def test_a_continuous_use_table_with_falling_flows_is_refused():
    with pytest.raises(ValidationError, match="up_to_m3h strictly increasing"):
        world_of(continuous_use=[{"up_to_m3h": 2.0, "limit_s": 100}, {"up_to_m3h": 1.0, "limit_s": 50}])


def test_a_leak_without_the_fault_is_refused_with_the_reason():
    with pytest.raises(ValidationError, match="valve_leaks goes with leak_l_h"):
        world_of(leak_l_h=2.0)
    with pytest.raises(ValidationError, match="belongs to gas_meters"):
        Scenario(meters=[dict(serial="W1", error_curve=[[1, 0]], pulse_value_l=1, register_resolution_l=1,
                              safety={})])


def test_a_scenario_file_with_a_wrong_safety_field_names_file_line_and_field(tmp_path):
    from meterlab.errors import InputFileError
    from meterlab.sim.scenario import load_scenario

    path = tmp_path / "bad.yaml"
    path.write_text("gas_meters:\n  - serial: G1\n    error_curve: [[0.1, 0.0]]\n    pulse_value_l: 0.1\n"
                    "    register_resolution_l: 0.1\n    safety:\n      logic: dwell_by_levels\n", encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert str(path) in message and "line 7" in message and "gas_meters.0.safety.logic" in message
    assert "dwell_by_level" in message and "trigger_then_peaks" in message  # the allowed values: the fix


@pytest.mark.parametrize("safety, held_s, closes", [
    ({"gas_alarm_input": True}, 45, True),
    ({"gas_alarm_input": True}, 30, False),  # shorter than the meter's 40 s
    ({"gas_alarm_input": True, "fault": "ignores_gas_alarm"}, 45, False),
    ({}, 45, False),  # no input: the contact's wire ends at nothing
])
def test_a_gas_alarm_held_for_the_meter_s_dwell_closes_the_valve_where_it_has_the_input(safety, held_s, closes):
    world, clock = world_of(**safety)
    world.write("gas_meter1.gas_alarm", 1)
    run(world, clock, held_s)
    world.write("gas_meter1.gas_alarm", 0)
    run(world, clock, 20)
    assert causes(world) == (["gas_alarm"] if closes else [])
    if closes:
        assert world.component("safety1").events[0].t_s == pytest.approx(40, abs=1.0)


def test_the_gas_alarm_contact_exists_without_a_smart_meter():
    """The bench's output is wired to it whatever meter is mounted: a plain meter's world has the signal too."""
    scenario = Scenario(gas_meters=[dict(serial="G1", error_curve=[[0.1, 0.0]], pulse_value_l=0.1,
                                         register_resolution_l=0.1)])
    world = build_world(scenario, ManualClock())
    assert "safety1" not in world.components
    world.write("gas_meter1.gas_alarm", 1)
    assert world.read("gas_meter1.gas_alarm") is True
