"""Fluke 1524/1529 thermometer readout: byte-exact protocol, then through pyvisa-py against the simulated lab."""

import time

import pytest

from meterlab.instruments.bench import InstrumentEntry
from meterlab.instruments.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentReplyError,
    InstrumentTimeout,
    InstrumentValueError,
)
from meterlab.instruments.testing import expected_protocol
from meterlab.instruments.thermometer import Fluke1524
from meterlab.sim.clock import ManualClock
from meterlab.sim.devices.thermometer import SimFluke1524, ThermometerParams
from meterlab.sim.physics import build_world
from meterlab.sim.scenario import Scenario
from meterlab.sim.testing import FAULT_SLACK_S as SLACK_S
from meterlab.sim.testing import FAULT_TIMEOUT_S as TIMEOUT_S
from meterlab.sim.testing import inject_fault, open_with_timeout

# -- byte-exact ---------------------------------------------------------------------------------------------


def test_temperature_asks_the_unit_then_fetches_the_channel():
    with expected_protocol(Fluke1524, [
        (b"UNIT:TEMP?", b"C"),
        (b"FETC? 1", b"20.013"),
        (b"UNIT:TEMP?", b"F"),
        (b"FETC? 2", b"68.900"),
        (b"UNIT:TEMP?", b"K"),
        (b"READ? 2", b"293.650"),
    ]) as thermometer:
        assert thermometer.temperature_c() == 20.013
        assert thermometer.temperature_c(2) == pytest.approx(20.5)
        assert thermometer.temperature_c(2, new=True) == pytest.approx(20.5)


def test_unit_both_ways_and_raw_readings():
    with expected_protocol(Fluke1524, [
        (b"UNIT:TEMP F", None),
        (b"UNIT:TEMP?", b"F"),
        (b"FETC? 4", b"-12.500"),
        (b"READ? 1", b"+21.1"),
    ], options={"channel_count": 4}) as thermometer:
        thermometer.unit = "F"
        assert thermometer.unit == "F"
        assert thermometer.fetch(4) == -12.5
        assert thermometer.measure() == 21.1


def test_values_are_refused_before_anything_is_sent():
    with expected_protocol(Fluke1524, []) as thermometer:
        for channel in (0, 3, True, "1"):  # a 1524 has channels 1 and 2
            with pytest.raises(InstrumentValueError, match="channels are 1 .. 2"):
                thermometer.fetch(channel)
        with pytest.raises(InstrumentValueError):
            thermometer.unit = "R"


def test_an_invalid_reading_raises_with_the_error_queue():
    with expected_protocol(Fluke1524, [
        (b"FETC? 2", b"9.91E+37"),
        (b"SYST:ERR?", b'-241,"Hardware missing"'),
        (b"SYST:ERR?", b'+0,"No error"'),
    ]) as thermometer:
        with pytest.raises(InstrumentError, match=r"'FETC\? 2'.*-241,\"Hardware missing\""):
            thermometer.fetch(2)


def test_an_unparseable_reply_is_a_reply_error():
    with expected_protocol(Fluke1524, [(b"FETC? 1", b"t: 25.587 C"), (b"UNIT:TEMP?", b"X")]) as thermometer:
        with pytest.raises(InstrumentReplyError, match="not a temperature"):
            thermometer.fetch()
        with pytest.raises(InstrumentReplyError):
            thermometer.unit


def test_identify_and_a_safe_state_that_sends_nothing():
    with expected_protocol(Fluke1524, [(b"*IDN?", b"FLUKE,1524,B21345,1.10")]) as thermometer:
        thermometer.safe_state()
        assert thermometer.identify() == "FLUKE,1524,B21345,1.10"


# -- the simulated readout on its own ---------------------------------------------------------------------


def test_an_unwired_channel_answers_invalid_and_queues_hardware_missing():
    world = build_world(Scenario(), ManualClock())
    entry = InstrumentEntry(driver="fluke_1524", role="thermometer", sim=True, options={"channel_count": 4},
                            wiring={"ch1": "water.temperature_c"})
    device = SimFluke1524("thermometer", world, entry, ThermometerParams(offset_c=0.02, resolution=0.01))
    assert device.handle("FETC? 1") == "20.02"  # the scenario's 20 °C plus the probe's offset
    assert device.handle("READ? 3") == device.invalid_reply
    assert device.handle("SYST:ERR?") == '-241,"Hardware missing"'
    assert device.handle("UNIT:TEMP K;FETC?") == "293.17"


# -- against the simulated lab -------------------------------------------------------------------------------


def test_the_line_temperature_is_the_rigs_water_temperature(lab, rig):
    thermometer = rig["thermometer"]
    before = lab.world.read("water.temperature_c")
    reading = thermometer.temperature_c()
    after = lab.world.read("water.temperature_c")  # the water may drift: bracket the reading
    assert min(before, after) - 0.0005 <= reading <= max(before, after) + 0.0005
    assert thermometer.temperature_c(2, new=True) == pytest.approx(after, abs=0.002)


def test_the_unit_changes_the_readings_and_survives_until_reset(lab, rig):
    thermometer = rig["thermometer"]
    thermometer.unit = "K"
    try:
        assert thermometer.fetch() == pytest.approx(lab.world.read("water.temperature_c") + 273.15, abs=0.002)
        assert thermometer.temperature_c() == pytest.approx(lab.world.read("water.temperature_c"), abs=0.002)
    finally:
        thermometer.unit = "C"


def test_unknown_command_and_out_of_range_values_are_refused_and_change_nothing(rig):
    thermometer = rig["thermometer"]
    thermometer.write("TEMP:FROBNICATE 3")
    assert thermometer.read_error_queue() == [(-113, "Undefined header")]
    thermometer.write("UNIT:TEMP R")  # bypasses the driver's check
    assert thermometer.read_error_queue() == [(-224, "Illegal parameter value")]
    assert thermometer.unit == "C"
    thermometer.write("FETC? 3")  # a 1524 has two channels: an error, and no reply
    assert thermometer.read_error_queue() == [(-222, "Data out of range")]
    assert 0 < thermometer.fetch(1) < 100


# -- faults --------------------------------------------------------------------------------------------------



@pytest.fixture
def short_timeout(lab):
    with open_with_timeout(lab, "thermometer") as thermometer:
        yield thermometer
    lab.clear_faults()


def inject(lab, kind, message=None):
    inject_fault(lab, "thermometer", kind, message)


@pytest.mark.parametrize("kind, expected", [
    ("no_answer", InstrumentTimeout), ("garbage", InstrumentReplyError), ("drop_connection", InstrumentConnectionError),
])
def test_comm_faults_surface_within_the_timeout(lab, short_timeout, kind, expected):
    inject(lab, kind)
    start = time.monotonic()
    with pytest.raises(expected) as caught:
        short_timeout.fetch()
    assert time.monotonic() - start < TIMEOUT_S + SLACK_S
    assert caught.value.instrument == "thermometer"
    lab.clear_faults()
    if kind == "drop_connection":
        short_timeout.transport.reconnect()
    assert 0 < short_timeout.fetch() < 100


def test_an_instrument_error_is_read_from_its_error_queue(lab, short_timeout):
    inject(lab, "error", '-330,"Self-test failed"')
    with pytest.raises(InstrumentError, match=r"-330,\"Self-test failed\""):
        short_timeout.fetch()
