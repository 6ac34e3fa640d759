"""Transports over real sockets: framing, logging, bounded waits, connection errors."""

import socket
import threading
import time

import pytest

from meterlab.instruments.errors import InstrumentConnectionError, InstrumentTimeout
from meterlab.instruments.iolog import Direction, IOEntry, IOLogSink, MemoryIOLog
from meterlab.instruments.transport import ModbusTransport, VisaTransport


@pytest.fixture
def echo_server():
    """A server on 127.0.0.1 that answers each CRLF line with `<line>!` CRLF, except `quiet`."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    stop = threading.Event()

    def serve():
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(0.1)
            buffer = b""
            while not stop.is_set():
                try:
                    data = conn.recv(1024)
                except TimeoutError:
                    continue
                if not data:
                    return
                buffer += data
                while b"\r\n" in buffer:
                    line, buffer = buffer.split(b"\r\n", 1)
                    if line == b"split":
                        conn.sendall(b"two ")
                        time.sleep(0.05)
                        conn.sendall(b"parts\r\n")
                    elif line != b"quiet":
                        conn.sendall(line + b"!\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"TCPIP::127.0.0.1::{listener.getsockname()[1]}::SOCKET"
    stop.set()
    listener.close()
    thread.join(2)


def test_visa_socket_query_with_explicit_terminations_and_exact_log(echo_server):
    log = MemoryIOLog()
    with VisaTransport("probe", echo_server, log, read_termination="\r\n", write_termination="\r\n",
                       timeout_s=2) as transport:
        assert transport.query("ping") == "ping!"
        assert transport.query("split") == "two parts"
    entries = log.entries("probe")
    assert [(e.direction, e.data) for e in entries[:2]] == [(Direction.WRITE, b"ping\r\n"), (Direction.READ, b"ping!\r\n")]
    assert all(a.monotonic_s <= b.monotonic_s for a, b in zip(entries, entries[1:]))


def test_visa_read_times_out_within_its_bound(echo_server):
    log = MemoryIOLog()
    with VisaTransport("probe", echo_server, log, read_termination="\r\n", write_termination="\r\n",
                       timeout_s=0.3) as transport:
        start = time.monotonic()
        with pytest.raises(InstrumentTimeout, match="probe during 'quiet': timeout: no answer within 0.3 s"):
            transport.query("quiet")
        assert time.monotonic() - start < 1.0
    assert log.entries()[-1].direction is Direction.ERROR


def test_a_long_command_is_sent_whole(echo_server):
    long = "x" * 300_000  # many socket sends: each waits for room, none drops bytes
    with VisaTransport("probe", echo_server, MemoryIOLog(), read_termination="\r\n", write_termination="\r\n",
                       timeout_s=5) as transport:
        assert transport.query(long) == long + "!"


def test_a_write_to_an_instrument_that_takes_no_data_times_out_within_its_bound():
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    log = MemoryIOLog()
    try:
        with VisaTransport("probe", f"TCPIP::127.0.0.1::{listener.getsockname()[1]}::SOCKET", log,
                           read_termination="\n", write_termination="\n", timeout_s=0.3) as transport:
            outcome: list[Exception] = []

            def fill():  # it never reads: the buffers fill, then the wait for room must end
                try:
                    for _ in range(1000):
                        transport.write("y" * 65_536)
                except Exception as exc:  # noqa: BLE001 - judged below
                    outcome.append(exc)

            writer = threading.Thread(target=fill, daemon=True)
            writer.start()
            writer.join(10)  # a blocking send would hang here for ever
            assert not writer.is_alive(), "the write blocked on an instrument that takes no data"
            assert isinstance(outcome[0], InstrumentTimeout) and "does not take data" in str(outcome[0])
    finally:
        for conn in accepted:
            conn.close()
        listener.close()
    assert log.entries()[-1].direction is Direction.ERROR


def test_terminations_must_be_explicit():
    with pytest.raises(ValueError, match="terminations must both be set"):
        VisaTransport("probe", "TCPIP::127.0.0.1::1::SOCKET", MemoryIOLog(), read_termination=None,
                      write_termination="\n")


def test_refused_connections_are_connection_errors():
    closed_port = socket.create_server(("127.0.0.1", 0))
    port = closed_port.getsockname()[1]
    closed_port.close()
    with pytest.raises(InstrumentConnectionError, match=f"cannot open TCPIP::127.0.0.1::{port}::SOCKET"):
        VisaTransport("probe", f"TCPIP::127.0.0.1::{port}::SOCKET", MemoryIOLog(), read_termination="\n",
                      write_termination="\n", open_timeout_s=1)
    with pytest.raises(InstrumentConnectionError, match=f"cannot connect to 127.0.0.1:{port}"):
        ModbusTransport("probe", MemoryIOLog(), host="127.0.0.1", port=port, timeout_s=1)
    with pytest.raises(InstrumentConnectionError, match="cannot open ASRL"):
        VisaTransport("probe", "ASRL/dev/meterlab-no-such-port::INSTR", MemoryIOLog(), read_termination="\n",
                      write_termination="\n")


def test_modbus_needs_exactly_one_link():
    with pytest.raises(ValueError, match="exactly one of host"):
        ModbusTransport("probe", MemoryIOLog())


def test_memory_iolog_is_thread_safe_bounded_and_a_sink():
    log = MemoryIOLog()
    assert isinstance(log, IOLogSink)

    def record(name):
        for i in range(500):
            log.record(IOEntry(time.monotonic(), time.time(), name, Direction.WRITE, b"x"))

    threads = [threading.Thread(target=record, args=(f"i{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(log) == 2000 and len(log.entries("i2")) == 500
    small = MemoryIOLog(max_entries=3)
    for i in range(5):
        small.record(IOEntry(i, i, "a", Direction.READ, bytes([i])))
    assert [e.data for e in small.entries()] == [b"\x02", b"\x03", b"\x04"]
