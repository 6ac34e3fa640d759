"""The evaluate step: checks over the measurements a run has stored (within MPE, repeatability, sign
rule, significant fault, WME, durability shift, pressure loss, no leak). Each check yields one result per
meter (and per point where it is a per-point check), with the numbers it used and an outcome.

Significant fault, durability shift and WME are decided with the uncertainty of the quantity they judge,
combined from the stored budgets of the errors (metrology.combination), under the run's decision rule;
repeatability on the χ² interval of its standard deviation (metrology.indication). Each stores its value,
u, ν, k, U, limit, rule, guard band and specific risk beside its outcome."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from meterlab.metrology.combination import StoredError
from meterlab.metrology.decision import Outcome, decide
from meterlab.metrology.indication import (
    durability_shift,
    evaluate_fault,
    evaluate_wme,
    repeatability,
    same_sign_rule,
)
from meterlab.metrology.meters import GasMeter, WaterMeter
from meterlab.metrology.profiles import Value
from meterlab.metrology import transmission
from meterlab.metrology.declarations import DeclaredFlag
from meterlab.metrology.status_flags import judge_watch
from meterlab.metrology.safety import (
    SHUT_OFF_CAUSES,
    ObservedTime,
    judge_leak,
    judge_no_shut_off,
    judge_time,
    judge_time_against_table,
    judge_transmitted_time,
)

Meter = WaterMeter | GasMeter


@dataclass(frozen=True)
class CheckResult:
    check: str
    meter_serial: str
    outcome: Outcome
    point: str | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["outcome"] = self.outcome.label
        return d


def _rows(measurements: list[dict], serial: str, label: str | None = None) -> list[dict]:
    """Per-meter result rows of the stored measurements, optionally of one measure_error label."""
    rows = []
    for m in measurements:
        if label is not None and m.get("step_label") != label:
            continue
        for r in m["meters"]:
            if r["meter_serial"] == serial:
                rows.append({**r, "point": m["point"]["name"], "flowrate_m3h": m["flowrate_m3h"],
                             "step_label": m.get("step_label"), "role": m.get("role")})
    return rows


def _by_point(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["point"]].append(r)
    return groups


def _by_point_and_label(rows: list[dict]) -> dict[tuple[str, str | None], list[dict]]:
    groups: dict[tuple[str, str | None], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["point"], r["step_label"])].append(r)
    return groups


def _errors(rows: list[dict]) -> list[StoredError]:
    return [StoredError.from_row(r) for r in rows]


def _flowrate(rows: list[dict]) -> float:
    return statistics.fmean(r["flowrate_m3h"] for r in rows)


def check_within_mpe(serial: str, meter: Meter, rows: list[dict]) -> list[CheckResult]:
    worst = max((Outcome.from_label(r["outcome"]) for r in rows), default=Outcome.PASS)
    exceed = [r["point"] for r in rows if abs(r["error_pct"]) > r["mpe_pct"]]
    return [CheckResult("within_mpe", serial, worst, details={"points_outside_mpe": exceed, "points": len(rows)})]


def check_repeatability(serial: str, meter: Meter, rows: list[dict], rule: str) -> list[CheckResult]:
    results = []
    for point, group in _by_point(rows).items():
        if len(group) < 2:
            continue
        rep = repeatability([r["error_pct"] for r in group], group[0]["mpe_pct"], meter.profile, rule=rule)
        results.append(CheckResult("repeatability", serial, rep.outcome, point, rep.details()))
    return results


def check_sign_rule(serial: str, meter: Meter, rows: list[dict]) -> list[CheckResult]:
    means = [(statistics.fmean(r["error_pct"] for r in g), g[0]["mpe_pct"]) for g in _by_point(rows).values()]
    result = same_sign_rule(means, meter.profile)
    return [CheckResult("sign_rule", serial, Outcome.PASS if result.ok else Outcome.FAIL,
                        details={"applies": result.applies, "smallest_ratio": result.smallest_ratio,
                                 "fraction": result.fraction})]


def check_significant_fault(serial: str, meter: Meter, rows: list[dict], reference: list[dict],
                            rule: str) -> list[CheckResult]:
    """Fault = mean error with the disturbance − mean intrinsic error at the same point, with its U; each
    disturbed measurement (label) on its own (a programme applying two disturbances at one point, such as the
    continuous and the short-duration power-frequency field, gets a fault for each)."""
    results = []
    intrinsic = _by_point(reference)
    for (point, label), group in _by_point_and_label(rows).items():
        if point not in intrinsic:
            continue
        fault = evaluate_fault(_errors(intrinsic[point]), _errors(group), meter, rule=rule)
        results.append(CheckResult("significant_fault", serial, fault.decision.outcome, point,
                                   {"measurement": label, "intrinsic_error_pct": fault.intrinsic_error_pct,
                                    "disturbed_error_pct": fault.disturbed_error_pct, "fault_pct": fault.fault_pct,
                                    "limit_pct": fault.limit_pct, **fault.fault.details(), **fault.decision.details()}))
    return results


def check_wme(serial: str, meter: Meter, rows: list[dict], rule: str) -> list[CheckResult]:
    if not isinstance(meter, GasMeter):
        return []
    result = evaluate_wme([(_flowrate(g), _errors(g)) for g in _by_point(rows).values()], meter, rule=rule)
    return [CheckResult("wme", serial, result.decision.outcome,
                        details={"wme_pct": result.wme.value, "limit_pct": result.limit_pct, **result.wme.details(),
                                 **result.decision.details()})]


def check_durability(serial: str, meter: Meter, rows: list[dict], reference: list[dict], rule: str) -> list[CheckResult]:
    after = {p: _errors(g) for p, g in _by_point(rows).items()}
    before = {p: (_flowrate(g), _errors(g)) for p, g in _by_point(reference).items() if p in after}
    return [CheckResult("durability_shift", serial, d.outcome, d.label,
                        {"before_pct": d.before_pct, "after_pct": d.after_pct, "shift_pct": d.shift_pct,
                         "max_shift_pct": d.max_shift_pct, "max_error_pct": d.max_error_pct,
                         "after_U_pct": d.after.U, "after_outcome": d.error_decision.outcome.label,
                         "shift_outcome": d.shift_decision.outcome.label,
                         **d.shift.details(), **d.shift_decision.details()})
            for d in durability_shift(before, {p: after[p] for p in before}, meter, rule=rule)]


# A typed pressure loss: the prompt's value name and its factor to kPa.
TYPED_PRESSURE_LOSS = {"pressure_loss_mpa": 1000.0, "pressure_loss_kpa": 1.0, "pressure_loss_pa": 1e-3}


def pressure_loss_values(serial: str, extra: dict) -> list[dict]:
    """The pressure losses of one meter: measured by the rig (with u) and typed by the operator (without)."""
    values = [{"point": e["point"], "pressure_loss_kpa": e["meters"][serial]["pressure_loss_kpa"],
               "u_kpa": e["meters"][serial].get("u_kpa", 0.0), "how": "measured"}
              for e in extra.get("pressure_loss", []) if serial in e["meters"]]
    values += [{"point": p.get("point"), "pressure_loss_kpa": p["value"] * TYPED_PRESSURE_LOSS[p["value_name"]],
                "u_kpa": 0.0, "how": f"typed by {p.get('answered_by')}"}
               for p in extra.get("prompts", [])
               if p.get("value_name") in TYPED_PRESSURE_LOSS and p.get("meter_serial") == serial and p.get("value") is not None]
    return values


def check_pressure_loss(serial: str, extra: dict, rule: str) -> list[CheckResult]:
    """Every pressure loss of the meter against its limit (k = 2 on the measured ones); without a limit or a
    value the check is inconclusive and says what is missing."""
    limit = extra.get("pressure_loss_limits", {}).get(serial)
    values = pressure_loss_values(serial, extra)
    if limit is None or not values:
        missing = "a pressure-loss limit for the meter" if limit is None else "a measured or typed pressure loss"
        return [CheckResult("pressure_loss", serial, Outcome.INCONCLUSIVE, details={"note": f"needs {missing}"})]
    results = []
    for v in values:
        d = decide(v["pressure_loss_kpa"], 2 * v["u_kpa"], limit["limit_kpa"], rule=rule)
        results.append(CheckResult("pressure_loss", serial, d.outcome, v["point"],
                                   {**v, "U_kpa": 2 * v["u_kpa"], "k": 2, **limit}))
    return results


LEAKAGE = "leakage_ml"  # the value an operator types after a static pressure hold (0: no leak seen)


def check_no_leak(serial: str, extra: dict) -> list[CheckResult]:
    """Every leakage the operator typed for the meter: none at all passes, any fails; nothing typed is
    inconclusive (the programme must ask for leakage_ml per meter)."""
    typed = [p for p in extra.get("prompts", []) if p.get("value_name") == LEAKAGE and p.get("meter_serial") == serial
             and p.get("value") is not None]
    if not typed:
        return [CheckResult("no_leak", serial, Outcome.INCONCLUSIVE,
                            details={"note": f"needs the leakage typed per meter (prompt ask: {LEAKAGE})"})]
    leaks = [p["value"] for p in typed]
    return [CheckResult("no_leak", serial, Outcome.PASS if max(leaks) == 0 else Outcome.FAIL,
                        details={"leakage_ml": leaks, "questions": [p.get("question") for p in typed],
                                 "typed_by": sorted({p.get("answered_by") for p in typed})})]


def check_no_registration(serial: str, extra: dict) -> list[CheckResult]:
    """Absence of flow: per watch_at_rest step, the pulses the meter output and the steps its register made at rest,
    against its profile's absence_of_flow limits (counts: a state, no uncertainty). Fails on either; a meter
    neither counted nor read over a bus is inconclusive (nothing was watched)."""
    results = []
    for watch in extra.get("at_rest", []):
        seen, limit = watch["meters"].get(serial), watch["limits"].get(serial)
        if not seen or limit is None:
            results.append(CheckResult("no_registration", serial, Outcome.INCONCLUSIVE, watch["step_label"], {
                "note": "neither pulses counted nor a bus register read at rest (a register read by hand is not "
                        "watched): nothing to judge"}))
            continue
        details: dict = {"duration_s": watch["duration_s"], "line_pressure_abs_pa": watch["line_pressure_abs_pa"],
                         "limits": limit}
        if watch.get("disturbance"):  # a supply interrupted between the readings (battery interruption)
            details["disturbance"] = watch["disturbance"]
        moved = []
        if "pulses" in seen:
            details["pulses"] = seen["pulses"]
            if seen["pulses"] > limit["max_pulses"]["value"]:
                moved.append(f"{seen['pulses']} pulses")
        register = seen.get("register")
        if register is not None and register.get("refused"):  # the driver refused it: it went backwards
            details["register"] = register
            moved.append(f"the register (read back implausible: {register['refused']})")
        elif register is not None:
            change_l = register["end_l"] - register["start_l"]
            steps = round(change_l / register["resolution_l"]) if register.get("resolution_l") else None
            details.update(register_change_l=change_l, register_steps=steps, register=register)
            if change_l != 0 and (steps is None or abs(steps) > limit["max_register_steps"]["value"]):
                moved.append(f"the register by {change_l:g} L")
        if moved:
            details["why"] = f"registered at rest: {' and '.join(moved)} in {watch['duration_s']:g} s"
        results.append(CheckResult("no_registration", serial, Outcome.FAIL if moved else Outcome.PASS,
                                   watch["step_label"], details))
    if not results:
        results.append(CheckResult("no_registration", serial, Outcome.INCONCLUSIVE, None,
                                   {"note": "no watch_at_rest step watched the meters"}))
    return results


def _value(limit: dict) -> Value:
    return Value(value=limit["value"], clause=limit["clause"], status=limit["status"])


def check_safety(extra: dict, rule: str) -> list[CheckResult]:
    """Every safety_test observation of the run (engine/safety.py), judged against the limits it recorded: the
    shut-off (or its absence), the closed valve's leak, the event the meter transmitted. One result each."""
    results: list[CheckResult] = []
    for test in extra.get("safety", []):
        where = " ".join(str(part) for part in (test.get("step_label") or test["function"], test.get("variant")) if part)
        if test.get("not_applicable"):  # listed by skipped_checks, no verdict
            continue
        if test["function"] == "restore":
            results.extend(_restore_results(test, where, rule))
            continue
        results.append(_shut_off_result(test, where, rule))
        if "leak" in test:
            leak = test["leak"]
            decision = judge_leak(leak["value_l_h"], leak["U_l_h"], _value(leak["limit"]), rule=rule)
            judged = {"value": max(leak["value_l_h"], 0.0), "U": leak["U_l_h"], "limit": leak["limit"]["value"],
                      "unit": "L/h"}
            results.append(CheckResult("safety", test["meter_serial"], decision.outcome, f"{where}: valve tightness",
                                       {**leak, **judged, **decision.details()}))
        if "transmitted" in test:
            results.append(_transmitted_result(test, where, rule))
    return results


def _restore_results(test: dict, where: str, rule: str) -> list[CheckResult]:
    """A restore test: the trip it needs, the valve shut until restored, then the restore check's outcome."""
    serial = test["meter_serial"]
    details = {k: v for k, v in test.items() if k != "transmitted"}
    if not test["tripped"]:
        note = "the meter did not shut off on excess flow: nothing to restore"
        return [CheckResult("safety", serial, Outcome.FAIL, where, {**details, "note": note})]
    reopened = test["reopened_by_itself_after_s"]
    state = {"unit": "state", "observed": "valve closed" if reopened is None else
             f"valve {test['held_valve']} {reopened:.0f} s after the shut-off, without a restore"}
    held = CheckResult("safety", serial, Outcome.PASS if reopened is None else Outcome.FAIL,
                       f"{where}: shut until restored", {**details, **state})
    if reopened is not None:  # nothing was restored: the restore check was not tested
        return [held]
    results = [held, _shut_off_result(test, where, rule)]
    if "transmitted" in test:
        results.append(_transmitted_result(test, where, rule))
    return results


def _shut_off_result(test: dict, where: str, rule: str) -> CheckResult:
    serial, details = test["meter_serial"], {k: v for k, v in test.items() if k not in ("leak", "transmitted")}
    if test["expect"] == "no_shut_off":  # a state seen, not a quantity: no value, U or limit in the tables
        final = test.get("final_valve", "open")  # a restore must also end with the valve open
        state = {"unit": "state", "observed": "valve closed" if test["shut_off"] else f"valve {final}"}
        outcome = judge_no_shut_off(test["shut_off"]) if final == "open" else Outcome.FAIL
        return CheckResult("safety", serial, outcome, where, {**details, **state})
    expected = SHUT_OFF_CAUSES[test["function"]]
    if not test["shut_off"]:
        note = f"the valve did not close within {test['watched_until_s']:.0f} s"
        return CheckResult("safety", serial, Outcome.FAIL, where, {**details, "note": note})
    if test.get("cause") != expected:
        note = f"the valve closed for {test.get('cause')!r}, not {expected!r}"
        return CheckResult("safety", serial, Outcome.FAIL, where, {**details, "note": note})
    observed = ObservedTime(test["time_s"], test["u_time_s"])
    if "nominal_time_s" in test:  # continuous use: the time against the table's, within ± its tolerance
        nominal = test["nominal_time_s"]
        decision = judge_time_against_table(observed, nominal, _value(test["limit_shut_off_s"]), rule=rule)
        judged = {"value": test["time_s"] - nominal, "U": 2 * test["u_time_s"],
                  "limit": test["limit_shut_off_s"]["value"] * nominal, "unit": "s",
                  "note": f"shut-off time {test['time_s']:.0f} s against the table's {nominal:g} s"}
        return CheckResult("safety", serial, decision.outcome, where,
                           {**details, **judged, "k": 2, **decision.details()})
    decision = judge_time(observed, _value(test["limit_shut_off_s"]), rule=rule)
    judged = {"value": test["time_s"], "U": 2 * test["u_time_s"], "limit": test["limit_shut_off_s"]["value"],
              "unit": "s"}
    return CheckResult("safety", serial, decision.outcome, where, {**details, **judged, "k": 2, **decision.details()})


def _transmitted_result(test: dict, where: str, rule: str) -> CheckResult:
    sent, serial = test["transmitted"], test["meter_serial"]
    limit = test.get("limit_event_s")
    if sent["time_since_stimulus_s"] is None or sent["cause"] != sent.get("expected_cause") or limit is None:
        note = "the meter transmitted no shut-off event" if sent["cause"] is None else \
            f"the meter transmitted {sent['cause']!r}, not {sent.get('expected_cause')!r}"
        return CheckResult("safety", serial, Outcome.FAIL, f"{where}: event transmitted", {**sent, "note": note})
    decision = judge_transmitted_time(sent["time_since_stimulus_s"], ObservedTime(test["time_s"], test["u_time_s"]),
                                      _value(limit), rule=rule)
    judged = {"value": sent["time_since_stimulus_s"] - test["time_s"], "U": 2 * test["u_time_s"],
              "limit": limit["value"], "unit": "s"}
    return CheckResult("safety", serial, decision.outcome, f"{where}: event transmitted",
                       {**sent, **judged, **decision.details()})


def _transmission_results(serial: str, meter: Meter, watched: dict, rate, declared: dict,
                          where: str) -> list[CheckResult]:
    """One result per interface of one watch (a disturbed measurement, or a disturbance between two)."""
    results = []
    for interface in watched["interfaces"]:
        judged = transmission.judge(interface["datasets"], rate, fault_pct=meter.significant_fault_pct(),
                                    limits=meter.profile.data_transmission, disturbance=watched["disturbance"],
                                    scale_interval_l=declared.get("scale_interval_l", 0.0),
                                    flow=watched.get("flow"))  # a standing start: when the flow ran
        results.append(CheckResult("data_transmission", serial, judged.outcome, f"{where}, {interface['kind']}",
                                   {**judged.figures, "interface": interface["kind"],
                                    "reasons": "; ".join(judged.reasons) or None}))
    return results


def _rate(indicated_l: float, times: dict):
    # a rig whose counters count through part of the measurement only (the bell prover: not while the bell fills)
    # says for how long (`counted_s`): the indication rate is the pulses over that time
    return transmission.Rate(indicated_l, times.get("counted_s", times["stop_s"] - times["start_s"]))


def check_data_transmission(serial: str, meter: Meter, measurements: list[dict], declared: dict,
                            between: list[dict] = ()) -> list[CheckResult]:
    """Per disturbed measurement (or disturbance between measurements) and interface: what the meter transmitted
    while disturbed, against its pulses (metrology/transmission.py). `declared`: the meter's interfaces and scale
    interval; `between`: the watches of disturbances applied between measurements, with the measurement before
    each (its pulses' rate; none: the volumes are not judged)."""
    results = []
    for m in measurements:
        for row in m["meters"]:
            watched = row["meter_serial"] == serial and (row.get("raw") or {}).get("transmission")
            if watched:
                results += _transmission_results(serial, meter, watched, _rate(row["indicated_volume_l"], m["sim_time_s"]),
                                                 declared, f"{m['point']['name']} ({m.get('step_label')})")
    for item in (b for b in between if b["meter_serial"] == serial):
        before = item["before"]
        rate = _rate(before["indicated_volume_l"], before["sim_time_s"]) if before else None
        where = f"between measurements, rate of {before['label'] if before else 'none'}"
        results += _transmission_results(serial, meter, item["transmission"], rate, declared, where)
    if not results:  # declared, but no disturbed measurement polled it: nothing to judge
        results.append(CheckResult("data_transmission", serial, Outcome.INCONCLUSIVE, None,
                                   {"reasons": "no disturbed measurement polled the declared interface(s)"}))
    return results


# conditions applied by a held disturbance, which reaches only the meters its generator is wired to
HELD_CONDITIONS = {"magnet": "magnetic_field"}


def check_transmitted_status(serial: str, watches: list[dict], declared: dict) -> list[CheckResult]:
    """Per watch_status step and interface: the status flags the meter transmitted, against the condition the
    step applied and the flags the meter declares (metrology/status_flags.py). `declared`: its `status_flags`
    (flag -> DeclaredFlag fields). A flag the meter declares latched, once raised, may stand in later watches."""
    flags = {name: DeclaredFlag.model_validate(spec) for name, spec in (declared.get("status_flags") or {}).items()}
    results, latched, not_reached = [], frozenset(), set()
    for watch in watches:
        watched = (watch.get("meters") or {}).get(serial)
        if not watched:
            continue
        condition = watch["condition"]
        held_kind = HELD_CONDITIONS.get(condition)
        if held_kind and watch["phase"] == "during" and held_kind not in watched.get("under", ()):
            not_reached.add(condition)
        if condition in not_reached:
            where = f"{watch.get('step_label')} ({watch['phase']}, {condition})"
            results.append(CheckResult("transmitted_status", serial, Outcome.INCONCLUSIVE, where, {
                "phase": watch["phase"], "condition": condition,
                "reasons": f"the {held_kind} was not applied to this meter (its source is wired to another meter in "
                           f"the bench file): nothing to judge"}))
            continue
        for interface in watched["interfaces"]:
            judged = judge_watch(interface["datasets"], watched["t_start_s"], watch["phase"], condition,
                                 flags.get(condition) if condition else None, latched)
            where = f"{watch.get('step_label')} ({watch['phase']}{', ' + condition if condition else ''}), " \
                    f"{interface['kind']}"
            results.append(CheckResult("transmitted_status", serial, judged.outcome, where,
                                       {**judged.figures, "interface": interface["kind"],
                                        "reasons": "; ".join(judged.reasons) or None}))
            seen = {f for d in interface["datasets"] if d.get("integrity") == "valid" for f in d.get("flags") or ()}
            latched |= {f for f in seen if f in flags and flags[f].clears == "latched"}
    if not results:
        results.append(CheckResult("transmitted_status", serial, Outcome.INCONCLUSIVE, None,
                                   {"reasons": "no watch_status step polled the declared interface(s)"}))
    return results


NO_INTERFACE = "the meter declares no communication interface (declaration `interfaces:`): nothing to judge"


def skipped_checks(checks: list[str], declared: dict[str, dict], serials: list[str],
                   safety: list[dict] | None = None) -> list[dict]:
    """The checks that do not apply to a meter, and why (a meter without an interface has no transmitted data; a
    safety test of an input the meter does not declare)."""
    skipped = [{"check": "safety", "meter_serial": t["meter_serial"],
                "why": f"{t['step_label']}: {t['not_applicable']}"}
               for t in safety or [] if "safety" in checks and t.get("not_applicable")]
    return skipped + [{"check": check, "meter_serial": s, "why": NO_INTERFACE}
                      for check in ("data_transmission", "transmitted_status") if check in checks
                      for s in serials if not declared.get(s, {}).get("interfaces")]


def evaluate_checks(checks: list[str], measurements: list[dict], meters: list[tuple[str, Meter]],
                    reference_label: str | None, extra: dict | None = None, rule: str = "simple") -> list[CheckResult]:
    """Run the named checks for every meter over the measurements stored so far. `extra` holds the other
    records some checks read: pressure_loss entries, operator prompts, pressure_loss_limits by serial."""
    extra = extra or {}
    results: list[CheckResult] = []
    reference_labels = {reference_label} if reference_label else set()
    for serial, meter in meters:
        reference = _rows(measurements, serial, reference_label) if reference_label else []
        rows = [r for r in _rows(measurements, serial) if r["step_label"] not in reference_labels]
        if not rows:
            rows = reference
        for check in checks:
            if check == "within_mpe":
                results += check_within_mpe(serial, meter, rows + reference)
            elif check == "repeatability":
                results += check_repeatability(serial, meter, rows, rule)
            elif check == "sign_rule":
                results += check_sign_rule(serial, meter, rows)
            elif check == "significant_fault":
                results += check_significant_fault(serial, meter, rows, reference, rule)
            elif check == "wme":
                results += check_wme(serial, meter, rows, rule)
            elif check == "durability_shift":
                results += check_durability(serial, meter, rows, reference, rule)
            elif check == "pressure_loss":
                results += check_pressure_loss(serial, extra, rule)
            elif check == "no_leak":
                results += check_no_leak(serial, extra)
            elif check == "no_registration":
                results += check_no_registration(serial, extra)
            elif check == "data_transmission" and extra.get("interfaces", {}).get(serial, {}).get("interfaces"):
                results += check_data_transmission(serial, meter, measurements, extra["interfaces"][serial],
                                                   extra.get("between", []))
            elif check == "transmitted_status" and extra.get("interfaces", {}).get(serial, {}).get("interfaces"):
                results += check_transmitted_status(serial, extra.get("status_watches", []),
                                                    extra["interfaces"][serial])
    if "safety" in checks:  # the safety tests are of the meter with the interface, not of every meter
        results += check_safety(extra, rule)
    return results
