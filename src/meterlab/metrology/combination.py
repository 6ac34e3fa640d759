"""The uncertainty of a quantity computed from stored errors: a fault or a durability shift (a difference of
two errors of one meter), a mean of repeats, a weighted mean error (a weighted sum).

Each stored error carries its budget: one line per input (name, source, ν, signed contribution c·u). Two
errors of the same meter share some inputs — the reference standard's calibration terms (balance
calibration, master-meter certificate, thermometer calibration, ...) are common to both measurements —
while reading and count terms (balance readings, pulse counts, register readings) are drawn afresh each
time. The stored rows do not say which is which: an input's estimate changes between measurements for a
thermometer reading as much as for a pulse count, yet the thermometer's calibration error is common.

So the correlation between measurements is not taken as known. Between any two budget lines of the same
name and source, it is taken as the value in [0, 1] that gives the larger u: 1 when their weighted
contributions have the same sign (they add up), 0 when opposite (they would cancel). For a difference of two
like errors (a fault, a shift) that is r = 0 for every shared input — the upper bound the decision should use,
stored as "correlation: assumed 0, conservative" — and for a weighted mean error it is r = 1 for every shared
input. Lines of different names are independent, as within one measurement's budget. Each combined input
keeps the smallest ν of its lines, and ν_eff follows Welch–Satterthwaite over the combined inputs (fewer,
larger components: a smaller ν_eff, again on the safe side).

The correlations stored between meters in series are not used: every quantity here is of one meter.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from meterlab.metrology.budget import coverage_factor

COMBINED = "combined uncertainty of the error"  # the one line of an error stored without its budget


@dataclass(frozen=True)
class BudgetLine:
    name: str
    source: str
    dof: float
    contribution: float  # signed c·u, in percent


@dataclass(frozen=True)
class StoredError:
    """One stored error of indication: its value, u, ν and budget lines."""

    value: float
    u: float
    dof: float
    budget: tuple[BudgetLine, ...]

    @classmethod
    def from_row(cls, row: dict) -> StoredError:
        """From a stored measurement row (error_pct, u_pct, dof, budget); a row without a budget is one line.
        float() reads the store's text for infinite degrees of freedom ("inf")."""
        lines = tuple(BudgetLine(b["name"], b["source"], float(b["dof"]), float(b["contribution"]))
                      for b in row.get("budget") or ())
        u, dof = float(row["u_pct"]), float(row["dof"])
        if not lines and u > 0:
            lines = (BudgetLine(COMBINED, "", dof, u),)
        return cls(float(row["error_pct"]), u, dof, lines)

    @classmethod
    def exact(cls, value: float) -> StoredError:
        """A number taken without uncertainty."""
        return cls(float(value), 0.0, math.inf, ())


@dataclass(frozen=True)
class CombinedLine:
    name: str
    source: str
    u: float           # this input's contribution to u of the combination
    dof: float
    correlation: str   # how its lines were combined


@dataclass(frozen=True)
class Combination:
    """Σ a_j·E_j with u, ν_eff, k and U, and the combined inputs, largest first."""

    value: float
    u: float
    dof: float
    k: float
    U: float
    lines: tuple[CombinedLine, ...]

    @property
    def correlation(self) -> str:
        kinds = {line.correlation for line in self.lines if line.correlation != "single"}
        if not kinds:
            return "no input shared between the errors"
        return "; ".join(sorted(kinds))

    def details(self) -> dict:
        """The numbers a check stores for its quantity."""
        return {"u_pct": self.u, "dof": self.dof, "k": self.k, "U_pct": self.U, "correlation": self.correlation,
                "uncertainty_budget": [{"name": c.name, "source": c.source, "u_pct": c.u, "dof": c.dof,
                                        "correlation": c.correlation} for c in self.lines]}


SAME_SIGN = "assumed 1 where contributions add (conservative)"
OPPOSITE_SIGN = "assumed 0, conservative"


def _combine_line(key: tuple[str, str], weighted: list[tuple[float, float]]) -> tuple[float, CombinedLine]:
    """Variance of one input over the errors: same-signed contributions add (r = 1), the two signs in
    quadrature (r = 0): the largest variance for any r in [0, 1] between the lines."""
    positive = sum(c for c, _ in weighted if c > 0)
    negative = sum(c for c, _ in weighted if c < 0)
    variance = positive**2 + negative**2
    dof = min(d for _, d in weighted)
    signs = sum(1 for c, _ in weighted if c > 0), sum(1 for c, _ in weighted if c < 0)
    if len(weighted) == 1:
        how = "single"
    elif signs[0] and signs[1]:
        how = OPPOSITE_SIGN if max(signs) == 1 else f"{OPPOSITE_SIGN} between the errors, 1 within repeats"
    else:
        how = SAME_SIGN
    return variance, CombinedLine(key[0], key[1], math.sqrt(variance), dof, how)


def combine(terms: Sequence[tuple[float, StoredError]], coverage_pct: float = 95.45) -> Combination:
    """Σ a_j·E_j for (a_j, E_j) pairs, with the upper-bound correlation of the module docstring."""
    grouped: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for weight, error in terms:
        for line in error.budget:
            grouped[(line.name, line.source)].append((weight * line.contribution, line.dof))
    combined = [_combine_line(key, weighted) for key, weighted in grouped.items()]
    variance = sum(v for v, _ in combined)
    u = math.sqrt(variance)
    denominator = sum(v**2 / line.dof for v, line in combined if math.isfinite(line.dof))
    dof = variance**2 / denominator if denominator > 0 else math.inf
    k = coverage_factor(dof, coverage_pct)
    value = sum(weight * error.value for weight, error in terms)
    lines = tuple(sorted((line for _, line in combined), key=lambda c: (-c.u, c.name)))
    return Combination(value, u, dof, k, k * u, lines)


def mean(errors: Sequence[StoredError]) -> Combination:
    """The mean of repeated errors at one point."""
    return combine([(1.0 / len(errors), e) for e in errors])


def mean_difference(after: Sequence[StoredError], before: Sequence[StoredError]) -> Combination:
    """Mean of `after` minus mean of `before` (a fault, a durability shift)."""
    return combine([(1.0 / len(after), e) for e in after] + [(-1.0 / len(before), e) for e in before])
