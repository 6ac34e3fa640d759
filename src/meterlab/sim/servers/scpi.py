"""SCPI for simulated instruments: mnemonic matching, `;` compound commands, the error queue.

Patterns are written as in manuals: `[SENSe:]TOTalize:GATE:TIME?`. Upper-case letters are the short
form; a node matches its short or its long form, in any case; `[...]` nodes are optional; a node ending
in `#` takes an optional numeric suffix (`INPut#` matches INP, INP2, INPUT1)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from meterlab.sim.devices.base import LineDevice


class ScpiError(Exception):
    """A SCPI error to put in the queue: code and message as the standard error list spells them."""

    def __init__(self, code: int, message: str):
        super().__init__(f'{code},"{message}"')
        self.code, self.message = code, message


UNDEFINED_HEADER = (-113, "Undefined header")
DATA_OUT_OF_RANGE = (-222, "Data out of range")
ILLEGAL_PARAMETER = (-224, "Illegal parameter value")
MISSING_PARAMETER = (-109, "Missing parameter")
PARAMETER_NOT_ALLOWED = (-108, "Parameter not allowed")
DATA_TYPE_ERROR = (-104, "Data type error")


class ErrorQueue:
    """The instrument's error queue: first in, first out; an overflow replaces the newest entry."""

    def __init__(self, size: int = 20):
        self.size = size
        self.entries: list[tuple[int, str]] = []

    def push(self, code: int, message: str) -> None:
        if len(self.entries) >= self.size:
            self.entries[-1] = (-350, "Queue overflow")
        else:
            self.entries.append((code, message))

    def pop(self) -> str:
        code, message = self.entries.pop(0) if self.entries else (0, "No error")
        return f'{code:+d},"{message}"'

    def clear(self) -> None:
        self.entries.clear()


@dataclass
class _Node:
    long: str
    short: str
    optional: bool
    numeric: bool


@dataclass
class ScpiCall:
    header: str  # as received
    args: list[str]  # split at top-level commas, stripped
    suffixes: list[int] = field(default_factory=list)  # numeric suffixes of `#` nodes, in order


Handler = Callable[[ScpiCall], str | None]


def _compile(pattern: str) -> tuple[bool, list[_Node]]:
    query = pattern.endswith("?")
    nodes = []
    for part in re.findall(r"\[:?[^\]]+\]|[^:\[\]]+", pattern.rstrip("?").lstrip(":")):
        optional = part.startswith("[")
        text = part.strip("[]:")
        numeric = text.endswith("#")
        text = text.rstrip("#")
        short = "".join(c for c in text if c.isupper() or c.isdigit() or c == "*") or text.upper()
        nodes.append(_Node(text.upper(), short.upper(), optional, numeric))
    return query, nodes


def _match(nodes: list[_Node], tokens: list[str]) -> list[int] | None:
    """The numeric suffixes if `tokens` match `nodes`, else None."""
    if not nodes:
        return None if tokens else []
    node, rest = nodes[0], nodes[1:]
    if tokens:
        token, number = tokens[0].upper(), 1
        digits = re.search(r"\d+$", token) if node.numeric else None
        if digits:
            token, number = token[: digits.start()], int(digits.group())
        if token in (node.long, node.short):
            tail = _match(rest, tokens[1:])
            if tail is not None:
                return ([number] if node.numeric else []) + tail
    if node.optional:
        tail = _match(rest, tokens)
        if tail is not None:
            return ([1] if node.numeric else []) + tail
    return None


def split_top_level(text: str, separator: str) -> list[str]:
    """Split at `separator` outside quotes and parentheses (channel lists like (@101,102))."""
    parts, depth, quote, current = [], 0, "", []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def parse_channels(text: str) -> list[int]:
    """`(@101,103:105)` -> [101, 103, 104, 105]."""
    match = re.fullmatch(r"\(\s*@([\d\s,:]+)\)", text.strip())
    if not match:
        raise ScpiError(*ILLEGAL_PARAMETER)
    channels = []
    for item in match.group(1).split(","):
        low, _, high = item.strip().partition(":")
        channels.extend(range(int(low), int(high or low) + 1))
    return channels


class ScpiCommandSet:
    def __init__(self) -> None:
        self._commands: list[tuple[bool, list[_Node], Handler]] = []

    def add(self, pattern: str, handler: Handler) -> None:
        query, nodes = _compile(pattern)
        self._commands.append((query, nodes, handler))

    def find(self, tokens: list[str], query: bool) -> tuple[Handler, list[int]] | None:
        for is_query, nodes, handler in self._commands:
            if is_query == query:
                suffixes = _match(nodes, tokens)
                if suffixes is not None:
                    return handler, suffixes
        return None

    def execute(self, line: str) -> tuple[list[str], ScpiError | None]:
        """Run the commands of a `;` compound line in order; return the query replies and the error that
        stopped it, if any (the commands before it have run)."""
        replies: list[str] = []
        path: list[str] = []  # nodes of the previous header without its leaf, for relative headers
        for command in (c.strip() for c in split_top_level(line, ";")):
            if not command:
                continue
            header, _, arg_text = command.partition(" ")
            args = [a.strip() for a in split_top_level(arg_text, ",")] if arg_text.strip() else []
            query, own = header.endswith("?"), [t for t in header.rstrip("?").lstrip(":").split(":") if t]
            candidates = [path + own] if path and not header.startswith((":", "*")) else []
            found = None
            for tokens in [*candidates, own]:
                found = self.find(tokens, query)
                if found:
                    break
            if found is None:
                return replies, ScpiError(*UNDEFINED_HEADER)
            if not header.startswith("*"):
                path = tokens[:-1]
            handler, suffixes = found
            try:
                reply = handler(ScpiCall(header, args, suffixes))
            except ScpiError as error:
                return replies, error
            if reply is not None:
                replies.append(reply)
        return replies, None


class ScpiDevice(LineDevice):
    """A SCPI instrument: LF-terminated (CR tolerated), IEEE 488.2 common commands, an error queue.

    Subclasses register their commands in `__init__` with `self.scpi.add(pattern, handler)`. A handler
    raises ScpiError for a bad parameter (the value then stays unchanged)."""

    identity: str = "meterlab,SIMULATED,0,1.0"
    invalid_reply: str = "+9.91000000000000E+037"  # what a query returns while the instrument is in error
    fault_error: tuple[int, str] = (-241, "Hardware missing")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.errors = ErrorQueue()
        self.scpi = ScpiCommandSet()
        self.scpi.add("*IDN?", lambda call: self.identity)
        self.scpi.add("*RST", lambda call: self.reset())
        self.scpi.add("*CLS", lambda call: self.errors.clear())
        self.scpi.add("*OPC?", lambda call: "1")
        self.scpi.add("SYSTem:ERRor[:NEXT]?", self._pop_error)

    def _pop_error(self, call: ScpiCall) -> str:
        return self.errors.pop()

    def reset(self) -> None:
        """*RST: back to the power-on settings (override and call super)."""

    def handle(self, text: str) -> str | None:
        replies, error = self.scpi.execute(text)
        if error is not None:
            self.errors.push(error.code, error.message)
        return ";".join(replies) if replies else None

    def error_reply(self, text: str, message: str | None) -> str | None:
        header = text.partition(" ")[0]
        found = self.scpi.find([t for t in header.rstrip("?").lstrip(":").split(":") if t], header.endswith("?"))
        if found and found[0] == self._pop_error:
            return self.errors.pop()  # the queue still answers, so the driver can read why
        code, default = self.fault_error
        match = re.fullmatch(r'\s*([+-]?\d+)\s*,\s*"?(.*?)"?\s*', message or "")
        if match:
            self.errors.push(int(match.group(1)), match.group(2))
        else:
            self.errors.push(code, message or default)
        return self.invalid_reply if "?" in text else None


def number(call: ScpiCall, index: int = 0, *, minimum: float | None = None, maximum: float | None = None,
           keywords: dict[str, float] | None = None) -> float:
    """Parse argument `index` as a number (or a keyword like MIN/MAX/INF); out of range -> -222."""
    if index >= len(call.args):
        raise ScpiError(*MISSING_PARAMETER)
    text = call.args[index].strip().upper()
    for key, value in (keywords or {}).items():
        if text in (key.upper(), key[:3].upper()):
            return value
    try:
        value = float(text)
    except ValueError:
        raise ScpiError(*DATA_TYPE_ERROR) from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ScpiError(*DATA_OUT_OF_RANGE)
    return value


def choice(call: ScpiCall, options: dict[str, str], index: int = 0) -> str:
    """Parse argument `index` as one of the mnemonic keywords in `options` {pattern: value}."""
    if index >= len(call.args):
        raise ScpiError(*MISSING_PARAMETER)
    text = call.args[index].strip().upper()
    for pattern, value in options.items():
        _, nodes = _compile(pattern)
        if text in (nodes[0].long, nodes[0].short):
            return value
    raise ScpiError(*ILLEGAL_PARAMETER)


def scpi_float(value: float) -> str:
    """Keysight's reply format: `+1.21510000000000E+004` (15 significant digits, 3-digit exponent)."""
    mantissa, exponent = f"{value:+.14E}".split("E")
    return f"{mantissa}E{int(exponent):+04d}"
