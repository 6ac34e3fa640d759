"""The R 137-2 / R 49-2 vibration and mechanical shock programmes on the simulated benches, on virtual time, the real
shaker and shock tester drivers talking to the simulated instruments: an immune meter passes the significant-fault
check (error after - error before), a meter whose error shifts once shaken or shocked (scenario
`mechanical_shift_pct`) fails it; the table really ran each axis at the declared class's level."""

import threading
from pathlib import Path

import pytest
import yaml

from meterlab.calibration.register import Register
from meterlab.engine.control import RunControl, RunState
from meterlab.engine.events import EventBus
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.runner import Runner
from meterlab.engine.session import bench_session, create_run, execute, inputs_from_header, load_inputs
from meterlab.instruments.bench import open_instrument
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.procedures.severities import load_severities
from meterlab.records.store import Store
from meterlab.sim.clock import VIRTUAL

REPO = Path(__file__).resolve().parents[2]
CASES = {  # programme: (bench, meter, scenario whose first meter is made susceptible)
    "r49/vibration": ("instruments/sim.yaml", "examples/meters/dn15-class2.yaml", "examples/scenarios/good-meter.yaml"),
    "r49/mechanical-shock": ("instruments/sim.yaml", "examples/meters/dn15-class2.yaml",
                             "examples/scenarios/good-meter.yaml"),
    "r137/vibration": ("instruments/sim-gas.yaml", "examples/meters/g4-diaphragm.yaml",
                       "examples/scenarios/g4-gas-meter.yaml"),
    "r137/mechanical-shock": ("instruments/sim-gas.yaml", "examples/meters/g4-diaphragm.yaml",
                              "examples/scenarios/g4-gas-meter.yaml"),
}


def scenario(tmp_path, base: str, shift_pct: float) -> Path:
    data = yaml.safe_load((REPO / base).read_text(encoding="utf-8"))
    section = "gas_meters" if "gas_meters" in data else "meters"
    data[section][0]["mechanical_shift_pct"] = shift_pct
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def run(tmp_path, programme: str, shift_pct: float, meter: str | None = None):
    bench, default_meter, base = CASES[programme]
    inputs = load_inputs(REPO / "procedures" / f"{programme}.yaml", [REPO / (meter or default_meter)], REPO / bench,
                         scenario(tmp_path, base, shift_pct))
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=VIRTUAL)
    state = execute(store, run_id, prompter=AutoPrompter(), register=register)
    checks = [c for e in store.entries(run_id, kinds=["evaluation"]) for c in e.payload["checks"]]
    return state, store, run_id, checks


@pytest.mark.parametrize("programme", sorted(CASES))
@pytest.mark.parametrize("shift_pct, outcome", [(0.0, "pass"), (-2.0, "fail")])
def test_a_meter_whose_error_shifts_once_shaken_or_shocked_fails_and_an_immune_one_passes(tmp_path, programme,
                                                                                          shift_pct, outcome):
    state, _, _, checks = run(tmp_path, programme, shift_pct)
    assert state is RunState.COMPLETED
    faults = [c for c in checks if c["check"] == "significant_fault"]
    assert [c["outcome"] for c in faults] == [outcome]
    # the fault recovers the planted shift within its U (and the meter's scatter)
    assert abs(faults[0]["details"]["fault_pct"] - shift_pct) <= faults[0]["details"]["U_pct"] + 0.2


@pytest.mark.parametrize("programme, commands", [
    ("r49/vibration", ["AXIS X", "AXIS Y", "AXIS Z", "MODE RAND", "RAND:PROF 10,0.05,20,0.05,150,0.006667",
                       "RAND:DUR 120"]),
    ("r137/mechanical-shock", ["AXIS Z", "SHOC:PEAK 183.3", "SHOC:DUR 6", "FIRE"]),
])
def test_the_table_runs_the_declared_class_s_level_on_each_axis(tmp_path, programme, commands):
    """An M2 meter: level 1 random vibration (1.6 m/s² RMS) on X, Y and Z; four 25 mm drops as half-sines."""
    _, store, run_id, _ = run(tmp_path, programme, 0.0)
    sent = [e.payload for e in store.entries(run_id, kinds=["io"])]
    text = "\n".join(str(p) for p in sent)
    assert all(command in text for command in commands), [c for c in commands if c not in text]
    done = [e.payload for e in store.entries(run_id, kinds=["action_done"]) if e.payload.get("disturbance")]
    assert len(done) == 1 and done[0]["parameters"]["axes"] == (["X", "Y", "Z"] if "vibration" in programme
                                                                    else ["Z"])
    if "shock" in programme:
        assert text.count("FIRE") == 4  # one fall per bottom edge


def test_an_m1_meter_has_no_level_and_the_run_says_which_class_is_needed(tmp_path):
    m1 = tmp_path / "m1.yaml"
    m1.write_text((REPO / "examples/meters/dn15-class2.yaml").read_text(encoding="utf-8").replace(
        "mechanical: M2", "mechanical: M1"), encoding="utf-8")
    state, store, run_id, checks = run(tmp_path, "r49/vibration", 0.0, meter=str(m1))
    assert state is RunState.FAILED and checks == []
    error = next(e.payload["error"] for e in store.entries(run_id, kinds=["state"]) if "error" in e.payload)
    assert "environment.mechanical" in error and "'M1'" in error and "M2, M3" in error


def test_an_abort_during_the_vibration_leaves_the_shaker_stopped_as_the_instrument_says(tmp_path):
    bench, meter, base = CASES["r49/vibration"]
    inputs = load_inputs(REPO / "procedures/r49/vibration.yaml", [REPO / meter], REPO / bench, REPO / base)
    store, register = Store(str(tmp_path / "records.db")), Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=50.0)
    inputs = inputs_from_header(next(store.entries(run_id)).payload)
    control = RunControl()
    with bench_session(inputs, clock_scale=50.0, register=register) as rig:
        runner = Runner(run_id=run_id, plan=inputs.plan(), declarations=inputs.declarations, rig=rig, store=store,
                        prompter=AutoPrompter(), procedure=inputs.procedure, bus=EventBus(), control=control,
                        severities=load_severities("d11-2013"))
        worker = threading.Thread(target=runner.run)
        worker.start()
        world = rig.lab.world
        started = world.wait_until(lambda: world.read("shaker.running") or not worker.is_alive(), timeout_real_s=120)
        assert started and worker.is_alive(), [e.payload for e in store.entries(run_id, kinds=["state"])]
        control.abort()  # in the middle of the first axis's 2 min
        worker.join(60)
        assert runner.state is RunState.ABORTED
        entry = rig.lab.bench.instruments["shaker"]
        with open_instrument("shaker", entry, MemoryIOLog(), rig.lab.resources["shaker"]) as shaker:  # its own word
            assert shaker.state in ("ABORTED", "STOPPED") and shaker.control_acceleration_m_s2 == 0.0
        assert world.read("shaker.running") is False
