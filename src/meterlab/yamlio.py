"""Load YAML files into pydantic models with errors that name file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from meterlab.errors import InputFileError

M = TypeVar("M", bound=BaseModel)
Path_ = tuple[Any, ...]


def _line_map(node: yaml.Node, path: Path_ = (), out: dict[Path_, int] | None = None) -> dict[Path_, int]:
    """Map every key/index path in a composed YAML document to its 1-based line."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _line_map(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            out[path + (index,)] = item.start_mark.line + 1
            _line_map(item, path + (index,), out)
    return out


def read_yaml(path: str | Path) -> tuple[Any, dict[Path_, int]]:
    """Parse a YAML file; return its data and the path->line map. Syntax errors become InputFileError."""
    return read_yaml_text(read_text(path), path)


def read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputFileError(path, [(None, "", f"cannot read the file: {exc.strerror or exc}")]) from exc


def read_yaml_text(text: str, path: str | Path) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML text that came from `path` (a file, or a copy stored with a run)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise InputFileError(path, [(line, "", f"YAML syntax error: {exc.problem or exc}")]) from exc
    return data, (_line_map(node) if node is not None else {})


def locate(lines: dict[Path_, int], loc: Path_) -> tuple[int | None, str]:
    """Line and dotted field name of a pydantic error location.

    pydantic puts the tag of a tagged union into loc ("steps.3.measure_error.volume"); such a part is not
    a key in the file and is skipped. Only the last part may be absent from the file: a missing field."""
    path: Path_ = ()
    for i, part in enumerate(loc):
        if path + (part,) in lines or i == len(loc) - 1:
            path = path + (part,)
    field = ".".join(str(p) for p in path)
    for end_ in range(len(path), -1, -1):
        if path[:end_] in lines:
            return lines[path[:end_]], field
    return None, field


def validation_problems(exc: ValidationError, lines: dict[Path_, int]) -> list[tuple[int | None, str, str]]:
    problems = []
    for err in exc.errors():
        line, field = locate(lines, tuple(err["loc"]))
        message = err["msg"]
        if err["type"] == "missing":
            message = "this field is required but missing"
        elif err["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        problems.append((line, field, message))
    return problems


def load_model(path: str | Path, model: type[M], *, data: Any = None, lines: dict[Path_, int] | None = None) -> M:
    """Read and validate a YAML file as `model`. Any problem raises InputFileError(file, line, field)."""
    if data is None:
        data, lines = read_yaml(path)
    if data is None:
        raise InputFileError(path, [(None, "", "the file is empty")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputFileError(path, validation_problems(exc, lines or {})) from exc
