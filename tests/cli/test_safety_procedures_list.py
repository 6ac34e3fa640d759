"""`meterlab procedures list --standard safety`: the smart gas meters' safety programmes, with their shaker
points and a rig time bounded by the safety profile's observation windows."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from meterlab.cli import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def test_every_safety_programme_is_listed_valid_with_its_points_and_rig_time():
    result = runner.invoke(app, ["procedures", "list", "--standard", "safety"])
    assert result.exit_code == 0, result.output
    shipped = sorted((REPO / "procedures" / "safety").glob("*.yaml"))
    assert len(shipped) >= 6
    for path in shipped:
        line = next(line for line in result.output.splitlines() if f" safety/{path.stem} " in line)
        assert "sonic_nozzle (gas rig)" in line and (" min" in line or " h" in line)
    assert "not valid" not in result.output
    continuous = next(line for line in result.output.splitlines() if " safety/continuous-use " in line)
    assert " 2 " in continuous and "6.3 h" in continuous  # two points: 4 h and 2 h, each watched 5 % longer
    operate = next(line for line in result.output.splitlines() if " safety/seismic-operate " in line)
    assert " 3 " in operate  # the three points of the operate table
