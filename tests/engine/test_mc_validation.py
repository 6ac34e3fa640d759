"""`meterlab records mc`: a recorded point's GUM result rebuilt from the record and validated by Monte Carlo
(JCGM 101 §8), for every reference method: the same model code runs on ureals and on arrays of draws."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from meterlab.calibration.register import Register
from meterlab.cli import app
from meterlab.engine.control import RunState
from meterlab.engine.mc_validation import validate_point
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import execute
from meterlab.errors import MeterlabError

from .test_end_to_end import start
from .test_gas_nozzle_run import sonic_error_of_indication
from .test_gas_nozzle_run import start as start_gas
from .test_step_runs import master_meter_programme

REPO = Path(__file__).resolve().parents[2]
DN15 = ["examples/meters/dn15-class2.yaml"]
G4 = [REPO / "examples" / "meters" / "g4-diaphragm.yaml"]
GAS_SCENARIO = REPO / "instruments" / "scenarios" / "sim-gas.yaml"


def _water(tmp_path, method: str):
    procedure = yaml.safe_load((REPO / "procedures/r49/intrinsic-error.yaml").read_text(encoding="utf-8"))
    loop = next(s["for_each_point"] for s in procedure["steps"] if "for_each_point" in s)
    loop["points"] = ["Q1", "Q3"]
    path = tmp_path / "intrinsic-error.yaml"
    path.write_text(yaml.safe_dump(procedure, sort_keys=False), encoding="utf-8")
    programme = master_meter_programme(tmp_path, ["Q3"]) if method == "master_meter" else str(path)
    return start(tmp_path, programme, DN15, "examples/scenarios/good-meter.yaml")


def _gas(tmp_path, method: str):
    procedure = sonic_error_of_indication(tmp_path, ["0.2Qmax", "0.7Qmax"])
    if method == "bell_prover":
        data = yaml.safe_load(procedure.read_text(encoding="utf-8"))
        data["method"] = "bell_prover"
        procedure.write_text(yaml.safe_dump(data), encoding="utf-8")
    return start_gas(tmp_path, procedure, G4, GAS_SCENARIO)


@pytest.mark.parametrize("method", ["gravimetric", "master_meter", "bell_prover", "sonic_nozzle"])
def test_a_recorded_point_is_rebuilt_exactly_and_validated_by_monte_carlo(tmp_path, method):
    store, register, run_id = (_gas if method in ("bell_prover", "sonic_nozzle") else _water)(tmp_path, method)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    point = "Q3#1" if method in ("gravimetric", "master_meter") else "0.7Qmax#1"
    v = validate_point(store, run_id, point, register=Register.load(REPO / "calibration"), trials=50_000, seed=3)
    # the GUM result rebuilt from the record is the recorded one: the model, inputs and certificates are the same
    assert v.gum.value == pytest.approx(v.recorded_error_pct, abs=1e-9)
    assert v.gum.U == pytest.approx(v.recorded_U_pct, rel=1e-9)
    # Monte Carlo propagates the same model: the same estimate and nearly the same u (JCGM 101 §8)
    assert abs(v.mc.value - v.gum.value) < 0.05 * v.gum.u
    assert v.mc.u == pytest.approx(v.gum.u, rel=0.05)
    assert v.agree == (v.d_low <= v.delta and v.d_high <= v.delta)
    assert validate_point(store, run_id, point, register=Register.load(REPO / "calibration"), trials=50_000,
                          seed=3).mc == v.mc  # a seed reproduces its draws


def test_the_command_prints_both_intervals_and_refuses_an_unknown_point(tmp_path):
    store, register, run_id = _water(tmp_path, "gravimetric")
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    db = f"sqlite:///{tmp_path / 'records.db'}"
    result = CliRunner().invoke(app, ["records", "mc", run_id, "Q1#2", "--db", db, "--trials", "20000",
                                      "--calibration-dir", str(REPO / "calibration")])
    assert result.exit_code == 0, result.output
    assert "GUM (rebuilt)" in result.output and "Monte Carlo (M = 20000, seed 1)" in result.output
    assert "agree within δ" in result.output
    refused = CliRunner().invoke(app, ["records", "mc", run_id, "Q9", "--db", db])
    assert refused.exit_code == 2 and "'Q9' matches no measured point" in refused.output and "Q3#1" in refused.output
    with pytest.raises(MeterlabError, match="matches 3 measurements"):
        validate_point(store, run_id, "Q3", register=Register.load(REPO / "calibration"))
