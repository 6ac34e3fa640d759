"""R 137 error of indication end to end on the simulated bell-prover rig (instruments/sim-gas.yaml), where the
scenario's true error curve is known."""

import math
import statistics
from pathlib import Path

import yaml

from meterlab.calibration.register import Register
from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs
from meterlab.records.store import Store
from meterlab.reports.results import run_result
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "instruments" / "sim-gas.yaml"
PROCEDURE = REPO / "procedures" / "r137" / "error-of-indication.yaml"
METER = REPO / "examples" / "meters" / "g4-diaphragm.yaml"
SCENARIO = REPO / "examples" / "scenarios" / "g4-gas-meter.yaml"
SERIAL = "GM4-2026-0042"
CLOCK_SCALE = VIRTUAL  # the low-flow bell runs take simulated hours: on virtual time, seconds


def run(tmp_path, procedure: Path, scenario: Path):
    inputs = load_inputs(procedure, [METER], BENCH, scenario)
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=CLOCK_SCALE)
    state = execute(store, run_id, prompter=AutoPrompter(), register=register)
    return state, store, run_id


def truth(curve, flowrate_m3h: float) -> float:
    """The scenario's true error (linear in log Q, as the simulated meter does)."""
    logs = [math.log(q) for q, _ in curve]
    x = math.log(flowrate_m3h)
    if x <= logs[0]:
        return curve[0][1]
    for (x0, (_, e0)), (x1, (_, e1)) in zip(zip(logs, curve), zip(logs[1:], curve[1:])):
        if x <= x1:
            return e0 + (x - x0) / (x1 - x0) * (e1 - e0)
    return curve[-1][1]


def wme_of(points, qmax_m3h=6.0):
    """R 137-1 5.3.4 written out: per test point the mean flow and error; k = Q/Qmax, 0.4 at Qmax."""
    groups = {}
    for p in points:
        groups.setdefault(p["point"], []).append(p)
    sum_k = sum_ke = 0.0
    for group in groups.values():
        q = statistics.fmean(p["flowrate_m3h"] for p in group)
        e = statistics.fmean(p["error_pct"] for p in group)
        k = 0.4 if q >= 0.95 * qmax_m3h else q / qmax_m3h
        sum_k, sum_ke = sum_k + k, sum_ke + k * e
    return sum_ke / sum_k


def test_r137_error_of_indication_on_the_bell_recovers_the_true_curve(tmp_path):
    state, store, run_id = run(tmp_path, PROCEDURE, SCENARIO)
    assert state is RunState.COMPLETED
    result = run_result(store, run_id)
    points = result["tests"][0]["points"]
    assert len(points) == 7 * 3  # seven flowrates, three repeats, one meter
    spec = load_scenario(SCENARIO).gas_meters[0]
    within = [abs(p["error_pct"] - truth(spec.error_curve, p["flowrate_m3h"])) <= p["U_pct"] + 3 * spec.repeatability_pct
              for p in points]
    assert sum(within) >= 0.9 * len(points), [p for p, ok in zip(points, within) if not ok][:3]
    assert all(p["verdict"] == "pass" for p in points)
    # the measurement is the bell's: reference volume and encoder pulses recorded, standards named
    measurement = next(store.entries(run_id, kinds=["measurement"])).payload
    assert set(measurement["reading"]) == {"displacement_m", "bell_temperature_c", "bell_pressure_pa",
                                           "meter_temperature_c", "meter_pressure_pa"}
    assert {"bell-01", "cfv-bank-01", "baro-01", "prt-01"} <= set(measurement["standards"])
    assert 150 < measurement["reference_volume_l"] < 250  # the scenario's 0.20 m measuring section
    checks = next(store.entries(run_id, kinds=["evaluation"])).payload["checks"]
    wme = [c for c in checks if c["check"] == "wme"]
    assert len(wme) == 1 and wme[0]["outcome"] == "pass"
    assert abs(wme[0]["details"]["wme_pct"] - wme_of(points)) < 1e-9
    assert abs(wme[0]["details"]["limit_pct"] - 0.6) < 1e-9  # class 1.5: 0.4 × 1.5 %
    assert result["verdict"] == "pass"
    assert store.verify() == []


def test_a_gas_meter_outside_its_mpe_fails(tmp_path):
    """The same meter with a true error of +2.5 % in the upper zone (MPE 1.5 %), at the two highest flowrates."""
    scenario = yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))
    scenario["gas_meters"][0]["error_curve"] = [[0.04, 1.0], [0.6, 1.0], [2.4, 2.5], [6.0, 2.5]]
    scenario_path = tmp_path / "bad-g4.yaml"
    scenario_path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
    procedure = yaml.safe_load(PROCEDURE.read_text(encoding="utf-8"))
    procedure["steps"][1]["for_each_point"]["points"] = ["0.7Qmax", "Qmax"]
    procedure_path = tmp_path / "high-flows.yaml"
    procedure_path.write_text(yaml.safe_dump(procedure), encoding="utf-8")
    state, store, run_id = run(tmp_path, procedure_path, scenario_path)
    assert state is RunState.COMPLETED
    result = run_result(store, run_id)
    points = result["tests"][0]["points"]
    assert len(points) == 2 * 3
    within = [abs(p["error_pct"] - 2.5) <= p["U_pct"] + 0.15 for p in points]  # U + 3 sigma of repeatability
    assert sum(within) >= len(points) - 1  # nearly all: one may fall in the tail
    assert all(p["verdict"] == "fail" for p in points), [(p["label"], p["flowrate_m3h"], p["error_pct"], p["U_pct"],
                                                         p["verdict"]) for p in points]
    checks = next(store.entries(run_id, kinds=["evaluation"])).payload["checks"]
    wme = next(c for c in checks if c["check"] == "wme")
    assert wme["outcome"] == "fail" and abs(wme["details"]["wme_pct"] - wme_of(points)) < 1e-9
    assert result["verdict"] == "fail"


def test_two_meters_on_the_bell_and_a_planned_volume_larger_than_the_section(tmp_path):
    """400 L planned with a ~190 L measuring section: three bell runs summed; two meters in series, each its own
    result. The runs' counts add up, so the errors still recover each meter's truth."""
    scenario_path = REPO / "examples" / "scenarios" / "g4-two-gas-meters.yaml"
    procedure = yaml.safe_load(PROCEDURE.read_text(encoding="utf-8"))
    loop = procedure["steps"][1]["for_each_point"]
    loop["points"] = ["Qmax"]
    loop["steps"][2]["measure_error"]["volume"] = 400
    procedure_path = tmp_path / "bell-400-litres.yaml"
    procedure_path.write_text(yaml.safe_dump(procedure), encoding="utf-8")
    meters = [METER, REPO / "examples" / "meters" / "g4-diaphragm-sample2.yaml"]
    inputs = load_inputs(procedure_path, meters, BENCH, scenario_path)
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    # Qmax only: the bell runs are short, so a slower clock keeps each pass's p/T sampling close to its
    # simulated moment even on a busy machine
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=VIRTUAL)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    specs = {s.serial: s for s in load_scenario(scenario_path).gas_meters}
    measurements = [e.payload for e in store.entries(run_id, kinds=["measurement"])]
    assert measurements
    for m in measurements:
        assert m["conditions"]["bell_passes"] == 3
        assert 400 <= m["reference_volume_l"] < 3 * 250
        assert {row["meter_serial"] for row in m["meters"]} == set(specs)
        for row in m["meters"]:
            spec = specs[row["meter_serial"]]
            deviation = abs(row["error_pct"] - truth(spec.error_curve, m["flowrate_m3h"]))
            assert deviation <= row["U_pct"] + 3 * spec.repeatability_pct
