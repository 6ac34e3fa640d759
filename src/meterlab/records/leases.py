"""Bench leases: one run at a time drives a bench. A run (or a resume) takes the bench's lease in the records
database before it touches the rig, renews it with a heartbeat while it runs, and gives it back at its end. A
second run on the bench, or a second resume of the same run, is refused naming who holds it. A holder that died
(its process is gone on this host, or its heartbeat stopped) loses the lease, and its run shows as interrupted,
to be resumed; never "running" for ever."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any
from datetime import datetime, timezone

from sqlalchemy import text
from sqlalchemy.orm import Session

from meterlab.errors import MeterlabError
from meterlab.records.store import LeaseRow, StationRow, Store, now_iso

HEARTBEAT_S = 5.0
STALE_AFTER_S = 30.0  # a heartbeat older than this: the holder is taken for dead (another host, or hung)
PG_LEASE_LOCK = 4243  # PostgreSQL advisory lock serialising lease changes (the chain's is 4242)


class BenchBusy(MeterlabError):
    """The bench is driven by another run (or the run by another process)."""


def alive(lease: LeaseRow | StationRow) -> bool:
    """Is the holder still there: its process on this host, its heartbeat elsewhere."""
    age_s = (datetime.now(timezone.utc) - datetime.fromisoformat(lease.heartbeat)).total_seconds()
    if lease.host != socket.gethostname():
        return age_s < STALE_AFTER_S
    try:
        os.kill(lease.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return age_s < STALE_AFTER_S
    try:  # a zombie is dead too
        with open(f"/proc/{lease.pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return age_s < STALE_AFTER_S


def living(store: Store, row_type: type[LeaseRow] | type[StationRow], bench: str) -> Any:
    """The bench's row of `row_type` (a lease, a station) if its holder is alive, else None."""
    with Session(store.reader) as session:
        row = session.get(row_type, bench)
        if row is None or not alive(row):
            return None
        session.expunge(row)
        return row


def holder(store: Store, bench: str) -> LeaseRow | None:
    """The live lease on the bench, if any."""
    return living(store, LeaseRow, bench)


def interrupted(store: Store, run_id: str) -> bool:
    """A run whose state says it is going on, but no live process holds a bench for it."""
    with Session(store.reader) as session:
        leases = [lease for lease in session.query(LeaseRow).filter(LeaseRow.run_id == run_id)]
        return not any(alive(lease) for lease in leases)


@contextlib.contextmanager
def hold(store: Store, bench: str, run_id: str, who: str) -> Iterator[None]:
    """Hold the bench's lease for `run_id` while the block runs; BenchBusy if a live holder has it."""
    me = (socket.gethostname(), os.getpid(), threading.get_ident())
    _take(store, bench, run_id, who, me)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(store, bench, me, stop), name=f"lease-{bench}", daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join(timeout=HEARTBEAT_S + 5)
        _give_back(store, bench, me)


def _holder_name(who: str, me: tuple[str, int, int]) -> str:
    return f"{who} [{me[2]}]"  # the thread too: one process may not run the same bench twice either


def _take(store: Store, bench: str, run_id: str, who: str, me: tuple[str, int, int]) -> None:
    with Session(store.engine) as session, session.begin():
        if store.engine.dialect.name == "postgresql":
            session.execute(text(f"SELECT pg_advisory_xact_lock({PG_LEASE_LOCK})"))
        lease = session.get(LeaseRow, bench)
        if lease is not None and alive(lease):
            what = "this run" if lease.run_id == run_id else f"run {lease.run_id}"
            raise BenchBusy(f"bench {bench} is busy: {what} is driven by {lease.holder.rsplit(' [', 1)[0]} "
                            f"(process {lease.pid} on {lease.host}, since {lease.since[:19]} UTC); wait for it to "
                            f"end, or stop it there")
        now = now_iso()
        if lease is not None:
            session.delete(lease)
            session.flush()
        session.add(LeaseRow(bench=bench, run_id=run_id, holder=_holder_name(who, me), host=me[0], pid=me[1],
                             since=now, heartbeat=now))


def _heartbeat(store: Store, bench: str, me: tuple[str, int, int], stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        try:
            with Session(store.engine) as session, session.begin():
                lease = session.get(LeaseRow, bench)
                if lease is not None and (lease.host, lease.pid) == me[:2]:
                    lease.heartbeat = now_iso()
        except Exception:  # noqa: BLE001 - a missed beat is retried; the run must not stop for it
            continue


def _give_back(store: Store, bench: str, me: tuple[str, int, int]) -> None:
    with Session(store.engine) as session, session.begin():
        lease = session.get(LeaseRow, bench)
        if lease is not None and (lease.host, lease.pid) == me[:2] and lease.holder.endswith(f"[{me[2]}]"):
            session.delete(lease)
