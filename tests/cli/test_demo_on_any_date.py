"""The demo programme (`make demo`: `meterlab demo`, then the R 49 intrinsic-error programme on the simulated
lab) works on any date: the process clock is moved years past every due date of the simulated lab's
certificates, for every thread of the simulated lab's instrument servers too (time-machine patches the clock
of the whole process). A real register at the same date still refuses its expired certificates."""

import datetime as dt
import shutil
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

from meterlab.calibration.register import CalibrationRefused, Register
from meterlab.cli import app
from meterlab.records.store import Store

REPO = Path(__file__).resolve().parents[2]
RUNNER = CliRunner()
# Three years ahead of the day the test runs, and the end of the ten years the demo is meant to last.
AHEAD = [dt.date.today() + dt.timedelta(days=3 * 365), dt.date(2036, 12, 31)]
MAKE_DEMO_RUN = ["run", "procedures/r49/intrinsic-error.yaml", "--meter", "examples/meters/dn15-class2.yaml",
                 "--meter", "examples/meters/dn15-class2-sample2.yaml", "--meter", "examples/meters/dn15-class2-sample3.yaml",
                 "--scenario", "examples/scenarios/demo-three-meters.yaml", "--operator", "demo", "--yes"]
# (on virtual time, as `make demo`: a scaled clock would let the host's load into the run)


@pytest.mark.parametrize("day", AHEAD, ids=str)
def test_the_demo_programme_completes_years_after_the_simulated_lab_s_due_dates(tmp_path, monkeypatch, day):
    monkeypatch.chdir(REPO)  # the commands' defaults (calibration/, instruments/sim.yaml) are relative, as in make demo
    db = tmp_path / "demo.db"
    last_due = max(c.due_date for c in Register.load(REPO / "calibration"))
    with time_machine.travel(dt.datetime.combine(day, dt.time(9, 0), tzinfo=dt.timezone.utc), tick=True):
        assert dt.date.today() == day > last_due
        assert RUNNER.invoke(app, ["demo"]).exit_code == 0
        result = RUNNER.invoke(app, MAKE_DEMO_RUN + ["--db", str(db)])
        assert result.exit_code == 0, result.output
        run_id = Store(str(db)).runs()[0].id
        html = tmp_path / "report.html"
        assert RUNNER.invoke(app, ["report", run_id, "--db", str(db), "--format", "html", "--out", str(html)]).exit_code == 0
        shown = RUNNER.invoke(app, ["records", "show", run_id, "--db", str(db)]).output
    assert "ptx-01: certificate P-2026-0233" in shown and "simulated laboratory" in shown and "expired" not in shown
    store = Store(str(db))
    states = [e.payload["state"] for e in store.entries(run_id, kinds=["state"])]
    assert states[-1] == "completed" and len(list(store.entries(run_id, kinds=["measurement"]))) == 18
    snapshot = next(store.entries(run_id)).payload["calibration"]
    assert {"bal-600", "prt-01", "ptx-01"} <= set(snapshot)
    assert all(entry["checked_on"] == day.isoformat() and entry["simulated"] for entry in snapshot.values())
    report = html.read_text(encoding="utf-8")
    assert "Simulated laboratory." in report and "simulated laboratory (dates not enforced)" in report


def test_a_real_register_refuses_the_expired_certificates_on_the_same_date(tmp_path):
    folder = tmp_path / "calibration"
    shutil.copytree(REPO / "calibration", folder, ignore=shutil.ignore_patterns("examples"))
    for path in folder.glob("*.yaml"):  # the same certificates, as a real lab's
        path.write_text(path.read_text("utf-8").replace("\nsimulated: true", "\n"), "utf-8")
    register = Register.load(folder)
    with time_machine.travel(dt.datetime.combine(AHEAD[0], dt.time(9, 0)), tick=True):
        with pytest.raises(CalibrationRefused, match=r"ptx-01 \(pressure\).*P-2026-0233.*expired"):
            register.enforce(["bal-600", "prt-01", "ptx-01"])
