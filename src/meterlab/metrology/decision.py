"""Decision rules that turn a measured quantity, its uncertainty and its limit into an outcome.

Rules are pluggable (look them up by name) and every Decision records which rule produced it, with
the numbers it used, so the verdict can be re-derived from the record (ILAC-G8:09/2019, JCGM 106:2012 =
OIML G 1-106).

A rule judges the magnitude of a quantity (|E|, |fault|, a standard deviation) against an upper limit,
given the coverage interval [low, high] of that magnitude:

- simple acceptance (shared risk): pass when the measured value is within the limit, else fail;
- guarded acceptance, guard band w = U (ILAC-G8:09/2019 4.2, non-binary statement): pass when the whole
  interval is within the limit, fail when the whole interval is beyond it; otherwise *conditional pass*
  (the measured value is within the limit) or *conditional fail* (it is beyond).

Whatever the rule, a quantity whose interval lies wholly beyond the limit (|E| − U > MPE) is a
demonstrated failure: it is a fail even when U exceeds the allowed fraction of the MPE. "Uncertainty too
large" is then reported beside the fail (Decision.uncertainty_too_large), not instead of it; only when the
failure is not demonstrated does it become the outcome.

Every decision states its specific risk (JCGM 106:2012): the probability that an accepted item is in fact
beyond the limit (false acceptance) or that a rejected one is in fact within it (false rejection), for a
normal distribution of the measurand N(E, u) with u = U/k.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Protocol

from scipy.stats import norm

from meterlab.errors import DeclarationError


class Outcome(IntEnum):
    """Ordered so that a parent's outcome is the worst (max) of its children's.

    A conditional fail (the measured value is beyond the limit) ranks above "uncertainty too large" and
    "inconclusive" (nothing could be said): it is evidence of non-conformity. INCONCLUSIVE stays for checks
    that lack their data, and for records made before conditional outcomes existed.
    """

    PASS = 0
    CONDITIONAL_PASS = 1
    INCONCLUSIVE = 2
    UNCERTAINTY_TOO_LARGE = 3
    CONDITIONAL_FAIL = 4
    FAIL = 5

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")

    @classmethod
    def from_label(cls, label: str) -> Outcome:
        """The outcome of a stored label ("pass", "conditional fail", "uncertainty too large", ...)."""
        return cls[label.upper().replace(" ", "_")]

    @property
    def accepted(self) -> bool:
        return self in (Outcome.PASS, Outcome.CONDITIONAL_PASS)

    @property
    def rejected(self) -> bool:
        return self in (Outcome.CONDITIONAL_FAIL, Outcome.FAIL)


def specific_risk(outcome: Outcome, probability_within: float) -> dict | None:
    """The specific risk of a decision: false acceptance (1 − p_within) for an accepted item, false
    rejection (p_within) for a rejected one; None when no decision was made."""
    if outcome.accepted:
        return {"kind": "false acceptance", "probability": 1.0 - probability_within}
    if outcome.rejected:
        return {"kind": "false rejection", "probability": probability_within}
    return None


def within(magnitude: float, limit: float, included: bool) -> bool:
    """Is a magnitude within the limit? `included`: the limit itself conforms (|E| ≤ MPE); a significant
    fault is one ≥ its limit, so there the limit does not conform."""
    return magnitude <= limit if included else magnitude < limit


class DecisionRule(Protocol):
    name: str

    def outcome(self, point: float, low: float, high: float, limit: float, included: bool = True) -> Outcome: ...

    def guard_band(self, expanded_uncertainty: float) -> float: ...


class SimpleAcceptance:
    """Pass when the measured value is within the limit (shared risk; the uncertainty check guards its use)."""

    name = "simple acceptance"

    def outcome(self, point: float, low: float, high: float, limit: float, included: bool = True) -> Outcome:
        return Outcome.PASS if within(point, limit, included) else Outcome.FAIL

    def guard_band(self, expanded_uncertainty: float) -> float:
        return 0.0


class GuardedAcceptance:
    """Guard band w = U: pass, conditional pass, conditional fail or fail (ILAC-G8:09/2019)."""

    name = "guarded acceptance (w = U)"

    def outcome(self, point: float, low: float, high: float, limit: float, included: bool = True) -> Outcome:
        if within(high, limit, included):
            return Outcome.PASS
        if not within(low, limit, included):
            return Outcome.FAIL
        return Outcome.CONDITIONAL_PASS if within(point, limit, included) else Outcome.CONDITIONAL_FAIL

    def guard_band(self, expanded_uncertainty: float) -> float:
        return expanded_uncertainty  # acceptance zone: up to limit − w


RULES: dict[str, type] = {"simple": SimpleAcceptance, "guarded": GuardedAcceptance}


def get_rule(name: str | DecisionRule) -> DecisionRule:
    if not isinstance(name, str):
        return name
    try:
        return RULES[name]()
    except KeyError:
        raise DeclarationError("decision_rule", name, f"one of {', '.join(RULES)}") from None


@dataclass(frozen=True)
class Decision:
    """A decision on an error-like quantity in percent (an error, a fault, a WME, a shift) and its limit."""

    outcome: Outcome
    rule: str
    error_pct: float                    # the quantity judged
    expanded_uncertainty_pct: float
    mpe_pct: float                      # its limit (the MPE for an error)
    max_uncertainty_pct: float | None   # the profile's U limit at this point; None = not checked
    rule_outcome: Outcome               # what the rule alone said, before the uncertainty check
    k: float
    guard_band_pct: float
    probability_within: float           # p_c: probability that the true value is within the limit
    uncertainty_too_large: bool

    @property
    def specific_risk(self) -> dict | None:
        return specific_risk(self.outcome, self.probability_within)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["outcome"], d["rule_outcome"] = self.outcome.label, self.rule_outcome.label
        d["specific_risk"] = self.specific_risk
        return d

    def details(self) -> dict:
        """What a check stores beside its own numbers: the rule, its guard band and the specific risk."""
        return {"decision_rule": self.rule, "rule_outcome": self.rule_outcome.label, "guard_band_pct": self.guard_band_pct,
                "probability_within_limit": self.probability_within, "specific_risk": self.specific_risk,
                "uncertainty_too_large": self.uncertainty_too_large}


def _checked(error_pct: float, expanded_uncertainty_pct: float, mpe_pct: float, k: float) -> None:
    for field, value, ok, allowed in (("error_pct", error_pct, True, "a finite number"),
                                      ("expanded_uncertainty_pct", expanded_uncertainty_pct,
                                       expanded_uncertainty_pct >= 0, "a finite U >= 0"),
                                      ("mpe_pct", mpe_pct, mpe_pct > 0, "a finite limit > 0"),
                                      ("k", k, k > 0, "a finite k > 0")):
        if not (math.isfinite(value) and ok):
            raise DeclarationError(field, value, allowed)


def probability_within(value: float, u: float, limit: float, included: bool = True) -> float:
    """p_c = Φ((L − y)/u) − Φ((−L − y)/u) for N(y, u) and the tolerance ±L (JCGM 106:2012, conformance probability)."""
    if u == 0:
        return 1.0 if within(abs(value), limit, included) else 0.0
    return float(norm.cdf((limit - value) / u) - norm.cdf((-limit - value) / u))


def decide(
    error_pct: float,
    expanded_uncertainty_pct: float,
    mpe_pct: float,
    *,
    rule: str | DecisionRule = "simple",
    max_uncertainty_pct: float | None = None,
    k: float = 2.0,
    limit_included: bool = True,
) -> Decision:
    """Decide on |error_pct| ≤ mpe_pct with U = expanded_uncertainty_pct at coverage factor k (u = U/k).

    When U exceeds max_uncertainty_pct the outcome is UNCERTAINTY_TOO_LARGE, unless the failure is
    demonstrated (|E| − U beyond the limit): then it is FAIL with uncertainty_too_large set beside it. The
    rule's own outcome is kept for review. limit_included=False makes the limit itself non-conforming.
    """
    _checked(error_pct, expanded_uncertainty_pct, mpe_pct, k)
    policy = get_rule(rule)
    point, U = abs(error_pct), expanded_uncertainty_pct
    low, high = max(point - U, 0.0), point + U
    rule_outcome = policy.outcome(point, low, high, mpe_pct, limit_included)
    too_large = max_uncertainty_pct is not None and U > max_uncertainty_pct
    demonstrated = not within(low, mpe_pct, limit_included)
    outcome = rule_outcome if not too_large else Outcome.FAIL if demonstrated else Outcome.UNCERTAINTY_TOO_LARGE
    return Decision(outcome, policy.name, error_pct, U, mpe_pct, max_uncertainty_pct, rule_outcome, k,
                    policy.guard_band(U), probability_within(error_pct, U / k, mpe_pct, limit_included), too_large)


def worst(outcomes) -> Outcome:
    """The verdict of a group: the worst of its members (PASS for an empty group is refused)."""
    outcomes = list(outcomes)
    if not outcomes:
        raise DeclarationError("outcomes", [], "at least one outcome")
    return max(outcomes)
