"""The store: runs and their append-only, hash-chained entries, over SQLAlchemy (SQLite or PostgreSQL).

Everything a run produces is an Entry: state changes, events, operator actions, raw readings, results,
batches of the instrument I/O log, overrides and sign-offs. Entries are never updated or deleted; each
holds the SHA-256 of its content and of its predecessor (one chain over the whole store), so changing or
removing any stored value breaks the chain where `verify()` finds it. An entry may carry a key unique
within its run: the journal uses it so a resumed run neither loses nor repeats a measurement.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, create_engine, event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from meterlab.errors import MeterlabError

GENESIS_HASH = "0" * 64
DEFAULT_URL = "sqlite:///meterlab.db"


class StoreError(MeterlabError):
    """The store cannot do what was asked (unknown run, duplicate key, unreachable database)."""


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    procedure_id: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[str] = mapped_column(String(40))
    operator: Mapped[str] = mapped_column(String(200))
    meters: Mapped[str] = mapped_column(Text)  # JSON list of serials, for finding runs by meter


class EntryRow(Base):
    __tablename__ = "entries"
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str | None] = mapped_column(String(400), nullable=True)
    created_at: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    __table_args__ = (Index("ix_entries_run_key", "run_id", "key", unique=True),)


class ChainHead(Base):
    """The last entry's seq and hash, so removing entries from the end of the chain is noticed too."""

    __tablename__ = "chain_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True)
class Entry:
    seq: int
    run_id: str
    kind: str
    key: str | None
    created_at: str
    payload: Any
    hash: str


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces); non-finite floats become strings so JSON stays valid."""
    return json.dumps(_finite(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def entry_hash(prev_hash: str, run_id: str, kind: str, key: str | None, created_at: str, payload_json: str) -> str:
    content = canonical_json([prev_hash, run_id, kind, key, created_at, payload_json])
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # WAL lets readers (a console, a report) read while the runner writes; FULL survives power loss.
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # IMMEDIATE takes the write lock at once, so two writers cannot read the same chain head.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Store:
    """A connection to the records database. Any SQLAlchemy URL; SQLite file by default."""

    def __init__(self, url: str = DEFAULT_URL):
        if "://" not in url:
            url = f"sqlite:///{url}"
        self.url = url
        try:
            self.engine = create_engine(url, future=True)
            if self.engine.dialect.name == "sqlite":
                database = self.engine.url.database
                if database and database != ":memory:":
                    Path(database).parent.mkdir(parents=True, exist_ok=True)  # --db out/new/records.db just works
                _sqlite_pragmas(self.engine)
            Base.metadata.create_all(self.engine)
        except Exception as exc:  # noqa: BLE001 - any driver error becomes one clear message
            raise StoreError(f"cannot open the records database {url}: {exc}") from exc

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------------------------------ write
    def _lock_chain(self, session: Session) -> None:
        if self.engine.dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(4242)"))

    def _head(self, session: Session) -> ChainHead:
        head = session.get(ChainHead, 1)
        if head is None:
            head = ChainHead(id=1, seq=0, hash=GENESIS_HASH)
            session.add(head)
        return head

    def create_run(self, run_id: str, *, procedure_id: str, operator: str, meters: list[str], header: dict) -> Entry:
        """Register a run and write its first entry (the header: procedure, bench, meters, versions)."""
        with Session(self.engine) as session, session.begin():
            self._lock_chain(session)
            if session.get(RunRow, run_id) is not None:
                raise StoreError(f"run {run_id} exists already")
            created = now_iso()
            session.add(RunRow(id=run_id, procedure_id=procedure_id, created_at=created, operator=operator,
                               meters=canonical_json(meters)))
            session.flush()
            row_header = {"procedure_id": procedure_id, "operator": operator, "meters": meters, **header}
            return self._append(session, run_id, "run_created", row_header, None, created)

    def append(self, run_id: str, kind: str, payload: Any, *, key: str | None = None) -> Entry:
        """Append one entry in its own transaction (committed before this returns)."""
        return self.append_many(run_id, [(kind, payload, key)])[-1]

    def append_many(self, run_id: str, items: Iterable[tuple[str, Any, str | None]]) -> list[Entry]:
        """Append several entries atomically: all are committed together, or none (measurement boundary)."""
        try:
            with Session(self.engine) as session, session.begin():
                self._lock_chain(session)
                return [self._append(session, run_id, kind, payload, key, now_iso()) for kind, payload, key in items]
        except IntegrityError as exc:
            raise StoreError(f"run {run_id}: an entry with the same key exists already ({exc.orig})") from exc

    def _append(self, session: Session, run_id: str, kind: str, payload: Any, key: str | None, created: str) -> Entry:
        head = self._head(session)
        payload_json = canonical_json(payload)
        digest = entry_hash(head.hash, run_id, kind, key, created, payload_json)
        row = EntryRow(run_id=run_id, kind=kind, key=key, created_at=created, payload=payload_json,
                       prev_hash=head.hash, hash=digest)
        session.add(row)
        session.flush()
        head.seq, head.hash = row.seq, digest
        return Entry(row.seq, run_id, kind, key, created, json.loads(payload_json), digest)

    # ------------------------------------------------------------------------------------------- read
    def run(self, run_id: str) -> RunRow:
        with Session(self.engine) as session:
            row = session.get(RunRow, run_id)
            if row is None:
                raise StoreError(f"no run with id {run_id} in {self.url}")
            session.expunge(row)
            return row

    def runs(self) -> list[RunRow]:
        with Session(self.engine) as session:
            rows = list(session.scalars(select(RunRow).order_by(RunRow.created_at)))
            for row in rows:
                session.expunge(row)
            return rows

    def entries(self, run_id: str | None = None, *, kinds: Iterable[str] | None = None) -> Iterator[Entry]:
        query = select(EntryRow).order_by(EntryRow.seq)
        if run_id is not None:
            query = query.where(EntryRow.run_id == run_id)
        if kinds is not None:
            query = query.where(EntryRow.kind.in_(list(kinds)))
        with Session(self.engine) as session:
            for row in session.scalars(query):
                yield Entry(row.seq, row.run_id, row.kind, row.key, row.created_at, json.loads(row.payload), row.hash)

    def keys(self, run_id: str) -> set[str]:
        with Session(self.engine) as session:
            query = select(EntryRow.key).where(EntryRow.run_id == run_id, EntryRow.key.is_not(None))
            return set(session.scalars(query))

    # ----------------------------------------------------------------------------------------- verify
    def verify(self) -> list[str]:
        """Recompute the chain; return the problems found, the first broken link first ([] = intact)."""
        problems: list[str] = []
        prev, last_seq = GENESIS_HASH, 0
        with Session(self.engine) as session:
            for row in session.scalars(select(EntryRow).order_by(EntryRow.seq)):
                if row.prev_hash != prev:
                    problems.append(f"entry {row.seq} ({row.kind}, run {row.run_id}) does not follow its predecessor: "
                                    f"an entry before it was removed or altered")
                digest = entry_hash(row.prev_hash, row.run_id, row.kind, row.key, row.created_at, row.payload)
                if digest != row.hash:
                    problems.append(f"entry {row.seq} ({row.kind}, run {row.run_id}) was altered: its content hash differs")
                prev, last_seq = row.hash, row.seq
            head = session.get(ChainHead, 1)
            head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
            if (head_seq, head_hash) != (last_seq, prev):
                problems.append(f"the chain ends at entry {last_seq} but its recorded head is entry {head_seq}: "
                                f"entries were removed from the end, or the head was altered")
            for run in session.scalars(select(RunRow)):
                first = session.scalars(select(EntryRow).where(EntryRow.run_id == run.id).order_by(EntryRow.seq)).first()
                header = json.loads(first.payload) if first is not None else None
                if header is None or header.get("procedure_id") != run.procedure_id or header.get("operator") != run.operator:
                    problems.append(f"run {run.id}: its registration differs from its first entry")
        return problems

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest entry: print it on reports so an auditor can anchor the chain."""
        with Session(self.engine) as session:
            head = session.get(ChainHead, 1)
            return (head.seq, head.hash) if head else (0, GENESIS_HASH)
