"""One measure_error action: plan the volume, let the rig measure (retrying while suspended), and turn
the raw readings into an error of indication with its budget and decision for every meter in series.

The reference inputs are built once per measurement and shared by every meter's model, so GTC carries
the shared reference as one correlated input: the correlation between the meters' errors is recorded.
"""

from __future__ import annotations

import itertools
from typing import Any

from GTC import get_correlation

from meterlab.metrology.budget import evaluate
from meterlab.metrology.decision import decide
from meterlab.metrology.planner import plan_volume
from meterlab.metrology.reference_volume import pulse_inputs, register_inputs
from meterlab.procedures.conditions import Suspended
from meterlab.procedures.events import Event
from meterlab.procedures.plan import Action
from meterlab.procedures.schema import MeasureError, Stabilise

MAX_ATTEMPTS = 5


def volume_for(runner: Any, action: Action) -> float:
    """Litres to collect: the planner's smallest volume ('auto'), the given volume, or flowrate × duration."""
    step: MeasureError = action.step
    if step.duration_s is not None:
        return action.point.nominal_m3h * step.duration_s / 3.6
    if step.volume != "auto":
        return float(step.volume)
    serial, meter = runner.meters[0]
    readout = "pulses" if runner.declarations[serial].readout == "pulses" else "register"
    return plan_volume(meter, action.point, runner.rig.reference_method(), resolution_l=runner.resolution_l(serial),
                       readout=readout).volume_l


def monitoring_for(runner: Any, action: Action) -> Stabilise | None:
    """The stabilise criteria in force: the last stabilise step before this action in the plan."""
    index = runner.plan.actions.index(action)
    return next((a.step for a in reversed(runner.plan.actions[:index]) if isinstance(a.step, Stabilise)), None)


def measure_point(runner: Any, action: Action, disturbance: tuple[str, dict] | None) -> dict:
    step: MeasureError = action.step
    volume_l = volume_for(runner, action)
    criteria = monitoring_for(runner, action)
    runner.check_standards(runner.rig.standards())  # due dates, before the rig moves
    serials = [s for s, _ in runner.meters]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            raw = runner.rig.measure(volume_l, action.point.nominal_m3h, serials, start=step.start,
                                     disturbance=disturbance, criteria=criteria, guard=runner.checkpoint)
            break
        except Suspended as exc:
            runner.store.append(runner.run_id, "event", {"event": "suspended", "action": action.key,
                                                         "attempt": attempt, "reason": str(exc)})
            runner.bus.emit(Event("suspended", runner.run_id, {"key": action.key, "reason": str(exc)}))
            runner.rig.wait_condition(criteria, guard=runner.checkpoint)
            runner.bus.emit(Event("resumed", runner.run_id, {"key": action.key}))
    else:
        raise RuntimeError(f"{action.label}: suspended {MAX_ATTEMPTS} times; the rig does not hold its conditions")
    calibration_problems = runner.check_standards(runner.rig.standard_uses(raw))  # ranges, as used
    payload = results_payload(runner, action, raw, volume_l, disturbance)
    if calibration_problems:
        payload["calibration_problems"] = calibration_problems  # used under the run's recorded override
    return payload


def results_payload(runner: Any, action: Action, raw: Any, volume_l: float, disturbance) -> dict:
    method = runner.rig.reference_method()
    reference = method.inputs(raw.reading)
    v_ref = method.reference_volume_m3(reference)
    errors = {}
    rows = []
    for serial, meter in runner.meters:
        mut = mut_inputs(runner, serial, raw.mut[serial])
        error = method.model({**reference, **mut})
        result = evaluate(error)
        q = raw.flowrate_m3h
        conditions = {"water_temperature_c": raw.reading.meter_water_temperature_c} if hasattr(meter, "q3_m3h") else {}
        mpe = meter.mpe_pct(_clamp(q, meter), **conditions)
        decision = decide(result.value, result.U, mpe, rule=runner.procedure.decision_rule,
                          max_uncertainty_pct=meter.max_expanded_uncertainty_pct(_clamp(q, meter), **conditions))
        errors[serial] = error
        rows.append({
            "meter_serial": serial, "indicated_volume_l": _indicated_l(mut), "error_pct": result.value,
            "u_pct": result.u, "dof": result.dof, "k": result.k, "U_pct": result.U, "mpe_pct": mpe,
            "max_U_pct": decision.max_uncertainty_pct, "decision_rule": decision.rule,
            "outcome": decision.outcome.label, "rule_outcome": decision.rule_outcome.label,
            "budget": result.table(), "raw": raw.mut[serial],
        })
    correlations = {f"{a}|{b}": get_correlation(errors[a], errors[b]) for a, b in itertools.combinations(errors, 2)}
    return {
        "step_label": action.step.label, "role": action.step.role, "during": action.step.during,
        "disturbance": {"kind": disturbance[0], "parameters": disturbance[1]} if disturbance else None,
        "point": {"name": action.point.name, "nominal_m3h": action.point.nominal_m3h,
                  "low_m3h": action.point.low_m3h, "high_m3h": action.point.high_m3h},
        "repeat": action.repeat, "repeats": action.repeats, "planned_volume_l": volume_l,
        "flowrate_m3h": raw.flowrate_m3h, "reference_volume_l": v_ref.x * 1000, "u_reference_volume_l": v_ref.u * 1000,
        "reading": raw.reading_dict(), "conditions": raw.conditions, "sim_time_s": raw.time_s,
        "standards": runner.rig.standards(), "meters": rows, "correlations": correlations,
    }


def mut_inputs(runner: Any, serial: str, raw_mut: dict) -> dict:
    decl = runner.declarations[serial]
    source = f"meter under test {serial}"
    if "pulses" in raw_mut:
        return pulse_inputs(raw_mut["pulses"], decl.pulse_value_l * 1e-3, name=f"{serial} pulse count",
                            source=f"{source}, pulse output {decl.pulse_value_l:g} L/pulse")
    return register_inputs(raw_mut["start_l"] * 1e-3, raw_mut["end_l"] * 1e-3,
                           scale_interval_m3=decl.scale_interval_l * 1e-3, name=f"{serial} register", source=source)


def _indicated_l(mut: dict) -> float:
    if "mut_pulse_count" in mut:
        return mut["mut_pulse_count"].x * mut["mut_pulse_value_m3"] * 1000
    return (mut["mut_end_m3"].x - mut["mut_start_m3"].x) * 1000


def _clamp(q: float, meter: Any) -> float:
    """The measured flowrate may sit a hair outside the meter's range at Q1/Q4; MPE is taken at the edge."""
    low, high = (meter.q1_m3h, meter.q4_m3h) if hasattr(meter, "q1_m3h") else (meter.qmin_m3h, meter.qmax_m3h)
    return min(max(q, low), high)
