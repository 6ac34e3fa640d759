"""Error of indication and the evaluations built on it: WME, repeatability, sign rule, faults, durability.

Pure functions on floats (and, for `error_of_indication`, GTC uncertain numbers). Limits come from the
meter's standard profile, never from here.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from meterlab.errors import DeclarationError
from meterlab.metrology.meters import GasMeter, _Meter
from meterlab.metrology.profiles import StandardProfile, load_profile


def error_of_indication(indicated, reference):
    """E = (V_i − V_ref)/V_ref × 100, in percent. Accepts floats or GTC uncertain numbers."""
    if isinstance(reference, (int, float)) and reference <= 0:
        raise DeclarationError("reference", reference, "a reference volume greater than 0")
    return (indicated - reference) / reference * 100.0


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
    prof = profile if isinstance(profile, StandardProfile) else load_profile(profile)
    wme = prof.weighted_mean_error
    if wme is None:
        raise DeclarationError("profile", prof.profile, "a profile with a weighted_mean_error section (R 137)")
    if wme.points == "upper" and qt_m3h is None:
        raise DeclarationError("qt_m3h", None, "Qt, because this profile sums only points from Qt to Qmax")
    sum_k = sum_ke = 0.0
    for flowrate_m3h, error_pct in points:
        if wme.points == "upper" and flowrate_m3h < qt_m3h:
            continue
        ratio = flowrate_m3h / qmax_m3h
        k = wme.weight_at_qmax.value if ratio >= wme.qmax_point_from_fraction.value else ratio
        sum_k += k
        sum_ke += k * error_pct
    if sum_k == 0:
        raise DeclarationError("points", [], "at least one test point with a flowrate above zero")
    return sum_ke / sum_k


def wme_limit_pct(meter: GasMeter) -> float:
    """Largest |WME| allowed for this meter by its profile."""
    return meter.profile.weighted_mean_error.max_abs_fraction_of_upper_mpe.value * meter.upper_mpe_pct()


@dataclass(frozen=True)
class Repeatability:
    errors_pct: tuple[float, ...]
    std_dev_pct: float
    limit_pct: float

    @property
    def ok(self) -> bool:
        return self.std_dev_pct <= self.limit_pct


def repeatability(errors_pct: Sequence[float], mpe_pct: float, profile: StandardProfile) -> Repeatability:
    """Experimental standard deviation of repeated errors at one flowrate, against the profile's limit."""
    if len(errors_pct) < 2:
        raise DeclarationError("errors_pct", list(errors_pct), "at least two repeated errors")
    limit = profile.repeatability.max_std_dev_fraction_of_mpe.value * mpe_pct
    return Repeatability(tuple(errors_pct), statistics.stdev(errors_pct), limit)


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


@dataclass(frozen=True)
class FaultResult:
    intrinsic_error_pct: float
    disturbed_error_pct: float
    fault_pct: float
    limit_pct: float

    @property
    def significant(self) -> bool:
        return abs(self.fault_pct) >= self.limit_pct


def evaluate_fault(intrinsic_error_pct: float, disturbed_error_pct: float, meter: _Meter, **conditions) -> FaultResult:
    """Fault = error during/after a disturbance minus the intrinsic error, against the significant-fault limit."""
    limit = meter.significant_fault_pct(**conditions)
    return FaultResult(intrinsic_error_pct, disturbed_error_pct, disturbed_error_pct - intrinsic_error_pct, limit)


@dataclass(frozen=True)
class DurabilityPoint:
    label: str
    zone: str
    before_pct: float
    after_pct: float
    shift_pct: float
    max_shift_pct: float
    max_error_pct: float

    @property
    def ok(self) -> bool:
        return abs(self.shift_pct) <= self.max_shift_pct and abs(self.after_pct) <= self.max_error_pct


def durability_shift(
    before: Mapping[str, tuple[float, float]],
    after: Mapping[str, float],
    meter: _Meter,
    *,
    hot: bool = False,
) -> list[DurabilityPoint]:
    """Error-curve shift after a durability test, point by point, with the profile's limits.

    before maps a point label to (flowrate_m3h, error_pct before); after maps the same labels to the
    error after the test. A label missing from `after` is an error (a shift needs both curves).
    """
    missing = sorted(set(before) - set(after))
    if missing:
        raise DeclarationError("after", missing, "an error after the durability test for every point measured before")
    limits = meter.profile.durability.classes[meter.profile.class_key(meter.accuracy_class)]
    result = []
    for label, (flowrate_m3h, before_pct) in before.items():
        zone = meter.zone(flowrate_m3h)
        if zone == "lower":
            max_shift, max_error = limits.max_shift_lower, limits.max_error_lower
        else:
            max_shift = limits.max_shift_upper
            max_error = limits.max_error_upper_hot if hot and limits.max_error_upper_hot else limits.max_error_upper
        shift = after[label] - before_pct
        result.append(DurabilityPoint(label, zone, before_pct, after[label], shift, max_shift, max_error))
    return result
