"""Histories across runs (ISO/IEC 17025 7.4 handling of test items, 6.4 equipment records): each sample's runs
and the events recorded against it (repair, replacement, remark), and each reference standard's uses with the
certificate and status it had at each run's start. Read from the record alone."""

from __future__ import annotations

import json
from typing import Any

from meterlab.errors import MeterlabError
from meterlab.records.people import User
from meterlab.records.store import Entry, Store

SAMPLE_EVENT = "sample_event"
SAMPLE_EVENTS = ("repair", "replacement", "remark")


def record_sample_event(store: Store, serial: str, event: str, text: str, user: User) -> Entry:
    """A repair, replacement or remark about a sample, by an authenticated user."""
    if event not in SAMPLE_EVENTS:
        raise MeterlabError(f"event {event!r}: use one of {', '.join(SAMPLE_EVENTS)}")
    if not text.strip():
        raise MeterlabError("say what was done or seen (--text)")
    if not any(serial in json.loads(run.meters) for run in store.runs()):
        raise MeterlabError(f"no run tested a meter {serial!r}: check the serial")
    return store.append(None, SAMPLE_EVENT, {"serial": serial, "event": event, "text": text, "by": user.name})


def sample_history(store: Store, serial: str) -> list[dict[str, Any]]:
    """The runs that tested the sample and the events recorded against it, in the order they happened."""
    rows = [{"at": run.created_at, "what": "run", "run": run.id, "procedure": run.procedure_id,
             "detail": "with " + (", ".join(s for s in json.loads(run.meters) if s != serial) or "no other meter"),
             "by": run.operator}
            for run in store.runs() if serial in json.loads(run.meters)]
    rows += [{"at": e.created_at, "what": e.payload["event"], "run": None, "procedure": None,
              "detail": e.payload["text"], "by": e.payload["by"]}
             for e in store.store_entries(kinds=[SAMPLE_EVENT]) if e.payload["serial"] == serial]
    return sorted(rows, key=lambda row: row["at"])


def standard_history(store: Store, standard_id: str) -> list[dict[str, Any]]:
    """Each run that used the standard: its certificate, due date and status when the run started."""
    rows = []
    for run in store.runs():
        header = next(store.entries(run.id)).payload
        snapshot = (header.get("calibration") or {}).get(standard_id)
        if snapshot:
            rows.append({"at": run.created_at, "run": run.id, "procedure": run.procedure_id,
                         "certificate": snapshot.get("certificate"), "due_date": snapshot.get("due_date"),
                         "status": "simulated laboratory" if snapshot.get("simulated") else snapshot.get("status"),
                         "sha256": snapshot.get("sha256")})
    return rows
