"""Driver base classes and declarative properties (PyMeasure's `Instrument.control` is the model).

A driver is one class per instrument family. It talks only through its transport (so everything lands in
the I/O log), declares its commands once as properties, refuses out-of-range values before sending, and
implements `safe_state()`. Message drivers derive from `MessageInstrument` or `ScpiInstrument`, Modbus
drivers from `ModbusInstrument`."""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from meterlab.instruments.errors import InstrumentError, InstrumentReplyError, InstrumentValueError
from meterlab.instruments.transport import (
    DEFAULT_TIMEOUT_S,
    MessageTransport,
    ModbusTransport,
    RegisterTable,
    Transport,
    WordOrder,
    float32_to_registers,
    registers_to_float32,
)
from meterlab.instruments.validators import Validator, strict_discrete_set


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Instrument(ABC):
    """One connected instrument. Subclasses set `transport_kind` through their base class."""

    transport_kind: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = NoOptions  # validated from the bench file's `options:`
    default_timeout_s: ClassVar[float] = DEFAULT_TIMEOUT_S
    terminals: ClassVar[str | None] = None  # regex of the terminal names `wiring:` may use; None = unchecked

    def __init__(
        self,
        name: str,
        transport: Transport,
        *,
        options: BaseModel | Mapping[str, Any] | None = None,
        wiring: Mapping[str, str] | None = None,
    ):
        if transport.kind != self.transport_kind:
            raise TypeError(f"{type(self).__name__} needs a {self.transport_kind} transport, got {transport.kind}")
        self.name = name
        self.transport = transport
        self.options = options if isinstance(options, self.Options) else self.Options.model_validate(options or {})
        self.wiring: dict[str, str] = dict(wiring or {})  # instrument terminal -> rig signal

    @abstractmethod
    def identify(self) -> str:
        """A one-line identity (maker, model, serial, firmware) as the instrument states it."""

    @abstractmethod
    def safe_state(self) -> None:
        """Put the instrument where the rig is safe (pump stopped, diverter to bypass, generator off...).

        Must be idempotent and must not depend on state the driver cached: abort calls it after failures."""

    def check_errors(self) -> None:
        """Raise InstrumentError if the instrument holds an error; drivers without an error register pass."""

    def instrument_error(self, command: str | None, message: str) -> InstrumentError:
        """An InstrumentError for this instrument, already recorded in the I/O log."""
        return self.transport.fail(InstrumentError(self.name, command, message))

    def reply_error(self, command: str | None, message: str) -> InstrumentReplyError:
        return self.transport.fail(InstrumentReplyError(self.name, command, message))

    def close(self) -> None:
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class MessageInstrument(Instrument):
    """Text commands and replies. The class declares its framing; a bench entry may override it."""

    transport_kind = "message"
    read_termination: ClassVar[str] = "\n"
    write_termination: ClassVar[str] = "\n"
    encoding: ClassVar[str] = "ascii"
    transport: MessageTransport

    def write(self, command: str) -> None:
        self.transport.write(command)

    def read(self, *, timeout_s: float | None = None) -> str:
        return self.transport.read(timeout_s=timeout_s)

    def ask(self, command: str, *, timeout_s: float | None = None) -> str:
        """Send a query and return the reply after `check_reply` (which raises on the instrument's errors)."""
        return self.check_reply(command, self.transport.query(command, timeout_s=timeout_s))

    def values(self, command: str, *, separator: str = ",", cast: Callable[[str], Any] = float) -> list[Any]:
        reply = self.ask(command)
        return [parse_value(self, command, part, cast) for part in reply.split(separator)]

    def check_reply(self, command: str, reply: str) -> str:
        """Hook: protocols that answer errors in-line (MT-SICS `ES`, ESPEC `NA:`) raise InstrumentError here."""
        return reply


SCPI_ERROR = re.compile(r'^\s*([+-]?\d+)\s*,\s*"?(.*?)"?\s*$')


class ScpiInstrument(MessageInstrument):
    """IEEE 488.2 / SCPI: `*IDN?`, `*RST`, `*CLS` and the `SYST:ERR?` queue."""

    error_query: ClassVar[str] = "SYST:ERR?"
    max_error_reads: ClassVar[int] = 32  # a SCPI queue holds a bounded number; never loop forever
    # True: a reply of 9.91E+37 (SCPI not-a-number: the instrument has no valid value) is an InstrumentError with
    # the error queue's entries, which say why; False leaves it to the caller (it is then a reply error)
    not_a_number_reads_errors: ClassVar[bool] = False

    def check_reply(self, command: str, reply: str) -> str:
        if self.not_a_number_reads_errors and "?" in command:
            try:
                invalid = abs(float(reply)) >= SCPI_NOT_A_NUMBER
            except ValueError:
                invalid = False
            if invalid:
                errors = self.read_error_queue()
                why = "; ".join(f'{code},"{message}"' for code, message in errors) or "no error queued"
                raise self.instrument_error(command, f"no valid value (9.91E+37): {why}")
        return reply

    def identify(self) -> str:
        return self.ask("*IDN?").strip()

    def reset(self) -> None:
        self.write("*RST")

    def clear_status(self) -> None:
        self.write("*CLS")

    def read_error_queue(self) -> list[tuple[int, str]]:
        """Drain the error queue: [(code, message), ...] without the final `0,"No error"`."""
        errors = []
        for _ in range(self.max_error_reads):
            reply = self.error_reply()
            match = SCPI_ERROR.match(reply)
            if not match:
                raise self.reply_error(self.error_query, f"not a SCPI error entry: {reply!r}")
            code, message = int(match.group(1)), match.group(2)
            if code == 0:
                return errors
            errors.append((code, message))
        return errors

    def error_reply(self) -> str:
        """One reply to the error query (a model that decorates its replies strips that here)."""
        return self.transport.query(self.error_query)

    def check_errors(self) -> None:
        command = self.transport.last_command
        errors = self.read_error_queue()
        if errors:
            raise self.instrument_error(command, "; ".join(f'{code},"{message}"' for code, message in errors))


class ModbusInstrument(Instrument):
    """Registers and bits over Modbus. Register numbers in the drivers are protocol addresses (0-based)."""

    transport_kind = "modbus"
    default_port: ClassVar[int] = 502
    transport: ModbusTransport


# --------------------------------------------------------------------------------------------------------
# Declarative properties
# --------------------------------------------------------------------------------------------------------


SCPI_NOT_A_NUMBER = 9.9e37  # SCPI-99 7.2.1: 9.91E+37 is "not a number", ±9.9E+37 infinity: no valid measurement


def parse_value(instrument: Instrument, command: str, text: str, cast: Callable[[str], Any]) -> Any:
    try:
        value = cast(text.strip())
    except (TypeError, ValueError):
        name = getattr(cast, "__name__", "the expected type")
        raise instrument.reply_error(command, f"cannot read {text!r} as {name}") from None
    if isinstance(value, float) and (not math.isfinite(value) or abs(value) >= SCPI_NOT_A_NUMBER):
        raise instrument.reply_error(command, f"{text.strip()!r} is not a measured value (SCPI not-a-number or "
                                              f"infinity: the instrument has no valid measurement)")
    return value


class _Declared:
    """Validation and value mapping shared by message and register properties."""

    def __init__(
        self,
        doc: str,
        *,
        validator: Validator | None = None,
        values: Any = (),
        map_values: bool = False,
        get_process: Callable[[Any], Any] | None = None,
        set_process: Callable[[Any], Any] | None = None,
    ):
        if map_values and not isinstance(values, Mapping):
            raise TypeError("map_values=True needs `values` to be a dict {user value: instrument value}")
        if map_values and validator is None:
            validator = strict_discrete_set  # a value outside the map must be refused, not a KeyError
        self.__doc__ = doc
        self.validator, self.values, self.map_values = validator, values, map_values
        self.get_process, self.set_process = get_process, set_process
        self.name = "<property>"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def to_instrument(self, obj: Instrument, value: Any) -> Any:
        """Validate (before anything is sent), map, process."""
        if self.validator is not None:
            try:
                value = self.validator(value, self.values)
            except ValueError as exc:
                raise InstrumentValueError(obj.name, self.name, value, str(exc)) from None
        if self.map_values:
            value = self.values[value]
        return self.set_process(value) if self.set_process else value

    def from_instrument(self, obj: Instrument, command: str, value: Any) -> Any:
        if self.map_values:
            value = self._reverse(obj, command, value)
        return self.get_process(value) if self.get_process else value

    def _reverse(self, obj: Instrument, command: str, raw: Any) -> Any:
        for user_value, instrument_value in self.values.items():
            if _matches(raw, instrument_value):
                return user_value
        raise obj.reply_error(command, f"{raw!r} is none of {list(self.values.values())!r}")


def _matches(raw: Any, expected: Any) -> bool:
    if isinstance(raw, str) and isinstance(expected, str):
        return raw.strip().upper() == expected.upper()
    if isinstance(raw, float | int) and isinstance(expected, float | int) and not isinstance(expected, bool):
        return math.isclose(raw, expected, rel_tol=1e-12, abs_tol=1e-12)
    return raw == expected


class Control(_Declared):
    """A property read with `get_cmd` and written with `set_cmd % value` on a MessageInstrument."""

    def __init__(
        self,
        get_cmd: str | None,
        set_cmd: str | None,
        doc: str,
        *,
        cast: Callable[[str], Any] = float,
        separator: str = ",",
        check_set_errors: bool = False,
        check_get_errors: bool = False,
        **declared: Any,
    ):
        super().__init__(doc, **declared)
        self.get_cmd, self.set_cmd = get_cmd, set_cmd
        self.cast, self.separator = cast, separator
        self.check_set_errors, self.check_get_errors = check_set_errors, check_get_errors

    def __get__(self, obj: MessageInstrument | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        if self.get_cmd is None:
            raise AttributeError(f"{obj.name}.{self.name} can only be set")
        reply = obj.ask(self.get_cmd)
        parts = [parse_value(obj, self.get_cmd, part, self.cast) for part in reply.split(self.separator)]
        value = parts[0] if len(parts) == 1 else parts
        if self.check_get_errors:
            obj.check_errors()
        return self.from_instrument(obj, self.get_cmd, value)

    def __set__(self, obj: MessageInstrument, value: Any) -> None:
        if self.set_cmd is None:
            raise AttributeError(f"{obj.name}.{self.name} can only be read")
        obj.write(self.set_cmd % (self.to_instrument(obj, value),))
        if self.check_set_errors:
            obj.check_errors()


def control(get_cmd: str | None, set_cmd: str | None, doc: str, **kwargs: Any) -> Any:
    """A read/write property: `gate_time_s = control("TOT:GATE:TIME?", "TOT:GATE:TIME %g", "...",
    validator=strict_range, values=(1e-6, 1000))`."""
    return Control(get_cmd, set_cmd, doc, **kwargs)


def measurement(get_cmd: str, doc: str, **kwargs: Any) -> Any:
    """A read-only property."""
    return Control(get_cmd, None, doc, **kwargs)


def setting(set_cmd: str, doc: str, **kwargs: Any) -> Any:
    """A write-only property."""
    return Control(None, set_cmd, doc, **kwargs)


REGISTER_TYPES = {"uint16": 1, "int16": 1, "uint32": 2, "float32": 2}


class RegisterControl(_Declared):
    """A property stored in Modbus registers of a ModbusInstrument."""

    def __init__(
        self,
        address: int,
        doc: str,
        *,
        table: RegisterTable = RegisterTable.HOLDING,
        data_type: str = "uint16",
        word_order: WordOrder | None = None,
        readonly: bool = False,
        **declared: Any,
    ):
        super().__init__(doc, **declared)
        if data_type not in REGISTER_TYPES:
            raise TypeError(f"data_type must be one of {list(REGISTER_TYPES)}")
        if REGISTER_TYPES[data_type] == 2 and word_order is None:
            raise TypeError(f"{data_type} spans two registers: state word_order explicitly")
        if table == RegisterTable.INPUT and not readonly:
            raise TypeError("input registers are read-only: set readonly=True")
        self.address, self.table, self.data_type = address, RegisterTable(table), data_type
        self.word_order, self.readonly = word_order, readonly

    def _command(self) -> str:
        return f"{self.table.value} register {self.address} ({self.name})"

    def __get__(self, obj: ModbusInstrument | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        registers = obj.transport.read_registers(self.table, self.address, REGISTER_TYPES[self.data_type])
        return self.from_instrument(obj, self._command(), self._decode(registers))

    def __set__(self, obj: ModbusInstrument, value: Any) -> None:
        if self.readonly:
            raise AttributeError(f"{obj.name}.{self.name} can only be read")
        raw = self.to_instrument(obj, value)
        registers = self._encode(obj, raw)
        if len(registers) == 1:
            obj.transport.write_register(self.address, registers[0])
        else:
            obj.transport.write_registers(self.address, registers)

    def _decode(self, registers: list[int]) -> Any:
        if self.data_type == "uint16":
            return registers[0]
        if self.data_type == "int16":
            return registers[0] - 0x10000 if registers[0] & 0x8000 else registers[0]
        if self.data_type == "float32":
            return registers_to_float32(registers, self.word_order)  # type: ignore[arg-type]
        high, low = registers if self.word_order == WordOrder.BIG else registers[::-1]
        return high << 16 | low

    def _encode(self, obj: Instrument, raw: Any) -> list[int]:
        if self.data_type == "float32":
            return float32_to_registers(raw, self.word_order)  # type: ignore[arg-type]
        limits = {"uint16": (0, 0xFFFF), "int16": (-0x8000, 0x7FFF), "uint32": (0, 0xFFFFFFFF)}[self.data_type]
        if not isinstance(raw, int) or not limits[0] <= raw <= limits[1]:
            raise InstrumentValueError(obj.name, self.name, raw, f"{self.data_type} needs an integer in {limits}")
        if self.data_type == "int16":
            return [raw & 0xFFFF]
        if self.data_type == "uint16":
            return [raw]
        words = [raw >> 16, raw & 0xFFFF]
        return words if self.word_order == WordOrder.BIG else words[::-1]


def register_control(address: int, doc: str, **kwargs: Any) -> Any:
    """A read/write Modbus register property, e.g. `speed_setpoint_pct = register_control(0x64, "...",
    validator=strict_range, values=(0, 100), set_process=pct_to_raw, get_process=raw_to_pct)`."""
    return RegisterControl(address, doc, **kwargs)


def register_measurement(address: int, doc: str, **kwargs: Any) -> Any:
    """A read-only Modbus register property."""
    return RegisterControl(address, doc, readonly=True, **kwargs)
