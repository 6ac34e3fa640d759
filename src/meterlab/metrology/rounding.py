"""Rounding of a result for people (GUM 7.2.6): the expanded uncertainty to two significant digits, the value to
the same decimal place. Records keep full values; only what a person reads is rounded.

U is rounded up, never down (GUM 7.2.6 allows it "in reporting final results"): a rounded U must not claim a
smaller doubt than was evaluated."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

SIGNIFICANT_DIGITS_OF_U = 2


def decimals_for(expanded_u: float) -> int:
    """Decimal places that give U two significant digits (negative: a rounding left of the point)."""
    return SIGNIFICANT_DIGITS_OF_U - 1 - math.floor(math.log10(abs(expanded_u)))


def rounded(value: float, expanded_u: float | None, *, signed: bool = False) -> tuple[str, str]:
    """(value, U) as text per GUM 7.2.6; without a usable U the value keeps four significant digits and U is '—'."""
    if expanded_u is None or not math.isfinite(expanded_u) or expanded_u <= 0 or not math.isfinite(value):
        return (f"{value:+.4g}" if signed else f"{value:.4g}"), "—"
    places = decimals_for(expanded_u)
    quantum = Decimal(1).scaleb(-places)
    u_text = Decimal(repr(expanded_u)).quantize(quantum, rounding=ROUND_CEILING)
    if u_text.adjusted() > Decimal(repr(expanded_u)).adjusted():  # 0.099 -> 0.10: still two digits, one place less
        quantum = quantum.scaleb(1)
        u_text = u_text.quantize(quantum, rounding=ROUND_CEILING)
    v_text = Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_EVEN)
    value_str = f"{v_text:+f}" if signed else f"{v_text:f}"
    return value_str, f"{u_text:f}"
