"""Byte-exact driver tests without hardware: `expected_protocol` (after PyMeasure's `pymeasure.test`).

    with expected_protocol(Keysight53230A, [(b"TOT:GATE:TIME 10", None), (b"FETC?", b"+1.2E+004")]) as counter:
        counter.gate_time_s = 10
        ...

Message drivers get a scripted transport that checks every byte the driver writes (terminations
included) and hands back the scripted replies; Modbus drivers talk through a real pymodbus client to a
scripted Modbus TCP peer on 127.0.0.1 that checks each request PDU byte for byte. Any deviation, and any
exchange left unused, fails the test."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from meterlab.instruments.base import Instrument, MessageInstrument
from meterlab.instruments.errors import InstrumentTimeout
from meterlab.instruments.iolog import IOLogSink, MemoryIOLog
from meterlab.instruments.transport import MessageTransport, ModbusTransport

I = TypeVar("I", bound=Instrument)
Exchange = tuple[bytes | None, Any]


class _Timeout:
    def __repr__(self) -> str:
        return "TIMEOUT"


TIMEOUT = _Timeout()  # as a reply: the instrument stays silent and the read times out


class ProtocolMismatch(AssertionError):
    """The driver did not speak the scripted protocol."""


class ScriptedTransport(MessageTransport):
    """A message transport that plays a script of (bytes written, reply) instead of talking to a device."""

    def __init__(self, name: str, exchanges: Sequence[Exchange], iolog: IOLogSink | None = None, **framing: Any):
        super().__init__(name, iolog or MemoryIOLog(), **framing)
        self.exchanges = list(exchanges)
        self.position = 0
        self.pending: bytes | None = None  # reply the driver has not read yet
        self.failure: ProtocolMismatch | None = None
        self._raw = False

    def _mismatch(self, message: str) -> ProtocolMismatch:
        if self.failure is None:
            done = [cmd for cmd, _ in self.exchanges[: self.position]]
            self.failure = ProtocolMismatch(f"{message}\n  exchanges already done: {done!r}")
        return self.failure

    def write_raw(self, data: bytes, *, command: str | None = None) -> None:
        self._raw = True
        try:
            super().write_raw(data, command=command)
        finally:
            self._raw = False

    def _send(self, data: bytes, command: str) -> None:
        if self.pending:
            raise self._mismatch(f"the driver sent {data!r} before reading the scripted reply {self.pending!r}")
        if self.position >= len(self.exchanges):
            raise self._mismatch(f"the driver sent {data!r} but the script has ended")
        expected, reply = self.exchanges[self.position]
        wanted = expected if self._raw or expected is None else expected + self.write_termination.encode(self.encoding)
        if data != wanted:
            raise self._mismatch(f"exchange {self.position}: the driver sent {data!r}, the script expects {wanted!r}")
        self.position += 1
        self.pending = None if reply is None else reply

    def _next_reply(self, command: str | None) -> bytes | _Timeout:
        if self.pending is None and self.position < len(self.exchanges) and self.exchanges[self.position][0] is None:
            self.pending = self.exchanges[self.position][1]  # an unsolicited reply
            self.position += 1
        if self.pending is None:
            raise self._mismatch(f"the driver reads after {command!r} but the script has no reply there")
        reply, self.pending = self.pending, None
        return reply

    def _receive_until(self, termination: bytes, timeout_s: float, command: str | None) -> bytes:
        reply = self._next_reply(command)
        if reply is TIMEOUT:
            raise self.fail(InstrumentTimeout(self.name, command, timeout_s))
        return reply if reply.endswith(termination) else reply + termination

    def _receive_exact(self, count: int, timeout_s: float, command: str | None) -> bytes:
        reply = self._next_reply(command)
        if reply is TIMEOUT or len(reply) < count:
            raise self.fail(InstrumentTimeout(self.name, command, timeout_s, f"scripted reply {reply!r}"))
        if len(reply) > count:
            self.pending = reply[count:]
        return reply[:count]

    def check_done(self) -> None:
        if self.failure:
            raise self.failure
        if self.pending:
            raise ProtocolMismatch(f"the driver never read the scripted reply {self.pending!r}")
        if self.position < len(self.exchanges):
            raise ProtocolMismatch(f"exchanges never sent by the driver: {self.exchanges[self.position:]!r}")

    def close(self) -> None:
        pass


class ScriptedModbusPeer:
    """A Modbus TCP server on 127.0.0.1 that answers a script of (request PDU, response PDU) and checks
    each request byte for byte (function code and data, after the MBAP header; the unit id too)."""

    def __init__(self, exchanges: Sequence[tuple[bytes, bytes | _Timeout]], unit: int, timeout_s: float = 5.0):
        self.exchanges, self.unit, self.timeout_s = list(exchanges), unit, timeout_s
        self.position = 0
        self.failure: ProtocolMismatch | None = None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(timeout_s)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="scripted-modbus", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(self.timeout_s)
            try:
                while self._answer(conn):
                    pass
            except OSError:
                pass

    def _recv_exact(self, conn: socket.socket, count: int) -> bytes | None:
        data = b""
        while len(data) < count:
            chunk = conn.recv(count - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def _answer(self, conn: socket.socket) -> bool:
        header = self._recv_exact(conn, 7)
        if header is None:
            return False
        tid, _protocol, length, unit = struct.unpack(">HHHB", header)
        pdu = self._recv_exact(conn, length - 1) or b""
        if self.position >= len(self.exchanges):
            self.failure = ProtocolMismatch(f"unexpected request {pdu.hex(' ')} after the script ended")
            return False
        expected, response = self.exchanges[self.position]
        if unit != self.unit or pdu != expected:
            self.failure = ProtocolMismatch(
                f"exchange {self.position}: request unit {unit} PDU {pdu.hex(' ')}, "
                f"the script expects unit {self.unit} PDU {expected.hex(' ')}"
            )
            return False
        self.position += 1
        if response is not TIMEOUT:
            conn.sendall(struct.pack(">HHHB", tid, 0, len(response) + 1, unit) + response)
        return True

    def close(self) -> None:
        self._listener.close()
        self._thread.join(self.timeout_s)

    def check_done(self) -> None:
        self.close()
        if self.failure:
            raise self.failure
        if self.position < len(self.exchanges):
            left = [(req.hex(" "), resp) for req, resp in self.exchanges[self.position:]]
            raise ProtocolMismatch(f"requests never sent by the driver: {left!r}")


@contextlib.contextmanager
def expected_protocol(
    driver_class: type[I],
    exchanges: Sequence[Exchange],
    *,
    name: str = "dut",
    iolog: IOLogSink | None = None,
    timeout_s: float = 2.0,
    unit: int = 1,
    **init_kwargs: Any,
) -> Iterator[I]:
    """Yield a `driver_class` instance whose I/O must follow `exchanges` exactly.

    Message drivers: (bytes written without termination, reply without termination | None | TIMEOUT);
    (None, reply) is a reply the driver reads without writing first. Modbus drivers: (request PDU, response
    PDU | TIMEOUT), e.g. (bytes.fromhex("06 0063 047f"), bytes.fromhex("06 0063 047f"))."""
    iolog = MemoryIOLog() if iolog is None else iolog  # an empty log is falsy (it has a length)
    if issubclass(driver_class, MessageInstrument):
        transport = ScriptedTransport(
            name, exchanges, iolog, read_termination=driver_class.read_termination,
            write_termination=driver_class.write_termination, encoding=driver_class.encoding, timeout_s=timeout_s,
        )
        yield from _run(driver_class(name, transport, **init_kwargs), transport)
        return
    peer = ScriptedModbusPeer(exchanges, unit)  # type: ignore[arg-type]
    transport = ModbusTransport(name, iolog, host="127.0.0.1", port=peer.port, unit=unit, timeout_s=timeout_s)
    yield from _run(driver_class(name, transport, **init_kwargs), peer)


def _run(driver: I, script: ScriptedTransport | ScriptedModbusPeer) -> Iterator[I]:
    try:
        yield driver
    except BaseException as exc:
        driver.close()
        script.close()
        if script.failure is not None:  # the deviation explains the driver's exception
            raise script.failure from exc
        raise
    driver.close()
    script.check_done()
