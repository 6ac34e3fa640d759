"""`meterlab calibration list` and `check` through the real command line."""

import shutil
from pathlib import Path

from typer.testing import CliRunner

from meterlab.cli import app

CALIBRATION = Path(__file__).resolve().parents[2] / "calibration"
RUNNER = CliRunner()
WIDE = {"COLUMNS": "200"}


def test_list_shows_every_standard_with_its_certificate_and_status():
    result = RUNNER.invoke(app, ["calibration", "list", "--dir", str(CALIBRATION), "--at", "2026-11-22"], env=WIDE)
    assert result.exit_code == 0, result.output
    for words in ("bal-060", "scale_large", "T-2026-0412", "Gamma Flow Calibration Centre", "2027-05-04",
                  "emc-sg-01", "verification", "EMC-V-2026-0051", "simulated lab"):
        assert words in result.output
    assert "EXPIRED" not in result.output


def test_the_simulated_lab_s_certificates_are_never_listed_as_expired():
    result = RUNNER.invoke(app, ["calibration", "list", "--dir", str(CALIBRATION), "--at", "2029-12-06"], env=WIDE)
    assert result.exit_code == 0, result.output
    rows = len(list(CALIBRATION.glob("*.yaml")))
    assert "EXPIRED" not in result.output and result.output.count("│ simulated lab") == rows


def test_list_marks_expired_and_soon_due_standards(tmp_path):
    shutil.copy(CALIBRATION / "examples" / "expired-thermometer.yaml", tmp_path)
    real = (CALIBRATION / "ptx-01.yaml").read_text(encoding="utf-8").replace("\nsimulated: true", "\n")
    (tmp_path / "ptx-01.yaml").write_text(real, encoding="utf-8")  # a real lab's copy, due 2027-02-18
    result = RUNNER.invoke(app, ["calibration", "list", "--dir", str(tmp_path), "--at", "2027-02-08"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "EXPIRED" in result.output and "due in 10 days" in result.output


def test_list_of_a_missing_folder_says_so():
    result = RUNNER.invoke(app, ["calibration", "list", "--dir", "no/such/folder"], env=WIDE)
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_check_accepts_good_files_and_names_file_line_and_field_of_a_bad_one(tmp_path):
    bad = tmp_path / "bad.yaml"
    text = (CALIBRATION / "prt-01.yaml").read_text(encoding="utf-8")
    text = text.replace("due_date: 2027-03-12", "due_date: 2026-01-01")
    bad.write_text(text, encoding="utf-8")
    due_line = text.splitlines().index("due_date: 2026-01-01") + 1
    good = RUNNER.invoke(app, ["calibration", "check", str(CALIBRATION)])
    assert good.exit_code == 0, good.output
    assert good.output.count("ok  ") == len(list(CALIBRATION.glob("*.yaml")))
    result = RUNNER.invoke(app, ["calibration", "check", str(CALIBRATION / "bal-060.yaml"), str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:{due_line}" in result.output and "field 'due_date'" in result.output
