"""GUM evaluation (JCGM 100:2008) with GTC, and labelled inputs for it.

Every input is a GTC ``ureal`` labelled ``"name | source"`` so that each line of a budget names the
reference standard or certificate it came from. :func:`make_label` and :func:`parse_label` are the only
places that know this convention.

The functions creating inputs also remember, per input, its estimate and the shape of its distribution
(normal, rectangular, ...). GTC keeps neither; the budget shows the estimate and the Monte Carlo module
uses the shape. This memory is keyed weakly on GTC's node of the input, so it lives exactly as long as
some uncertain number depends on that input, and it never influences a computed value.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from GTC import reporting, type_a, ureal
from GTC.lib import UncertainReal
from scipy.special import ndtr

from meterlab.errors import DeclarationError

__all__ = [
    "Contribution",
    "InputDeclaration",
    "UncertaintyResult",
    "arcsine",
    "check_range",
    "coverage_factor",
    "declaration",
    "evaluate",
    "from_certificate",
    "from_readings",
    "make_label",
    "parse_label",
    "quantity",
    "rectangular",
    "triangular",
    "value_of",
]

inf = math.inf
LABEL_SEPARATOR = " | "

# "95.45 %" is the GUM's rounded name for the probability of ±2σ of a normal distribution
# (TN 1297 Table B.1 gives k = 2.000 at ν = ∞). Using the exact probability makes k(∞) exactly 2.
_K2_PROBABILITY_PCT = 100.0 * (2.0 * float(ndtr(2.0)) - 1.0)


# ---------------------------------------------------------------------------------------------- labels
def make_label(name: str, source: str) -> str:
    """The GTC label of an input: ``"name | source"``."""
    if not name or LABEL_SEPARATOR.strip() in name:
        raise DeclarationError("name", name, f"a non-empty input name without {LABEL_SEPARATOR.strip()!r}")
    if not source:
        raise DeclarationError("source", source, "a non-empty source (standard, certificate, method)")
    return f"{name}{LABEL_SEPARATOR}{source}"


def parse_label(label: str | None) -> tuple[str, str]:
    """(name, source) of a label; an input not made by this module has source ``""``."""
    if not label:
        return ("<unlabelled>", "")
    name, sep, source = label.partition(LABEL_SEPARATOR)
    return (name, source) if sep else (label, "")


# ---------------------------------------------------------------------------------------- declarations
@dataclass(frozen=True)
class InputDeclaration:
    """How an input was declared: estimate, distribution shape and, for bounded shapes, half-width."""

    value: float
    u: float
    dof: float
    shape: str  # "normal", "rectangular", "triangular", "arcsine"
    half_width: float | None = None


# Keyed weakly on the GTC leaf node of each input (see module docstring).
_DECLARED: weakref.WeakKeyDictionary[Any, InputDeclaration] = weakref.WeakKeyDictionary()


def _leaf(x: UncertainReal) -> Any:
    # GTC 1.5.1 keeps the node of an elementary uncertain number in `_node`; no public accessor exists.
    return x._node if x.is_elementary else None


def declaration(x: UncertainReal) -> InputDeclaration | None:
    """The declaration of an input made by this module, or None (e.g. a plain ``GTC.ureal``)."""
    leaf = _leaf(x) if isinstance(x, UncertainReal) else None
    return _DECLARED.get(leaf) if leaf is not None else None


def _checked(field: str, x: float, allowed: str, ok) -> float:
    x = float(x)
    if not ok(x):
        raise DeclarationError(field, x, allowed)
    return x


def _new_input(value, u, dof, name, source, shape, half_width=None) -> UncertainReal:
    value = _checked("value", value, "a finite number", math.isfinite)
    u = _checked("u", u, "a finite standard uncertainty >= 0", lambda v: math.isfinite(v) and v >= 0)
    dof = _checked("dof", dof, "degrees of freedom >= 1 (or inf)", lambda v: v >= 1)
    x = ureal(value, u, dof, label=make_label(name, source))
    if x.is_elementary:
        _DECLARED[_leaf(x)] = InputDeclaration(value, u, dof, shape, half_width)
    return x


def quantity(value: float, u: float, *, dof: float = inf, name: str, source: str) -> UncertainReal:
    """An input with standard uncertainty ``u`` (normal, or Student-t when ``dof`` is finite)."""
    return _new_input(value, u, dof, name, source, "normal")


def _half_width(half_width: float) -> float:
    ok = lambda v: math.isfinite(v) and v >= 0  # noqa: E731
    return _checked("half_width", half_width, "a finite half-width >= 0", ok)


def rectangular(
    value: float, half_width: float, *, name: str, source: str, dof: float = inf
) -> UncertainReal:
    """An input known to lie in value ± half_width, uniformly: u = a/√3 (GUM 4.3.7)."""
    a = _half_width(half_width)
    return _new_input(value, a / math.sqrt(3.0), dof, name, source, "rectangular", a)


def triangular(value: float, half_width: float, *, name: str, source: str, dof: float = inf) -> UncertainReal:
    """An input in value ± half_width, triangular: u = a/√6 (GUM 4.3.9)."""
    a = _half_width(half_width)
    return _new_input(value, a / math.sqrt(6.0), dof, name, source, "triangular", a)


def arcsine(value: float, half_width: float, *, name: str, source: str, dof: float = inf) -> UncertainReal:
    """A cyclic input (U-shaped) swinging over value ± half_width: u = a/√2 (GUM H.1.3.4)."""
    a = _half_width(half_width)
    return _new_input(value, a / math.sqrt(2.0), dof, name, source, "arcsine", a)


def from_certificate(
    value: float, U: float, k: float, *, name: str, source: str, dof: float = inf
) -> UncertainReal:
    """An input from a certificate stating expanded uncertainty U with coverage factor k: u = U/k."""
    k = _checked("k", k, "a coverage factor > 0", lambda v: math.isfinite(v) and v > 0)
    U = _checked("U", U, "a finite expanded uncertainty >= 0", lambda v: math.isfinite(v) and v >= 0)
    return _new_input(value, U / k, dof, name, source, "normal")


def from_readings(readings: Iterable[float], *, name: str, source: str) -> UncertainReal:
    """Type A input from repeated readings: mean, u = s/√n, ν = n − 1 (GUM 4.2, GTC type_a.estimate)."""
    seq = [float(r) for r in readings]
    if len(seq) < 2:
        raise DeclarationError("readings", seq, "at least two readings for a Type A evaluation")
    est = type_a.estimate(seq)
    return _new_input(est.x, est.u, est.df, name, source, "normal")


def value_of(x: Any) -> Any:
    """The estimate of a ureal, a float, or a numpy array (unchanged) — for range checks."""
    if isinstance(x, UncertainReal):
        return x.x
    if isinstance(x, np.ndarray):
        return x
    return float(x)


def check_range(field: str, x: Any, lo: float, hi: float, allowed: str) -> None:
    """Raise DeclarationError unless the estimate(s) of x lie in [lo, hi] (NaN never does)."""
    if type(x) is float and lo <= x <= hi:  # the common case, without numpy (the simulated physics asks often)
        return
    v = np.asarray(value_of(x), dtype=float)
    if v.size == 0 or np.any(np.isnan(v)) or np.min(v) < lo or np.max(v) > hi:
        shown = float(v) if v.ndim == 0 else (float(np.min(v)), float(np.max(v)))
        raise DeclarationError(field, shown, allowed)


# -------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Contribution:
    """One line of a budget. ``contribution`` is the signed c_i·u_i in output units."""

    name: str
    source: str
    value: float  # NaN when the input was not declared through this module
    u: float
    dof: float
    sensitivity: float
    contribution: float


@dataclass(frozen=True)
class UncertaintyResult:
    """A GUM result: y, u_c, ν_eff (Welch–Satterthwaite), k, U = k·u_c and the budget."""

    value: float
    u: float
    dof: float
    k: float
    U: float
    coverage_pct: float
    k_method: str  # "student-t" or "fixed"
    contributions: tuple[Contribution, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (floats may be inf for infinite degrees of freedom)."""
        d = asdict(self)
        d["contributions"] = [asdict(c) for c in self.contributions]
        return d

    def table(self) -> list[dict[str, Any]]:
        """Budget rows, largest first, with each input's share of the output variance in percent.

        The share is None when the inputs are correlated (their contributions then do not add up).
        """
        var = self.u**2
        total = sum(c.contribution**2 for c in self.contributions)
        additive = var > 0 and math.isclose(total, var, rel_tol=1e-9)
        return [
            {
                "name": c.name,
                "source": c.source,
                "value": c.value,
                "u": c.u,
                "dof": c.dof,
                "sensitivity": c.sensitivity,
                "contribution": c.contribution,
                "variance_pct": 100.0 * c.contribution**2 / var if additive else None,
            }
            for c in self.contributions
        ]


def _components(y: UncertainReal) -> list[tuple[Any, float]]:
    # Same traversal as GTC.reporting.budget (GTC 1.5.1): independent inputs in `_u_components`,
    # correlated ones (e.g. line_fit coefficients) in `_d_components`; values are signed c_i·u_i.
    return list(y._u_components.items()) + list(y._d_components.items())


def _contribution(leaf: Any, c_u: float) -> Contribution:
    name, source = parse_label(leaf.label)
    decl = _DECLARED.get(leaf)
    return Contribution(
        name=name,
        source=source,
        value=decl.value if decl else math.nan,
        u=leaf.u,
        dof=leaf.df,
        sensitivity=c_u / leaf.u if leaf.u else 0.0,
        contribution=c_u,
    )


def coverage_factor(dof: float, coverage_pct: float = 95.45, *, truncate_dof: bool = True) -> float:
    """Student-t coverage factor k_p(ν) (GTC reporting.k_factor).

    A non-integer ν is truncated to the next lower integer (GUM G.4.1, EA-4/02) unless
    ``truncate_dof`` is False; ν = ∞ gives the normal quantile (k = 2 for 95.45 %).
    """
    if not 0.0 < coverage_pct < 100.0:
        raise DeclarationError("coverage_pct", coverage_pct, "a probability in percent, 0 < p < 100")
    p = _K2_PROBABILITY_PCT if math.isclose(coverage_pct, 95.45, abs_tol=1e-9) else coverage_pct
    if math.isnan(dof) or dof < 1:
        raise DeclarationError("dof", dof, "degrees of freedom >= 1 (or inf)")
    if math.isinf(dof) and p == _K2_PROBABILITY_PCT:
        return 2.0  # the normal quantile is 2 by the definition of p; computed, it comes out 2.0000000000000004
    if math.isfinite(dof) and truncate_dof:
        dof = math.floor(dof)
    return reporting.k_factor(dof, p)


def evaluate(
    y: UncertainReal | float,
    *,
    coverage_pct: float = 95.45,
    fixed_k: float | None = None,
    truncate_dof: bool = True,
) -> UncertaintyResult:
    """Evaluate y per the GUM: u_c from GTC, ν_eff by Welch–Satterthwaite, k and U = k·u_c.

    ``fixed_k`` (e.g. 2) replaces the Student-t factor (EA-4/02 practice for large ν_eff).
    With correlated inputs the contributions do not add in quadrature and GTC's ν_eff follows
    Willink's generalisation where it applies.
    """
    if isinstance(y, UncertainReal):
        value, u = y.x, y.u
        dof = y.df if u > 0 else inf
        if math.isnan(dof) and fixed_k is None:
            raise DeclarationError(
                "dof", dof, "a defined ν_eff (GTC found none for these correlated inputs); give fixed_k"
            )
        contributions = tuple(_contribution(leaf, c_u) for leaf, c_u in _components(y))
    else:
        value, u, dof, contributions = float(y), 0.0, inf, ()
    contributions = tuple(sorted(contributions, key=lambda c: (-abs(c.contribution), c.name)))
    if fixed_k is not None:
        k = _checked("fixed_k", fixed_k, "a coverage factor > 0", lambda v: math.isfinite(v) and v > 0)
        method = "fixed"
    else:
        k = coverage_factor(dof, coverage_pct, truncate_dof=truncate_dof)
        method = "student-t"
    return UncertaintyResult(value, u, dof, k, k * u, float(coverage_pct), method, contributions)
