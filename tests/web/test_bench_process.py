"""A bench process (`meterlab bench start BENCH`) drives the runs the console starts on its bench: the console
shows them live and passes on the technician's answer, pause, resume and abort; a second run on the busy bench
is refused naming the holder; the bench process killed with kill -9 leaves its run interrupted, and a new bench
process resumes it from the console to the end, without loss or duplicate. SQLite and PostgreSQL."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient

from meterlab.records import bench_desk, leases
from meterlab.records.people import add_user
from meterlab.records.store import Store
from meterlab.web.app import create_app

from .conftest import REPO, wait_live

BENCH, BENCH_FILE = "sim-water-rig", "instruments/sim.yaml"
METERS = ["examples/meters/dn15-class2.yaml", "examples/meters/dn15-class2-sample2.yaml"]
ENDED = ("completed", "failed", "aborted", "interrupted")


@pytest.fixture(params=["sqlite", "postgresql"])
def lab_db(request, tmp_path):
    store = Store(str(tmp_path / "records.db")) if request.param == "sqlite" else request.getfixturevalue(
        "postgres_store")
    add_user(store, "tina", ["technician"], "tina-secret-1")
    yield store
    store.close()


def _bench_process(store) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "meterlab", "bench", "start", BENCH_FILE, "--db", store.url],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while bench_desk.station(store, BENCH) is None or bench_desk.station(store, BENCH).pid != process.pid:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the bench process did not register"
        time.sleep(0.1)
    return process


@pytest.fixture
def console(lab_db, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    client = TestClient(create_app(lab_db, calibration_dir=REPO / "calibration"))
    assert client.post("/login", data={"name": "tina", "password": "tina-secret-1"}).status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/start").text).group(1)
    processes: list[subprocess.Popen] = []
    yield client, lab_db, csrf, processes
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # aborts a run in progress to its safe state, then ends
            process.wait(timeout=120)


def _start(client, csrf):
    started = client.post("/start", data={"procedure": "procedures/r49/intrinsic-error.yaml", "meter": METERS,
                                          "bench": BENCH_FILE, "csrf": csrf}, follow_redirects=False)
    return started


def _events(client, run_id) -> list[dict]:
    """The console's event stream of the run, as the live page reads it."""
    return [json.loads(line[6:]) for line in client.get(f"/runs/{run_id}/events").text.splitlines()
            if line.startswith("data: ")]


def _measurements(store, run_id) -> list[str]:
    return [e.key for e in store.entries(run_id, kinds=["measurement"])]


def test_the_bench_process_drives_a_console_run_that_is_answered_paused_resumed_and_completed(console):
    client, store, csrf, processes = console
    processes.append(process := _bench_process(store))
    started = _start(client, csrf)
    assert started.status_code == 303, started.text
    run_id = re.search(r"/runs/(\w+)/live", started.headers["location"]).group(1)
    live = wait_live(client, run_id, lambda s: s["question"] is not None, timeout_s=180)
    assert live["bench_process"] and "Mount the meters" in live["question"]["text"]
    assert leases.holder(store, BENCH).pid == process.pid  # the bench process drives it, not the console
    busy = _start(client, csrf)
    assert busy.status_code == 409 and f"bench {BENCH} is busy" in busy.text and "tina" in busy.text
    assert client.post(f"/runs/{run_id}/answer", data={"csrf": csrf, "confirmed": "maybe"}).status_code == 422
    client.post(f"/runs/{run_id}/answer", data={"csrf": csrf, "confirmed": "yes"})
    wait_live(client, run_id, lambda s: s["state"] == "running" and s["question"] is None, timeout_s=180)
    client.post(f"/runs/{run_id}/control", data={"csrf": csrf, "action": "pause"})
    wait_live(client, run_id, lambda s: s["state"] == "paused", timeout_s=180)
    held = len(_measurements(store, run_id))
    time.sleep(2)
    assert len(_measurements(store, run_id)) == held  # nothing measured while paused
    client.post(f"/runs/{run_id}/control", data={"csrf": csrf, "action": "resume"})
    assert wait_live(client, run_id, lambda s: s["state"] in ENDED, timeout_s=300)["state"] == "completed"
    prompt = next(e.payload for e in store.entries(run_id, kinds=["action_done"]) if "question" in e.payload)
    assert prompt["answered_by"] == "tina"
    states = [e.payload["state"] for e in store.entries(run_id, kinds=["state"])]
    assert states == ["running", "paused", "running", "completed"]
    events = client.get(f"/runs/{run_id}/events")  # the console's stream, fed from the bench process
    assert "action_started" in events.text and '"kind": "ended"' in events.text


def test_an_abort_from_the_console_brings_the_bench_process_rig_to_its_safe_state(console):
    client, store, csrf, processes = console
    processes.append(_bench_process(store))
    run_id = re.search(r"/runs/(\w+)/live", _start(client, csrf).headers["location"]).group(1)
    wait_live(client, run_id, lambda s: s["question"] is not None, timeout_s=180)
    client.post(f"/runs/{run_id}/answer", data={"csrf": csrf, "confirmed": "yes"})
    wait_live(client, run_id, lambda s: s["state"] == "running" and s["question"] is None, timeout_s=180)
    client.post(f"/runs/{run_id}/control", data={"csrf": csrf, "action": "pause"})  # held mid-run: cannot end first
    wait_live(client, run_id, lambda s: s["state"] == "paused", timeout_s=180)
    client.post(f"/runs/{run_id}/control", data={"csrf": csrf, "action": "abort"})
    assert wait_live(client, run_id, lambda s: s["state"] in ENDED, timeout_s=180)["state"] == "aborted"
    aborted = [e.payload for e in store.entries(run_id, kinds=["state"])][-1]
    assert aborted["safe_state_problems"] == [] and aborted["safe_state"]["pump"] == {"pump_running": False}


def test_a_killed_bench_process_leaves_its_run_interrupted_and_a_new_one_resumes_it(console):
    client, store, csrf, processes = console
    processes.append(first := _bench_process(store))
    run_id = re.search(r"/runs/(\w+)/live", _start(client, csrf).headers["location"]).group(1)
    wait_live(client, run_id, lambda s: s["question"] is not None, timeout_s=180)
    client.post(f"/runs/{run_id}/answer", data={"csrf": csrf, "confirmed": "yes"})
    deadline = time.monotonic() + 120
    while len(_measurements(store, run_id)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)  # the bench process dies mid-run
    first.wait(timeout=10)
    assert wait_live(client, run_id, lambda s: s["state"] in ENDED, timeout_s=180)["state"] == "interrupted"
    assert client.get(f"/api/runs/{run_id}").json()["state"] == "interrupted"
    processes.append(second := _bench_process(store))
    page = client.get(f"/runs/{run_id}").text
    csrf_page = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert client.post(f"/runs/{run_id}/resume", data={"csrf": csrf_page}, follow_redirects=False).status_code == 303
    live = wait_live(client, run_id, lambda s: s["state"] in ENDED or s["question"] is not None, timeout_s=300)
    while live["state"] not in ENDED:  # the resumed run may ask again (the rig's state is restored first)
        if live["question"]:
            client.post(f"/runs/{run_id}/answer", data={"csrf": csrf, "confirmed": "yes"})
        live = wait_live(client, run_id, lambda s: s["state"] in ENDED or s["question"] is not None, timeout_s=300)
    assert live["state"] == "completed", live
    streamed = _events(client, run_id)  # the resumed run's own view: none of its events missed, then its end
    numbers = [e["n"] for e in streamed[:-1]]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))) and streamed[-1]["kind"] == "ended"
    keys = _measurements(store, run_id)
    assert len(keys) == 6 * 3 and len(set(keys)) == len(keys)  # every repeat of every window, once
    assert second.poll() is None  # it goes on serving the bench


def test_ctrl_c_at_the_bench_process_terminal_stops_it_and_frees_the_bench(tmp_path):
    """At its terminal (a real pseudo-terminal), Ctrl-C ends an idle bench process: it says so, exits 0, and the
    bench has no station any more (a console start then runs in the console's own process)."""
    import pexpect

    store = Store(str(tmp_path / "records.db"))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    child = pexpect.spawn(sys.executable, ["-m", "meterlab", "bench", "start", BENCH_FILE, "--db", store.url],
                          cwd=str(REPO), env=env, encoding="utf-8", timeout=60)
    child.expect_exact("Ctrl-C stops it")
    assert bench_desk.station(store, BENCH).pid == child.pid
    child.send("\x03")
    child.expect_exact(f"bench {BENCH}: no longer served")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and bench_desk.station(store, BENCH) is None
    store.close()


def test_ctrl_c_at_the_bench_process_terminal_aborts_its_run_to_the_safe_state(tmp_path, monkeypatch):
    import pexpect

    monkeypatch.chdir(REPO)
    store = Store(str(tmp_path / "records.db"))
    add_user(store, "tina", ["technician"], "tina-secret-1")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    child = pexpect.spawn(sys.executable, ["-m", "meterlab", "bench", "start", BENCH_FILE, "--db", store.url],
                          cwd=str(REPO), env=env, encoding="utf-8", timeout=120)
    child.expect_exact("Ctrl-C stops it")
    client = TestClient(create_app(store, calibration_dir=REPO / "calibration"))
    client.post("/login", data={"name": "tina", "password": "tina-secret-1"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/start").text).group(1)
    run_id = re.search(r"/runs/(\w+)/live", _start(client, csrf).headers["location"]).group(1)
    wait_live(client, run_id, lambda s: s["question"] is not None, timeout_s=180)
    client.post(f"/runs/{run_id}/answer", data={"csrf": csrf, "confirmed": "yes"})
    client.post(f"/runs/{run_id}/control", data={"csrf": csrf, "action": "pause"})  # held mid-run
    wait_live(client, run_id, lambda s: s["state"] == "paused", timeout_s=180)
    child.send("\x03")
    child.expect_exact(f"run {run_id}: aborted")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    aborted = [e.payload for e in store.entries(run_id, kinds=["state"])][-1]
    assert aborted["state"] == "aborted" and aborted["safe_state_problems"] == []
    assert aborted["safe_state"]["pump"] == {"pump_running": False}
    store.close()
