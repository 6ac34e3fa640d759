"""Druck PACE pressure indicator/controller: byte-exact (header echo), then against the simulated lab."""

import time

import pytest

from meterlab.instruments.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentReplyError,
    InstrumentTimeout,
    InstrumentValueError,
)
from meterlab.instruments.bench import open_instrument
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.instruments.pressure import DruckPace
from meterlab.instruments.testing import expected_protocol
from meterlab.sim.testing import FAULT_SLACK_S as SLACK_S
from meterlab.sim.testing import FAULT_TIMEOUT_S as TIMEOUT_S
from meterlab.sim.testing import inject_fault, open_with_timeout

# -- byte-exact ---------------------------------------------------------------------------------------------


def test_pressure_in_pa_asks_the_unit_then_the_pressure_and_strips_the_echo():
    with expected_protocol(DruckPace, [
        (b":UNIT:PRES?", b":UNIT:PRES MBAR"),
        (b":SENS:PRES?", b":SENS:PRES 1013.25"),
        (b":SENS:PRES?", b":SENS:PRES -0.5"),
    ]) as pace:
        assert pace.pressure_pa() == pytest.approx(101325.0)
        assert pace.pressure == -0.5


def test_unit_both_ways():
    with expected_protocol(DruckPace, [(b":UNIT:PRES KPA", None), (b":UNIT:PRES?", b":UNIT:PRES KPA")]) as pace:
        pace.unit = "kPa"
        assert pace.unit == "kPa"


def test_a_reply_without_the_echo_or_with_another_header_is_a_reply_error():
    with expected_protocol(DruckPace, [
        (b":SENS:PRES?", b"1013.25"),
        (b":SENS:PRES?", b":SENS:PRESSURE 1013.25"),
        (b":UNIT:PRES?", b":UNIT:PRES FURLONG"),
    ]) as pace:
        with pytest.raises(InstrumentReplyError, match="does not echo the header ':SENS:PRES'"):
            pace.pressure
        with pytest.raises(InstrumentReplyError):
            pace.pressure
        with pytest.raises(InstrumentReplyError, match="FURLONG"):
            pace.unit


def test_an_invalid_value_raises_with_the_echoed_error_queue():
    with expected_protocol(DruckPace, [
        (b":SENS:PRES?", b":SENS:PRES 9.91E+37"),
        (b":SYST:ERR?", b':SYST:ERR -310,"System error"'),
        (b":SYST:ERR?", b':SYST:ERR 0,"No error"'),
    ]) as pace:
        with pytest.raises(InstrumentError, match=r"':SENS:PRES\?'.*-310,\"System error\""):
            pace.pressure


def test_setpoint_in_pa_is_checked_then_sent_in_the_instruments_unit_and_confirmed():
    with expected_protocol(DruckPace, [
        (b":UNIT:PRES?", b":UNIT:PRES KPA"),
        (b":SOUR:PRES:LEV:IMM:AMPL 250", None),
        (b":SYST:ERR?", b':SYST:ERR 0,"No error"'),
        (b":UNIT:PRES?", b":UNIT:PRES BAR"),
        (b":SOUR:PRES:LEV:IMM:AMPL?", b":SOUR:PRES:LEV:IMM:AMPL 2.5"),
    ], options={"full_scale_pa": 7e5}) as pace:
        pace.set_setpoint_pa(250e3)
        assert pace.setpoint_pa() == 250e3


def test_a_refused_setpoint_is_an_instrument_error():
    with expected_protocol(DruckPace, [
        (b":UNIT:PRES?", b":UNIT:PRES PA"),
        (b":SOUR:PRES:LEV:IMM:AMPL 1000", None),
        (b":SYST:ERR?", b':SYST:ERR -222,"Data out of range"'),
        (b":SYST:ERR?", b':SYST:ERR 0,"No error"'),
    ]) as pace:
        with pytest.raises(InstrumentError, match="-222"):
            pace.set_setpoint_pa(1000)


def test_setpoints_outside_the_range_are_refused_before_anything_is_sent():
    with expected_protocol(DruckPace, [], options={"full_scale_pa": 7e5}) as pace:
        for value in (-1.0, 7.1e5):
            with pytest.raises(InstrumentValueError, match=r"allowed range is 0 .. 700000, in Pa"):
                pace.set_setpoint_pa(value)
        for value in (True, "1", float("nan")):
            with pytest.raises(InstrumentValueError):
                pace.set_setpoint_pa(value)
        with pytest.raises(InstrumentValueError):
            pace.unit = "torr"


def test_safe_state_of_a_controller_switches_control_off_and_checks_it():
    with expected_protocol(DruckPace, [
        (b":OUTP:STAT OFF", None),
        (b":OUTP:STAT?", b":OUTP:STAT 0"),
        (b":OUTP:STAT ON", None),
        (b":OUTP:STAT?", b":OUTP:STAT 0"),
    ], options={"controller": True}) as pace:
        pace.safe_state()
        with pytest.raises(InstrumentError, match="did not switch on"):
            pace.output_on()


def test_identify_strips_the_echo_and_an_indicator_has_nothing_to_make_safe():
    with expected_protocol(DruckPace, [(b"*IDN?", b"*IDN GE Druck,PACE5000,3213201,02.00.07")]) as pace:
        pace.safe_state()
        assert pace.identify() == "GE Druck,PACE5000,3213201,02.00.07"


# -- against the simulated lab -------------------------------------------------------------------------------


def test_the_reading_is_the_lines_absolute_pressure(lab, rig):
    pace = rig["pressure"]
    rig.safe_state()
    lab.clock.sleep(30, max_real_s=1)  # no flow: the static pressure
    expected_pa = 101325 + lab.world.read("water.pressure_bar") * 1e5
    assert pace.pressure_pa() == pytest.approx(expected_pa, abs=0.5)  # 1 Pa resolution
    rig["valves"].open_start_valve()
    rig["pump"].run(100)
    lab.clock.sleep(30, max_real_s=1)
    flowing_pa = pace.pressure_pa()
    assert flowing_pa == pytest.approx(101325 + lab.world.read("water.pressure_bar") * 1e5, abs=0.5)
    assert flowing_pa < expected_pa  # the pressure falls with the flow
    rig.safe_state()


def test_unit_and_setpoint_through_the_simulated_instrument(lab, rig):
    pace = rig["pressure"]
    rig.safe_state()
    lab.clock.sleep(30, max_real_s=1)  # no flow: a steady pressure
    pace.unit = "bar"
    try:
        assert pace.unit == "bar"
        assert pace.pressure == pytest.approx(pace.pressure_pa() / 1e5, abs=1e-5)
        pace.set_setpoint_pa(3e5)
        assert pace.setpoint_pa() == pytest.approx(3e5)
        pace.output_on()
        assert pace.output_enabled
        pace.output_off()
    finally:
        pace.unit = "kPa"


def test_unknown_header_and_out_of_range_values_are_refused_and_change_nothing(rig):
    pace = rig["pressure"]
    pace.set_setpoint_pa(2e5)
    pace.write(":SENS:FROBNICATE 3")
    assert pace.read_error_queue() == [(-113, "Undefined header")]
    pace.write(":UNIT:PRES FURLONG")
    assert pace.read_error_queue() == [(-224, "Illegal parameter value")]
    assert pace.unit == "kPa"
    pace.write(":SOUR:PRES:LEV:IMM:AMPL 99999")  # kPa: far beyond the 2.1 MPa sensor, bypassing the driver
    assert pace.read_error_queue() == [(-222, "Data out of range")]
    assert pace.setpoint_pa() == pytest.approx(2e5)


# -- faults --------------------------------------------------------------------------------------------------



@pytest.fixture
def short_timeout(lab):
    with open_with_timeout(lab, "pressure") as pace:
        yield pace
    lab.clear_faults()


def inject(lab, kind, message=None):
    inject_fault(lab, "pressure", kind, message)


@pytest.mark.parametrize("kind, expected", [
    ("no_answer", InstrumentTimeout), ("garbage", InstrumentReplyError), ("drop_connection", InstrumentConnectionError),
])
def test_comm_faults_surface_within_the_timeout(lab, short_timeout, kind, expected):
    inject(lab, kind)
    start = time.monotonic()
    with pytest.raises(expected) as caught:
        short_timeout.pressure
    assert time.monotonic() - start < TIMEOUT_S + SLACK_S
    assert caught.value.instrument == "pressure"
    lab.clear_faults()
    if kind == "drop_connection":
        short_timeout.transport.reconnect()
    assert short_timeout.pressure_pa() > 1e5


def test_an_instrument_error_is_read_from_its_echoed_error_queue(lab, short_timeout):
    inject(lab, "error", '-310,"System error"')
    with pytest.raises(InstrumentError, match=r"-310,\"System error\""):
        short_timeout.pressure


# -- ramps (the gas supply's controller) --------------------------------------------------------------------------


def test_slew_rate_both_ways_and_a_ramp_sends_rate_setpoint_then_control_on():
    with expected_protocol(DruckPace, [
        (b":UNIT:PRES?", b":UNIT:PRES KPA"),
        (b":SOUR:PRES:SLEW?", b":SOUR:PRES:SLEW 0.05"),
        (b":UNIT:PRES?", b":UNIT:PRES PA"),
        (b":SOUR:PRES:SLEW 20", None),
        (b":SYST:ERR?", b':SYST:ERR 0,"No error"'),
        (b":UNIT:PRES?", b":UNIT:PRES PA"),
        (b":SOUR:PRES:LEV:IMM:AMPL 500", None),
        (b":SYST:ERR?", b':SYST:ERR 0,"No error"'),
        (b":OUTP:STAT?", b":OUTP:STAT 0"),
        (b":OUTP:STAT ON", None),
        (b":OUTP:STAT?", b":OUTP:STAT 1"),
    ], options={"controller": True, "full_scale_pa": 35000, "max_slew_pa_per_s": 2000}) as pace:
        assert pace.slew_pa_per_s() == pytest.approx(50.0)
        pace.ramp_to_pa(500.0, 20.0)


@pytest.mark.parametrize("setpoint_pa, rate_pa_per_s, words", [
    (500.0, 2500.0, r"0 .. 2000, in Pa/s"), (500.0, -20.0, r"0 .. 2000, in Pa/s"), (500.0, 0.0, "> 0 Pa/s"),
    (-1.0, 20.0, r"0 .. 35000, in Pa"), (40000.0, 20.0, r"0 .. 35000, in Pa"),
])
def test_a_ramp_beyond_the_controllers_rating_is_refused_before_anything_is_sent(setpoint_pa, rate_pa_per_s, words):
    with expected_protocol(DruckPace, [], options={"controller": True, "full_scale_pa": 35000,
                                                  "max_slew_pa_per_s": 2000}) as pace:
        with pytest.raises(InstrumentValueError, match=words):
            pace.ramp_to_pa(setpoint_pa, rate_pa_per_s)


@pytest.fixture(scope="module")
def supply(gas_lab):
    entry = gas_lab.bench.instruments["supply_pressure"]
    with open_instrument("supply_pressure", entry, MemoryIOLog(), gas_lab.resources["supply_pressure"]) as pace:
        pace.unit = "Pa"
        yield pace
        pace.safe_state()


def timed_reading(lab, pace):
    """(simulated time, gauge pressure, half the time the reading took): the reading fell within that window."""
    before = lab.clock.now()
    value = pace.pressure
    after = lab.clock.now()
    return (before + after) / 2, value, (after - before) / 2


def test_the_supply_controller_reads_the_gauge_pressure_at_the_meters_inlet(gas_lab, supply):
    gas_lab.clock.sleep(5, max_real_s=1)
    world = gas_lab.world
    gauge = world.read("gas_supply.pressure_pa") - world.read("ambient.pressure_pa")
    assert gauge == pytest.approx(2000.0) and supply.pressure_pa() == pytest.approx(gauge, abs=1.0)


@pytest.mark.parametrize("setpoint_pa, rate_pa_per_s", [(500.0, 20.0), (1500.0, 40.0)])
def test_the_inlet_pressure_ramps_down_and_up_at_the_set_rate(gas_lab, supply, setpoint_pa, rate_pa_per_s):
    start = supply.pressure
    supply.ramp_to_pa(setpoint_pa, rate_pa_per_s)
    assert supply.slew_pa_per_s() == pytest.approx(rate_pa_per_s) and supply.setpoint_pa() == setpoint_pa
    t1, p1, w1 = timed_reading(gas_lab, supply)
    gas_lab.clock.sleep(15, max_real_s=1)
    t2, p2, w2 = timed_reading(gas_lab, supply)
    slope = (p2 - p1) / (t2 - t1)
    slack = (rate_pa_per_s * (w1 + w2) + 2.0) / (t2 - t1)  # the readings' time windows, 1 Pa resolution
    assert abs(slope) == pytest.approx(rate_pa_per_s, abs=slack) and (slope < 0) == (setpoint_pa < start)
    duration_s = abs(setpoint_pa - start) / rate_pa_per_s
    assert gas_lab.clock.wait_until(lambda: abs(supply.pressure - setpoint_pa) <= 1.0, timeout_sim_s=duration_s + 30,
                                    max_real_s=5)
