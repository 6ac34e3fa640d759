"""`meterlab fuzz` (issue 16, part 2): bad input is refused with the file, the field and the fix before any record
exists; a campaign on the simulated lab is a recorded run with its HTML and JSON report; `--replay` replays a
finding from the record."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from meterlab.cli import app
from meterlab.records.store import Store

ROOT = Path(__file__).resolve().parents[2]
METER = ROOT / "examples" / "meters" / "dn15-class2-modbus.yaml"
SCENARIOS = ROOT / "examples" / "scenarios"
runner = CliRunner()


def fuzz(*args: str):
    return runner.invoke(app, ["fuzz", *args])


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_an_unknown_meter_file_is_refused_before_any_record(tmp_path):
    db = tmp_path / "f.db"
    result = fuzz("--meter", str(tmp_path / "nope.yaml"), "--db", str(db))
    assert result.exit_code == 2
    assert "nope.yaml: no such meter declaration file" in flat(result.output)
    assert "examples/meters/dn15-class2-modbus.yaml" in flat(result.output)  # what to give instead
    assert not db.exists()


def test_a_declaration_without_an_interface_names_the_field_and_the_fix(tmp_path):
    db = tmp_path / "f.db"
    result = fuzz("--meter", str(ROOT / "examples" / "meters" / "dn15-class2.yaml"), "--db", str(db))
    assert result.exit_code == 2
    text = flat(result.output)
    assert "dn15-class2.yaml: field 'interface' is missing" in text
    assert "Add `interface:" in text and "docs/fuzzing.md" in text
    assert not db.exists()
    assert "Traceback" not in result.output


def test_a_wrong_interface_declaration_names_its_line_and_field(tmp_path):
    meter = tmp_path / "meter.yaml"
    meter.write_text(METER.read_text().replace("{name: serial, table: input, address: 2, count: 2, role: identification}",
                                               "{name: serial, table: input, address: 2, count: 2, access: read_write, "
                                               "values: [0, 9]}"))
    db = tmp_path / "f.db"
    result = fuzz("--meter", str(meter), "--db", str(db))
    assert result.exit_code == 2
    text = flat(result.output)
    assert "meter.yaml" in text and "interface.modbus.registers" in text and "cannot be written" in text
    assert not db.exists()


def test_a_campaign_is_recorded_reported_and_its_finding_replayed(tmp_path, pdf_text):
    db, out = tmp_path / "f.db", tmp_path / "reports"
    result = fuzz("--meter", str(METER), "--scenario", str(SCENARIOS / "modbus-undocumented-function.yaml"),
                  "--seed", "3", "--db", str(db), "--out", str(out))
    assert result.exit_code == 1, result.output  # a fail
    run_id = re.search(r"campaign (\w+) created", result.output).group(1)
    report = json.loads((out / f"fuzz-{run_id}.json").read_text())
    assert report["summary"]["verdict"] == "fail" and report["seed"] == 3
    (finding,) = [f for f in report["summary"]["findings"] if f["group"] == "sweep"]
    html = (out / f"fuzz-{run_id}.html").read_text()
    assert "data:image/png;base64," in html and finding["title"] in html
    pdf = (out / f"fuzz-{run_id}.pdf").read_bytes()  # written beside the JSON and HTML
    assert pdf.startswith(b"%PDF-")
    counts = report["summary"]["per_class"]
    shown = flat(pdf_text(pdf))
    assert f"Interface fuzz campaign {run_id}: FAIL" in shown
    assert (f"Cases run: {report['summary']['cases_run']} (pass {counts['pass']}, warning {counts['warning']}, "
            f"fail {counts['fail']})") in shown
    assert f"fuzz-{run_id}.pdf" in re.sub(r"\s+", "", result.output)  # the terminal may wrap the path
    assert [r.procedure_id for r in Store(f"sqlite:///{db}").runs()] == ["interface-fuzz"]
    listed = runner.invoke(app, ["records", "list", "--db", str(db)])  # a campaign is listed like any run
    assert listed.exit_code == 0 and "interface-fuzz" in listed.output and "fail" in listed.output
    replayed = fuzz("--replay", run_id, str(finding["case"]), "--db", str(db))
    assert replayed.exit_code == 1
    assert "undocumented state change: meter_factor" in replayed.output


class Interrupted(Exception):
    pass


def test_an_interrupted_campaign_resumes_where_it_stopped_and_reports(tmp_path, monkeypatch, pdf_text):
    monkeypatch.chdir(tmp_path)  # the resumed campaign writes its report to out/
    from meterlab.engine.fuzz import PROCEDURE_ID, create_campaign, execute_campaign, load_fuzz_inputs

    from meterlab.cli.fuzz import FUZZ_PROCEDURE_ID

    assert FUZZ_PROCEDURE_ID == PROCEDURE_ID
    db = tmp_path / "f.db"
    store = Store(f"sqlite:///{db}")
    setup = load_fuzz_inputs(METER, ROOT / "instruments" / "sim.yaml", SCENARIOS / "modbus-robust.yaml")
    run_id = create_campaign(store, setup, operator="tester", seed=0, cases=40, budget_s=None)
    seen = []

    def stop_after_ten(result):
        seen.append(result["case"])
        if len(seen) == 10:
            raise Interrupted  # the PC dies after the tenth case is recorded

    try:
        execute_campaign(store, run_id, on_case=stop_after_ten)
    except Interrupted:
        pass
    assert len(list(store.entries(run_id, kinds=["fuzz_case"]))) == 10
    result = runner.invoke(app, ["resume", run_id, "--db", str(db), "--calibration-dir", str(ROOT / "calibration")])
    assert result.exit_code == 0, result.output
    numbers = [e.payload["case"] for e in store.entries(run_id, kinds=["fuzz_case"])]
    assert numbers == list(range(40))  # each case once, in order
    report = json.loads(runner.invoke(app, ["report", run_id, "--db", str(db)]).output)
    assert report["completed"] and report["summary"]["cases_run"] == 40
    html = runner.invoke(app, ["report", run_id, "--db", str(db), "--format", "html"]).output
    assert "Interface fuzz campaign" in html and "PASS" in html
    pdf_path = tmp_path / "x.pdf"
    made = runner.invoke(app, ["report", run_id, "--db", str(db), "--format", "pdf", "--out", str(pdf_path)])
    assert made.exit_code == 0, made.output
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert "Cases run: 40 (pass 40, warning 0, fail 0)" in flat(pdf_text(pdf))
    assert runner.invoke(app, ["report", run_id, "--db", str(db), "--format", "pdf"]).exit_code == 2  # needs --out
    assert runner.invoke(app, ["report", run_id, "--db", str(db), "--format", "csv"]).exit_code == 2  # no points


def test_a_declared_framing_the_simulated_meter_does_not_speak_is_refused(tmp_path):
    db = tmp_path / "f.db"
    result = fuzz("--meter", str(ROOT / "examples" / "meters" / "dn15-class2-modbus-rtu.yaml"),
                  "--scenario", str(SCENARIOS / "modbus-robust.yaml"), "--db", str(db))
    assert result.exit_code == 2
    text = flat(result.output)
    assert "field 'interface.modbus.transport' is rtu, but the simulated modbus_meter speaks tcp" in text
    assert not db.exists()


def test_cases_and_budget_are_exclusive_and_a_budget_stops_the_campaign(tmp_path):
    db = tmp_path / "f.db"
    both = fuzz("--meter", str(METER), "--cases", "5", "--budget-s", "1", "--db", str(db))
    assert both.exit_code == 2 and "either --cases or --budget-s" in flat(both.output) and not db.exists()
    result = fuzz("--meter", str(METER), "--scenario", str(SCENARIOS / "modbus-robust.yaml"), "--budget-s", "0.3",
                  "--db", str(db), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    run_id = re.search(r"campaign (\w+) created", result.output).group(1)
    store = Store(f"sqlite:///{db}")
    (stopped,) = [e.payload for e in store.entries(run_id, kinds=["fuzz_budget"])]
    cases = [e.payload["case"] for e in store.entries(run_id, kinds=["fuzz_case"])]
    assert cases == list(range(len(cases))) and 0 < len(cases) == stopped["stopped_before_case"] < 390


def test_a_bench_whose_standards_are_not_in_the_register_is_refused_before_any_record(tmp_path):
    db, empty = tmp_path / "f.db", tmp_path / "certificates"
    empty.mkdir()
    result = fuzz("--meter", str(METER), "--calibration-dir", str(empty), "--db", str(db))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "sim.yaml" in flat(result.output)  # the bench file that names certificates the register lacks
    assert not db.exists()
