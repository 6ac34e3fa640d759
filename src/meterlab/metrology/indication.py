"""Error of indication and the evaluations built on it: WME, repeatability, sign rule, faults, durability.

Pure functions on floats (and, for `error_of_indication`, GTC uncertain numbers) or on stored errors with
their budgets (`combination.StoredError`). Limits come from the meter's standard profile, never from here.

A fault, a durability shift and a WME are decided with their own uncertainty (see `combination` for how
the stored budgets combine) under the run's decision rule. Repeatability is decided on the experimental
standard deviation s of n repeats, the quantity the standard limits: simple acceptance compares s with the
limit (the standard's own small n sets the risk it accepts); guarded acceptance uses the χ² confidence
interval of σ at the coverage probability of U (ν = n − 1, each side (1 − p)/2), and the specific risk is
P(σ beyond the limit | s) for ν·s²/σ² ~ χ²(ν). The uncertainty of each error is not added to s: the
measurements' random scatter is already in s, which only makes the check stricter.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from scipy.stats import chi2

from meterlab.errors import DeclarationError
from meterlab.metrology.combination import Combination, StoredError, combine, mean, mean_difference
from meterlab.metrology.decision import Decision, DecisionRule, Outcome, decide, get_rule, specific_risk
from meterlab.metrology.meters import GasMeter, _Meter
from meterlab.metrology.profiles import StandardProfile, load_profile

Errors = float | Sequence[StoredError]  # one error as a number, or the stored repeats of it


def error_of_indication(indicated, reference):
    """E = (V_i − V_ref)/V_ref × 100, in percent. Accepts floats or GTC uncertain numbers."""
    if isinstance(reference, (int, float)) and reference <= 0:
        raise DeclarationError("reference", reference, "a reference volume greater than 0")
    return (indicated - reference) / reference * 100.0


def wme_weights(
    flowrates_m3h: Sequence[float],
    qmax_m3h: float,
    *,
    qt_m3h: float | None = None,
    profile: str | StandardProfile = "r137-2012",
) -> list[float]:
    """R 137 weights of the WME, one per flowrate: k_i = Q_i/Qmax, the profile's weight at Qmax, and 0 for a
    point the profile leaves out of the sum (below Qt when it sums the upper zone only). Normalised to Σ = 1."""
    prof = profile if isinstance(profile, StandardProfile) else load_profile(profile)
    wme = prof.weighted_mean_error
    if wme is None:
        raise DeclarationError("profile", prof.profile, "a profile with a weighted_mean_error section (R 137)")
    if wme.points == "upper" and qt_m3h is None:
        raise DeclarationError("qt_m3h", None, "Qt, because this profile sums only points from Qt to Qmax")
    weights = []
    for flowrate_m3h in flowrates_m3h:
        ratio = flowrate_m3h / qmax_m3h
        if wme.points == "upper" and flowrate_m3h < qt_m3h:
            weights.append(0.0)
        else:
            weights.append(wme.weight_at_qmax.value if ratio >= wme.qmax_point_from_fraction.value else ratio)
    if sum(weights) == 0:
        raise DeclarationError("points", [], "at least one test point with a flowrate above zero")
    return [k / sum(weights) for k in weights]


def weighted_mean_error(
    points: Iterable[tuple[float, float]],
    qmax_m3h: float,
    *,
    qt_m3h: float | None = None,
    profile: str | StandardProfile = "r137-2012",
) -> float:
    """R 137 weighted mean error: Σ k_i·E_i / Σ k_i with k_i = Q_i/Qmax, and the profile's weight at Qmax.

    points are (flowrate_m3h, error_pct) pairs. When the profile restricts the sum to the upper zone,
    qt_m3h is required.
    """
    points = list(points)
    weights = wme_weights([q for q, _ in points], qmax_m3h, qt_m3h=qt_m3h, profile=profile)
    return sum(k * e for k, (_, e) in zip(weights, points))


@dataclass(frozen=True)
class WmeResult:
    wme: Combination
    limit_pct: float
    decision: Decision


def evaluate_wme(points: Sequence[tuple[float, Sequence[StoredError]]], meter: GasMeter, *,
                 rule: str | DecisionRule = "simple") -> WmeResult:
    """The WME of (flowrate, repeats) points with its uncertainty (a weighted sum of the stored errors, each
    point its mean), decided against the profile's limit."""
    weights = wme_weights([q for q, _ in points], meter.qmax_m3h, qt_m3h=meter.qt_m3h, profile=meter.profile)
    wme = combine([(k / len(errors), e) for k, (_, errors) in zip(weights, points) if k > 0 for e in errors])
    limit = wme_limit_pct(meter)
    return WmeResult(wme, limit, decide(wme.value, wme.U, limit, rule=rule, k=wme.k))


def wme_limit_pct(meter: GasMeter) -> float:
    """Largest |WME| allowed for this meter by its profile."""
    return meter.profile.weighted_mean_error.max_abs_fraction_of_upper_mpe.value * meter.upper_mpe_pct()


@dataclass(frozen=True)
class Repeatability:
    errors_pct: tuple[float, ...]
    std_dev_pct: float
    limit_pct: float
    interval_pct: tuple[float, float]  # χ² interval of σ at coverage_pct
    coverage_pct: float
    probability_within: float          # P(σ ≤ limit | s)
    rule: str
    outcome: Outcome

    @property
    def ok(self) -> bool:
        return self.outcome.accepted

    def details(self) -> dict:
        return {"std_dev_pct": self.std_dev_pct, "limit_pct": self.limit_pct, "n": len(self.errors_pct),
                "dof": len(self.errors_pct) - 1, "sigma_interval_pct": list(self.interval_pct),
                "coverage_pct": self.coverage_pct, "decision_rule": self.rule,
                "probability_within_limit": self.probability_within,
                "specific_risk": specific_risk(self.outcome, self.probability_within)}


def repeatability(errors_pct: Sequence[float], mpe_pct: float, profile: StandardProfile, *,
                  rule: str | DecisionRule = "simple", coverage_pct: float = 95.45) -> Repeatability:
    """Experimental standard deviation of repeated errors at one flowrate, decided against the profile's limit
    (see the module docstring for the χ² interval and the risk)."""
    if len(errors_pct) < 2:
        raise DeclarationError("errors_pct", list(errors_pct), "at least two repeated errors")
    limit = profile.repeatability.max_std_dev_fraction_of_mpe.value * mpe_pct
    s, dof = statistics.stdev(errors_pct), len(errors_pct) - 1
    tail = (1 - coverage_pct / 100) / 2
    low, high = (s * math.sqrt(dof / chi2.ppf(q, dof)) for q in (1 - tail, tail))
    within = float(chi2.sf(dof * s**2 / limit**2, dof))  # P(χ² > ν s²/L²) = P(σ < L)
    policy = get_rule(rule)
    return Repeatability(tuple(errors_pct), s, limit, (low, high), coverage_pct, within, policy.name,
                         policy.outcome(s, low, high, limit))


@dataclass(frozen=True)
class SignRuleResult:
    applies: bool          # all errors have the same (non-zero) sign
    ok: bool
    smallest_ratio: float  # min |E|/MPE over the points
    fraction: float


def same_sign_rule(errors_and_mpes: Sequence[tuple[float, float]], profile: StandardProfile) -> SignRuleResult:
    """If all errors share one sign, at least one must lie within the profile's fraction of its MPE.

    errors_and_mpes: (error_pct, mpe_pct) per point. Profiles that do not enable the rule always pass.
    """
    rule = profile.mpe.sign_rule
    fraction = rule.fraction_of_mpe.value if rule else math.nan
    ratios = [abs(e) / m for e, m in errors_and_mpes]
    same_sign = bool(errors_and_mpes) and (all(e > 0 for e, _ in errors_and_mpes) or all(e < 0 for e, _ in errors_and_mpes))
    applies = bool(rule and rule.enabled and same_sign)
    ok = (not applies) or min(ratios) <= fraction
    return SignRuleResult(applies, ok, min(ratios) if ratios else math.nan, fraction)


def _errors(x: Errors) -> list[StoredError]:
    return [StoredError.exact(x)] if isinstance(x, (int, float)) else list(x)


@dataclass(frozen=True)
class FaultResult:
    intrinsic_error_pct: float
    disturbed_error_pct: float
    fault: Combination   # disturbed − intrinsic, with its uncertainty
    limit_pct: float
    decision: Decision

    @property
    def fault_pct(self) -> float:
        return self.fault.value

    @property
    def significant(self) -> bool:
        return self.decision.outcome.rejected


def evaluate_fault(intrinsic: Errors, disturbed: Errors, meter: _Meter, *, rule: str | DecisionRule = "simple",
                   **conditions) -> FaultResult:
    """Fault = error during/after a disturbance minus the intrinsic error (means of the repeats), decided with
    its uncertainty against the significant-fault limit (a fault at the limit is significant)."""
    before, after = _errors(intrinsic), _errors(disturbed)
    fault = mean_difference(after, before)
    limit = meter.significant_fault_pct(**conditions)
    decision = decide(fault.value, fault.U, limit, rule=rule, k=fault.k, limit_included=False)
    return FaultResult(mean(before).value, mean(after).value, fault, limit, decision)


@dataclass(frozen=True)
class DurabilityPoint:
    label: str
    zone: str
    before_pct: float
    after: Combination       # the error after the test (mean of repeats)
    shift: Combination       # after − before
    max_shift_pct: float
    max_error_pct: float
    shift_decision: Decision
    error_decision: Decision

    @property
    def after_pct(self) -> float:
        return self.after.value

    @property
    def shift_pct(self) -> float:
        return self.shift.value

    @property
    def outcome(self) -> Outcome:
        return max(self.shift_decision.outcome, self.error_decision.outcome)

    @property
    def ok(self) -> bool:
        return self.outcome.accepted


def durability_shift(
    before: Mapping[str, tuple[float, Errors]],
    after: Mapping[str, Errors],
    meter: _Meter,
    *,
    hot: bool = False,
    rule: str | DecisionRule = "simple",
) -> list[DurabilityPoint]:
    """Error-curve shift after a durability test, point by point, decided with its uncertainty against the
    profile's limits (the shift, and the error after the test).

    before maps a point label to (flowrate_m3h, error before); after maps the same labels to the error
    after the test. An error is a number or the stored repeats. A label missing from `after` is an error.
    """
    missing = sorted(set(before) - set(after))
    if missing:
        raise DeclarationError("after", missing, "an error after the durability test for every point measured before")
    limits = meter.profile.durability.classes[meter.profile.class_key(meter.accuracy_class)]
    result = []
    for label, (flowrate_m3h, before_errors) in before.items():
        zone = meter.zone(flowrate_m3h)
        if zone == "lower":
            max_shift, max_error = limits.max_shift_lower, limits.max_error_lower
        else:
            max_shift = limits.max_shift_upper
            max_error = limits.max_error_upper_hot if hot and limits.max_error_upper_hot else limits.max_error_upper
        earlier, later = _errors(before_errors), _errors(after[label])
        shift, error = mean_difference(later, earlier), mean(later)
        result.append(DurabilityPoint(label, zone, mean(earlier).value, error, shift, max_shift, max_error,
                                      decide(shift.value, shift.U, max_shift, rule=rule, k=shift.k),
                                      decide(error.value, error.U, max_error, rule=rule, k=error.k)))
    return result
