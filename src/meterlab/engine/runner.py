"""The runner: executes a procedure's plan as an explicit state machine, journaling every action.

    idle → running ⇄ paused → completed | aborted | failed

Pause and abort are requests from another thread (the console); pause takes effect at the next safe
point (between actions, or between the polls of a long step such as a soak, never inside a measurement)
and holds the rig as it is; abort drives every instrument to its safe state. Each completed action is
committed to the store with its key before the next begins, so a killed process resumes at the first
unfinished action after restoring the rig state the action needs (flow, climate): nothing completed is
lost or repeated. While a condition is violated (water temperature out of band, flow unstable, chamber
alarm) the current measurement is suspended, discarded, and retried once the condition has cleared.
"""

from __future__ import annotations

import itertools
import math
import traceback
from typing import Any

from meterlab.engine.control import TRANSITIONS, AbortRequested, InvalidTransition, RunControl, RunState
from meterlab.engine.events import Event, EventBus
from meterlab.engine.measurement import measure_point
from meterlab.engine.safety import run_safety_test
from meterlab.engine.prompts import Prompter, Question
from meterlab.errors import MeterlabError
from meterlab.instruments.errors import (
    InstrumentConnectionError,
    InstrumentFailure,
    InstrumentReplyError,
    InstrumentTimeout,
)
from meterlab.metrology.decision import Outcome
from meterlab.metrology.declarations import max_pressure_loss_kpa
from meterlab.metrology.safety import load_safety_profile
from meterlab.procedures.evaluation import evaluate_checks, skipped_checks
from meterlab.procedures.plan import Action, Plan
from meterlab.procedures.schema import (
    ApplyDisturbance,
    ClimateCycle,
    Evaluate,
    MeasureError,
    MeasurePressureLoss,
    Prompt,
    ReleaseDisturbance,
    RunFlow,
    SafetyTest,
    SetClimate,
    SetFlow,
    Mount,
    SetGasPressure,
    SetWaterConditions,
    Soak,
    Stabilise,
    StopFlow,
    Wait,
    WatchAtRest,
    WatchStatus,
)
from meterlab.procedures.severities import cycle_segments, resolve
from meterlab.records.store import Store
from meterlab.rigs.base import CLIMATE_ROLE, SEVERITY_ROLES

# the failures a bench's transient_faults policy may name (an instrument's own error report is never transient)
TRANSIENT_KINDS = {InstrumentTimeout: "timeout", InstrumentConnectionError: "connection", InstrumentReplyError: "reply"}
PART_S = 600.0  # long steps are committed every ten minutes of rig time, so a resume loses at most that


class Runner:
    """Runs one plan on one rig for one run id; the same object serves a fresh run and a resumed one."""

    def __init__(self, *, run_id: str, plan: Plan, declarations: dict[str, Any], rig: Any, store: Store,
                 prompter: Prompter, procedure: Any, bus: EventBus | None = None, control: RunControl | None = None,
                 operator: str = "", severities: Any = None, register: Any = None,
                 calibration_override: str | None = None):
        self.run_id, self.plan, self.rig, self.store = run_id, plan, rig, store
        rig.on_readings = self._show_readings
        rig.on_collected = self._show_collected
        self.declarations = declarations
        self.meters = [(serial, decl.meter()) for serial, decl in declarations.items()]
        first = next(iter(declarations.values()))
        self.environment = first.environment.model_dump()
        self.prompter, self.procedure, self.operator = prompter, procedure, operator
        self.bus = bus or EventBus()
        self.control = control or RunControl()
        self.severities = severities
        self.register = register
        self.calibration_override = calibration_override
        self.state = RunState.IDLE
        self._active_disturbances: dict[str, ApplyDisturbance] = {}
        self.planned_l: dict[tuple, float] = {}  # (serial, test point) -> the planner's volume (measurement.py)

    # ----------------------------------------------------------------------------------- state machine
    def _transition(self, new: RunState, **data: Any) -> None:
        if new not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"run {self.run_id}: cannot go from {self.state.value} to {new.value}")
        self.state = new
        self.store.append(self.run_id, "state", {"state": new.value, **data})
        self.bus.emit(Event("state", self.run_id, {"state": new.value, **data}))

    def _show_readings(self, readings) -> None:
        self.bus.emit(Event("conditions", self.run_id, {"flowrate_m3h": readings.flowrate_m3h,
                                                         "water_temperature_c": readings.water_temperature_c,
                                                         "chamber_alarm": readings.chamber_alarm}))

    def _show_collected(self, collected: float, target: float, unit: str) -> None:
        self.bus.emit(Event("collected", self.run_id, {"collected": collected, "target": target, "unit": unit}))

    def abort_point(self) -> None:
        """Inside a measurement: honour abort only. A pause waits for the measurement's end: held with the
        diverter on the tank, the collection would overfill and outrun its time limit (the run then failed)."""
        if self.control.abort_requested:
            raise AbortRequested("abort requested by the operator")

    def checkpoint(self) -> None:
        """A safe point: honour abort, and hold here while paused."""
        self.abort_point()
        if self.control.pause_requested:
            self._transition(RunState.PAUSED)
            while not self.control.wait_resume(0.1):
                pass
            if self.control.abort_requested:
                raise AbortRequested("abort requested by the operator while paused")
            self._transition(RunState.RUNNING)

    # --------------------------------------------------------------------------------------------- run
    def run(self) -> RunState:
        done = self.store.keys(self.run_id)
        start = self.plan.first_unfinished(done)
        resumed = start > 0 or bool(done)
        self._transition(RunState.RUNNING, resumed=resumed, first_action=start)
        try:
            self._check_disturbances(start)
            if resumed and start < len(self.plan.actions):
                self._restore_rig(start)
            for index in range(start, len(self.plan.actions)):
                action = self.plan.actions[index]
                if action.key in done:
                    continue
                self.checkpoint()
                self.bus.emit(Event("action_started", self.run_id, {"index": index, "total": len(self.plan.actions),
                                                                     "label": action.label, "key": action.key,
                                                                     "point": _point(action)}))
                self._execute(action)
            for label in list(self.rig.held_disturbances()):
                self.rig.release_disturbance(label)
            self.rig.finish()
            self._transition(RunState.COMPLETED, verdict=self.verdict().label)
        except AbortRequested as exc:
            self._transition(RunState.ABORTED, reason=str(exc), **self._to_safe_state())
        except Exception as exc:  # noqa: BLE001 - any failure ends in the safe state and is recorded
            self._transition(RunState.FAILED, error=f"{type(exc).__name__}: {exc}",
                             traceback=traceback.format_exc(limit=8), **self._to_safe_state())
        return self.state

    def _to_safe_state(self) -> dict:
        """Every instrument to its safe state; what failed, and what the instruments then report (read back)."""
        problems = self.rig.safe_state()
        readback = self.rig.safe_state_readback()
        self._journal_io()
        return {"safe_state_problems": problems, "safe_state": readback}

    def _check_disturbances(self, start: int) -> None:
        """Before the rig moves, every disturbance still to come is checked (generator, parameters, RF level
        table), so a bad one stops the run now rather than after hours of measurements; what each will apply
        (the runs, the level table used) is recorded."""
        checked = {}
        for action in self.plan.actions[start:]:
            step = action.step
            if isinstance(step, ApplyDisturbance) and step.label not in checked:
                runs = self.rig.check_disturbance(step.disturbance, self._severity(step, dict(step.parameters)))
                checked[step.label or action.key] = {"disturbance": step.disturbance, "mode": step.mode, "runs": runs,
                                                     **self._check_severity_equipment(SEVERITY_ROLES[step.disturbance], runs)}
        if checked:
            self.store.append(self.run_id, "event", {"event": "disturbances_checked", "disturbances": checked})

    def _last_before(self, start: int, *kinds: type) -> int | None:
        return next((i for i in range(start - 1, -1, -1) if isinstance(self.plan.actions[i].step, kinds)), None)

    def _restore_rig(self, start: int) -> None:
        """Before the first unfinished action, re-apply what the plan had set before it: the climate, the
        water conditions, the flow (unless stopped since), and the disturbances still held."""
        actions = self.plan.actions
        restored = []
        climate = self._last_before(start, SetClimate, ClimateCycle)
        if climate is not None and isinstance(actions[climate].step, SetClimate):
            self._set_climate(actions[climate])
            restored.append(actions[climate].label)
        elif climate is not None:  # a finished cycle leaves its last phase's climate
            last = cycle_segments(self._severity(actions[climate].step, {}))[-1]
            self.rig.set_climate(last.temperature_c, last.humidity_pct, ramp_c_per_min=None)
            restored.append(actions[climate].label)
        water = self._last_before(start, SetWaterConditions)
        if water is not None:
            self._set_water_conditions(actions[water], hold=False)  # an overload done is not endured again
            restored.append(actions[water].label)
        mount = self._last_before(start, Mount)
        if mount is not None:  # the meters are still mounted so: the rig (a simulated lab) is told again, not asked
            self.rig.mounted(actions[mount].step.orientation, actions[mount].step.direction)
            restored.append(actions[mount].label)
        gas = self._last_before(start, SetGasPressure)
        if gas is not None:  # the inlet pressure the interrupted part was measured at
            self._set_gas_pressure(actions[gas])
            restored.append(actions[gas].label)
        flow = self._last_before(start, SetFlow, StopFlow)
        if flow is not None and isinstance(actions[flow].step, SetFlow):
            self._set_flow(actions[flow])
            restored.append(actions[flow].label)
            stab = next((a for a in actions[flow + 1:start] if isinstance(a.step, Stabilise)), None)
            if stab is not None:
                self._stabilise(stab)
        released = {a.step.held for a in actions[:start] if isinstance(a.step, ReleaseDisturbance)}
        for action in actions[:start]:
            if isinstance(action.step, ApplyDisturbance) and action.step.mode == "hold" and action.step.label not in released:
                self._disturbance(action)
                restored.append(action.label)
        self.store.append(self.run_id, "event", {"event": "rig_restored", "actions": restored})
        self.bus.emit(Event("message", self.run_id, {"text": f"rig state restored: {', '.join(restored) or 'nothing to restore'}"}))

    def _execute(self, action: Action) -> None:
        step = action.step
        handlers = {
            Prompt: self._prompt, SetFlow: self._set_flow, Stabilise: self._stabilise,
            MeasureError: self._measure, SetClimate: self._set_climate, Soak: self._soak, Wait: self._wait,
            RunFlow: self._run_flow, ApplyDisturbance: self._disturbance, Evaluate: self._evaluate,
            StopFlow: self._stop_flow, ReleaseDisturbance: self._release, ClimateCycle: self._climate_cycle,
            SetWaterConditions: self._set_water_conditions, SetGasPressure: self._set_gas_pressure,
            Mount: self._mount,
            MeasurePressureLoss: self._measure_pressure_loss,
            SafetyTest: self._safety_test, WatchStatus: self._watch_status, WatchAtRest: self._watch_at_rest,
        }
        result = self._riding_out(action, handlers[type(step)])
        if not isinstance(step, (MeasureError, Evaluate, MeasurePressureLoss, SafetyTest, WatchStatus, WatchAtRest)):
            self._commit(action, "action_done", {"label": action.label, **(result or {})})

    def _riding_out(self, action: Action, do: Any) -> Any:
        """Do the action; a transient communication fault (the failing instrument's `transient_faults` policy in
        the bench file, else the bench's) abandons the attempt (a measurement's partial data included), reconnects
        the instrument, waits and does the action again; each fault is recorded. When an instrument's policy is
        exhausted the run fails, naming the instrument and the history of its faults."""
        failures: dict[str, list[str]] = {}
        while True:
            try:
                return do(action)
            except InstrumentFailure as exc:
                policy = self._fault_policy(exc.instrument)
                kind = TRANSIENT_KINDS.get(type(exc))
                if kind not in policy.kinds:
                    raise
                history = failures.setdefault(exc.instrument, [])
                history.append(f"attempt {len(history) + 1} at {self.rig.clock.now():.0f} s: {exc}")
                self._record_fault(action, exc, kind, len(history), policy.tries)
                if len(history) >= policy.tries:
                    raise MeterlabError(f"{action.label}: {exc.instrument} did not recover from a transient fault in "
                                        f"{policy.tries} attempts ({policy.wait_s:g} s apart; transient_faults in "
                                        f"the bench file):\n  " + "\n  ".join(history)) from exc
                self._recover(exc)
                self.rig.wait(policy.wait_s, guard=self.checkpoint)

    def _fault_policy(self, instrument: str) -> Any:
        bench = self.rig.bench.bench
        entry = bench.instruments.get(instrument)
        return (entry.transient_faults if entry is not None else None) or bench.transient_faults

    def _record_fault(self, action: Action, exc: InstrumentFailure, kind: str, attempt: int, tries: int) -> None:
        fault = {"event": "instrument_fault", "action": action.key, "instrument": exc.instrument, "kind": kind,
                 "command": exc.command, "message": str(exc), "attempt": attempt, "of": tries}
        self.store.append(self.run_id, "event", fault)
        self._journal_io()  # the exchanges that failed, kept beside the fault
        self.bus.emit(Event("instrument_fault", self.run_id, {"key": action.key, **fault}))

    def _recover(self, exc: InstrumentFailure) -> None:
        """Reconnect the instrument that failed; a reconnection that fails too is the next attempt's problem."""
        try:
            self.rig.reconnect(exc.instrument)
        except InstrumentFailure as again:
            self.store.append(self.run_id, "event", {"event": "reconnect_failed", "instrument": exc.instrument,
                                                     "message": str(again)})

    def _commit(self, action: Action, kind: str, payload: dict) -> None:
        """One measurement boundary: the action's record and the I/O it caused, atomically."""
        items = [(kind, {"action": action.key, **payload}, action.key)]
        io = self.rig.drain_io()
        if io:
            items.append(("io", io, None))
        self.store.append_many(self.run_id, items)
        self.bus.emit(Event("action_done", self.run_id, {"key": action.key, "kind": kind, **payload}))

    def _journal_io(self) -> None:
        io = self.rig.drain_io()
        if io:
            self.store.append(self.run_id, "io", io)

    # ------------------------------------------------------------------------------------------- steps
    def _prompt(self, action: Action) -> dict:
        step: Prompt = action.step
        answer = self.prompter.ask(Question(step.text, step.ask, step.unit, step.minimum, step.maximum,
                                            action.meter_serial))
        if not answer.confirmed:
            raise AbortRequested(f"operator declined: {step.text}")
        return {"question": step.text, "value_name": step.ask, "value": answer.value,
                "answered_by": answer.answered_by, "meter_serial": action.meter_serial,
                "point": action.point.name if action.point else None}

    def _set_flow(self, action: Action) -> dict:
        q = action.point.nominal_m3h
        self.rig.set_flow(q, reverse=action.step.reverse)
        return {"flowrate_m3h": q}

    def _stabilise(self, action: Action) -> dict:
        step: Stabilise = action.step
        target = action.point.nominal_m3h if action.point else None
        seconds = self.rig.stabilise(target, flow_within_pct=step.flow_within_pct, water_temperature_c=step.water_temperature_c,
                                     for_s=step.for_s, timeout_s=step.timeout_s, guard=self.checkpoint)
        return {"stable_after_s": seconds}

    def _set_climate(self, action: Action) -> dict:
        params = self._severity(action.step, {"temperature_c": action.step.temperature_c,
                                              "humidity_pct": action.step.humidity_pct})
        checked = self._check_severity_equipment(CLIMATE_ROLE, [params])
        self.rig.set_climate(params["temperature_c"], params.get("humidity_pct"), ramp_c_per_min=action.step.ramp_c_per_min)
        return {"climate": params, **checked}

    def _in_parts(self, action: Action, total: float, part: float, do, prefix: str | None = None) -> None:
        """Run a long step (a soak, a wait, hours of durability flow) in parts, each committed, so that a
        resumed run continues with what is left instead of starting the step again."""
        done = self.store.keys(self.run_id)
        count = max(1, math.ceil(total / part - 1e-9))
        for index in range(count):
            key = f"{prefix or action.key}#part{index + 1}/{count}"
            if key in done:
                continue
            amount = min(part, total - index * part)
            do(amount)
            self._commit_part(key, action, index + 1, count, amount)

    def _commit_part(self, key: str, action: Action, index: int, count: int, amount: float) -> None:
        items = [("progress", {"action": action.key, "part": index, "of": count, "amount": amount}, key)]
        io = self.rig.drain_io()
        if io:
            items.append(("io", io, None))
        self.store.append_many(self.run_id, items)

    def _soak(self, action: Action) -> dict:
        params = self._severity(action.step, {"duration_s": action.step.duration_s})
        self._in_parts(action, params["duration_s"], PART_S,
                       lambda seconds: self.rig.soak(seconds, within_c=action.step.within_c, guard=self.checkpoint))
        return {"soaked_s": params["duration_s"]}

    def _wait(self, action: Action) -> dict:
        self._in_parts(action, action.step.duration_s, PART_S, lambda seconds: self.rig.wait(seconds, guard=self.checkpoint))
        return {"waited_s": action.step.duration_s}

    def _run_flow(self, action: Action) -> dict:
        step: RunFlow = action.step
        q = action.point.nominal_m3h
        if step.duration_s is not None:
            parts_run = itertools.count()  # the flow is set by the first part this execution runs, not by each
            self._in_parts(action, step.duration_s, PART_S, lambda seconds: self.rig.run_flow(
                q, duration_s=seconds, cycles=None, on_s=None, off_s=None, guard=self.checkpoint,
                flowing=next(parts_run) > 0))
        else:
            per_part = max(1, int(PART_S // (step.on_s + step.off_s)))
            self._in_parts(action, step.cycles, per_part, lambda cycles: self.rig.run_flow(
                q, duration_s=None, cycles=int(cycles), on_s=step.on_s, off_s=step.off_s, guard=self.checkpoint))
        return {"flowrate_m3h": q, "duration_s": step.duration_s, "cycles": step.cycles}

    def _stop_flow(self, action: Action) -> dict:
        self.rig.stop_flow()
        if action.step.settle_s:
            self.rig.wait(action.step.settle_s, guard=self.checkpoint)
        return {"flowrate_m3h": 0.0, "settle_s": action.step.settle_s}

    def _climate_cycle(self, action: Action) -> dict:
        """The cycles phase by phase; each phase is committed (in ten-minute parts), so a resumed run sets the
        chamber to the phase it was in and waits what is left of it."""
        step: ClimateCycle = action.step
        params = self._severity(step, {"cycles": step.cycles})
        segments = cycle_segments(params, fall_duration_s=step.fall_duration_s)
        checked = self._check_severity_equipment(CLIMATE_ROLE, [segment.__dict__ for segment in segments])
        done = self.store.keys(self.run_id)
        for index, segment in enumerate(segments, 1):
            key = f"{action.key}#phase{index}/{len(segments)}"
            if key in done:
                continue
            self.rig.set_climate(segment.temperature_c, segment.humidity_pct, ramp_c_per_min=segment.ramp_c_per_min)
            self.bus.emit(Event("message", self.run_id, {"text": f"{action.label}: {segment.name}"}))
            self._in_parts(action, segment.duration_s, PART_S,
                           lambda seconds: self.rig.wait(seconds, guard=self.checkpoint), prefix=key)
            self._commit_part(key, action, index, len(segments), segment.duration_s)
        return {"climate": params, "phases": [s.__dict__ for s in segments], **checked}

    def _set_water_conditions(self, action: Action, hold: bool = True) -> dict:
        step: SetWaterConditions = action.step
        temperature_c, overload = step.temperature_c, self._overload() if step.overload else None
        if overload is not None:
            temperature_c = overload["temperature_c"]
        self.rig.set_water_conditions(temperature_c=temperature_c, pressure_bar=step.pressure_bar)
        seconds = self.rig.wait_water_conditions(temperature_c=temperature_c, pressure_bar=step.pressure_bar,
                                                 within_c=step.within_c, within_bar=step.within_bar, for_s=step.for_s,
                                                 timeout_s=step.timeout_s, guard=self.checkpoint)
        done = {"temperature_c": temperature_c, "pressure_bar": step.pressure_bar, "reached_after_s": seconds}
        if overload is not None and hold:  # the exposure counts from the water holding the overload temperature
            reading = getattr(self.rig, "water_temperature_c", lambda: None)
            overload["water_temperature_c_start"] = reading()
            self.rig.wait(overload["duration_s"], guard=self.checkpoint)
            overload["water_temperature_c_end"] = reading()
            done["overload"] = overload
        return done

    def _overload(self) -> dict:
        """The overload water temperature of the meters (their MAT + the profile's above_mat_c) and how long it is
        held; meters of different MATs cannot share one line at it, so they are refused."""
        found = {}
        for serial, meter in self.meters:
            limit = getattr(meter.profile, "water_temperature_overload", None)
            if limit is None or not hasattr(meter, "rated_temperature_c"):
                raise MeterlabError(f"the standard profile of {serial} has no water_temperature_overload section")
            mat_c = meter.rated_temperature_c[1]
            found[serial] = {"mat_c": mat_c, "temperature_c": mat_c + limit.above_mat_c.value,
                             "duration_s": limit.duration_s.value, "temperature_class": meter.temperature_class,
                             "limits": limit.model_dump()}
        if len({(f["temperature_c"], f["duration_s"]) for f in found.values()}) != 1:
            raise MeterlabError("the meters' overload water temperatures differ (" + ", ".join(
                f"{s}: {f['temperature_c']:g} °C" for s, f in found.items()) + "): test each class on its own")
        return {**next(iter(found.values())), "meters": sorted(found)}

    def _mount(self, action: Action) -> dict:
        step: Mount = action.step
        way = " the other way round (the flow passing them backwards)" if step.direction == "reverse" else ""
        text = step.text or (f"Remount the meters under test in the orientation {step.orientation!r}{way}, reconnect "
                             f"and purge the line, and confirm.")
        answer = self.prompter.ask(Question(text, None, None, None, None, action.meter_serial))
        if not answer.confirmed:
            raise AbortRequested(f"operator declined: {text}")
        self.rig.mounted(step.orientation, step.direction)
        return {"question": text, "orientation": step.orientation, "direction": step.direction,
                "answered_by": answer.answered_by}

    def _set_gas_pressure(self, action: Action) -> dict:
        step: SetGasPressure = action.step
        seconds = self.rig.set_inlet_pressure(step.gauge_pa, ramp_pa_per_s=step.ramp_pa_per_s, within_pa=step.within_pa,
                                              for_s=step.for_s, timeout_s=step.timeout_s, guard=self.checkpoint)
        return {"gauge_pa": step.gauge_pa, "released": step.release, "reached_after_s": seconds}

    def _measure_pressure_loss(self, action: Action) -> None:
        positions = {i + 1: serial for i, (serial, _) in enumerate(self.meters)}
        results = self.rig.measure_pressure_loss(positions, duration_s=action.step.duration_s, guard=self.checkpoint)
        uses = [(r["certificate"], r["reading_kpa"] * 1e3) for r in results.values() if r.get("certificate")]  # Pa
        problems = self.check_standards(uses)
        payload = {"step_label": action.step.label, "point": action.point.name,
                   "nominal_m3h": action.point.nominal_m3h, "meters": results}
        if problems:
            payload["calibration_problems"] = problems
        self._commit(action, "pressure_loss", payload)

    def _safety_test(self, action: Action) -> None:
        profile = load_safety_profile(self.procedure.safety_profile)
        self._commit(action, "safety_test", run_safety_test(self, action, profile))

    def _watch_status(self, action: Action) -> None:
        """Poll the status flags the meters transmit (rigs/transmission.py); a rig that cannot poll interfaces
        waits out the step and records that nothing was polled (the check is then inconclusive)."""
        step: WatchStatus = action.step
        watch = getattr(self.rig, "watch_status", None)
        if watch is None:
            self.rig.wait(step.duration_s, guard=self.checkpoint)
            meters = {}
        else:
            meters = watch([serial for serial, _ in self.meters], step.duration_s, step.poll_interval_s,
                           self.checkpoint)
        self._commit(action, "status_watch", {"step_label": action.label, "phase": step.phase,
                                              "condition": step.condition, "duration_s": step.duration_s,
                                              "poll_interval_s": step.poll_interval_s,
                                              "held_disturbances": sorted(self.rig.held_disturbances()),
                                              "meters": meters})

    def _watch_at_rest(self, action: Action) -> None:
        """Absence of flow: what each meter's pulses and register did at rest (rigs/at_rest.py), with
        each meter's limits from its standard profile stored beside it, so the check judges the record alone."""
        step: WatchAtRest = action.step
        limits = {serial: meter.profile.absence_of_flow for serial, meter in self.meters}
        missing = sorted(s for s, limit in limits.items() if limit is None)
        if missing:
            raise MeterlabError(f"{action.label}: the standard profile of {', '.join(missing)} has no "
                                f"absence_of_flow section (its duration and limits)")
        duration_s = step.duration_s or max(limit.duration_s.value for limit in limits.values())
        watch = getattr(self.rig, "watch_at_rest", None)
        if watch is None:
            raise MeterlabError(f"{action.label}: this rig cannot watch the meters at rest "
                                f"(a water rig or a gas line can)")
        disturbance = None
        if step.during:
            applied = self._active_disturbances.get(step.during) or self._find_disturbance(step.during)
            disturbance = (applied.disturbance, self._severity(applied, dict(applied.parameters)))
        watched = watch([serial for serial, _ in self.meters], duration_s, guard=self.checkpoint,
                        disturbance=disturbance)
        self._commit(action, "at_rest", {"step_label": action.label, "duration_s": duration_s, **watched,
                                         "limits": {s: limit.model_dump() for s, limit in limits.items()}})

    def _release(self, action: Action) -> dict:
        was_on = self.rig.release_disturbance(action.step.held)
        return {"released": action.step.held, "was_on": was_on}

    def _disturbance(self, action: Action) -> dict:
        step: ApplyDisturbance = action.step
        params = self._severity(step, dict(step.parameters))
        done = {"disturbance": step.disturbance, "mode": step.mode, "parameters": params,
                **self._check_severity_equipment(SEVERITY_ROLES[step.disturbance])}
        if step.mode == "hold":
            return {**done, "setting": self.rig.hold_disturbance(step.label, step.disturbance, params)}
        if step.mode == "during":
            self._active_disturbances[step.label] = step
            return {**done, "note": "applied during the measurement that names it"}
        watched = self.rig.apply_disturbance(step.disturbance, params, guard=self.checkpoint,
                                             serials=[serial for serial, _ in self.meters])
        return {**done, "transmission": watched} if watched else done

    def _severity(self, step: Any, explicit: dict) -> dict:
        """Parameters from the severity profile for the meter's class, overridden by explicit ones."""
        explicit = {k: v for k, v in explicit.items() if v is not None}
        if getattr(step, "test", None) is None or self.severities is None:
            return explicit
        return {**resolve(self.severities, step.test, step.severity, self.environment), **explicit}

    def _measure(self, action: Action) -> None:
        disturbance = None
        if action.step.during:
            step = self._active_disturbances.get(action.step.during) or self._find_disturbance(action.step.during)
            disturbance = (step.disturbance, self._severity(step, dict(step.parameters)))
        payload = measure_point(self, action, disturbance)
        payload["held_disturbances"] = sorted(self.rig.held_disturbances())
        self._commit(action, "measurement", payload)

    def _find_disturbance(self, label: str) -> ApplyDisturbance:
        # After a resume the defining step may lie before the restart point; look it up in the plan.
        return next(a.step for a in self.plan.actions if isinstance(a.step, ApplyDisturbance) and a.step.label == label)

    def _evaluate(self, action: Action) -> None:
        measurements = self.measurements()
        extra = self._evaluation_records()
        results = evaluate_checks(action.step.checks, measurements, self.meters, action.step.reference,
                                  extra=extra, rule=self.procedure.decision_rule)
        skipped = skipped_checks(action.step.checks, extra["interfaces"], [s for s, _ in self.meters],
                                 extra["safety"])
        self._commit(action, "evaluation", {"checks": [r.to_dict() for r in results], "skipped": skipped})

    def _evaluation_records(self) -> dict:
        """What checks other than the error checks read: pressure losses, typed values, limits."""
        prompts = [e.payload for e in self.store.entries(self.run_id, kinds=["action_done"]) if e.payload.get("value_name")]
        return {"pressure_loss": [e.payload for e in self.store.entries(self.run_id, kinds=["pressure_loss"])],
                "prompts": prompts, "pressure_loss_limits": self._pressure_loss_limits(),
                "safety": [e.payload for e in self.store.entries(self.run_id, kinds=["safety_test"])],
                "interfaces": {s: {"interfaces": [i.kind for i in d.interfaces], "scale_interval_l": d.scale_interval_l,
                                   "status_flags": {f: v.model_dump() for f, v in d.status_flags.items()}}
                               for s, d in self.declarations.items()},
                "status_watches": [e.payload for e in self.store.entries(self.run_id, kinds=["status_watch"])],
                "at_rest": [e.payload for e in self.store.entries(self.run_id, kinds=["at_rest"])],
                "between": self._between_transmissions()}

    def _between_transmissions(self) -> list[dict]:
        """Datasets polled while a disturbance was applied between measurements (ESD, surges), each with the
        meter's measurement just before it: the flow runs on, unchanged, through such a disturbance, so that
        measurement's indication rate is what the transmitted volume is judged against."""
        found, last = [], {}
        for entry in self.store.entries(self.run_id, kinds=["measurement", "action_done"]):
            if entry.kind == "measurement":
                for row in entry.payload["meters"]:
                    last[row["meter_serial"]] = {"indicated_volume_l": row["indicated_volume_l"],
                                                 "sim_time_s": entry.payload["sim_time_s"],
                                                 "label": entry.payload.get("step_label")}
                continue
            for serial, watched in (entry.payload.get("transmission") or {}).items():
                found.append({"meter_serial": serial, "transmission": watched["transmission"],
                              "before": last.get(serial)})
        return found

    def _pressure_loss_limits(self) -> dict[str, dict]:
        """Each water meter's limit from its pressure-loss class in the standard profile; a gas meter's is
        the maximum its manufacturer declares (none: the check is inconclusive and says so)."""
        limits = {}
        for serial, decl in self.declarations.items():
            if decl.kind == "gas" and decl.max_pressure_loss_pa is not None:
                limits[serial] = {"limit_kpa": decl.max_pressure_loss_pa / 1e3,
                                  "source": "declared by the manufacturer (meter declaration max_pressure_loss_pa)"}
            elif decl.kind == "water":
                meter = decl.meter()
                key = meter.profile.pressure_loss_class(decl.pressure_loss_class)
                limits[serial] = {"limit_kpa": max_pressure_loss_kpa(decl), "pressure_loss_class": key,
                                  "clause": meter.profile.pressure_loss.clause}
        return limits

    def check_standards(self, uses: list) -> list[dict]:
        """Refuse (CalibrationRefused) a standard out of calibration or used outside its calibrated range,
        unless the run carries an override; then the problems are returned, to be recorded."""
        if self.register is None:
            return []
        problems = self.register.enforce(uses, override_reason=self.calibration_override)
        return [p.to_dict() for p in problems]

    def _check_severity_equipment(self, role: str, settings: list[dict] | None = None) -> dict:
        """Before equipment sets a severity its verification is checked again, as the flow standards are before
        each measurement (a long run may cross a due date), and the settings against the range it was verified
        over (a surge at 4 kV from a generator verified to 2 kV is as unknown as an expired one). Problems
        under the run's override are returned, to be recorded."""
        certificate = self.rig.certificate_of(role)
        if certificate is None or self.register is None:
            return {}
        used = self.register.spans(certificate, settings) if settings and certificate in self.register else None
        problems = self.check_standards([(certificate, used)])
        return {"calibration_problems": problems} if problems else {}

    def resolution_l(self, serial: str) -> float:
        """What one count of the meter's readout is worth: its pulse value, or its scale interval."""
        decl = self.declarations[serial]
        return decl.pulse_value_l if decl.readout == "pulses" else decl.scale_interval_l

    # ------------------------------------------------------------------------------------------ results
    def measurements(self) -> list[dict]:
        return [e.payload for e in self.store.entries(self.run_id, kinds=["measurement"])]

    def verdict(self) -> Outcome:
        outcomes = [Outcome.from_label(r["outcome"]) for m in self.measurements() for r in m["meters"]]
        for e in self.store.entries(self.run_id, kinds=["evaluation"]):
            outcomes += [Outcome.from_label(c["outcome"]) for c in e.payload["checks"]]
        return max(outcomes, default=Outcome.INCONCLUSIVE)


def _point(action: Action) -> dict | None:
    """The test point an action works at, with its flow window (for the live display)."""
    point = action.point
    if point is None:
        return None
    return {"name": point.name, "nominal_m3h": point.nominal_m3h, "low_m3h": point.low_m3h, "high_m3h": point.high_m3h}
