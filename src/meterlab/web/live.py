"""A run in progress as the console shows it: driven by a worker thread (of the console's process, or of the
bench process serving the bench) through the engine like `meterlab run` (the bench's lease, the journal, the
safe state on abort), with its operator prompts handed over and its events kept for the live view."""

import itertools
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from meterlab.calibration.register import Register
from meterlab.engine.control import RunControl
from meterlab.engine.events import Event, EventBus
from meterlab.engine.prompts import HandOffPrompter
from meterlab.engine.session import execute
from meterlab.errors import MeterlabError
from meterlab.records.store import Store

KEPT_EVENTS = 500  # the page's live log shows the latest; the record keeps everything


@dataclass
class LiveRun:
    run_id: str
    bench: str
    operator: str
    control: RunControl = field(default_factory=RunControl)
    bus: EventBus = field(default_factory=EventBus)
    events: deque = field(default_factory=lambda: deque(maxlen=KEPT_EVENTS))
    changed: threading.Condition = field(default_factory=threading.Condition)
    state: str = "starting"
    error: str | None = None
    thread: threading.Thread | None = None
    numbers: Any = field(default_factory=itertools.count)
    now: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.prompter = HandOffPrompter(self.control)
        self.bus.subscribe(self._keep)

    def _keep(self, event: Event) -> None:
        with self.changed:
            if event.kind == "state":
                self.state = event.data.get("state", self.state)
            if event.kind in ("action_started", "collected", "conditions"):
                self.now[event.kind] = event.data  # the live panel: what is done, how far, the conditions
            self.events.append({"n": next(self.numbers), "kind": event.kind, "data": event.data})
            self.changed.notify_all()

    def snapshot(self) -> dict[str, Any]:
        question = self.prompter.pending()
        with self.changed:
            return {"run": self.run_id, "state": self.state, "error": self.error,
                    "question": None if question is None else question.__dict__,
                    "last": list(self.events)[-12:], "n": self.events[-1]["n"] if self.events else 0,
                    "now": dict(self.now)}


def drive(store: Store, live: LiveRun, register: Register) -> None:
    """Execute the run through the engine (in a worker thread), keeping its state and why it ended."""
    try:
        state = execute(store, live.run_id, prompter=live.prompter, bus=live.bus, control=live.control,
                        register=register)
        live.state = state.value
        if state.value in ("failed", "aborted"):  # why, as the record says it
            last = [e.payload for e in store.entries(live.run_id, kinds=["state"])][-1]
            live.error = last.get("error") or last.get("reason")
    except MeterlabError as exc:
        live.state, live.error = "failed", str(exc)
    finally:
        with live.changed:
            live.changed.notify_all()
