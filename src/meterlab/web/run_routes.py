"""Recorded runs: search, a run's page, a point's budget and I/O, sign-off, resume, reports."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meterlab.errors import MeterlabError
from meterlab.records.people import SignOffError, missing_sign_offs, sign_off, users
from meterlab.reports import document
from meterlab.reports.dcc import run_dcc
from meterlab.reports.fuzz import FUZZ_CAMPAIGN, fuzz_report
from meterlab.reports.fuzz import render_html as render_fuzz_html
from meterlab.reports.fuzz import render_pdf as render_fuzz_pdf
from meterlab.reports.comparison import comparison_png
from meterlab.reports.results import run_result
from meterlab.web import pages
from meterlab.web.context import Lab, LabOf, Who, checked, who

router = APIRouter()
RUN_FIELDS = ("id", "created_at", "procedure", "meters", "operator", "state", "verdict")


def search(lab: Lab, meter: str = "", procedure: str = "", verdict: str = "", since: str = "", evaluation: str = "",
           pending: str = "") -> list[dict[str, Any]]:
    """Runs newest first, filtered by meter, procedure, verdict, creation date, evaluation, and (pending) those
    ended but not yet released by the sign-off policy."""
    store = lab.store
    attached = set(lab.evaluation_or_404(evaluation).runs) if evaluation else None
    found = []
    for run in reversed(store.runs()):
        if meter and meter not in json.loads(run.meters) or procedure and procedure != run.procedure_id:
            continue
        if since and run.created_at[:10] < since or attached is not None and run.id not in attached:
            continue
        result = run_result(store, run.id)
        if verdict and result["verdict"] != verdict:
            continue
        if pending and not (result["state"] == "completed" and missing_sign_offs(store, run.id)):
            continue
        found.append(result)
    return found


@router.get("/", response_class=HTMLResponse)
def runs_page(lab: LabOf, session: Who, meter: str = "", procedure: str = "", verdict: str = "", since: str = "",
              evaluation: str = "", pending: str = "") -> str:
    query = {"meter": meter, "procedure": procedure, "verdict": verdict, "since": since, "evaluation": evaluation,
             "pending": pending}
    return pages.runs_list(search(lab, **query), query, **who(session))


@router.get("/api/runs")
def runs_api(lab: LabOf, session: Who, meter: str = "", procedure: str = "", verdict: str = "", since: str = "",
             evaluation: str = "", pending: str = "") -> list[dict[str, Any]]:
    return [{k: r[k] for k in RUN_FIELDS} for r in search(lab, meter, procedure, verdict, since, evaluation, pending)]


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_view(run_id: str, lab: LabOf, session: Who, signed: str = "") -> str:
    lab.result_or_404(run_id)
    return pages.run_page(lab.store, run_id, missing_sign_offs(lab.store, run_id),
                          f"Signed off as {signed}." if signed else "", **who(session))


@router.get("/api/runs/{run_id}")
def run_api(run_id: str, lab: LabOf, session: Who) -> Response:
    return Response(pages.as_json(lab.result_or_404(run_id)), media_type="application/json")


@router.post("/runs/{run_id}/sign")
def sign(run_id: str, lab: LabOf, session: Who, role: Annotated[str, Form()], csrf: Annotated[str, Form()] = "",
         comment: Annotated[str, Form()] = "") -> Response:
    checked(session, csrf)
    lab.result_or_404(run_id)
    try:
        sign_off(lab.store, run_id, users(lab.store)[session.user], role, comment)
    except SignOffError as exc:
        return HTMLResponse(pages.refused("Sign-off refused", str(exc), f"/runs/{run_id}", **who(session)),
                            status_code=409)
    return RedirectResponse(f"/runs/{run_id}?signed={role}", status_code=303)


@router.get("/runs/{run_id}/points/{seq}", response_class=HTMLResponse)
def point(run_id: str, seq: int, lab: LabOf, session: Who, meter: str = "") -> str:
    lab.result_or_404(run_id)
    entries = {e.seq: e for e in lab.store.entries(run_id)}
    if seq not in entries or entries[seq].kind != "measurement":
        raise HTTPException(404, f"entry {seq} is not a measurement of run {run_id}")
    measurement = entries[seq].payload
    found = [m for m in measurement["meters"] if m["meter_serial"] == meter] or measurement["meters"][:1]
    following = entries.get(seq + 1)  # the I/O is appended with its measurement, right after it
    io = following.payload if following is not None and following.kind == "io" else []
    return pages.point_page(run_id, measurement, found[0], io, seq, **who(session))


@router.post("/runs/{run_id}/resume")
def resume(run_id: str, lab: LabOf, session: Who, csrf: Annotated[str, Form()] = "") -> Response:
    checked(session, csrf)
    lab.result_or_404(run_id)
    if lab.store.run(run_id).procedure_id == FUZZ_CAMPAIGN:
        return HTMLResponse(pages.refused("Resume refused", f"run {run_id} is an interface fuzz campaign: resume it "
                                          f"at the bench with `meterlab resume {run_id}`", f"/runs/{run_id}",
                                          **who(session)), status_code=409)
    try:
        lab.benches.resume(run_id, session.user)
    except MeterlabError as exc:
        return HTMLResponse(pages.refused("Resume refused", str(exc), f"/runs/{run_id}", **who(session)),
                            status_code=409)
    return RedirectResponse(f"/runs/{run_id}/live", status_code=303)


@router.get("/runs/{run_id}/report.{fmt}")
def report(run_id: str, fmt: str, lab: LabOf, session: Who) -> Response:
    result = lab.result_or_404(run_id)
    if lab.store.run(run_id).procedure_id == FUZZ_CAMPAIGN:  # an interface fuzz campaign: its own report
        if fmt not in pages.CAMPAIGN_REPORT_FORMATS:
            raise HTTPException(404, f"no {fmt} report of a fuzz campaign: html, pdf or json")
        report = fuzz_report(lab.store, run_id)
        if fmt == "pdf":
            return Response(render_fuzz_pdf(report), media_type="application/pdf",
                            headers={"Content-Disposition": f'attachment; filename="fuzz-{run_id}.pdf"'})
        return HTMLResponse(render_fuzz_html(report)) if fmt == "html" else Response(
            pages.as_json(report), media_type="application/json")
    if fmt == "html":
        return HTMLResponse(document.render_html(lab.store, run_id))
    if fmt == "pdf":
        return Response(document.render_pdf(lab.store, run_id), media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{run_id}.pdf"'})
    if fmt == "json":
        return Response(pages.as_json(result), media_type="application/json")
    if fmt == "csv":
        return Response(document.render_csv(lab.store, run_id), media_type="text/csv")
    if fmt == "dcc.xml":  # PTB Digital Calibration Certificate XML, validated against the shipped schema
        return Response(run_dcc(lab.store, run_id), media_type="application/xml",
                        headers={"Content-Disposition": f'attachment; filename="{run_id}.dcc.xml"'})
    raise HTTPException(404, f"no {fmt} report: html, pdf, json, csv or dcc.xml")


@router.get("/runs/{run_id}/curve.png")
def curve(run_id: str, lab: LabOf, session: Who) -> Response:
    lab.result_or_404(run_id)
    return Response(pages.curve_png(lab.store, run_id), media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/compare", response_class=HTMLResponse)
def compare_page(lab: LabOf, session: Who, first: str = "", second: str = "", meter: str = "") -> str:
    return pages.compare_page(first, second, meter, **who(session))


@router.get("/compare.png")
def compare_png(lab: LabOf, session: Who, first: str, second: str, meter: str = "") -> Response:
    lab.result_or_404(first), lab.result_or_404(second)
    try:
        png, _ = comparison_png(lab.store, first, second, meter or None)
    except MeterlabError as exc:
        raise HTTPException(404, str(exc)) from None
    return Response(png, media_type="image/png")
