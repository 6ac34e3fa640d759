"""A run's bus readings in the meter-reading format (issue 16, part 4): a Modbus and an M-Bus meter in series on
the simulated lab, each register read kept as a reading, exported as JSON lines and CSV; every exported reading
validates against the shipped schema and agrees with what the run used."""

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meterlab.cli import app
from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import execute
from meterlab.instruments.readings.schema import ReadingFormatError, validate_reading
from meterlab.reports.readings import CSV_FIELDS, run_readings

from .test_end_to_end import start

HERE = Path(__file__).parent
TWO_POINTS = str((HERE / "data" / "standing-two-points.yaml").relative_to(HERE.parents[1]))
DATA = str((HERE / "data").relative_to(HERE.parents[1]))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("export")
    meters = [f"{DATA}/dn15-modbus.yaml", f"{DATA}/dn15-sample2-mbus.yaml"]
    store, register, run_id = start(tmp_path, TWO_POINTS, meters, "examples/scenarios/demo-three-meters.yaml")
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    return store, run_id, f"sqlite:///{tmp_path / 'records.db'}"


def test_exported_jsonl_readings_validate_and_match_the_run(finished, tmp_path):
    store, run_id, db = finished
    out = tmp_path / "readings.jsonl"
    result = CliRunner().invoke(app, ["readings", "export", run_id, "--format", "jsonl", "--out", str(out), "--db", db])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    measurements = [e.payload for e in store.entries(run_id, kinds=["measurement"])]
    assert len(lines) == 2 * 2 * len(measurements) > 0  # two bus meters, a start and an end reading each
    assert f"{len(lines)} reading(s) of run {run_id}" in result.output
    readings = [validate_reading(json.loads(line)) for line in lines]
    assert {r["source"]["interface"] for r in readings} == {"modbus", "mbus"}
    raws = {(row["meter_serial"], phase): row["raw"][f"{phase}_l"]
            for m in measurements[:1] for row in m["meters"] for phase in ("start", "end")}
    first = readings[:4]  # the first measurement: modbus start, end, mbus start, end
    assert [r["value"] for r in first] == [raws[("WM15-2026-0001", "start")], raws[("WM15-2026-0001", "end")],
                                           raws[("WM15-2026-0002", "start")], raws[("WM15-2026-0002", "end")]]
    assert all(r["integrity"] == {"result": "ok"} and r["meter"]["kind"] == "water" for r in readings)


def test_exported_csv_has_one_row_per_reading_with_its_context(finished, tmp_path):
    store, run_id, db = finished
    out = tmp_path / "readings.csv"
    result = CliRunner().invoke(app, ["readings", "export", run_id, "--format", "csv", "--out", str(out), "--db", db])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == len(list(run_readings(store, run_id)))
    assert tuple(rows[0]) == CSV_FIELDS
    assert rows[0]["meter_serial"] == "WM15-2026-0001" and rows[0]["phase"] == "start"
    assert rows[0]["source.interface"] == "modbus" and rows[2]["source.interface"] == "mbus"
    assert rows[2]["consecutive_number"].isdigit()


def test_a_stored_reading_that_does_not_fit_stops_the_export_naming_it(finished, monkeypatch):
    store, run_id, _ = finished
    real = store.entries

    def damaged(*args, **kwargs):  # as an older or hand-made record might hold it
        for entry in real(*args, **kwargs):
            if entry.kind == "measurement":
                del entry.payload["meters"][1]["raw"]["end_reading"]["unit"]
            yield entry

    monkeypatch.setattr(store, "entries", damaged)
    with pytest.raises(ReadingFormatError, match=r"(?s)the end reading of WM15-2026-0002 at .* #1 refused.*"
                                                  r"'unit' is a required property"):
        list(run_readings(store, run_id))


def test_an_unknown_run_is_a_clear_error(finished):
    _, _, db = finished
    result = CliRunner().invoke(app, ["readings", "export", "nope", "--db", db])
    assert result.exit_code == 2 and "no run with id nope" in result.output
