"""Events a run streams to its listeners (console progress, the store, later a web console)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    kind: str          # state, action_started, action_done, measurement, suspended, resumed, message, conditions,
                       # collected (the reference's progress through a measurement)
    run_id: str
    data: dict[str, Any] = field(default_factory=dict)


class Listener(Protocol):
    def __call__(self, event: Event) -> None: ...


class EventBus:
    """Fan-out to listeners; a failing listener is reported once and never stops the run."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self.listener_errors: list[str] = []

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def emit(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception as exc:  # noqa: BLE001 - a display bug must not lose a measurement
                self.listener_errors.append(f"{listener!r}: {exc}")
