"""The store: runs and their append-only, hash-chained entries, over SQLAlchemy (SQLite or PostgreSQL).

Everything a run produces is an Entry: state changes, events, operator actions, raw readings, results,
batches of the instrument I/O log, overrides and sign-offs. Entries are never updated or deleted; each
holds the SHA-256 of its content and of its predecessor (one chain over the whole store), so changing or
removing any stored value breaks the chain where `verify()` finds it. An entry may carry a key unique
within its run: the journal uses it so a resumed run neither loses nor repeats a measurement.

The chain alone does not stop an insider who recomputes it; so each entry and the head also carry an HMAC
under the laboratory's records key, which is not in the database (records/keys.py). What no key can catch, a
rollback to an older copy of the whole database, an external anchor does: `verify(expect=...)` checks the
chain against heads printed on reports or kept in an anchor file.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, create_engine, event, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from meterlab.errors import MeterlabError
from meterlab.records.keys import SECRET_BYTES, Keyring, RecordsKeyError

GENESIS_HASH = "0" * 64
KEY_ROTATED = "key_rotated"  # the kind of the store's entry that introduces a new records key
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
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"), index=True, nullable=True)  # None: the store's
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str | None] = mapped_column(String(400), nullable=True)
    created_at: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))  # the records key that authenticates it (keys.key_id)
    mac: Mapped[str] = mapped_column(String(64))  # HMAC of its seq, key id and hash (entry_message)
    __table_args__ = (Index("ix_entries_run_key", "run_id", "key", unique=True),)


class ChainHead(Base):
    """The last entry's seq and hash, so removing entries from the end of the chain is noticed too."""

    __tablename__ = "chain_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16), default="")
    mac: Mapped[str] = mapped_column(String(64), default="")  # HMAC of head_message: truncation needs the key


class LeaseRow(Base):
    """Who drives a bench now (records/leases.py). Operational state, not evidence: not in the chain, and
    `verify` does not read it; what the holder did is in the entries."""

    __tablename__ = "bench_leases"
    bench: Mapped[str] = mapped_column(String(200), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32))
    holder: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int]
    since: Mapped[str] = mapped_column(String(40))
    heartbeat: Mapped[str] = mapped_column(String(40))


class StationRow(Base):
    """A bench process serving a bench for the console (records/bench_desk.py). Operational, like a lease."""

    __tablename__ = "bench_stations"
    bench: Mapped[str] = mapped_column(String(200), primary_key=True)
    bench_file: Mapped[str] = mapped_column(String(500))
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int]
    since: Mapped[str] = mapped_column(String(40))
    heartbeat: Mapped[str] = mapped_column(String(40))


class DeskMessageRow(Base):
    """A request between the console and a bench process: start or resume a run, answer its question, pause,
    resume, abort. Operational: what was done is in the run's entries, with who did it."""

    __tablename__ = "bench_messages"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    bench: Mapped[str] = mapped_column(String(200), index=True)
    run_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[str] = mapped_column(Text)
    sender: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[str] = mapped_column(String(40))
    taken_at: Mapped[str | None] = mapped_column(String(40), nullable=True)


class LiveRow(Base):
    """What a bench process shows of a run it drives (state, question, latest events), for the console."""

    __tablename__ = "bench_live"
    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    bench: Mapped[str] = mapped_column(String(200))
    snapshot: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[str] = mapped_column(String(40))


class LiveEventRow(Base):
    """One event of a run a bench process drives, as the console's live log shows it (numbered per view)."""

    __tablename__ = "bench_live_events"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(32), index=True)
    n: Mapped[int]
    event: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class Entry:
    seq: int
    run_id: str | None  # None for the store's own entries (a key rotation)
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


def entry_message(seq: int, kid: str, digest: str) -> str:
    """What an entry's MAC authenticates: its place in the chain, its key and its hash (which covers the rest)."""
    return canonical_json(["entry", seq, kid, digest])


def head_message(seq: int, digest: str) -> str:
    return canonical_json(["head", seq, digest])


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _sqlite_pragmas(engine: Engine, *, begin: str = "BEGIN IMMEDIATE") -> None:
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
        # IMMEDIATE takes the write lock at once, so two writers cannot read the same chain head; a reader
        # begins a plain (deferred) transaction: one snapshot, and no writer waits for it.
        conn.exec_driver_sql(begin)


def _check_schema(engine: Engine, url: str, must_exist: bool) -> None:
    """An existing database must be one this version can read and authenticate."""
    inspector = inspect(engine)
    if not inspector.has_table(EntryRow.__tablename__):
        if must_exist:
            raise StoreError(f"{url} holds no meterlab records (no entries table): check the URL")
        return
    columns = {c["name"] for c in inspector.get_columns(EntryRow.__tablename__)}
    if not {"key_id", "mac"} <= columns:
        raise StoreError(f"{url} was written by an earlier meterlab, before entries were authenticated by the "
                         f"laboratory's records key: keep it as it is (verify it with that version) and record new "
                         f"runs in a new database")


class Store:
    """A connection to the records database. Any SQLAlchemy URL; SQLite file by default.

    `keyring`: the records keys (default: the key file, created on the first write if there is none).
    `must_exist`: open an existing database only (verify, show, report), never create one."""

    def __init__(self, url: str = DEFAULT_URL, *, keyring: Keyring | None = None, must_exist: bool = False):
        if "://" not in url:
            url = f"sqlite:///{url}"
        self.url = url
        self._keyring = keyring
        try:
            self.engine = create_engine(url, future=True)
            self.reader = self.engine
            if self.engine.dialect.name == "sqlite":
                database = self.engine.url.database
                # a file gets a second engine for readers (an in-memory database is one per engine: none)
                if database and database != ":memory:":
                    if must_exist and not Path(database).is_file():
                        raise StoreError(f"no records database at {database}: check the path (nothing was created)")
                    Path(database).parent.mkdir(parents=True, exist_ok=True)  # --db out/new/records.db just works
                    self.reader = create_engine(url, future=True)
                    _sqlite_pragmas(self.reader, begin="BEGIN")
                _sqlite_pragmas(self.engine)
            _check_schema(self.engine, url, must_exist)
            Base.metadata.create_all(self.engine)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - any driver error becomes one clear message
            raise StoreError(f"cannot open the records database {url}: {exc}") from exc

    @property
    def keyring(self) -> Keyring:
        """The keys new entries are authenticated with (the key file is created on the first write)."""
        if self._keyring is None:
            try:
                self._keyring = Keyring.load(create=True)
            except (RecordsKeyError, OSError) as exc:
                raise StoreError(f"cannot write records without the laboratory's records key: {exc}") from exc
        return self._keyring

    def close(self) -> None:
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()

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

    def append(self, run_id: str | None, kind: str, payload: Any, *, key: str | None = None) -> Entry:
        """Append one entry in its own transaction (committed before this returns); run None: the store's own."""
        return self.append_many(run_id, [(kind, payload, key)])[-1]

    def append_many(self, run_id: str | None, items: Iterable[tuple[str, Any, str | None]]) -> list[Entry]:
        """Append several entries atomically: all are committed together, or none (measurement boundary)."""
        try:
            with Session(self.engine) as session, session.begin():
                self._lock_chain(session)
                return [self._append(session, run_id, kind, payload, key, now_iso()) for kind, payload, key in items]
        except IntegrityError as exc:
            raise StoreError(f"run {run_id}: an entry with the same key exists already ({exc.orig})") from exc

    def rotate_key(self) -> Entry:
        """A new records key: the rotation is an entry of the store authenticated by the old key (so the chain
        shows who could introduce the new one), then the key file gets the new key, which signs from then on."""
        old = self.keyring
        new = Keyring(old.path, old.secrets + (secrets.token_bytes(SECRET_BYTES),))
        with Session(self.engine) as session, session.begin():
            self._lock_chain(session)
            entry = self._append(session, None, KEY_ROTATED, {"from": old.current_id, "to": new.current_id},
                                 None, now_iso())
        self._keyring = old.rotated(new.secrets[-1])
        return entry

    def _append(self, session: Session, run_id: str | None, kind: str, payload: Any, key: str | None, created: str) -> Entry:
        keyring, head = self.keyring, self._head(session)
        payload_json = canonical_json(payload)
        digest = entry_hash(head.hash, run_id, kind, key, created, payload_json)
        row = EntryRow(run_id=run_id, kind=kind, key=key, created_at=created, payload=payload_json,
                       prev_hash=head.hash, hash=digest, key_id=keyring.current_id, mac="")
        session.add(row)
        session.flush()  # the seq is known from here on, and the MAC binds it
        row.mac = keyring.mac(entry_message(row.seq, keyring.current_id, digest))
        head.seq, head.hash = row.seq, digest
        head.key_id, head.mac = keyring.current_id, keyring.mac(head_message(row.seq, digest))
        return _entry(row)

    # ------------------------------------------------------------------------------------------- read
    def run(self, run_id: str) -> RunRow:
        with Session(self.reader) as session:
            row = session.get(RunRow, run_id)
            if row is None:
                raise StoreError(f"no run with id {run_id} in {self.url}")
            session.expunge(row)
            return row

    def runs(self) -> list[RunRow]:
        with Session(self.reader) as session:
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
        with Session(self.reader) as session:
            yield from map(_entry, session.scalars(query))

    def store_entries(self, *, kinds: Iterable[str]) -> Iterator[Entry]:
        """The store's own entries (no run): people, key rotations."""
        query = select(EntryRow).where(EntryRow.run_id.is_(None), EntryRow.kind.in_(list(kinds))).order_by(EntryRow.seq)
        with Session(self.reader) as session:
            yield from map(_entry, session.scalars(query))

    def keys(self, run_id: str) -> set[str]:
        with Session(self.reader) as session:
            query = select(EntryRow.key).where(EntryRow.run_id == run_id, EntryRow.key.is_not(None))
            return set(session.scalars(query))

    # ----------------------------------------------------------------------------------------- verify
    def verify(self, *, keyring: Keyring | None = None, expect: Iterable[tuple[int, str]] = (),
               authenticate: bool = True) -> list[str]:
        """Check everything stored: the chain's links and hashes, each entry's and the head's authentication
        under the records key (`keyring`, default the key file), unique keys, every run's registration against
        its first entry, and the anchors in `expect` ((seq, hash) printed earlier, on reports or by `records
        anchor`). Returns the first problem of each kind (with how many more), [] when intact. Without
        `authenticate`, only the hash chain, registrations and anchors (where no key is at hand, said by the caller)."""
        problems = _Problems()
        if keyring is None and authenticate:
            try:
                keyring = Keyring.load()
            except RecordsKeyError as exc:
                problems.add("key", f"{exc}; only the hash chain was checked")
        with Session(self.reader) as session:
            rows = list(session.scalars(select(EntryRow).order_by(EntryRow.seq)))
            head = session.get(ChainHead, 1)
            runs = list(session.scalars(select(RunRow)))
        hashes = _check_chain(rows, keyring, problems)
        _check_head(head, rows, keyring, problems)
        _check_runs(runs, rows, problems)
        for seq, digest in expect:
            _check_anchor(seq, digest, hashes, problems)
        return problems.messages()

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest entry: print it on reports so an auditor can anchor the chain."""
        with Session(self.reader) as session:
            head = session.get(ChainHead, 1)
            return (head.seq, head.hash) if head else (0, GENESIS_HASH)


def _entry(row: EntryRow) -> Entry:
    return Entry(row.seq, row.run_id, row.kind, row.key, row.created_at, json.loads(row.payload), row.hash)


class _Problems:
    """The first problem of each kind, in the order found, and how many more of that kind there were."""

    def __init__(self) -> None:
        self._first: dict[str, str] = {}
        self._more: dict[str, int] = {}

    def add(self, kind: str, message: str) -> None:
        if kind in self._first:
            self._more[kind] = self._more.get(kind, 0) + 1
        else:
            self._first[kind] = message

    def messages(self) -> list[str]:
        return [message + (f" (and {self._more[kind]} more like it)" if self._more.get(kind) else "")
                for kind, message in self._first.items()]


def _named(row: EntryRow) -> str:
    return f"entry {row.seq} ({row.kind}, {f'run {row.run_id}' if row.run_id else 'the store'})"


def _check_chain(rows: list[EntryRow], keyring: Keyring | None, problems: _Problems) -> dict[int, str]:
    """Links, hashes and MACs of the entries in seq order; returns seq -> hash for the anchors."""
    prev, seen_keys, hashes = GENESIS_HASH, set(), {}
    introduced = {rows[0].key_id} if rows else set()  # the first entry's key, then those rotated to
    for row in rows:
        if row.key_id not in introduced:
            problems.add("rotation", f"{_named(row)} is authenticated by the key {row.key_id!r}, which no recorded "
                                     f"key rotation introduced")
        if row.kind == KEY_ROTATED and row.run_id is None:
            introduced.add(json.loads(row.payload).get("to"))
        if row.prev_hash != prev:
            problems.add("link", f"{_named(row)} does not follow its predecessor: an entry before it was removed, "
                                 f"inserted or altered")
        if entry_hash(row.prev_hash, row.run_id, row.kind, row.key, row.created_at, row.payload) != row.hash:
            problems.add("hash", f"{_named(row)} was altered: its content hash differs")
        if keyring is not None:
            if not keyring.holds(row.key_id or ""):
                problems.add("unknown key", f"{_named(row)} names the records key {row.key_id!r}, which is not in "
                                            f"{keyring.path}: it was not written with the laboratory's key")
            elif not keyring.check(entry_message(row.seq, row.key_id, row.hash), row.key_id, row.mac):
                problems.add("mac", f"{_named(row)} fails its authentication: it was written, rewritten or moved "
                                    f"without the laboratory's records key")
        if row.key is not None:
            if (row.run_id, row.key) in seen_keys:
                problems.add("duplicate", f"{_named(row)} repeats the key {row.key!r} of an earlier entry of its run "
                                          f"(the unique index was bypassed)")
            seen_keys.add((row.run_id, row.key))
        prev, hashes[row.seq] = row.hash, row.hash
    return hashes


def _check_head(head: ChainHead | None, rows: list[EntryRow], keyring: Keyring | None, problems: _Problems) -> None:
    last_seq, last_hash = (rows[-1].seq, rows[-1].hash) if rows else (0, GENESIS_HASH)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if (head_seq, head_hash) != (last_seq, last_hash):
        problems.add("head", f"the chain ends at entry {last_seq} but its recorded head is entry {head_seq}: "
                             f"entries were removed from the end, or the head was altered")
    elif head is not None and keyring is not None and head_seq and not (
            keyring.holds(head.key_id) and keyring.check(head_message(head_seq, head_hash), head.key_id, head.mac)):
        problems.add("head", f"the chain's head (entry {head_seq}) fails its authentication: the chain was cut "
                             f"short and its head rewritten without the laboratory's records key")


def _check_runs(runs: list[RunRow], rows: list[EntryRow], problems: _Problems) -> None:
    """Every run's registration (the runs table, which listings read) agrees with its first entry."""
    first: dict[str, EntryRow] = {}
    for row in rows:
        if row.run_id is not None:
            first.setdefault(row.run_id, row)
    registered = {run.id for run in runs}
    for run in runs:
        entry = first.get(run.id)
        header = json.loads(entry.payload) if entry is not None and entry.kind == "run_created" else None
        differs = [name for name, stored, recorded in (
            ("procedure", run.procedure_id, header and header.get("procedure_id")),
            ("operator", run.operator, header and header.get("operator")),
            ("meters", run.meters, header and canonical_json(header.get("meters"))),
            ("creation time", run.created_at, entry and entry.created_at)) if stored != recorded]
        if header is None or differs:
            problems.add("registration", f"run {run.id}: its registration differs from its first entry "
                                         f"({', '.join(differs) if header else 'no run_created entry'})")
    for run_id in first.keys() - registered:
        problems.add("unregistered", f"run {run_id} has entries from entry {first[run_id].seq} on but no "
                                     f"registration: its row in the runs table was deleted, hiding it from listings")


def _check_anchor(seq: int, digest: str, hashes: dict[int, str], problems: _Problems) -> None:
    last = max(hashes, default=0)
    if seq > last:
        problems.add("anchor", f"the chain ends at entry {last}, before the anchored entry {seq}: entries were "
                               f"removed, or an older copy of the database was put back")
    elif hashes.get(seq) != digest:
        problems.add("anchor", f"entry {seq} is not the anchored one ({digest[:16]}…, found "
                               f"{(hashes.get(seq) or 'none')[:16]}…): the chain was rewritten or replaced")
