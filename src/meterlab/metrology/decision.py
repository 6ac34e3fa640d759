"""Decision rules that turn an error, its expanded uncertainty and the MPE into an outcome.

Rules are pluggable (look them up by name) and every Decision records which rule produced it, with
the numbers it used, so the verdict can be re-derived from the record (ILAC-G8, JCGM 106 / OIML G 1-106).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Protocol

from meterlab.errors import DeclarationError


class Outcome(IntEnum):
    """Ordered so that a parent's outcome is the worst (max) of its children's."""

    PASS = 0
    INCONCLUSIVE = 1
    UNCERTAINTY_TOO_LARGE = 2
    FAIL = 3

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    rule: str
    error_pct: float
    expanded_uncertainty_pct: float
    mpe_pct: float
    max_uncertainty_pct: float | None   # the profile's U limit at this point; None = not checked
    rule_outcome: Outcome               # what the rule alone said, before the uncertainty check

    def to_dict(self) -> dict:
        d = asdict(self)
        d["outcome"], d["rule_outcome"] = self.outcome.label, self.rule_outcome.label
        return d


class DecisionRule(Protocol):
    name: str

    def outcome(self, error_pct: float, expanded_uncertainty_pct: float, mpe_pct: float) -> Outcome: ...


class SimpleAcceptance:
    """Pass when |E| <= MPE (shared risk; the uncertainty check guards its use)."""

    name = "simple acceptance"

    def outcome(self, error_pct: float, expanded_uncertainty_pct: float, mpe_pct: float) -> Outcome:
        return Outcome.PASS if abs(error_pct) <= mpe_pct else Outcome.FAIL


class GuardedAcceptance:
    """Pass when |E| + U <= MPE, fail when |E| − U > MPE, otherwise inconclusive (guard band w = U)."""

    name = "guarded acceptance (w = U)"

    def outcome(self, error_pct: float, expanded_uncertainty_pct: float, mpe_pct: float) -> Outcome:
        if abs(error_pct) + expanded_uncertainty_pct <= mpe_pct:
            return Outcome.PASS
        if abs(error_pct) - expanded_uncertainty_pct > mpe_pct:
            return Outcome.FAIL
        return Outcome.INCONCLUSIVE


RULES: dict[str, type] = {"simple": SimpleAcceptance, "guarded": GuardedAcceptance}


def get_rule(name: str) -> DecisionRule:
    try:
        return RULES[name]()
    except KeyError:
        raise DeclarationError("decision_rule", name, f"one of {', '.join(RULES)}") from None


def decide(
    error_pct: float,
    expanded_uncertainty_pct: float,
    mpe_pct: float,
    *,
    rule: str | DecisionRule = "simple",
    max_uncertainty_pct: float | None = None,
) -> Decision:
    """Apply a decision rule, after checking U against the allowed fraction of the MPE.

    When U exceeds max_uncertainty_pct the outcome is UNCERTAINTY_TOO_LARGE whatever the rule says:
    the test cannot support a verdict; the rule's own outcome is kept in the Decision for review.
    """
    for field, value in (("error_pct", error_pct), ("expanded_uncertainty_pct", expanded_uncertainty_pct), ("mpe_pct", mpe_pct)):
        if not math.isfinite(value):
            raise DeclarationError(field, value, "a finite number")
    if expanded_uncertainty_pct < 0 or mpe_pct <= 0:
        raise DeclarationError("mpe_pct" if mpe_pct <= 0 else "expanded_uncertainty_pct",
                               mpe_pct if mpe_pct <= 0 else expanded_uncertainty_pct, "MPE > 0 and U >= 0")
    policy = get_rule(rule) if isinstance(rule, str) else rule
    rule_outcome = policy.outcome(error_pct, expanded_uncertainty_pct, mpe_pct)
    too_large = max_uncertainty_pct is not None and expanded_uncertainty_pct > max_uncertainty_pct
    outcome = Outcome.UNCERTAINTY_TOO_LARGE if too_large else rule_outcome
    return Decision(outcome, policy.name, error_pct, expanded_uncertainty_pct, mpe_pct, max_uncertainty_pct, rule_outcome)


def worst(outcomes) -> Outcome:
    """The verdict of a group: the worst of its members (PASS for an empty group is refused)."""
    outcomes = list(outcomes)
    if not outcomes:
        raise DeclarationError("outcomes", [], "at least one outcome")
    return max(outcomes)
