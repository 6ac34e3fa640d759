"""Rig parts that diagnose themselves are read during every measurement that relies on them (issue 10, item 9):
a reference master meter in alarm and a tripped pump stop the measurement at once, in the safe state, with the
reason; before, a run against a master meter in alarm passed, and a pump trip ended as a tank timeout."""

import pytest

from meterlab.engine.control import RunState
from meterlab.engine.events import EventBus
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.runner import Runner
from meterlab.engine.session import bench_session, register_for
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.scenario import FaultSpec

from .test_run_control import DN15, _runner_in_session
from .test_step_runs import master_meter_programme

GOOD = "examples/scenarios/good-meter.yaml"


def _run_with_fault_at_first_measurement(tmp_path, procedure: str, fault: str) -> tuple[RunState, dict, list]:
    store, register, run_id, inputs = _runner_in_session(tmp_path, procedure, [DN15], GOOD)
    bus, seen = EventBus(), {}

    def inject(event) -> None:  # as the first measurement starts (flow set and stable)
        if event.kind == "action_started" and "measure_error" in event.data["label"] and "fault" not in seen:
            seen["fault"] = seen["lab"].clock.now()
            seen["lab"].inject(FaultSpec(kind=fault, at_s=seen["fault"]))

    bus.subscribe(inject)
    with bench_session(inputs, clock_scale=VIRTUAL, register=register_for(inputs.bench, register)) as rig:
        seen["lab"] = rig.lab
        runner = Runner(run_id=run_id, plan=inputs.plan(), declarations=inputs.declarations, rig=rig, store=store,
                        prompter=AutoPrompter(), procedure=inputs.procedure, bus=bus)
        state = runner.run()
    final = [e.payload for e in store.entries(run_id, kinds=["state"])][-1]
    measured = [e.payload for e in store.entries(run_id, kinds=["measurement"]) if "meters" in e.payload]
    return state, final, measured


def test_a_master_meter_in_alarm_stops_the_measurements_that_rely_on_it(tmp_path):
    state, final, measured = _run_with_fault_at_first_measurement(
        tmp_path, master_meter_programme(tmp_path, ["Q3"]), "master_meter_fault")
    assert state is RunState.FAILED and not measured
    assert "reports system condition 0 (not OK)" in final["error"] and "discarded" in final["error"]
    assert final["safe_state_problems"] == []


@pytest.mark.parametrize("programme", ["procedures/r49/intrinsic-error.yaml", "master-meter"])
def test_a_tripped_pump_stops_the_measurement_at_once_not_at_a_timeout(tmp_path, programme):
    procedure = master_meter_programme(tmp_path, ["Q3"]) if programme == "master-meter" else programme
    state, final, measured = _run_with_fault_at_first_measurement(tmp_path, procedure, "pump_trip")
    assert state is RunState.FAILED and not measured
    assert "reports a fault (tripped)" in final["error"] and "not done within" not in final["error"]  # no timeout
