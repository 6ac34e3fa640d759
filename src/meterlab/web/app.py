"""The console's FastAPI application: pages for people, the same data as JSON under /api/ for a LIMS (FastAPI
documents it at /docs). Everything needs a login with a user of the records (`meterlab users add`); every
form carries the session's CSRF token; every sign-off is recorded with the logged-in user."""


import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

from meterlab.calibration.register import Register
from meterlab.engine.session import MAX_CLOCK_SCALE
from meterlab.errors import MeterlabError
from meterlab.records import evaluations
from meterlab.records.people import SignOffError, authenticate, missing_sign_offs, sign_off, users
from meterlab.records.store import Store, StoreError
from meterlab.reports import document, dossier
from meterlab.reports.results import run_result
from meterlab.web import pages
from meterlab.web.live import Benches, LiveRun
from meterlab.web.sessions import COOKIE, Login, Sessions, csrf_ok


class LoginRequired(Exception):
    """A page asked for without a session: the browser goes to the login page."""


def create_app(store: Store, *, calibration_dir: Path = Path("calibration")) -> FastAPI:
    app = FastAPI(title="meterlab console", description="Runs, results, sign-off, records, calibration and type "
                  "evaluations of a meterlab laboratory. Log in at /login first (a session cookie).")
    sessions = Sessions()
    benches = Benches(store, calibration_dir)
    app.state.benches = benches

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "log in first (POST /login with name and password)"}, status_code=401)
        return RedirectResponse("/login", status_code=303)

    def login(request: Request) -> Login:
        found = sessions.get(request.cookies.get(COOKIE))
        if found is None:
            raise LoginRequired()
        return found

    Who = Annotated[Login, Depends(login)]

    def who(session: Login) -> dict[str, Any]:
        return {"user": session.user, "csrf": session.csrf}

    def checked(session: Login, csrf: str) -> None:
        if not csrf_ok(session, csrf):
            raise HTTPException(403, "the form is stale or forged (CSRF token): reload the page and try again")

    def result_or_404(run_id: str) -> dict[str, Any]:
        try:
            return run_result(store, run_id)
        except StoreError as exc:
            raise HTTPException(404, str(exc)) from None

    # ------------------------------------------------------------------------------------------- login
    @app.get("/login", response_class=HTMLResponse)
    def login_page() -> str:
        return pages.login_form()

    @app.post("/login")
    def do_login(name: Annotated[str, Form()], password: Annotated[str, Form()]) -> Response:
        try:
            user = authenticate(store, name, password)
        except MeterlabError as exc:
            return HTMLResponse(pages.login_form(str(exc)), status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, sessions.open(user.name, user.roles), httponly=True, samesite="strict")
        return response

    @app.post("/logout")
    def do_logout(request: Request, session: Who, csrf: Annotated[str, Form()] = "") -> Response:
        checked(session, csrf)
        sessions.close(request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    # -------------------------------------------------------------------------------------------- runs
    def search(meter: str = "", procedure: str = "", verdict: str = "", since: str = "", evaluation: str = "",
               pending: str = "") -> list[dict[str, Any]]:
        """Runs newest first, filtered by meter, procedure, verdict, creation date, evaluation, and (pending) those
        ended but not yet released by the sign-off policy."""
        attached = set(evaluation_or_404(evaluation).runs) if evaluation else None
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

    @app.get("/", response_class=HTMLResponse)
    def runs_page(session: Who, meter: str = "", procedure: str = "", verdict: str = "", since: str = "",
                  evaluation: str = "", pending: str = "") -> str:
        query = {"meter": meter, "procedure": procedure, "verdict": verdict, "since": since,
                 "evaluation": evaluation, "pending": pending}
        return pages.runs_list(search(**query), query, **who(session))

    @app.get("/api/runs")
    def runs_api(session: Who, meter: str = "", procedure: str = "", verdict: str = "", since: str = "",
                 evaluation: str = "", pending: str = "") -> list[dict[str, Any]]:
        return [{k: r[k] for k in ("id", "created_at", "procedure", "meters", "operator", "state", "verdict")}
                for r in search(meter, procedure, verdict, since, evaluation, pending)]

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_view(run_id: str, session: Who, signed: str = "") -> str:
        result_or_404(run_id)
        return pages.run_page(store, run_id, missing_sign_offs(store, run_id),
                              f"Signed off as {signed}." if signed else "", **who(session))

    @app.get("/api/runs/{run_id}")
    def run_api(run_id: str, session: Who) -> Response:
        return Response(pages.as_json(result_or_404(run_id)), media_type="application/json")

    @app.post("/runs/{run_id}/sign")
    def sign(run_id: str, session: Who, role: Annotated[str, Form()], csrf: Annotated[str, Form()] = "",
             comment: Annotated[str, Form()] = "") -> Response:
        checked(session, csrf)
        result_or_404(run_id)
        user = users(store)[session.user]
        try:
            sign_off(store, run_id, user, role, comment)
        except SignOffError as exc:
            return HTMLResponse(pages.page("Sign-off refused", f'<p class="error">{pages.esc(str(exc))}</p>'
                                           f'<p><a href="/runs/{pages.esc(run_id)}">back to the run</a></p>',
                                           **who(session)), status_code=409)
        return RedirectResponse(f"/runs/{run_id}?signed={role}", status_code=303)

    @app.get("/runs/{run_id}/points/{seq}", response_class=HTMLResponse)
    def point(run_id: str, seq: int, session: Who, meter: str = "") -> str:
        result_or_404(run_id)
        entries = {e.seq: e for e in store.entries(run_id)}
        if seq not in entries or entries[seq].kind != "measurement":
            raise HTTPException(404, f"entry {seq} is not a measurement of run {run_id}")
        measurement = entries[seq].payload
        found = [m for m in measurement["meters"] if m["meter_serial"] == meter] or measurement["meters"][:1]
        following = entries.get(seq + 1)  # the I/O is appended with its measurement, right after it
        io = following.payload if following is not None and following.kind == "io" else []
        return pages.point_page(run_id, measurement, found[0], io, seq, **who(session))

    @app.post("/runs/{run_id}/resume")
    def resume(run_id: str, session: Who, csrf: Annotated[str, Form()] = "") -> Response:
        checked(session, csrf)
        result_or_404(run_id)
        try:
            benches.resume(run_id, session.user)
        except MeterlabError as exc:
            return HTMLResponse(pages.page("Resume refused", f'<p class="error">{pages.esc(str(exc))}</p>',
                                           **who(session)), status_code=409)
        return RedirectResponse(f"/runs/{run_id}/live", status_code=303)

    @app.get("/runs/{run_id}/report.{fmt}")
    def report(run_id: str, fmt: str, session: Who) -> Response:
        result = result_or_404(run_id)
        if fmt == "html":
            return HTMLResponse(document.render_html(store, run_id))
        if fmt == "pdf":
            return Response(document.render_pdf(store, run_id), media_type="application/pdf",
                            headers={"Content-Disposition": f'attachment; filename="{run_id}.pdf"'})
        if fmt == "json":
            return Response(pages.as_json(result), media_type="application/json")
        if fmt == "csv":
            return Response(document.render_csv(store, run_id), media_type="text/csv")
        raise HTTPException(404, f"no {fmt} report: html, pdf, json or csv")

    # ---------------------------------------------------------------------------- runs from the console

    def choices() -> dict[str, list[str]]:
        return {"procedures": sorted(str(p) for p in Path("procedures").glob("r*/*.yaml")),
                "meters": sorted(str(p) for p in Path("examples/meters").glob("*.yaml")),
                "benches": sorted(str(p) for p in Path("instruments").glob("*.yaml")
                                  if p.read_text(encoding="utf-8").startswith("bench:")
                                  or "\nbench:" in p.read_text(encoding="utf-8"))}

    def live_or_404(run_id: str) -> LiveRun:
        if run_id not in benches.runs:
            raise HTTPException(404, f"run {run_id} was not started from this console (see /runs/{run_id})")
        return benches.runs[run_id]

    @app.get("/start", response_class=HTMLResponse)
    def start_page(session: Who) -> str:
        return pages.start_form(**choices(), **who(session))

    @app.post("/start")
    def start(session: Who, procedure: Annotated[str, Form()], bench: Annotated[str, Form()],
              meter: Annotated[list[str], Form()], csrf: Annotated[str, Form()] = "",
              evaluation: Annotated[str, Form()] = "", clock_scale: Annotated[str, Form()] = "") -> Response:
        checked(session, csrf)
        try:
            scale = float(clock_scale) if clock_scale.strip() else None
            if scale is not None and not 0 < scale <= MAX_CLOCK_SCALE:
                raise MeterlabError(f"clock scale {clock_scale}: simulated seconds per real second, above 0 and at "
                                    f"most {MAX_CLOCK_SCALE:g}")
            live = benches.start(Path(procedure), [Path(m) for m in meter], Path(bench), session.user,
                                 evaluation.strip() or None, scale)
        except ValueError:
            return HTMLResponse(pages.start_form(**choices(), message=f"clock scale {clock_scale!r} is not a number",
                                                 **who(session)), status_code=422)
        except MeterlabError as exc:
            return HTMLResponse(pages.start_form(**choices(), message=str(exc), **who(session)), status_code=409)
        return RedirectResponse(f"/runs/{live.run_id}/live", status_code=303)

    @app.get("/runs/{run_id}/live", response_class=HTMLResponse)
    def live_view(run_id: str, session: Who) -> str:
        live_or_404(run_id)
        return pages.live_page(run_id, **who(session))

    @app.get("/api/runs/{run_id}/live")
    def live_api(run_id: str, session: Who) -> dict[str, Any]:
        return live_or_404(run_id).snapshot()

    @app.get("/runs/{run_id}/events")
    def live_events(run_id: str, session: Who) -> StreamingResponse:
        live = live_or_404(run_id)

        def stream():
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

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/runs/{run_id}/curve.png")
    def curve(run_id: str, session: Who) -> Response:
        result_or_404(run_id)
        return Response(pages.curve_png(store, run_id), media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.post("/runs/{run_id}/answer")
    def answer(run_id: str, session: Who, csrf: Annotated[str, Form()] = "",
               confirmed: Annotated[str | None, Form()] = None, value: Annotated[str | None, Form()] = None) -> Response:
        checked(session, csrf)
        live_or_404(run_id)
        refused = benches.answer(run_id, session.user, confirmed, value)
        if refused:
            return HTMLResponse(pages.page("Answer refused", f'<p class="error">{pages.esc(refused)}</p><p><a href='
                                           f'"/runs/{pages.esc(run_id)}/live">back to the run</a></p>', **who(session)),
                                status_code=422)
        return RedirectResponse(f"/runs/{run_id}/live", status_code=303)

    @app.post("/runs/{run_id}/control")
    def control(run_id: str, session: Who, action: Annotated[str, Form()], csrf: Annotated[str, Form()] = "") -> Response:
        checked(session, csrf)
        live = live_or_404(run_id)
        if action not in ("pause", "resume", "abort"):
            raise HTTPException(422, f"{action!r}: pause, resume or abort")
        getattr(live.control, action)()
        return RedirectResponse(f"/runs/{run_id}/live", status_code=303)

    # -------------------------------------------------------------------------- records and calibration
    @app.get("/records", response_class=HTMLResponse)
    def records(session: Who) -> str:
        return pages.records_page(store.url, store.verify(), store.head(), **who(session))

    @app.get("/api/verify")
    def verify_api(session: Who) -> dict[str, Any]:
        seq, head = store.head()
        return {"intact": not (problems := store.verify()), "problems": problems, "head": f"{seq}:{head}"}

    def register_rows() -> list[dict[str, Any]]:
        today = dt.date.today()
        rows = []
        for c in Register.load(calibration_dir):
            status = "simulated laboratory" if c.simulated else (
                "expired" if c.due_date < today else f"due in {(c.due_date - today).days} days")
            rows.append({"id": c.id, "description": c.description, "certificate": c.certificate.number,
                         "issued_by": c.certificate.issued_by, "due": str(c.due_date), "status": status})
        return rows

    @app.get("/calibration", response_class=HTMLResponse)
    def calibration(session: Who) -> str:
        return pages.calibration_page(register_rows(), **who(session))

    @app.get("/api/calibration")
    def calibration_api(session: Who) -> list[dict[str, Any]]:
        return register_rows()

    # ------------------------------------------------------------------------------------- evaluations
    def evaluation_or_404(evaluation_id: str) -> evaluations.Evaluation:
        try:
            return evaluations.get(store, evaluation_id)
        except MeterlabError as exc:
            raise HTTPException(404, str(exc)) from None

    @app.get("/evaluations", response_class=HTMLResponse)
    def evaluations_list(session: Who) -> str:
        rows = [{"id": e.payload["evaluation"], "name": e.payload["type"]["name"],
                 "standard": e.payload["type"]["standard"],
                 "samples": [s["serial"] for s in e.payload["type"]["samples"]]}
                for e in store.store_entries(kinds=[evaluations.CREATED])]
        return pages.evaluations_page(rows, **who(session))

    @app.get("/evaluations/{evaluation_id}", response_class=HTMLResponse)
    def evaluation_view(evaluation_id: str, session: Who) -> str:
        evaluation = evaluation_or_404(evaluation_id)
        rows = dossier.item_status(store, evaluation)
        return pages.evaluation_page(evaluation_id, evaluation.type["name"], rows, dossier.summary(rows),
                                     **who(session))

    @app.get("/api/evaluations/{evaluation_id}")
    def evaluation_api(evaluation_id: str, session: Who) -> Response:
        evaluation = evaluation_or_404(evaluation_id)
        rows = dossier.item_status(store, evaluation)
        return Response(pages.as_json({"id": evaluation_id, "type": evaluation.type, "verdict": dossier.summary(rows),
                                       "items": [{**r, "run": r["run"]["id"] if r["run"] else None} for r in rows]}),
                        media_type="application/json")

    @app.get("/evaluations/{evaluation_id}/dossier.html", response_class=HTMLResponse)
    def evaluation_dossier(evaluation_id: str, session: Who) -> str:
        return dossier.render_html(store, evaluation_or_404(evaluation_id))

    return app
