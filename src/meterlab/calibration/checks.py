"""Intermediate checks of reference standards between calibrations (ISO/IEC 17025 6.4.10): a check standard
measured now and then with the standard (a check weight on the balance, a transfer meter on the rig), each
result's deviation from the check standard's value judged against the laboratory's warning and action limits
(a control chart). A standard whose latest check is beyond the action limit is kept out of runs like an
expired one (an override is recorded with its reason); beyond the warning limit, the runs say so.

One file per standard in `calibration/checks/`, named for it (checks/bal-600.yaml):

    standard: bal-600
    check_standard: 100 kg check weight, class M1 (certificate W-2026-0101)
    unit: kg
    reference_value: 100.0000          # the check standard's value
    limits: {warning: 0.010, action: 0.015, source: "2 s and 3 s of the first 20 checks"}
    checks:
      - {date: 2026-06-01, value: 100.002, by: tina}
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from meterlab.errors import InputFileError
from meterlab.yamlio import load_model

CHECKS_FOLDER = "checks"


class ControlState(StrEnum):
    IN_CONTROL = "in control"
    WARNING = "beyond the warning limit"
    ACTION = "beyond the action limit"
    NONE = "no check yet"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Limits(_Strict):
    warning: float = Field(gt=0, description="|deviation| above it: watch the standard")
    action: float = Field(gt=0, description="|deviation| above it: the standard is out of control")
    source: str = Field(min_length=1, description="how the limits were set (stated, or k s of a history)")

    @model_validator(mode="after")
    def _ordered(self) -> Limits:
        if self.action < self.warning:
            raise ValueError(f"the action limit {self.action} is below the warning limit {self.warning}")
        return self


class Check(_Strict):
    date: dt.date
    value: float
    by: str = Field(min_length=1)


class IntermediateChecks(_Strict):
    standard: str = Field(min_length=1, description="the id of the certificate in calibration/")
    check_standard: str = Field(min_length=1, description="what is measured, with its own certificate")
    unit: str = Field(min_length=1)
    reference_value: float
    limits: Limits
    checks: list[Check] = Field(default_factory=list)

    def deviation(self, check: Check) -> float:
        return check.value - self.reference_value

    def state_of(self, check: Check) -> ControlState:
        size = abs(self.deviation(check))
        if size > self.limits.action:
            return ControlState.ACTION
        return ControlState.WARNING if size > self.limits.warning else ControlState.IN_CONTROL

    def latest(self, day: dt.date) -> Check | None:
        done = [c for c in self.checks if c.date <= day]
        return max(done, key=lambda c: c.date) if done else None

    def state(self, day: dt.date) -> ControlState:
        latest = self.latest(day)
        return ControlState.NONE if latest is None else self.state_of(latest)


def load_checks(folder: str | Path) -> dict[str, IntermediateChecks]:
    """The checks files of a calibration folder, by standard id ({} without a checks/ folder)."""
    checks_folder = Path(folder) / CHECKS_FOLDER
    found: dict[str, IntermediateChecks] = {}
    if not checks_folder.is_dir():
        return found
    for path in sorted(p for p in checks_folder.iterdir() if p.suffix in (".yaml", ".yml")):
        checks = load_model(path, IntermediateChecks)
        if checks.standard in found:
            raise InputFileError(path, [(None, "standard", f"{checks.standard!r} has its checks in another file "
                                                           f"already: one file per standard")])
        found[checks.standard] = checks
    return found
