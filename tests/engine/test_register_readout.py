"""Meters read by their register (M-Bus, Modbus, the operator) with a standing start, on the simulated lab:
the drivers talk to the simulated gateway and meters through sockets, and the scenario knows the truth."""

from pathlib import Path

import pytest

from meterlab.engine.control import RunState
from meterlab.engine.measurement import readout_problems
from meterlab.engine.prompts import Answer, AutoPrompter
from meterlab.engine.runner import Runner
from meterlab.engine.session import bench_session, execute, inputs_from_header
from meterlab.errors import MeterlabError
from meterlab.metrology.declarations import load_meter
from meterlab.procedures.schema import load_procedure
from meterlab.reports.results import run_result
from meterlab.sim.clock import VIRTUAL

from .test_end_to_end import EMC_CLOCK_SCALE, start, truth

HERE = Path(__file__).parent
TWO_POINTS = str((HERE / "data" / "standing-two-points.yaml").relative_to(HERE.parents[1]))
DATA = str((HERE / "data").relative_to(HERE.parents[1]))
GOOD = "examples/scenarios/good-meter.yaml"
DEMO = "examples/scenarios/demo-three-meters.yaml"
CLOCK_SCALE = VIRTUAL


def _measurements(store, run_id) -> list[dict]:
    return [e.payload for e in store.entries(run_id, kinds=["measurement"])]


def _failure(store, run_id) -> str:
    return [e.payload for e in store.entries(run_id, kinds=["state"])][-1]["error"]


def _near_truth(points, scenario: str, positions: dict[str, int]) -> list[bool]:
    return [abs(p["error_pct"] - truth(scenario, positions[p["meter_serial"]], p["flowrate_m3h"])) <= p["U_pct"] + 0.1
            for p in points]


def test_mbus_readout_with_standing_start_recovers_the_true_curve(tmp_path):
    store, register, run_id = start(tmp_path, "procedures/r49/intrinsic-error-register.yaml",
                                    ["examples/meters/dn15-class2-mbus.yaml"], GOOD)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    result = run_result(store, run_id)
    points = result["tests"][0]["points"]
    assert len(points) == 18
    within = _near_truth(points, GOOD, {"WM15-2026-0001": 1})
    assert sum(within) >= 0.9 * len(points), [p for p, ok in zip(points, within) if not ok][:3]
    assert result["verdict"] == "pass"
    for m in _measurements(store, run_id):
        row = m["meters"][0]
        raw = row["raw"]
        assert row["readout"] == "mbus" and raw["readout"] == "mbus" and raw["address"] == 1
        assert raw["end_s"] > raw["start_s"]
        assert abs(row["indicated_volume_l"] - (raw["end_l"] - raw["start_l"])) < 1e-9
        assert row["indicated_volume_l"] >= m["planned_volume_l"] * 0.99  # the planned mass was collected
        assert any("register" in line["name"] for line in row["budget"])  # ±½ scale interval per reading
        assert not any("diverter" in line["name"] for line in row["budget"])  # nothing times a standing start
    assert store.verify() == []


def test_a_pulse_meter_and_an_mbus_meter_in_series(tmp_path):
    meters = ["examples/meters/dn15-class2.yaml", f"{DATA}/dn15-sample2-mbus.yaml"]
    store, register, run_id = start(tmp_path, TWO_POINTS, meters, DEMO)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    points = run_result(store, run_id)["tests"][0]["points"]
    assert len(points) == 4
    assert all(_near_truth(points, DEMO, {"WM15-2026-0001": 1, "WM15-2026-0002": 2})), points
    for m in _measurements(store, run_id):
        pulsed, bus = m["meters"]
        assert pulsed["raw"]["readout"] == "pulses" and pulsed["raw"]["pulses"] > 0
        assert bus["raw"]["readout"] == "mbus" and bus["raw"]["address"] == 2
        # one reference for both: the pulses were gated over the same standing-start run
        ratio = pulsed["indicated_volume_l"] / bus["indicated_volume_l"]
        assert abs(ratio - 1) < 0.01


def test_modbus_readout_with_standing_start(tmp_path):
    store, register, run_id = start(tmp_path, TWO_POINTS, [f"{DATA}/dn15-modbus.yaml"], GOOD)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    points = run_result(store, run_id)["tests"][0]["points"]
    assert all(_near_truth(points, GOOD, {"WM15-2026-0001": 1})), points
    raw = _measurements(store, run_id)[0]["meters"][0]["raw"]
    assert raw["readout"] == "modbus" and raw["instrument"] == "modbus_meter"


def test_flying_start_with_a_register_readout_is_refused_before_the_run_is_created(tmp_path):
    with pytest.raises(MeterlabError) as info:
        start(tmp_path, "procedures/r49/intrinsic-error.yaml", ["examples/meters/dn15-class2-mbus.yaml"], GOOD)
    error = str(info.value)
    assert "start: flying" in error and "start: standing" in error and "WM15-2026-0001 (readout: mbus)" in error
    assert "steps.1.for_each_point.steps.2.measure_error" in error  # names the step


def test_readout_problems_name_the_flying_steps_before_a_run(repo):
    mbus, _ = load_meter(repo / "examples/meters/dn15-class2-mbus.yaml")
    pulses, _ = load_meter(repo / "examples/meters/dn15-class2.yaml")
    flying = load_procedure(repo / "procedures/r49/intrinsic-error.yaml")
    problems = readout_problems(flying, {mbus.serial: mbus})
    assert len(problems) == 1 and "measure_error" in problems[0] and "start: standing" in problems[0]
    assert readout_problems(flying, {pulses.serial: pulses}) == []
    assert readout_problems(load_procedure(repo / "procedures/r49/intrinsic-error-register.yaml"),
                            {mbus.serial: mbus}) == []


class WorldPrompter:
    """The operator at the simulated bench: reads the display (the simulated meter's register) and types it,
    with scripted typing mistakes: `wrong(serial, phase, true_l) -> text or None` per question."""

    def __init__(self, positions: dict[str, int], wrong=None):
        self.positions, self.wrong, self.world, self.questions = positions, wrong, None, []

    def ask(self, question) -> Answer:
        if question.value_name != "register":
            return Answer(True, None, "pytest")
        self.questions.append(question)
        true_l = self.world.read(f"meter{self.positions[question.meter_serial]}.register_l")
        typed = self.wrong(question, true_l) if self.wrong else None
        return Answer(True, true_l if typed is None else typed, "pytest operator")


def _run_in_session(tmp_path, procedure: str, meters: list[str], scenario: str, prompter) -> tuple:
    store, register, run_id = start(tmp_path, procedure, meters, scenario)
    inputs = inputs_from_header(next(store.entries(run_id)).payload)
    with bench_session(inputs, clock_scale=CLOCK_SCALE, register=register) as rig:
        prompter.world = rig.lab.world
        runner = Runner(run_id=run_id, plan=inputs.plan(), declarations=inputs.declarations, rig=rig, store=store,
                        prompter=prompter, procedure=inputs.procedure)
        return store, run_id, runner.run()


def test_manual_readout_typed_by_the_operator_gives_the_true_error(tmp_path):
    meters = ["examples/meters/dn15-class2.yaml", "examples/meters/dn15-class2-sample2.yaml",
              "examples/meters/dn15-class2-manual.yaml"]
    mistyped = []

    def once_off_by_a_digit(question, true_l):  # the first end reading is mistyped once, then corrected
        if "After" in question.text and not mistyped:
            mistyped.append(question)
            return true_l + 0.02
        return None

    prompter = WorldPrompter({"WM15-2026-0003": 3}, wrong=once_off_by_a_digit)
    store, run_id, state = _run_in_session(tmp_path, TWO_POINTS, meters, DEMO, prompter)
    assert state is RunState.COMPLETED, _failure(store, run_id)
    points = run_result(store, run_id)["tests"][0]["points"]
    positions = {"WM15-2026-0001": 1, "WM15-2026-0002": 2, "WM15-2026-0003": 3}
    assert all(_near_truth(points, DEMO, positions)), points
    first = _measurements(store, run_id)[0]["meters"][2]
    assert first["readout"] == "manual"
    exchanges = first["raw"]["operator"]
    assert [e["phase"] for e in exchanges] == ["start", "end", "end"]  # the refused entry was asked again
    assert "whole number of scale intervals" in exchanges[2]["question"]
    assert first["raw"]["end_l"] == exchanges[2]["typed"]  # the corrected value is the one used
    assert all(q.meter_serial == "WM15-2026-0003" for q in prompter.questions)


def test_an_implausible_register_reading_is_refused_with_its_reason(tmp_path):
    def far_too_much(question, true_l):  # after the run the operator keeps typing 1000 L too much
        return true_l + 1000.0 if "After" in question.text or "more than" in question.text else None

    prompter = WorldPrompter({"WM15-2026-0003": 1}, wrong=far_too_much)
    store, run_id, state = _run_in_session(tmp_path, TWO_POINTS, ["examples/meters/dn15-class2-manual.yaml"],
                                           GOOD, prompter)
    assert state is RunState.FAILED
    error = _failure(store, run_id)
    assert "ImplausibleReading" in error and "WM15-2026-0003" in error and "refused 3 time(s)" in error
    assert "more than" in error and "m³/h can carry" in error
    assert not _measurements(store, run_id)  # nothing recorded from a refused reading


def test_an_unattended_run_cannot_read_a_register_by_hand(tmp_path):
    store, register, run_id = start(tmp_path, TWO_POINTS, ["examples/meters/dn15-class2-manual.yaml"], GOOD)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.FAILED
    assert "unattended run cannot read a register by hand" in _failure(store, run_id)


def test_a_suspended_standing_start_is_discarded_and_measured_again(tmp_path):
    # the water leaves its band (28 °C at 1500 s, for 400 s) during the Q2 collection
    scenario = f"{DATA}/temperature-excursion.yaml"
    store, register, run_id = start(tmp_path, TWO_POINTS, ["examples/meters/dn15-class2-mbus.yaml"], scenario)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    suspended = [e.payload for e in store.entries(run_id, kinds=["event"]) if e.payload.get("event") == "suspended"]
    assert suspended and "water temperature" in suspended[0]["reason"]
    measurements = _measurements(store, run_id)
    assert len(measurements) == 2
    retried = measurements[0]
    assert retried["meters"][0]["raw"]["start_s"] >= 1500 + 400  # read again at rest after the excursion
    assert all(15 <= m["conditions"]["water_temperature_c"] <= 25 for m in measurements)
    points = run_result(store, run_id)["tests"][0]["points"]
    assert all(_near_truth(points, scenario, {"WM15-2026-0001": 1})), points


def test_a_slowly_refreshed_bus_register_is_read_after_its_declared_refresh(tmp_path):
    scenario = f"{DATA}/slow-mbus-register.yaml"  # the interface copies the display every 600 s
    store, register, run_id = start(tmp_path, TWO_POINTS, [f"{DATA}/dn15-mbus-slow-register.yaml"], scenario)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    points = run_result(store, run_id)["tests"][0]["points"]
    assert all(_near_truth(points, scenario, {"WM15-2026-0001": 1})), points
    for m in _measurements(store, run_id):  # each reading waited the refresh after the flow had stopped
        assert m["meters"][0]["raw"]["end_s"] - m["sim_time_s"]["stop_s"] >= 600



def test_a_disturbance_during_a_standing_start_run_reaches_the_pulse_and_the_register_meters(tmp_path):
    # NSAd: the burst runs while the flow does; the susceptible meter (position 1, +2.5 % while disturbed)
    # shows a significant fault, the immune one read by M-Bus does not
    meters = ["examples/meters/dn15-class2-sample3.yaml", "examples/meters/dn15-class2-mbus.yaml"]
    store, register, run_id = start(tmp_path, f"{DATA}/burst-mains-standing.yaml", meters,
                                    "examples/scenarios/burst-susceptible.yaml", clock_scale=EMC_CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    checks = {c["meter_serial"]: c for c in run_result(store, run_id)["tests"][0]["checks"]}
    assert checks["WM15-2026-0003"]["outcome"] == "fail" and checks["WM15-2026-0001"]["outcome"] == "pass"
    assert abs(checks["WM15-2026-0001"]["details"]["fault_pct"]) < 0.3
    disturbed = [m for m in _measurements(store, run_id) if m["during"]][0]
    assert [row["readout"] for row in disturbed["meters"]] == ["pulses", "mbus"]
