"""The meter-reading format: its JSON Schema (shipped in the package) and validation against it.

A reading that does not fit the format is refused with ReadingFormatError, which lists every problem with the
field it is in ("meter.kind: 'kind' is a required property"), so a technician can tell what is missing."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from meterlab.errors import MeterlabError

SCHEMA_FILE = "meter-reading-v1.json"
SCHEMA_VERSION = "meter-reading/1"  # the `schema` field of every reading of this version


class ReadingFormatError(MeterlabError):
    """A reading that does not fit the meter-reading format; `problems` are (field, message)."""

    def __init__(self, problems: list[tuple[str, str]], what: str = "meter reading"):
        self.problems = problems
        lines = "\n  ".join(f"{field}: {message}" for field, message in problems)
        super().__init__(f"{what} refused, it does not fit {SCHEMA_VERSION} ({len(problems)} problem(s)):\n  {lines}")


@cache
def reading_schema() -> dict[str, Any]:
    """The JSON Schema of a meter reading, read from the package."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _validator() -> Draft202012Validator:
    schema = reading_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def reading_problems(reading: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every way `reading` differs from the format: (dotted field, message), in field order."""
    problems = []
    for error in sorted(_validator().iter_errors(reading), key=lambda e: [str(p) for p in e.absolute_path]):
        field = ".".join(str(part) for part in error.absolute_path) or "(the reading)"
        problems.append((field, error.message))
    return problems + _not_finite(reading)


def _not_finite(data: Any, path: str = "") -> list[tuple[str, str]]:
    """NaN and infinities: JSON has no such numbers, but a Python float passes the schema's "number"."""
    if isinstance(data, float) and not math.isfinite(data):
        return [(path or "(the reading)", f"{data!r} is not a finite number")]
    if isinstance(data, Mapping):
        return [p for key, value in data.items() for p in _not_finite(value, f"{path}.{key}" if path else str(key))]
    if isinstance(data, list):
        return [p for i, value in enumerate(data) for p in _not_finite(value, f"{path}.{i}")]
    return []


def validate_reading(reading: Mapping[str, Any], what: str = "meter reading") -> Mapping[str, Any]:
    """`reading` itself if it fits the format; ReadingFormatError naming every problem otherwise."""
    problems = reading_problems(reading)
    if problems:
        raise ReadingFormatError(problems, what)
    return reading
