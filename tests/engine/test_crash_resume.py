"""Kill the runner process (kill -9) at random moments and resume: nothing lost, nothing repeated."""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from meterlab.records.store import Store
from meterlab.reports.results import run_result

from .test_end_to_end import REPO

COMMAND = [sys.executable, "-m", "meterlab"]
METERS = ["--meter", "examples/meters/dn15-class2.yaml", "--meter", "examples/meters/dn15-class2-sample2.yaml"]


def _start(db: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*COMMAND, "run", "procedures/r49/intrinsic-error.yaml", *METERS, "--scenario",
         "examples/scenarios/demo-three-meters.yaml", "--db", db, "--yes", "--clock-scale", "2000"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _resume(db: str, run_id: str, *, wait: bool) -> subprocess.Popen:
    process = subprocess.Popen([*COMMAND, "resume", run_id, "--db", db, "--yes"], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    if wait:
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err.decode()[-2000:]
    return process


def _kill_after(process: subprocess.Popen, seconds: float) -> None:
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_killed_runs_resume_without_losing_or_repeating_a_measurement(tmp_path, seed):
    rng = random.Random(seed)
    db = f"sqlite:///{tmp_path / 'records.db'}"
    _kill_after(_start(db), rng.uniform(1.5, 4.0))
    store = Store(db)
    deadline = time.monotonic() + 30
    while not store.runs() and time.monotonic() < deadline:  # the run may not even have been created
        _kill_after(_start(db), rng.uniform(2.0, 5.0))
    (run,) = store.runs()
    _kill_after(_resume(db, run.id, wait=False), rng.uniform(1.5, 4.0))  # killed once more while resuming
    _resume(db, run.id, wait=True)

    keys = [e.key for e in store.entries(run.id, kinds=["measurement"])]
    assert len(keys) == 6 * 3 and len(set(keys)) == len(keys)  # every repeat of every window, once
    result = run_result(store, run.id)
    assert result["state"] == "completed"
    per_meter = Counter(p["meter_serial"] for p in result["tests"][0]["points"])
    assert per_meter == {"WM15-2026-0001": 18, "WM15-2026-0002": 18}
    assert store.verify() == []
    completed = [e for e in store.entries(run.id, kinds=["state"]) if e.payload["state"] == "completed"]
    assert len(completed) == 1  # a completed run is never run again
    resumed_mid_run = [e for e in store.entries(run.id, kinds=["state"])
                       if e.payload.get("resumed") and e.payload.get("first_action", 0) > 0]
    restored = [e for e in store.entries(run.id, kinds=["event"]) if e.payload.get("event") == "rig_restored"]
    if resumed_mid_run:  # a resume killed while restoring leaves no rig_restored; the last one must
        assert 1 <= len(restored) <= len(resumed_mid_run)
