"""Adapter tables: one model's command syntax as data, the built-in `generic` tables and loading.

The built-in tables are data files in `tables/`: `common.yaml` (what every family shares) and one
`<name>-<family>.yaml` per family, merged over it. A lab's table file may say `extends: generic` and list
only what differs."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from meterlab.errors import InputFileError
from meterlab.quantities import AsTuple
from meterlab.yamlio import input_roots, read_yaml, read_yaml_text, referenced_file, validation_problems

if TYPE_CHECKING:
    from meterlab.instruments.emc.base import EmcGenerator

Family = Literal["surge", "burst", "esd", "dips", "magnetic_field"]

# family -> driver class; each driver registers itself (EmcGenerator.__init_subclass__), so that a table is
# checked against what its family's driver needs without this module importing the drivers
DRIVER_FAMILIES: dict[str, type[EmcGenerator]] = {}


class ErrorRegister(BaseModel):
    """How the model reports errors: the reply of the `error?` query, matched by `pattern` (group `code`)."""

    model_config = ConfigDict(extra="forbid")
    pattern: str = Field(r"^\s*(?P<code>[+-]?\d+)\s*$", description="regex with a `code` group (and `message`)")
    ok: list[int] = Field(default_factory=lambda: [0], description="codes that mean no error")
    messages: dict[int, str] = Field(default_factory=dict, description="code -> text as the manual gives it")

    @field_validator("pattern")
    @classmethod
    def _has_code_group(cls, pattern: str) -> str:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if "code" not in compiled.groupindex:
            raise ValueError("the pattern needs a named group (?P<code>...)")
        return pattern


class AdapterTable(BaseModel):
    """One model's command syntax. `commands`: logical name -> command; a setting `x` has the template
    `x` (printf style, e.g. `VSET %.2f`) and the query `x?`; actions have no `?`. A command set to null does
    not exist on that model (e.g. `remote: null` for a generator without a remote/local mode).
    `values`: logical value -> what the model sends and understands (`polarity: {positive: POS}`).
    `ranges`: what the model accepts, [low, high], checked before sending."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="maker and model this table is for, and its source")
    family: Family
    extends: str | None = Field(None, description="a built-in table this file changes (e.g. generic)")
    commands: dict[str, str | None]
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    ranges: dict[str, Annotated[tuple[float, float], AsTuple]] = Field(default_factory=dict)
    errors: ErrorRegister = Field(default_factory=ErrorRegister)

    def command(self, key: str) -> str | None:
        return self.commands.get(key)


def _merge(base: dict[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """`change` over `base`, dictionaries merged key by key (a table file lists only what differs)."""
    merged = copy.deepcopy(base)
    for key, value in change.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _table_file(name: str) -> dict[str, Any]:
    """A data file of `tables/`, read through importlib.resources so that it is found in any install."""
    file = resources.files(__package__).joinpath("tables", name)
    data, _ = read_yaml_text(file.read_text(encoding="utf-8"), str(file))
    return data


COMMON_TABLE: dict[str, Any] = _table_file("common.yaml")  # commands, values and errors every family shares


def _builtin(name: str) -> dict[str, dict[str, Any]]:
    return {family: _merge(COMMON_TABLE, _table_file(f"{name}-{family}.yaml")) for family in get_args(Family)}


GENERIC_TABLES: dict[str, dict[str, Any]] = _builtin("generic")  # family -> table (the set the sim speaks)
BUILTIN_TABLES: dict[str, dict[str, dict[str, Any]]] = {"generic": GENERIC_TABLES}  # name -> family -> table


def load_adapter(ref: str | Path | Mapping[str, Any], family: str) -> AdapterTable:
    """A built-in table by name (`generic`), a YAML file, or a mapping; checked for `family`.

    A file may say `extends: generic` and list only what differs. Problems raise InputFileError (file)
    or ValueError (mapping, unknown name)."""
    if isinstance(ref, Mapping):
        return _validated(dict(ref), family, "<adapter table>", {})
    if isinstance(ref, str) and ref in BUILTIN_TABLES:
        return _validated(BUILTIN_TABLES[ref][family], family, f"<built-in table {ref}>", {})
    if Path(ref).suffix.lower() not in (".yaml", ".yml"):
        raise ValueError(f"adapter {str(ref)!r} is neither a built-in table ({', '.join(BUILTIN_TABLES)}) "
                         "nor a .yaml file")
    path = referenced_file(ref)
    if path is None:
        raise ValueError(f"adapter table {str(ref)!r}: no such file (looked in {', '.join(map(str, input_roots()))})")
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise InputFileError(path, [(None, "", "an adapter table is a mapping (model, family, commands, ...)")])
    return _validated(data, family, path, lines)


def _validated(data: dict[str, Any], family: str, source: str | Path, lines: dict) -> AdapterTable:
    data = _extended(data, family, source, lines)
    try:
        table = AdapterTable.model_validate(data)
    except ValidationError as exc:
        raise InputFileError(source, validation_problems(exc, lines)) from exc
    problems = []
    if table.family != family:
        problems.append((lines.get(("family",)), "family", f"this table is for {table.family}, not {family}"))
    problems += DRIVER_FAMILIES[family].table_problems(table, lines)
    if problems:
        raise InputFileError(source, problems)
    return table


def _extended(data: dict[str, Any], family: str, source: str | Path, lines: dict) -> dict[str, Any]:
    """`data` merged over the built-in table it `extends` (unchanged if it extends none)."""
    base = data.get("extends")
    if base is None:
        return data
    if base not in BUILTIN_TABLES:
        raise InputFileError(source, [(lines.get(("extends",)), "extends",
                                       f"unknown built-in table {base!r}; known: {', '.join(BUILTIN_TABLES)}")])
    return _merge(BUILTIN_TABLES[base].get(data.get("family", family), {}), data)
