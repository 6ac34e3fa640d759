"""Runs started from the console: the start form, a run's live page and its event stream, answers to its
prompts, pause / resume / abort."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from meterlab.engine.session import MAX_CLOCK_SCALE
from meterlab.errors import MeterlabError
from meterlab.web import pages
from meterlab.web.context import LabOf, Who, checked, who
from meterlab.web.live import LiveRun
from meterlab.web.stations import RemoteRun

router = APIRouter()
CONTROLS = ("pause", "resume", "abort")


def choices() -> dict[str, list[str]]:
    """The laboratory's files the start form offers, from the console's working directory."""
    benches = [p for p in Path("instruments").glob("*.yaml") if "\nbench:" in "\n" + p.read_text(encoding="utf-8")]
    return {"procedures": sorted(str(p) for p in Path("procedures").glob("r*/*.yaml")),
            "meters": sorted(str(p) for p in Path("examples/meters").glob("*.yaml")),
            "benches": sorted(str(p) for p in benches)}


def _clock_scale(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        scale = float(text)
    except ValueError:
        raise MeterlabError(f"clock scale {text!r} is not a number") from None
    if not 0 < scale <= MAX_CLOCK_SCALE:
        raise MeterlabError(f"clock scale {text}: simulated seconds per real second, above 0 and at most "
                            f"{MAX_CLOCK_SCALE:g}")
    return scale


def evaluation_choices(lab: Any, evaluation_id: str) -> dict[str, list[str]]:
    """For a run of a type evaluation: its samples' declarations, and the programmes of its plan still to do."""
    from meterlab.reports.dossier import item_status

    evaluation = lab.evaluation_or_404(evaluation_id)
    to_do = [r["procedure"] for r in item_status(lab.store, evaluation) if r["status"] != "done"]
    return {**choices(), "procedures": list(dict.fromkeys(to_do)),
            "meters": [s["meter"] for s in evaluation.type["samples"]]}


@router.get("/start", response_class=HTMLResponse)
def start_page(lab: LabOf, session: Who, evaluation: str = "") -> str:
    offered = evaluation_choices(lab, evaluation) if evaluation else choices()
    return pages.start_form(**offered, evaluation=evaluation, **who(session))


@router.post("/start")
def start(lab: LabOf, session: Who, procedure: Annotated[str, Form()], bench: Annotated[str, Form()],
          meter: Annotated[list[str], Form()], csrf: Annotated[str, Form()] = "",
          evaluation: Annotated[str, Form()] = "", clock_scale: Annotated[str, Form()] = "") -> Response:
    checked(session, csrf)
    try:
        live = lab.benches.start(Path(procedure), [Path(m) for m in meter], Path(bench), session.user,
                                 evaluation.strip() or None, _clock_scale(clock_scale))
    except MeterlabError as exc:
        return HTMLResponse(pages.start_form(**choices(), message=str(exc), **who(session)), status_code=409)
    return RedirectResponse(f"/runs/{live.run_id}/live", status_code=303)


@router.get("/runs/{run_id}/live", response_class=HTMLResponse)
def live_view(run_id: str, lab: LabOf, session: Who) -> str:
    lab.live_or_404(run_id)
    return pages.live_page(run_id, **who(session))


@router.get("/api/runs/{run_id}/live")
def live_api(run_id: str, lab: LabOf, session: Who) -> dict[str, Any]:
    return lab.live_or_404(run_id).snapshot()


def _stream(live: LiveRun | RemoteRun):
    """The run's events as Server-Sent Events, from its first, until it ends."""
    seen = -1
    while True:
        with live.changed:
            live.changed.wait_for(lambda: (live.events and live.events[-1]["n"] > seen)
                                  or live.thread is None or not live.thread.is_alive(), timeout=15)
            fresh = [e for e in live.events if e["n"] > seen]
        for event in fresh:
            seen = event["n"]
            yield f"data: {pages.as_json(event)}\n\n"
        if not fresh:
            yield ": still here\n\n"  # a comment keeps proxies from closing the stream
        if live.thread is not None and not live.thread.is_alive():
            yield f"data: {pages.as_json({'kind': 'ended', 'data': {'state': live.state}})}\n\n"
            return


@router.get("/runs/{run_id}/events")
def live_events(run_id: str, lab: LabOf, session: Who) -> StreamingResponse:
    return StreamingResponse(_stream(lab.live_or_404(run_id)), media_type="text/event-stream")


@router.post("/runs/{run_id}/answer")
def answer(run_id: str, lab: LabOf, session: Who, csrf: Annotated[str, Form()] = "",
           confirmed: Annotated[str | None, Form()] = None, value: Annotated[str | None, Form()] = None) -> Response:
    checked(session, csrf)
    lab.live_or_404(run_id)
    refused = lab.benches.answer(run_id, session.user, confirmed, value)
    if refused:
        return HTMLResponse(pages.refused("Answer refused", refused, f"/runs/{run_id}/live", **who(session)),
                            status_code=422)
    return RedirectResponse(f"/runs/{run_id}/live", status_code=303)


@router.post("/runs/{run_id}/control")
def control(run_id: str, lab: LabOf, session: Who, action: Annotated[str, Form()],
            csrf: Annotated[str, Form()] = "") -> Response:
    checked(session, csrf)
    live = lab.live_or_404(run_id)
    if action not in CONTROLS:
        raise HTTPException(422, f"{action!r}: {', '.join(CONTROLS)}")
    getattr(live.control, action)()
    return RedirectResponse(f"/runs/{run_id}/live", status_code=303)
