"""Calibration certificates of the reference standards: one YAML file per standard in `calibration/`.

    id: prt-01
    description: Pt100 thermometer, water temperature at the meters
    manufacturer: Fluke Calibration
    model: 5615-6 with 1524 readout
    serial: "B41233"
    instrument: thermometer                # the bench instrument it backs
    quantity: temperature
    unit: °C                               # unit of the correction (table column / equation value)
    certificate: {number: "2026-T-0412", issued_by: Example Lab, accreditation: D-K-00000-01-00,
                  date: 2026-03-16}
    calibration_date: 2026-03-12
    due_date: 2027-03-12
    calibrated_range: {min: 0, max: 90, unit: °C}          # or {temperature: {...}, pressure: {...}}
    resolution: {value: 0.001, unit: °C}
    correction:
      variable: temperature                # optional with a single range
      meaning: correction                  # correction (add) | error (E) | value (certified value)
      table:
        - {x: 0.0, correction: -0.012, U: 0.020, k: 2}
        - ...

A standard with several elements (the nozzles of a bank) gives `corrections: {N1: {...}, ...}` instead.

Equipment that sets the severity of a test (an EMC generator, a climate chamber, a magnet) is verified
rather than calibrated: `kind: verification` states conformity, quantity by quantity, with no correction:

    kind: verification
    calibrated_range: {voltage_kv: {min: 0.5, max: 4.0, unit: kV}}   # the levels the verification covers
    verified:
      - {quantity: open-circuit voltage front time, requirement: 1.2 µs ± 30 %, result: 1.21 µs,
         clause: "IEC 61000-4-5:2014, 6.2.2", status: unverified}  # status: the requirement vs the IEC text
    conformity: meets IEC 61000-4-5:2014 clause 6.2 at the levels verified

`simulated: true` marks a certificate issued for the simulated laboratory: its values are those of the
simulated standard, its dates are not enforced, and only a simulated instrument may use it (`register.py`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from GTC.lib import UncertainReal
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from meterlab.calibration.corrections import Correction, OutOfCalibratedRange, Range, fail_at, si_factor, si_unit_of
from meterlab.errors import DeclarationError
from meterlab.metrology.budget import quantity
from meterlab.metrology.profiles import Status as SourceStatus
from meterlab.quantities import NumberText
from meterlab.yamlio import load_model, read_yaml

__all__ = [
    "Certificate",
    "CertificateRef",
    "Kind",
    "Resolution",
    "Status",
    "VerifiedQuantity",
    "as_date",
    "load_certificate",
]

INSTRUMENT_PATTERN = r"^[a-z][a-z0-9_]*$"          # as bench files name instruments
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"       # no spaces, no '|': ids end up in budget labels
DEFAULT_VARIABLE = "x"

# A use of a standard: a value, a (low, high) interval, or either per input variable.
Used = float | UncertainReal | tuple[float, float] | Mapping[str, Any] | None


Kind = Literal["calibration", "verification"]  # a calibration has values; a verification states conformity


class Status(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"


def as_date(at: dt.date | dt.datetime | None) -> dt.date:
    """The calendar day of `at` (today when None)."""
    if at is None:
        return dt.date.today()
    return at.date() if isinstance(at, dt.datetime) else at


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CertificateRef(_Strict):
    number: NumberText = Field(min_length=1)
    issued_by: str = Field(min_length=1, description="the calibration laboratory")
    accreditation: str | None = Field(None, description="e.g. the lab's ISO/IEC 17025 accreditation number")
    date: dt.date = Field(description="date of issue")


class Resolution(_Strict):
    value: float = Field(gt=0, allow_inf_nan=False)
    unit: str = Field(min_length=1)


class VerifiedQuantity(_Strict):
    """One quantity a verification found within its requirement."""

    quantity: str = Field(min_length=1, description="e.g. open-circuit voltage front time")
    requirement: str = Field(min_length=1, description="the tolerance verified, e.g. 1.2 µs ± 30 %")
    result: str | None = Field(None, description="what was found, as the verification report states it")
    clause: str = Field(min_length=1, description="where the requirement comes from, with the edition")
    status: SourceStatus = Field(description="the requirement as written here against the standard's text: "
                                             "verified | secondary | unverified")


class Certificate(_Strict):
    """One reference standard (or severity-setting equipment) and its current certificate."""

    id: str = Field(pattern=ID_PATTERN)
    kind: Kind = "calibration"
    simulated: bool = Field(False, description="issued for the simulated laboratory; only simulated "
                                               "instruments may use it")
    description: str = Field(min_length=1)
    manufacturer: str = Field(min_length=1)
    model: str = Field(min_length=1)
    serial: NumberText = Field(min_length=1)
    instrument: str = Field(pattern=INSTRUMENT_PATTERN, description="the bench instrument it backs")
    quantity: str = Field(min_length=1, description="what the correction is of: mass, temperature, error ...")
    unit: str | None = Field(None, min_length=1, description="unit of the correction values and their U")
    # Declared before `certificate` so its validator can compare dates.
    calibration_date: dt.date
    due_date: dt.date
    certificate: CertificateRef
    calibrated_range: dict[str, Range] = Field(min_length=1)
    resolution: Resolution | None = None
    correction: Correction | None = None
    corrections: dict[str, Correction] | None = Field(None, min_length=1,
                                                      description="per element, e.g. each nozzle of a bank")
    verified: list[VerifiedQuantity] | None = Field(None, min_length=1, description="a verification's findings")
    conformity: str | None = Field(None, min_length=1, description="a verification's statement of conformity")
    notes: str | None = None

    _path: Path | None = PrivateAttr(None)
    _sha256: str | None = PrivateAttr(None)

    # ---------------------------------------------------------------------------------- validation
    @model_validator(mode="before")
    @classmethod
    def _name_single_range(cls, data: Any) -> Any:
        """Accept `calibrated_range: {min, max, unit}` for one variable, and default `variable`."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        ranges = data.get("calibrated_range")
        if isinstance(ranges, dict) and ranges.keys() & {"min", "max", "unit"}:
            data["calibrated_range"] = {_declared_variable(data) or DEFAULT_VARIABLE: ranges}
        names = list(data["calibrated_range"]) if isinstance(data.get("calibrated_range"), dict) else []
        if len(names) == 1:
            data.update(_with_default_variable(data, names[0]))
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Certificate:
        if self.due_date <= self.calibration_date:
            raise fail_at(("due_date",), f"the due date {self.due_date} must come after the calibration "
                                         f"date {self.calibration_date}", str(self.due_date))
        if self.certificate.date < self.calibration_date:
            raise fail_at(("certificate", "date"), f"the certificate is dated {self.certificate.date}, "
                          f"before the calibration it reports ({self.calibration_date})")
        if self.kind == "verification":
            self._check_verification()
        else:
            self._check_calibration()
        for loc, correction in self._located_corrections():
            self._check_variable(loc, correction)
        return self

    def _check_calibration(self) -> None:
        if (self.correction is None) == (self.corrections is None):
            raise fail_at(("correction",), "give either correction (one) or corrections (per element)")
        if self.unit is None:
            raise fail_at(("unit",), "a calibration needs the unit of its correction values")
        for field in ("verified", "conformity"):
            if getattr(self, field) is not None:
                raise fail_at((field,), f"{field} belongs to a verification (kind: verification); "
                                        "a calibration certifies values with a correction")

    def _check_verification(self) -> None:
        # A verification states conformity; a correction would be applied to nothing and trusted by no one.
        for field in ("correction", "corrections"):
            if getattr(self, field) is not None:
                raise fail_at((field,), "a verification has no correction: it states what was verified "
                                        "(verified:) and the conformity; a certificate with values is kind: calibration")
        for field, what in (("verified", "what it verified"), ("conformity", "its conformity")):
            if getattr(self, field) is None:
                raise fail_at((field,), f"a verification states {what} ({field}:)")

    def _located_corrections(self) -> Iterator[tuple[tuple[str, ...], Correction]]:
        if self.correction is not None:
            yield ("correction",), self.correction
        for element, correction in (self.corrections or {}).items():
            yield ("corrections", element), correction

    def _check_variable(self, loc: tuple[str, ...], correction: Correction) -> None:
        names = ", ".join(self.calibrated_range)
        if correction.variable is None:
            raise fail_at(loc + ("variable",), f"name the input variable of the correction, one of: {names}")
        calibrated = self.calibrated_range.get(correction.variable)
        if calibrated is None:
            raise fail_at(loc + ("variable",), f"{correction.variable!r} has no calibrated_range; "
                                               f"known: {names}", correction.variable)
        span = correction.table_span
        if span is None:
            return
        if calibrated.min < span[0]:
            raise fail_at(("calibrated_range", correction.variable, "min"), f"the calibrated range starts at "
                          f"{calibrated.min:g} but the table at {span[0]:g}; a table is never extrapolated")
        if calibrated.max > span[1]:
            raise fail_at(("calibrated_range", correction.variable, "max"), f"the calibrated range ends at "
                          f"{calibrated.max:g} but the table at {span[1]:g}; a table is never extrapolated")

    # ------------------------------------------------------------------------------------- identity
    @property
    def path(self) -> Path | None:
        """The file it was loaded from (None when built in code)."""
        return self._path

    @property
    def sha256(self) -> str | None:
        """SHA-256 of the file's bytes, so a record can prove which certificate file was in force."""
        return self._sha256

    @property
    def source(self) -> str:
        """How budgets name it: '<id> cert <number> (<lab>)'."""
        return f"{self.id} cert {self.certificate.number} ({self.certificate.issued_by})"

    @property
    def label(self) -> str:
        """How messages name it: id, bench instrument and certificate."""
        what = "equipment" if self.kind == "verification" else "standard"
        return f"{what} {self.id} ({self.instrument}), {self.kind} certificate {self.certificate.number}"

    # --------------------------------------------------------------------------------------- status
    @property
    def valid_from(self) -> dt.date:
        # The certified values exist from the day the certificate was issued, not from the calibration.
        return self.certificate.date

    def status(self, at: dt.date | dt.datetime | None = None) -> Status:
        """Valid from the certificate's date of issue through the due date (inclusive)."""
        day = as_date(at)
        if day < self.valid_from:
            return Status.NOT_YET_VALID
        return Status.EXPIRED if day > self.due_date else Status.VALID

    def days_until_due(self, at: dt.date | dt.datetime | None = None) -> int:
        """Days from `at` to the due date (negative when past due)."""
        return (self.due_date - as_date(at)).days

    # ----------------------------------------------------------------------------------- corrections
    @property
    def elements(self) -> list[str]:
        """Names of the elements (empty for a single-correction standard)."""
        return list(self.corrections or {})

    def correction_of(self, element: str | None = None) -> Correction:
        if self.kind == "verification":
            raise DeclarationError("certificate", self.id, "a calibration with a correction: this one is a verification")
        if self.corrections is None:
            if element is not None:
                raise DeclarationError("element", element, f"nothing: {self.id} has a single correction")
            return self.correction  # type: ignore[return-value]
        if element not in self.corrections:
            raise DeclarationError("element", element, f"one of the elements of {self.id}: "
                                                       f"{', '.join(self.corrections)}")
        return self.corrections[element]

    @property
    def primary_variable(self) -> str | None:
        """The variable a bare value refers to: the one all corrections depend on, if they agree."""
        variables = {c.variable for _, c in self._located_corrections()}
        return variables.pop() if len(variables) == 1 else None

    def out_of_range(self, used: Used) -> list[OutOfCalibratedRange]:
        """The variables of `used` that fall outside the calibrated range (empty when all inside)."""
        problems = []
        for variable, value in self._per_variable(used).items():
            low, high = _interval(value)
            calibrated = self.calibrated_range[variable]
            if not calibrated.contains(low, high):
                shown = low if low == high else (low, high)
                problems.append(OutOfCalibratedRange(self.id, self.certificate.number, variable, shown, calibrated))
        return problems

    def evaluate(self, at: Used, *, element: str | None = None, name: str | None = None) -> UncertainReal:
        """The certified value at `at` as a labelled GTC input (value, u, dof; source names this certificate).

        `at` is the value of the correction's variable, or a mapping of variable -> value that may also
        hold the other calibrated variables (e.g. water temperature for a master meter); each is
        range-checked. A ureal `at` adds slope·u(x) to the result. Outside the range: OutOfCalibratedRange.
        """
        correction = self.correction_of(element)
        per_variable = self._per_variable(at, correction.variable)
        problems = self.out_of_range(per_variable)
        if problems:
            raise problems[0]
        x = per_variable.get(correction.variable)
        if x is None or isinstance(x, tuple):
            raise DeclarationError(correction.variable or "at", x, "one value to evaluate the correction at")
        x_value = float(x.x) if isinstance(x, UncertainReal) else float(x)
        value, u, slope = correction.evaluate(x_value)
        label = name or self._input_name(correction, element, x_value)
        result = quantity(value, u, dof=correction.dof, name=label, source=self.source)
        if isinstance(x, UncertainReal) and slope != 0.0:
            result = result + slope * (x - x.x)  # the uncertainty of x moves the point on the curve
        return result

    def _input_name(self, correction: Correction, element: str | None, x: float) -> str:
        what = {"correction": "correction", "error": "error"}.get(correction.meaning, self.quantity)
        unit = self.calibrated_range[correction.variable].unit  # type: ignore[index]
        element_part = f" {element}" if element else ""
        return f"{self.id}{element_part} {what} at {x:g} {unit}"

    def _per_variable(self, used: Used, default: str | None = None) -> dict[str, Any]:
        if used is None:
            return {}
        if isinstance(used, Mapping):
            unknown = [v for v in used if v not in self.calibrated_range]
            if unknown:
                raise DeclarationError("variable", unknown[0], f"a calibrated variable of {self.id}: "
                                                               f"{', '.join(self.calibrated_range)}")
            return dict(used)
        variable = default or self.primary_variable
        if variable is None:
            raise DeclarationError("at", used, f"a mapping variable -> value: {self.id} has the variables "
                                               f"{', '.join(self.calibrated_range)}")
        return {variable: used}

    # ------------------------------------------------------------------------ constants for methods
    def max_u(self, si_unit: str, *, element: str | None = None) -> float:
        """The largest standard uncertainty of the correction, in `si_unit` (a conservative constant)."""
        return self.correction_of(element).max_u() * si_factor(self.unit, si_unit)

    def max_relative_u(self, from_x: float | None = None, *, element: str | None = None) -> float:
        """The largest u(x)/x from `from_x` (in the range's unit; default the first x > 0 of a table)."""
        correction = self.correction_of(element)
        if from_x is None:
            from_x = self._first_positive_x(correction)
        variable_unit = self.calibrated_range[correction.variable].unit  # type: ignore[index]
        return correction.max_relative_u(from_x) * _ratio_factor(self.unit, variable_unit)

    def _first_positive_x(self, correction: Correction) -> float:
        calibrated = self.calibrated_range[correction.variable]  # type: ignore[index]
        candidates = [row.x for row in correction.table or () if row.x > 0] or [calibrated.min]
        if candidates[0] <= 0:
            raise DeclarationError("from_x", None, f"a lowest value > 0 for {self.id} (its range starts at 0)")
        return candidates[0]

    def calibration_points(self, *, element: str | None = None) -> tuple[tuple[float, float, float], ...]:
        """A table's rows as (x, value, U at k = 2), the form `interpolate_calibration_curve` and
        `MasterMeterMethod.calibration_points` take (U re-stated at k = 2 from each row's U/k)."""
        correction = self.correction_of(element)
        if correction.table is None:
            raise DeclarationError("correction", correction.kind, f"a table on the certificate of {self.id}")
        return tuple((row.x, row.correction, 2.0 * row.u) for row in correction.table)

    def resolution_in(self, si_unit: str) -> float:
        if self.resolution is None:
            raise DeclarationError("resolution", None, f"a resolution on the certificate of {self.id}")
        return self.resolution.value * si_factor(self.resolution.unit, si_unit)


def _ratio_factor(numerator_unit: str, denominator_unit: str) -> float:
    """Factor of a ratio such as u [g] / x [kg]; refuses units of different dimensions."""
    if numerator_unit == denominator_unit:
        return 1.0
    si_unit = si_unit_of(numerator_unit) or numerator_unit
    return si_factor(numerator_unit, si_unit) / si_factor(denominator_unit, si_unit)


def _interval(value: Any) -> tuple[float, float]:
    if isinstance(value, tuple | list):
        low, high = (float(v) for v in value)
        return (low, high) if low <= high else (high, low)
    x = float(value.x) if isinstance(value, UncertainReal) else float(value)
    return x, x


def _correction_blocks(data: dict[str, Any]) -> list[Any]:
    blocks = [data.get("correction")]
    if isinstance(data.get("corrections"), dict):
        blocks += list(data["corrections"].values())
    return blocks


def _declared_variable(data: dict[str, Any]) -> str | None:
    """The first `variable` a correction block names in raw file data (None when none does)."""
    names = [block["variable"] for block in _correction_blocks(data)
             if isinstance(block, dict) and isinstance(block.get("variable"), str)]
    return names[0] if names else None


def _with_default_variable(data: dict[str, Any], variable: str) -> dict[str, Any]:
    """`correction`/`corrections` with `variable` filled in where it was left out."""
    def filled(block: Any) -> Any:
        return {"variable": variable, **block} if isinstance(block, dict) and "variable" not in block else block
    out = {}
    if "correction" in data:
        out["correction"] = filled(data["correction"])
    if isinstance(data.get("corrections"), dict):
        out["corrections"] = {name: filled(block) for name, block in data["corrections"].items()}
    return out


def load_certificate(path: str | Path) -> Certificate:
    """Read and validate one certificate file; any problem raises InputFileError (file, line, field)."""
    path = Path(path)
    data, lines = read_yaml(path)
    certificate = load_model(path, Certificate, data=data, lines=lines)
    certificate._path = path
    certificate._sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return certificate

