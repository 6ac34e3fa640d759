"""Climate chambers: ESPEC (ASCII, CRLF) and Watlow F4 (Modbus) byte-exact, then against the simulated lab
through real sockets: setpoints reached, ramps, the chamber_alarm fault, error paths, safe state, comm faults."""

import time

import pytest

from meterlab.instruments.bench import Bench, load_bench, open_instrument
from meterlab.instruments.chamber import ChamberStatus, EspecChamber, WatlowF4Chamber
from meterlab.instruments.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentReplyError,
    InstrumentTimeout,
    InstrumentValueError,
)
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.instruments.testing import TIMEOUT, expected_protocol
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.scenario import FaultSpec, load_scenario
from meterlab.sim.testing import raised_within, running_lab, wait_for

from .conftest import SIM_BENCH, WATER_SCENARIO

hx = bytes.fromhex
FAULT_TIMEOUT_S, SLACK_S = 0.4, 0.6
WATLOW = {"condition_event": 1, "humidity_event": 2, "ramp_profile": 40}


def rd(address, *values):
    """FC03 read of len(values) registers at `address`: (request PDU, response PDU)."""
    data = b"".join((v & 0xFFFF).to_bytes(2, "big") for v in values)
    return bytes([3]) + address.to_bytes(2, "big") + len(values).to_bytes(2, "big"), bytes([3, len(data)]) + data


def wr(address, value):
    """FC06 write of one register, echoed."""
    pdu = bytes([6]) + address.to_bytes(2, "big") + (value & 0xFFFF).to_bytes(2, "big")
    return pdu, pdu


# =========================================================================================================
# ESPEC, byte-exact
# =========================================================================================================


def test_espec_set_climate_sends_setpoints_then_constant_and_checks_each_acknowledgement():
    with expected_protocol(EspecChamber, [
        (b"TEMP, S40.0", b"OK:TEMP, S40.0"),
        (b"HUMI, S93", b"OK:HUMI, S93"),
        (b"MODE, CONSTANT", b"OK:MODE, CONSTANT"),
        (b"TEMP, S-10.0", b"OK:TEMP, S-10.0"),
        (b"HUMI, SOFF", b"OK:HUMI, SOFF"),
        (b"MODE, CONSTANT", b"OK:MODE, CONSTANT"),
    ]) as chamber:
        chamber.set_climate(40, 93)
        chamber.set_climate(-10)  # humidity None: humidity control off


def test_espec_without_humidity_sends_no_humidity_command():
    with expected_protocol(EspecChamber, [
        (b"TEMP, S55.0", b"OK:TEMP, S55.0"),
        (b"MODE, CONSTANT", b"OK:MODE, CONSTANT"),
        (b"MON?", b"55.1,,CONSTANT,0"),
        (b"TEMP?", b"55.1,55.0,150.0,-40.0"),
    ], options={"humidity": False}) as chamber:
        chamber.set_climate(55)
        assert chamber.read() == (55.1, None)
        assert chamber.setpoint() == (55.0, None)


@pytest.mark.parametrize("target, ramp, humidity, program", [
    (40.0, 1.0, 50, b"RUN PRGM, TEMP23.0 TIME0:17 GOTEMP40.0 HUMI50"),
    (40.0, 3.0, None, b"RUN PRGM, TEMP23.0 TIME0:6 GOTEMP40.0"),  # 5.7 min rounded up: never faster
    (-40.0, 0.5, None, b"RUN PRGM, TEMP23.0 TIME2:6 GOTEMP-40.0"),
])
def test_espec_ramp_runs_a_single_step_remote_program_from_the_present_temperature(target, ramp, humidity, program):
    humi = b"HUMI, SOFF" if humidity is None else b"HUMI, S%d" % humidity
    temp = b"TEMP, S%.1f" % target
    with expected_protocol(EspecChamber, [
        (b"TEMP?", b"23.0,23.0,150.0,-40.0"),
        (program, b"OK:" + program),
        (temp, b"OK:" + temp),  # the constant setpoints too: CONSTANT later means the same climate
        (humi, b"OK:" + humi),
    ]) as chamber:
        chamber.set_climate(target, humidity, ramp_c_per_min=ramp)


def test_espec_a_ramp_longer_than_one_program_step_is_refused_before_any_setting():
    with expected_protocol(EspecChamber, [(b"TEMP?", b"-40.0,-40.0,150.0,-40.0")],
                           options={"max_ramp_c_per_min": 5}) as chamber:
        with pytest.raises(InstrumentValueError, match="more than one program step holds"):
            chamber.set_climate(150, ramp_c_per_min=0.01)


def test_espec_process_values_setpoints_limits_and_status():
    with expected_protocol(EspecChamber, [
        (b"MON?", b"23.1,45,STANDBY,0"),
        (b"TEMP?", b"23.1,40.0,150.0,-40.0"),
        (b"HUMI?", b"45,OFF,100,0"),
        (b"TEMP?", b"23.1,40.0,80.0,-20.0"),
        (b"HUMI?", b"46,93,100,0"),
        (b"TEMP, H90.0", b"OK:TEMP, H90.0"),
        (b"TEMP, L-30.0", b"OK:TEMP, L-30.0"),
        (b"MON?", b"-9.8,,CONSTANT,0"),
    ]) as chamber:
        assert chamber.read() == (23.1, 45.0)
        assert chamber.setpoint() == (40.0, None)
        assert chamber.temperature_limits_c() == (-20.0, 80.0)
        assert chamber.humidity_pct == 46.0
        chamber.set_temperature_limits(-30, 90)
        assert chamber.status() == ChamberStatus(-9.8, None, "constant", None)


def test_espec_mode_both_ways():
    with expected_protocol(EspecChamber, [
        (b"MODE?", b"STANDBY"),
        (b"MODE?", b"RUN"),
        (b"MODE, OFF", b"OK:MODE, OFF"),
        (b"MODE?", b"OFF"),
    ]) as chamber:
        assert chamber.mode == "standby"
        assert chamber.mode == "program"
        chamber.mode = "off"
        assert chamber.mode == "off"


def test_espec_alarms_as_codes_text_and_the_polled_flag():
    with expected_protocol(EspecChamber, [
        (b"ALARM?", b"0"),
        (b"ALARM?", b"0"),
        (b"ALARM?", b"2,12,31"),
        (b"ALARM?", b"1,12"),
        (b"MON?", b"80.3,20,CONSTANT,1"),
        (b"ALARM?", b"1,12"),
    ]) as chamber:
        assert chamber.alarm() is None
        assert chamber.alarm_active is False
        assert chamber.alarm() == "ESPEC alarm codes 12, 31"
        assert chamber.alarm_active is True
        assert chamber.status().alarm == "ESPEC alarm code 12"


@pytest.mark.parametrize("reply", [b"NA:CMD ERR", b"NA:DATA OUT OF RANGE", b"NA:PROTECT ON"])
def test_espec_na_replies_are_instrument_errors_naming_instrument_and_command(reply):
    with expected_protocol(EspecChamber, [(b"TEMP, S40.0", reply)], name="chamber") as chamber:
        with pytest.raises(InstrumentError, match=rf"chamber during 'TEMP, S40.0'.*{reply.decode()}") as info:
            chamber.temperature_setpoint_c = 40
    assert info.value.instrument == "chamber" and info.value.command == "TEMP, S40.0"


@pytest.mark.parametrize("command, reply, call", [
    (b"TEMP, S40.0", b"23.0,40.0,150.0,-40.0", lambda c: setattr(c, "temperature_setpoint_c", 40)),  # not OK:
    (b"TEMP?", b"23.0,40.0", lambda c: c.temperature_c),
    (b"TEMP?", b"hot,40.0,150.0,-40.0", lambda c: c.temperature_c),
    (b"MODE?", b"DANCING", lambda c: c.mode),
    (b"ALARM?", b"2,12", lambda c: c.alarm()),
    (b"MON?", b"23.0,45,CONSTANT,x", lambda c: c.read()),
])
def test_espec_replies_it_cannot_understand(command, reply, call):
    with expected_protocol(EspecChamber, [(command, reply)]) as chamber:
        with pytest.raises(InstrumentReplyError):
            call(chamber)


@pytest.mark.parametrize("call, field", [
    (lambda c: c.set_climate(151), "temperature_c"),
    (lambda c: c.set_climate(-41), "temperature_c"),
    (lambda c: c.set_climate(20, 99), "humidity_pct"),
    (lambda c: c.set_climate(20, 10), "humidity_pct"),
    (lambda c: c.set_climate(20, ramp_c_per_min=0), "ramp_c_per_min"),
    (lambda c: c.set_climate(20, ramp_c_per_min=6), "ramp_c_per_min"),
    (lambda c: c.set_climate("20"), "temperature_c"),
    (lambda c: setattr(c, "temperature_setpoint_c", 200), "temperature_setpoint_c"),
    (lambda c: setattr(c, "humidity_setpoint_pct", 100), "humidity_setpoint_pct"),
    (lambda c: setattr(c, "mode", "run"), "mode"),
    (lambda c: c.set_temperature_limits(50, 40), "low_c"),
])
def test_espec_values_out_of_range_are_refused_before_anything_is_sent(call, field):
    with expected_protocol(EspecChamber, [], options={"max_ramp_c_per_min": 5}) as chamber:
        with pytest.raises(InstrumentValueError, match=rf"dut\.{field}.*nothing was sent"):
            call(chamber)


def test_espec_humidity_on_a_chamber_without_humidity_is_refused():
    with expected_protocol(EspecChamber, [], options={"humidity": False}) as chamber:
        with pytest.raises(InstrumentValueError, match="no humidity control"):
            chamber.set_climate(30, 50)


def test_espec_safe_state_is_standby_and_identify():
    with expected_protocol(EspecChamber, [
        (b"MODE, STANDBY", b"OK:MODE, STANDBY"),
        (b"ROM?", b"P-300 Ver 1.20"),
        (b"TYPE?", b"T,W,P300,150.0"),
        (b"MODE, STANDBY", TIMEOUT),
    ]) as chamber:
        chamber.safe_state()
        assert chamber.identify() == "ESPEC P-300 Ver 1.20 (type T,W,P300,150.0)"
        with pytest.raises(InstrumentTimeout):
            chamber.standby()


# =========================================================================================================
# Watlow F4, byte-exact (Modbus PDUs through a real pymodbus client)
# =========================================================================================================


def test_watlow_set_climate_writes_scaled_static_setpoints_and_the_events():
    with expected_protocol(WatlowF4Chamber, [
        rd(606, 1),  # decimal point of input 1: tenths
        rd(616, 1),
        (hx("06 04c1 0001"), hx("06 04c1 0001")),  # terminate any profile
        (hx("06 012c 0190"), hx("06 012c 0190")),  # 300 = 40.0 °C
        (hx("06 013f 01f4"), hx("06 013f 01f4")),  # 319 = 50.0 %
        wr(2010, 1),  # humidity loop on (event 2)
        wr(2000, 1),  # conditioning on (event 1)
        wr(1217, 1),  # the decimals are read once
        wr(300, -205),  # -20.5 °C, two's complement 0xff33
        wr(2010, 0),  # humidity None: loop off
        wr(2000, 1),
    ], options=WATLOW) as chamber:
        chamber.set_climate(40, 50)
        chamber.set_climate(-20.5)


def test_watlow_ramp_writes_the_reserved_profile_and_starts_it():
    with expected_protocol(WatlowF4Chamber, [
        rd(606, 1), rd(616, 1),
        wr(1217, 1),
        wr(4000, 40), wr(4001, 1), wr(4003, 2), wr(4043, 10), wr(4044, 600), wr(4045, 300),  # ramp 1.0/min
        wr(4001, 2), wr(4003, 5), wr(4060, 0),  # end step: hold
        wr(4000, 40), wr(4001, 1), wr(4002, 5),  # start at step 1
        wr(300, 600), wr(319, 300), wr(2010, 1), wr(2000, 1),
    ], options=WATLOW) as chamber:
        chamber.set_climate(60, 30, ramp_c_per_min=1.0)


def test_watlow_process_values_and_setpoints_static_and_in_a_profile():
    with expected_protocol(WatlowF4Chamber, [
        rd(606, 1), rd(100, -123),  # -12.3 °C
        rd(616, 1), rd(104, 456),
        rd(200, 0), rd(300, 400), rd(2010, 1), rd(319, 500),
        rd(200, 2), rd(4122, 312), rd(2010, 0),  # a profile runs; humidity loop off
    ], options=WATLOW) as chamber:
        assert chamber.read() == (-12.3, 45.6)
        assert chamber.setpoint() == (40.0, 50.0)
        assert chamber.setpoint() == (31.2, None)


def test_watlow_mode_alarm_and_identify():
    with expected_protocol(WatlowF4Chamber, [
        rd(200, 0), rd(2000, 1),
        rd(200, 0), rd(2000, 0),
        rd(200, 2),
        rd(102, 0), rd(106, 0),
        rd(102, 2), rd(106, 0),
        rd(606, 1), rd(602, -400, 1500),
    ], options=WATLOW) as chamber:
        assert chamber.mode == "constant"
        assert chamber.mode == "standby"
        assert chamber.mode == "program"
        assert chamber.alarm_active is False
        assert chamber.alarm() == "alarm 1 high (status 2)"
        assert chamber.identify().endswith("input 1 range -40 .. 150")


def test_watlow_safe_state_with_and_without_a_condition_event():
    with expected_protocol(WatlowF4Chamber, [wr(1217, 1), wr(2000, 0)], options=WATLOW) as chamber:
        chamber.safe_state()
    with expected_protocol(WatlowF4Chamber, [wr(1217, 1), rd(606, 1), wr(300, 230)],
                           options={"idle_temperature_c": 23.0}) as chamber:
        chamber.safe_state()
    with expected_protocol(WatlowF4Chamber, [wr(1217, 1)]) as chamber:
        chamber.safe_state()


@pytest.mark.parametrize("call, match", [
    (lambda c: c.set_climate(20, ramp_c_per_min=1), "set options.ramp_profile"),
    (lambda c: c.set_climate(160), r"-40 \.\. 150"),
    (lambda c: c.set_climate(20, 100), r"20 \.\. 98"),
    (lambda c: setattr(c, "mode", "off"), "'constant', 'standby'"),
])
def test_watlow_refuses_before_anything_is_sent(call, match):
    with expected_protocol(WatlowF4Chamber, []) as chamber:
        with pytest.raises(InstrumentValueError, match=match):
            call(chamber)


def test_watlow_exception_response_and_a_bad_decimal_setting():
    with expected_protocol(WatlowF4Chamber, [rd(606, 1), (hx("03 0064 0001"), hx("83 02"))], name="chamber") as chamber:
        with pytest.raises(InstrumentError, match=r"chamber during 'read holding 100\+1.*illegal address"):
            chamber.read()
    with expected_protocol(WatlowF4Chamber, [rd(606, 7)]) as chamber:
        with pytest.raises(InstrumentReplyError, match="decimal point setting 7"):
            chamber.set_climate(20)


# =========================================================================================================
# Against the simulated lab
# =========================================================================================================


def small_lab(name, entry, clock_scale):
    bench = Bench.model_validate({"bench": f"{name}-only", "instruments": {name: entry}})
    return running_lab(bench, load_scenario(WATER_SCENARIO), clock_scale=clock_scale)


def connect(lab, name, timeout_s=None):
    entry = lab.bench.instruments[name]
    if timeout_s is not None:
        entry = entry.model_copy(update={"timeout_s": timeout_s})
    return open_instrument(name, entry, MemoryIOLog(), lab.resources[name])


@pytest.fixture(scope="module")
def fast_espec():
    """The default bench's ESPEC chamber alone, on virtual time: simulated hours in real milliseconds, exact."""
    entry = load_bench(SIM_BENCH).instruments["chamber"].model_dump()
    with small_lab("chamber", entry, VIRTUAL) as lab, connect(lab, "chamber") as chamber:
        yield lab, chamber


@pytest.fixture(scope="module")
def watlow():
    entry = {"driver": "watlow_f4", "role": "climate_chamber", "sim": True, "options": WATLOW,
             "wiring": {"air": "chamber"}}
    with small_lab("chamber_modbus", entry, VIRTUAL) as lab, connect(lab, "chamber_modbus") as chamber:
        yield lab, chamber


@pytest.fixture(scope="module")
def espec(lab):
    """The ESPEC chamber of the default bench (conftest's lab at 1000x), through pyvisa-py."""
    with connect(lab, "chamber") as chamber:
        yield chamber


def settles(lab, chamber, temperature_c, humidity_pct=None, *, within_c=0.1, within_pct=1.0):
    """The chamber reaches the climate within 12 simulated hours, read every 10 s (on the lab's virtual clock)."""
    def there():
        temperature, humidity = chamber.read()
        return abs(temperature - temperature_c) <= within_c and (
            humidity_pct is None or abs(humidity - humidity_pct) <= within_pct)
    return lab.clock.wait_until(there, timeout_sim_s=12 * 3600, poll_sim_s=10)


def test_espec_chamber_reaches_its_setpoint_and_the_meter_follows(fast_espec):
    lab, chamber = fast_espec
    started_s = lab.clock.now()
    chamber.set_climate(55, 85)
    assert chamber.mode == "constant" and chamber.setpoint() == (55.0, 85.0)
    assert settles(lab, chamber, 55, 85)
    # 32 K at 3 K/min less 9 K of exponential tail: at least ~7 min; the lab must not jump there
    assert lab.clock.now() - started_s > 400
    assert lab.clock.wait_until(lambda: abs(lab.world.read("meter.ambient_c") - 55) < 0.1, timeout_sim_s=24 * 3600,
                                poll_sim_s=60)  # lags behind
    assert lab.world.read("chamber.temperature_c") == pytest.approx(55, abs=1e-3)
    assert chamber.read() == (55.0, 85.0)
    chamber.safe_state()
    assert chamber.mode == "standby"


def test_espec_ramp_moves_the_program_setpoint_at_the_rate_and_the_air_follows(fast_espec):
    lab, chamber = fast_espec
    chamber.set_climate(23, None)
    assert settles(lab, chamber, 23)
    before_s = lab.clock.now()
    chamber.set_climate(35, None, ramp_c_per_min=2.0)  # 12 K at 2 K/min: TIME0:6
    after_s = lab.clock.now()  # the program started between before_s and after_s
    assert chamber.mode == "program"
    lab.clock.sleep(180, max_real_s=2)
    asked_s = lab.clock.now()
    reply = chamber.transport.query("TEMP?")  # process value and program setpoint at the same instant
    answered_s = lab.clock.now()
    pv, sp = (float(x) for x in reply.split(",")[:2])
    assert 23 + 2 * (asked_s - after_s) / 60 - 0.1 <= sp <= 23 + 2 * (answered_s - before_s) / 60 + 0.1
    assert 23 + 3 < sp < 35 - 3 and abs(pv - sp) < 0.5  # midway, and the air tracks the program
    assert settles(lab, chamber, 35)
    assert chamber.setpoint()[0] == 35.0 and chamber.transport.query("MODE?,DETAIL") == "RMT RUN END HOLD"
    chamber.safe_state()


def test_espec_server_error_paths_unknown_command_bad_values_unchanged(espec):
    assert espec.transport.query("TEMP, S23.5") == "OK:TEMP, S23.5"
    assert espec.transport.query("FAN, ON") == "NA:CMD ERR"
    with pytest.raises(InstrumentError, match=r"chamber during 'FAN\?'.*NA:CMD ERR"):
        espec.ask("FAN?")
    assert espec.transport.query("TEMP, S180.0") == "NA:DATA OUT OF RANGE"  # bypassing the driver's check
    assert espec.transport.query("TEMP, S30.0 H200.0") == "NA:DATA OUT OF RANGE"  # all or nothing
    assert espec.transport.query("TEMP, Sabc") == "NA:PARA ERR"
    assert espec.temperature_setpoint_c == 23.5
    espec.humidity_setpoint_pct = 60
    assert espec.transport.query("HUMI, S120") == "NA:DATA OUT OF RANGE"
    assert espec.transport.query("MODE, DANCE") == "NA:PARA ERR"
    assert espec.humidity_setpoint_pct == 60 and espec.mode == "standby"
    assert espec.transport.query("PRGM, END, STANDBY") == "NA:CONT NOT READY-1"  # no program runs


def test_espec_safe_state_is_standby(lab, espec):
    espec.set_climate(30, 50)
    assert espec.mode == "constant" and lab.world.read("chamber.running") is True
    espec.safe_state()
    assert espec.mode == "standby" and lab.world.read("chamber.running") is False
    espec.safe_state()  # idempotent
    assert espec.mode == "standby"


def test_espec_chamber_alarm_fault_surfaces_through_the_alarm_api(lab, espec):
    try:
        assert espec.alarm() is None and not espec.alarm_active
        lab.inject(FaultSpec(kind="chamber_alarm", at_s=lab.clock.now(), message="12"))
        assert wait_for(lambda: espec.alarm_active, timeout_real_s=2)
        assert espec.alarm() == "ESPEC alarm code 12"
        assert espec.status().alarm == "ESPEC alarm code 12"
        lab.world.write("chamber.alarm", 0)  # the operator resets it at the chamber
        assert espec.alarm() is None
        lab.inject(FaultSpec(kind="chamber_alarm", at_s=lab.clock.now(), duration_s=600))
        assert wait_for(lambda: espec.alarm_active, timeout_real_s=2)
        assert espec.alarm_codes() == [1]  # the scenario's default code
        lab.clock.sleep(599)
        assert espec.alarm_active
        lab.clock.sleep(1)
        assert not espec.alarm_active
    finally:
        lab.world.write("chamber.alarm", 0)


def test_espec_replies_come_after_the_controllers_latency_scaled_by_the_clock():
    entry = load_bench(SIM_BENCH).instruments["chamber"].model_dump()
    with small_lab("chamber", entry, 5) as lab, connect(lab, "chamber") as chamber:  # 0.5 s -> 0.1 s real
        start = time.monotonic()
        chamber.temperature_setpoint_c = 25
        setting_s = time.monotonic() - start
        start = time.monotonic()
        chamber.temperature_c
        query_s = time.monotonic() - start
    assert 0.09 <= setting_s < 0.09 + SLACK_S
    assert 0.035 <= query_s < 0.035 + SLACK_S


def test_watlow_chamber_reaches_its_setpoints_and_the_profile_ramp_runs(watlow):
    lab, chamber = watlow
    assert chamber.mode == "standby" and "range -40 .. 150" in chamber.identify()
    chamber.set_climate(-10, None)
    assert chamber.mode == "constant" and chamber.setpoint() == (-10.0, None)
    assert settles(lab, chamber, -10)
    assert lab.world.read("chamber.humidity_setpoint_pct") is None
    before_s = lab.clock.now()
    chamber.set_climate(20, 60, ramp_c_per_min=1.5)  # 30 K at 1.5 K/min: 20 min
    after_s = lab.clock.now()  # the profile started between before_s and after_s
    assert chamber.mode == "program"
    lab.clock.sleep(600, max_real_s=2)
    asked_s = lab.clock.now()
    temperature_sp, humidity_sp = chamber.setpoint()
    answered_s = lab.clock.now()
    low, high = (-10 + 1.5 * (asked_s - after_s) / 60, -10 + 1.5 * (answered_s - before_s) / 60)
    assert low - 0.1 <= temperature_sp <= high + 0.1 and 0 < temperature_sp < 10 and humidity_sp == 60.0
    temperature_c, _ = chamber.read()
    assert temperature_sp - 0.5 <= temperature_c <= chamber.setpoint()[0] + 0.5  # the air tracks the profile
    assert settles(lab, chamber, 20, 60, within_c=0.1)
    assert chamber.mode == "constant" and chamber.setpoint() == (20.0, 60.0)  # the profile has ended
    chamber.safe_state()
    assert chamber.mode == "standby" and lab.world.read("chamber.running") is False


def test_watlow_server_error_paths(watlow):
    _, chamber = watlow
    chamber.safe_state()
    transport = chamber.transport
    transport.write_register(300, 250)
    with pytest.raises(InstrumentError, match="illegal value"):
        transport.write_register(300, 2000)  # 200.0 °C, bypassing the driver's check
    with pytest.raises(InstrumentError, match="illegal address"):
        transport.write_registers(300, [300, 0])  # 301 does not exist: nothing is written, not even 300
    assert transport.read_holding_registers(300) == [250]
    with pytest.raises(InstrumentError, match="illegal address"):
        transport.read_holding_registers(150)
    with pytest.raises(InstrumentError, match="illegal address"):
        transport.write_register(100, 1)  # the process value is read-only
    with pytest.raises(InstrumentError, match="illegal function"):
        transport.read_coils(0)
    transport.write_register(4000, 12)
    with pytest.raises(InstrumentError, match="illegal value"):
        transport.write_register(4002, 5)  # profile 12 is empty: it cannot be started
    assert chamber.mode == "standby"


def test_watlow_chamber_alarm_fault_surfaces_through_the_alarm_api(watlow):
    lab, chamber = watlow
    try:
        assert chamber.alarm() is None
        lab.inject(FaultSpec(kind="chamber_alarm", at_s=lab.clock.now()))
        assert wait_for(lambda: chamber.alarm_active, timeout_real_s=2)
        assert chamber.status().alarm == "alarm 1 high (status 2)"
        lab.world.write("chamber.alarm", 0)  # the operator resets it at the chamber
        assert chamber.alarm() is None
    finally:
        lab.world.write("chamber.alarm", 0)


# -- communication faults: clear exceptions within the timeout -----------------------------------------------


timed = raised_within


@pytest.mark.parametrize("kind, expected, message", [
    ("no_answer", InstrumentTimeout, None),
    ("garbage", InstrumentReplyError, None),
    ("drop_connection", InstrumentConnectionError, None),
    ("error", InstrumentError, "NA:CONT NOT READY-1"),
])
def test_espec_comm_faults_surface_as_exceptions_within_the_timeout(lab, kind, expected, message):
    with connect(lab, "chamber", FAULT_TIMEOUT_S) as chamber:
        lab.inject(FaultSpec(kind=kind, instrument="chamber", at_s=lab.clock.now()))
        try:
            exc, elapsed = timed(chamber.read)
        finally:
            lab.clear_faults("chamber")
        assert isinstance(exc, expected) and exc.instrument == "chamber" and exc.command == "MON?"
        assert elapsed < FAULT_TIMEOUT_S + SLACK_S
        if message:
            assert message in str(exc)
        if kind == "drop_connection":
            chamber.transport.reconnect()
        assert chamber.read()[0] > -40


@pytest.mark.parametrize("kind, expected, message", [
    ("no_answer", InstrumentTimeout, None),
    ("drop_connection", InstrumentConnectionError, None),
    ("error", InstrumentError, "device failure"),
])
def test_watlow_comm_faults_surface_as_exceptions_within_the_timeout(watlow, kind, expected, message):
    lab, _ = watlow
    with connect(lab, "chamber_modbus", FAULT_TIMEOUT_S) as chamber:
        lab.inject(FaultSpec(kind=kind, instrument="chamber_modbus", at_s=lab.clock.now()))
        try:
            exc, elapsed = timed(chamber.safe_state)
        finally:
            lab.clear_faults("chamber_modbus")
        assert isinstance(exc, expected) and exc.instrument == "chamber_modbus"
        assert elapsed < FAULT_TIMEOUT_S + SLACK_S
        if message:
            assert message in str(exc)
        if kind == "drop_connection":
            chamber.transport.reconnect()
        chamber.safe_state()
