"""An insider with write access to the database, but not to the laboratory's records key, tries to rewrite the
record (issue 13): every alteration is found by `verify`, by the key where it can be, by an anchor where only an
outside copy of the head can tell (truncation with a rewritten head, a rollback to an older copy), each with a
message that names what was altered. The forger works past the store's API, with raw SQL and the project's own
hash function."""

import shutil
import sqlite3

import pytest
from sqlalchemy import text

from meterlab.records.keys import Keyring, key_id
from meterlab.records.store import GENESIS_HASH, Store, StoreError, canonical_json, entry_hash


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    s = Store(str(tmp_path / "records.db")) if request.param == "sqlite" else request.getfixturevalue("postgres_store")
    _run(s, "run1", verdict="fail")
    _run(s, "run2", verdict="pass")
    yield s
    s.close()


def _run(store, run_id, verdict):
    store.create_run(run_id, procedure_id="r49-intrinsic-error", operator="alice", meters=["A1"],
                     header={"software_version": "0.1.0"})
    store.append_many(run_id, [("measurement", {"E": 2.6, "U": 0.1}, f"{run_id}/Q4/r1"),
                               ("evaluation", {"verdict": verdict}, None)])
    store.append(run_id, "state", {"state": "completed"})


def _sql(store, *statements):
    """The forger's own connection (on SQLite the sqlite3 module: no meterlab pragmas, no transaction)."""
    if store.engine.dialect.name == "sqlite":
        conn = sqlite3.connect(store.engine.url.database, isolation_level=None)
        for statement in statements:
            conn.execute(statement)
        conn.close()
        return
    with store.engine.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
        conn.commit()


def _rows(store):
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM entries ORDER BY seq"))]


def _rechain(store, start_seq):
    """What a forger does with the project's own function: recompute every hash from start_seq on, and the head."""
    rows = _rows(store)
    prev = GENESIS_HASH
    statements = []
    for row in rows:
        if row["seq"] >= start_seq:
            digest = entry_hash(prev, row["run_id"], row["kind"], row["key"], row["created_at"], row["payload"])
            statements.append(f"UPDATE entries SET prev_hash = '{prev}', hash = '{digest}' WHERE seq = {row['seq']}")
            row["hash"] = digest
        prev = row["hash"]
    statements.append(f"UPDATE chain_head SET seq = {rows[-1]['seq']}, hash = '{prev}'")
    _sql(store, *statements)


def _one(problems, *words):
    assert problems, "the alteration went unnoticed"
    assert any(all(w in p for w in words) for p in problems), problems


def _seq(store, run_id, kind):
    return next(e.seq for e in store.entries(run_id, kinds=[kind]))


def test_an_untouched_store_is_intact_and_anchors_hold(store):
    assert store.verify() == []
    assert store.verify(expect=[store.head(), (1, next(store.entries()).hash)]) == []


def test_a_failing_run_turned_passing_and_rechained_fails_its_authentication(store):
    seq = _seq(store, "run1", "evaluation")
    _sql(store, f"UPDATE entries SET payload = '{canonical_json({'verdict': 'pass'})}' WHERE seq = {seq}")
    _rechain(store, seq)
    _one(store.verify(), f"entry {seq} (evaluation, run run1)", "fails its authentication")


def test_a_changed_value_without_rechaining(store):
    seq = _seq(store, "run1", "measurement")
    _sql(store, f"UPDATE entries SET payload = replace(payload, '2.6', '1.6') WHERE seq = {seq}")
    _one(store.verify(), f"entry {seq} (measurement", "altered")


def test_an_inserted_forged_approval_is_found(store):
    seq = _seq(store, "run2", "state")
    _sql(store, f"UPDATE entries SET seq = seq + 1000 WHERE seq >= {seq}",
         f"INSERT INTO entries (seq, run_id, kind, key, created_at, payload, prev_hash, hash, key_id, mac) "
         f"VALUES ({seq}, 'run2', 'approval', NULL, '2026-12-06T10:00:00+00:00', "
         f"'{canonical_json({'by': 'mallory', 'role': 'qa'})}', '', '', 'ffffffffffffffff', '')")
    _rechain(store, seq)
    _one(store.verify(), "approval, run run2", "not in")


def test_a_forged_approval_under_a_key_of_his_own(store, tmp_path):
    own = Keyring.load(tmp_path / "mallory.key", create=True)
    forged = Store(store.url, keyring=own)
    forged.append("run1", "approval", {"by": "mallory", "role": "qa"})
    _one(store.verify(), "approval, run run1", f"key {own.current_id!r}", "not in")


def test_deleted_entries_in_the_middle_and_at_the_end(store):
    _sql(store, f"DELETE FROM entries WHERE seq = {_seq(store, 'run1', 'evaluation')}")
    _one(store.verify(), "does not follow")
    _sql(store, f"DELETE FROM entries WHERE seq = {store.head()[0]}")
    _one(store.verify(), "removed from the end")


def test_truncation_with_the_head_rewritten_needs_the_key(store):
    seq = _seq(store, "run2", "evaluation")
    _sql(store, f"DELETE FROM entries WHERE seq > {seq}")
    digest = next(e.hash for e in store.entries() if e.seq == seq)
    _sql(store, f"UPDATE chain_head SET seq = {seq}, hash = '{digest}'")
    _one(store.verify(), f"head (entry {seq}) fails its authentication")


def test_reordered_entries_are_found(store):
    a, b = _seq(store, "run1", "measurement"), _seq(store, "run1", "evaluation")
    _sql(store, f"UPDATE entries SET seq = -1 WHERE seq = {a}", f"UPDATE entries SET seq = {a} WHERE seq = {b}",
         f"UPDATE entries SET seq = {b} WHERE seq = -1")
    _one(store.verify(), "does not follow")
    _rechain(store, a)
    _one(store.verify(), "fails its authentication")


def test_a_deleted_run_row_and_edited_registrations(store):
    _sql(store, "UPDATE runs SET created_at = '2020-01-01T00:00:00+00:00' WHERE id = 'run1'",
         "UPDATE runs SET meters = '[\"B9\"]' WHERE id = 'run2'")
    problems = store.verify()
    _one(problems, "run run1", "creation time")
    assert any("run run2" in p or "1 more" in p for p in problems)
    if store.engine.dialect.name == "sqlite":
        _sql(store, "DELETE FROM runs WHERE id = 'run2'")  # sqlite3 leaves foreign keys unchecked
    else:
        _sql(store, "ALTER TABLE entries DROP CONSTRAINT entries_run_id_fkey", "DELETE FROM runs WHERE id = 'run2'")
    _one(store.verify(), "run run2 has entries", "runs table was deleted")


def test_a_duplicate_key_behind_a_dropped_unique_index(store):
    seq = _seq(store, "run1", "measurement")
    _sql(store, "DROP INDEX ix_entries_run_key",
         f"UPDATE entries SET key = 'run1/Q4/r1' WHERE seq = {_seq(store, 'run1', 'evaluation')}")
    _rechain(store, seq)
    _one(store.verify(), "repeats the key 'run1/Q4/r1'")


def test_a_rollback_to_an_older_copy_is_found_by_the_anchor(tmp_path):
    """A copy of the database file (on PostgreSQL a restored dump: the same case for the anchor)."""
    database = str(tmp_path / "records.db")
    store = Store(database)
    _run(store, "run1", verdict="fail")
    live, backup = sqlite3.connect(database), sqlite3.connect(tmp_path / "old.db")
    live.backup(backup)  # the insider's earlier copy, WAL included
    live.close(), backup.close()
    store.append("run1", "approval", {"by": "quinn", "role": "qa"})
    anchor = store.head()
    store.close()
    shutil.copy(tmp_path / "old.db", database)
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"records.db{suffix}").unlink(missing_ok=True)
    old = Store(database, must_exist=True)
    assert old.verify() == []  # consistent in itself: only the anchor can tell
    _one(old.verify(expect=[anchor]), f"before the anchored entry {anchor[0]}", "older copy")
    old.close()


def test_a_database_replaced_by_another_is_found_by_the_anchor(store, tmp_path):
    anchor = store.head()
    other = Store(str(tmp_path / "other.db"))
    for run_id in ("x1", "x2"):
        _run(other, run_id, verdict="pass")
    assert other.head()[0] == anchor[0]
    _one(other.verify(expect=[anchor]), f"entry {anchor[0]} is not the anchored one")


def test_an_emptied_database_is_found_by_the_anchor(store):
    """Every entry, the head and the runs deleted: a database consistent in itself (nothing to check), which only
    the anchor printed on a report can tell from a new one."""
    anchor = store.head()
    with store.engine.begin() as connection:
        for table in ("entries", "chain_head", "runs"):
            connection.execute(text(f"DELETE FROM {table}"))
    assert store.verify() == [] and store.head()[0] == 0
    _one(store.verify(expect=[anchor]), f"the chain ends at entry 0, before the anchored entry {anchor[0]}")


def test_verify_refuses_a_missing_database_instead_of_creating_one(tmp_path):
    with pytest.raises(StoreError, match="no records database at .*nothing was created"):
        Store(str(tmp_path / "typo.db"), must_exist=True)
    assert not (tmp_path / "typo.db").exists()


def test_without_the_key_only_the_chain_is_checked_and_it_says_so(store, tmp_path, monkeypatch):
    monkeypatch.setenv("METERLAB_RECORDS_KEY_FILE", str(tmp_path / "absent.key"))
    _one(store.verify(), "no records key file", "only the hash chain was checked")


def test_a_rotated_key_is_recorded_and_verifies_old_and_new_entries(tmp_path):
    writer = Store(str(tmp_path / "lab.db"), keyring=Keyring.load(tmp_path / "lab.key", create=True))
    first = writer.keyring.current_id
    _run(writer, "run3", verdict="pass")
    rotation = writer.rotate_key()
    assert (rotation.run_id, rotation.kind, rotation.payload) == (None, "key_rotated",
                                                                  {"from": first, "to": writer.keyring.current_id})
    entry = writer.append("run3", "approval", {"by": "quinn", "role": "qa"})
    reread = Keyring.load(tmp_path / "lab.key")  # the file holds both keys now
    assert len(reread.secrets) == 2 and key_id(reread.secrets[-1]) == writer.keyring.current_id != first
    assert writer.verify(keyring=reread) == []
    _one(writer.verify(keyring=Keyring(reread.path, reread.secrets[:1])), f"entry {entry.seq} ", "not in")


def test_a_key_swapped_in_without_a_recorded_rotation_is_found(store, tmp_path):
    both = Keyring(tmp_path / "both.key", store.keyring.secrets + Keyring.load(tmp_path / "x.key", create=True).secrets)
    Store(store.url, keyring=both).append("run2", "approval", {"by": "quinn", "role": "qa"})
    _one(store.verify(keyring=both), "approval, run run2", "no recorded key rotation introduced")


def test_a_database_of_an_earlier_version_is_refused_with_what_to_do(tmp_path):
    database = tmp_path / "old.db"
    old = sqlite3.connect(database)
    old.execute("CREATE TABLE entries (seq INTEGER PRIMARY KEY, run_id TEXT, kind TEXT, key TEXT, created_at TEXT, "
                "payload TEXT, prev_hash TEXT, hash TEXT)")
    old.close()
    with pytest.raises(StoreError, match="written by an earlier meterlab.*new database"):
        Store(str(database))
