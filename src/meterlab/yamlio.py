"""Load YAML files into pydantic models with errors that name file, line and field.

Every input file (procedure, meter, bench, scenario, certificate, profile, laboratory) is read here, and
read strictly: a file that is too big, not UTF-8, holds control characters, nests too deep, expands too
many aliases, repeats a key, writes an impossible date or a number that is not finite is refused with its
file and line before any model sees it; the model is then validated in pydantic's strict mode (no
yes -> 1.0, no '2.5' -> 2.5). Nothing a file holds can raise anything but InputFileError.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from meterlab.errors import InputFileError

M = TypeVar("M", bound=BaseModel)
Path_ = tuple[Any, ...]
Problem = tuple[int | None, str, str]

# Limits of the software, not of a standard: the largest real input (an RF level table) is 67 kB and nests 8
# deep; these leave ample room while keeping a hostile file from taking memory or minutes.
MAX_FILE_BYTES = 2_000_000
MAX_DEPTH = 40
MAX_NODES = 200_000  # nodes after every alias is expanded: a 1 kB "billion laughs" file goes far past this

# YAML 1.1's printable set (tab, line ends and the printable planes); anything else is refused with its line.
NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (libyaml's when present) with calendar-checked dates; a class of its own so that
    the constructor added below changes nothing for other users of PyYAML."""


INPUT_DIRS_ENV = "METERLAB_INPUT_DIRS"
SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the meterlab checkout, whose folders ship the examples


def input_roots() -> list[Path]:
    """Where a file named by another file may lie: the working directory (the lab's meterlab folder), the source
    checkout, and the folders listed in $METERLAB_INPUT_DIRS (the explicit allow-list)."""
    listed = [Path(p) for p in os.environ.get(INPUT_DIRS_ENV, "").split(os.pathsep) if p]
    return list(dict.fromkeys(p.resolve() for p in (Path.cwd(), SOURCE_ROOT, *listed)))


def referenced_file(given: str | Path) -> Path | None:
    """The file an input file names (relative to an input root, or absolute inside one); None if none exists.

    A name that leads out of every root (an absolute path elsewhere, '../..') raises ValueError, so a file
    cannot make meterlab read, and record with a run, a file outside the lab's folders."""
    roots = input_roots()
    candidates = [Path(given)] if Path(given).is_absolute() else [root / given for root in roots]
    inside = [c.resolve() for c in candidates if any(c.resolve().is_relative_to(root) for root in roots)]
    if not inside:
        raise ValueError(f"{str(given)!r} is outside the lab's folders ({', '.join(map(str, roots))}); move the "
                         f"file there or add its folder to ${INPUT_DIRS_ENV}")
    return next((c for c in inside if c.is_file()), None)


def read_text(path: str | Path) -> str:
    """The text of an input file: at most MAX_FILE_BYTES of UTF-8 without control characters."""
    raw = _read_bytes(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputFileError(path, [(line, "", f"byte 0x{raw[exc.start]:02x} is not UTF-8: the file is binary or "
                                               f"in another encoding (e.g. Latin-1); save it as UTF-8 text")]) from None
    bad = NOT_PRINTABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise InputFileError(path, [(line, "", f"control character U+{ord(bad.group()):04X} is not allowed in a "
                                               f"YAML file; remove it (write it as an escape in a quoted string)")])
    return text


def _read_bytes(path: str | Path) -> bytes:
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputFileError(path, [(None, "", f"the file has {size:,} bytes; an input file may have at most "
                                                   f"{MAX_FILE_BYTES:,} (is it the right file?)")])
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(path, [(None, "", f"cannot read the file: {exc.strerror or exc}")]) from None


def read_yaml(path: str | Path) -> tuple[Any, dict[Path_, int]]:
    """Parse a YAML file; return its data and the path->line map. Any problem becomes InputFileError."""
    return read_yaml_text(read_text(path), path)


def read_yaml_text(text: str, path: str | Path) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML text that came from `path` (a file, or a copy stored with a run)."""
    lines: dict[Path_, int] = {}
    try:
        _check_shape(text, path)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            problems = _walk(node, (), lines) if node is not None else []
            if problems:
                raise InputFileError(path, problems)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise InputFileError(path, [(line, _field_on(lines, line), _yaml_message(exc))]) from None
    except yaml.YAMLError as exc:
        raise InputFileError(path, [(None, "", f"YAML error: {exc}")]) from None
    problems = _not_finite(data, lines)
    if problems:
        raise InputFileError(path, problems)
    return data, lines


def _field_on(lines: dict[Path_, int], line: int | None) -> str:
    """The innermost field written on `line` ("" when the map has none there, e.g. on a syntax error)."""
    paths = [path for path, at in lines.items() if at == line and path]
    return _dotted(max(paths, key=len)) if paths else ""


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    if isinstance(exc, yaml.constructor.ConstructorError) and exc.context is None:
        return str(exc.problem)  # a value YAML cannot build (an impossible date), not a syntax error
    context = f" ({exc.context})" if exc.context and exc.problem else ""
    return f"YAML syntax error: {exc.problem or exc}{context}"


def _check_shape(text: str, path: str | Path) -> None:
    """Depth and expanded size, from the event stream (iterative, so neither can exhaust the stack).

    An alias counts as many nodes as its anchor holds, so a few lines of nested aliases cannot make the
    file's data (or its line map) exponentially large."""
    depth, total = 0, 0
    sizes: dict[str, int] = {}
    open_: list[tuple[str | None, int]] = []
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in sizes:
                raise _shape_error(path, event, f"alias *{event.anchor} refers to an anchor that is not complete "
                                                f"here (undefined, or the alias is inside it)")
            total += sizes[event.anchor]
        elif isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            total += 1
            if isinstance(event, yaml.ScalarEvent):
                if event.anchor:
                    sizes[event.anchor] = 1
            else:
                depth += 1
                open_.append((event.anchor, total))
                if depth > MAX_DEPTH:
                    raise _shape_error(path, event, f"the file nests deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            anchor, start = open_.pop()
            if anchor:
                sizes[anchor] = total - start + 1
        if total > MAX_NODES:
            raise _shape_error(path, event, f"the file expands to more than {MAX_NODES:,} values (aliases included); "
                                            f"write the values out or reduce the aliases")


def _shape_error(path: str | Path, event: yaml.Event, message: str) -> InputFileError:
    return InputFileError(path, [(event.start_mark.line + 1, "", message)])


def _walk(node: yaml.Node, path: Path_, out: dict[Path_, int]) -> list[Problem]:
    """Map every key/index path to its 1-based line; return the keys that are not plain or are repeated."""
    out.setdefault(path, node.start_mark.line + 1)
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append((line, _dotted(path), "a key must be a plain name, not a list or a mapping"))
                continue
            key = key_node.value
            if key in seen and key != "<<":
                problems.append((line, _dotted(path + (key,)), f"key '{key}' is given twice (first on line "
                                                               f"{seen[key]}); keep one"))
            seen.setdefault(key, line)
            out[path + (key,)] = line
            problems += _walk(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            out[path + (index,)] = item.start_mark.line + 1
            problems += _walk(item, path + (index,), out)
    return problems


def _not_finite(data: Any, lines: dict[Path_, int], path: Path_ = ()) -> list[Problem]:
    """`.nan` and `.inf` are YAML floats but never a quantity: refuse them wherever they are."""
    if isinstance(data, float) and not math.isfinite(data):
        return [(*locate(lines, path), f"{data} (.nan or .inf in YAML) is not a finite number; give a value")]
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    return [problem for key, value in items for problem in _not_finite(value, lines, path + (key,))]


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    """A date the calendar lacks (2027-02-30) is a mistake in the file, reported at its line."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.value} is not a calendar date ({exc})", node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def locate(lines: dict[Path_, int], loc: Path_) -> tuple[int | None, str]:
    """Line and dotted field name of a pydantic error location.

    pydantic puts the tag of a tagged union into loc ("steps.3.measure_error.volume"), and the member of a
    plain union or "[key]" for a mapping's key at its end; such a part is not a key in the file and is
    skipped. Only the last part may be absent from the file: a missing field."""
    path: Path_ = ()
    for i, part in enumerate(loc):
        if path + (part,) in lines or (i == len(loc) - 1 and not _is_tag(part)):
            path = path + (part,)
    field = _dotted(path)
    for end_ in range(len(path), -1, -1):
        if path[:end_] in lines:
            return lines[path[:end_]], field
    return None, field


def _is_tag(part: Any) -> bool:
    """pydantic's name of a union member or of a mapping's key ("function-after[check(), float]", "[key]")."""
    return isinstance(part, str) and "[" in part


# pydantic's wording for a strict type error, and what a person writing YAML should do instead.
_STRICT_HINTS = {
    "float_type": "a number (yes/no and quoted text are not numbers)",
    "int_type": "a whole number (yes/no, quoted text and decimals are not)",
    "bool_type": "true or false",
    "string_type": "text: put it in quotes",
    "date_type": "a date, YYYY-MM-DD",
}


def validation_problems(exc: ValidationError, lines: dict[Path_, int]) -> list[Problem]:
    problems = []
    for err in exc.errors():
        line, field = locate(lines, tuple(err["loc"]))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "this field is required but missing"
        elif err["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        elif err["type"] in _STRICT_HINTS:
            message = f"{message}, not {_short(err['input'])}: give {_STRICT_HINTS[err['type']]}"
        problems.append((line, field, message))
    return problems


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_model(path: str | Path, model: type[M], *, data: Any = None, lines: dict[Path_, int] | None = None) -> M:
    """Read and validate a YAML file as `model`. Any problem raises InputFileError(file, line, field)."""
    if data is None:
        data, lines = read_yaml(path)
    return validate_data(path, model, as_mapping(path, data), lines or {})


def as_mapping(path: str | Path, data: Any) -> dict:
    """The data of a file that must hold fields (every input file does); else InputFileError."""
    if data is None:
        raise InputFileError(path, [(None, "", "the file is empty")])
    if not isinstance(data, dict):
        raise InputFileError(path, [(1, "", f"the file holds a {type(data).__name__}; it must be a mapping of "
                                            f"fields (name: value)")])
    return data


def validate_data(path: str | Path, model: type[M], data: Any, lines: dict[Path_, int]) -> M:
    """Validate data read from `path` strictly (as a file states it: no coercion); errors name line and field."""
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        raise InputFileError(path, validation_problems(exc, lines)) from None
