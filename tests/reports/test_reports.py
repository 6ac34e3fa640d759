"""Type-evaluation reports (HTML, PDF, CSV, JSON) regenerated from the record of a real run on the simulated lab."""

import base64
import csv
import io
import json
import re
import shutil
import zlib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meterlab.calibration.register import Register
from meterlab.cli import app
from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs
from meterlab.metrology.fluids import water_density
from meterlab.records.laboratory import load_laboratory
from meterlab.records.store import Store
from meterlab.reports import document
from meterlab.reports.figures import error_curve_png
from meterlab.reports.results import run_result
from meterlab.sim.clock import VIRTUAL

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "instruments" / "sim.yaml"
CLOCK_SCALE = EMC_CLOCK_SCALE = VIRTUAL
METERS = ["examples/meters/dn15-class2.yaml", "examples/meters/dn15-class2-sample2.yaml"]
SERIALS = ["WM15-2026-0001", "WM15-2026-0002"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMG = re.compile(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"')

runner = CliRunner()


def _run(tmp_path: Path, procedure: str, meters: list[str], scenario: str, clock_scale: float,
         calibration: Path = REPO / "calibration", **kwargs) -> tuple[Store, str]:
    inputs = load_inputs(REPO / procedure, [REPO / m for m in meters], BENCH, REPO / scenario)
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(calibration)
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=clock_scale, **kwargs)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    return store, run_id


@pytest.fixture(scope="module")
def intrinsic(tmp_path_factory):
    """Two DN15 samples in series through the R 49 intrinsic-error programme (one fails at Q1)."""
    store, run_id = _run(tmp_path_factory.mktemp("intrinsic"), "procedures/r49/intrinsic-error.yaml", METERS,
                         "examples/scenarios/demo-three-meters.yaml", CLOCK_SCALE,
                         laboratory=load_laboratory(REPO / "instruments" / "laboratory.yaml"))
    yield store, run_id
    store.close()


def _stored_points(store: Store, run_id: str) -> list[tuple[dict, dict]]:
    return [(e.payload, r) for e in store.entries(run_id, kinds=["measurement"]) for r in e.payload["meters"]]


def _pdf_objects(pdf: bytes) -> bytes:
    """The PDF's text with its Flate-compressed streams (object streams among them) inflated."""
    parts = [pdf]
    for match in re.finditer(rb"stream\r?\n", pdf):
        end = pdf.find(b"endstream", match.end())
        try:
            parts.append(zlib.decompressobj().decompress(pdf[match.end():end]))
        except zlib.error:
            continue  # not a Flate stream
    return b"\n".join(parts)


def _without_generated_line(text: str) -> list[str]:
    return [line for line in text.splitlines() if f'class="{document.GENERATED_CLASS}"' not in line]


def test_html_holds_the_figure_the_certificates_the_decision_rule_and_every_serial(intrinsic):
    store, run_id = intrinsic
    html = document.render_html(store, run_id)
    images = IMG.findall(html)
    assert images, "no embedded error-curve figure"
    for image in images:
        assert base64.b64decode(image).startswith(PNG_SIGNATURE)
    header = next(store.entries(run_id)).payload
    assert header["calibration"], "the run records no calibration snapshot"
    for standard in header["calibration"].values():
        assert standard["certificate"] in html and standard["due_date"] in html
    assert "Decision rule" in html and "simple acceptance" in html.lower()
    for serial in SERIALS:
        assert serial in html
    head_seq, head_hash = store.head()
    last = list(store.entries(run_id))[-1]
    assert head_hash in html and last.hash in html
    assert "intact" in html and store.verify() == []
    for value in header["profile"]["unverified"]:
        assert f"<li>{value}</li>" in html
    # the representative point's budget names each input's source
    budget_sources = {row["source"] for _, r in _stored_points(store, run_id) for row in r["budget"]}
    assert any(source in html for source in budget_sources)
    # every point of the record is in the table (the failing Q1 result of sample 2 among them)
    assert html.count("<tr>") > len(_stored_points(store, run_id))
    assert '<span class="fail">fail</span>' in html


def test_the_same_record_gives_the_same_report_apart_from_the_generation_time(intrinsic):
    store, run_id = intrinsic
    first = document.render_html(store, run_id, generated_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    second = document.render_html(store, run_id, generated_at=datetime(2027, 6, 30, 12, tzinfo=timezone.utc))
    assert first != second
    assert _without_generated_line(first) == _without_generated_line(second)
    assert len(first.splitlines()) - len(_without_generated_line(first)) == 1
    points = run_result(store, run_id)["tests"][0]["points"]
    assert error_curve_png(points) == error_curve_png(points)


def test_pdf_has_pages_and_the_figure(intrinsic, tmp_path):
    store, run_id = intrinsic
    out = tmp_path / "report.pdf"
    result = runner.invoke(app, ["report", run_id, "--db", store.url, "--format", "pdf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    objects = _pdf_objects(pdf)
    pages = re.findall(rb"/Type\s*/Page(?![a-zA-Z])", objects)
    assert len(pages) >= 2, "a report of 36 results and its sections cannot fit on one page"
    tree = re.search(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", objects)
    assert tree and int(tree.group(1)) == len(pages)
    images = re.findall(rb"/Subtype\s*/Image[^>]*", objects)
    assert images, "the error-curve image is not in the PDF"
    assert any(re.search(rb"/Width\s+(\d{3,})", i) for i in images), "no figure-sized image in the PDF"


def test_csv_has_one_row_per_meter_and_point(intrinsic, tmp_path):
    store, run_id = intrinsic
    out = tmp_path / "points.csv"
    result = runner.invoke(app, ["report", run_id, "--db", store.url, "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8"))))
    stored = _stored_points(store, run_id)
    assert len(rows) == len(stored) == 6 * 3 * len(SERIALS)
    for row, (m, r) in zip(rows, stored):
        assert row["meter_serial"] == r["meter_serial"] and row["point"] == m["point"]["name"]
        assert float(row["error_pct"]) == r["error_pct"] and float(row["U_pct"]) == r["U_pct"]
        assert float(row["flowrate_m3h"]) == m["flowrate_m3h"] and row["verdict"] == r["outcome"]


def test_html_through_the_cli(intrinsic, tmp_path):
    store, run_id = intrinsic
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", run_id, "--db", store.url, "--format", "html", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert IMG.search(out.read_text("utf-8"))
    bad = runner.invoke(app, ["report", run_id, "--db", store.url, "--format", "docx"])
    assert bad.exit_code == 2 and "html" in bad.output


def test_record_to_json_gives_the_stored_numbers(intrinsic):
    store, run_id = intrinsic
    cli = runner.invoke(app, ["report", run_id, "--db", store.url, "--format", "json"])
    assert cli.exit_code == 0, cli.output
    result = json.loads(cli.output)
    assert result == json.loads(json.dumps(run_result(store, run_id)))
    points = result["tests"][0]["points"]
    stored = _stored_points(store, run_id)
    assert len(points) == len(stored)
    for p, (m, r) in zip(points, stored):
        assert p["meter_serial"] == r["meter_serial"] and p["point"] == m["point"]["name"]
        assert p["repeat"] == m["repeat"]
        for key, value in (("flowrate_m3h", m["flowrate_m3h"]), ("reference_volume_l", m["reference_volume_l"]),
                           ("indicated_volume_l", r["indicated_volume_l"]), ("error_pct", r["error_pct"]),
                           ("u_pct", r["u_pct"]), ("k", r["k"]), ("U_pct", r["U_pct"]), ("mpe_pct", r["mpe_pct"]),
                           ("verdict", r["outcome"])):
            assert p[key] == value, key


def test_a_disturbance_test_reports_before_and_during_the_fault_the_override_and_the_sign_offs(tmp_path):
    calibration = tmp_path / "calibration"
    shutil.copytree(REPO / "calibration", calibration, ignore=shutil.ignore_patterns("examples"))
    prt = calibration / "prt-01.yaml"  # made a real lab's certificate (dates enforced), and expired
    prt.write_text(prt.read_text("utf-8").replace("\nsimulated: true", "\n")
                   .replace("calibration_date: 2026-03-12", "calibration_date: 2025-03-12")
                   .replace("due_date: 2027-03-12", "due_date: 2026-03-12"), "utf-8")
    reason = "PRT recalibrated, certificate in the post"
    store, run_id = _run(tmp_path, "procedures/r49/burst-mains.yaml",
                         ["examples/meters/dn15-class2-sample3.yaml", "examples/meters/dn15-class2.yaml"],
                         "examples/scenarios/burst-susceptible.yaml", EMC_CLOCK_SCALE, calibration=calibration,
                         override_calibration=reason)
    store.append(run_id, "approval", {"by": "M. Etrologist", "role": "metrologist", "comment": "budget reviewed"})
    draft = document.render_html(store, run_id)
    assert "<title>DRAFT — " in draft and "still needs qa" in draft  # reviewed, not released
    store.append(run_id, "approval", {"by": "Q. Ality", "role": "qa", "comment": ""})
    html = document.render_html(store, run_id)
    assert "DRAFT" not in html
    rows = document.disturbance_rows(document.collect(store, run_id))
    faults = [c for c in run_result(store, run_id)["tests"][0]["checks"] if c["check"] == "significant_fault"]
    assert rows and faults and len(rows) == len(faults)
    for row in rows:
        assert row["before"] and row["during"] and row["limit_pct"] is not None and row["fault_pct"] is not None
        assert f"{row['during'][0]:+.3f}" in html and f"{row['before'][0]:+.3f}" in html
    assert "Disturbance <b>burst</b>" in html
    for row, fault in zip(rows, faults):  # the fault's U as stored, in the table and the decision section
        assert row["U_pct"] == fault["details"]["U_pct"] > 0 and f"<td class=\"num\">{row['U_pct']:.3g}</td>" in html
        risk = fault["details"]["specific_risk"]
        assert f"{risk['kind']} {risk['probability']:.2%}" in html
    assert "Specific risk (JCGM 106" in html and "guard band w" in html
    assert reason in html and "T-2026-0412" in html and "expired" in html
    # the burst generator that set the severity, with what its verification covers
    assert "Equipment setting the severity" in html and "emc-eft-01" in html and "EMC-V-2026-0052" in html
    assert "5 ns ± 30 %" in html and "IEC 61000-4-4:2012, 6.1.2, unverified" in html
    assert "Simulated laboratory." in html
    assert "M. Etrologist" in html and "Q. Ality" in html and "reviewed" in html and "approved" in html
    assert store.head()[1] in html
    image = base64.b64decode(IMG.search(html).group(1))
    assert image.startswith(PNG_SIGNATURE)
    # a check stored before guard bands and risks were recorded still reads, with its old label
    store.append(run_id, "evaluation", {"checks": [{"check": "significant_fault", "meter_serial": "WM15-2026-0001",
                                                    "point": None, "outcome": "inconclusive",
                                                    "details": {"fault_pct": 0.5, "limit_pct": 1.0}}]})
    assert "inconclusive" in document.render_html(store, run_id)
    store.close()


CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.S)


def _table_after(html: str, heading: str) -> list[list[str]]:
    """The body rows (cell texts) of the first table after `heading`."""
    start = html.index(heading)
    table = html[html.index("<tbody>", start):html.index("</tbody>", start)]
    return [CELL.findall(row) for row in table.split("</tr>") if "<td" in row]


def test_a_reviewer_recomputes_every_error_from_the_raw_readings(intrinsic):
    store, run_id = intrinsic
    html = document.render_html(store, run_id)
    meters = _table_after(html, "<h3>A.1 Meters</h3>")
    assert len(meters) == len(_stored_points(store, run_id))
    for entry, _, _, _, _, readings, v_i, v_ref, error in meters:
        pulses, value = re.fullmatch(r"(\d+) pulses × ([\d.]+) L", readings).groups()
        assert float(v_i) == pytest.approx(int(pulses) * float(value), rel=1e-9)
        assert float(error) == pytest.approx((float(v_i) - float(v_ref)) / float(v_ref) * 100, abs=5e-5)
    reference = {row[0]: row for row in _table_after(html, "<h3>A.2 Reference standard</h3>")}
    headers = re.findall(r"<th>(.*?)</th>", html[html.index("<h3>A.2 Reference standard</h3>"):])
    for entry, *_, v_ref, _ in meters:
        reading = dict(zip(headers, reference[entry]))
        mass_kg = float(reading["balance end kg"]) - float(reading["balance start kg"])
        rho_w = water_density(float(reading["tank water temperature c"]))
        by_hand_l = mass_kg * (1 - 1.2 / 8000) / (rho_w - 1.2) * 1000  # buoyancy of conventional mass in air
        assert float(v_ref) == pytest.approx(by_hand_l, rel=5e-4)  # the model adds small corrections


def test_the_report_names_the_laboratory_its_number_and_its_period_and_rounds_per_gum(intrinsic):
    store, run_id = intrinsic
    html = document.render_html(store, run_id)
    year = str(run_result(store, run_id)["created_at"])[:4]
    for text in ("Example Meter Type-Approval Laboratory", "not a real one", "EX-0000-00", "1 Example Street",
                 f"TA-{year}-{run_id}", "Test started / ended (UTC)"):
        assert text in html
    stored = {(r["meter_serial"], p["point"]["name"], p["repeat"]): r for p, r in _stored_points(store, run_id)}
    rows = _table_after(html, "<h2>5. Tests and results</h2>")
    assert len(rows) == len(stored)
    for serial, point, repeat, _, _, _, _, error, expanded, k, *_ in rows:
        full = stored[(serial, point, int(repeat))]
        digits = expanded.replace(".", "").lstrip("0")
        assert len(digits) == 2, expanded  # U to two significant digits
        assert len(error.partition(".")[2]) == len(expanded.partition(".")[2])  # E to the same place
        assert float(expanded) >= full["U_pct"] and float(expanded) - full["U_pct"] < 10 ** -len(expanded.partition(".")[2])
        assert abs(float(error) - full["error_pct"]) <= 0.5 * 10 ** -len(error.partition(".")[2])
        # k from ν_eff (the rig's reproducibility has finite degrees of freedom), to three significant digits
        assert float(k) == float(f"{full['k']:.3g}") and 2.0 <= float(k) < 2.5, k
    assert json.loads(json.dumps(run_result(store, run_id)))["tests"][0]["points"][0]["error_pct"] == \
        next(iter(stored.values()))["error_pct"]  # JSON keeps the full value


def test_a_run_without_a_laboratory_file_says_so(tmp_path):
    store, run_id = _run(tmp_path, "procedures/r49/esd.yaml", METERS[:1], "examples/scenarios/good-meter.yaml",
                         EMC_CLOCK_SCALE)
    assert "not recorded</b> (the run was created without a laboratory file)" in document.render_html(store, run_id)
