"""The safety programmes (procedures/safety/) run end to end on the simulated gas bench on virtual time, the real
drivers talking to the simulated instruments over sockets: a good smart gas meter passes each, and a meter with
each planted fault (scenario `safety:` settings) fails the check meant to catch it."""

import threading
from pathlib import Path

import pytest
import yaml

from meterlab.calibration.register import Register
from meterlab.engine.control import RunControl, RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.events import EventBus
from meterlab.engine.runner import Runner
from meterlab.engine.session import bench_session, create_run, execute, inputs_from_header, load_inputs
from meterlab.errors import InputFileError
from meterlab.instruments.bench import open_instrument
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.procedures.schema import load_procedure
from meterlab.records.store import Store
from meterlab.reports.document import collect, decisions
from meterlab.sim.clock import VIRTUAL

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "instruments" / "sim-gas.yaml"
METER = REPO / "examples" / "meters" / "g4-diaphragm.yaml"
GOOD = REPO / "examples" / "scenarios" / "g4-smart-safety.yaml"
SAFETY = REPO / "procedures" / "safety"


def scenario_with(tmp_path, **safety) -> Path:
    """The good meter's scenario with some of its safety settings changed (a planted fault)."""
    data = yaml.safe_load(GOOD.read_text(encoding="utf-8"))
    data["gas_meters"][0]["safety"].update(safety)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def run(tmp_path, programme: str, scenario: Path = GOOD, control: RunControl | None = None, clock_scale=VIRTUAL,
        keep: dict | None = None, meter: Path = METER):
    inputs = load_inputs(SAFETY / f"{programme}.yaml", [meter], BENCH, scenario)
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=clock_scale)
    state = execute(store, run_id, prompter=AutoPrompter(), register=register, control=control)
    checks = [c for e in store.entries(run_id, kinds=["evaluation"]) for c in e.payload["checks"]]
    tests = [e.payload for e in store.entries(run_id, kinds=["safety_test"])]
    if keep is not None:
        keep.update(store=store, run_id=run_id)
    return state, {c["point"]: c["outcome"] for c in checks}, tests


def failed(outcomes):
    return sorted(point for point, outcome in outcomes.items() if outcome == "fail")


# -- seismic ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("logic", ["dwell_by_level", "trigger_then_peaks"])
def test_a_correct_logic_passes_the_operate_table_and_transmits_each_shut_off(tmp_path, logic):
    state, outcomes, tests = run(tmp_path, "seismic-operate", scenario_with(tmp_path, logic=logic))
    assert state is RunState.COMPLETED
    assert len(outcomes) == 6 and set(outcomes.values()) == {"pass"}  # 3 points, each shut-off and its event
    for test in tests:
        assert test["shut_off"] and test["cause"] == "seismic" and 0 < test["time_s"] < 10
        assert test["u_time_s"] == pytest.approx(0.5 / 2 / 3 ** 0.5)
        # the truth: the meter's decision (its clock is the lab's here) plus the valve's 1 s travel, within U
        truth_s = test["transmitted"]["time_since_stimulus_s"] + 1.0
        assert abs(test["time_s"] - truth_s) <= 2 * test["u_time_s"]


def test_a_meter_that_never_trips_fails_every_operate_point(tmp_path):
    state, outcomes, tests = run(tmp_path, "seismic-operate", scenario_with(tmp_path, fault="never_trips"))
    assert state is RunState.COMPLETED
    assert failed(outcomes) == ["operate 250 gal / 0.3 s", "operate 250 gal / 0.5 s", "operate 250 gal / 0.7 s"]
    assert not any(t["shut_off"] for t in tests)


def test_a_slow_logic_fails_on_its_shut_off_time(tmp_path):
    slow = [{"level_gal": 80, "dwell_s": 30}, {"level_gal": 100, "dwell_s": 25}, {"level_gal": 150, "dwell_s": 20}]
    _, outcomes, tests = run(tmp_path, "seismic-operate", scenario_with(tmp_path, bands=slow))
    assert all(t["shut_off"] and t["time_s"] > 15 for t in tests)  # closes, but after the profile's 15 s
    assert failed(outcomes) == ["operate 250 gal / 0.3 s", "operate 250 gal / 0.5 s", "operate 250 gal / 0.7 s"]


def test_a_meter_whose_clock_is_off_fails_the_transmitted_event(tmp_path):
    _, outcomes, _ = run(tmp_path, "seismic-operate", scenario_with(tmp_path, clock_offset_s=30.0))
    assert failed(outcomes) == [f"operate 250 gal / {p} s: event transmitted" for p in ("0.3", "0.5", "0.7")]


def test_a_correct_logic_passes_the_non_operate_table_and_the_quake_without_gas(tmp_path):
    state, outcomes, tests = run(tmp_path, "seismic-non-operate")
    assert state is RunState.COMPLETED and len(tests) == 4 + 3
    assert set(outcomes.values()) == {"pass"}


def test_a_sensor_that_does_not_filter_fast_shaking_fails_the_0_1_s_point(tmp_path):
    _, outcomes, _ = run(tmp_path, "seismic-non-operate", scenario_with(tmp_path, filter_cutoff_hz=40.0))
    assert "non-operate 250 gal / 0.1 s" in failed(outcomes)


def test_a_meter_that_shuts_off_without_gas_in_use_fails_the_quake_without_flow(tmp_path):
    # its gas-in-use window reaches back to the flow of the non-operate points, long before the quake
    _, outcomes, _ = run(tmp_path, "seismic-non-operate", scenario_with(tmp_path, flow_window_s=5000.0))
    assert failed(outcomes) and all(p.startswith("quake-without-flow") for p in failed(outcomes))


# -- shock ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("logic", ["dwell_by_level", "trigger_then_peaks"])
@pytest.mark.parametrize("fault, outcome", [("none", "pass"), ("trips_on_shocks", "fail")])
def test_a_shock_impulse_fails_only_a_logic_that_trips_on_shocks(tmp_path, logic, fault, outcome):
    state, outcomes, _ = run(tmp_path, "shock", scenario_with(tmp_path, logic=logic, fault=fault))
    assert state is RunState.COMPLETED and outcomes == {"shock": outcome}


# -- pressure drop and tightness ------------------------------------------------------------------------------
def test_a_good_meter_shuts_off_below_the_pressure_threshold_only_and_its_valve_is_tight(tmp_path):
    state, outcomes, tests = run(tmp_path, "pressure-drop")
    assert state is RunState.COMPLETED and set(outcomes.values()) == {"pass"}
    assert set(outcomes) == {"above-threshold", "below-threshold", "below-threshold: valve tightness",
                             "below-threshold: event transmitted"}
    below = tests[1]
    assert below["cause"] == "pressure_drop" and below["leak"]["value_l_h"] == pytest.approx(0.0, abs=0.01)
    assert below["stimulus"]["inlet_gauge_pa"] == pytest.approx(240.0)  # 0.8 x 300 Pa, from the profile


def test_the_run_records_its_safety_profile_and_the_report_states_each_quantity_in_its_unit(tmp_path):
    kept: dict = {}
    run(tmp_path, "pressure-drop", keep=kept)
    store, run_id = kept["store"], kept["run_id"]
    header = next(store.entries(run_id, kinds=["run_created"])).payload
    assert header["safety_profile"]["name"] == "gas-safety-cns14741"
    assert "valve.max_leak_l_h" in header["safety_profile"]["unverified"]
    rows = {(row[1], row[3]): row for row in decisions(collect(store, run_id))}
    assert rows[("below-threshold", "s")][6] == "30" and rows[("below-threshold: valve tightness", "L/h")][6] == "0.1"
    assert rows[("above-threshold", "state")][8].count("pass")


@pytest.mark.parametrize("threshold_pa, failing", [(200.0, ["below-threshold"]), (400.0, ["above-threshold"])])
def test_a_meter_whose_pressure_threshold_is_wrong_fails(tmp_path, threshold_pa, failing):
    _, outcomes, _ = run(tmp_path, "pressure-drop", scenario_with(tmp_path, pressure_drop_gauge_pa=threshold_pa))
    assert failed(outcomes) == failing


def test_a_valve_that_leaks_when_closed_fails_tightness(tmp_path):
    _, outcomes, tests = run(tmp_path, "pressure-drop", scenario_with(tmp_path, fault="valve_leaks", leak_l_h=2.0))
    assert failed(outcomes) == ["below-threshold: valve tightness"]
    assert tests[1]["leak"]["value_l_h"] == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize("threshold_pa, failing", [(1000.0, []), (300.0, ["below-threshold"])])
def test_the_lp_gas_programme_judges_against_the_lp_gas_threshold(tmp_path, threshold_pa, failing):
    """An LP-gas meter (1 kPa) passes; a city-gas meter (0.3 kPa) does not close at 0.8 kPa and fails."""
    state, outcomes, tests = run(tmp_path, "pressure-drop-lp-gas", scenario_with(tmp_path, pressure_drop_gauge_pa=threshold_pa))
    assert state is RunState.COMPLETED and failed(outcomes) == failing
    assert tests[1]["stimulus"]["threshold_pa"] == 1000 and tests[1]["stimulus"]["inlet_gauge_pa"] == pytest.approx(800)


# -- excess flow ------------------------------------------------------------------------------------------------
def test_a_good_meter_shuts_off_above_the_excess_flow_threshold_only(tmp_path):
    state, outcomes, tests = run(tmp_path, "excess-flow")
    assert state is RunState.COMPLETED and set(outcomes.values()) == {"pass"}
    above = tests[1]
    assert above["stimulus"]["size"] == "G4" and above["stimulus"]["flowrate_m3h"] > 5.0
    assert above["cause"] == "excess_flow" and 30 <= above["time_s"] <= 32  # the meter's 30 s dwell + 1 s travel


@pytest.mark.parametrize("threshold_m3h, failing", [(7.0, ["above-threshold"]), (3.5, ["below-threshold"])])
def test_a_meter_whose_excess_flow_threshold_is_wrong_fails(tmp_path, threshold_m3h, failing):
    _, outcomes, _ = run(tmp_path, "excess-flow", scenario_with(tmp_path, excess_flow_m3h=threshold_m3h))
    assert failed(outcomes) == failing


# -- abort and bad input ----------------------------------------------------------------------------------------
def test_an_abort_during_a_shaking_leaves_the_shaker_stopped_as_the_instrument_says(tmp_path):
    inputs = load_inputs(SAFETY / "seismic-non-operate.yaml", [METER], BENCH, GOOD)
    store, register = Store(str(tmp_path / "records.db")), Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=20.0)
    inputs = inputs_from_header(next(store.entries(run_id)).payload)
    control = RunControl()
    with bench_session(inputs, clock_scale=20.0, register=register) as rig:
        runner = Runner(run_id=run_id, plan=inputs.plan(), declarations=inputs.declarations, rig=rig, store=store,
                        prompter=AutoPrompter(), procedure=inputs.procedure, bus=EventBus(), control=control)
        worker = threading.Thread(target=runner.run)
        worker.start()
        world = rig.lab.world
        assert world.wait_until(lambda: world.read("shaker.running"), timeout_real_s=60)
        control.abort()  # in the middle of the first 60 s shaking
        worker.join(60)
        assert runner.state is RunState.ABORTED
        entry = rig.lab.bench.instruments["shaker"]
        with open_instrument("shaker", entry, MemoryIOLog(), rig.lab.resources["shaker"]) as shaker:  # its own word
            assert shaker.state in ("ABORTED", "STOPPED") and shaker.control_acceleration_m_s2 == 0.0
        assert world.read("shaker.running") is False and world.read("gas.flowrate_m3h") == 0


@pytest.mark.parametrize("old, new, words", [
    ("function: seismic, table: operate", "function: seismc, table: operate", ["function", "seismic"]),
    ("table: operate, expect: shut_off", "table: operate, expect: shutoff", ["expect", "shut_off"]),
    ("function: seismic, table: operate", "function: seismic", ["names its table"]),
    ("safety_profile: gas-safety-cns14741", "safety_profile: gas-safety-cns1474", ["safety_profile",
                                                                                   "gas-safety-cns1474"]),
    ("safety_profile: gas-safety-cns14741\n", "", ["needs the procedure's safety_profile"]),
    ("table: operate, expect: shut_off", "table: operate, expect: shut_off, leak: true", ["leak", "restore"]),
])
def test_a_programme_with_a_wrong_field_is_refused_naming_file_line_field_and_fix(tmp_path, old, new, words):
    text = (SAFETY / "seismic-operate.yaml").read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        load_procedure(bad)
    message = str(caught.value)
    assert str(bad) in message and "line" in message and all(w in message for w in words), message


# -- continuous use ---------------------------------------------------------------------------------------------
def test_a_good_meter_shuts_off_after_each_band_s_continuous_use_time_and_transmits_it(tmp_path):
    state, outcomes, tests = run(tmp_path, "continuous-use")
    assert state is RunState.COMPLETED and set(outcomes.values()) == {"pass"}
    assert set(outcomes) == {"continuous-use 0.6 m³/h", "continuous-use 0.6 m³/h: event transmitted",
                             "continuous-use 2 m³/h", "continuous-use 2 m³/h: event transmitted"}
    for test, table_s in zip(tests, (14400, 7200)):  # the profile's bands for 0.6 and 2 m³/h
        assert test["cause"] == "continuous_use" and test["nominal_time_s"] == table_s
        # the truth: the meter's band time (its clock is the lab's) plus the valve's 1 s travel, within U
        truth_s = test["transmitted"]["time_since_stimulus_s"] + 1.0
        assert test["transmitted"]["time_since_stimulus_s"] == pytest.approx(table_s, abs=1.0)
        assert abs(test["time_s"] - truth_s) <= 2 * test["u_time_s"] and test["u_time_s"] < 0.2


def test_a_meter_that_never_trips_on_continuous_use_fails_each_band(tmp_path):
    state, outcomes, tests = run(tmp_path, "continuous-use", scenario_with(tmp_path, fault="no_continuous_use"))
    assert state is RunState.COMPLETED
    assert failed(outcomes) == ["continuous-use 0.6 m³/h", "continuous-use 2 m³/h"]
    assert not any(t["shut_off"] for t in tests)
    assert all(t["watched_until_s"] >= t["nominal_time_s"] * 1.05 for t in tests)  # watched past the latest time


@pytest.mark.parametrize("scale, failing", [(0.5, ["continuous-use 0.6 m³/h", "continuous-use 2 m³/h"]),
                                            (1.03, [])])
def test_a_meter_whose_table_is_off_fails_beyond_the_tolerance_only(tmp_path, scale, failing):
    """Half the table's times (closing far too early) fails both points; 3 % longer is within the profile's 5 %."""
    bands = [{"up_to_m3h": q, "limit_s": t * scale} for q, t in ((0.8, 14400), (2.5, 7200), (5.0, 3600))]
    _, outcomes, tests = run(tmp_path, "continuous-use", scenario_with(tmp_path, continuous_use=bands))
    assert [p for p in failed(outcomes) if "event" not in p] == failing
    # an early closing is seen by the coarse 10 s polling (± 5 s), a late one by the fine; plus the 1 s travel
    assert all(t["time_s"] == pytest.approx(t["nominal_time_s"] * scale + 1.0, abs=5.0) for t in tests)


# -- reset and restore-safety check -----------------------------------------------------------------------------
def test_a_good_meter_stays_shut_until_restored_closes_again_on_a_leak_and_opens_without(tmp_path):
    state, outcomes, tests = run(tmp_path, "restore")
    assert state is RunState.COMPLETED and set(outcomes.values()) == {"pass"}
    assert set(outcomes) == {"restore-with-leak: shut until restored", "restore-with-leak",
                             "restore-with-leak: event transmitted", "restore-without-leak: shut until restored",
                             "restore-without-leak"}
    with_leak, without = tests
    assert with_leak["cause"] == "restore_check" and with_leak["final_valve"] == "closed"
    assert with_leak["stimulus"]["leak_flowrate_m3h"] > 0 and with_leak["time_s"] <= 120
    assert not without["shut_off"] and without["final_valve"] == "open"


def test_a_meter_that_reopens_by_itself_fails(tmp_path):
    _, outcomes, tests = run(tmp_path, "restore", scenario_with(tmp_path, fault="reopens_itself"))
    assert failed(outcomes) == ["restore-with-leak: shut until restored", "restore-without-leak: shut until restored"]
    assert all(t["reopened_by_itself_after_s"] == pytest.approx(60.0, abs=1.0) for t in tests)


def test_a_meter_without_a_restore_check_opens_onto_a_leak_and_fails(tmp_path):
    _, outcomes, tests = run(tmp_path, "restore", scenario_with(tmp_path, fault="no_restore_check"))
    assert failed(outcomes) == ["restore-with-leak"]
    assert tests[0]["final_valve"] == "open" and not tests[0]["shut_off"]


def test_a_meter_whose_restore_check_never_ends_fails_the_no_leak_restore(tmp_path):
    """A restore check longer than the profile's 120 s: the valve still reads restoring when it should be open."""
    state, outcomes, _ = run(tmp_path, "restore", scenario_with(tmp_path, restore_check_s=600.0))
    assert state is RunState.COMPLETED and failed(outcomes) == ["restore-without-leak"]


@pytest.mark.parametrize("old, new, words", [
    ("leak: true, expect: shut_off", "leak: true, expect: no_shut_off", ["restore", "leak: true expects shut_off"]),
    ("leak: false, expect: no_shut_off", "leak: false, expect: shut_off", ["without a leak no_shut_off"]),
])
def test_a_restore_programme_whose_expectation_contradicts_its_leak_is_refused(tmp_path, old, new, words):
    text = (SAFETY / "restore.yaml").read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        load_procedure(bad)
    assert str(bad) in str(caught.value) and all(w in str(caught.value) for w in words), str(caught.value)


# -- gas-alarm-linked shut-off ----------------------------------------------------------------------------------
SMART_METER = REPO / "examples" / "meters" / "g4-smart-safety.yaml"  # declares the gas-alarm input


def run_gas_alarm(tmp_path, meter: Path, scenario: Path = GOOD, keep: dict | None = None):
    return run(tmp_path, "gas-alarm", scenario, keep=keep, meter=meter)


def test_a_meter_with_the_input_ignores_a_short_alarm_and_shuts_off_on_a_held_one(tmp_path):
    state, outcomes, tests = run_gas_alarm(tmp_path, SMART_METER)
    assert state is RunState.COMPLETED and set(outcomes.values()) == {"pass"}
    assert set(outcomes) == {"short-alarm", "alarm", "alarm: event transmitted"}
    short, held = tests
    assert not short["shut_off"] and short["stimulus"]["alarm_s"] == 20  # half of the profile's 40 s
    assert held["cause"] == "gas_alarm" and 40 <= held["time_s"] <= 42  # the meter's 40 s + 1 s travel


@pytest.mark.parametrize("safety, failing", [({"fault": "ignores_gas_alarm"}, ["alarm"]),
                                             ({"gas_alarm_dwell_s": 10.0}, ["short-alarm"]),
                                             ({"gas_alarm_dwell_s": 60.0}, ["alarm"])])
def test_a_meter_that_ignores_the_alarm_or_has_the_wrong_dwell_fails(tmp_path, safety, failing):
    _, outcomes, _ = run_gas_alarm(tmp_path, SMART_METER, scenario_with(tmp_path, **safety))
    assert failed(outcomes) == failing


def test_the_gas_alarm_tests_do_not_apply_to_a_meter_declaring_no_input_and_say_why(tmp_path):
    kept: dict = {}
    state, outcomes, tests = run_gas_alarm(tmp_path, METER, keep=kept)
    assert state is RunState.COMPLETED and outcomes == {}
    assert all("declares no gas-alarm input" in t["not_applicable"] for t in tests)
    evaluation = next(kept["store"].entries(kept["run_id"], kinds=["evaluation"])).payload
    assert [s["why"].split(":")[0] for s in evaluation["skipped"]] == ["short-alarm", "alarm"]


def test_an_abort_during_a_gas_alarm_releases_the_contact(tmp_path):
    inputs = load_inputs(SAFETY / "gas-alarm.yaml", [SMART_METER], BENCH, GOOD)
    store, register = Store(str(tmp_path / "records.db")), Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=20.0)
    inputs = inputs_from_header(next(store.entries(run_id)).payload)
    control = RunControl()
    with bench_session(inputs, clock_scale=20.0, register=register) as rig:
        runner = Runner(run_id=run_id, plan=inputs.plan(), declarations=inputs.declarations, rig=rig, store=store,
                        prompter=AutoPrompter(), procedure=inputs.procedure, bus=EventBus(), control=control)
        worker = threading.Thread(target=runner.run)
        worker.start()
        world = rig.lab.world
        assert world.wait_until(lambda: world.read("gas_meter1.gas_alarm"), timeout_real_s=60)
        control.abort()  # within the short alarm's 20 s
        worker.join(60)
        assert runner.state is RunState.ABORTED
        assert world.read("gas_meter1.gas_alarm") is False and world.read("gas.flowrate_m3h") == 0


# -- low-battery shut-off ------------------------------------------------------------------------------------------
def test_a_good_meter_shuts_off_on_a_low_battery_only_below_its_threshold(tmp_path):
    """The source's DC output in place of the battery: at 1.05 x the profile's 3.0 V the valve stays open, at 0.95 x
    it closes after the meter's 10 s dwell (+ 1 s travel), the event transmitted and the closed valve tight."""
    state, outcomes, tests = run(tmp_path, "low-battery")
    assert state is RunState.COMPLETED and set(outcomes.values()) == {"pass"}, outcomes
    assert set(outcomes) == {"above-threshold", "below-threshold", "below-threshold: valve tightness",
                             "below-threshold: event transmitted"}
    above, below = tests
    assert not above["shut_off"] and above["stimulus"]["battery_v"] == pytest.approx(3.15)
    assert below["stimulus"]["battery_v"] == pytest.approx(2.85)
    assert below["cause"] == "low_battery" and 10 <= below["time_s"] <= 12


@pytest.mark.parametrize("safety, failing", [
    ({"fault": "no_low_battery_shutoff"}, ["below-threshold"]),
    ({"low_battery_shut_off_v": 2.5}, ["below-threshold"]),   # keeps going on a battery the profile calls flat
    ({"low_battery_shut_off_v": 3.2}, ["above-threshold"]),   # shuts off on a battery still good
    ({"low_battery_dwell_s": 90.0}, ["below-threshold"]),     # later than the profile's 60 s
])
def test_a_meter_failing_its_low_battery_shut_off_fails(tmp_path, safety, failing):
    _, outcomes, _ = run(tmp_path, "low-battery", scenario_with(tmp_path, **safety))
    assert failed(outcomes) == failing, outcomes
