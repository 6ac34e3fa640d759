"""Exact first-order lags with a rate limit: what a controlled quantity (a chamber's air, a regulated pressure)
does on its way to a setpoint, integrated exactly so the result does not depend on the world's step.

`follow` solves dx/dt = clip((target - x) / tau, -fall, +rise) over a step and returns the pieces (a ramp at the
limiting rate, then an exponential approach); `lag_through` passes those pieces through a second first-order
lag (the meters in a chamber following its air)."""

from __future__ import annotations

import math
from dataclasses import dataclass

SNAP = 1e-9  # closer than this to its target (in the quantity's unit), a quantity is at its target


@dataclass(frozen=True)
class Ramp:
    """x(t) = start + slope * t for 0 <= t <= duration_s."""

    start: float
    slope: float
    duration_s: float


@dataclass(frozen=True)
class Decay:
    """x(t) = target + gap * exp(-t / tau_s) for 0 <= t <= duration_s."""

    target: float
    gap: float
    tau_s: float
    duration_s: float


def follow(x: float, target: float, tau_s: float, rise_per_s: float, fall_per_s: float,
           dt_s: float) -> tuple[float, list[Ramp | Decay]]:
    """Exact solution of dx/dt = clip((target - x) / tau, -fall, +rise) over dt: (x at the end, pieces)."""
    pieces: list[Ramp | Decay] = []
    gap = target - x
    rate = rise_per_s if gap > 0 else fall_per_s
    band = rate * tau_s  # the rate is limited while the gap is wider than this
    if abs(gap) > band:
        slope = math.copysign(rate, gap)
        run_s = min(dt_s, (abs(gap) - band) / rate)
        pieces.append(Ramp(x, slope, run_s))
        x += slope * run_s
        dt_s -= run_s
    if dt_s > 0:
        pieces.append(Decay(target, x - target, tau_s, dt_s))
        x = target + (x - target) * math.exp(-dt_s / tau_s)
    if abs(x - target) < SNAP:
        x = target  # the exponential tail would otherwise never end
    return x, pieces


def lag_through(m: float, pieces: list[Ramp | Decay], tau_s: float) -> float:
    """Exact first-order lag (time constant tau_s) of a quantity m following the piecewise input."""
    for piece in pieces:
        d = piece.duration_s
        decay = math.exp(-d / tau_s)
        if isinstance(piece, Ramp):
            a, b = piece.start, piece.slope
            m = a + b * d - b * tau_s + (m - a + b * tau_s) * decay
        elif abs(piece.tau_s - tau_s) > 1e-9 * tau_s:
            k = piece.gap * piece.tau_s / (piece.tau_s - tau_s)
            m = piece.target + k * math.exp(-d / piece.tau_s) + (m - piece.target - k) * decay
        else:  # equal time constants: the resonant solution
            m = piece.target + (m - piece.target) * decay + piece.gap * d / tau_s * decay
    return m
