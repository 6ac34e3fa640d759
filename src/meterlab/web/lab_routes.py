"""The laboratory's side: records integrity, the calibration register, type evaluations and their dossier."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from meterlab.calibration.register import Register
from meterlab.records import evaluations
from meterlab.reports import dcc, dossier
from meterlab.web import pages
from meterlab.web.context import Lab, LabOf, Who, who

router = APIRouter()


@router.get("/records", response_class=HTMLResponse)
def records(lab: LabOf, session: Who) -> str:
    return pages.records_page(lab.store.url, lab.store.verify(), lab.store.head(), **who(session))


@router.get("/api/verify")
def verify_api(lab: LabOf, session: Who) -> dict[str, Any]:
    seq, head = lab.store.head()
    return {"intact": not (problems := lab.store.verify()), "problems": problems, "head": f"{seq}:{head}"}


def register_rows(lab: Lab) -> list[dict[str, Any]]:
    today = dt.date.today()
    rows = []
    for c in Register.load(lab.calibration_dir):
        status = "simulated laboratory" if c.simulated else (
            "expired" if c.due_date < today else f"due in {(c.due_date - today).days} days")
        rows.append({"id": c.id, "description": c.description, "certificate": c.certificate.number,
                     "issued_by": c.certificate.issued_by, "due": str(c.due_date), "status": status})
    return rows


@router.get("/calibration", response_class=HTMLResponse)
def calibration(lab: LabOf, session: Who) -> str:
    return pages.calibration_page(register_rows(lab), **who(session))


@router.get("/api/calibration")
def calibration_api(lab: LabOf, session: Who) -> list[dict[str, Any]]:
    return register_rows(lab)


@router.get("/evaluations", response_class=HTMLResponse)
def evaluations_list(lab: LabOf, session: Who) -> str:
    rows = [{"id": e.payload["evaluation"], "name": e.payload["type"]["name"], "standard": e.payload["type"]["standard"],
             "samples": [s["serial"] for s in e.payload["type"]["samples"]]}
            for e in lab.store.store_entries(kinds=[evaluations.CREATED])]
    return pages.evaluations_page(rows, **who(session))


@router.get("/evaluations/{evaluation_id}", response_class=HTMLResponse)
def evaluation_view(evaluation_id: str, lab: LabOf, session: Who) -> str:
    evaluation = lab.evaluation_or_404(evaluation_id)
    rows = dossier.item_status(lab.store, evaluation)
    return pages.evaluation_page(evaluation_id, evaluation.type["name"], rows, dossier.summary(rows), **who(session))


@router.get("/api/evaluations/{evaluation_id}")
def evaluation_api(evaluation_id: str, lab: LabOf, session: Who) -> Response:
    evaluation = lab.evaluation_or_404(evaluation_id)
    rows = dossier.item_status(lab.store, evaluation)
    return Response(pages.as_json({"id": evaluation_id, "type": evaluation.type, "verdict": dossier.summary(rows),
                                   "items": [{**r, "run": r["run"]["id"] if r["run"] else None} for r in rows]}),
                    media_type="application/json")


@router.get("/evaluations/{evaluation_id}/dossier.html", response_class=HTMLResponse)
def evaluation_dossier(evaluation_id: str, lab: LabOf, session: Who) -> str:
    return dossier.render_html(lab.store, lab.evaluation_or_404(evaluation_id))


@router.get("/evaluations/{evaluation_id}/dossier.dtr.xml")
def evaluation_dtr(evaluation_id: str, lab: LabOf, session: Who) -> Response:
    """The dossier as a PTB Digital Test Report (DCC-schema XML, validated)."""
    return Response(dcc.evaluation_dtr(lab.store, lab.evaluation_or_404(evaluation_id)), media_type="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{evaluation_id}.dtr.xml"'})
