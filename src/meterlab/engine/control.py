"""A run's states and the operator's requests: the state machine's transitions, and the thread-safe pause /
resume / abort requests the runner honours at its safe points (the console and the measurement's prompts
make them)."""

from __future__ import annotations

import threading
from enum import Enum

from meterlab.errors import MeterlabError


class RunState(str, Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    ABORTED = "aborted"
    FAILED = "failed"


TRANSITIONS: dict[RunState, set[RunState]] = {
    RunState.IDLE: {RunState.RUNNING, RunState.ABORTED},
    RunState.RUNNING: {RunState.PAUSED, RunState.COMPLETED, RunState.ABORTED, RunState.FAILED},
    RunState.PAUSED: {RunState.RUNNING, RunState.ABORTED, RunState.FAILED},
    RunState.COMPLETED: set(),
    RunState.ABORTED: set(),
    RunState.FAILED: set(),
}


class InvalidTransition(MeterlabError):
    pass


class AbortRequested(MeterlabError):
    """Raised at a safe point when the operator asked to abort."""


class RunControl:
    """Thread-safe pause/resume/abort requests, honoured by the runner at safe points."""

    def __init__(self) -> None:
        self._resume = threading.Event()
        self._resume.set()
        self._abort = threading.Event()

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    def abort(self) -> None:
        self._abort.set()
        self._resume.set()

    @property
    def pause_requested(self) -> bool:
        return not self._resume.is_set()

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    def wait_resume(self, timeout_s: float) -> bool:
        return self._resume.wait(timeout_s)
