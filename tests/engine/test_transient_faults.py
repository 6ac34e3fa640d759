"""A communication glitch is ridden out (issue 12): each transient fault kind, injected for a few seconds of rig time
in the middle of a measurement, is recorded, the instrument reconnected and the measurement done again; the run
completes with every point. A fault that does not go away ends the run in the safe state, naming the instrument and
its history. (The lab runs at 100x here: the balance is polled every few rig seconds, so a short fault is met.)"""

from pathlib import Path

import pytest
import yaml

from meterlab.calibration.register import Register
from meterlab.engine.control import RunState
from meterlab.engine.events import EventBus
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.runner import Runner
from meterlab.engine.session import bench_session, create_run, load_inputs, register_for
from meterlab.records.store import Store
from meterlab.reports.results import run_result
from meterlab.sim.scenario import FaultSpec

from .test_run_control import DN15, _runner_in_session

REPO = Path(__file__).resolve().parents[2]


def _bench_with_scale_policy(tmp_path, policy: dict) -> Path:
    bench = yaml.safe_load((REPO / "instruments" / "sim.yaml").read_text(encoding="utf-8"))
    bench["instruments"]["scale"]["transient_faults"] = policy
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench, allow_unicode=True), encoding="utf-8")
    return path


def _run(tmp_path, kind: str, duration_s: float | None, bench: Path | None = None) -> tuple:
    procedure = yaml.safe_load((REPO / "procedures/r49/intrinsic-error.yaml").read_text(encoding="utf-8"))
    loop = next(s["for_each_point"] for s in procedure["steps"] if "for_each_point" in s)
    loop["points"] = ["Q3"]  # a minute of collection per measurement
    programme = tmp_path / "intrinsic-error.yaml"
    programme.write_text(yaml.safe_dump(procedure, sort_keys=False), encoding="utf-8")
    if bench is None:
        store, register, run_id, inputs = _runner_in_session(tmp_path, str(programme), [DN15],
                                                             "examples/scenarios/good-meter.yaml")
    else:
        inputs = load_inputs(programme, [REPO / DN15], bench, REPO / "examples/scenarios/good-meter.yaml")
        store, register = Store(str(tmp_path / "records.db")), Register.load(REPO / "calibration")
        run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=100.0)
    bus, seen = EventBus(), {}

    def inject(event) -> None:  # 5 s into the first measurement's collection
        if event.kind == "action_started" and "measure_error" in event.data["label"] and "at" not in seen:
            seen["at"] = seen["lab"].clock.now() + 5.0
            seen["lab"].inject(FaultSpec(kind=kind, instrument="scale", at_s=seen["at"], duration_s=duration_s))

    bus.subscribe(inject)
    with bench_session(inputs, clock_scale=100.0, register=register_for(inputs.bench, register)) as rig:
        seen["lab"] = rig.lab
        state = Runner(run_id=run_id, plan=inputs.plan(), declarations=inputs.declarations, rig=rig, store=store,
                       prompter=AutoPrompter(), procedure=inputs.procedure, bus=bus).run()
    faults = [e.payload for e in store.entries(run_id, kinds=["event"]) if e.payload["event"] == "instrument_fault"]
    return state, store, run_id, faults


@pytest.mark.parametrize("kind, recorded", [("no_answer", "timeout"), ("garbage", "reply"),
                                            ("drop_connection", "connection")])
def test_a_transient_fault_is_recorded_and_the_measurement_done_again(tmp_path, kind, recorded):
    state, store, run_id, faults = _run(tmp_path, kind, duration_s=8.0)
    assert state is RunState.COMPLETED
    assert faults and all(f["instrument"] == "scale" and f["kind"] == recorded for f in faults)
    assert faults[0]["action"].endswith("/r1")  # the first measurement met it, and was done again
    points = run_result(store, run_id)["tests"][0]["points"]
    assert len(points) == 3 and all(p["verdict"] == "pass" for p in points)  # every point, none lost


def test_a_fault_that_stays_ends_the_run_in_the_safe_state_with_its_history(tmp_path):
    state, store, run_id, faults = _run(tmp_path, "garbage", duration_s=None)  # to the end of the run
    assert state is RunState.FAILED
    assert [f["attempt"] for f in faults] == [1, 2, 3]
    final = [e.payload for e in store.entries(run_id, kinds=["state"])][-1]
    assert "scale did not recover from a transient fault in 3 attempts" in final["error"]
    assert final["error"].count("attempt ") >= 3
    assert final["safe_state"]["pump"]  # the other instruments were driven to their safe state and read back


def test_an_instruments_own_policy_overrides_the_benchs(tmp_path):
    bench = _bench_with_scale_policy(tmp_path, {"tries": 5, "wait_s": 2})
    state, store, run_id, faults = _run(tmp_path, "garbage", duration_s=None, bench=bench)
    assert state is RunState.FAILED and [f["attempt"] for f in faults] == [1, 2, 3, 4, 5]
    final = [e.payload for e in store.entries(run_id, kinds=["state"])][-1]
    assert "in 5 attempts (2 s apart" in final["error"]
