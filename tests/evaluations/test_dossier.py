"""A type evaluation end to end on the simulated lab (issue 13, part 3): two samples, four programmes run from
its plan, its status, and one dossier whose contents match the runs."""

import re
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from meterlab.calibration.dcc import NS, validate
from meterlab.cli import app
from meterlab.records import evaluations
from meterlab.records.store import Store
from meterlab.reports.results import run_result

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()
SAMPLES = ["examples/meters/dn15-class2.yaml", "examples/meters/dn15-class2-sample2.yaml"]
PLAN = [("procedures/r49/intrinsic-error.yaml", "all"), ("procedures/r49/pressure-loss.yaml", [1]),
        ("procedures/r49/static-pressure.yaml", [2]), ("procedures/r49/water-pressure.yaml", [1]),
        ("procedures/r49/reverse-flow.yaml", [2])]


@pytest.fixture
def evaluation_files(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"id": "test-plan", "title": "five tests", "standard": "OIML R 49",
                                    "items": [{"procedure": p, "samples": s} for p, s in PLAN]}), encoding="utf-8")
    type_file = tmp_path / "type.yaml"
    type_file.write_text(yaml.safe_dump({
        "name": "AquaSmart 15", "standard": "OIML R 49", "applicant": "Example Meters Ltd", "plan": str(plan),
        "samples": [{"meter": m, "received": date(2026, 11, 2), "condition": "new"} for m in SAMPLES]}), encoding="utf-8")
    return type_file, plan


def _invoke(*args, **kwargs):
    result = runner.invoke(app, [str(a) for a in args], **kwargs)
    return result


def _evaluation_with_a_run(type_file, db) -> tuple[str, str]:
    """(evaluation id, run id): a new evaluation, and the pressure loss of its first sample measured for it."""
    evaluation_id = re.search(r"(TE-[0-9a-f]{8})", _invoke("evaluation", "new", "--type", type_file, "--db", db)
                              .output).group(1)
    ran = _invoke("run", "procedures/r49/pressure-loss.yaml", "--meter", SAMPLES[0], "--db", db, "--yes",
                  "--evaluation", evaluation_id)
    assert ran.exit_code == 0, ran.output
    return evaluation_id, re.search(r"run (\w+) created", ran.output).group(1)


def test_an_evaluation_runs_its_plan_and_its_dossier_matches_the_runs(evaluation_files, tmp_path):
    type_file, _ = evaluation_files
    db = str(tmp_path / "records.db")
    created = _invoke("evaluation", "new", "--type", type_file, "--db", db)
    assert created.exit_code == 0, created.output
    evaluation_id = re.search(r"evaluation (TE-[0-9a-f]{8})", created.output).group(1)
    runs = []
    for procedure, samples in PLAN[:4]:
        meters = SAMPLES if samples == "all" else [SAMPLES[n - 1] for n in samples]
        result = _invoke("run", procedure, *[a for m in meters for a in ("--meter", m)], "--db", db, "--yes",
                         "--evaluation", evaluation_id, "--operator", "tina")
        assert result.exit_code == 0, result.output
        runs.append(re.search(r"run (\w+) created", result.output).group(1))
    # a run the plan does not hold is refused before anything is recorded
    wrong = _invoke("run", "procedures/r49/pressure-loss.yaml", "--meter", SAMPLES[1], "--db", db, "--yes",
                    "--evaluation", evaluation_id)
    assert wrong.exit_code == 2 and "plans no r49-pressure-loss on WM15-2026-0002" in wrong.output
    stranger = _invoke("run", "procedures/r49/pressure-loss.yaml", "--meter", "examples/meters/dn25-class1.yaml",
                       "--db", db, "--yes", "--evaluation", evaluation_id)
    assert stranger.exit_code == 2 and "not a sample of evaluation" in stranger.output
    store = Store(db)
    assert len(store.runs()) == 4 and evaluations.get(store, evaluation_id).runs == runs

    status = _invoke("evaluation", "status", evaluation_id, "--db", db)
    assert status.exit_code == 0, status.output
    assert "4 of 5 tests done" in status.output and "r49-reverse-flow" in status.output
    assert "to do" in status.output and "not complete" in status.output
    left = float(re.search(r"still to do ([0-9.]+) h", status.output).group(1))
    assert left > 0  # the reverse-flow test's estimate

    out = tmp_path / "dossier.html"
    report = _invoke("evaluation", "report", evaluation_id, "--db", db, "--out", out)
    assert report.exit_code == 0, report.output
    html = out.read_text(encoding="utf-8")
    for heading in ("4.1 General", "4.2 Information concerning the type", "4.3 Test equipment",
                    "4.4 Check list of the tests", "5. Results", "6. Record"):
        assert heading in html
    assert "WM15-2026-0001" in html and "WM15-2026-0002" in html and "AQS-1.4.2" in html
    assert html.count("<img alt=\"error curve") >= 1  # the intrinsic error of both samples
    for run_id in runs:  # every point of every run, with its E and U as stored
        result = run_result(store, run_id)
        assert run_id in html
        for p in result["tests"][0]["points"]:
            assert f"{p['error_pct']:+.3f}" in html
        assert f"run {run_id}" in html.lower() or f"Run {run_id}" in html
    assert "Not yet performed." in html and html.count("needs metrologist, qa") == 4
    assert f"--expect {store.head()[0]}:{store.head()[1]}" in html

    dtr_file = tmp_path / "dossier.dtr.xml"  # the same dossier as a Digital Test Report, valid against the XSD
    dtr = _invoke("evaluation", "report", evaluation_id, "--db", db, "--format", "dtr", "--out", dtr_file)
    assert dtr.exit_code == 0, dtr.output
    xml_text = dtr_file.read_text(encoding="utf-8")
    validate(xml_text)
    root = ET.fromstring(xml_text)
    assert [i.text for i in root.iterfind(".//dcc:items/dcc:item/dcc:identifications//dcc:value", NS)] == \
        ["WM15-2026-0001", "WM15-2026-0002"]
    statements = root.findall(".//dcc:statements/dcc:statement", NS)
    assert len(statements) == len(PLAN) + 1  # one per planned test (the requirement), and the evaluation's
    assert statements[-1].findtext("dcc:conformity", namespaces=NS) is None  # not complete: no conformity
    measured = [(r, p) for r in runs for p in run_result(store, r)["tests"][0]["points"]]
    errors = root.findall(".//dcc:quantity[@refType='basic_measurementError']/si:real", NS)
    assert sorted(float(e.findtext("si:value", namespaces=NS)) for e in errors) == \
        sorted(p["error_pct"] for _, p in measured)  # every point of every run, as stored


def test_a_type_whose_samples_are_not_one_type_is_refused_with_the_line(evaluation_files, tmp_path):
    type_file, _ = evaluation_files
    data = yaml.safe_load(type_file.read_text(encoding="utf-8"))
    data["samples"].append({"meter": "examples/meters/dn15-class2-manual.yaml", "received": date(2026, 11, 3),
                            "condition": "new"})
    type_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = _invoke("evaluation", "new", "--type", type_file, "--db", str(tmp_path / "r.db"))
    assert result.exit_code == 2 and "samples.2.meter" in result.output and "not the same type" in result.output
    assert "model 'AquaBasic 15' (first: 'AquaSmart 15')" in result.output
    unknown = _invoke("evaluation", "status", "TE-00000000", "--db", str(tmp_path / "r.db"))
    assert unknown.exit_code == 2 and "no records database" in unknown.output  # nothing was created by the refusal


def test_a_plan_naming_a_sample_that_does_not_exist_is_refused(evaluation_files, tmp_path):
    type_file, plan = evaluation_files
    data = yaml.safe_load(plan.read_text(encoding="utf-8"))
    data["items"][1]["samples"] = [3]
    plan.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = _invoke("evaluation", "new", "--type", type_file, "--db", str(tmp_path / "r.db"))
    assert result.exit_code == 2 and "items.1.samples" in result.output and "sample 3 does not exist" in result.output


def test_a_samples_history_holds_its_runs_and_its_repair_and_a_standards_its_uses(evaluation_files, tmp_path):
    type_file, _ = evaluation_files
    db = str(tmp_path / "records.db")
    evaluation_id, _ = _evaluation_with_a_run(type_file, db)
    added = _invoke("users", "add", "tina", "--role", "technician", "--db", db, "--password-stdin",
                    input="tina-secret-1\n")
    assert added.exit_code == 0, added.output
    repair = _invoke("records", "sample-event", "WM15-2026-0001", "--event", "repair", "--text", "register replaced",
                     "--by", "tina", "--db", db, "--password-stdin", input="tina-secret-1\n")
    assert repair.exit_code == 0, repair.output
    refused = _invoke("run", "procedures/r49/water-pressure.yaml", "--meter", SAMPLES[0], "--db", db, "--yes",
                      "--evaluation", evaluation_id)  # the records have users now: the operator must be one
    assert refused.exit_code == 2 and "the operator must be one who runs tests (tina)" in refused.output
    second = _invoke("run", "procedures/r49/water-pressure.yaml", "--meter", SAMPLES[0], "--db", db, "--yes",
                     "--evaluation", evaluation_id, "--operator", "tina", "--password-stdin", input="tina-secret-1\n")
    assert second.exit_code == 0, second.output
    header = next(Store(db).entries(re.search(r"run (\w+) created", second.output).group(1))).payload
    assert header["operator_authenticated"] is True and header["operator"] == "tina"
    history = _invoke("records", "history", "--meter", "WM15-2026-0001", "--db", db)
    lines = [line for line in history.output.splitlines() if "│" in line and "when" not in line]
    assert [("r49-pressure-loss" in l, "register replaced" in l, "r49-water-pressure" in l) for l in lines] == \
        [(True, False, False), (False, True, False), (False, False, True)], history.output  # in order
    uses = _invoke("records", "history", "--standard", "prt-01", "--db", db)
    assert uses.exit_code == 0 and uses.output.count("T-2026-0412") == 2, uses.output
    unknown = _invoke("records", "sample-event", "WM99", "--event", "repair", "--text", "x", "--by", "tina", "--db", db,
                      "--password-stdin", input="tina-secret-1\n")
    assert unknown.exit_code == 2 and "no run tested a meter 'WM99'" in unknown.output
    assert _invoke("records", "history", "--meter", "WM99", "--db", db).exit_code == 1


def test_a_nonconformity_is_recorded_disposed_of_and_shown_in_the_dossier(evaluation_files, tmp_path):
    type_file, _ = evaluation_files
    db = str(tmp_path / "records.db")
    evaluation_id, run_id = _evaluation_with_a_run(type_file, db)
    assert _invoke("users", "add", "quinn", "--role", "qa", "--db", db, "--password-stdin",
                   input="quinn-secret-1\n").exit_code == 0

    def nc(*args):
        return _invoke("records", "nonconformity", *args, "--by", "quinn", "--db", db, "--password-stdin",
                       input="quinn-secret-1\n")

    found = nc("--finding", "inlet straight length 8 D instead of 10 D", "--run", run_id)
    assert found.exit_code == 0, found.output
    nc_id = re.search(r"(NC-[0-9a-f]{6})", found.output).group(1)
    assert nc("--finding", "x").exit_code == 2  # against nothing
    listed = _invoke("records", "nonconformity", "--db", db)
    assert nc_id in listed.output and "OPEN" in listed.output
    html = _invoke("evaluation", "report", evaluation_id, "--db", db).output
    assert "inlet straight length" in html and "<b>open</b>" in html
    closed = nc("--dispose", nc_id, "--disposition", "repeated with 10 D: results stand")
    assert closed.exit_code == 0, closed.output
    assert nc("--dispose", nc_id, "--disposition", "again").exit_code == 2
    html = _invoke("evaluation", "report", evaluation_id, "--db", db).output
    assert "repeated with 10 D: results stand (quinn)" in html and "<b>open</b>" not in html
