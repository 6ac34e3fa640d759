"""The console's HTTP side with FastAPI's test client: nothing without a login, the JSON API, sign-off by the
logged-in user under the laboratory's policy, CSRF refused, reports downloaded."""

import re

import pytest
from fastapi.testclient import TestClient

from meterlab.calibration.dcc import validate

from meterlab.reports.results import run_result
from meterlab.web.app import create_app

from .conftest import PASSWORDS, REPO


@pytest.fixture
def client(lab):
    store, _ = lab
    return TestClient(create_app(store, calibration_dir=REPO / "calibration"))


def _login(client, name, password=None):
    response = client.post("/login", data={"name": name, "password": password or PASSWORDS[name]},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


def _csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_nothing_is_served_without_a_login(client, lab):
    _, run_id = lab
    assert client.get("/api/runs").status_code == 401
    page = client.get(f"/runs/{run_id}", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    wrong = client.post("/login", data={"name": "tina", "password": "guess-guess-1"})
    assert wrong.status_code == 401 and "unknown user or wrong password" in wrong.text


def test_the_api_lists_finds_and_returns_runs_as_recorded(client, lab):
    store, run_id = lab
    _login(client, "quinn")
    runs = client.get("/api/runs", params={"meter": "WM15-2026-0002"}).json()
    assert [r["id"] for r in runs] == [run_id] and runs[0]["verdict"] == run_result(store, run_id)["verdict"]
    assert client.get("/api/runs", params={"meter": "WM99"}).json() == []
    assert [r["id"] for r in client.get("/api/runs", params={"since": "2000-01-01", "pending": "1"}).json()] == [run_id]
    assert client.get("/api/runs", params={"since": "2999-01-01"}).json() == []
    assert client.get("/api/runs", params={"evaluation": "TE-00000000"}).status_code == 404
    assert client.get(f"/api/runs/{run_id}").json()["tests"][0]["points"] == run_result(store, run_id)["tests"][0]["points"]
    assert client.get("/api/runs/nosuchrun").status_code == 404
    assert client.get("/api/verify").json()["intact"] is True
    assert any(c["id"] == "prt-01" for c in client.get("/api/calibration").json())
    assert "/api/runs/{run_id}" in client.get("/openapi.json").json()["paths"]


def test_sign_off_follows_the_policy_and_needs_the_forms_token(client, lab):
    store, run_id = lab
    _login(client, "quinn")
    page = client.get(f"/runs/{run_id}").text
    assert "still needs metrologist and qa" in page
    forged = client.post(f"/runs/{run_id}/sign", data={"role": "qa", "csrf": "forged"})
    assert forged.status_code == 403
    early = client.post(f"/runs/{run_id}/sign", data={"role": "qa", "csrf": _csrf(page)})
    assert early.status_code == 409 and "comes after the metrologist sign-off" in early.text
    metrologist = TestClient(client.app)
    _login(metrologist, "mira")
    signed = metrologist.post(f"/runs/{run_id}/sign", data={"role": "metrologist", "comment": "budgets checked",
                                                            "csrf": _csrf(metrologist.get(f"/runs/{run_id}").text)})
    assert signed.status_code == 200 and "Signed off as metrologist" in signed.text
    approval = [e.payload for e in store.entries(run_id, kinds=["approval"])]
    assert approval[-1]["by"] == "mira" and approval[-1]["comment"] == "budgets checked"
    released = client.post(f"/runs/{run_id}/sign", data={"role": "qa", "csrf": _csrf(page)})
    assert released.status_code == 200 and "released" in released.text
    html = client.get(f"/runs/{run_id}/report.html").text
    assert "DRAFT" not in html and "mira" in html
    pdf = client.get(f"/runs/{run_id}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get(f"/runs/{run_id}/report.csv").text.count("\n") > 10
    dcc = client.get(f"/runs/{run_id}/report.dcc.xml")  # the DCC: valid, signed off, no longer a draft
    assert dcc.status_code == 200 and dcc.headers["content-type"].startswith("application/xml")
    validate(dcc.text)
    assert "signed off as metrologist" in dcc.text and "DRAFT" not in dcc.text


def test_a_points_page_shows_its_budget_with_the_certificates_and_its_instrument_io(client, lab):
    store, run_id = lab
    _login(client, "quinn")
    page = client.get(f"/runs/{run_id}").text
    link = re.search(rf'href="(/runs/{run_id}/points/\d+\?meter=WM15-2026-0001)">Q3 #1<', page).group(1)
    point = client.get(link).text
    assert "Uncertainty budget" in point and "cert" in point and "bal-" in point  # inputs name their certificates
    assert "Instrument I/O" in point and "scale" in point and "write" in point
    assert client.get(f"/runs/{run_id}/points/1").status_code == 404  # entry 1 is not a measurement


def test_two_runs_compared_in_one_figure(client, lab):
    store, run_id = lab
    _login(client, "quinn")
    page = client.get("/compare", params={"first": run_id, "second": run_id}).text
    assert f"/compare.png?first={run_id}" in page
    png = client.get("/compare.png", params={"first": run_id, "second": run_id, "meter": "WM15-2026-0001"})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert client.get("/compare.png", params={"first": run_id, "second": run_id, "meter": "WM99"}).status_code == 404
    assert client.get("/compare.png", params={"first": run_id, "second": "nosuchrun"}).status_code == 404
