"""Planted interface weaknesses of the simulated smart Modbus meter (issue 16, part 2), over real sockets: each one
does what its scenario setting says, and the robust meter (none planted) refuses every protected or undocumented
request. The fuzzer is tested against these in tests/engine/test_fuzz_campaign.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymodbus.framer import FramerSocket
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.register_message import (
    MaskWriteRegisterRequest,
    ReadHoldingRegistersRequest,
    ReadInputRegistersRequest,
    WriteSingleRegisterRequest,
)

from meterlab.instruments.bench import Bench, load_bench
from meterlab.instruments.fuzz.link import LinkDown, ModbusTcpLink, decode_reply
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.scenario import load_scenario
from meterlab.sim.testing import running_lab

ROOT = Path(__file__).resolve().parents[2]
SIM_BENCH = ROOT / "instruments" / "sim.yaml"

SCENARIOS = ROOT / "examples" / "scenarios"
FRAMER = FramerSocket(DecodePDU(False))
METER_FACTOR, DISPLAY_MODE, SOFTWARE_ID = 0, 2, 4


def frame(pdu, tid=1) -> bytes:
    pdu.dev_id, pdu.transaction_id = 1, tid
    return FRAMER.buildFrame(pdu)


@pytest.fixture
def lab_of():
    """A lab on virtual time (nothing moves between two requests) with the rig and the smart Modbus meter of a scenario in examples/scenarios."""
    started = []

    def start(name: str):
        bench = load_bench(SIM_BENCH)
        keep = {"pump", "valves", "modbus_meter"}
        small = Bench(bench=bench.bench, instruments={k: v for k, v in bench.instruments.items() if k in keep})
        context = running_lab(small, load_scenario(SCENARIOS / f"modbus-{name}.yaml"), clock_scale=VIRTUAL)
        started.append(context)
        return context.__enter__()

    yield start
    for context in started:
        context.__exit__(None, None, None)


def ask(lab, pdu, timeout_s=0.3):
    """One request on a fresh connection: the decoded reply, None (silence), or 'dropped'."""
    host, _, port = lab.resources["modbus_meter"].rpartition(":")
    link = ModbusTcpLink("modbus_meter", host, int(port), MemoryIOLog(), reply_timeout_s=timeout_s)
    try:
        reply = link.exchange(frame(pdu))
    except LinkDown:
        return "dropped"
    finally:
        link.close()
    return None if reply is None else decode_reply(reply)


def meter_factor(lab) -> list[int]:
    return ask(lab, ReadHoldingRegistersRequest(address=METER_FACTOR, count=2)).registers


def test_the_robust_meter_refuses_protected_writes_and_undocumented_functions(lab_of):
    lab = lab_of("robust")
    before = meter_factor(lab)
    assert before == [0x000F, 0x4240]  # 1 000 000 ppm
    refused = ask(lab, WriteSingleRegisterRequest(address=METER_FACTOR, registers=[7]))
    assert refused.function_code == 0x86 and refused.exception_code == 2
    masked = ask(lab, MaskWriteRegisterRequest(address=METER_FACTOR, and_mask=0, or_mask=0x1234))
    assert masked.function_code == 0x96 and masked.exception_code == 1
    assert ask(lab, ReadInputRegistersRequest(address=100, count=1)).exception_code == 2
    assert meter_factor(lab) == before
    written = ask(lab, WriteSingleRegisterRequest(address=DISPLAY_MODE, registers=[3]))  # documented: allowed
    assert written.function_code == 6
    assert ask(lab, ReadHoldingRegistersRequest(address=DISPLAY_MODE, count=1)).registers == [3]
    assert ask(lab, WriteSingleRegisterRequest(address=DISPLAY_MODE, registers=[9])).exception_code == 3


def test_a_writable_protected_register_changes_the_meter_error(lab_of):
    lab = lab_of("writable-protected")
    assert ask(lab, WriteSingleRegisterRequest(address=METER_FACTOR + 1, registers=[0x4240 + 20000])).function_code == 6
    assert meter_factor(lab) == [0x000F, 0x4240 + 20000]
    with lab.world.now():
        assert lab.world.component("meters").meter(1).adjustment_pct == pytest.approx(2.0)


def test_an_undocumented_function_writes_the_protected_register(lab_of):
    lab = lab_of("undocumented-function")
    assert ask(lab, WriteSingleRegisterRequest(address=METER_FACTOR, registers=[7])).exception_code == 2
    assert ask(lab, MaskWriteRegisterRequest(address=METER_FACTOR, and_mask=0, or_mask=0x0010)).function_code == 22
    assert meter_factor(lab)[0] == 0x0010


def test_a_read_past_the_planted_address_crashes_the_meter_until_it_reboots(lab_of):
    lab = lab_of("crash")
    assert ask(lab, ReadInputRegistersRequest(address=0, count=2)).function_code == 4  # below 40: fine
    assert ask(lab, ReadInputRegistersRequest(address=39, count=2)) == "dropped"
    assert ask(lab, ReadInputRegistersRequest(address=0, count=2)) == "dropped"  # down for reboot_s (5 s)
    lab.clock.sleep(6, max_real_s=5)
    assert ask(lab, ReadInputRegistersRequest(address=0, count=2)).function_code == 4


def test_a_hang_keeps_the_connection_and_stays_silent(lab_of):
    lab = lab_of("hang")
    assert ask(lab, ReadHoldingRegistersRequest(address=40, count=1)) is None
    assert ask(lab, ReadInputRegistersRequest(address=0, count=2)) is None
    lab.clock.sleep(31, max_real_s=5)
    assert ask(lab, ReadInputRegistersRequest(address=0, count=2)).function_code == 4


def test_a_flood_takes_the_interface_down_for_its_recovery_time(lab_of):
    lab = lab_of("flood")
    host, _, port = lab.resources["modbus_meter"].rpartition(":")
    link = ModbusTcpLink("modbus_meter", host, int(port), MemoryIOLog())
    for tid in range(1, 151):
        link.send(frame(ReadInputRegistersRequest(address=0, count=2), tid))
    link.receive()  # whatever it answers before it goes down: the flood has arrived
    link.close()
    assert ask(lab, ReadInputRegistersRequest(address=0, count=2)) is None
    lab.clock.sleep(61, max_real_s=5)
    assert ask(lab, ReadInputRegistersRequest(address=0, count=2)).function_code == 4


def rtu_ask(lab, frame_bytes: bytes):
    """One RTU frame over the meter's TCP socket (a transparent serial gateway): the decoded reply or None."""
    host, _, port = lab.resources["modbus_meter"].rpartition(":")
    link = ModbusTcpLink("modbus_meter", host, int(port), MemoryIOLog(), framing="rtu")
    try:
        reply = link.exchange(frame_bytes)
    finally:
        link.close()
    return None if reply is None else decode_reply(reply, "rtu")


def test_an_rtu_meter_ignores_a_bad_crc_unless_the_weakness_is_planted(lab_of):
    from meterlab.instruments.fuzz.cases import rtu_adu

    write = rtu_adu(1, bytes.fromhex("06 0002 0002"))  # display mode 2
    bad = write[:-1] + bytes((write[-1] ^ 0xFF,))
    robust = lab_of("rtu-robust")
    assert rtu_ask(robust, rtu_adu(1, bytes.fromhex("04 0004 0002"))).registers == [0x4D4C, 0x0100]  # software id
    assert rtu_ask(robust, bad) is None
    assert rtu_ask(robust, rtu_adu(1, bytes.fromhex("03 0002 0001"))).registers == [0]
    weak = lab_of("rtu-bad-crc")
    assert rtu_ask(weak, bad).function_code == 6
    assert rtu_ask(weak, rtu_adu(1, bytes.fromhex("03 0002 0001"))).registers == [2]


def mbus_ask(lab, frame_bytes: bytes) -> bytes | None:
    """One frame to the simulated M-Bus gateway (a transparent gateway on TCP): what came back, or None."""
    _, host, port, _ = lab.resources["mbus"].split("::")
    link = ModbusTcpLink("mbus", host, int(port), MemoryIOLog(), framing="mbus")
    try:
        return link.exchange(frame_bytes)
    finally:
        link.close()


@pytest.fixture
def mbus_lab_of():
    started = []

    def start(name: str):
        bench = load_bench(SIM_BENCH)
        keep = {"pump", "valves", "mbus"}
        small = Bench(bench=bench.bench, instruments={k: v for k, v in bench.instruments.items() if k in keep})
        context = running_lab(small, load_scenario(SCENARIOS / f"mbus-{name}.yaml"), clock_scale=VIRTUAL)
        started.append(context)
        return context.__enter__()

    yield start
    for context in started:
        context.__exit__(None, None, None)


def test_an_mbus_meter_ignores_a_bad_checksum_unless_the_weakness_is_planted(mbus_lab_of):
    from meterlab.instruments import mbus

    read = mbus.short_frame(0x4B, 1)
    bad = read[:3] + bytes((read[3] ^ 0x01,)) + read[4:]
    robust = mbus_lab_of("robust")
    assert mbus.decode_rsp_ud(mbus_ask(robust, read), address=1).address == 1
    assert mbus_ask(robust, bad) is None
    weak = mbus_lab_of("bad-checksum")
    assert mbus.decode_rsp_ud(mbus_ask(weak, bad), address=1).address == 1
