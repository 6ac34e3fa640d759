"""Runs started from the console (issue 15): the prompt answered through the page's API by the logged-in user,
pause and resume, the run completed; a second run on the busy bench refused with the holder's name; an abort
that leaves the rig in its safe state, recorded."""

import re

import pytest
from fastapi.testclient import TestClient

from meterlab.calibration.dcc import validate
from meterlab.records.people import add_user
from meterlab.records.store import Store
from meterlab.reports.results import run_result
from meterlab.web.app import create_app

from .conftest import REPO, wait_live

METERS = ["examples/meters/dn15-class2.yaml", "examples/meters/dn15-class2-sample2.yaml"]


@pytest.fixture
def console(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the console offers the lab's files from its working directory
    store = Store(str(tmp_path / "records.db"))
    add_user(store, "tina", ["technician"], "tina-secret-1")
    client = TestClient(create_app(store, calibration_dir=REPO / "calibration"))
    assert client.post("/login", data={"name": "tina", "password": "tina-secret-1"}).status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/start").text).group(1)
    yield client, store, csrf
    for live in client.app.state.benches.runs.values():
        live.control.abort()
        live.thread.join(timeout=60)
    store.close()


def _start(client, csrf, procedure="procedures/r49/intrinsic-error.yaml"):
    return client.post("/start", data={"procedure": procedure, "meter": METERS, "bench": "instruments/sim.yaml",
                                       "csrf": csrf}, follow_redirects=False)


def test_a_run_started_from_the_console_asks_is_paused_resumed_and_completes(console):
    client, store, csrf = console
    started = _start(client, csrf)
    assert started.status_code == 303
    run_id = re.search(r"/runs/(\w+)/live", started.headers["location"]).group(1)
    live = wait_live(client, run_id, lambda s: s["question"] is not None)
    assert "Mount the meters" in live["question"]["text"]
    busy = _start(client, csrf)  # the bench is held by this run
    assert busy.status_code == 409 and "bench sim-water-rig is busy" in busy.text and "tina" in busy.text
    assert client.post(f"/runs/{run_id}/answer", data={"csrf": csrf, "confirmed": "maybe"}).status_code == 422
    assert client.post(f"/runs/{run_id}/answer", data={"csrf": csrf, "confirmed": "yes"},
                       follow_redirects=False).status_code == 303
    wait_live(client, run_id, lambda s: s["state"] == "running")
    client.post(f"/runs/{run_id}/control", data={"csrf": csrf, "action": "pause"})
    wait_live(client, run_id, lambda s: s["state"] == "paused")
    client.post(f"/runs/{run_id}/control", data={"csrf": csrf, "action": "resume"})
    wait_live(client, run_id, lambda s: s["state"] == "completed", timeout_s=300)
    assert client.get(f"/runs/{run_id}/curve.png").content.startswith(b"\x89PNG")
    answered = [e.payload for e in store.entries(run_id) if '"answered_by"' in str(e.payload).replace("'", '"')]
    assert answered and "'answered_by': 'tina'" in str(answered[0]), answered  # the prompt, answered by her
    states = [e.payload["state"] for e in store.entries(run_id, kinds=["state"])]
    assert "paused" in states and states[-1] == "completed"
    assert run_result(store, run_id)["operator"] == "tina"
    events = client.get(f"/runs/{run_id}/events")  # the stream replays the run and ends with it
    assert "measurement" in events.text or "action_done" in events.text
    assert '"kind": "ended"' in events.text


def test_an_abort_from_the_console_leaves_the_rig_in_its_safe_state(console):
    client, store, csrf = console
    run_id = re.search(r"/runs/(\w+)/live", _start(client, csrf).headers["location"]).group(1)
    wait_live(client, run_id, lambda s: s["question"] is not None)
    client.post(f"/runs/{run_id}/answer", data={"csrf": csrf, "confirmed": "yes"})
    wait_live(client, run_id, lambda s: any(e["kind"] == "action_started" for e in s["last"]))
    client.post(f"/runs/{run_id}/control", data={"csrf": csrf, "action": "abort"})
    wait_live(client, run_id, lambda s: s["state"] == "aborted")
    aborted = [e.payload for e in store.entries(run_id, kinds=["state"])][-1]
    assert aborted["state"] == "aborted" and aborted.get("safe_state"), aborted


def test_an_interrupted_run_is_resumed_from_its_page(console):
    from meterlab.calibration.register import Register
    from meterlab.engine.session import create_run, load_inputs

    client, store, csrf = console
    inputs = load_inputs(REPO / "procedures/r49/pressure-loss.yaml", [REPO / METERS[0]], REPO / "instruments/sim.yaml",
                         None, follow_declarations=True)
    run_id = create_run(store, inputs, operator="tina", register=Register.load(REPO / "calibration"), clock_scale=2000.0)
    store.append(run_id, "state", {"state": "running", "resumed": False, "first_action": 0})  # its process died here
    page = client.get(f"/runs/{run_id}").text
    assert "Interrupted" in page and "Resume the run" in page
    resumed = client.post(f"/runs/{run_id}/resume", data={"csrf": csrf}, follow_redirects=False)
    assert resumed.status_code == 303
    live = wait_live(client, run_id, lambda s: s["state"] in ("completed", "failed", "aborted") or s["question"])
    if live["question"]:
        client.post(f"/runs/{run_id}/answer", data={"csrf": csrf, "confirmed": "yes"})
        live = wait_live(client, run_id, lambda s: s["state"] in ("completed", "failed", "aborted"))
    assert live["state"] == "completed", live
    assert run_result(store, run_id)["state"] == "completed"


def test_a_run_of_an_evaluation_is_started_on_its_samples_from_the_console(console, tmp_path):
    from meterlab.records import evaluations

    client, store, csrf = console
    evaluation = evaluations.create(store, *evaluations.load(REPO / "examples/evaluations/aquasmart-15.yaml"))
    form = client.get("/start", params={"evaluation": evaluation.id}).text
    assert "examples/meters/dn15-class2-sample3.yaml" in form and "examples/meters/dn25-class1.yaml" not in form
    assert "procedures/r49/pressure-loss.yaml" in form and "procedures/r137/" not in form
    started = client.post("/start", data={"procedure": "procedures/r49/pressure-loss.yaml", "meter": [METERS[0]],
                                           "bench": "instruments/sim.yaml", "csrf": csrf, "evaluation": evaluation.id},
                          follow_redirects=False)
    assert started.status_code == 303, started.text
    run_id = re.search(r"/runs/(\w+)/live", started.headers["location"]).group(1)
    assert evaluations.get(store, evaluation.id).runs == [run_id]
    stranger = client.post("/start", data={"procedure": "procedures/r49/pressure-loss.yaml",
                                           "meter": ["examples/meters/dn25-class1.yaml"], "bench": "instruments/sim.yaml",
                                           "csrf": csrf, "evaluation": evaluation.id})
    assert stranger.status_code == 409 and "not a sample of evaluation" in stranger.text
    ended = ("completed", "failed", "aborted")
    while (live := wait_live(client, run_id, lambda s: s["question"] or s["state"] in ended))["state"] not in ended:
        client.post(f"/runs/{run_id}/answer", data={"csrf": csrf, "confirmed": "yes"})  # the mounting prompt
        wait_live(client, run_id, lambda s: s["question"] is None or s["state"] in ended)
    assert live["state"] == "completed", live
    dtr = client.get(f"/evaluations/{evaluation.id}/dossier.dtr.xml")  # the dossier as a Digital Test Report
    assert dtr.status_code == 200
    validate(dtr.text)
    assert f"(run {run_id})" in dtr.text and "Example Meters" in dtr.text  # its result, and the applicant
