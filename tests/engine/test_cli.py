"""The technician's commands: plan, validate, run (calibration refusal and override), report."""

import json
import re
import shutil

import pytest
from typer.testing import CliRunner

from meterlab.cli import app
from meterlab.engine.session import load_inputs
from meterlab.errors import InputFileError
from meterlab.records.store import Store

from .test_end_to_end import REPO

runner = CliRunner()
DN15 = "examples/meters/dn15-class2.yaml"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def test_plan_prints_points_volumes_and_rig_time():
    result = runner.invoke(app, ["plan", "procedures/r49/intrinsic-error.yaml", "--meter", DN15])
    assert result.exit_code == 0, result.output
    for text in ("measure_error @ Q1 #1/3", "0.35(Q2+Q3)", "estimated rig time", "1 meter(s) in series"):
        assert text in result.output


def test_plan_counts_the_climate_cycles_and_soaks_of_the_severity_profile():
    result = runner.invoke(app, ["plan", "procedures/r49/damp-heat-cyclic.yaml", "--meter", DN15])
    assert result.exit_code == 0, result.output
    hours = float(result.output.split("estimated rig time:")[1].split("h")[0])
    assert 48 + 3 <= hours < 52  # two 24 h cycles (d11-2013, class B) + the 1 h and 2 h soaks + measurements


def test_validate_accepts_good_files_and_names_the_line_of_a_bad_one(tmp_path):
    good = runner.invoke(app, ["validate", "procedures/r49/intrinsic-error.yaml", DN15, "instruments/sim.yaml",
                               "examples/scenarios/good-meter.yaml", "calibration/prt-01.yaml"])
    assert good.exit_code == 0 and good.output.count("ok ") == 6, good.output  # the 5 files and the wiring
    assert "the interfaces of 1 meter(s) are wired on instruments/sim.yaml" in good.output
    bad = tmp_path / "bad.yaml"
    text = (REPO / "procedures/r49/intrinsic-error.yaml").read_text()
    bad.write_text(text.replace("start: flying", "start: sideways"), "utf-8")
    result = runner.invoke(app, ["validate", str(bad)])
    line = next(i for i, l in enumerate(bad.read_text().splitlines(), 1) if "sideways" in l)
    assert result.exit_code == 1 and f"bad.yaml:{line}" in result.output and "start" in result.output


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_validate_refuses_a_meter_interface_the_bench_has_not_wired_as_run_does():
    # the simulated bench wires its Modbus meter to position 1 only: a Modbus meter given second has none
    modbus = "examples/meters/dn15-class2-pulses-modbus.yaml"
    result = runner.invoke(app, ["validate", DN15, modbus, "instruments/sim.yaml"])
    assert result.exit_code == 1, result.output
    with pytest.raises(InputFileError) as refused:  # what `meterlab run` says, before any record
        load_inputs(REPO / "procedures/r49/burst-mains.yaml", [REPO / DN15, REPO / modbus],
                    REPO / "instruments/sim.yaml", None)
    shown = _flat(result.output)
    problem = _flat(refused.value.problems[0][2]).replace(str(REPO / "instruments/sim.yaml"), "instruments/sim.yaml")
    assert problem in shown  # the same error, from the same check
    assert f"{modbus}:19 (line 19) field 'interfaces.0'" in shown and "wiring: {meter: meter2}" in shown
    first = runner.invoke(app, ["validate", modbus, DN15, "--bench", "instruments/sim.yaml"])  # now at position 1
    assert first.exit_code == 0 and "are wired on instruments/sim.yaml" in first.output, first.output
    alone = runner.invoke(app, ["validate", modbus])
    assert alone.exit_code == 0 and "not checked against a bench: give --bench" in _flat(alone.output)


def test_validate_and_fuzz_refuse_a_fuzzed_interface_the_bench_cannot_reach(tmp_path):
    bench = tmp_path / "bench.yaml"  # the simulated bench, its Modbus meter moved to position 2
    bench.write_text((REPO / "instruments/sim.yaml").read_text().replace("wiring: {meter: meter1}",
                                                                          "wiring: {meter: meter2}"), "utf-8")
    meter = "examples/meters/dn15-class2-modbus.yaml"
    result = runner.invoke(app, ["validate", meter, "--bench", str(bench)])
    assert result.exit_code == 1
    shown = _flat(result.output)
    assert f"{meter}:20 (line 20) field 'interface.modbus'" in shown and "wiring: {meter: meter1}" in shown
    assert "`meterlab fuzz` puts the meter there" in shown
    db = tmp_path / "f.db"
    fuzzed = runner.invoke(app, ["fuzz", "--meter", meter, "--bench", str(bench), "--scenario",
                                 "examples/scenarios/modbus-robust.yaml", "--db", str(db)])
    assert fuzzed.exit_code == 2 and not db.exists()
    assert f"{meter}:20 (line 20) field 'interface.modbus'" in _flat(fuzzed.output)
    mbus = tmp_path / "mbus.yaml"  # an M-Bus meter at a primary address the gateway has not wired
    mbus.write_text((REPO / "examples/meters/dn15-class2-mbus-fuzz.yaml").read_text()
                    .replace("primary_address: 1", "primary_address: 7"), "utf-8")
    result = runner.invoke(app, ["validate", str(mbus), "instruments/sim.yaml"])
    assert result.exit_code == 1 and "add `addr7: meter1` to the wiring of an M-Bus gateway" in _flat(result.output)


def _expired_calibration(tmp_path):
    folder = tmp_path / "calibration"
    shutil.copytree(REPO / "calibration", folder, ignore=shutil.ignore_patterns("examples"))
    prt = folder / "prt-01.yaml"  # made a real lab's certificate (dates enforced), and expired
    prt.write_text(prt.read_text().replace("\nsimulated: true", "\n")
                   .replace("calibration_date: 2026-03-12", "calibration_date: 2025-03-12")
                   .replace("due_date: 2027-03-12", "due_date: 2026-03-12"), "utf-8")
    return folder


def test_an_expired_standard_refuses_the_run_and_an_override_is_recorded(tmp_path):
    calibration = _expired_calibration(tmp_path)
    db = f"sqlite:///{tmp_path / 'records.db'}"
    args = ["run", "procedures/r49/burst-mains.yaml", "--meter", DN15, "--scenario", "examples/scenarios/good-meter.yaml",
            "--db", db, "--yes", "--calibration-dir", str(calibration)]  # virtual time: whatever the host's load
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2
    assert "prt-01" in refused.output and "T-2026-0412" in refused.output
    accepted = runner.invoke(app, [*args, "--override-calibration", "PRT recalibrated, certificate in the post"])
    assert accepted.exit_code == 0, accepted.output
    run_id = accepted.output.split("run id: ")[1].split()[0]
    report = runner.invoke(app, ["report", run_id, "--db", db, "--format", "json"])
    result = json.loads(report.output)
    assert result["calibration_override"]["reason"] == "PRT recalibrated, certificate in the post"
    assert result["calibration_override"]["problems"][0]["standard"] == "prt-01"
    for field in ("id", "verdict", "procedure", "tests"):
        assert field in result
    assert set(result["procedure"]) >= {"id", "sha256"}
    point = result["tests"][0]["points"][0]
    assert set(point) >= {"meter_serial", "label", "flowrate_m3h", "reference_volume_l", "indicated_volume_l",
                          "error_pct", "u_pct", "k", "U_pct", "mpe_pct", "verdict"}


def test_report_of_an_unknown_run_is_a_clear_error(tmp_path):
    Store(str(tmp_path / "r.db")).close()
    result = runner.invoke(app, ["report", "nosuchrun", "--db", f"sqlite:///{tmp_path / 'r.db'}"])
    assert result.exit_code == 2 and "no run with id nosuchrun" in result.output
    missing = runner.invoke(app, ["report", "nosuchrun", "--db", f"sqlite:///{tmp_path / 'typo.db'}"])
    assert missing.exit_code == 2 and "no records database at" in missing.output
    assert not (tmp_path / "typo.db").exists()


def test_a_run_warns_of_a_standard_falling_due_soon(tmp_path, monkeypatch):
    import datetime as dt

    monkeypatch.chdir(REPO)
    calibration = tmp_path / "calibration"
    shutil.copytree(REPO / "calibration", calibration)
    prt = calibration / "prt-01.yaml"
    due = dt.date.today() + dt.timedelta(days=12)
    prt.write_text(prt.read_text("utf-8").replace("\nsimulated: true", "\n")
                   .replace("calibration_date: 2026-03-12", f"calibration_date: {due - dt.timedelta(days=365)}")
                   .replace("due_date: 2027-03-12", f"due_date: {due}"), "utf-8")
    result = runner.invoke(app, ["run", "procedures/r49/pressure-loss.yaml", "--meter", "examples/meters/dn15-class2.yaml",
                                 "--db", str(tmp_path / "r.db"), "--calibration-dir", str(calibration), "--yes"])
    assert result.exit_code == 0, result.output
    assert f"prt-01 (certificate T-2026-0412) falls due on {due}, in 12 day(s)" in result.output
