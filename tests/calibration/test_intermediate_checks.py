"""Intermediate checks between calibrations (issue 13, part 4): a standard whose latest check is beyond the
action limit is kept out of a run like an expired one (an override is recorded), the run's record keeps the
latest check and its state, and a wrong checks file is refused with its line."""

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from meterlab.calibration.checks import ControlState
from meterlab.calibration.register import CalibrationRefused, ProblemKind, Register
from meterlab.cli import app
from meterlab.errors import InputFileError

REPO = Path(__file__).resolve().parents[2]
TODAY = dt.date.today()


@pytest.fixture
def calibration(tmp_path):
    folder = tmp_path / "calibration"
    shutil.copytree(REPO / "calibration", folder)
    return folder


def _add_check(folder, value, day=TODAY):
    path = folder / "checks" / "bal-600.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["checks"].append({"date": day, "value": value, "by": "sam"})
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def test_the_shipped_balance_is_in_control_and_its_latest_check_is_recorded(calibration):
    register = Register.load(calibration)
    assert register.checks["bal-600"].state(TODAY) is ControlState.IN_CONTROL
    snapshot = register.snapshot(["bal-600"], at=TODAY)["bal-600"]["intermediate_check"]
    assert snapshot["state"] == "in control" and snapshot["unit"] == "kg"


def test_a_check_beyond_the_action_limit_keeps_the_standard_out_until_overridden(calibration):
    _add_check(calibration, 100.05)  # 50 g off a 100 kg weight, action limit 30 g
    register = Register.load(calibration).accepting_simulated(["bal-600"])
    with pytest.raises(CalibrationRefused, match=r"intermediate check of .* read 100.05 kg .*action limit ±0.03"):
        register.enforce(["bal-600"], at=TODAY)
    problems = register.enforce(["bal-600"], at=TODAY, override_reason="check weight dropped, re-checked by hand")
    assert [p.kind for p in problems] == [ProblemKind.OUT_OF_CONTROL]
    assert register.snapshot(["bal-600"], at=TODAY)["bal-600"]["intermediate_check"]["state"] == \
        "beyond the action limit"
    _add_check(calibration, 100.025, TODAY + dt.timedelta(days=1))  # checked again: a warning only
    assert Register.load(calibration).checks["bal-600"].state(TODAY + dt.timedelta(days=1)) is ControlState.WARNING


def test_a_run_on_an_out_of_control_standard_is_refused_before_it_is_recorded(calibration, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    _add_check(calibration, 99.95)
    result = CliRunner().invoke(app, ["run", "procedures/r49/pressure-loss.yaml", "--meter",
                                      "examples/meters/dn15-class2.yaml", "--db", str(tmp_path / "r.db"),
                                      "--calibration-dir", str(calibration), "--yes"])
    assert result.exit_code == 2 and "out of control" in result.output, result.output
    shown = CliRunner().invoke(app, ["calibration", "checks", "bal-600", "--dir", str(calibration),
                                     "--out", str(tmp_path / "chart.png")])
    assert "beyond the action limit" in shown.output and (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")


def test_a_wrong_checks_file_is_refused_with_its_line(calibration):
    path = calibration / "checks" / "bal-600.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("action: 0.030", "action: 0.010"), encoding="utf-8")
    with pytest.raises(InputFileError, match=r"bal-600.yaml:\d+ .*action limit 0.01 is below the warning limit"):
        Register.load(calibration)
