"""A threaded TCP server on 127.0.0.1 for one line-framed simulated instrument (SCPI, MT-SICS, ...).

The device decides the framing (`split`) and the replies (`respond`); this server moves bytes, one thread
per connection, and injects the scenario's communication faults before each request:
no_answer (the request is swallowed), garbage (the reply is replaced by bytes that are not text),
drop_connection (the connection is reset), error (the device reports an error its own way). Read-out faults
(anomalous meter data: scenario.READOUT_FAULTS) pass through to the device, which plays them."""

from __future__ import annotations

import logging
import random
import socket
import struct
import threading

from meterlab.instruments import wire
from meterlab.sim.devices.base import LineDevice
from meterlab.sim.faults import CommFaults

log = logging.getLogger(__name__)
POLL_S = 0.1  # how often blocked accept/recv calls look at the stop flag
JOIN_S = 2.0


class LineServer:
    def __init__(self, device: LineDevice, faults: CommFaults | None = None, *, seed: int = 0,
                 host: str = "127.0.0.1"):
        self.device, self.faults = device, faults
        device.faults = faults  # read-out faults (anomalous data) are the device's to play
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._listener = socket.create_server((host, 0))  # port 0: the OS picks a free one
        self._listener.settimeout(POLL_S)
        self.host, self.port = self._listener.getsockname()[:2]
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def resource(self) -> str:
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    def start(self) -> LineServer:
        wire.serve((self.host, self.port))
        self._spawn(self._accept_loop, f"{self.device.name}-accept")
        return self

    def _spawn(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(POLL_S)
            with self._lock:
                self._connections.add(conn)
            self._spawn(self._serve, f"{self.device.name}-conn", conn)

    def _serve(self, conn: socket.socket) -> None:
        buffer = bytearray()
        key = ((self.host, self.port), conn.getpeername()[:2])
        try:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    return
                with wire.handling(key, len(data)):  # the virtual clock waits until this is answered
                    buffer += data
                    for frame in self.device.split(buffer):
                        if not self._answer(conn, frame, key):
                            return
        except OSError:
            return
        finally:
            with self._lock:
                self._connections.discard(conn)
            wire.forget(key)
            conn.close()

    def _answer(self, conn: socket.socket, frame: bytes, key: wire.Key) -> bool:
        """Answer one request; False if the connection was dropped."""
        fault = self.faults.active(self.device.name) if self.faults else None
        kind = fault.kind if fault else None
        if kind == "no_answer":
            wire.unanswered(key)
            return True
        if kind == "drop_connection":
            reset(conn)
            return False
        try:
            reply = self.device.respond_error(frame, fault.message) if kind == "error" else self.device.respond(frame)
        except Exception:  # a bug in a simulated device: say so loudly, keep the lab serving
            log.exception("%s failed on request %r", self.device.name, frame)
            return True
        if reply is None:
            wire.unanswered(key)
            return True
        if kind == "garbage":
            reply = bytes(self._rng.randrange(0x80, 0x100) for _ in range(12)) + self.device.reply_terminator
        self.device.wait_sim(self.device.reply_latency_s)  # the instrument's turnaround (tables/reply-latency.yaml)
        wire.server_sent(key, len(reply))
        conn.sendall(reply)
        return True

    def stop(self) -> None:
        self._stop.set()
        wire.unserve((self.host, self.port))
        try:  # wakes the accept loop now (Linux), rather than at its next POLL_S: a lab stops in milliseconds
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            connections, threads = list(self._connections), list(self._threads)
        for conn in connections:  # reset: clients learn at once that the instrument is gone
            try:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(JOIN_S)
            if thread.is_alive():
                log.warning("%s did not stop within %s s", thread.name, JOIN_S)


def reset(conn: socket.socket) -> None:
    """Close with RST (linger 0): the client learns at once that the connection is gone."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        conn.close()
