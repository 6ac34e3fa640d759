"""Exceptions that speak to people: each names what is wrong, where, and what is allowed."""

from __future__ import annotations

from pathlib import Path


class MeterlabError(Exception):
    """Base class of every error meterlab raises on purpose."""


class DeclarationError(MeterlabError, ValueError):
    """A value in a meter declaration or model input is not allowed."""

    def __init__(self, field: str, value: object, allowed: str):
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"{field} = {value!r} is not allowed: {allowed}")


class InputFileError(MeterlabError):
    """A file given by a user (procedure, bench, meter, scenario, profile, certificate) is wrong."""

    def __init__(self, path: str | Path, problems: list[tuple[int | None, str, str]]):
        # problems: (line or None, field path, message)
        self.path = str(path)
        self.problems = problems
        lines = [f"{self.path}: {len(problems)} problem(s)"]
        for line, field, message in problems:
            where = f"line {line}" if line else "file"
            lines.append(f"  {self.path}:{line or '-'} ({where}) field '{field or '<top>'}': {message}")
        super().__init__("\n".join(lines))


class RigError(MeterlabError):
    """The rig cannot do what a step asks (missing instrument, flow not reached, tank too small)."""
