"""Every result at a flowrate inside its point's window (issue 10, item 1): a bench that cannot give a window's
flow is refused before the run is recorded; a point measured outside its window is repeated, recorded, and
never taken as a result; the MPE follows the window, not the achieved flow."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from meterlab.calibration.register import Register
from meterlab.cli import app
from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs
from meterlab.errors import MeterlabError
from meterlab.records.store import Store
from meterlab.reports.results import run_result
from meterlab.sim.clock import VIRTUAL

from .test_end_to_end import start
from .test_gas_nozzle_run import BENCH as GAS_BENCH
from .test_gas_nozzle_run import sonic_error_of_indication
from .test_gas_nozzle_run import start as start_gas
from .test_gas_run import truth

REPO = Path(__file__).resolve().parents[2]
G4 = REPO / "examples" / "meters" / "g4-diaphragm.yaml"


def _bench_without_small_nozzles(tmp_path) -> Path:
    """The simulated gas bench with only N4..N8 wired (the smallest combination gives about 0.33 m³/h)."""
    bench = yaml.safe_load(GAS_BENCH.read_text(encoding="utf-8"))
    bench["instruments"]["nozzle_bank"]["wiring"] = {f"DO{k}": f"nozzle{k + 1}" for k in range(3, 8)}
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench, allow_unicode=True), encoding="utf-8")
    return path


def test_a_bench_that_cannot_give_a_windows_flow_is_refused_before_any_record(tmp_path):
    procedure = sonic_error_of_indication(tmp_path, ["Qmin", "3Qmin", "0.7Qmax"])
    inputs = load_inputs(procedure, [G4], _bench_without_small_nozzles(tmp_path), None)
    store = Store(str(tmp_path / "records.db"))
    with pytest.raises(MeterlabError) as refused:
        create_run(store, inputs, operator="pytest", register=Register.load(REPO / "calibration"), clock_scale=VIRTUAL)
    message = str(refused.value)
    assert "2 test point(s)" in message  # Qmin and 3Qmin; 0.7Qmax has a combination
    assert "Qmin: window 0.04 .. 0.042 m³/h" in message and "3Qmin: window 0.114 .. 0.126 m³/h" in message
    assert "nearest combinations give 0.3" in message and "(nozzle4)" in message
    assert store.runs() == []


def test_plan_refuses_the_same_points_with_the_same_words(tmp_path):
    procedure = sonic_error_of_indication(tmp_path, ["Qmin", "0.7Qmax"])
    result = CliRunner().invoke(app, ["plan", str(procedure), "--meter", str(G4),
                                      "--bench", str(_bench_without_small_nozzles(tmp_path))])
    assert result.exit_code == 2  # refused, as every bad input
    assert "Qmin: window 0.04 .. 0.042 m³/h holds no flow of the nozzle bank" in result.output


def test_the_g4_on_the_nozzle_bench_is_measured_inside_every_window_and_judged_by_the_window(tmp_path):
    """A meter truly +2 % around 0.1 Qmax (= Qt: the window reaches below it) fails against the upper MPE 1.5 %,
    wherever in the window the nozzles put the flow (before, a flow below Qt earned the lower zone's 3 %)."""
    scenario = tmp_path / "g4-high-at-qt.yaml"
    curve = [[0.04, 0.4], [0.3, 0.4], [0.5, 2.0], [0.7, 2.0], [1.0, 0.2], [6.0, 0.2]]
    scenario.write_text(yaml.safe_dump({"seed": 7, "gas_meters": [{
        "serial": "G4-QT", "error_curve": curve,
        "repeatability_pct": 0.03, "pulse_value_l": 0.1, "register_resolution_l": 0.2}]}), encoding="utf-8")
    procedure = sonic_error_of_indication(tmp_path, ["Qmin", "3Qmin", "0.1Qmax", "0.4Qmax"])
    store, register, run_id = start_gas(tmp_path, procedure, [G4], scenario)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    measured = [e.payload for e in store.entries(run_id, kinds=["measurement"]) if "meters" in e.payload]
    assert {m["point"]["name"] for m in measured} == {"Qmin", "3Qmin", "0.1Qmax", "0.4Qmax"}
    for m in measured:
        assert m["point"]["low_m3h"] <= m["flowrate_m3h"] <= m["point"]["high_m3h"], m["point"]
    points = run_result(store, run_id)["tests"][0]["points"]
    at_qt = [p for p in points if p["point"] == "0.1Qmax"]
    assert at_qt and all(p["mpe_pct"] == 1.5 and p["verdict"] == "fail" for p in at_qt)
    assert all(abs(p["error_pct"] - truth(curve, p["flowrate_m3h"])) <= p["U_pct"] + 0.1 for p in at_qt)
    lower = [p for p in points if p["point"] in ("Qmin", "3Qmin")]
    assert lower and all(p["mpe_pct"] == 3.0 and p["verdict"] == "pass" for p in lower)


def test_a_point_run_outside_its_window_is_repeated_recorded_and_never_a_result(tmp_path):
    """The water bench trims its flow on its reference flowmeter (the master meter in the line): one reading 10 %
    high holds the true flow 10 % below the set point, below the Q1 window (Q1 .. 1.1 Q1, set at 1.05 Q1). Three
    measurements, each recorded with its achieved flowrate, then the run stops: nothing is judged outside it."""
    scenario = tmp_path / "trims-low.yaml"
    scenario.write_text(yaml.safe_dump({"seed": 5, "master_meter": {"error_curve": [[0.01, 10.0], [10.0, 10.0]]},
                                        "meters": [{"serial": "WM15-2026-0001", "error_curve": [[0.01, 0.2], [5.0, 0.2]],
                                                    "pulse_value_l": 0.01, "register_resolution_l": 0.05}]}),
                        encoding="utf-8")
    store, register, run_id = start(tmp_path, "procedures/r49/intrinsic-error.yaml",
                                    ["examples/meters/dn15-class2.yaml"], str(scenario))
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.FAILED
    outside = [e.payload for e in store.entries(run_id, kinds=["event"]) if e.payload["event"] == "outside_window"]
    assert [o["attempt"] for o in outside] == [1, 2, 3]
    assert all(o["point"] == "Q1" and o["flowrate_m3h"] < o["low_m3h"] for o in outside)
    assert all("collection timer" in o["flowrate_source"] for o in outside)  # the reference's time, not the host's
    assert not [e for e in store.entries(run_id, kinds=["measurement"]) if "meters" in e.payload]
    failed = [e.payload for e in store.entries(run_id, kinds=["state"])][-1]
    assert failed["state"] == "failed" and "stayed outside the window of Q1" in failed["error"]
