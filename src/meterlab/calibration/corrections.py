"""Corrections from calibration certificates: a table interpolated linearly, or a polynomial equation.

A correction is a function of one input variable x (load, temperature, flowrate, ...) that yields the
certified value at x with its standard uncertainty:

    table:     rows (x, correction, U, k), x strictly increasing; linear between rows. Between two
               rows u is the larger of their U/k (as `interpolate_calibration_curve` does): the
               certificate says nothing about the points in between, so the conservative bound is used.
    equation:  c0 + c1·x + c2·x² + ...  with one standard uncertainty u (or U and k) over the range.

The range guard lives with the certificate (`Certificate.evaluate`): a correction is never evaluated
outside its calibrated range, and a table never outside its rows.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from meterlab.errors import DeclarationError, MeterlabError
from meterlab.quantities import AsTuple

__all__ = [
    "CORRECTION_KINDS",
    "Correction",
    "Equation",
    "OutOfCalibratedRange",
    "Range",
    "TableRow",
    "fail_at",
    "format_value",
    "si_factor",
    "si_unit_of",
]

CORRECTION_KINDS = ("table", "equation")

# Unit -> (SI unit, factor). Only what certificates of a flow lab state; used to refuse unit mix-ups.
_UNIT_FACTORS: dict[str, tuple[str, float]] = {
    "kg": ("kg", 1.0), "g": ("kg", 1e-3), "mg": ("kg", 1e-6),
    "Pa": ("Pa", 1.0), "hPa": ("Pa", 1e2), "kPa": ("Pa", 1e3), "MPa": ("Pa", 1e6),
    "mbar": ("Pa", 1e2), "bar": ("Pa", 1e5),
    "°C": ("K", 1.0), "K": ("K", 1.0), "mK": ("K", 1e-3),  # temperature *differences* (corrections, u)
    "s": ("s", 1.0), "ms": ("s", 1e-3),
    "Hz": ("Hz", 1.0), "kHz": ("Hz", 1e3), "MHz": ("Hz", 1e6),
    "%RH": ("%RH", 1.0),
}


def si_factor(unit: str, si_unit: str) -> float:
    """Factor turning a difference or uncertainty in `unit` into `si_unit`; refuses other dimensions."""
    known = _UNIT_FACTORS.get(unit)
    if known is None or known[0] != si_unit:
        allowed = sorted(u for u, (si, _) in _UNIT_FACTORS.items() if si == si_unit)
        raise DeclarationError("unit", unit, f"a unit convertible to {si_unit}: {', '.join(allowed)}")
    return known[1]


def si_unit_of(unit: str) -> str | None:
    """The SI unit `unit` converts to, or None when it is not one of the known units."""
    known = _UNIT_FACTORS.get(unit)
    return known[0] if known else None


def format_value(value: float | tuple[float, float], unit: str = "") -> str:
    """'20.3 °C' or '0.5 to 2.5 m³/h' for messages."""
    text = f"{value[0]:g} to {value[1]:g}" if isinstance(value, tuple) else f"{value:g}"
    return f"{text} {unit}".rstrip()


def fail_at(loc: tuple[Any, ...], message: str, value: Any = None) -> ValidationError:
    """A validation error located at `loc` relative to the model being validated.

    Raised from a validator, pydantic prefixes the location of that model, so a cross-field problem
    (a table row, a due date) points at its own line in the file rather than at the enclosing block.
    """
    error = PydanticCustomError("certificate", "{message}", {"message": message})
    return ValidationError.from_exception_data("Certificate", [InitErrorDetails(type=error, loc=loc, input=value)])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Range(_Strict):
    """A calibrated range of one input variable, inclusive at both ends."""

    min: float
    max: float
    unit: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.max < self.min:
            raise fail_at(("max",), f"max ({self.max:g}) is below min ({self.min:g})", self.max)
        return self

    def contains(self, low: float, high: float) -> bool:
        return self.min <= low and high <= self.max  # NaN is never contained

    def __str__(self) -> str:
        return format_value((self.min, self.max), self.unit)


class TableRow(_Strict):
    """One calibration point: at x, the certified correction with expanded uncertainty U at factor k."""

    x: float
    correction: float
    U: float = Field(ge=0, description="expanded uncertainty, in the unit of the correction")
    k: float = Field(gt=0, description="coverage factor of U")

    @property
    def u(self) -> float:
        return self.U / self.k


class Equation(_Strict):
    """A polynomial in x: coefficients [c0, c1, c2, ...] give c0 + c1·x + c2·x² + ..."""

    coefficients: Annotated[tuple[float, ...], AsTuple] = Field(min_length=1)


class Correction(BaseModel):
    """What the certificate gives as a function of `variable`: a `table` or an `equation`.

    `meaning` says how to apply it, because certificates differ and a sign mistake is silent:
      correction - add it to the indication (balances, thermometers, pressure transmitters);
      error      - the error of indication, E = indication - true (a master meter's E in %):
                   divide or subtract it out;
      value      - the certified value of the standard itself (an effective area, a Cd, a frequency).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    variable: str | None = Field(None, description="input variable, a key of calibrated_range")
    meaning: Literal["correction", "error", "value"] = "correction"
    table: Annotated[tuple[TableRow, ...], AsTuple] | None = None
    equation: Equation | None = None
    u: float | None = Field(None, ge=0, allow_inf_nan=False, description="standard uncertainty (equation)")
    U: float | None = Field(None, ge=0, allow_inf_nan=False, description="expanded uncertainty (equation)")
    k: float | None = Field(None, gt=0, allow_inf_nan=False, description="coverage factor of U (equation)")
    dof: float = Field(math.inf, ge=1, description="degrees of freedom of u; omitted means infinite")

    @model_validator(mode="before")
    @classmethod
    def _known_kind(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kinds = [kind for kind in CORRECTION_KINDS if kind in data]
        if len(kinds) > 1:
            raise fail_at((kinds[1],), "give either table or equation, not both")
        if not kinds:
            unknown = [key for key in data if key not in cls.model_fields]
            where = (unknown[0],) if unknown else ()
            found = f"unknown correction kind {unknown[0]!r}" if unknown else "no correction given"
            raise fail_at(where, f"{found}: use 'table' (rows x, correction, U, k) "
                                 "or 'equation' (coefficients with u or U and k)")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Correction:
        if self.table is not None:
            self._check_table(self.table)
        else:
            self._check_equation_uncertainty()
        return self

    def _check_table(self, rows: Sequence[TableRow]) -> None:
        for field in ("u", "U", "k"):
            if getattr(self, field) is not None:
                raise fail_at((field,), "a table states U and k on each row, not for the whole table")
        if len(rows) < 2:
            raise fail_at(("table",), "a table needs at least two rows (one value is an equation "
                                      "with a single coefficient)")
        for index in range(1, len(rows)):
            if rows[index].x <= rows[index - 1].x:
                raise fail_at(("table", index, "x"), f"x must increase strictly from row to row: "
                              f"{rows[index].x:g} follows {rows[index - 1].x:g}", rows[index].x)

    def _check_equation_uncertainty(self) -> None:
        if self.u is not None and (self.U is not None or self.k is not None):
            raise fail_at(("u",), "give either u (standard uncertainty) or U and k, not both")
        if self.u is None and (self.U is None or self.k is None):
            missing = "k" if self.U is not None else "U" if self.k is not None else "u"
            raise fail_at((missing,), "an equation needs its uncertainty: u, or U with its k")

    # ------------------------------------------------------------------------------------ evaluation
    @property
    def kind(self) -> str:
        return "table" if self.table is not None else "equation"

    @property
    def table_span(self) -> tuple[float, float] | None:
        return (self.table[0].x, self.table[-1].x) if self.table is not None else None

    @property
    def equation_u(self) -> float:
        return self.u if self.u is not None else self.U / self.k  # type: ignore[operator]

    def evaluate(self, x: float) -> tuple[float, float, float]:
        """(value, standard uncertainty, slope d value/dx) at x. The caller has checked the range."""
        if self.table is not None:
            return _interpolate(self.table, x)
        value, slope = _polynomial(self.equation.coefficients, x)  # type: ignore[union-attr]
        return value, self.equation_u, slope

    def max_u(self) -> float:
        """The largest standard uncertainty anywhere in the correction (a conservative constant)."""
        return max(row.u for row in self.table) if self.table is not None else self.equation_u

    def max_relative_u(self, from_x: float) -> float:
        """The largest u(x)/x for x from `from_x` (> 0) to the end of the correction."""
        if from_x <= 0:
            raise DeclarationError("from_x", from_x, "a value > 0 (a relative uncertainty needs x > 0)")
        if self.table is None:
            return self.equation_u / from_x  # u is constant, so u/x is largest at the lowest x
        candidates = [row.u / row.x for row in self.table if row.x >= from_x]
        if self.table[0].x <= from_x <= self.table[-1].x:
            candidates.append(_interpolate(self.table, from_x)[1] / from_x)
        if not candidates:
            raise DeclarationError("from_x", from_x, f"at most the last table row x = {self.table[-1].x:g}")
        return max(candidates)


def _interpolate(rows: Sequence[TableRow], x: float) -> tuple[float, float, float]:
    xs = [row.x for row in rows]
    if not xs[0] <= x <= xs[-1]:
        raise ValueError(f"x = {x:g} is outside the table {xs[0]:g} to {xs[-1]:g}; never extrapolated")
    i = min(bisect.bisect_right(xs, x) - 1, len(rows) - 2)
    lower, upper = rows[i], rows[i + 1]
    slope = (upper.correction - lower.correction) / (upper.x - lower.x)
    if x == lower.x:
        return lower.correction, lower.u, slope
    if x == upper.x:
        return upper.correction, upper.u, slope
    return lower.correction + (x - lower.x) * slope, max(lower.u, upper.u), slope


def _polynomial(coefficients: Sequence[float], x: float) -> tuple[float, float]:
    """(value, derivative) by Horner's rule."""
    value, slope = 0.0, 0.0
    for c in reversed(coefficients):
        slope = slope * x + value
        value = value * x + c
    return value, slope


class OutOfCalibratedRange(MeterlabError, ValueError):
    """A standard was used (or its correction evaluated) outside the range its certificate covers."""

    def __init__(self, standard_id: str, certificate_number: str, variable: str,
                 value: float | tuple[float, float], calibrated: Range):
        self.standard_id, self.certificate_number = standard_id, certificate_number
        self.variable, self.value, self.calibrated = variable, value, calibrated
        super().__init__(
            f"{standard_id} (certificate {certificate_number}): {variable} = "
            f"{format_value(value, calibrated.unit)} is outside the calibrated range {calibrated}; "
            "a certificate is never extrapolated")
