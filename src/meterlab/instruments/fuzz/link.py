"""A raw Modbus TCP link for interface fuzzing: sends any bytes, good or malformed, and brings back whatever the
meter answers, one reply frame or nothing within a bounded wait. Every frame both ways, every timeout and lost
connection goes to the I/O log (the evidence of a finding is the bytes). The regular driver (`ModbusTransport`)
refuses to send what a fuzzer must send, hence this link; replies are still decoded with pymodbus."""

from __future__ import annotations

import socket
import time

from pymodbus.framer import FramerRTU, FramerSocket
from pymodbus.pdu import DecodePDU, ModbusPDU

from meterlab.instruments import mbus, wire
from meterlab.instruments.iolog import ChannelLog, IOLogSink

MBAP_BYTES = 7
MAX_ADU_BYTES = 260  # the largest Modbus TCP frame (MBAP 7 + PDU 253)
RTU_GAP_S = 0.02  # a pause that ends an RTU reply read over TCP (generous: no gateway splits a frame that long)


class LinkDown(Exception):
    """The meter refused or dropped the connection."""


class ModbusTcpLink:
    """`framing` tcp: Modbus TCP (a reply is complete by its MBAP length); rtu: RTU frames over a TCP socket (a
    transparent serial gateway; a reply ends with a pause of RTU_GAP_S, as the 3.5 character silence ends it on
    the line); mbus: M-Bus frames through a transparent M-Bus gateway (E5, or a frame by its length)."""

    def __init__(self, name: str, host: str, port: int, iolog: IOLogSink, *, reply_timeout_s: float = 0.2,
                 framing: str = "tcp"):
        self.name, self.host, self.port, self.framing = name, host, port, framing
        self.log = ChannelLog(name, iolog)
        self.reply_timeout_s = reply_timeout_s
        self._sock: socket.socket | None = None
        self._wire_key: wire.Key | None = None  # counted for a virtual clock when the peer is simulated here

    def open(self) -> None:
        self.close()
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.reply_timeout_s)
            self._wire_key = wire.connection(self._sock.getpeername()[:2], self._sock.getsockname()[:2])
        except OSError as exc:
            self.log.error(f"connect {self.host}:{self.port}: {exc}")
            raise LinkDown(str(exc)) from exc

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            wire.forget(self._wire_key)
            self._wire_key = None

    def send(self, frame: bytes) -> None:
        if self._sock is None:
            self.open()
        self.log.write(frame)
        wire.driver_sent(self._wire_key, len(frame))
        try:
            self._sock.sendall(frame)
        except OSError as exc:
            self.log.error(f"send: {exc}")
            self.close()
            raise LinkDown(str(exc)) from exc

    def receive(self, timeout_s: float | None = None) -> bytes | None:
        """One reply frame (TCP: complete by its MBAP length; RTU: what came before a pause), or None when nothing
        (TCP: nothing complete) came within the wait."""
        assert self._sock is not None, "send first"
        deadline = time.monotonic() + (timeout_s or self.reply_timeout_s)
        data = b""
        while not self._complete(data):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if data and self.framing != "tcp":  # RTU, M-Bus: once a reply has begun, a pause ends it
                remaining = min(remaining, RTU_GAP_S)
            self._sock.settimeout(remaining)
            try:
                with wire.reading(self._wire_key):
                    chunk = self._sock.recv(MAX_ADU_BYTES)
                wire.driver_received(self._wire_key, len(chunk))
            except TimeoutError:
                if data and self.framing != "tcp":
                    self.log.read(data)
                    return data
                break
            except OSError as exc:
                self.log.error(f"receive: {exc}")
                self.close()
                raise LinkDown(str(exc)) from exc
            if not chunk:
                if data:
                    self.log.read(data)
                self.log.error("connection closed by the meter")
                self.close()
                raise LinkDown("connection closed by the meter")
            data += chunk
        if data:
            self.log.read(data)
        if data and self.framing != "tcp":
            return data
        if not self._complete(data):
            self.log.error(f"no complete reply within {timeout_s or self.reply_timeout_s:g} s")
            return None
        return data

    def exchange(self, frame: bytes, timeout_s: float | None = None) -> bytes | None:
        self.send(frame)
        return self.receive(timeout_s)


    def _complete(self, data: bytes) -> bool:
        if self.framing == "rtu":  # a whole frame with its right CRC; anything else ends with a pause
            return decode_reply(data, "rtu") is not None
        if self.framing == "mbus":
            return mbus_complete(data)
        return len(data) >= 6 and len(data) >= 6 + int.from_bytes(data[4:6], "big")


def decode_reply(data: bytes, framing: str = "tcp") -> ModbusPDU | None:
    """The response PDU a reply frame holds (pymodbus' client decoder; RTU: only with a right CRC), or None if it
    holds none it knows."""
    framer = FramerRTU(DecodePDU(False)) if framing == "rtu" else FramerSocket(DecodePDU(False))
    try:
        _used, pdu = framer.handleFrame(data, 0, 0)
    except Exception:  # noqa: BLE001 - a reply pymodbus cannot decode is a finding, not a crash of the fuzzer
        return None
    return pdu


def mbus_complete(data: bytes) -> bool:
    """An M-Bus reply is whole: E5, a short frame (5 bytes) or a long frame of its L field (anything else ends with
    a pause)."""
    if data[:1] == bytes((mbus.ACK,)):
        return True
    if data[:1] == bytes((mbus.SHORT_START,)):
        return len(data) >= 5
    return data[:1] == bytes((mbus.LONG_START,)) and len(data) >= 4 and len(data) >= data[1] + 6


def mbus_normal(data: bytes) -> bool:
    """A reply a master takes as an answer: E5, or a frame whose checksum is right."""
    if data == bytes((mbus.ACK,)):
        return True
    try:
        mbus.decode_frame(data)
    except (mbus.MBusFrameError, ValueError, IndexError):
        return False
    return True
