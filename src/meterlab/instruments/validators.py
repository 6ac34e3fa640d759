"""Validators for driver properties (after PyMeasure's): `validator(value, values) -> value to send`.

A validator either returns the value (possibly adjusted, e.g. truncated) or raises ValueError with a
sentence saying what is allowed. `Control` turns that into InstrumentValueError before anything is sent."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from numbers import Real
from typing import Any

Validator = Callable[[Any, Any], Any]


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"a number is required, got {type(value).__name__}")
    if math.isnan(value):
        raise ValueError("NaN is not a value")
    return value  # type: ignore[return-value]


def strict_range(value: Any, values: tuple[float, float]) -> Any:
    """`values[0] <= value <= values[1]`."""
    low, high = min(values), max(values)
    if not low <= _number(value) <= high:
        raise ValueError(f"allowed range is {low:g} .. {high:g}")
    return value


def truncated_range(value: Any, values: tuple[float, float]) -> Any:
    """Clamp into `values`; use only where the instrument itself clamps silently."""
    low, high = min(values), max(values)
    return min(max(_number(value), low), high)


def strict_discrete_range(value: Any, values: tuple[float, float], step: float) -> Any:
    """In range and an integer multiple of `step` above the low end."""
    strict_range(value, values)
    steps = (Decimal(str(value)) - Decimal(str(min(values)))) / Decimal(str(step))
    if steps != steps.to_integral_value():
        raise ValueError(f"allowed values are {min(values):g} .. {max(values):g} in steps of {step:g}")
    return value


def strict_discrete_set(value: Any, values: Collection[Any]) -> Any:
    """One of `values` (for a dict, one of its keys). Strings compare case-insensitively."""
    keys = list(values.keys()) if isinstance(values, Mapping) else list(values)
    for key in keys:
        if _same(value, key):
            return key
    raise ValueError("allowed values are " + ", ".join(repr(k) for k in keys))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):  # True must not pass for 1
        return a is b
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return a == b


def strict_integer_range(value: Any, values: tuple[int, int]) -> Any:
    """An integer (not bool) within `values`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"an integer in {min(values)} .. {max(values)} is required")
    return strict_range(value, values)


def joined_validators(*validators: Validator) -> Validator:
    """Accept a value if any of the validators accepts it (each gets the same `values`, a list per validator)."""

    def validate(value: Any, values: list[Any]) -> Any:
        reasons = []
        for validator, allowed in zip(validators, values, strict=True):
            try:
                return validator(value, allowed)
            except ValueError as exc:
                reasons.append(str(exc))
        raise ValueError(" or ".join(reasons))

    return validate
