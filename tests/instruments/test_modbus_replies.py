"""The Modbus transport refuses every reply that is not exactly the answer to its request (byte-exact, through a
real pymodbus client to a scripted peer): never a bare ValueError, never a value."""

import pytest

from meterlab.instruments.base import ModbusInstrument
from meterlab.instruments.errors import InstrumentError, InstrumentReplyError
from meterlab.instruments.iolog import Direction, MemoryIOLog
from meterlab.instruments.testing import expected_protocol

hx = bytes.fromhex


class Probe(ModbusInstrument):
    """A bare Modbus driver: the tests call its transport directly."""

    def identify(self) -> str:
        return "probe"

    def safe_state(self) -> None:
        pass


READ_INPUT_2 = hx("04 0000 0002")


@pytest.mark.parametrize("reply, message", [
    (hx("04 02 0001"), "1 register(s) came back; expected function code 4 (read input registers) with 2 register(s)"),
    (hx("04 06 0001 E240 0000"), "3 register(s) came back"),
    (hx("04 04 0001 E240 0000"), "the reply's PDU is 8 bytes long, not 6"),  # byte count says 2, 3 were sent
    (hx("04 04 0001"), "reply 00 01 00 00 00 05 01 04 04 00 01 cannot be decoded"),  # byte count says 2, 1 sent
    (hx("03 04 0001 E240"), "a response with function code 3 (read holding registers); expected function code 4"),
    (hx("83 02"), "an exception response with function code 3 (read holding registers); expected function code 4"),
])
def test_a_malformed_register_reply_is_a_reply_error_naming_request_and_reply(reply, message):
    log = MemoryIOLog()
    with expected_protocol(Probe, [(READ_INPUT_2, reply)], name="meter7", iolog=log, timeout_s=0.5) as probe:
        with pytest.raises(InstrumentReplyError) as info:
            probe.transport.read_input_registers(0, 2)
    assert info.value.instrument == "meter7" and info.value.command == "read input 0+2 (unit 1)"
    assert message in info.value.message
    assert log.entries()[-1].direction is Direction.ERROR  # the refusal is in the I/O log


@pytest.mark.parametrize("code, text", [(2, "2 (illegal address)"), (6, "6 (device busy)"), (0x2A, "42")])
def test_an_exception_response_is_the_instruments_error_with_its_code(code, text):
    with expected_protocol(Probe, [(READ_INPUT_2, bytes((0x84, code)))], timeout_s=0.5) as probe:
        with pytest.raises(InstrumentError) as info:
            probe.transport.read_input_registers(0, 2)
    assert not isinstance(info.value, InstrumentReplyError)
    assert info.value.message == f"Modbus exception {text}"


def test_exact_replies_pass_and_bits_and_writes_are_checked_too():
    with expected_protocol(Probe, [
        (READ_INPUT_2, hx("04 04 0001 E240")),
        (hx("01 0000 000A"), hx("01 02 FF 03")),
        (hx("01 0000 000A"), hx("01 01 FF")),  # 10 coils need 2 data bytes
        (hx("06 0064 2000"), hx("06 0064 2000")),
        (hx("06 0064 2000"), hx("10 0064 0001")),  # a write-multiple answer to a write-single
    ], timeout_s=0.5) as probe:
        assert probe.transport.read_input_registers(0, 2) == [0x0001, 0xE240]
        assert probe.transport.read_coils(0, 10) == [True] * 10
        with pytest.raises(InstrumentReplyError, match="1 data byte"):
            probe.transport.read_coils(0, 10)
        probe.transport.write_register(100, 0x2000)
        with pytest.raises(InstrumentReplyError, match="function code 16 .* expected function code 6"):
            probe.transport.write_register(100, 0x2000)


def test_a_late_reply_to_a_timed_out_request_does_not_spoil_the_next_one():
    """After a timeout the late reply (another length, its own transaction id) may arrive together with the next
    reply: it is skipped, and the next reply is checked by its own frame."""
    import socket
    import struct
    import threading

    from meterlab.instruments.errors import InstrumentTimeout
    from meterlab.instruments.transport import ModbusTransport

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        with conn:
            first = conn.recv(260)  # request 1: no answer in time
            second = conn.recv(260)
            stale = struct.pack(">HHHB", int.from_bytes(first[:2], "big"), 0, 11, 1) + hx("03 08 0001 0002 0003 0004")
            fresh = struct.pack(">HHHB", int.from_bytes(second[:2], "big"), 0, 7, 1) + hx("03 04 0001 E240")
            conn.sendall(stale + fresh)
            conn.recv(260)  # until the client closes

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with ModbusTransport("meter", MemoryIOLog(), host="127.0.0.1", port=port, timeout_s=0.3) as transport:
        with pytest.raises(InstrumentTimeout):
            transport.read_holding_registers(0, 2)
        assert transport.read_holding_registers(0, 2) == [0x0001, 0xE240]
    listener.close()
    thread.join(2)


def test_a_late_reply_alone_is_still_a_timeout():
    import socket
    import struct
    import threading

    from meterlab.instruments.errors import InstrumentTimeout
    from meterlab.instruments.transport import ModbusTransport

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        with conn:
            first = conn.recv(260)
            conn.recv(260)  # request 2: answered only with the late reply to request 1
            conn.sendall(struct.pack(">HHHB", int.from_bytes(first[:2], "big"), 0, 7, 1) + hx("03 04 0001 E240"))
            conn.recv(260)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with ModbusTransport("meter", MemoryIOLog(), host="127.0.0.1", port=port, timeout_s=0.3) as transport:
        for _ in range(2):
            with pytest.raises(InstrumentTimeout):
                transport.read_holding_registers(0, 2)
    listener.close()
    thread.join(2)
