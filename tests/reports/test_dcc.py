"""A run's results as a PTB Digital Calibration Certificate (XML): valid against the shipped DCC 3.1.2 / D-SI
2.1.0 schemas, every point's error of indication with its expanded uncertainty as recorded, and each point's
verdict as a DCC conformity statement — a meter truly outside its MPE is a `fail` there."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meterlab.calibration.dcc import NS, DccError, validate
from meterlab.calibration.register import Register
from meterlab.cli import app
from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs
from meterlab.records.laboratory import load_laboratory
from meterlab.records.store import Store
from meterlab.reports.dcc import run_dcc
from meterlab.reports.results import run_result
from meterlab.sim.clock import VIRTUAL

REPO = Path(__file__).resolve().parents[2]
METERS = ["examples/meters/dn15-class2.yaml", "examples/meters/dn15-class2-sample2.yaml"]
TRUE_Q1_ERROR_PCT = {"WM15-2026-0001": 1.8, "WM15-2026-0002": 7.5}  # examples/scenarios/demo-three-meters.yaml


@pytest.fixture(scope="module")
def intrinsic(tmp_path_factory):
    """The R 49 intrinsic error of two DN15 samples in series; the second is truly +7.5 % at Q1 (MPE ±5 %)."""
    inputs = load_inputs(REPO / "procedures/r49/intrinsic-error.yaml", [REPO / m for m in METERS],
                         REPO / "instruments/sim.yaml", REPO / "examples/scenarios/demo-three-meters.yaml")
    store = Store(str(tmp_path_factory.mktemp("dcc") / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=VIRTUAL,
                        laboratory=load_laboratory(REPO / "instruments/laboratory.yaml"))
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    yield store, run_id
    store.close()


def _meter_result(root: ET.Element, serial: str) -> ET.Element:
    return next(m for m in root.iterfind(".//dcc:measurementResult", NS)
                if serial in m.findtext("dcc:name/dcc:content", namespaces=NS))


def test_the_dcc_validates_and_states_every_point_as_recorded(intrinsic):
    store, run_id = intrinsic
    text = run_dcc(store, run_id)
    validate(text)
    root = ET.fromstring(text)
    assert root.get("schemaVersion") == "3.1.2"
    assert root.findtext(".//dcc:coreData/dcc:uniqueIdentifier", namespaces=NS).endswith(run_id)
    points = run_result(store, run_id)["tests"][0]["points"]
    for serial in TRUE_Q1_ERROR_PCT:
        exported = _meter_result(root, serial).findall(".//dcc:results/dcc:result[1]/dcc:data/dcc:list", NS)
        stored = [p for p in points if p["meter_serial"] == serial]
        assert len(exported) == len(stored) == 18
        for point, p in zip(exported, stored):
            error = point.find("dcc:quantity[@refType='basic_measurementError']", NS)
            real = error.find("si:real", NS)
            assert float(real.findtext("si:value", namespaces=NS)) == p["error_pct"]
            assert real.findtext("si:unit", namespaces=NS) == r"\percent"
            assert float(real.findtext("si:expandedUnc/si:uncertainty", namespaces=NS)) == p["U_pct"]
            assert float(real.findtext("si:expandedUnc/si:coverageFactor", namespaces=NS)) == p["k"]
            meta = error.find("dcc:measurementMetaData/dcc:metaData", NS)
            if p["verdict"] in ("pass", "fail"):  # spelled alike in the record and the DCC (simple acceptance)
                assert meta.findtext("dcc:conformity", namespaces=NS) == p["verdict"]
            else:  # inconclusive (uncertainty too large): no conformity is stated, and the declaration says why
                assert meta.find("dcc:conformity", NS) is None
                assert p["verdict"] in meta.findtext("dcc:declaration/dcc:content", namespaces=NS)


def test_a_meter_truly_outside_its_mpe_is_a_fail_in_the_dcc_and_a_good_one_passes(intrinsic):
    store, run_id = intrinsic
    root = ET.fromstring(run_dcc(store, run_id))
    for serial, truth in TRUE_Q1_ERROR_PCT.items():
        meter = _meter_result(root, serial)
        q1 = [point for point in meter.iterfind(".//dcc:data/dcc:list", NS)
              if point.findtext("dcc:name/dcc:content", namespaces=NS).startswith("Q1 ")]
        assert len(q1) == 3
        for point in q1:
            real = point.find("dcc:quantity[@refType='basic_measurementError']/si:real", NS)
            error, U = (float(real.findtext(path, namespaces=NS))
                        for path in ("si:value", "si:expandedUnc/si:uncertainty"))
            assert abs(error - truth) <= 1.5 * U  # near the truth, as the truth-coverage tests demand of E and U
        verdict = meter.findtext("dcc:measurementMetaData/dcc:metaData/dcc:conformity", namespaces=NS)
        assert verdict == ("fail" if truth > 5 else "pass")
    test_statement = root.find(".//dcc:statements/dcc:statement", NS)
    assert test_statement.findtext("dcc:conformity", namespaces=NS) == "fail"
    assert "DRAFT" in ET.tostring(root, encoding="unicode")  # nobody has signed it off


def test_a_document_that_breaks_the_schema_is_refused_naming_the_place(intrinsic):
    store, run_id = intrinsic
    text = run_dcc(store, run_id)
    start = text.index("<dcc:uniqueIdentifier>")
    broken = text[:start] + text[text.index("</dcc:uniqueIdentifier>") + len("</dcc:uniqueIdentifier>"):]
    with pytest.raises(DccError, match=r"coreData.*uniqueIdentifier|uniqueIdentifier"):
        validate(broken)
    with pytest.raises(DccError, match="not a valid DCC 3.1.2 document"):
        validate(text.replace("<si:unit>\\percent</si:unit>", "<si:unitt>\\percent</si:unitt>", 1))


def test_meterlab_report_writes_the_dcc(intrinsic, tmp_path):
    store, run_id = intrinsic
    out = tmp_path / "run.dcc.xml"
    result = CliRunner().invoke(app, ["report", run_id, "--db", store.url, "--format", "dcc", "--out", str(out)])
    assert result.exit_code == 0, result.output
    validate(out.read_text(encoding="utf-8"))
    assert out.read_text(encoding="utf-8") == run_dcc(store, run_id)  # regenerated identically from the record
