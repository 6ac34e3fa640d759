"""A reference standard's PTB DCC imported into the calibration register (issue 13): the DCC is validated against
the shipped schema, its points, units and expanded uncertainties become the register's certificate beside the
YAML ones, and what the register needs but the DCC does not state, or a DCC that breaks the schema, is refused
before any file is written."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meterlab.calibration.register import Register
from meterlab.cli import app

REPO = Path(__file__).resolve().parents[2]
DCC = Path(__file__).parent / "data" / "prt-07-dcc.xml"  # reference temperatures 5, 20, 50, 90 °C
runner = CliRunner()
ARGS = ["--id", "prt-07", "--instrument", "thermometer_reference", "--quantity", "temperature", "--due", "2027-08-12",
        "--variable", "temperature"]


@pytest.fixture
def register_dir(tmp_path):
    folder = tmp_path / "calibration"
    shutil.copytree(REPO / "calibration", folder)
    return folder


def _import(dcc: Path, folder: Path, *extra: str):
    return runner.invoke(app, ["calibration", "import-dcc", str(dcc), *ARGS, "--calibration-dir", str(folder), *extra])


def test_a_dcc_becomes_a_certificate_of_the_register(register_dir):
    result = _import(DCC, register_dir)
    assert result.exit_code == 0, result.output
    assert "certificate T-2026-0815 of Example Temperature Laboratory, 4 points 5 to 90 °C" in result.output
    certificate = Register.load(register_dir).get("prt-07")
    assert certificate.certificate.number == "T-2026-0815" and certificate.serial == "B77001"
    assert str(certificate.calibration_date) == "2026-08-12" and str(certificate.due_date) == "2027-08-12"
    assert certificate.manufacturer == "Fluke Calibration" and certificate.unit == "°C"
    correction = certificate.correction_of()
    assert correction.meaning == "error"
    assert certificate.calibration_points() == ((5.0, 0.012, 0.02), (20.0, 0.008, 0.02), (50.0, -0.004, 0.025),
                                                 (90.0, -0.015, 0.03))  # (x, error, U) as the DCC states them
    assert [row.k for row in correction.table] == [2.0] * 4
    assert correction.evaluate(35.0)[0] == pytest.approx(0.002)  # interpolated between 20 and 50 °C
    assert "SHA-256" in certificate.notes and "prt-07-dcc.xml" in certificate.notes


def test_a_second_import_of_the_same_id_is_refused_and_keeps_the_first(register_dir):
    assert _import(DCC, register_dir).exit_code == 0
    before = (register_dir / "prt-07.yaml").read_text(encoding="utf-8")
    again = _import(DCC, register_dir)
    assert again.exit_code == 2 and "prt-07.yaml exists" in again.output
    assert (register_dir / "prt-07.yaml").read_text(encoding="utf-8") == before


def test_a_dcc_that_breaks_the_schema_is_refused_naming_the_place(register_dir, tmp_path):
    broken = tmp_path / "broken.xml"
    text = DCC.read_text(encoding="utf-8")
    broken.write_text(text.replace("<dcc:endPerformanceDate>2026-08-12</dcc:endPerformanceDate>", ""), encoding="utf-8")
    result = _import(broken, register_dir)
    assert result.exit_code == 2
    assert "not a valid DCC 3.1.2 document" in result.output and "coreData" in result.output
    assert not (register_dir / "prt-07.yaml").exists()


def test_a_dcc_without_the_named_quantities_or_their_uncertainty_is_refused(register_dir, tmp_path):
    result = _import(DCC, register_dir, "--y-ref", "basic_correction")
    assert result.exit_code == 2 and "no result states quantities with refType basic_referenceValue and " \
                                     "basic_correction" in result.output and "--y-ref" in result.output
    no_u = tmp_path / "no-u.xml"
    text = DCC.read_text(encoding="utf-8")
    start, end = text.index("<si:expandedUncXMLList>"), text.index("</si:expandedUncXMLList>")
    no_u.write_text(text[:start] + text[end + len("</si:expandedUncXMLList>"):], encoding="utf-8")
    result = _import(no_u, register_dir)
    assert result.exit_code == 2 and "state no expanded uncertainty" in result.output
    assert not (register_dir / "prt-07.yaml").exists()


def test_a_second_certificate_for_an_instrument_of_the_register_is_refused(register_dir):
    args = [a if a != "thermometer_reference" else "thermometer" for a in ARGS]  # prt-01 backs `thermometer`
    result = runner.invoke(app, ["calibration", "import-dcc", str(DCC), *args, "--calibration-dir", str(register_dir)])
    assert result.exit_code == 2 and "thermometer" in result.output
    assert not (register_dir / "prt-07.yaml").exists()
