"""Running a safety_test step: the stimulus from the safety profile, the valve watched over the meter's interface,
then (after a shut-off) the closed valve's leak and the event the meter transmitted, and the rig put back (valve
reset, flow stopped). The payload holds what was observed and the profile's limits with their clause and status,
so the evaluation (procedures/evaluation.py, check `safety`) judges from the record alone.

A continuous-use test draws the point's flow without interruption and judges the time to the valve closed against
the band's time of the profile's table (± its tolerance). A restore test trips the meter by excess flow, watches
the closed valve for the profile's hold time with no restore (it must stay closed), then sends the restore command
with a leak drawn downstream (the meter's restore check must close the valve again) or without (it must open)."""

from __future__ import annotations

import math
from typing import Any

from meterlab.errors import RigError
from meterlab.metrology.safety import SHUT_OFF_CAUSES, SafetyProfile, time_to_state
from meterlab.procedures.plan import Action
from meterlab.procedures.schema import SafetyTest
from meterlab.rigs.safety import POLL_S

POLL_HALF_WIDTH = 0.5  # a polled stimulus (the inlet crossing its threshold) lies within ± half a poll


def run_safety_test(runner: Any, action: Action, profile: SafetyProfile) -> dict:
    step: SafetyTest = action.step
    rig, guard = runner.rig, runner.checkpoint
    if rig.valve_state().valve != "open":
        rig.reset_valve()  # a test starts with the valve open, whatever the last one left
    try:
        if step.function == "restore":
            return _finish(runner, action, _restore(rig, step, profile, runner, guard))
        serial = runner.meters[0][0]
        if step.function == "gas_alarm" and "gas_alarm" not in runner.declarations[serial].safety_inputs:
            why = "the meter declares no gas-alarm input (declaration `safety_inputs:`): nothing to test"
            return _finish(runner, action, {"not_applicable": why})
        stimulus, watch, limit = STIMULI[step.function](rig, step, action, profile, runner, guard)
        payload = _observed(step, watch, limit)
        payload["stimulus"] = stimulus
        if step.function == "continuous_use":
            payload["nominal_time_s"] = stimulus["table_time_s"]
        if watch.shut_off and step.tightness:
            payload["leak"] = _leak(rig, profile, runner, guard)
        if watch.shut_off and step.event and step.expect == "shut_off":  # an unwanted closing fails on its own
            payload["transmitted"] = _transmitted(watch, SHUT_OFF_CAUSES[step.function])
            payload["limit_event_s"] = _limit(profile.event.max_time_difference_s)
    finally:
        rig.stop_flow()
    return _finish(runner, action, payload)


def _finish(runner: Any, action: Action, payload: dict) -> dict:
    """The rig put back (the flow was stopped: a reset's restore check finds nothing), the payload labelled."""
    rig, step = runner.rig, action.step
    rig.stop_flow()
    if rig.valve_state().valve != "open":
        rig.reset_valve(guard=runner.checkpoint)
    return {"step_label": step.label, "function": step.function, "expect": step.expect, "variant": action.variant,
            "meter_serial": runner.meters[0][0], **payload}


def _seismic(rig, step, action, profile, runner, guard):
    seismic = profile.seismic
    point = next(p for p in getattr(seismic, step.table).points if p.label == action.variant)
    window = seismic.flow_window_s.value
    if step.gas_in_use:
        rig.set_flow(seismic.flowrate_m3h.value)
    else:
        rig.stop_flow()
        rig.wait(window, guard=guard)  # no gas in use for the window before the quake
    observe = 0.0 if step.gas_in_use else window  # without gas: watch the window after it too
    watch = rig.shake(point.acceleration_gal, point.period_s, seismic.shaking_s.value, observe_s=observe, guard=guard)
    stimulus = {"acceleration_gal": point.acceleration_gal, "period_s": point.period_s,
                "duration_s": seismic.shaking_s.value, "gas_in_use": step.gas_in_use}
    return stimulus, watch, _limit(seismic.max_shut_off_s)


def _shock(rig, step, action, profile, runner, guard):
    shock = profile.shock
    rig.set_flow(profile.seismic.flowrate_m3h.value)
    watch = rig.shock(shock.peak_m_s2.value, shock.duration_ms.value, shock.observe_s.value, guard=guard)
    return {"peak_m_s2": shock.peak_m_s2.value, "duration_ms": shock.duration_ms.value}, watch, None


def _pressure_drop(rig, step, action, profile, runner, guard):
    drop = profile.pressure_drop
    threshold = profile.pressure_threshold_pa(step.gas)
    fraction = drop.below_fraction if step.expect == "shut_off" else drop.above_fraction
    target = threshold * fraction.value
    rig.set_flow(profile.seismic.flowrate_m3h.value)
    watch = rig.lower_inlet_pressure(target, drop.ramp_pa_per_s.value, threshold, drop.observe_s.value, guard=guard)
    stimulus = {"gas": step.gas, "threshold_pa": threshold, "inlet_gauge_pa": target,
                "ramp_pa_per_s": drop.ramp_pa_per_s.value, "polled_stimulus": True}
    return stimulus, watch, _limit(drop.max_shut_off_s)


def _excess_flow(rig, step, action, profile, runner, guard):
    excess = profile.excess_flow
    meter = runner.declarations[runner.meters[0][0]].meter()
    size, threshold = profile.excess_threshold_m3h(meter.qmax_m3h)
    fraction = excess.above_fraction if step.expect == "shut_off" else excess.below_fraction
    q, watch = rig.excess_flow(threshold * fraction.value, excess.observe_s.value, guard=guard)
    stimulus = {"size": size, "threshold_m3h": threshold, "flowrate_m3h": q}
    if step.expect == "shut_off" and q <= threshold or step.expect == "no_shut_off" and q >= threshold:
        raise RigError(f"the nozzles give {q:.3g} m³/h for an excess-flow test around {threshold:g} m³/h: on the "
                       f"wrong side of the threshold")
    return stimulus, watch, _limit(excess.max_shut_off_s)


def _continuous_use(rig, step, action, profile, runner, guard):
    use = profile.continuous_use
    target = next(f for f in use.points_m3h.values if f"{f:g} m³/h" == action.variant)
    band_s = use.band_time_s(target)
    if band_s is None:
        raise RigError(f"the continuous-use point {target:g} m³/h is above the profile's last band")
    tolerance = use.tolerance_fraction.value
    # coarse polling up to the earliest conforming time, then fine polling until past the latest one
    observe = band_s * (1 + tolerance) + use.poll_s.value
    q, watch = rig.continuous_use(target, band_s * (1 - tolerance), observe, use.poll_s.value, guard=guard)
    if use.band_time_s(q) != band_s:
        raise RigError(f"the nozzles give {q:.3g} m³/h for the continuous-use point {target:g} m³/h: another band "
                       f"of the table")
    stimulus = {"flowrate_m3h": q, "table_time_s": band_s, "table": _limit_of(use.table)}
    return stimulus, watch, _limit(use.tolerance_fraction)


def _restore(rig, step, profile, runner, guard) -> dict:
    """Trip the meter (excess flow), watch the closed valve without a restore, then restore it with or without a
    leak downstream; what each stage saw."""
    restore, excess = profile.restore, profile.excess_flow
    meter = runner.declarations[runner.meters[0][0]].meter()
    _, threshold = profile.excess_threshold_m3h(meter.qmax_m3h)
    q, trip = rig.excess_flow(threshold * excess.above_fraction.value, excess.max_shut_off_s.value
                              + excess.observe_s.value, guard=guard)
    payload: dict = {"tripped": trip.shut_off, "trip_flowrate_m3h": q, "leak_downstream": step.leak,
                     "limit_hold_s": _limit(restore.hold_s), "limit_shut_off_s": _limit(restore.max_check_s),
                     "poll_s": POLL_S, "shut_off": False}
    if not trip.shut_off:
        return payload
    leak_q = rig.set_flow(restore.leak_flow_m3h.value) if step.leak else 0.0
    if not step.leak:
        rig.stop_flow()
    reopened_after, held = rig.hold_closed(restore.hold_s.value, guard=guard)
    payload.update(reopened_by_itself_after_s=reopened_after, held_valve=held.valve, leak_flowrate_m3h=leak_q)
    if reopened_after is not None:  # it opened with no restore: its restore check cannot be tested (the check says so)
        return payload
    watch = rig.restore_valve(restore.max_check_s.value + 2 * POLL_S, guard=guard)
    payload.update(_observed(step, watch, _limit(restore.max_check_s)))
    payload["final_valve"] = watch.state.valve
    payload["stimulus"] = {"restore_command": True, "leak_flowrate_m3h": leak_q}
    if watch.shut_off and step.event:
        payload["transmitted"] = _transmitted(watch, SHUT_OFF_CAUSES["restore"])
        payload["limit_event_s"] = _limit(profile.event.max_time_difference_s)
    return payload


def _gas_alarm(rig, step, action, profile, runner, guard):
    alarm = profile.gas_alarm
    rig.set_flow(profile.seismic.flowrate_m3h.value)  # gas in use, as in the other functions' tests
    hold = None if step.expect == "shut_off" else alarm.short_fraction.value * alarm.min_alarm_s.value
    watch = rig.gas_alarm(hold, alarm.observe_s.value, guard=guard)
    stimulus = {"alarm_s": hold if hold is not None else "held", "min_alarm_s": alarm.min_alarm_s.value}
    return stimulus, watch, _limit(alarm.max_shut_off_s)


def _low_battery(rig, step, action, profile, runner, guard):
    """The lab's DC source in place of the battery, held at a fraction of the profile's threshold (gas in use)."""
    low = profile.low_battery
    threshold = low.threshold_v.value
    fraction = low.below_fraction if step.expect == "shut_off" else low.above_fraction
    volts = threshold * fraction.value
    rig.set_flow(profile.seismic.flowrate_m3h.value)  # gas in use, as in the other functions' tests
    watch = rig.low_battery(volts, low.observe_s.value, guard=guard)
    return {"battery_v": volts, "threshold_v": threshold}, watch, _limit(low.max_shut_off_s)


STIMULI = {"seismic": _seismic, "shock": _shock, "pressure_drop": _pressure_drop, "excess_flow": _excess_flow,
           "continuous_use": _continuous_use, "gas_alarm": _gas_alarm, "low_battery": _low_battery}


def _limit(value) -> dict:
    return {"value": value.value, "clause": value.clause, "status": value.status}


def _limit_of(sourced) -> dict:
    return {"clause": sourced.clause, "status": sourced.status}


def _observed(step: SafetyTest, watch, limit: dict | None) -> dict:
    """What polling saw: did it close, when (estimate, u), for what cause, against which limit."""
    payload: dict = {"shut_off": watch.shut_off, "watched_until_s": watch.last_open_s - watch.stimulus_s,
                     "limit_shut_off_s": limit, "poll_s": watch.poll_s}
    if not watch.shut_off:
        return payload
    time = time_to_state(watch.stimulus_s, watch.last_open_s, watch.closed_s)
    u = time.u_s
    if step.function == "pressure_drop":  # the crossing was polled too
        u = math.hypot(u, POLL_HALF_WIDTH * payload["poll_s"] / math.sqrt(3))
    payload.update(time_s=time.value_s, u_time_s=u, stimulus_at_s=watch.stimulus_s,
                   cause=watch.state.events[0].cause if watch.state.events else None)
    return payload


def _leak(rig, profile: SafetyProfile, runner, guard) -> dict:
    valve = profile.valve
    value, certificate = rig.valve_leak_l_h(valve.leak_settle_s.value, guard=guard)
    problems = runner.check_standards([(certificate, value)]) if certificate else []
    u = _tester_u(runner, certificate, value)
    leak = {"value_l_h": value, "U_l_h": 2 * u, "k": 2, "certificate": certificate, "limit": _limit(valve.max_leak_l_h)}
    if problems:
        leak["calibration_problems"] = problems
    return leak


def _tester_u(runner, certificate: str | None, value: float) -> float:
    """The leak tester's standard uncertainty from its certificate (0 without a register or certificate)."""
    if runner.register is None or certificate is None:
        return 0.0
    return float(runner.register.correction(certificate, at=max(value, 0.0)).u)


def _transmitted(watch, cause: str | None) -> dict:
    """The newest shut-off the meter logged (its clock is the lab's: set before the test), from the stimulus."""
    logged = [e for e in watch.state.events if e.cause != "reset"]
    if not logged:
        return {"cause": None, "time_since_stimulus_s": None}
    newest = logged[0]
    return {"cause": newest.cause, "expected_cause": cause, "time_since_stimulus_s": newest.t_s - watch.stimulus_s}
