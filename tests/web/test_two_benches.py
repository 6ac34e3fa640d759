"""Two bench processes write one records database at once (PostgreSQL as a lab server would, SQLite as a
single computer), one console shows both; a bench process killed with kill -9 leaves its run interrupted, and
the console resumes it to the end without losing or repeating a measurement; the chain stays intact."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient

from meterlab.records.people import add_user
from meterlab.records.store import Store
from meterlab.web.app import create_app

from .conftest import REPO

COMMAND = [sys.executable, "-m", "meterlab"]
WATER = ["procedures/r49/intrinsic-error.yaml", "--meter", "examples/meters/dn15-class2.yaml",
         "--bench", "instruments/sim.yaml"]
GAS = ["procedures/r137/error-of-indication.yaml", "--meter", "examples/meters/g4-diaphragm.yaml",
       "--bench", "instruments/sim-gas.yaml", "--scenario", "examples/scenarios/g4-gas-meter.yaml",
       "--clock-scale", "20000"]


@pytest.fixture(params=["sqlite", "postgresql"])
def lab_db(request, tmp_path):
    if request.param == "sqlite":
        store = Store(str(tmp_path / "records.db"))
    else:
        store = request.getfixturevalue("postgres_store")
    add_user(store, "quinn", ["qa"], "quinn-secret-1")
    add_user(store, "tina", ["technician"], "tina-secret-1")
    yield store
    store.close()


def _bench_process(store, args, password_file):
    with password_file.open(encoding="utf-8") as password:  # the operator's password on standard input
        return subprocess.Popen([*COMMAND, "run", *args, "--db", store.url, "--yes", "--operator", "tina",
                                 "--password-stdin"], cwd=REPO, stdin=password, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, text=True)


def _wait_for(predicate, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_two_bench_processes_one_console_and_a_killed_run_resumed_from_it(lab_db, monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    store = lab_db
    password = tmp_path / "password"
    password.write_text("tina-secret-1\n", encoding="utf-8")
    water, gas = _bench_process(store, WATER, password), _bench_process(store, GAS, password)
    _wait_for(lambda: len(store.runs()) == 2)
    client = TestClient(create_app(store, calibration_dir=REPO / "calibration"))
    client.post("/login", data={"name": "quinn", "password": "quinn-secret-1"})
    runs = {r["procedure"]["id"]: r for r in client.get("/api/runs").json()}
    assert set(runs) == {"r49-intrinsic-error", "r137-error-of-indication"}  # one console, both benches
    water_run = runs["r49-intrinsic-error"]["id"]
    _wait_for(lambda: len(list(store.entries(water_run, kinds=["measurement"]))) >= 2)
    os.killpg(water.pid, signal.SIGKILL)  # the water bench's process dies mid-run
    water.wait(timeout=10)
    out, err = gas.communicate(timeout=600)
    assert gas.returncode == 0, err[-2000:]
    assert client.get(f"/api/runs/{water_run}").json()["state"] == "interrupted"
    page = client.get(f"/runs/{water_run}").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert client.post(f"/runs/{water_run}/resume", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    live = client.app.state.benches.runs[water_run]
    live.thread.join(timeout=600)
    assert live.state == "completed", live.error
    keys = [e.key for e in store.entries(water_run, kinds=["measurement"])]
    assert len(keys) == 6 * 3 and len(set(keys)) == len(keys)  # every repeat of every window, once
    assert {r["state"] for r in client.get("/api/runs").json()} == {"completed"}
    assert client.get("/api/verify").json()["intact"] is True
