"""The instrument I/O log: every exchange with every instrument, as raw bytes with two timestamps.

Transports write entries to an `IOLogSink`. The engine will provide a sink that persists entries with the
run record; `MemoryIOLog` keeps them in memory (tests, `instruments check`, benchmarks)."""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple, Protocol, runtime_checkable


class Direction(StrEnum):
    WRITE = "write"  # bytes sent to the instrument
    READ = "read"  # bytes received from the instrument
    ERROR = "error"  # a failure (timeout, lost connection, instrument error); data holds the message


class IOEntry(NamedTuple):  # a tuple: cheap to make on every exchange, immutable
    monotonic_s: float  # time.monotonic(): orders entries, measures intervals
    wall_time_s: float  # time.time(): when it happened, for people
    instrument: str
    direction: Direction
    data: bytes

    def __str__(self) -> str:
        when = datetime.fromtimestamp(self.wall_time_s).isoformat(timespec="microseconds")
        return f"{when} {self.instrument} {self.direction.value:5} {self.data!r}"


@runtime_checkable
class IOLogSink(Protocol):
    """Where transports put entries. `record` is called from any thread and must not block for long."""

    def record(self, entry: IOEntry) -> None: ...


class MemoryIOLog:
    """A thread-safe in-memory sink. With `max_entries`, the oldest entries are dropped first."""

    def __init__(self, max_entries: int | None = None):
        self._entries: deque[IOEntry] = deque(maxlen=max_entries)
        self._lock = threading.Lock()

    def record(self, entry: IOEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, instrument: str | None = None) -> list[IOEntry]:
        with self._lock:
            return [e for e in self._entries if instrument is None or e.instrument == instrument]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class NullIOLog:
    """Discards everything (benchmarks of raw speed only; a run always has a real sink)."""

    def record(self, entry: IOEntry) -> None:
        pass


class ChannelLog:
    """One instrument's view of a sink: stamps entries with the instrument name and both clocks."""

    __slots__ = ("instrument", "sink", "_record_entry")

    def __init__(self, instrument: str, sink: IOLogSink):
        self.instrument, self.sink = instrument, sink
        self._record_entry = sink.record

    def _record(self, direction: Direction, data: bytes) -> None:
        self._record_entry(IOEntry(time.monotonic(), time.time(), self.instrument, direction, data))

    def write(self, data: bytes) -> None:
        self._record(Direction.WRITE, data)

    def read(self, data: bytes) -> None:
        self._record(Direction.READ, data)

    def error(self, message: str) -> None:
        self._record(Direction.ERROR, message.encode("utf-8", "replace"))
