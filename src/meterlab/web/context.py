"""What every route of the console needs: the laboratory it serves (records, sessions, runs in progress) and
the logged-in user, as FastAPI dependencies; and the lookups that answer 404 for what is not there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from meterlab.errors import MeterlabError
from meterlab.records import evaluations
from meterlab.records.store import Store, StoreError
from meterlab.reports.results import run_result
from meterlab.web.benches import Benches
from meterlab.web.live import LiveRun
from meterlab.web.stations import RemoteRun
from meterlab.web.sessions import COOKIE, Login, Sessions, csrf_ok


class LoginRequired(Exception):
    """A page asked for without a session: the browser goes to the login page, the API answers 401."""


@dataclass
class Lab:
    store: Store
    calibration_dir: Path
    sessions: Sessions
    benches: Benches

    def result_or_404(self, run_id: str) -> dict[str, Any]:
        try:
            return run_result(self.store, run_id)
        except StoreError as exc:
            raise HTTPException(404, str(exc)) from None

    def evaluation_or_404(self, evaluation_id: str) -> evaluations.Evaluation:
        try:
            return evaluations.get(self.store, evaluation_id)
        except MeterlabError as exc:
            raise HTTPException(404, str(exc)) from None

    def live_or_404(self, run_id: str) -> LiveRun | RemoteRun:
        if run_id not in self.benches.runs:
            raise HTTPException(404, f"run {run_id} was not started from this console (see /runs/{run_id})")
        return self.benches.runs[run_id]


def _lab(request: Request) -> Lab:
    return request.app.state.lab


def _login(request: Request) -> Login:
    found = request.app.state.lab.sessions.get(request.cookies.get(COOKIE))
    if found is None:
        raise LoginRequired()
    return found


LabOf = Annotated[Lab, Depends(_lab)]
Who = Annotated[Login, Depends(_login)]


def who(session: Login) -> dict[str, Any]:
    """What every page shows of the session: the user, and the CSRF token its forms send back."""
    return {"user": session.user, "csrf": session.csrf}


def checked(session: Login, csrf: str) -> None:
    if not csrf_ok(session, csrf):
        raise HTTPException(403, "the form is stale or forged (CSRF token): reload the page and try again")
