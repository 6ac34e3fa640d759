"""Runs the console starts on a bench served by a bench process (`meterlab bench start BENCH`): the process
drives the run, the console shows it and passes on what people do, through the desk in the records database
(records/bench_desk.py).

- `Station` is the bench process: it registers as the bench's station, takes the console's start and resume
  requests one run at a time (under the bench's lease, like any run), applies the answers and the pause /
  resume / abort requests to the run it drives, and publishes what the console shows of it.
- `RemoteRun` is the console's side: it looks like a run in the console's own process (`LiveRun`: a snapshot,
  its events, a control, a prompter), so the pages and the API serve both alike.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Any

from meterlab.calibration.register import Register
from meterlab.engine.prompts import Answer, Question
from meterlab.errors import MeterlabError
from meterlab.records import bench_desk, leases
from meterlab.records.store import Store
from meterlab.web.live import KEPT_EVENTS, LiveRun, drive

POLL_S = 0.2       # how often each side looks at the desk
HEARTBEAT_S = 5.0  # a station's heartbeat (leases.STALE_AFTER_S takes it for dead elsewhere)
ENDED = ("completed", "failed", "aborted", "interrupted")


# ------------------------------------------------------------------------------------------- console side
class RemoteControl:
    """Pause, resume and abort of a run a bench process drives: requests on the desk."""

    def __init__(self, store: Store, bench: str, run_id: str, user: str):
        self.store, self.bench, self.run_id, self.user = store, bench, run_id, user

    def _post(self, kind: str) -> None:
        bench_desk.post(self.store, self.bench, self.run_id, kind, self.user)

    def pause(self) -> None:
        self._post("pause")

    def resume(self) -> None:
        self._post("resume")

    def abort(self) -> None:
        self._post("abort")


class RemotePrompter:
    """The question the bench process shows, and the answer passed on to it (with the question's text, so an
    answer never reaches another question)."""

    def __init__(self, run: RemoteRun):
        self.run = run

    def pending(self) -> Question | None:
        question = self.run.shown.get("question")
        return None if question is None else Question(**question)

    def answer(self, question: Question, answer: Answer) -> None:
        bench_desk.post(self.run.store, self.run.bench, self.run.run_id, "answer", answer.answered_by,
                        {"question": question.text, "confirmed": answer.confirmed, "value": answer.value})


class RemoteRun:
    """The console's view of a run a bench process drives, refreshed from the desk by a watcher thread."""

    def __init__(self, store: Store, bench: str, run_id: str, operator: str):
        self.store, self.bench, self.run_id, self.operator = store, bench, run_id, operator
        self.control = RemoteControl(store, bench, run_id, operator)
        self.prompter = RemotePrompter(self)
        self.events: deque = deque(maxlen=KEPT_EVENTS)
        self.changed = threading.Condition()
        self.shown: dict[str, Any] = {}
        self.state, self.error = "starting", None
        self.thread = threading.Thread(target=self._watch, name=f"watch-{run_id}", daemon=True)
        self.thread.start()

    def snapshot(self) -> dict[str, Any]:
        with self.changed:
            return {**self.shown, "run": self.run_id, "state": self.state, "error": self.error,
                    "question": self.shown.get("question"), "bench_process": True}

    def _watch(self) -> None:
        seen = -1
        while self.state not in ENDED:
            shown = bench_desk.shown(self.store, self.run_id) or {}
            fresh = bench_desk.events_after(self.store, self.run_id, seen)
            with self.changed:
                self.shown = shown
                self.events.extend(fresh)
                seen = fresh[-1]["n"] if fresh else seen
                self.state = shown.get("state", self.state)
                self.error = shown.get("error")
                if self.state not in ENDED and self._abandoned(shown):
                    self.state, self.error = "interrupted", "the bench process serving the bench stopped"
                self.changed.notify_all()
            threading.Event().wait(POLL_S)

    def _abandoned(self, shown: dict) -> bool:
        """The station is gone and nothing drives the run any more."""
        if bench_desk.station(self.store, self.bench) is not None:
            return False
        return not shown or leases.interrupted(self.store, self.run_id)


# ------------------------------------------------------------------------------------------- bench process
class Station:
    """A bench process: serves the console's runs on one bench until stopped."""

    def __init__(self, store: Store, bench: str, bench_file: Path, calibration_dir: Path):
        self.store, self.bench, self.bench_file, self.calibration_dir = store, bench, bench_file, calibration_dir
        self.stopping = threading.Event()
        self.current: LiveRun | None = None

    def serve(self, on_run=lambda run_id, state: None, on_ready=lambda: None) -> None:
        """Until `stop()`: take start and resume requests for this bench and drive each run to its end.
        `on_ready` is called once the bench is registered as served (the console sends its runs here from then)."""
        bench_desk.register(self.store, self.bench, str(self.bench_file))
        on_ready()
        beat = threading.Thread(target=self._heartbeat, name=f"station-{self.bench}", daemon=True)
        beat.start()
        try:
            while not self.stopping.is_set():
                for request in bench_desk.take(self.store, self.bench, kinds=("start", "resume_run")):
                    if self.stopping.is_set():
                        break
                    on_run(request["run_id"], self._drive(request))
                self.stopping.wait(POLL_S)
        finally:
            self.stopping.set()
            beat.join(timeout=HEARTBEAT_S + 1)
            bench_desk.unregister(self.store, self.bench)

    def stop(self) -> None:
        """Stop taking requests; a run in progress is aborted to its safe state (serve returns after it)."""
        self.stopping.set()
        if self.current is not None:
            self.current.control.abort()

    def _heartbeat(self) -> None:
        while not self.stopping.wait(HEARTBEAT_S):
            try:
                bench_desk.heartbeat(self.store, self.bench)
            except Exception:  # noqa: BLE001 - a missed beat is retried; the run must not stop for it
                continue

    def _drive(self, request: dict) -> str:
        run_id = request["run_id"]
        live = LiveRun(run_id, self.bench, request["sender"])
        self.current = live
        try:
            register = Register.load(self.calibration_dir)
        except MeterlabError as exc:
            live.state, live.error = "failed", str(exc)
            self._publish(live)
            return live.state
        worker = threading.Thread(target=drive, args=(self.store, live, register), name=f"run-{run_id}")
        worker.start()
        published = None
        while worker.is_alive():
            self._apply(live, bench_desk.take(self.store, self.bench, run_id=run_id,
                                              kinds=("answer", "pause", "resume", "abort")))
            published = self._publish(live, published)
            worker.join(POLL_S)
        if live.state not in ENDED:  # the engine raised what it does not record (a bug): say so, never "running"
            live.state, live.error = "failed", live.error or "the run stopped unexpectedly: see the bench process"
        self._publish(live, published)
        self.current = None
        return live.state

    @staticmethod
    def _apply(live: LiveRun, requests: list[dict]) -> None:
        for request in requests:
            if request["kind"] == "answer":
                question, payload = live.prompter.pending(), request["payload"]
                if question is not None and question.text == payload["question"]:
                    live.prompter.answer(question, Answer(payload["confirmed"], payload["value"], request["sender"]))
            else:
                getattr(live.control, request["kind"])()

    def _publish(self, live: LiveRun, last: Any = None) -> Any:
        """Publish the run's snapshot and its events not yet published, if anything changed since `last`; the
        new mark (the last event published, and what the console shows besides)."""
        published_n = -1 if last is None else last[0]
        with live.changed:
            fresh = [e for e in live.events if e["n"] > published_n]
        snapshot = live.snapshot()
        mark = (fresh[-1]["n"] if fresh else published_n, snapshot["state"], snapshot["question"] is None,
                snapshot["error"])
        if mark != last:
            bench_desk.publish(self.store, self.bench, live.run_id, snapshot, fresh)
        return mark
