"""Runs started from the console: each runs in a worker thread of the console's process, through the engine
like `meterlab run` (the bench's lease, the journal, the safe state on abort), with its operator prompts handed
to the page and its events kept for the page's live view (Server-Sent Events)."""

import itertools
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meterlab.calibration.register import Register
from meterlab.engine.control import RunControl
from meterlab.engine.events import Event, EventBus
from meterlab.engine.prompts import Answer, HandOffPrompter, Question, parse_confirm, parse_value
from meterlab.engine.session import DEFAULT_CLOCK_SCALE, create_run, execute, load_inputs
from meterlab.errors import MeterlabError
from meterlab.records import evaluations, leases
from meterlab.records.laboratory import LABORATORY_FILE, load_laboratory
from meterlab.records.store import Store
from meterlab.sim.scenario import default_scenario

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


class Benches:
    """The console's runs in progress, by run id."""

    def __init__(self, store: Store, calibration_dir: Path):
        self.store, self.calibration_dir = store, calibration_dir
        self.runs: dict[str, LiveRun] = {}

    def start(self, procedure: Path, meters: list[Path], bench: Path, operator: str,
              evaluation: str | None = None, clock_scale: float | None = None) -> LiveRun:
        """Create the run and start it; refused before anything is recorded if the bench is busy."""
        register = Register.load(self.calibration_dir)
        inputs = load_inputs(procedure, meters, bench, default_scenario(bench), follow_declarations=True)
        if evaluation:
            evaluations.check_run_fits(evaluations.get(self.store, evaluation), inputs.procedure.id,
                                       list(inputs.declarations))
        held = leases.holder(self.store, inputs.bench.bench)
        if held is not None:
            raise leases.BenchBusy(f"bench {inputs.bench.bench} is busy: run {held.run_id} is driven by "
                                   f"{held.holder.rsplit(' [', 1)[0]} since {held.since[:19]} UTC")
        run_id = create_run(self.store, inputs, operator=operator, register=register,
                            clock_scale=clock_scale or DEFAULT_CLOCK_SCALE,
                            laboratory=load_laboratory(LABORATORY_FILE) if LABORATORY_FILE.is_file() else None,
                            operator_authenticated=True)  # the console's logged-in user
        if evaluation:
            evaluations.attach(self.store, evaluation, run_id)
        live = LiveRun(run_id, inputs.bench.bench, operator)
        live.thread = threading.Thread(target=self._execute, args=(live, register), name=f"run-{run_id}", daemon=True)
        self.runs[run_id] = live
        live.thread.start()
        return live

    def resume(self, run_id: str, operator: str) -> LiveRun:
        """Go on with an interrupted run (its process died) from where its journal ends."""
        header = next(self.store.entries(run_id, kinds=["run_created"])).payload
        held = leases.holder(self.store, header["bench"]["name"])
        if held is not None:
            raise leases.BenchBusy(f"bench {header['bench']['name']} is busy: run {held.run_id} is driven by "
                                   f"{held.holder.rsplit(' [', 1)[0]}")
        live = LiveRun(run_id, header["bench"]["name"], operator)
        live.thread = threading.Thread(target=self._execute, args=(live, Register.load(self.calibration_dir)),
                                       name=f"run-{run_id}", daemon=True)
        self.runs[run_id] = live
        live.thread.start()
        return live

    def _execute(self, live: LiveRun, register: Register) -> None:
        try:
            state = execute(self.store, live.run_id, prompter=live.prompter, bus=live.bus, control=live.control,
                            register=register)
            live.state = state.value
            if state.value in ("failed", "aborted"):  # why, as the record says it
                last = [e.payload for e in self.store.entries(live.run_id, kinds=["state"])][-1]
                live.error = last.get("error") or last.get("reason")
        except MeterlabError as exc:
            live.state, live.error = "failed", str(exc)
        finally:
            with live.changed:
                live.changed.notify_all()

    def answer(self, run_id: str, user: str, confirmed: str | None, value: str | None) -> str | None:
        """Answer the run's waiting question as `user`; the reason if the answer is refused (None = taken)."""
        live = self.runs[run_id]
        question: Question | None = live.prompter.pending()
        if question is None:
            return "no question is waiting (answered from elsewhere, or withdrawn)"
        if question.value_name is None:
            ok = parse_confirm(confirmed or "")
            if ok is None:
                return f"answer yes or no, not {confirmed!r}"
            live.prompter.answer(question, Answer(ok, None, user))
            return None
        number, why = parse_value(value or "", question)
        if why is not None:
            return why
        live.prompter.answer(question, Answer(True, number, user))
        return None
