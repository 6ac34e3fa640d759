"""Propagation of distributions by Monte Carlo (JCGM 101:2008), and validation of a GUM result (§8).

The model is a vectorised function of a dict of numpy arrays (one array of M draws per input), so the
same model code used with GTC ureals (arithmetic-only models, water density) can be sampled directly.
Draws come from ``numpy.random.default_rng(seed)`` in the order of the ``inputs`` dict: a run is
reproduced exactly by its seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from GTC.lib import UncertainReal

from meterlab.errors import DeclarationError
from meterlab.metrology.budget import UncertaintyResult, declaration

__all__ = [
    "Arcsine",
    "Distribution",
    "McResult",
    "Normal",
    "Rectangular",
    "StudentT",
    "Triangular",
    "arcsine",
    "distribution_of",
    "distributions_of",
    "monte_carlo",
    "normal",
    "numerical_tolerance",
    "rectangular",
    "rectangular_bounds",
    "student_t",
    "triangular",
    "validate_gum",
]

DEFAULT_SEED = 20080901  # any fixed seed; recorded with each result


# ------------------------------------------------------------------------------------- distributions
@dataclass(frozen=True)
class Normal:
    mean: float
    u: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.normal(self.mean, self.u, n)


@dataclass(frozen=True)
class Rectangular:
    mean: float
    half_width: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.mean - self.half_width, self.mean + self.half_width, n)


@dataclass(frozen=True)
class StudentT:
    """Scaled and shifted t_ν: mean + u·t_ν (JCGM 101 §6.4.9); its standard deviation is u·√(ν/(ν−2))."""

    mean: float
    u: float
    dof: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.mean + self.u * rng.standard_t(self.dof, n)


@dataclass(frozen=True)
class Arcsine:
    """U-shaped on mean ± half_width (JCGM 101 §6.4.6)."""

    mean: float
    half_width: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.mean + self.half_width * np.sin(2.0 * math.pi * rng.random(n))


@dataclass(frozen=True)
class Triangular:
    """Symmetric triangular on mean ± half_width."""

    mean: float
    half_width: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.half_width == 0:
            return np.full(n, float(self.mean))
        return rng.triangular(self.mean - self.half_width, self.mean, self.mean + self.half_width, n)


Distribution = Normal | Rectangular | StudentT | Arcsine | Triangular


def _nonneg(field: str, x: float) -> float:
    x = float(x)
    if not (math.isfinite(x) and x >= 0):
        raise DeclarationError(field, x, "a finite value >= 0")
    return x


def normal(mean: float, u: float) -> Normal:
    return Normal(float(mean), _nonneg("u", u))


def rectangular(mean: float, half_width: float) -> Rectangular:
    return Rectangular(float(mean), _nonneg("half_width", half_width))


def rectangular_bounds(low: float, high: float) -> Rectangular:
    if not high >= low:
        raise DeclarationError("high", high, f"an upper bound >= the lower bound {low}")
    return Rectangular((low + high) / 2.0, (high - low) / 2.0)


def student_t(mean: float, u: float, dof: float) -> StudentT:
    if not (dof > 0 and math.isfinite(dof)):
        raise DeclarationError("dof", dof, "finite degrees of freedom > 0 (use normal() for infinite)")
    return StudentT(float(mean), _nonneg("u", u), float(dof))


def arcsine(mean: float, half_width: float) -> Arcsine:
    return Arcsine(float(mean), _nonneg("half_width", half_width))


def triangular(mean: float, half_width: float) -> Triangular:
    return Triangular(float(mean), _nonneg("half_width", half_width))


def distribution_of(x: UncertainReal) -> Distribution:
    """The PDF of an input declared with :mod:`meterlab.metrology.budget` (same value, u and shape).

    Bounded shapes keep their bounds; a normal input with finite ν becomes a scaled t_ν (JCGM 101
    §6.4.9); an input GTC made by other means falls back on its value, u and ν.
    """
    d = declaration(x)
    if d is None:
        if not (isinstance(x, UncertainReal) and x.is_elementary):
            raise DeclarationError("input", x, "an elementary GTC ureal (an input, not a result)")
        return student_t(x.x, x.u, x.df) if math.isfinite(x.df) else normal(x.x, x.u)
    if d.shape == "rectangular":
        return rectangular(d.value, d.half_width)
    if d.shape == "triangular":
        return triangular(d.value, d.half_width)
    if d.shape == "arcsine":
        return arcsine(d.value, d.half_width)
    return student_t(d.value, d.u, d.dof) if math.isfinite(d.dof) else normal(d.value, d.u)


# ------------------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class McResult:
    """MCM estimate, standard uncertainty and the probabilistically symmetric and shortest intervals."""

    value: float
    u: float
    low: float
    high: float
    shortest_low: float
    shortest_high: float
    trials: int
    seed: int
    coverage_pct: float
    generator: str  # bit generator and numpy version: what the seed reproduces with


def _intervals(y: np.ndarray, p: float) -> tuple[float, float, float, float]:
    # JCGM 101 §7.7 with 1-based order statistics y_(1) <= ... <= y_(M), here y[0] ... y[M-1]:
    # q = pM rounded; symmetric [y_(r), y_(r+q)] with r = (M − q)/2 or (M − q + 1)/2;
    # shortest [y_(r*), y_(r*+q)] with r* minimising the width over r = 1 ... M − q.
    m = y.size
    q = int(p * m + 0.5)
    r = (m - q + 1) // 2
    widths = y[q:] - y[: m - q]
    r_star = int(np.argmin(widths)) + 1
    return float(y[r - 1]), float(y[r + q - 1]), float(y[r_star - 1]), float(y[r_star + q - 1])


def monte_carlo(
    model: Callable[[dict[str, np.ndarray]], np.ndarray],
    inputs: Mapping[str, Distribution],
    *,
    trials: int = 200_000,
    seed: int = DEFAULT_SEED,
    coverage_pct: float = 95.0,
) -> McResult:
    """Propagate ``inputs`` through ``model`` with M = ``trials`` draws (JCGM 101 §7)."""
    if not 0 < coverage_pct < 100:
        raise DeclarationError("coverage_pct", coverage_pct, "0 < p < 100")
    if int(trials) != trials or trials < 100 / (1 - coverage_pct / 100):
        raise DeclarationError("trials", trials, "an integer >= 100/(1 − p) (JCGM 101 §7.2: M >> 1/(1 − p))")
    trials = int(trials)
    rng = np.random.default_rng(seed)
    draws = {name: dist.sample(rng, trials) for name, dist in inputs.items()}
    y = np.asarray(model(draws), dtype=float)
    if y.shape != (trials,):
        y = np.broadcast_to(y, (trials,)).astype(float)
    if not np.all(np.isfinite(y)):
        raise DeclarationError("model", "non-finite output", "a model finite over the whole input PDFs")
    low, high, s_low, s_high = _intervals(np.sort(y), coverage_pct / 100.0)
    generator = f"{type(rng.bit_generator).__name__}, numpy {np.__version__}"
    return McResult(
        value=float(np.mean(y)),
        u=float(np.std(y, ddof=1)),
        low=low,
        high=high,
        shortest_low=s_low,
        shortest_high=s_high,
        trials=trials,
        seed=int(seed),
        coverage_pct=coverage_pct,
        generator=generator,
    )


def numerical_tolerance(u: float, significant_digits: int = 2) -> float:
    """δ = ½·10^l where u = c·10^l and c has ``significant_digits`` digits (JCGM 101 §7.9.2)."""
    if not (u > 0 and math.isfinite(u)):
        raise DeclarationError("u", u, "a standard uncertainty > 0")
    if int(significant_digits) != significant_digits or significant_digits < 1:
        raise DeclarationError("significant_digits", significant_digits, "a whole number >= 1")
    u_rounded = float(f"{u:.{int(significant_digits) - 1}e}")  # 0.0996 to 2 digits is 0.10 = 10·10⁻²
    exponent = math.floor(math.log10(u_rounded)) - (int(significant_digits) - 1)
    return 0.5 * 10.0**exponent


def validate_gum(
    gum: UncertaintyResult,
    mc: McResult,
    *,
    significant_digits: int = 2,
    interval: str = "shortest",
) -> tuple[bool, float, float, float]:
    """JCGM 101 §8: does the GUM interval y ± U agree with the MCM interval within δ?

    Returns (ok, δ, d_low, d_high) with d_low = |y − U − y_low|, d_high = |y + U − y_high|,
    δ from the GUM standard uncertainty. Both results must be for the same coverage probability.
    ``interval`` selects the MCM interval compared: "shortest" (default) or "symmetric".
    """
    if not math.isclose(gum.coverage_pct, mc.coverage_pct, abs_tol=1e-9):
        raise DeclarationError(
            "coverage_pct",
            (gum.coverage_pct, mc.coverage_pct),
            "the same coverage probability for GUM and MCM",
        )
    if interval == "shortest":
        y_low, y_high = mc.shortest_low, mc.shortest_high
    elif interval == "symmetric":
        y_low, y_high = mc.low, mc.high
    else:
        raise DeclarationError("interval", interval, "'shortest' or 'symmetric'")
    delta = numerical_tolerance(gum.u, significant_digits)
    d_low = abs(gum.value - gum.U - y_low)
    d_high = abs(gum.value + gum.U - y_high)
    return (d_low <= delta and d_high <= delta, delta, d_low, d_high)


def distributions_of(inputs: Mapping[str, UncertainReal | float]) -> dict[str, Distribution]:
    """Monte Carlo inputs for a dict of GUM inputs; plain numbers are constants."""
    return {name: distribution_of(x) if isinstance(x, UncertainReal) else normal(float(x), 0.0)
            for name, x in inputs.items()}
