"""The console's FastAPI application: pages for people, the same data as JSON under /api/ for a LIMS (FastAPI
documents it at /docs). Everything needs a login with a user of the records (`meterlab users add`); every
form carries the session's CSRF token; every action is recorded with the logged-in user."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from meterlab.errors import MeterlabError
from meterlab.records.people import authenticate
from meterlab.records.store import Store
from meterlab.web import bench_routes, lab_routes, pages, run_routes
from meterlab.web.context import Lab, LabOf, LoginRequired, Who, checked
from meterlab.web.benches import Benches
from meterlab.web.sessions import COOKIE, Sessions


def create_app(store: Store, *, calibration_dir: Path = Path("calibration")) -> FastAPI:
    app = FastAPI(title="meterlab console", description="Runs, results, sign-off, records, calibration and type "
                  "evaluations of a meterlab laboratory. Log in at /login first (a session cookie).")
    app.state.lab = Lab(store, calibration_dir, Sessions(), Benches(store, calibration_dir))
    app.state.benches = app.state.lab.benches
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_api_route("/login", login_page, methods=["GET"], response_class=HTMLResponse)
    app.add_api_route("/login", do_login, methods=["POST"])
    app.add_api_route("/logout", do_logout, methods=["POST"])
    for routes in (run_routes, bench_routes, lab_routes):
        app.include_router(routes.router)
    return app


async def _to_login(request: Request, exc: LoginRequired) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": "log in first (POST /login with name and password)"}, status_code=401)
    return RedirectResponse("/login", status_code=303)


def login_page() -> str:
    return pages.login_form()


def do_login(lab: LabOf, name: Annotated[str, Form()], password: Annotated[str, Form()]) -> Response:
    try:
        user = authenticate(lab.store, name, password)
    except MeterlabError as exc:
        return HTMLResponse(pages.login_form(str(exc)), status_code=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, lab.sessions.open(user.name, user.roles), httponly=True, samesite="strict")
    return response


def do_logout(request: Request, lab: LabOf, session: Who, csrf: Annotated[str, Form()] = "") -> Response:
    checked(session, csrf)
    lab.sessions.close(request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
