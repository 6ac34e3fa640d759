"""A fuzz campaign in the console (issue 16, part 2): listed, its page and its report (HTML, JSON, PDF) served
from the record, and a resume from the console refused with what to do instead (a campaign resumes at the bench)."""

import re

import pytest
from fastapi.testclient import TestClient

from meterlab.engine.fuzz import create_campaign, execute_campaign, load_fuzz_inputs
from meterlab.web.app import create_app

from .conftest import REPO
from .test_api import _csrf, _login


@pytest.fixture(scope="module")
def campaign(lab):
    store, _ = lab
    setup = load_fuzz_inputs(REPO / "examples/meters/dn15-class2-modbus.yaml", REPO / "instruments/sim.yaml",
                             REPO / "examples/scenarios/modbus-undocumented-function.yaml")
    run_id = create_campaign(store, setup, operator="tina", seed=0, cases=None, budget_s=None)
    execute_campaign(store, run_id)
    return run_id


def test_a_campaign_is_listed_shown_and_reported(lab, campaign, pdf_text):
    store, _ = lab
    client = TestClient(create_app(store, calibration_dir=REPO / "calibration"))
    _login(client, "mira")
    listed = client.get("/api/runs").json()
    assert any(r["id"] == campaign and r["verdict"] == "fail" for r in listed)
    page = client.get(f"/runs/{campaign}")
    assert page.status_code == 200
    html = client.get(f"/runs/{campaign}/report.html")
    assert html.status_code == 200 and "undocumented function 22 at meter_factor" in html.text
    report = client.get(f"/runs/{campaign}/report.json").json()
    assert report["summary"]["verdict"] == "fail"
    assert f'href="/runs/{campaign}/report.pdf"' in page.text
    assert f'href="/runs/{campaign}/report.csv"' not in page.text  # a campaign has no points to list
    assert client.get(f"/runs/{campaign}/report.csv").status_code == 404
    pdf = client.get(f"/runs/{campaign}/report.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    counts, shown = report["summary"]["per_class"], re.sub(r"\s+", " ", pdf_text(pdf.content))
    assert f"{campaign}: FAIL" in shown
    assert (f"Cases run: {report['summary']['cases_run']} (pass {counts['pass']}, warning {counts['warning']}, "
            f"fail {counts['fail']})") in shown
    refused = client.post(f"/runs/{campaign}/resume", data={"csrf": _csrf(page.text)})
    assert refused.status_code == 409 and f"meterlab resume {campaign}" in refused.text
