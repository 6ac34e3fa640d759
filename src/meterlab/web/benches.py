"""The console's runs in progress: started in the console's own process (a worker thread each), or passed to
the bench process serving the bench (`meterlab bench start`) when one is there, which then drives the run and
the console shows it (web/stations.py). Either way a run takes the bench's lease and is refused if it is busy."""

import threading
from pathlib import Path

from meterlab.calibration.register import Register
from meterlab.engine.prompts import Answer, Question, parse_confirm, parse_value
from meterlab.engine.session import DEFAULT_CLOCK_SCALE, create_run, load_inputs
from meterlab.records import bench_desk, evaluations, leases
from meterlab.records.laboratory import LABORATORY_FILE, load_laboratory
from meterlab.records.store import Store
from meterlab.sim.scenario import default_scenario
from meterlab.web.live import LiveRun, drive
from meterlab.web.stations import RemoteRun


class Benches:
    """The console's runs in progress, by run id."""

    def __init__(self, store: Store, calibration_dir: Path):
        self.store, self.calibration_dir = store, calibration_dir
        self.runs: dict[str, LiveRun | RemoteRun] = {}

    def start(self, procedure: Path, meters: list[Path], bench: Path, operator: str,
              evaluation: str | None = None, clock_scale: float | None = None) -> LiveRun | RemoteRun:
        """Create the run and start it; refused before anything is recorded if the bench is busy."""
        register = Register.load(self.calibration_dir)
        inputs = load_inputs(procedure, meters, bench, default_scenario(bench), follow_declarations=True)
        if evaluation:
            evaluations.check_run_fits(evaluations.get(self.store, evaluation), inputs.procedure.id,
                                       list(inputs.declarations))
        self._refuse_if_busy(inputs.bench.bench)
        run_id = create_run(self.store, inputs, operator=operator, register=register,
                            clock_scale=clock_scale or DEFAULT_CLOCK_SCALE,
                            laboratory=load_laboratory(LABORATORY_FILE) if LABORATORY_FILE.is_file() else None,
                            operator_authenticated=True)  # the console's logged-in user
        if evaluation:
            evaluations.attach(self.store, evaluation, run_id)
        return self._go(run_id, inputs.bench.bench, operator, "start", register)

    def resume(self, run_id: str, operator: str) -> LiveRun | RemoteRun:
        """Go on with an interrupted run (its process died) from where its journal ends."""
        header = next(self.store.entries(run_id, kinds=["run_created"])).payload
        self._refuse_if_busy(header["bench"]["name"])
        return self._go(run_id, header["bench"]["name"], operator, "resume_run", Register.load(self.calibration_dir))

    def _refuse_if_busy(self, bench: str) -> None:
        """BenchBusy naming who holds the bench, or whose run waits for its bench process."""
        held = leases.holder(self.store, bench)
        if held is not None:
            raise leases.BenchBusy(f"bench {bench} is busy: run {held.run_id} is driven by "
                                   f"{held.holder.rsplit(' [', 1)[0]} since {held.since[:19]} UTC")
        if bench_desk.station(self.store, bench) is None:
            return  # requests a dead station left untaken wait for the next one; this run goes on here
        for run_id, sender in bench_desk.waiting(self.store, bench):
            raise leases.BenchBusy(f"bench {bench} is busy: run {run_id} of {sender} waits for its bench process")

    def _go(self, run_id: str, bench: str, operator: str, request: str, register: Register) -> LiveRun | RemoteRun:
        """Pass the run to the bench process serving the bench, or drive it in this process if none does."""
        if bench_desk.station(self.store, bench) is not None:
            bench_desk.forget(self.store, run_id)  # a resumed run's last view is stale (its numbering restarts)
            bench_desk.post(self.store, bench, run_id, request, operator)
            run: LiveRun | RemoteRun = RemoteRun(self.store, bench, run_id, operator)
        else:
            run = LiveRun(run_id, bench, operator)
            run.thread = threading.Thread(target=drive, args=(self.store, run, register), name=f"run-{run_id}",
                                          daemon=True)
            run.thread.start()
        self.runs[run_id] = run
        return run

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
