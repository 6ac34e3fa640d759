"""The store: append-only, hash-chained entries; tampering through raw SQL is detected."""

import pytest
from sqlalchemy import text

from meterlab.records.store import Store, StoreError


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    s = Store(str(tmp_path / "records.db")) if request.param == "sqlite" else request.getfixturevalue("postgres_store")
    s.create_run("run1", procedure_id="r49-intrinsic-error", operator="alice", meters=["A1", "A2"],
                 header={"software_version": "0.1.0"})
    s.append("run1", "state", {"state": "running"})
    s.append_many("run1", [("measurement", {"E": 0.12, "U": 0.05}, "p/Q3/r1"), ("io", [["w", "READ?"]], None)])
    s.append("run1", "state", {"state": "completed"})
    yield s
    s.close()


def test_entries_are_chained_and_verify_clean(store):
    entries = list(store.entries("run1"))
    assert [e.kind for e in entries] == ["run_created", "state", "measurement", "io", "state"]
    assert entries[2].payload == {"E": 0.12, "U": 0.05}
    assert store.verify() == []
    assert store.head() == (entries[-1].seq, entries[-1].hash)


def test_keys_are_unique_within_a_run(store):
    assert store.keys("run1") == {"p/Q3/r1"}
    with pytest.raises(StoreError, match="same key"):
        store.append("run1", "measurement", {"E": 0.13}, key="p/Q3/r1")
    assert store.verify() == []  # the refused entry left no trace in the chain


def _sql(store, statement):
    """Raw SQL, as a forger would use it, past the store's API."""
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            conn.exec_driver_sql(statement)
        else:
            conn.execute(text(statement))
        conn.commit()


def test_changed_value_is_detected(store):
    _sql(store, "UPDATE entries SET payload = replace(payload, '0.12', '0.02') WHERE kind = 'measurement'")
    problems = store.verify()
    assert problems and "altered" in problems[0] and "measurement" in problems[0]


def test_removed_entry_is_detected(store):
    _sql(store, "DELETE FROM entries WHERE kind = 'io'")
    assert any("does not follow" in p for p in store.verify())


def test_removed_last_entry_is_detected(store):
    _sql(store, "DELETE FROM entries WHERE seq = (SELECT max(seq) FROM entries)")
    assert any("removed from the end" in p for p in store.verify())


def test_rehashed_entry_still_breaks_the_next_link(store):
    # A forger who recomputes one entry's hash must also rewrite every later entry.
    # (the first character always changes: a hash that already starts with 'f' gets a '0')
    _sql(store, "UPDATE entries SET hash = CASE WHEN substr(hash, 1, 1) = 'f' THEN '0' ELSE 'f' END "
                "|| substr(hash, 2, 63) WHERE kind = 'measurement'")
    problems = store.verify()
    assert any("altered" in p for p in problems) and any("does not follow" in p for p in problems)


def test_run_registration_must_match_its_first_entry(store):
    _sql(store, "UPDATE runs SET operator = 'mallory'")
    assert any("registration differs" in p for p in store.verify())


def test_unknown_run_and_duplicate_run(store):
    with pytest.raises(StoreError, match="no run with id nope"):
        store.run("nope")
    with pytest.raises(StoreError, match="exists already"):
        store.create_run("run1", procedure_id="x", operator="y", meters=[], header={})


def test_non_finite_numbers_are_stored_as_valid_json(store):
    e = store.append("run1", "result", {"dof": float("inf")})
    assert e.payload == {"dof": "inf"} and store.verify() == []
