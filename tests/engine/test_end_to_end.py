"""End-to-end runs on the simulated lab, where the scenario's true error curves are known."""

import math
from pathlib import Path

from meterlab.calibration.register import Register
from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs
from meterlab.records.store import Store
from meterlab.reports.results import run_result
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "instruments" / "sim.yaml"
CLOCK_SCALE = VIRTUAL  # the same record on any host at any load
EMC_CLOCK_SCALE = VIRTUAL  # the generators' traffic takes no simulated time from a 60 s burst
# A test that acts on a run in flight (pause, abort while a disturbance runs) needs real time to act in.
CONTROL_CLOCK_SCALE = 200.0


def start(tmp_path, procedure: str, meters: list[str], scenario: str, clock_scale: float = CLOCK_SCALE, **kwargs):
    inputs = load_inputs(REPO / procedure, [REPO / m for m in meters], BENCH, REPO / scenario)
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=clock_scale, **kwargs)
    return store, register, run_id


def truth(scenario: str, position: int, flowrate_m3h: float, kind: str = "water") -> float:
    """The scenario's true error at a flowrate (linear in log Q, as the simulated meter does)."""
    loaded = load_scenario(REPO / scenario)
    curve = (loaded.meters if kind == "water" else loaded.gas_meters)[position - 1].error_curve
    logs = [math.log(q) for q, _ in curve]
    x = math.log(flowrate_m3h)
    if x <= logs[0]:
        return curve[0][1]
    for (x0, (_, e0)), (x1, (_, e1)) in zip(zip(logs, curve), zip(logs[1:], curve[1:])):
        if x <= x1:
            return e0 + (x - x0) / (x1 - x0) * (e1 - e0)
    return curve[-1][1]


def test_intrinsic_error_recovers_the_true_curves_and_fails_the_bad_meter(tmp_path):
    scenario = "examples/scenarios/demo-three-meters.yaml"
    meters = ["examples/meters/dn15-class2.yaml", "examples/meters/dn15-class2-sample2.yaml",
              "examples/meters/dn15-class2-sample3.yaml"]
    store, register, run_id = start(tmp_path, "procedures/r49/intrinsic-error.yaml", meters, scenario)
    state = execute(store, run_id, prompter=AutoPrompter(), register=register)
    assert state is RunState.COMPLETED
    result = run_result(store, run_id)
    points = result["tests"][0]["points"]
    assert len(points) == 6 * 3 * 3  # six windows, three repeats, three meters
    serials = {"WM15-2026-0001": 1, "WM15-2026-0002": 2, "WM15-2026-0003": 3}
    within = [abs(p["error_pct"] - truth(scenario, serials[p["meter_serial"]], p["flowrate_m3h"])) <= p["U_pct"] + 0.1
              for p in points]
    assert sum(within) >= 0.9 * len(points), [p for p, ok in zip(points, within) if not ok][:3]
    bad_q1 = [p for p in points if p["meter_serial"] == "WM15-2026-0002" and p["point"] == "Q1"]
    assert bad_q1 and all(p["verdict"] == "fail" for p in bad_q1)
    good = [p for p in points if p["meter_serial"] == "WM15-2026-0001"]
    assert all(p["verdict"] == "pass" for p in good)
    assert result["verdict"] == "fail"
    assert store.verify() == []
    first = next(store.entries(run_id, kinds=["measurement"])).payload
    assert {"bal-600", "prt-01", "ptx-01"} <= set(first["standards"])  # which standards produced the point
    assert set(first["conditions"]["corrections"]) == {"bal-600", "prt-01", "ptx-01"}  # and their corrections
    sources = {row["source"] for row in first["meters"][0]["budget"]}
    assert any("T-2026-0412" in source for source in sources)  # the budget names the PRT's certificate


def test_a_run_is_recorded_and_verified_in_postgresql(postgres_store):
    inputs = load_inputs(REPO / "procedures/r49/intrinsic-error.yaml", [REPO / "examples/meters/dn15-class2.yaml"],
                         BENCH, REPO / "examples/scenarios/good-meter.yaml")
    store = postgres_store
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    result = run_result(store, run_id)
    assert len(result["tests"][0]["points"]) == 18 and result["verdict"] == "pass"
    assert store.verify() == []


def _narrow_pressure_certificate(tmp_path) -> Register:
    """The calibration folder with the pressure transmitter calibrated only up to 2 bar (absolute)."""
    import shutil

    folder = tmp_path / "calibration"
    shutil.copytree(REPO / "calibration", folder, ignore=shutil.ignore_patterns("examples"))
    certificate = folder / "ptx-01.yaml"
    certificate.write_text(certificate.read_text().replace("max: 1700000", "max: 200000"), "utf-8")
    return Register.load(folder)


def test_a_standard_used_outside_its_calibrated_range_fails_the_measurement(tmp_path):
    inputs = load_inputs(REPO / "procedures/r49/intrinsic-error.yaml", [REPO / "examples/meters/dn15-class2.yaml"],
                         BENCH, REPO / "examples/scenarios/good-meter.yaml")
    store = Store(str(tmp_path / "records.db"))
    register = _narrow_pressure_certificate(tmp_path)
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.FAILED
    failure = [e.payload for e in store.entries(run_id, kinds=["state"])][-1]
    assert "ptx-01" in failure["error"] and "range" in failure["error"]
    assert not list(store.entries(run_id, kinds=["measurement"]))  # nothing stored from outside the range
