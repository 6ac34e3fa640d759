"""Simulated device front ends: the protocol face of an instrument over the world's physics.

A `LineDevice` answers framed requests (text lines by default; override `split`/`respond` for binary
framings such as M-Bus) and is served by `servers.line.LineServer`. A `ModbusDevice` answers register
and bit reads/writes and is served by `servers.modbus`. Both get their bench entry (wiring, options) and
their simulated characteristics (`Params`, from the scenario's `devices.<name>`)."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict

from meterlab.sim.world import World

if TYPE_CHECKING:
    from meterlab.instruments.bench import InstrumentEntry
    from meterlab.sim.faults import CommFaults
    from meterlab.sim.scenario import FaultSpec

MAX_FRAME_BYTES = 65536  # a request longer than this without a terminator is discarded
REPLY_LATENCY_TABLE = Path(__file__).resolve().parents[1] / "tables" / "reply-latency.yaml"


@cache
def _reply_latencies() -> dict[str, float]:
    return {name: float(s) for name, s in yaml.safe_load(REPLY_LATENCY_TABLE.read_text())["latency_s"].items()}


def reply_latency_s(device_class: type) -> float:
    """What the device's real counterpart takes to answer (tables/reply-latency.yaml, by class or base class)."""
    table = _reply_latencies()
    return next((table[c.__name__] for c in device_class.__mro__ if c.__name__ in table), 0.0)


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SimDevice(ABC):
    protocol: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    readout_faults: ClassVar[frozenset[str]] = frozenset()  # the scenario's READOUT_FAULTS this device serves
    faults: CommFaults | None = None  # set by the server that serves the device

    def __init__(self, name: str, world: World, entry: InstrumentEntry, params: BaseModel | None = None):
        self.name, self.world, self.entry = name, world, entry
        self.params: Any = params if params is not None else self.Params()
        self.wiring = dict(entry.wiring)
        self.lock = threading.RLock()  # one request at a time, like the instrument itself

    def signal(self, terminal: str) -> str | None:
        """The rig signal wired to `terminal`, if any."""
        return self.wiring.get(terminal)

    def active_fault(self) -> FaultSpec | None:
        """The fault of this instrument active now (read-out faults are the device's to play)."""
        return self.faults.active(self.name) if self.faults is not None else None


class LineDevice(SimDevice):
    protocol = "line"
    terminators: ClassVar[tuple[bytes, ...]] = (b"\n",)  # any of these ends a request
    reply_terminator: ClassVar[bytes] = b"\n"
    encoding: ClassVar[str] = "ascii"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.reply_latency_s = reply_latency_s(type(self))

    def split(self, buffer: bytearray) -> list[bytes]:
        """Take the complete requests out of `buffer` (the bytes received so far on one connection)."""
        frames = []
        while True:
            ends = [(buffer.find(t), t) for t in self.terminators if buffer.find(t) >= 0]
            if not ends:
                if len(buffer) > MAX_FRAME_BYTES:
                    del buffer[:]
                return frames
            index, terminator = min(ends)
            frames.append(bytes(buffer[:index]))
            del buffer[: index + len(terminator)]

    def wait_sim(self, sim_s: float) -> None:
        """Wait `sim_s` simulated seconds while answering (time moves on meanwhile: docs/architecture.md)."""
        if sim_s <= 0:
            return
        clock = self.world.clock
        deadline = clock.now() + sim_s
        self.world.wait_until(lambda: clock.now() >= deadline, timeout_real_s=clock.real_seconds(sim_s),
                              timeout_sim_s=sim_s)

    def respond(self, frame: bytes) -> bytes | None:
        """Bytes to send back for one request (None: no reply)."""
        text = frame.decode(self.encoding, "replace").strip("\r\n\t ")
        if not text:
            return None
        with self.lock:
            reply = self.handle(text)
        return None if reply is None else reply.encode(self.encoding) + self.reply_terminator

    def respond_error(self, frame: bytes, message: str | None) -> bytes | None:
        """The reply while an `error` fault is active (the instrument reports an error)."""
        text = frame.decode(self.encoding, "replace").strip("\r\n\t ")
        with self.lock:
            reply = self.error_reply(text, message)
        return None if reply is None else reply.encode(self.encoding) + self.reply_terminator

    @abstractmethod
    def handle(self, text: str) -> str | None:
        """The reply to one request (None: no reply)."""

    @abstractmethod
    def error_reply(self, text: str, message: str | None) -> str | None:
        """How this instrument reports an internal error in answer to `text` (fault injection)."""


class ModbusDevice(SimDevice):
    """Tables: coils, discrete_inputs, holding, input. Return a Modbus exception code (int) to refuse."""

    protocol = "modbus"
    ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE, DEVICE_FAILURE = 1, 2, 3, 4
    request_function: int | None = None  # the function code of the request being served (set by the server)
    framing: str = "tcp"  # "rtu": served in RTU framing over TCP (a device behind a transparent serial gateway)
    accepts_bad_crc = False  # RTU framing only: a planted weakness, frames are taken whatever their CRC

    def interface_down(self) -> str | None:
        """None while the device answers; `crash` (connection dropped, nothing answered) or `hang` (silent)
        while its interface is down (planted weaknesses, sim/devices/interface_weaknesses.py)."""
        return None

    def on_frame(self, count: int = 1) -> None:
        """`count` frames arrived (whatever they hold): a device that a flood takes down counts them here."""

    @property
    def unit(self) -> int:
        return self.entry.modbus.unit if self.entry.modbus else 1

    def read(self, table: str, address: int, count: int) -> list[int] | list[bool] | int:
        return self.ILLEGAL_ADDRESS

    def write(self, table: str, address: int, values: list[int] | list[bool]) -> int | None:
        return self.ILLEGAL_ADDRESS

    def error_code(self, message: str | None) -> int:
        """The exception code answered while an `error` fault is active."""
        return int(message) if message and message.isdigit() else self.DEVICE_FAILURE
