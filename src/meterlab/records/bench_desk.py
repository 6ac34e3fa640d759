"""The desk between the console and the bench processes, in the records database they share: a bench process
(`meterlab bench start BENCH`) registers as the bench's station and keeps a heartbeat; the console posts
requests for it (start or resume a run, answer its question, pause, resume, abort), which the station takes once
each; the station publishes what it shows of the run it drives (state, question, latest events), which the
console reads. All of it is operational state, like the bench leases: not in the chain, not read by `verify`;
what was done is in the run's entries, with who did it.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from meterlab.errors import MeterlabError
from meterlab.records.leases import PG_LEASE_LOCK, alive, living
from meterlab.records.store import DeskMessageRow, LiveEventRow, LiveRow, StationRow, Store, now_iso

# start a created run, go on with an interrupted one, answer its question, and the run control's three
REQUESTS = ("start", "resume_run", "answer", "pause", "resume", "abort")


class StationBusy(MeterlabError):
    """Another live bench process already serves this bench."""


def register(store: Store, bench: str, bench_file: str) -> None:
    """Take the bench's station for this process; StationBusy if a live process has it."""
    with Session(store.engine) as session, session.begin():
        if store.engine.dialect.name == "postgresql":
            session.execute(text(f"SELECT pg_advisory_xact_lock({PG_LEASE_LOCK})"))
        station = session.get(StationRow, bench)
        if station is not None and alive(station) and (station.host, station.pid) != (socket.gethostname(), os.getpid()):
            raise StationBusy(f"bench {bench} is already served by process {station.pid} on {station.host} "
                              f"(since {station.since[:19]} UTC): stop that one first")
        if station is not None:
            session.delete(station)
            session.flush()
        now = now_iso()
        session.add(StationRow(bench=bench, bench_file=bench_file, host=socket.gethostname(), pid=os.getpid(),
                               since=now, heartbeat=now))


def heartbeat(store: Store, bench: str) -> None:
    with Session(store.engine) as session, session.begin():
        station = session.get(StationRow, bench)
        if station is not None and (station.host, station.pid) == (socket.gethostname(), os.getpid()):
            station.heartbeat = now_iso()


def unregister(store: Store, bench: str) -> None:
    with Session(store.engine) as session, session.begin():
        station = session.get(StationRow, bench)
        if station is not None and (station.host, station.pid) == (socket.gethostname(), os.getpid()):
            session.delete(station)


def station(store: Store, bench: str) -> StationRow | None:
    """The live bench process serving `bench`, if any."""
    return living(store, StationRow, bench)


def post(store: Store, bench: str, run_id: str, kind: str, sender: str, payload: dict | None = None) -> None:
    if kind not in REQUESTS:
        raise ValueError(f"request {kind!r}: one of {', '.join(REQUESTS)}")
    with Session(store.engine) as session, session.begin():
        session.add(DeskMessageRow(bench=bench, run_id=run_id, kind=kind, payload=json.dumps(payload or {}),
                                   sender=sender, created_at=now_iso()))


def take(store: Store, bench: str, *, run_id: str | None = None, kinds: tuple[str, ...] = REQUESTS) -> list[dict]:
    """The requests for the bench (and run) not yet taken, oldest first, marked taken: each is taken once."""
    with Session(store.engine) as session, session.begin():
        query = select(DeskMessageRow).where(DeskMessageRow.bench == bench, DeskMessageRow.taken_at.is_(None),
                                             DeskMessageRow.kind.in_(kinds))
        if run_id is not None:
            query = query.where(DeskMessageRow.run_id == run_id)
        rows = list(session.scalars(query.order_by(DeskMessageRow.id).with_for_update()))
        now = now_iso()
        for row in rows:
            row.taken_at = now
        return [{"id": r.id, "run_id": r.run_id, "kind": r.kind, "payload": json.loads(r.payload), "sender": r.sender}
                for r in rows]


def waiting(store: Store, bench: str) -> list[tuple[str, str]]:
    """(run id, sender) of the runs handed to the bench's station that it has not taken yet."""
    with Session(store.reader) as session:
        rows = session.scalars(select(DeskMessageRow).where(
            DeskMessageRow.bench == bench, DeskMessageRow.taken_at.is_(None),
            DeskMessageRow.kind.in_(("start", "resume_run"))).order_by(DeskMessageRow.id))
        return [(r.run_id, r.sender) for r in rows]


def publish(store: Store, bench: str, run_id: str, snapshot: dict[str, Any], events: list[dict] = ()) -> None:
    """The run's view as the bench process shows it, and its new events (each published once, in order)."""
    with Session(store.engine) as session, session.begin():
        session.add_all(LiveEventRow(run_id=run_id, n=e["n"], event=json.dumps(e, default=str)) for e in events)
        row = session.get(LiveRow, run_id)
        if row is None:
            session.add(LiveRow(run_id=run_id, bench=bench, snapshot=json.dumps(snapshot, default=str),
                                updated_at=now_iso()))
        else:
            row.bench, row.snapshot, row.updated_at = bench, json.dumps(snapshot, default=str), now_iso()


def forget(store: Store, run_id: str) -> None:
    """Drop what was published of the run (before it is handed over again: a resumed run starts a new view)."""
    with Session(store.engine) as session, session.begin():
        row = session.get(LiveRow, run_id)
        if row is not None:
            session.delete(row)
        session.execute(delete(LiveEventRow).where(LiveEventRow.run_id == run_id))


def events_after(store: Store, run_id: str, n: int) -> list[dict]:
    """The run's published events numbered after `n`, in order."""
    with Session(store.reader) as session:
        rows = session.scalars(select(LiveEventRow.event).where(LiveEventRow.run_id == run_id, LiveEventRow.n > n)
                               .order_by(LiveEventRow.n))
        return [json.loads(row) for row in rows]


def shown(store: Store, run_id: str) -> dict[str, Any] | None:
    """What the bench process driving the run last published, or None."""
    with Session(store.reader) as session:
        row = session.get(LiveRow, run_id)
        return None if row is None else json.loads(row.snapshot)
