"""Nonconformities (ISO/IEC 17025 7.10): a finding recorded against a run, one of its tests or a reference
standard, by an authenticated person, and later its disposition (what was done, whether the results stand).
Both are entries of the store; a dossier lists those against its runs and the standards they used."""

from __future__ import annotations

import secrets
from typing import Any

from meterlab.errors import MeterlabError
from meterlab.records.people import User
from meterlab.records.store import Entry, Store

FOUND, DISPOSED = "nonconformity", "nonconformity_disposition"


def record(store: Store, user: User, finding: str, *, run_id: str | None = None, standard: str | None = None) -> Entry:
    if (run_id is None) == (standard is None):
        raise MeterlabError("a nonconformity is against one run (--run) or one reference standard (--standard)")
    if not finding.strip():
        raise MeterlabError("say what was found (--finding)")
    if run_id is not None:
        store.run(run_id)  # an unknown run is refused with its message
    return store.append(None, FOUND, {"id": "NC-" + secrets.token_hex(3), "run": run_id, "standard": standard,
                                      "finding": finding, "by": user.name})


def dispose(store: Store, user: User, nonconformity_id: str, disposition: str) -> Entry:
    found = {n["id"]: n for n in listed(store)}
    if nonconformity_id not in found:
        raise MeterlabError(f"no nonconformity {nonconformity_id} (open: "
                            f"{', '.join(i for i, n in found.items() if not n['disposition']) or 'none'})")
    if found[nonconformity_id]["disposition"]:
        raise MeterlabError(f"{nonconformity_id} was disposed of already, by {found[nonconformity_id]['disposed_by']}")
    if not disposition.strip():
        raise MeterlabError("say what was done and whether the results stand (--disposition)")
    return store.append(None, DISPOSED, {"id": nonconformity_id, "disposition": disposition, "by": user.name})


def listed(store: Store) -> list[dict[str, Any]]:
    """Every nonconformity with its disposition (None while open), oldest first."""
    items: dict[str, dict[str, Any]] = {}
    for entry in store.store_entries(kinds=[FOUND, DISPOSED]):
        p = entry.payload
        if entry.kind == FOUND:
            items[p["id"]] = {**p, "at": entry.created_at, "disposition": None, "disposed_by": None}
        elif p["id"] in items:
            items[p["id"]].update(disposition=p["disposition"], disposed_by=p["by"], disposed_at=entry.created_at)
    return list(items.values())
