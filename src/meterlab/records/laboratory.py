"""The laboratory that issues the reports: its identity and accreditation (ISO/IEC 17025 7.8.2.1 asks for the
name and address of the laboratory and a unique identification of the report on every report). Read from a
laboratory file (instruments/laboratory.yaml by default) when a run is created and recorded with it, so a report
regenerated years later names the laboratory as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from meterlab.yamlio import load_model

LABORATORY_FILE = Path("instruments/laboratory.yaml")  # relative to the working directory


class SignOffPolicy(BaseModel):
    """Who signs a run's results off, in which order, and the separation of duties (records/people.py)."""

    model_config = ConfigDict(extra="forbid")
    order: list[Literal["metrologist", "qa"]] = Field(
        default_factory=lambda: ["metrologist", "qa"], min_length=1,
        description="the sign-offs a release needs, in order: metrologist (technical review), qa (release)")
    operator_may_sign: bool = Field(False, description="may whoever ran the test sign it off")
    one_role_per_person: bool = Field(True, description="a different person at each step")

    @field_validator("order")
    @classmethod
    def _each_once(cls, order: list[str]) -> list[str]:
        if len(set(order)) != len(order):
            raise ValueError("each role signs once: list it once")
        return order


class Laboratory(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    address: str = Field(min_length=1, description="postal address, as printed on the report")
    country_code: str | None = Field(None, pattern=r"^[A-Z]{2}$",
                                     description="ISO 3166-1 alpha-2 country of the laboratory (DCC exports)")
    accreditation_body: str = Field(min_length=1, description="e.g. the national accreditation body")
    accreditation_number: str = Field(min_length=1, description="the laboratory's accreditation number")
    report_prefix: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{0,15}$",
                               description="starts every report number, e.g. TA (upper case letters, digits, -)")
    example: bool = Field(False, description="true for the shipped example laboratory: reports say it is not real")
    sign_off: SignOffPolicy = Field(default_factory=SignOffPolicy)


def load_laboratory(path: str | Path) -> Laboratory:
    """Read and validate a laboratory file; problems name the file, the line and the field."""
    return load_model(path, Laboratory)
