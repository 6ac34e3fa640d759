"""Meter-under-test readouts: M-Bus and Modbus drivers byte-exact and against the simulated lab, manual entry."""

import re
import socket
import time

import pytest
from pydantic import ValidationError

from meterlab.instruments import mbus
from meterlab.instruments.bench import Bench, InstrumentEntry, load_bench, open_instrument
from meterlab.instruments.errors import (
    ImplausibleValue,
    InstrumentConnectionError,
    InstrumentError,
    InstrumentFailure,
    InstrumentReplyError,
    InstrumentTimeout,
    InstrumentValueError,
)
from meterlab.instruments.iolog import Direction, MemoryIOLog
from meterlab.instruments.meter_readout import Context, ImplausibleReading, ManualRegister, MBusMeter, ModbusMeter
from meterlab.instruments.testing import TIMEOUT, expected_protocol
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.scenario import FaultSpec, MeterSpec, Susceptibility, load_scenario
from meterlab.sim.testing import running_lab

from .conftest import SIM_BENCH, WATER_SCENARIO

hx = bytes.fromhex
WIRING = {"addr1": "meter1", "addr2": "meter2", "addr3": "meter3"}
ACK = hx("E5")


def rsp_ud(address=1, records=None, *, access=5, status=0):
    if records is None:
        records = mbus.volume_record(12345, 0x13) + hx("0C 78 78 56 34 12")
    return mbus.encode_rsp_ud(address, identification=12345678, manufacturer="SIM", version=1, medium=7,
                              access_number=access, status=status, records=records)


GOOD = rsp_ud()


def corrupt(frame: bytes, index: int) -> bytes:
    changed = bytearray(frame)
    changed[index] ^= 0x10
    return bytes(changed)


def meter(exchanges, **options):
    return expected_protocol(MBusMeter, exchanges, options={"primary_address": 1, **options}, wiring=WIRING)


# -- M-Bus, byte-exact ----------------------------------------------------------------------------------------


def test_read_volume_resets_the_link_then_requests_class_2_data():
    with meter([(mbus.snd_nke(1), ACK), (hx("10 7B 01 7C 16"), GOOD)]) as mb:
        assert mb.read_volume_l() == 12345.0


def test_read_by_meter_name_uses_the_wired_primary_address():
    with meter([(hx("10 40 02 42 16"), ACK), (hx("10 7B 02 7D 16"), rsp_ud(2))]) as mb:
        volume_l, step_l, telegram = mb.read_volume(meter="meter2")
        assert (volume_l, step_l, telegram.identification, telegram.fabrication_number) == (
            12345.0, 1.0, "12345678", "12345678")


def test_fcb_toggles_between_reads_when_the_link_is_not_reset_each_time():
    with meter([
        (mbus.snd_nke(1), ACK),
        (mbus.req_ud2(1, fcb=True), rsp_ud(access=1)),
        (mbus.req_ud2(1, fcb=False), rsp_ud(access=2)),
        (mbus.req_ud2(1, fcb=True), rsp_ud(access=3)),
    ], reset_each_read=False) as mb:
        assert [mb.read_telegram().access_number for _ in range(3)] == [1, 2, 3]


def test_a_corrupted_telegram_is_requested_again_with_the_same_fcb():
    with meter([
        (mbus.snd_nke(1), ACK),
        (mbus.req_ud2(1, fcb=True), corrupt(GOOD, 12)),  # bad checksum, frame boundary intact
        (mbus.req_ud2(1, fcb=True), GOOD),
    ]) as mb:
        assert mb.read_volume_l() == 12345.0


def test_a_corrupted_header_is_discarded_until_the_line_is_silent_then_retried():
    with meter([
        (mbus.snd_nke(1), ACK),
        (mbus.req_ud2(1, fcb=True), corrupt(GOOD, 1)),  # the two length fields differ
        (None, TIMEOUT),  # the rest of the bad telegram was read and discarded; then silence
        (mbus.req_ud2(1, fcb=True), GOOD),
    ]) as mb:
        assert mb.read_volume_l() == 12345.0
    with meter([
        (mbus.snd_nke(1), ACK),
        (mbus.req_ud2(1, fcb=True), ACK + GOOD),  # an E5 where a RSP_UD belongs
        (None, TIMEOUT),
        (mbus.req_ud2(1, fcb=True), GOOD),
    ]) as mb:
        assert mb.read_volume_l() == 12345.0


def test_bounded_retries_then_a_reply_error_naming_instrument_command_and_fault():
    with meter([
        (mbus.snd_nke(1), ACK),
        (mbus.req_ud2(1, fcb=True), corrupt(GOOD, 20)),
        (mbus.req_ud2(1, fcb=True), corrupt(GOOD, 20)),
    ], retries=1) as mb:
        with pytest.raises(InstrumentReplyError) as info:
            mb.read_volume_l()
    exc = info.value
    assert exc.instrument == "dut" and exc.command == "REQ_UD2 to primary address 1 (FCB=1)"
    assert "bad checksum" in exc.message and "last of 2 attempt(s)" in exc.message


def test_a_short_telegram_is_a_reply_error():
    with meter([(mbus.snd_nke(1), ACK), (mbus.req_ud2(1, fcb=True), GOOD[:-5])], retries=0) as mb:
        with pytest.raises(InstrumentReplyError, match="short telegram: the header announces 33 bytes"):
            mb.read_volume_l()


def test_wrong_c_field_wrong_address_and_wrong_ack_are_reply_errors():
    wrong_c = mbus.long_frame(0x53, 1, 0x72, GOOD[7:-2])
    with meter([(mbus.snd_nke(1), ACK), (mbus.req_ud2(1, fcb=True), wrong_c)], retries=0) as mb:
        with pytest.raises(InstrumentReplyError, match="C field 0x53 is not a RSP_UD"):
            mb.read_volume_l()
    with meter([(mbus.snd_nke(1), ACK), (mbus.req_ud2(1, fcb=True), rsp_ud(7))], retries=0) as mb:
        with pytest.raises(InstrumentReplyError, match="from primary address 7, not 1"):
            mb.read_volume_l()
    with meter([(mbus.snd_nke(1), hx("A5")), (None, TIMEOUT)], retries=0) as mb:
        with pytest.raises(InstrumentReplyError, match="SND_NKE to primary address 1.*expected the acknowledgement E5, got A5"):
            mb.read_volume_l()


def test_no_answer_is_retried_then_a_timeout():
    with meter([(mbus.snd_nke(1), TIMEOUT), (mbus.snd_nke(1), TIMEOUT)], retries=1) as mb:
        with pytest.raises(InstrumentTimeout, match="SND_NKE to primary address 1.*no valid reply to 2 attempt"):
            mb.read_volume_l()


def test_application_error_and_error_status_are_instrument_errors():
    with meter([(mbus.snd_nke(1), ACK), (mbus.req_ud2(1, fcb=True), mbus.application_error(1, 8))]) as mb:
        with pytest.raises(InstrumentError, match="application error: code 8 .application too busy"):
            mb.read_volume_l()
    with meter([(mbus.snd_nke(1), ACK), (mbus.req_ud2(1, fcb=True), rsp_ud(status=0x08))]) as mb:
        with pytest.raises(InstrumentError, match="status 0x08: permanent error"):
            mb.read_volume_l()


def test_the_volume_is_looked_for_in_follow_up_telegrams_with_the_fcb_toggled():
    first = rsp_ud(records=hx("0C 78 78 56 34 12 1F"))
    second = rsp_ud(records=mbus.volume_record(424242, 0x10))
    with meter([(mbus.snd_nke(1), ACK), (mbus.req_ud2(1, fcb=True), first),
                (mbus.req_ud2(1, fcb=False), second)]) as mb:
        assert mb.read_volume_l() == 424.242


def test_a_telegram_without_volume_names_what_it_holds():
    with meter([(mbus.snd_nke(1), ACK), (mbus.req_ud2(1, fcb=True), rsp_ud(records=hx("4C 13 01 00 00 00")))]) as mb:
        with pytest.raises(InstrumentReplyError, match=r"no present volume record .* DIF 0x4C VIF 0x13 data 01 00 00 00"):
            mb.read_volume_l()


def test_addresses_and_meters_are_checked_before_anything_is_sent():
    with meter([]) as mb:
        with pytest.raises(InstrumentValueError, match="meter9"):
            mb.read_volume_l(meter="meter9")
        with pytest.raises(InstrumentValueError, match="0 .. 250"):
            mb.read_volume_l(251)
    with expected_protocol(MBusMeter, [], wiring=WIRING) as mb:  # no default address, three meters wired
        with pytest.raises(InstrumentValueError, match="give an address or a meter"):
            mb.read_volume_l()


def test_identify_and_safe_state():
    with meter([(mbus.snd_nke(1), ACK), (mbus.req_ud2(1, fcb=True), GOOD)]) as mb:
        assert mb.identify() == ("M-Bus meter at primary address 1 via dut: ID 12345678, manufacturer SIM, "
                                 "version 1, water")
        mb.safe_state()  # reads only: nothing is sent


def test_bench_wiring_is_by_primary_address():
    with pytest.raises(ValidationError, match="terminal 'addr251' does not exist"):
        InstrumentEntry.model_validate({"driver": "mbus_gateway", "role": "mut_mbus_gateway", "sim": True,
                                        "wiring": {"addr251": "meter1"}})
    with pytest.raises(ValidationError, match="retries"):
        InstrumentEntry.model_validate({"driver": "mbus_gateway", "role": "mut_mbus_gateway", "sim": True,
                                        "options": {"retries": 50}})


# -- Modbus meter, byte-exact -----------------------------------------------------------------------------------


def test_modbus_uint32_millilitres_and_serial():
    with expected_protocol(ModbusMeter, [
        (hx("04 0000 0002"), hx("04 04 0001 E240")),
        (hx("04 0002 0002"), hx("04 04 00BC 614E")),
    ], options={"model": "generic_uint32_ml"}) as mm:
        assert mm.read_volume_l() == 123.456
        assert mm.serial_number() == "12345678"
        assert mm.volume_resolution_l == 0.001


def test_modbus_float32_cubic_metres_word_swapped_and_ascii_serial():
    with expected_protocol(ModbusMeter, [
        (hx("03 0064 0002"), hx("03 04 851F 4145")),  # 12.345 m³ as float32 0x4145851F, low word first
        (hx("03 006E 0008"), hx("03 10") + b"MB-12345678".ljust(16, b"\0")),
        (hx("03 0064 0002"), hx("03 04 0000 7FC0")),  # NaN
    ], options={"model": "generic_float32_m3"}) as mm:
        assert mm.read_volume_l() == 12345.0
        assert mm.identify().endswith("S/N MB-12345678")
        with pytest.raises(ImplausibleValue, match="got the totaliser register = nan; expected a finite number"):
            mm.read_volume_l()


def test_modbus_exception_and_unknown_model():
    with expected_protocol(ModbusMeter, [(hx("04 0000 0002"), hx("84 02"))]) as mm:
        with pytest.raises(InstrumentError, match="illegal address"):
            mm.read_volume_l()
    with pytest.raises(ValidationError, match="unknown Modbus meter model 'acme'"):
        InstrumentEntry.model_validate({"driver": "modbus_meter", "role": "mut_modbus", "sim": True,
                                        "options": {"model": "acme"}})


# -- manual entry ---------------------------------------------------------------------------------------------


class Operator:
    """A scripted operator: types the given answers, remembers the prompts."""

    def __init__(self, *answers):
        self.answers, self.prompts = list(answers), []

    def __call__(self, prompt):
        self.prompts.append(prompt)
        return self.answers.pop(0)


def test_manual_reading_accepted():
    operator = Operator(" 123.45 ")
    register = ManualRegister(operator, meter="meter1", scale_interval_l=0.05)
    assert register.read_volume_l() == 123.45
    assert operator.prompts == ["Read the register of meter1 (L) and type it in:"]


def test_manual_reading_in_cubic_metres_with_a_decimal_comma():
    register = ManualRegister(Operator("0,12345"), meter="meter1", scale_interval_l=0.05, entry_unit="m3")
    assert register.read_volume_l() == 123.45


@pytest.mark.parametrize("typed, context, reason", [
    ("-5", Context(), "cannot be negative"),
    ("12a", Context(), "not a number"),
    ("1,234.5", Context(), "not a number"),
    ("", Context(), "not a number"),
    ("123.47", Context(), "not a whole number of scale intervals \\(0.05 L\\)"),
    ("99.95", Context(previous_l=100.0), "lower than the previous reading 100 L"),
    ("137.6", Context(previous_l=100.0, elapsed_s=60, flowrate_m3h=1.5),
     "37.6 L since the previous reading 100 L is more than 1.5 m³/h can carry in 60 s \\(25 L, at most 37.55 L"),
])
def test_implausible_readings_are_refused_and_asked_again(typed, context, reason):
    operator = Operator(typed, "137.5")
    register = ManualRegister(operator, meter="meter1", scale_interval_l=0.05)
    assert register.read_volume_l(previous_l=context.previous_l, elapsed_s=context.elapsed_s,
                                  flowrate_m3h=context.flowrate_m3h) == 137.5
    assert len(operator.prompts) == 2
    assert re.search(reason, operator.prompts[1]), operator.prompts[1]


def test_float_intervals_are_checked_exactly():
    register = ManualRegister(Operator(), meter="m", scale_interval_l=0.1)
    assert register.check("0.3") == 0.3  # 0.3 / 0.1 is 2.9999999999999996 in floats
    assert register.check("100.2", Context(previous_l=100.1, elapsed_s=1, flowrate_m3h=0.0)) == 100.2  # one interval


def test_refused_too_often_raises_with_every_reason():
    register = ManualRegister(Operator("-1", "abc", "1.23"), meter="meter2", scale_interval_l=0.5, max_attempts=3)
    with pytest.raises(ImplausibleReading) as info:
        register.read_volume_l(prompt="Register of meter2?")
    assert len(info.value.reasons) == 3
    assert "meter2" in str(info.value) and "negative" in str(info.value) and "scale intervals" in str(info.value)


def test_manual_register_declaration_is_checked():
    with pytest.raises(ValueError, match="scale_interval_l"):
        ManualRegister(Operator(), meter="m", scale_interval_l=0)
    with pytest.raises(ValueError, match="safety_factor"):
        ManualRegister(Operator(), meter="m", scale_interval_l=1, safety_factor=0.5)


# -- against the simulated lab --------------------------------------------------------------------------------

TIMEOUT_S = 0.3
SLACK_S = 0.6


def scenario():
    """The test scenario, with a third meter (int32 telegrams) and telegram susceptibilities on meter 2."""
    base = load_scenario(WATER_SCENARIO)
    meter2 = base.meters[1].model_copy(update={"susceptibility": {
        "burst": Susceptibility(effect="corrupt_telegrams", corrupt_fraction=1.0),
        "surge": Susceptibility(effect="corrupt_telegrams", corrupt_fraction=0.3),
    }})
    meter3 = MeterSpec(serial="MB-87654321", error_curve=[[0.1, 0.0]], pulse_value_l=0.1,
                       register_resolution_l=0.1, initial_register_l=1000.0)
    devices = {**base.devices, "mbus": {"by_address": {3: {"volume_format": "int32", "version": 2}}}}
    return base.model_copy(update={"meters": [base.meters[0], meter2, meter3], "devices": devices})


@pytest.fixture(scope="module")
def lab():
    """sim.yaml's flow instruments and meter readouts, on virtual time, over the scenario above."""
    bench = load_bench(SIM_BENCH)
    keep = {"pump", "valves", "mbus", "modbus_meter"}
    small = Bench(bench=bench.bench, instruments={k: v for k, v in bench.instruments.items() if k in keep})
    with running_lab(small, scenario(), clock_scale=VIRTUAL) as lab:
        yield lab


@pytest.fixture
def connect(lab):
    """A fresh driver with a short timeout and the given options; faults and disturbances cleared after."""
    opened = []

    def open_(name, **options):
        entry = lab.bench.instruments[name]
        entry = entry.model_copy(update={"timeout_s": TIMEOUT_S, "options": {**entry.options, **options}})
        log = MemoryIOLog()
        instrument = open_instrument(name, entry, log, lab.resources[name])
        opened.append(instrument)
        return instrument, log

    yield open_
    lab.clear_faults()
    with lab.world.now():
        for position in (1, 2, 3):
            for kind in ("burst", "surge"):
                lab.world.component("meters").disturb(position, kind, False)
    for instrument in opened:
        instrument.close()


def disturb(lab, position, kind):
    with lab.world.now():
        lab.world.component("meters").disturb(position, kind, True)


def writes(log):
    return [e.data for e in log.entries() if e.direction is Direction.WRITE]


@pytest.fixture(scope="module")
def flowed(lab, rig):
    """Let water flow for a simulated minute, then stop it: the registers stand still."""
    rig["valves"].open_start_valve()
    rig["pump"].run(75)
    lab.clock.sleep(60, max_real_s=3)
    rig.safe_state()
    lab.clock.sleep(60, max_real_s=3)
    return lab.world.component("water_rig").total_volume_l


def test_mbus_reads_each_meters_register_after_flow(lab, rig, flowed):
    gateway = rig.by_role("mut_mbus_gateway")
    assert flowed > 50
    for position, resolution_l in ((1, 0.001), (2, 0.01), (3, 0.1)):
        volume_l, step_l, telegram = gateway.read_volume(meter=f"meter{position}")
        register_l = lab.world.read(f"meter{position}.register_l")
        assert volume_l == pytest.approx(register_l, abs=1e-9)
        assert step_l == pytest.approx(resolution_l)
        assert telegram.address == position
    assert gateway.read_volume_l() == pytest.approx(lab.world.read("meter1.register_l"), abs=1e-9)  # default
    assert gateway.read_volume_l(meter="meter1") == pytest.approx(flowed, rel=0.02)  # meter1's error is < 1 %
    assert gateway.read_volume_l(3) == pytest.approx(1000 + flowed, abs=0.2)
    telegram = gateway.read_telegram(3)
    assert (telegram.identification, telegram.fabrication_number, telegram.version) == ("87654321", "87654321", 2)
    assert telegram.records[2].dif == mbus.DIF_INT32
    assert gateway.identify().startswith("M-Bus meter at primary address 1 via mbus: ID 00000001")


def test_modbus_meter_reads_its_register_after_flow(lab, rig, flowed):
    modbus_meter = rig.by_role("mut_modbus")
    assert modbus_meter.read_volume_l() == pytest.approx(lab.world.read("meter1.register_l"), abs=1e-9)
    assert modbus_meter.serial_number() == "1"  # digits of EXACT-1
    # the volume of the generic_uint32_ml table is in input registers; holding 0-2 and input 4-5 are the smart
    # meter's meter factor, display mode and software identification (what a fuzz campaign reads), input 6 its
    # status flags (none raised here), nothing beyond
    with pytest.raises(InstrumentError, match="illegal address"):
        modbus_meter.transport.read_holding_registers(3, 2)
    assert modbus_meter.transport.read_input_registers(6, 1) == [0]
    with pytest.raises(InstrumentError, match="illegal address"):
        modbus_meter.transport.read_input_registers(7, 1)
    with pytest.raises(InstrumentError, match="illegal function"):
        modbus_meter.transport.read_coils(0)


def test_the_gateway_keeps_the_fcb_and_stays_silent_on_bad_frames(lab, flowed):
    host, port = lab.resources["mbus"].split("::")[1:3]
    with socket.create_connection((host, int(port)), timeout=1.0) as sock:
        def exchange(frame, expect=None):
            sock.sendall(frame)
            sock.settimeout(0.15 if expect is None else 1.0)
            data = b""
            try:
                while expect is None or len(data) < expect:
                    chunk = sock.recv(512)
                    if not chunk:
                        break
                    data += chunk
            except TimeoutError:
                pass
            return data

        assert exchange(mbus.snd_nke(2), 1) == ACK
        first = exchange(mbus.req_ud2(2, fcb=True), 5)
        first += exchange(b"", first[1] + 6 - len(first)) if len(first) < first[1] + 6 else b""
        size = len(first)
        again = exchange(mbus.req_ud2(2, fcb=True), size)
        assert again == first  # FCB not toggled: the meter repeats its telegram
        following = mbus.decode_rsp_ud(exchange(mbus.req_ud2(2, fcb=False), size), address=2)
        assert following.access_number == mbus.decode_rsp_ud(first).access_number + 1
        bad = bytearray(mbus.req_ud2(2, fcb=True))
        bad[3] ^= 1
        assert exchange(bytes(bad)) == b""  # bad checksum: silence
        assert exchange(mbus.snd_nke(9)) == b""  # nobody at address 9
        assert exchange(mbus.snd_nke(2), 1) == ACK  # still serving


def test_telegrams_corrupted_while_disturbed_are_retried_then_raised(lab, connect, flowed):
    gateway, log = connect("mbus", retries=2)
    disturb(lab, 2, "burst")  # corrupt_fraction 1.0: every telegram is bad
    start = time.monotonic()
    with pytest.raises(InstrumentReplyError) as info:
        gateway.read_volume_l(meter="meter2")
    assert time.monotonic() - start < 3 * TIMEOUT_S + SLACK_S
    assert info.value.instrument == "mbus" and info.value.command == "REQ_UD2 to primary address 2 (FCB=1)"
    assert "last of 3 attempt(s)" in info.value.message
    assert writes(log).count(mbus.req_ud2(2, fcb=True)) == 3
    assert gateway.read_volume_l(meter="meter1") == pytest.approx(lab.world.read("meter1.register_l"), abs=1e-9)


def test_some_corrupted_telegrams_are_recovered_by_retries(lab, connect, flowed):
    gateway, log = connect("mbus", retries=8)
    disturb(lab, 2, "surge")  # corrupt_fraction 0.3
    register_l = lab.world.read("meter2.register_l")
    readings = [gateway.read_volume_l(meter="meter2") for _ in range(20)]
    assert readings == [pytest.approx(register_l, abs=1e-9)] * 20
    assert len([e for e in log.entries() if e.direction is Direction.ERROR]) >= 1  # some were bad, and logged
    assert len(writes(log)) > 40  # 20 x (SND_NKE + REQ_UD2) and the repeats


@pytest.mark.parametrize("kind, message, expected", [
    ("no_answer", None, InstrumentTimeout),
    ("garbage", None, InstrumentReplyError),
    ("error", "8", InstrumentError),
])
def test_comm_faults_surface_within_the_timeout(lab, connect, flowed, kind, message, expected):
    gateway, log = connect("mbus", retries=1)
    lab.inject(FaultSpec(kind=kind, instrument="mbus", at_s=lab.clock.now(), message=message))
    start = time.monotonic()
    with pytest.raises(InstrumentFailure) as info:
        gateway.read_volume_l()
    assert time.monotonic() - start < 2 * TIMEOUT_S + SLACK_S
    assert isinstance(info.value, expected) and info.value.instrument == "mbus" and info.value.command
    if kind == "error":
        assert "application error: code 8" in str(info.value)
    assert log.entries()[-1].direction is Direction.ERROR


def test_a_dropped_connection_is_raised_at_once_and_reconnect_works(lab, connect, flowed):
    gateway, _ = connect("mbus")
    lab.inject(FaultSpec(kind="drop_connection", instrument="mbus", at_s=lab.clock.now()))
    start = time.monotonic()
    with pytest.raises(InstrumentConnectionError):
        gateway.read_volume_l()
    assert time.monotonic() - start < TIMEOUT_S + SLACK_S
    lab.clear_faults()
    gateway.transport.reconnect()
    assert gateway.read_volume_l() == pytest.approx(lab.world.read("meter1.register_l"), abs=1e-9)


def test_modbus_meter_faults_surface_within_the_timeout(lab, connect, flowed):
    modbus_meter, _ = connect("modbus_meter")
    lab.inject(FaultSpec(kind="no_answer", instrument="modbus_meter", at_s=lab.clock.now()))
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout):
        modbus_meter.read_volume_l()
    assert time.monotonic() - start < TIMEOUT_S + SLACK_S
    lab.clear_faults()
    lab.inject(FaultSpec(kind="error", instrument="modbus_meter", at_s=lab.clock.now()))
    with pytest.raises(InstrumentError, match="device failure"):
        modbus_meter.read_volume_l()


def test_an_address_without_a_meter_is_a_timeout(connect, flowed):
    gateway, _ = connect("mbus", retries=0)
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout, match="SND_NKE to primary address 7"):
        gateway.read_volume_l(7)
    assert time.monotonic() - start < TIMEOUT_S + SLACK_S


@pytest.fixture(scope="module")
def rig(lab):
    with lab.open_bench(MemoryIOLog()) as bench:
        yield bench
