"""Shock / pendulum impact tester (meterlab's own command set): byte-exact, refusals before sending, then the real
driver over a real socket against the simulated gas bench's tester."""

import pytest

from meterlab.instruments.bench import open_instrument
from meterlab.instruments.errors import InstrumentError, InstrumentReplyError, InstrumentTimeout, InstrumentValueError
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.instruments.shock import ShockTester
from meterlab.instruments.testing import expected_protocol
from meterlab.sim.scenario import FaultSpec
from meterlab.sim.testing import FAULT_SLACK_S, FAULT_TIMEOUT_S, inject_fault, open_with_timeout, raised_within

NO_ERROR = (b"SYST:ERR?", b'+0,"No error"')
RATING = {"max_peak_m_s2": 3000.0, "min_duration_ms": 1.0, "max_duration_ms": 20.0}


# -- byte-exact ----------------------------------------------------------------------------------------------
def test_the_impulse_is_sent_in_full_then_confirmed_by_the_error_queue():
    with expected_protocol(ShockTester, [
        (b"AXIS Z", None), (b"SHOC:SHAP HSIN", None), (b"SHOC:PEAK 500", None), (b"SHOC:DUR 11", None), NO_ERROR,
    ], options=RATING) as tester:
        tester.configure(axis="z", peak_m_s2=500, duration_ms=11)


def test_arm_fire_and_the_measured_pulse():
    with expected_protocol(ShockTester, [
        (b"ARM", None), NO_ERROR, (b"STAT?", b"ARMED"),
        (b"FIRE", None), NO_ERROR, (b"STAT?", b"FIRING"),
        (b"FETC:PEAK?", b"+4.96200000000000E+002"), (b"FETC:DUR?", b"+1.10000000000000E+001"),
        (b"INT?", b"1"), (b"SHOC:COUN?", b"3"),
    ]) as tester:
        tester.arm()
        tester.fire()
        assert tester.measured_peak_m_s2() == 496.2 and tester.measured_duration_ms() == 11.0
        assert tester.interlock_closed is True and tester.shock_count == 3


def test_a_refused_arm_is_the_testers_error_and_a_fire_that_did_not_go_is_caught():
    with expected_protocol(ShockTester, [
        (b"ARM", None), (b"SYST:ERR?", b'-221,"Settings conflict"'), NO_ERROR,
        (b"FIRE", None), NO_ERROR, (b"STAT?", b"ARMED"),
        (b"INT?", b"maybe"),
    ]) as tester:
        with pytest.raises(InstrumentError, match="-221"):
            tester.arm()
        with pytest.raises(InstrumentError, match="did not fire"):
            tester.fire()
        with pytest.raises(InstrumentReplyError, match="maybe"):
            tester.interlock_closed


def test_safe_state_lowers_the_pendulum_and_a_swing_under_way_is_accepted():
    with expected_protocol(ShockTester, [
        (b"DISA", None), NO_ERROR, (b"STAT?", b"FIRING"),
        (b"DISA", None), NO_ERROR, (b"STAT?", b"ARMED"),
    ]) as tester:
        tester.safe_state()
        with pytest.raises(InstrumentError, match="still armed"):
            tester.safe_state()


@pytest.mark.parametrize("kwargs, words", [
    ({"peak_m_s2": 3500.0}, "0 .. 3000 m/s²"),
    ({"peak_m_s2": -10.0}, "0 .. 3000 m/s²"),
    ({"peak_m_s2": 0.0}, "> 0"),
    ({"duration_ms": 0.5}, "1 .. 20 ms"),
    ({"shape": "sawtooth"}, "half_sine"),
    ({"axis": "Q"}, "one of X, Y, Z"),
])
def test_bad_arguments_and_values_beyond_the_rating_are_refused_before_anything_is_sent(kwargs, words):
    with expected_protocol(ShockTester, [], options=RATING) as tester:
        with pytest.raises(InstrumentValueError, match=words):
            tester.configure(**{"axis": "Z", "peak_m_s2": 500.0, "duration_ms": 11.0, **kwargs})


# -- against the simulated gas bench ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tester(gas_lab):
    entry = gas_lab.bench.instruments["shock"]
    with open_instrument("shock", entry, MemoryIOLog(), gas_lab.resources["shock"]) as driver:
        yield driver
        driver.safe_state()


def test_a_shock_fires_and_reports_its_peak(gas_lab, tester):
    count = tester.shock_count
    seen = []
    gas_lab.world.on("shock", lambda **pulse: seen.append(pulse))
    tester.configure(axis="X", peak_m_s2=500.0, duration_ms=11.0)
    tester.arm()
    tester.fire()
    peak = tester.measured_peak_m_s2(timeout_s=5.0)  # waits for the swing (2 s simulated)
    assert tester.state == "SAFE" and tester.shock_count == count + 1
    true = gas_lab.world.read("shock.last_peak_m_s2")
    assert len(seen) == 1 and seen[0]["axis"] == "X" and seen[0]["peak_m_s2"] == true
    assert true == pytest.approx(500.0, rel=0.05)  # the shot-to-shot scatter: 1 % (1 sigma)
    assert peak == pytest.approx(true, rel=0.025) and peak != true  # the tester's own reading, 0.5 % noise
    assert tester.measured_peak_m_s2() == peak  # the same impulse, the same reading
    assert tester.measured_duration_ms() == pytest.approx(11.0)
    pulse = gas_lab.world.component("shock").last
    at_meter = gas_lab.world.component("motion").acceleration_at(pulse.at_s + pulse.duration_s / 2)
    assert at_meter == pytest.approx((true, 0.0, 0.0))


def test_the_tester_refuses_to_fire_unarmed_and_to_change_settings_while_armed(tester):
    tester.write("FIRE")
    assert tester.read_error_queue() == [(-221, "Settings conflict")]
    tester.configure(axis="Z", peak_m_s2=300.0, duration_ms=6.0)
    tester.arm()
    tester.write("SHOC:PEAK 900")  # raw, bypassing the driver
    tester.write("SHOC:DUR 500")
    assert tester.read_error_queue() == [(-221, "Settings conflict"), (-221, "Settings conflict")]
    tester.disarm()
    tester.write("SHOC:DUR 500")
    assert tester.read_error_queue() == [(-222, "Data out of range")]
    assert tester.peak_setting_m_s2 == 300.0 and tester.state == "SAFE"


def test_an_open_interlock_refuses_arming_and_disarms_an_armed_tester(gas_lab, tester):
    tester.configure(axis="Z", peak_m_s2=300.0, duration_ms=6.0)
    tester.arm()
    gas_lab.inject(FaultSpec(kind="shock_interlock_open", at_s=gas_lab.clock.now(), duration_s=60.0))
    gas_lab.clock.sleep(1.0, max_real_s=5)
    assert tester.interlock_closed is False and tester.state == "SAFE"
    with pytest.raises(InstrumentError, match="-221"):
        tester.arm()
    assert gas_lab.clock.wait_until(lambda: tester.interlock_closed, timeout_sim_s=120, max_real_s=5)
    tester.arm()
    assert tester.state == "ARMED"
    tester.safe_state()
    assert tester.state == "SAFE"


def test_an_injected_error_is_the_testers_error_with_the_reason_from_its_queue(gas_lab):
    with open_with_timeout(gas_lab, "shock") as driver:
        inject_fault(gas_lab, "shock", "error", '-240,"Hardware error"')
        try:
            with pytest.raises(InstrumentError, match=r"FETC:PEAK\?.*-240,\"Hardware error\""):
                driver.measured_peak_m_s2()
        finally:
            gas_lab.clear_faults()
        inject_fault(gas_lab, "shock", "no_answer")
        try:
            exc, elapsed = raised_within(lambda: driver.state)
            assert isinstance(exc, InstrumentTimeout) and elapsed < FAULT_TIMEOUT_S + FAULT_SLACK_S
        finally:
            gas_lab.clear_faults()
