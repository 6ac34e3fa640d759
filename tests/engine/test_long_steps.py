"""Long steps (durability flow, soaks, waits) are committed in parts: a resumed run continues with what is left."""

import threading

import yaml

from meterlab.engine.control import RunControl, RunState
from meterlab.engine.events import EventBus
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.runner import PART_S, Runner
from meterlab.engine.session import bench_session

from .test_end_to_end import REPO
from .test_run_control import DN15, _runner_in_session

CLOCK_SCALE = 4000.0


def short_durability(tmp_path) -> str:
    """The shipped continuous-durability programme with a 2 h run and one-point curves (the parts are the point)."""
    procedure = yaml.safe_load((REPO / "procedures/r49/durability-continuous.yaml").read_text(encoding="utf-8"))
    for step in procedure["steps"]:
        if "run_flow" in step:
            step["run_flow"]["duration_s"] = 7200
        if "for_each_point" in step:
            step["for_each_point"]["points"] = ["Q3"]
    path = tmp_path / "durability-2h.yaml"
    path.write_text(yaml.safe_dump(procedure), encoding="utf-8")
    return str(path)


def test_continuous_durability_flow_is_committed_in_parts_and_resumed_where_it_stopped(tmp_path):
    store, register, run_id, inputs = _runner_in_session(tmp_path, short_durability(tmp_path), [DN15],
                                                         "examples/scenarios/good-meter.yaml")
    plan = inputs.plan()
    run_flow = next(a for a in plan.actions if a.kind == "run_flow")
    parts = int(-(-run_flow.step.duration_s // PART_S))
    control, bus = RunControl(), EventBus()
    three_parts = threading.Event()

    def watch() -> None:  # abort once three parts of the endurance run are in the record
        while not three_parts.is_set():
            if len([e for e in store.entries(run_id, kinds=["progress"])]) >= 3:
                three_parts.set()
                control.abort()
            three_parts.wait(0.05)

    with bench_session(inputs, clock_scale=CLOCK_SCALE, register=register) as rig:
        runner = Runner(run_id=run_id, plan=plan, declarations=inputs.declarations, rig=rig, store=store,
                        prompter=AutoPrompter(), procedure=inputs.procedure, bus=bus, control=control)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        assert runner.run() is RunState.ABORTED
        three_parts.set()
    before = {e.key for e in store.entries(run_id, kinds=["progress"])}
    assert 3 <= len(before) < parts

    with bench_session(inputs, clock_scale=CLOCK_SCALE, register=register) as rig:
        runner = Runner(run_id=run_id, plan=plan, declarations=inputs.declarations, rig=rig, store=store,
                        prompter=AutoPrompter(), procedure=inputs.procedure)
        assert runner.run() is RunState.COMPLETED
    keys = [e.key for e in store.entries(run_id, kinds=["progress"])]
    assert len(keys) == parts and len(set(keys)) == parts  # every part once: none repeated, none lost
    assert before <= set(keys)
