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


def test_a_campaign_is_recorded_reported_and_its_finding_replayed(tmp_path):
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
    assert [r.procedure_id for r in Store(f"sqlite:///{db}").runs()] == ["interface-fuzz"]
    replayed = fuzz("--replay", run_id, str(finding["case"]), "--db", str(db))
    assert replayed.exit_code == 1
    assert "undocumented state change: meter_factor" in replayed.output
