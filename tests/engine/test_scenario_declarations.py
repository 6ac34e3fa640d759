"""The simulated meters and the declared ones agree (issue 12): without --scenario the simulated meters follow the
declarations (a first run on any declaration shows a good meter), and a scenario that contradicts a declaration is
refused before any record, naming both files and the field."""

from pathlib import Path

import pytest
import yaml

from meterlab.calibration.register import Register
from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, inputs_from_header, load_inputs
from meterlab.errors import MeterlabError
from meterlab.instruments.bench import SIMULATED_BENCH
from meterlab.records.store import Store
from meterlab.reports.results import run_result
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.scenario import default_scenario

from .test_end_to_end import truth

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / SIMULATED_BENCH
PROCEDURE = REPO / "procedures" / "r49" / "intrinsic-error.yaml"


def _declaration(tmp_path, serial: str, pulse_value_l: float) -> Path:
    data = yaml.safe_load((REPO / "examples" / "meters" / "dn15-class2.yaml").read_text(encoding="utf-8"))
    data.update(serial=serial, pulse_value_l=pulse_value_l)
    path = tmp_path / f"{serial}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_without_a_scenario_the_simulated_meter_follows_its_declaration(tmp_path):
    meter = _declaration(tmp_path, "WM15-TENTH", 0.1)  # the default scenario's meter has 0.01 L pulses
    inputs = load_inputs(PROCEDURE, [meter], BENCH, default_scenario(BENCH), follow_declarations=True)
    simulated = inputs.scenario.meters[0]
    assert (simulated.serial, simulated.pulse_value_l) == ("WM15-TENTH", 0.1)
    assert "following the declarations" in inputs.texts["scenario"]["file"]
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=VIRTUAL)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    # the record holds the scenario as run: a resume rebuilds the same simulated meter from it
    rebuilt = inputs_from_header(next(store.entries(run_id, kinds=["run_created"])).payload)
    assert rebuilt.scenario.meters[0].pulse_value_l == 0.1
    curve_file = tmp_path / "truth.yaml"
    curve_file.write_text(yaml.safe_dump({"meters": [simulated.model_dump(mode="json")]}), encoding="utf-8")
    points = run_result(store, run_id)["tests"][0]["points"]
    assert all(p["verdict"] == "pass" for p in points)
    within = [abs(p["error_pct"] - truth(str(curve_file), 1, p["flowrate_m3h"])) <= p["U_pct"] + 0.1 for p in points]
    assert sum(within) >= 0.9 * len(points)


def test_a_scenario_that_contradicts_a_declaration_is_refused_naming_both_files(tmp_path):
    meter = _declaration(tmp_path, "WM15-TENTH", 0.1)
    scenario = REPO / "examples" / "scenarios" / "good-meter.yaml"  # its meter: 0.01 L pulses
    with pytest.raises(MeterlabError) as refused:
        load_inputs(PROCEDURE, [meter], BENCH, scenario)
    message = str(refused.value)
    assert f"{meter} declares pulse_value_l: 0.1 L" in message
    assert f"{scenario} simulates WM15-2026-0001 with pulse_value_l: 0.01 L" in message


def test_a_scenario_with_fewer_meters_than_declared_is_refused(tmp_path):
    meters = [_declaration(tmp_path, f"WM15-{n}", 0.01) for n in range(2)]
    scenario = REPO / "examples" / "scenarios" / "good-meter.yaml"  # one meter
    with pytest.raises(MeterlabError, match=r"simulates 1 water meter\(s\) \(meters:\), the run declares 2"):
        load_inputs(PROCEDURE, meters, BENCH, scenario)
