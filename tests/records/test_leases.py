"""One run at a time drives a bench (issue 15): a second holder is refused naming the first; a holder that died
(kill -9) or whose heartbeat stopped on another host loses the bench, and its run shows as interrupted."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session

from meterlab.records import leases
from meterlab.records.store import LeaseRow, Store
from meterlab.reports.results import run_result


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    s = Store(str(tmp_path / "records.db")) if request.param == "sqlite" else request.getfixturevalue("postgres_store")
    for run_id in ("run1", "run2"):
        s.create_run(run_id, procedure_id="r49-intrinsic-error", operator="tina", meters=["A1"],
                     header={"procedure": {"id": "r49-intrinsic-error", "sha256": "ab", "title": "t", "clause": "c"},
                             "software_version": "0"})
        s.append(run_id, "state", {"state": "running"})
    yield s
    s.close()


def test_a_second_run_on_a_held_bench_is_refused_naming_the_holder(store):
    with leases.hold(store, "water-rig-1", "run1", "tina"):
        with pytest.raises(leases.BenchBusy, match=r"bench water-rig-1 is busy: run run1 is driven by tina \(process"):
            with leases.hold(store, "water-rig-1", "run2", "sam"):
                pass
        with pytest.raises(leases.BenchBusy, match="this run is driven by tina"):
            with leases.hold(store, "water-rig-1", "run1", "sam"):  # the same run resumed twice
                pass
        with leases.hold(store, "gas-rig-1", "run2", "sam"):  # another bench is free
            assert leases.holder(store, "gas-rig-1").run_id == "run2"
        assert run_result(store, "run1")["state"] == "running"
    assert leases.holder(store, "water-rig-1") is None  # given back
    assert run_result(store, "run1")["state"] == "interrupted"  # "running", but nobody drives it


def test_a_holder_killed_with_kill_9_loses_the_bench(store):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from meterlab.records.store import Store\n"
        "from meterlab.records import leases\n"
        f"store = Store({store.url!r})\n"
        "with leases.hold(store, 'water-rig-1', 'run1', 'tina'):\n"
        "    print('held', flush=True); time.sleep(600)\n")], stdout=subprocess.PIPE, start_new_session=True)
    assert holder.stdout.readline().strip() == b"held"
    with pytest.raises(leases.BenchBusy, match=f"process {holder.pid}"):
        with leases.hold(store, "water-rig-1", "run2", "sam"):
            pass
    assert run_result(store, "run1")["state"] == "running"
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    assert run_result(store, "run1")["state"] == "interrupted" and run_result(store, "run1")["verdict"] == "interrupted"
    with leases.hold(store, "water-rig-1", "run1", "sam"):  # the resume takes over
        assert leases.holder(store, "water-rig-1").holder.startswith("sam")


def test_a_holder_on_another_host_is_dead_once_its_heartbeat_stops(store):
    now = datetime.now(timezone.utc)
    with Session(store.engine) as session, session.begin():
        session.add(LeaseRow(bench="water-rig-1", run_id="run1", holder="tina [1]", host="bench-pc-7", pid=1,
                             since=now.isoformat(), heartbeat=now.isoformat()))
    with pytest.raises(leases.BenchBusy, match="on bench-pc-7"):
        with leases.hold(store, "water-rig-1", "run2", "sam"):
            pass
    stale = (now - timedelta(seconds=leases.STALE_AFTER_S + 1)).isoformat()
    with Session(store.engine) as session, session.begin():
        session.get(LeaseRow, "water-rig-1").heartbeat = stale
    assert run_result(store, "run1")["state"] == "interrupted"
    with leases.hold(store, "water-rig-1", "run2", "sam"):
        pass


def test_the_heartbeat_renews_the_lease(store, monkeypatch):
    monkeypatch.setattr(leases, "HEARTBEAT_S", 0.05)
    with leases.hold(store, "water-rig-1", "run1", "tina"):
        first = leases.holder(store, "water-rig-1").heartbeat
        deadline = time.monotonic() + 10
        while leases.holder(store, "water-rig-1").heartbeat == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert leases.holder(store, "water-rig-1").heartbeat > first
