"""`meterlab records`: list, show, verify (tampering found, non-zero exit), approve."""

import sqlite3

import pytest
from typer.testing import CliRunner

from meterlab.cli import app
from meterlab.records.store import Store

runner = CliRunner()


def header(procedure_id: str) -> dict:
    return {"procedure": {"id": procedure_id, "sha256": "ab", "title": procedure_id, "clause": "R 49-2"},
            "software_version": "0.1.0", "calibration": {}}


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "records.db"
    store = Store(str(path))
    store.create_run("run1", procedure_id="r49-intrinsic-error", operator="alice", meters=["WM-1"],
                     header=header("r49-intrinsic-error"))
    store.append("run1", "state", {"state": "running"})
    store.append("run1", "measurement", {"point": {"name": "Q3"}, "repeat": 1, "flowrate_m3h": 2.4,
                                         "reference_volume_l": 10.0, "meters": [
        {"meter_serial": "WM-1", "indicated_volume_l": 10.02, "error_pct": 0.2, "u_pct": 0.05, "k": 2.0,
         "U_pct": 0.1, "mpe_pct": 2.0, "outcome": "pass", "decision_rule": "simple acceptance"}]}, key="0/r1")
    store.append("run1", "state", {"state": "completed"})
    store.create_run("run2", procedure_id="r49-burst-mains", operator="bob", meters=["WM-2"],
                     header=header("r49-burst-mains"))
    store.close()
    return str(path)


def test_verify_intact_then_detects_a_changed_error(db):
    ok = runner.invoke(app, ["records", "verify", "--db", db])
    assert ok.exit_code == 0 and "intact" in ok.output
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE entries SET payload = replace(payload, '\"error_pct\":0.2', '\"error_pct\":0.1')")
    bad = runner.invoke(app, ["records", "verify", "--db", db])
    assert bad.exit_code == 1 and "measurement" in bad.output and "altered" in bad.output


def test_verify_detects_a_deleted_entry(db):
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM entries WHERE kind = 'measurement'")
    result = runner.invoke(app, ["records", "verify", "--db", db])
    assert result.exit_code == 1 and "does not follow" in result.output


def test_list_filters_by_meter_and_procedure(db):
    result = runner.invoke(app, ["records", "list", "--db", db, "--meter", "WM-1"])
    assert "run1" in result.output and "run2" not in result.output
    result = runner.invoke(app, ["records", "list", "--db", db, "--procedure", "r49-burst-mains"])
    assert "run2" in result.output and "run1" not in result.output
    assert runner.invoke(app, ["records", "list", "--db", db, "--since", "yesterday"]).exit_code == 2


PASSWORDS = {"Dr Metro": "metro-secret-1", "quinn": "quinn-secret-1", "alice": "alice-secret-1"}
ROLES_OF = {"Dr Metro": ["metrologist"], "quinn": ["qa"], "alice": ["technician", "metrologist"]}


def _users(db):
    for name, roles in ROLES_OF.items():
        options = [option for role in roles for option in ("--role", role)]
        added = runner.invoke(app, ["users", "add", name, *options, "--db", db], input=f"{PASSWORDS[name]}\n" * 2)
        assert added.exit_code == 0, added.output


def approve(db, run_id, by, role, password=None):
    return runner.invoke(app, ["records", "approve", run_id, "--by", by, "--role", role, "--db", db,
                               "--password-stdin"], input=f"{password or PASSWORDS.get(by, 'none')}\n")


def test_approve_adds_a_chained_sign_off_that_show_prints(db):
    _users(db)
    result = approve(db, "run1", "Dr Metro", "metrologist")
    assert result.exit_code == 0 and "still needs: qa" in result.output, result.output
    store = Store(db)
    (approval,) = list(store.entries("run1", kinds=["approval"]))
    assert approval.payload["by"] == "Dr Metro" and approval.payload["authenticated"] and store.verify() == []
    assert approval.payload["head"][0] == approval.seq - 1  # bound to the chain as the metrologist saw it
    shown = runner.invoke(app, ["records", "show", "run1", "--db", db])
    assert "approved by Dr Metro (metrologist)" in shown.output and "WM-1" in shown.output
    assert approve(db, "run1", "x", "boss").exit_code == 2
    released = approve(db, "run1", "quinn", "qa")
    assert released.exit_code == 0 and "released" in released.output


def test_sign_off_is_refused_out_of_order_to_the_operator_twice_or_without_the_password(db):
    _users(db)
    refusals = {
        "comes after the metrologist sign-off": approve(db, "run1", "quinn", "qa"),  # release before review
        "ran this test": approve(db, "run1", "alice", "metrologist"),  # alice is run1's operator
        "unknown user or wrong password": approve(db, "run1", "Dr Metro", "metrologist", password="guess-guess"),
        "does not hold the role qa": approve(db, "run1", "Dr Metro", "qa"),
    }
    for words, result in refusals.items():
        assert result.exit_code == 2 and words in result.output, (words, result.output)
    assert approve(db, "run1", "Dr Metro", "metrologist").exit_code == 0
    twice = approve(db, "run1", "Dr Metro", "metrologist")
    assert twice.exit_code == 2 and "signed off as metrologist already" in twice.output
    assert approve(db, "run2", "alice", "metrologist").exit_code == 0  # bob ran run2: alice may review it
    assert not list(Store(db).entries("run1", kinds=["approval"]))[1:]  # one sign-off on run1, the refused left none


def test_users_are_listed_and_a_short_password_or_unknown_role_is_refused(db):
    _users(db)
    listed = runner.invoke(app, ["users", "list", "--db", db])
    assert "Dr Metro" in listed.output and "technician, metrologist" not in listed.output
    assert "metrologist, technician" in listed.output and "secret" not in listed.output
    short = runner.invoke(app, ["users", "add", "eve", "--role", "qa", "--db", db, "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "too short" in short.output
    boss = runner.invoke(app, ["users", "add", "eve", "--role", "boss", "--db", db, "--password-stdin"],
                         input="long-enough-1\n")
    assert boss.exit_code == 2 and "technician, metrologist, qa" in boss.output


def test_compare_two_runs_writes_one_figure(db, tmp_path):
    out = tmp_path / "compare.png"
    result = runner.invoke(app, ["records", "compare", "run1", "run1", "--out", str(out), "--db", db])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "2 points" in result.output
    missing = runner.invoke(app, ["records", "compare", "run1", "run2", "--meter", "XX", "--out", str(out), "--db", db])
    assert missing.exit_code == 2 and "no measured points of meter XX" in missing.output


def test_verify_refuses_a_mistyped_path_and_creates_nothing(tmp_path):
    for command in (["records", "verify"], ["records", "list"], ["records", "anchor"]):
        result = runner.invoke(app, [*command, "--db", str(tmp_path / "recrods.db")])
        assert result.exit_code == 2 and "no records database at" in result.output, result.output
    assert not (tmp_path / "recrods.db").exists()


def test_an_anchor_file_catches_a_rollback_and_a_bad_anchor_is_explained(db, tmp_path):
    backup = tmp_path / "older.db"
    live, older = sqlite3.connect(db), sqlite3.connect(backup)
    live.backup(older)
    live.close(), older.close()
    anchors = tmp_path / "qa" / "anchors.txt"
    assert runner.invoke(app, ["records", "anchor", "--db", db, "--append", str(anchors)]).exit_code == 0
    _users(db)
    assert approve(db, "run1", "Dr Metro", "metrologist").exit_code == 0
    printed = runner.invoke(app, ["records", "anchor", "--db", db, "--append", str(anchors)])
    seq, _, digest = printed.output.strip().partition(":")
    assert int(seq) == 9 and len(digest) == 64 and anchors.read_text().count("\n") == 2
    ok = runner.invoke(app, ["records", "verify", "--db", db, "--anchors", str(anchors)])
    assert ok.exit_code == 0 and "2 anchor(s) held" in ok.output, ok.output
    rolled_back = runner.invoke(app, ["records", "verify", "--db", str(backup), "--anchors", str(anchors)])
    assert rolled_back.exit_code == 1 and "before the anchored entry 9" in rolled_back.output
    assert runner.invoke(app, ["records", "verify", "--db", str(backup)]).exit_code == 0  # alone it looks intact
    bad = runner.invoke(app, ["records", "verify", "--db", db, "--expect", "5:abc"])
    assert bad.exit_code == 2 and "not an anchor" in bad.output and "SEQ:HASH" in bad.output


def test_rotate_key_records_the_rotation_and_verify_still_holds(db):
    rotated = runner.invoke(app, ["records", "rotate-key", "--db", db])
    assert rotated.exit_code == 0 and "rotation recorded as entry 6" in rotated.output, rotated.output
    _users(db)
    assert approve(db, "run2", "Dr Metro", "metrologist").exit_code == 0
    ok = runner.invoke(app, ["records", "verify", "--db", db])
    assert ok.exit_code == 0 and "10 entries authenticated" in ok.output, ok.output
