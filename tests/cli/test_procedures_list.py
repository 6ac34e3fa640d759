"""`meterlab procedures list`: every shipped programme, with what a technician chooses by."""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meterlab.cli import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def _line(output: str, programme: str) -> str:
    return next(line for line in output.splitlines() if f" {programme} " in line)


def test_every_shipped_programme_is_listed_with_method_points_and_rig_time():
    result = runner.invoke(app, ["procedures", "list"])
    assert result.exit_code == 0, result.output
    shipped = sorted(REPO.glob("procedures/r*/*.yaml"))
    assert len(shipped) >= 40
    for path in shipped:
        assert f" {path.parent.name}/{path.stem} " in result.output, path
    intrinsic = _line(result.output, "r49/intrinsic-error")
    assert "R 49-2:2013 7.4" in intrinsic and "gravimetric (water rig)" in intrinsic
    assert " 6 " in intrinsic and " min " in intrinsic  # Q1 .. Q4 and the two between, under an hour
    assert "bell_prover (gas rig)" in _line(result.output, "r137/error-of-indication")


def test_a_programme_the_meter_cannot_take_says_why_and_another_meter_plans_it():
    default = runner.invoke(app, ["procedures", "list", "--standard", "r49"])
    t50 = _line(default.output, "r49/water-temperature-t50")
    # the footnote's number follows the order of the programmes a T50 meter takes (the overload test lists first)
    assert "—" in t50 and re.search(r"\[\d+\]", t50)
    assert "not for this meter: a meter of temperature class T50" in default.output

    with_t50 = runner.invoke(app, ["procedures", "list", "--standard", "r49", "--meter", "examples/meters/dn25-class1.yaml"])
    assert with_t50.exit_code == 0, with_t50.output
    assert "—" not in _line(with_t50.output, "r49/water-temperature-t50")
    assert "examples/meters/dn25-class1.yaml" in with_t50.output


def test_one_standard_only_and_bad_choices_are_refused():
    r137 = runner.invoke(app, ["procedures", "list", "--standard", "r137"])
    assert r137.exit_code == 0 and "r137/esd" in r137.output and "r49/" not in r137.output
    bad = runner.invoke(app, ["procedures", "list", "--standard", "r50"])
    assert bad.exit_code == 2 and "use one of r49, r137" in bad.output


def test_an_invalid_programme_is_listed_as_such_and_the_others_still_are(tmp_path):
    (tmp_path / "r49").mkdir()
    good = REPO / "procedures" / "r49" / "esd.yaml"
    (tmp_path / "r49" / "esd.yaml").write_text(good.read_text())
    (tmp_path / "r49" / "broken.yaml").write_text("id: r49-broken\nsteps: []\n")
    result = runner.invoke(app, ["procedures", "list", "--standard", "r49", "--folder", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "r49/esd " in result.output
    assert "broken.yaml: not valid" in result.output
