"""The OBIS codes meterlab can put into a meter reading, and the DLMS units, from `obis-codes.yaml` (data only:
each code with its kind, quantity, source and confidence tag)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict

from meterlab.yamlio import read_yaml_text, validate_data

Confidence = Literal["V", "S", "U"]


class ObisCode(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["water", "gas", "electricity"]
    quantity: Literal["volume", "energy"]
    description: str
    source: str
    confidence: Confidence


class DlmsUnit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    unit: Literal["m3", "Wh"]
    quantity: Literal["volume", "energy"]
    source: str
    confidence: Confidence


class ObisTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    codes: dict[str, ObisCode]
    units: dict[int, DlmsUnit]


@cache
def obis_table() -> ObisTable:
    file = resources.files(__package__).joinpath("obis-codes.yaml")
    data, lines = read_yaml_text(file.read_text(encoding="utf-8"), str(file))
    return validate_data(str(file), ObisTable, data, lines)
