"""The one I/O layer under every driver: VISA resources through pyvisa-py, Modbus through pymodbus.

Every byte that goes out or comes in is recorded in the I/O log; every failure becomes an
`InstrumentFailure` subclass naming the instrument and the command; every wait has a bound."""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

import pyvisa as _pyvisa

from meterlab.instruments import wire
from meterlab.instruments.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentFailure,
    InstrumentReplyError,
    InstrumentTimeout,
)
from meterlab.instruments.iolog import ChannelLog, IOLogSink

# pymodbus logs each timeout and retry; our exceptions say it all, so keep its log quiet unless configured
logging.getLogger("pymodbus").addHandler(logging.NullHandler())

DEFAULT_TIMEOUT_S = 5.0
LOCK_RETRY_SIM_S = 0.001  # a driver shared by two threads, on a virtual clock: how often the second asks again
SILENCE_SLICE_S = 0.01  # how often a wait for a simulated instrument's reply asks whether it will come at all
READ_SLICE_S = 0.25  # pyvisa-py notices a closed socket only at its timeout: read in slices, look in between
MAX_TIMEOUT_S = 3600.0  # a gated totalize can legitimately last long; nothing waits longer than this
E = TypeVar("E", bound=InstrumentFailure)


class Transport(ABC):
    """Moves bytes to and from one instrument and records them."""

    kind: ClassVar[str]

    def __init__(self, name: str, iolog: IOLogSink, *, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.name = name
        self.log = ChannelLog(name, iolog)
        self.timeout_s = check_timeout(name, timeout_s)

    def fail(self, exc: E) -> E:
        """Record a failure in the I/O log and hand the exception back for raising."""
        self.log.error(str(exc))
        return exc

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def check_timeout(name: str, timeout_s: float) -> float:
    if not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise ValueError(f"{name}: timeout_s = {timeout_s!r} must be > 0 and <= {MAX_TIMEOUT_S:g} s")
    return float(timeout_s)


# --------------------------------------------------------------------------------------------------------
# Message-based instruments (SCPI, MT-SICS, ESPEC, M-Bus frames)
# --------------------------------------------------------------------------------------------------------


class MessageTransport(Transport):
    """Text commands with explicit terminations, plus raw bytes for binary framings.

    Subclasses only move bytes (`_send`, `_receive_until`, `_receive_exact`); framing, encoding and logging
    live here, so a scripted transport in tests goes through exactly the same path as a real one."""

    kind = "message"

    def __init__(
        self,
        name: str,
        iolog: IOLogSink,
        *,
        read_termination: str,
        write_termination: str,
        encoding: str = "ascii",
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ):
        super().__init__(name, iolog, timeout_s=timeout_s)
        if read_termination is None or write_termination is None:
            # pyvisa-py sockets default to read_termination=None: query() then blocks until timeout
            raise ValueError(f"{name}: read and write terminations must both be set explicitly")
        self.read_termination, self.write_termination = read_termination, write_termination
        self.encoding = encoding
        self._read_term = read_termination.encode(encoding)
        self.last_command: str | None = None
        self.lock = threading.RLock()  # a query is one exchange, even if two threads share the driver

    # -- text ---------------------------------------------------------------------------------------------
    def write(self, command: str) -> None:
        self._take_lock()  # not between another thread's query and its reply
        try:
            self.last_command = command
            self._send_logged((command + self.write_termination).encode(self.encoding), command)
        finally:
            self.lock.release()

    def read(self, *, timeout_s: float | None = None) -> str:
        command = self.last_command
        if not self._read_term:
            raise ValueError(f"{self.name}: read() needs a read termination; use read_bytes() for binary framing")
        data = self._receive_until(self._read_term, self._timeout(timeout_s), command)
        self.log.read(data)
        try:
            return data[: len(data) - len(self._read_term)].decode(self.encoding)
        except UnicodeDecodeError:
            raise self.fail(InstrumentReplyError(self.name, command, f"reply is not {self.encoding} text: {data!r}")) from None

    def query(self, command: str, *, timeout_s: float | None = None) -> str:
        self._take_lock()
        try:
            self.write(command)
            return self.read(timeout_s=timeout_s)
        finally:
            self.lock.release()

    def _take_lock(self) -> None:
        """One exchange at a time (the caller releases `lock`; plain calls, not a context manager: this is on
        every command's path). A thread that waits for another's (a disturbance's sequence and the run, polling
        one generator) waits on the instrument; on a virtual clock it asks again every LOCK_RETRY_SIM_S simulated
        (the other's reply may take simulated time, and which of the two goes first is then the clock's order,
        not the host's)."""
        if self.lock.acquire(blocking=False):
            return
        sleep = wire.clock_sleep(getattr(self, "_wire_key", None))
        if sleep is None:
            self.lock.acquire()
            return
        while not self.lock.acquire(blocking=False):  # at simulated instants: who gets it is the clock's order's doing
            sleep(LOCK_RETRY_SIM_S)

    # -- bytes --------------------------------------------------------------------------------------------
    def write_raw(self, data: bytes, *, command: str | None = None) -> None:
        self._take_lock()
        try:
            self.last_command = command if command is not None else data.hex(" ")
            self._send_logged(data, self.last_command)
        finally:
            self.lock.release()

    def read_bytes(self, count: int, *, timeout_s: float | None = None) -> bytes:
        data = self._receive_exact(count, self._timeout(timeout_s), self.last_command)
        self.log.read(data)
        return data

    # -- for subclasses -----------------------------------------------------------------------------------
    def _timeout(self, timeout_s: float | None) -> float:
        return self.timeout_s if timeout_s is None else check_timeout(self.name, timeout_s)

    def _send_logged(self, data: bytes, command: str) -> None:
        self.log.write(data)
        self._send(data, command)

    @abstractmethod
    def _send(self, data: bytes, command: str) -> None: ...

    @abstractmethod
    def _receive_until(self, termination: bytes, timeout_s: float, command: str | None) -> bytes:
        """Bytes up to and including `termination`; raise InstrumentTimeout after `timeout_s`."""

    @abstractmethod
    def _receive_exact(self, count: int, timeout_s: float, command: str | None) -> bytes: ...


_rm_lock = threading.Lock()
_resource_manager: Any = None


def visa_resource_manager() -> Any:
    """The process-wide pyvisa-py resource manager (creating one is slow; sessions are independent)."""
    global _resource_manager
    with _rm_lock:
        if _resource_manager is None:
            _resource_manager = _pyvisa.ResourceManager("@py")
            # VisaTransport reads in slices and judges a reply complete by its termination itself: a read that
            # filled its buffer or found no END is no news to it, and pyvisa would otherwise warn on each
            _resource_manager.visalib.issue_warning_on -= {_pyvisa.constants.StatusCode.success_max_count_read,
                                                           _pyvisa.constants.StatusCode.success_device_not_present}
        return _resource_manager


class VisaTransport(MessageTransport):
    """Any VISA resource through pyvisa-py: TCPIP SOCKET and INSTR, ASRL, USB, GPIB."""

    def __init__(
        self,
        name: str,
        resource: str,
        iolog: IOLogSink,
        *,
        read_termination: str,
        write_termination: str,
        encoding: str = "ascii",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        open_timeout_s: float = 5.0,
        serial: dict[str, Any] | None = None,
    ):
        super().__init__(
            name, iolog, read_termination=read_termination, write_termination=write_termination,
            encoding=encoding, timeout_s=timeout_s,
        )
        self.resource_name = resource
        self.open_timeout_s = check_timeout(name, open_timeout_s)
        self.serial = dict(serial or {})  # baud_rate, data_bits, parity, stop_bits for ASRL resources
        self._resource: Any = None
        self._sock: socket.socket | None = None  # a TCPIP SOCKET session's socket (None for other resources)
        self._visa_timeout_ms: int | None = None
        self._wire_key: wire.Key | None = None  # counted for the virtual clock if the peer is simulated here
        self.open()

    def open(self) -> None:
        try:
            resource = visa_resource_manager().open_resource(
                self.resource_name, open_timeout=round(self.open_timeout_s * 1000)
            )
        except (ValueError, OSError, ImportError, _pyvisa.errors.Error) as exc:
            raise self.fail(InstrumentConnectionError(self.name, None, f"cannot open {self.resource_name}: {exc}"))
        # Both terminations explicitly: the pyvisa-py SOCKET defaults (None, CRLF) make query() hang.
        resource.read_termination = self.read_termination or None
        resource.write_termination = self.write_termination
        for key, value in self.serial.items():
            setattr(resource, key, value)
        self._resource = resource
        self._sock = self._socket()
        refused = self._socket_error()
        if refused:
            self.close()
            raise self.fail(InstrumentConnectionError(self.name, None, f"cannot open {self.resource_name}: {refused}"))
        sock = self._sock
        if sock is not None:
            # A command followed by a query would otherwise wait ~40 ms for Nagle and delayed ACKs.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._wire_key = wire.connection(sock.getpeername()[:2], sock.getsockname()[:2])
        self._set_timeout(self.timeout_s)

    def reconnect(self) -> None:
        """Close and reopen (after a lost connection). Raises InstrumentConnectionError if that fails."""
        self.close()
        self.open()

    def close(self) -> None:
        resource, self._resource, self._sock = self._resource, None, None
        wire.forget(self._wire_key)
        self._wire_key = None
        if resource is not None:
            try:
                resource.close()
            except Exception:  # noqa: BLE001 - closing a broken session must not mask the original error
                pass

    @property
    def resource(self) -> Any:
        if self._resource is None:
            raise self.fail(InstrumentConnectionError(self.name, self.last_command, "the connection is closed"))
        return self._resource

    def _set_timeout(self, timeout_s: float) -> None:
        timeout_ms = max(1, round(timeout_s * 1000))
        if timeout_ms != self._visa_timeout_ms:
            self.resource.timeout = timeout_ms
            self._visa_timeout_ms = timeout_ms

    def _send(self, data: bytes, command: str) -> None:
        resource = self.resource
        sock = self._sock
        wire.driver_sent(self._wire_key, len(data))
        try:
            if sock is None:
                resource.visalib.write(resource.session, data)  # what write_raw does, one call less per command
                return
            # A SOCKET session's write is pyvisa-py's select, then a blocking send, with no timeout: done here with
            # a send that takes what fits and never blocks, and a bounded wait only when the socket had no room for
            # all of it (a command fits at once: one system call per write, not two); the reply is still read
            # through pyvisa-py
            view = memoryview(data)
            while True:
                try:
                    view = view[sock.send(view, socket.MSG_DONTWAIT):]
                except BlockingIOError:  # no room at all
                    pass
                if not view:
                    return
                self._wait_writable(command)
        except (_pyvisa.errors.Error, OSError) as exc:
            raise self._failure(exc, command, self.timeout_s) from exc

    def _receive_until(self, termination: bytes, timeout_s: float, command: str | None) -> bytes:
        deadline = time.monotonic() + timeout_s
        self._set_timeout(min(timeout_s, READ_SLICE_S))
        data = self._read_slice(command)
        while not data.endswith(termination):  # the usual reply ends in the first slice
            if not data:
                self._check_peer(command)  # nothing within a slice: is the instrument still there?
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                partial = f"partial reply {data!r}" if data else ""
                raise self.fail(InstrumentTimeout(self.name, command, timeout_s, partial))
            self._set_timeout(min(remaining, READ_SLICE_S))
            data += self._read_slice(command)
        # a simulated instrument's reply came at a simulated instant (after its latency): go on in the clock's turn
        # then, not at once beside another actor that ran while this one waited
        if self._wire_key is not None:
            wire.wait_turn(self._wire_key)
        return data

    def _read_slice(self, command: str | None) -> bytes:
        """One read_raw: up to the termination character, what came before a pause, or b"" at the
        slice's timeout (pyvisa-py times out only with nothing received, so nothing is lost)."""
        resource = self.resource
        try:
            # the library's read, not read_raw: read_raw loops to the END (which _receive_until does) and sets up
            # a warnings filter per call, a third of a query's cost in the driver
            if self._wire_key is None:  # a real instrument, or a lab in another process: nothing to count
                return bytes(resource.visalib.read(resource.session, resource.chunk_size)[0])
            with wire.reading(self._wire_key):
                data = bytes(resource.visalib.read(resource.session, resource.chunk_size)[0])
            wire.driver_received(self._wire_key, len(data))
            return data
        except (_pyvisa.errors.Error, OSError) as exc:
            if isinstance(exc, _pyvisa.VisaIOError) and exc.error_code == _pyvisa.constants.StatusCode.error_timeout:
                return b""
            raise self._failure(exc, command, self.timeout_s) from exc

    def _receive_exact(self, count: int, timeout_s: float, command: str | None) -> bytes:
        self._check_peer(command)
        self._set_timeout(timeout_s)
        try:
            with wire.reading(self._wire_key):
                self._await_reply(timeout_s, command)
                data = bytes(self.resource.read_bytes(count))
            wire.driver_received(self._wire_key, len(data))
            return data
        except (_pyvisa.errors.Error, OSError) as exc:
            raise self._failure(exc, command, timeout_s) from exc

    def _await_reply(self, timeout_s: float, command: str | None) -> None:
        """Inside `wire.give_up_silence` (a simulated instrument, polled with the clock held): wait for the reply's
        first byte in short slices and end with the timeout as soon as the server says it will not answer.
        Otherwise (or once a byte is there) the read itself waits, as for any instrument."""
        sock = self._sock
        if sock is None or not wire.silent_aware(self._wire_key) or self._buffered():
            return
        deadline = time.monotonic() + timeout_s
        while not select.select([sock], [], [], SILENCE_SLICE_S)[0]:
            if wire.silent(self._wire_key):
                raise self.fail(InstrumentTimeout(self.name, command, timeout_s))
            if time.monotonic() >= deadline:
                return  # the read times out as it always did

    def _buffered(self) -> bool:
        """pyvisa-py already holds bytes of a reply (read from the socket, not yet returned)."""
        try:
            return bool(self._resource.visalib.sessions[self._resource.session]._pending_buffer)
        except (AttributeError, KeyError, TypeError):
            return False

    def _failure(self, exc: Exception, command: str | None, timeout_s: float) -> InstrumentFailure:
        """Our exception for a pyvisa or socket failure, recorded in the I/O log."""
        if isinstance(exc, _pyvisa.VisaIOError) and exc.error_code == _pyvisa.constants.StatusCode.error_timeout:
            if self._peer_closed():
                return self.fail(InstrumentConnectionError(self.name, command, "the instrument closed the connection"))
            return self.fail(InstrumentTimeout(self.name, command, timeout_s))
        if isinstance(exc, OSError):  # pyvisa-py lets socket errors through (reset, broken pipe)
            return self.fail(InstrumentConnectionError(self.name, command, f"connection lost: {exc}"))
        description = getattr(exc, "description", None) or str(exc)
        return self.fail(InstrumentConnectionError(self.name, command, f"VISA error: {description}"))

    def _socket(self) -> socket.socket | None:
        """The socket of a TCPIP SOCKET session (pyvisa-py internals; None for other resources)."""
        try:
            sock = self._resource.visalib.sessions[self._resource.session].interface
        except (AttributeError, KeyError, TypeError):
            return None
        return sock if isinstance(sock, socket.socket) else None

    def _socket_error(self) -> str | None:
        """pyvisa-py's socket open reports success even when the connection was refused: ask the socket."""
        sock = self._sock
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if sock is not None else 0
        return os.strerror(code) if code else None

    def _wait_writable(self, command: str) -> None:
        """pyvisa-py waits for a socket to take data without a timeout: bound that wait here."""
        sock = self._sock
        if sock is not None and not select.select([], [sock], [], self.timeout_s)[1]:
            raise self.fail(InstrumentTimeout(self.name, command, self.timeout_s, "the instrument does not take data"))

    def _check_peer(self, command: str | None) -> None:
        if self._peer_closed():
            raise self.fail(InstrumentConnectionError(self.name, command, "the instrument closed the connection"))

    def _peer_closed(self) -> bool:
        """True if a TCPIP SOCKET session's peer has closed (pyvisa-py reports that only as a timeout)."""
        sock = self._sock
        if sock is None:
            return False
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True


# --------------------------------------------------------------------------------------------------------
# Modbus (TCP and RTU)
# --------------------------------------------------------------------------------------------------------


class WordOrder(StrEnum):
    """Order of the two 16-bit registers of a 32-bit value. Vendors differ (E+H big, Binder swapped)."""

    BIG = "big"  # high word first
    SWAPPED = "word_swapped"  # low word first


class RegisterTable(StrEnum):
    HOLDING = "holding"
    INPUT = "input"


class ModbusTransport(Transport):
    """A pymodbus sync client. Exception responses become InstrumentError; no retries unless asked."""

    kind = "modbus"

    def __init__(
        self,
        name: str,
        iolog: IOLogSink,
        *,
        host: str | None = None,
        port: int = 502,
        serial_port: str | None = None,
        baudrate: int = 19200,
        parity: str = "E",
        stopbits: int = 1,
        bytesize: int = 8,
        unit: int = 1,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = 0,
    ):
        super().__init__(name, iolog, timeout_s=timeout_s)
        if (host is None) == (serial_port is None):
            raise ValueError(f"{name}: give exactly one of host (Modbus TCP) or serial_port (Modbus RTU)")
        self.unit = unit
        self.endpoint = f"{host}:{port}" if host else f"{serial_port} @ {baudrate} baud"
        self.is_tcp = host is not None
        self._received = b""  # what came back for the request under way (the framer's buffer, as traced)
        self._lock = threading.Lock()  # one request at a time on this connection
        self._client = self._make_client(host, port, serial_port, baudrate, parity, stopbits, bytesize, retries)
        self.open()

    def _make_client(self, host, port, serial_port, baudrate, parity, stopbits, bytesize, retries) -> Any:
        from pymodbus.client import ModbusSerialClient, ModbusTcpClient

        common = dict(timeout=self.timeout_s, retries=retries, trace_packet=self._trace)
        if host is not None:
            return ModbusTcpClient(host, port=port, reconnect_delay=0, **common)
        try:
            return ModbusSerialClient(
                serial_port, baudrate=baudrate, parity=parity, stopbits=stopbits, bytesize=bytesize,
                reconnect_delay=0, **common,
            )
        except (ImportError, RuntimeError) as exc:  # pymodbus needs pyserial for RTU
            raise self.fail(InstrumentConnectionError(self.name, None, f"Modbus RTU unavailable: {exc}"))

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if data:
            (self.log.write if sending else self.log.read)(data)
            if not sending:
                self._received = bytes(data)  # pymodbus hands its whole receive buffer: the reply so far
        return data

    def open(self) -> None:
        try:
            ok = self._client.connect()
        except Exception as exc:  # noqa: BLE001 - pymodbus raises assorted types here (serial import, OS)
            raise self.fail(InstrumentConnectionError(self.name, None, f"cannot connect to {self.endpoint}: {exc}"))
        if not ok:
            raise self.fail(InstrumentConnectionError(self.name, None, f"cannot connect to {self.endpoint}"))

    def reconnect(self) -> None:
        self.close()
        self.open()

    def close(self) -> None:
        self._client.close()

    # -- registers ----------------------------------------------------------------------------------------
    def read_holding_registers(self, address: int, count: int = 1) -> list[int]:
        response = self._execute(f"read holding {address}+{count}", self._client.read_holding_registers,
                                 address, count=count, expect=Expected(FC_READ_HOLDING, registers=count))
        return list(response.registers)

    def read_input_registers(self, address: int, count: int = 1) -> list[int]:
        response = self._execute(f"read input {address}+{count}", self._client.read_input_registers,
                                 address, count=count, expect=Expected(FC_READ_INPUT, registers=count))
        return list(response.registers)

    def read_registers(self, table: RegisterTable, address: int, count: int = 1) -> list[int]:
        if RegisterTable(table) is RegisterTable.INPUT:
            return self.read_input_registers(address, count)
        return self.read_holding_registers(address, count)

    def write_register(self, address: int, value: int) -> None:
        self._execute(f"write holding {address} = {value:#06x}", self._client.write_register, address, value,
                      expect=Expected(FC_WRITE_REGISTER))

    def write_registers(self, address: int, values: list[int]) -> None:
        text = ", ".join(f"{v:#06x}" for v in values)
        self._execute(f"write holding {address} = [{text}]", self._client.write_registers, address, values,
                      expect=Expected(FC_WRITE_REGISTERS))

    # -- bits ---------------------------------------------------------------------------------------------
    def read_coils(self, address: int, count: int = 1) -> list[bool]:
        response = self._execute(f"read coils {address}+{count}", self._client.read_coils, address, count=count,
                                 expect=Expected(FC_READ_COILS, bits=count))
        return [bool(b) for b in response.bits[:count]]

    def read_discrete_inputs(self, address: int, count: int = 1) -> list[bool]:
        response = self._execute(f"read discrete inputs {address}+{count}", self._client.read_discrete_inputs,
                                 address, count=count, expect=Expected(FC_READ_DISCRETE, bits=count))
        return [bool(b) for b in response.bits[:count]]

    def write_coil(self, address: int, value: bool) -> None:
        self._execute(f"write coil {address} = {int(value)}", self._client.write_coil, address, bool(value),
                      expect=Expected(FC_WRITE_COIL))

    def write_coils(self, address: int, values: list[bool]) -> None:
        text = "".join(str(int(v)) for v in values)
        self._execute(f"write coils {address} = {text}", self._client.write_coils, address, [bool(v) for v in values],
                      expect=Expected(FC_WRITE_COILS))

    # -- 32-bit floats ------------------------------------------------------------------------------------
    def read_float32(self, address: int, *, word_order: WordOrder, table: RegisterTable = RegisterTable.HOLDING) -> float:
        return registers_to_float32(self.read_registers(table, address, 2), word_order)

    def write_float32(self, address: int, value: float, *, word_order: WordOrder) -> None:
        self.write_registers(address, float32_to_registers(value, word_order))

    # -- one request --------------------------------------------------------------------------------------
    def _execute(self, command: str, call: Callable[..., Any], *args: Any, expect: Expected, **kwargs: Any) -> Any:
        from pymodbus.exceptions import ConnectionException, ModbusIOException

        command = f"{command} (unit {self.unit})"
        with self._lock:
            self._received = b""
            try:
                response = call(*args, device_id=self.unit, **kwargs)
            except ConnectionException as exc:
                raise self.fail(InstrumentConnectionError(self.name, command, f"{self.endpoint}: {exc}"))
            except OSError as exc:  # pymodbus lets a reset connection through
                self._client.close()
                raise self.fail(InstrumentConnectionError(self.name, command, f"{self.endpoint}: {exc}"))
            except ModbusIOException as exc:
                if not self._client.connected:
                    raise self.fail(InstrumentConnectionError(self.name, command, f"{self.endpoint}: connection lost"))
                reply = self._reply_frame(exc.transaction_id) if self.is_tcp else self._received
                if reply:  # this request's reply came back, but pymodbus could not make a response of it
                    raise self.fail(InstrumentReplyError(
                        self.name, command, f"reply {reply.hex(' ')} cannot be decoded as a Modbus "
                                            f"response ({exc.string or 'malformed'}); expected {expect.describe()}"))
                raise self.fail(InstrumentTimeout(self.name, command, self.timeout_s, str(exc.string or "")))
            self._check_reply(command, response, expect)
        return response

    def _check_reply(self, command: str, response: Any, expect: Expected) -> None:
        """Refuse every reply that is not exactly the answer to this request: an exception response (the
        device's own error), a function code that differs, more or fewer registers or bits than asked."""
        from pymodbus.pdu import ExceptionResponse

        frame = self._reply_frame(response.transaction_id) if self.is_tcp else self._received
        raw = f" (reply {frame.hex(' ')})" if frame else ""
        function = response.function_code & 0x7F
        if function != expect.function_code:
            kind = "an exception response" if isinstance(response, ExceptionResponse) else "a response"
            raise self.fail(InstrumentReplyError(
                self.name, command, f"{kind} with function code {function} ({function_name(function)}); "
                                    f"expected {expect.describe()}{raw}"))
        if isinstance(response, ExceptionResponse) or response.isError():
            code = getattr(response, "exception_code", None)
            raise self.fail(InstrumentError(self.name, command, f"Modbus exception {describe_exception(code)}"))
        pdu_length = int.from_bytes(frame[4:6], "big") - 1 if self.is_tcp and frame else None
        problem = expect.mismatch(response, pdu_length)  # pymodbus ignores bytes past the byte count
        if problem:
            raise self.fail(InstrumentReplyError(self.name, command, f"{problem}; expected {expect.describe()}{raw}"))

    def _reply_frame(self, transaction_id: int | None) -> bytes:
        """The Modbus TCP frame of this transaction in what was received: after a timeout the late reply to the
        previous request may come first in the same buffer (pymodbus skips it by its transaction id)."""
        data, pos = self._received, 0
        while pos + 7 <= len(data):
            size = 6 + int.from_bytes(data[pos + 4:pos + 6], "big")
            if int.from_bytes(data[pos:pos + 2], "big") == transaction_id:
                return data[pos:pos + size]
            pos += size
        return b""


FC_READ_COILS, FC_READ_DISCRETE, FC_READ_HOLDING, FC_READ_INPUT = 1, 2, 3, 4
FC_WRITE_COIL, FC_WRITE_REGISTER, FC_WRITE_COILS, FC_WRITE_REGISTERS = 5, 6, 15, 16
FUNCTION_NAMES = {1: "read coils", 2: "read discrete inputs", 3: "read holding registers", 4: "read input registers",
                  5: "write single coil", 6: "write single register", 15: "write multiple coils",
                  16: "write multiple registers"}


def function_name(code: int) -> str:
    return FUNCTION_NAMES.get(code, "not a function meterlab asked for")


@dataclass(frozen=True)
class Expected:
    """What the reply to one request must be: its function code and, for reads, how many registers or bits."""

    function_code: int
    registers: int | None = None
    bits: int | None = None

    def describe(self) -> str:
        what = f"function code {self.function_code} ({function_name(self.function_code)})"
        if self.registers is not None:
            what += f" with {self.registers} register(s) ({2 * self.registers} data bytes)"
        if self.bits is not None:
            what += f" with {self.bits} bit(s) ({-(-self.bits // 8)} data bytes)"
        return what

    def mismatch(self, response: Any, pdu_length: int | None) -> str | None:
        """Why `response` is not this answer (None: it is). `pdu_length` from the TCP header, if known."""
        if self.registers is not None:
            got = len(response.registers)
            if got != self.registers:
                return f"{got} register(s) came back"
            if pdu_length is not None and pdu_length != 2 + 2 * self.registers:
                return f"the reply's PDU is {pdu_length} bytes long, not {2 + 2 * self.registers}"
        if self.bits is not None:
            data_bytes = -(-self.bits // 8)
            if len(response.bits) != 8 * data_bytes:  # bits come padded to whole bytes
                return f"{len(response.bits) // 8} data byte(s) of bits came back"
            if pdu_length is not None and pdu_length != 2 + data_bytes:
                return f"the reply's PDU is {pdu_length} bytes long, not {2 + data_bytes}"
        return None


def describe_exception(code: int | None) -> str:
    from pymodbus.constants import ExcCodes

    try:
        return f"{int(code)} ({ExcCodes(code).name.replace('_', ' ').lower()})"
    except (TypeError, ValueError):
        return str(code)


def registers_to_float32(registers: list[int], word_order: WordOrder) -> float:
    from pymodbus.client import ModbusTcpClient

    order = "big" if WordOrder(word_order) is WordOrder.BIG else "little"
    value = ModbusTcpClient.convert_from_registers(registers, ModbusTcpClient.DATATYPE.FLOAT32, word_order=order)
    return float(value)  # type: ignore[arg-type]


def float32_to_registers(value: float, word_order: WordOrder) -> list[int]:
    from pymodbus.client import ModbusTcpClient

    order = "big" if WordOrder(word_order) is WordOrder.BIG else "little"
    return ModbusTcpClient.convert_to_registers(float(value), ModbusTcpClient.DATATYPE.FLOAT32, word_order=order)
