"""One measure_error action: plan the volume, let the rig measure (retrying while suspended), and turn
the raw readings into an error of indication with its budget and decision for every meter in series.

The reference inputs are built once per measurement and shared by every meter's model, so GTC carries
the shared reference as one correlated input: the correlation between the meters' errors is recorded.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from GTC import get_correlation

from meterlab.engine.control import AbortRequested
from meterlab.engine.events import Event
from meterlab.engine.prompts import Question
from meterlab.errors import MeterlabError
from meterlab.instruments.meter_readout import ManualRegister
from meterlab.metrology.budget import evaluate, quantity, rectangular
from meterlab.metrology.decision import decide
from meterlab.metrology.planner import plan_volume
from meterlab.metrology.reference_volume import pulse_inputs, register_inputs
from meterlab.procedures.plan import Action
from meterlab.procedures.schema import MeasureError, SetFlow, Stabilise
from meterlab.rigs.conditions import Suspended

MAX_ATTEMPTS = 5  # suspensions of one measurement by its monitored conditions
WINDOW_ATTEMPTS = 3  # measurements of one point whose achieved flowrate may miss its window


def volume_for(runner: Any, action: Action) -> float:
    """Litres to collect: the planner's smallest volume ('auto'), the given volume, or flowrate × duration; a
    standing start's 'auto' volume runs at least the rig's shortest standing start (its ramps stay a small share)."""
    step: MeasureError = action.step
    if step.duration_s is not None:
        return action.point.nominal_m3h * step.duration_s / 3.6
    if step.volume != "auto":
        return float(step.volume)
    planned = max(_planned_l(runner, action, serial, meter) for serial, meter in runner.meters)
    if step.start == "standing":
        planned = max(planned, runner.rig.require_standing_start().min_volume_l(action.point.nominal_m3h))
    return planned


def _planned_l(runner: Any, action: Action, serial: str, meter: Any) -> float:
    """The planner's volume for one meter, read the way it is read (a series needs the largest); planned
    once per meter and point (the repeats need the same, and planning evaluates budgets)."""
    key = (serial, action.point)
    if key not in runner.planned_l:
        readout = "pulses" if runner.declarations[serial].readout == "pulses" else "register"
        runner.planned_l[key] = plan_volume(meter, action.point, runner.rig.reference_method(),
                                            resolution_l=runner.resolution_l(serial), readout=readout).volume_l
    return runner.planned_l[key]


def monitoring_for(runner: Any, action: Action) -> Stabilise | None:
    """The stabilise criteria in force: the last stabilise step before this action in the plan."""
    index = runner.plan.actions.index(action)
    return next((a.step for a in reversed(runner.plan.actions[:index]) if isinstance(a.step, Stabilise)), None)


def next_flow_for(runner: Any, action: Action) -> float | None:
    """The flowrate the plan sets right after this measurement, for the rig to head for once the collection is
    over (a gravimetric rig: while its tank settles for the weighing): a flying start whose next action sets a
    forward flow, the flow of this point forward too (a change of direction waits for its own step)."""
    actions = runner.plan.actions
    index = actions.index(action)
    following = actions[index + 1] if index + 1 < len(actions) else None
    if action.step.start != "flying" or following is None or not isinstance(following.step, SetFlow):
        return None
    before = next((a for a in reversed(actions[:index]) if isinstance(a.step, SetFlow)), None)
    if following.step.reverse or before is None or before.step.reverse:
        return None
    return following.point.nominal_m3h


def measure_point(runner: Any, action: Action, disturbance: tuple[str, dict] | None) -> dict:
    """Measure the point until its achieved flowrate is inside the point's window: a measurement outside is
    recorded, the flow trimmed, and the measurement repeated, at most WINDOW_ATTEMPTS times in all; then the
    run stops (a point outside its window is never a result)."""
    volume_l = volume_for(runner, action)
    criteria = monitoring_for(runner, action)
    runner.check_standards(runner.rig.standards())  # due dates, before the rig moves
    check_start(runner, action)
    typed = OperatorRegisters(runner, action) if _manual(runner) else None
    next_flow_m3h = next_flow_for(runner, action)
    outside: list[dict] = []
    for attempt in range(1, WINDOW_ATTEMPTS + 1):
        raw = _measure(runner, action, volume_l, disturbance, criteria, typed, next_flow_m3h)
        if action.point.contains(raw.flowrate_m3h):
            break
        outside.append(_outside_window(runner, action, raw, attempt))
        if attempt < WINDOW_ATTEMPTS:
            if next_flow_m3h is not None:  # the rig headed for the next flow while it weighed: back to this one
                runner.rig.set_flow(action.point.nominal_m3h)
            _trim_to_window(runner, action, criteria)
    else:
        point = action.point
        raise MeterlabError(
            f"{action.label}: the achieved flowrate stayed outside the window of {point.name} "
            f"({point.low_m3h:.4g} .. {point.high_m3h:.4g} m³/h) in {WINDOW_ATTEMPTS} measurements "
            f"({', '.join(format(o['flowrate_m3h'], '.4g') for o in outside)} m³/h); no result is taken outside its "
            f"window. Check how the rig sets and trims this flow (pump range, nozzle combinations, the flowmeter it "
            f"trims on)")
    check_disturbed(runner, action, raw)
    if typed:
        typed.annotate(raw.mut)
    calibration_problems = runner.check_standards(runner.rig.standard_uses(raw))  # ranges, as used
    payload = results_payload(runner, action, raw, volume_l, disturbance)
    if outside:
        payload["outside_window"] = outside  # the measurements repeated for it, with their flowrates
    if calibration_problems:
        payload["calibration_problems"] = calibration_problems  # used under the run's recorded override
    return payload


def _measure(runner: Any, action: Action, volume_l: float, disturbance, criteria, typed,
             next_flow_m3h: float | None) -> Any:
    """One measurement by the rig, retried while the monitored conditions suspend it."""
    serials = [s for s, _ in runner.meters]
    extra = {"registers": typed} if typed else {}  # rigs without manual meters need not know the keyword
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return runner.rig.measure(volume_l, action.point.nominal_m3h, serials, start=action.step.start,
                                      disturbance=disturbance, criteria=criteria, guard=runner.abort_point,
                                      next_flow_m3h=next_flow_m3h, **extra)
        except Suspended as exc:
            runner.store.append(runner.run_id, "event", {"event": "suspended", "action": action.key,
                                                         "attempt": attempt, "reason": str(exc)})
            runner.bus.emit(Event("suspended", runner.run_id, {"key": action.key, "reason": str(exc)}))
            runner.rig.wait_condition(criteria, guard=runner.checkpoint)
            runner.bus.emit(Event("resumed", runner.run_id, {"key": action.key}))
    raise RuntimeError(f"{action.label}: suspended {MAX_ATTEMPTS} times; the rig does not hold its conditions")


def check_disturbed(runner: Any, action: Action, raw: Any) -> None:
    """A measurement under an NSAd disturbance counts as disturbed only if the disturbance ran over (nearly) all
    of its collection (the profile's significant_fault.min_disturbed_fraction); otherwise the run stops here."""
    cover = raw.conditions.get("disturbance")
    if cover is None:
        return
    minimum = runner.meters[0][1].profile.significant_fault.min_disturbed_fraction.value
    if cover["disturbed_fraction"] < minimum:
        t0, t1 = cover["collection_s"]
        raise MeterlabError(
            f"{action.label}: the {cover['kind']} disturbance ran over {cover['disturbed_fraction']:.0%} of the "
            f"collection ({t1 - t0:.0f} s of rig time; it ended {(cover['ended_s'] or t1) - t0:.0f} s in), where a "
            f"disturbed result needs {minimum:.0%}: hold the disturbance over the measurement (apply_disturbance "
            f"mode: hold, then release_disturbance, for a steady one), or use a method whose collection ends with the "
            f"disturbance (gravimetric, master_meter, sonic_nozzle; a bell pass cannot be cut short)")


def _outside_window(runner: Any, action: Action, raw: Any, attempt: int) -> dict:
    """Record (event log and live view) a measurement whose achieved flowrate missed the point's window."""
    point = action.point
    record = {"attempt": attempt, "of": WINDOW_ATTEMPTS, "flowrate_m3h": raw.flowrate_m3h, "low_m3h": point.low_m3h,
              "high_m3h": point.high_m3h, "flowrate_source": raw.conditions.get("flowrate_source"),
              "sim_time_s": raw.time_s}
    runner.store.append(runner.run_id, "event", {"event": "outside_window", "action": action.key,
                                                 "point": point.name, **record})
    runner.bus.emit(Event("outside_window", runner.run_id, {"key": action.key, "point": point.name, **record}))
    return record


def _trim_to_window(runner: Any, action: Action, criteria: Stabilise | None) -> None:
    """Trim the flow onto the point's nominal set point again before the measurement is repeated: with the
    programme's stabilise criteria, or the defaults held to the window's own half-width if it has none."""
    point = action.point
    if criteria is None:
        half_width_pct = (point.high_m3h - point.low_m3h) / 2 / point.nominal_m3h * 100
        criteria = Stabilise(flow_within_pct=min(max(half_width_pct, 0.1), 20.0))
    runner.rig.stabilise(point.nominal_m3h, flow_within_pct=criteria.flow_within_pct,
                         water_temperature_c=criteria.water_temperature_c, for_s=criteria.for_s,
                         timeout_s=criteria.timeout_s, guard=runner.checkpoint)


RAMP_INPUT = "standing_start_ramps"  # the model input of a standing start's ramps (see ramp_input)


def method_for_start(method: Any, start: str) -> Any:
    """The reference method as a start uses it: no diverter times a standing start."""
    if start == "standing" and getattr(method, "diverter_timing_u_s", None) is not None:
        return dataclasses.replace(method, diverter_timing_u_s=None)
    return method


def meter_inputs(reference: dict, raw_mut: dict, at_meter: dict | None, decl: Any, serial: str,
                 ramp: Any = None) -> dict:
    """Every input of one meter's error: the shared reference inputs (one object per measurement, so that the
    meters' errors carry their correlation), the readings at this meter that replace shared ones, the meter's own
    reading, and a standing start's ramps."""
    x = {**reference, **_at_meter_inputs(at_meter, serial), **mut_inputs(decl, serial, raw_mut)}
    if ramp is not None:
        x[RAMP_INPUT] = ramp
    return x


def point_model(method: Any, x: dict) -> Any:
    """E in percent from the inputs of meter_inputs; the same code runs on ureals (GUM) and arrays (Monte Carlo)."""
    error = method.model(x)
    return error + x[RAMP_INPUT] if RAMP_INPUT in x else error


def results_payload(runner: Any, action: Action, raw: Any, volume_l: float, disturbance) -> dict:
    method = method_for_start(runner.rig.reference_method(), action.step.start)
    reference = method.inputs(raw.reading)
    v_ref = method.reference_volume_m3(reference)
    errors = {}
    rows = []
    for serial, meter in runner.meters:
        ramp = None
        if action.step.start == "standing":
            run_s = raw.time_s["stop_s"] - raw.time_s["start_s"]
            ramp = ramp_input(runner.rig.require_standing_start(), meter, run_s, action.point)
        x = meter_inputs(reference, raw.mut[serial], raw.at_meter.get(serial), runner.declarations[serial], serial, ramp)
        error = point_model(method, x)
        result = evaluate(error)
        conditions = {"water_temperature_c": raw.reading.meter_water_temperature_c} if hasattr(meter, "q3_m3h") else {}
        q = meter.judged_flowrate_m3h(action.point, **conditions)  # the limit follows the window, not the flow
        mpe = meter.mpe_pct(q, **conditions)
        decision = decide(result.value, result.U, mpe, rule=runner.procedure.decision_rule, k=result.k,
                          max_uncertainty_pct=meter.max_expanded_uncertainty_pct(q, **conditions))
        errors[serial] = error
        rows.append({
            "meter_serial": serial, "indicated_volume_l": _indicated_l(x), "error_pct": result.value,
            "u_pct": result.u, "dof": result.dof, "k": result.k, "U_pct": result.U, "mpe_pct": mpe,
            "mpe_zone": meter.zone(q), "mpe_at_m3h": q,
            "max_U_pct": decision.max_uncertainty_pct, "decision_rule": decision.rule,
            "outcome": decision.outcome.label, "rule_outcome": decision.rule_outcome.label,
            "uncertainty_too_large": decision.uncertainty_too_large, "guard_band_pct": decision.guard_band_pct,
            "probability_within_mpe": decision.probability_within, "specific_risk": decision.specific_risk,
            "budget": result.table(), "readout": raw.mut[serial].get("readout", "pulses"), "raw": raw.mut[serial],
        })
        if raw.at_meter.get(serial):  # the reference volume at this meter's own conditions
            rows[-1]["reference_volume_l"] = method.reference_volume_m3(x).x * 1000
    correlations = {f"{a}|{b}": get_correlation(errors[a], errors[b]) for a, b in itertools.combinations(errors, 2)}
    return {
        "step_label": action.step.label, "role": action.step.role, "during": action.step.during,
        "disturbance": {"kind": disturbance[0], "parameters": disturbance[1]} if disturbance else None,
        "point": {"name": action.point.name, "nominal_m3h": action.point.nominal_m3h,
                  "low_m3h": action.point.low_m3h, "high_m3h": action.point.high_m3h},
        "repeat": action.repeat, "repeats": action.repeats, "planned_volume_l": volume_l,
        "flowrate_m3h": raw.flowrate_m3h, "reference_volume_l": v_ref.x * 1000, "u_reference_volume_l": v_ref.u * 1000,
        "reading": raw.reading_dict(), "conditions": raw.conditions, "at_meter": raw.at_meter, "sim_time_s": raw.time_s,
        "standards": runner.rig.standards(), "meters": rows, "correlations": correlations,
    }


def ramp_input(standing: Any, meter: Any, run_s: float, point: Any) -> Any:
    """A standing start's start and stop: the meter and the reference see the same volume, but the share passed
    on the ramps (at most 2 τ / run time) is registered at the meter's error at lower flows, which may differ
    from its error at the point by up to the MPE where it passed plus the point's MPE (a meter conforming there).
    Of the ramps' volume, a fraction Q_t/(2 Q) passes below the zones' transition Q_t (Q2, Qt): the stop's
    exponential tail below Q_t is Q_t·τ of the 2 Q·τ, the start's a negligible (Q_t/Q)²/2 share; the rest passes
    in the upper zone. A point at or below Q_t has all its ramps in the lower zone."""
    share = standing.ramp_share(run_s)
    flowrate = meter.judged_flowrate_m3h(point)
    lower = 1.0 if flowrate <= meter.transition_m3h else meter.transition_m3h / (2 * flowrate)
    ramp_mpe_pct = lower * meter.mpe_pct(meter.range_m3h()[0]) + (1 - lower) * meter.upper_mpe_pct()
    spread_pct = ramp_mpe_pct + meter.mpe_pct(flowrate)
    return rectangular(0.0, share * spread_pct, name="start and stop ramps (standing start)",
                       source=f"bench: flow time constant {standing.flow_time_constant_s:g} s over a {run_s:.0f} s run "
                              f"(ramp share {share:.2%}) × ({lower:.0%} at the lower-zone MPE, the rest at the "
                              f"upper-zone MPE, + MPE at the point)")


def _at_meter_inputs(at_meter: dict | None, serial: str) -> dict:
    """The meter's own pressure (a gas meter downstream in a series) as the model's meter_pressure_pa input."""
    if not at_meter:
        return {}
    return {"meter_pressure_pa": quantity(at_meter["meter_pressure_pa"], at_meter["u_pa"],
                                          name=f"gas pressure at meter {serial}", source=at_meter["source"])}


def mut_inputs(decl: Any, serial: str, raw_mut: dict) -> dict:
    source = f"meter under test {serial}"
    if "pulses" in raw_mut:
        return pulse_inputs(raw_mut["pulses"], decl.pulse_value_l * 1e-3, name=f"{serial} pulse count",
                            source=f"{source}, pulse output {decl.pulse_value_l:g} L/pulse")
    # a bus register coarser than the display's scale interval limits the reading: the coarser one counts
    interval_l = max(decl.scale_interval_l, raw_mut.get("resolution_l") or 0.0)
    how = {"mbus": f"M-Bus {raw_mut.get('gateway')} address {raw_mut.get('address')}",
           "modbus": f"Modbus {raw_mut.get('instrument')}", "manual": "read by the operator"}.get(raw_mut.get("readout"))
    return register_inputs(raw_mut["start_l"] * 1e-3, raw_mut["end_l"] * 1e-3, scale_interval_m3=interval_l * 1e-3,
                           name=f"{serial} register",
                           source=f"{source}, register{f' ({how})' if how else ''}, ±½ of {interval_l:g} L")


def _indicated_l(mut: dict) -> float:
    if "mut_pulse_count" in mut:
        return mut["mut_pulse_count"].x * mut["mut_pulse_value_m3"] * 1000
    return (mut["mut_end_m3"].x - mut["mut_start_m3"].x) * 1000


# ------------------------------------------------------------------------------------------ register readout
def register_read(decl: Any) -> bool:
    return decl.readout != "pulses"


def _manual(runner: Any) -> bool:
    return any(d.readout in ("manual", "register") for d in runner.declarations.values())


def check_start(runner: Any, action: Action) -> None:
    """A register is a snapshot: on a diverter rig it can only be read with the flow stopped (standing start)."""
    registers = [s for s, d in runner.declarations.items() if register_read(d)]
    if action.step.start == "flying" and registers:
        raise MeterlabError(
            f"procedure {runner.procedure.id}, step {action.label!r}: measure_error has start: flying, but "
            f"{', '.join(f'{s} (readout: {runner.declarations[s].readout})' for s in registers)} is read by its "
            f"register, which keeps counting while the diverter switches. Use start: standing in that step "
            f"(procedures/r49/intrinsic-error-register.yaml does), or read the meter by pulses.")


def readout_problems(procedure: Any, declarations: dict[str, Any]) -> list[str]:
    """Before a run: every flying-start measure_error step that meets a register-read meter (for load_inputs,
    `meterlab validate` and `plan`, so that such a run is refused before the rig moves)."""
    registers = [f"{s} (readout: {d.readout})" for s, d in declarations.items() if register_read(d)]
    if not registers:
        return []
    return [f"procedure {procedure.id}, {'.'.join(str(p) for p in path)} ({step.label or step.point}): "
            f"start: flying cannot read {', '.join(registers)}; use start: standing"
            for step, _, path in procedure.walk() if isinstance(step, MeasureError) and step.start == "flying"]


class OperatorRegisters:
    """The registers of manually read meters, typed by the operator through the runner's prompter and checked
    by ManualRegister (not below the last reading, a whole number of scale intervals, no more than the flow
    could carry). Every question and answer is kept for the measurement's record."""

    def __init__(self, runner: Any, action: Action):
        self.runner, self.action = runner, action
        self.exchanges: dict[str, list[dict]] = {}
        self.accepted: dict[str, tuple[float, float]] = {}  # serial -> (litres, rig time) in this measurement

    def __call__(self, serial: str, phase: str) -> float:
        previous, elapsed_s, flow = self._context(serial, phase)
        decl = self.runner.declarations[serial]
        reader = ManualRegister(lambda text: self._ask(serial, phase, text), meter=serial,
                                scale_interval_l=decl.scale_interval_l)
        prompt = (f"{'Before' if phase == 'start' else 'After'} the run at {self.action.point.name} "
                  f"(flow stopped): read the register of {serial} in litres and type it in:")
        value = reader.read_volume_l(previous_l=previous, elapsed_s=elapsed_s, flowrate_m3h=flow, prompt=prompt)
        self.accepted[serial] = (value, self.runner.rig.clock.now())
        return value

    def _context(self, serial: str, phase: str) -> tuple[float | None, float | None, float | None]:
        """The last accepted reading, the time since, and the largest flow that ran meanwhile."""
        now = self.runner.rig.clock.now()
        last = self.accepted.get(serial) or _last_manual_reading(self.runner, serial)
        if last is None:
            return None, None, None
        value, at = last
        # the rig's clock restarts with a resumed run: then only "not below the last reading" is checked
        elapsed = now - at if now >= at else None
        flow = self.action.point.nominal_m3h if phase == "end" else self.runner.rig.max_flowrate_m3h
        return value, elapsed, flow

    def _ask(self, serial: str, phase: str, text: str) -> str:
        answer = self.runner.prompter.ask(Question(text, "register", "L", minimum=0.0, meter_serial=serial))
        self.exchanges.setdefault(serial, []).append({"phase": phase, "question": text, "typed": answer.value,
                                                      "answered_by": answer.answered_by})
        if not answer.confirmed:
            raise AbortRequested(f"operator declined to read the register of {serial}")
        if answer.value is None:
            raise MeterlabError(f"meter {serial} is read by hand (readout: manual), but no register value was "
                                f"typed ({answer.answered_by}): an unattended run cannot read a register by hand")
        return repr(float(answer.value))

    def annotate(self, mut: dict[str, dict]) -> None:
        """Add what was asked and typed (refusals included) to each manual meter's raw readings."""
        for serial, exchanges in self.exchanges.items():
            if serial in mut:
                mut[serial]["operator"] = exchanges


def _last_manual_reading(runner: Any, serial: str) -> tuple[float, float] | None:
    """The last register reading of `serial` in this run's record (value, rig time), from its last measurement."""
    for payload in reversed(runner.measurements()):
        for row in payload.get("meters", []):
            raw = row.get("raw", {})
            if row.get("meter_serial") == serial and "end_l" in raw:
                return raw["end_l"], raw.get("end_s", payload["sim_time_s"]["stop_s"])
    return None
