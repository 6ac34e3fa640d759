"""Shaker controller (meterlab's own command set): byte-exact, refusals before sending, then the real driver over a
real socket against the simulated gas bench's shaker."""

import math

import numpy as np
import pytest

from meterlab.instruments.bench import open_instrument
from meterlab.instruments.errors import InstrumentError, InstrumentReplyError, InstrumentTimeout, InstrumentValueError
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.instruments.testing import expected_protocol
from meterlab.instruments.vibration import ShakerController, asd_rms_m_s2
from meterlab.sim.testing import FAULT_SLACK_S, FAULT_TIMEOUT_S, inject_fault, open_with_timeout, raised_within

NO_ERROR = (b"SYST:ERR?", b'+0,"No error"')
RATING = {"max_acceleration_m_s2": 30.0, "max_rms_m_s2": 10.0, "min_frequency_hz": 0.5, "max_frequency_hz": 200.0,
          "max_displacement_m": 0.1}


# -- byte-exact ----------------------------------------------------------------------------------------------
def test_a_sine_by_its_period_is_sent_as_a_frequency_then_confirmed_by_the_error_queue():
    with expected_protocol(ShakerController, [
        (b"AXIS Z", None), (b"MODE SINE", None), (b"SINE:ACC 2.5", None), (b"SINE:FREQ 2", None),
        (b"SINE:DUR 30", None), NO_ERROR,
    ], options=RATING) as shaker:
        shaker.configure_sine(axis="z", acceleration_m_s2=2.5, period_s=0.5, duration_s=30)


def test_a_sweep_and_a_random_profile_are_sent_in_full():
    with expected_protocol(ShakerController, [
        (b"AXIS X", None), (b"MODE SWE", None), (b"SWE:ACC 10", None), (b"SWE:STAR 10", None),
        (b"SWE:STOP 150", None), (b"SWE:RATE 1", None), (b"SWE:CYCL 20", None), NO_ERROR,
        (b"AXIS Y", None), (b"MODE RAND", None), (b"RAND:PROF 10,0.05,20,0.05,150,0.00666667", None),
        (b"RAND:DUR 120", None), NO_ERROR,
    ], options=RATING) as shaker:
        shaker.configure_sweep(axis="X", acceleration_m_s2=10, start_hz=10, stop_hz=150, octaves_per_min=1, cycles=20)
        shaker.configure_random(axis="Y", asd_profile=[(10, 0.05), (20, 0.05), (150, 0.05 * 20 / 150)],
                                duration_s=120)


def test_start_stop_and_abort_are_confirmed_by_the_state():
    with expected_protocol(ShakerController, [
        (b"STAR", None), NO_ERROR, (b"STAT?", b"RUNNING"),
        (b"STOP", None), NO_ERROR, (b"STAT?", b"STOPPED"),
        (b"STAR", None), NO_ERROR, (b"STAT?", b"IDLE"),
        (b"ABOR", None), NO_ERROR, (b"STAT?", b"RUNNING"),
    ]) as shaker:
        shaker.start()
        shaker.stop()
        with pytest.raises(InstrumentError, match="did not start"):
            shaker.start()
        with pytest.raises(InstrumentError, match="still running"):
            shaker.abort()


def test_readings_and_the_controllers_own_errors():
    with expected_protocol(ShakerController, [
        (b"MEAS:ACC?", b"+2.49000000000000E+000"), (b"MEAS:FREQ?", b"+2.00000000000000E+000"),
        (b"MODE?", b"SWE"), (b"STAT?", b"SHAKING"),
        (b"AXIS X", None), (b"MODE SINE", None), (b"SINE:ACC 1", None), (b"SINE:FREQ 5", None),
        (b"SINE:DUR 0", None), (b"SYST:ERR?", b'-221,"Settings conflict"'), NO_ERROR,
    ]) as shaker:
        assert shaker.control_acceleration_m_s2 == 2.49 and shaker.drive_frequency_hz == 2.0
        assert shaker.mode == "sweep"
        with pytest.raises(InstrumentReplyError, match="SHAKING"):
            shaker.state
        with pytest.raises(InstrumentError, match="-221"):
            shaker.configure_sine(axis="X", acceleration_m_s2=1, frequency_hz=5)


def test_a_reading_the_controller_cannot_give_is_its_error_with_the_reason_from_the_queue():
    with expected_protocol(ShakerController, [
        (b"MEAS:ACC?", b"+9.91000000000000E+037"), (b"SYST:ERR?", b'-240,"Hardware error"'), NO_ERROR,
    ]) as shaker:
        with pytest.raises(InstrumentError, match=r"'MEAS:ACC\?'.*9.91E\+37.*-240,\"Hardware error\""):
            shaker.control_acceleration_m_s2


def test_safe_state_cuts_the_drive_and_identify_answers_the_identity():
    with expected_protocol(ShakerController, [
        (b"ABOR", None), NO_ERROR, (b"STAT?", b"ABORTED"), (b"*IDN?", b"meterlab,SIM-SHAKER,0001,1.0"),
    ]) as shaker:
        shaker.safe_state()
        assert shaker.identify() == "meterlab,SIM-SHAKER,0001,1.0"


@pytest.mark.parametrize("call, words", [
    (lambda s: s.configure_sine(axis="Z", acceleration_m_s2=2.5, frequency_hz=-2.0), "frequency_hz.*0.5 .. 200 Hz"),
    (lambda s: s.configure_sine(axis="Z", acceleration_m_s2=2.5, period_s=-0.5), "period_s"),
    (lambda s: s.configure_sine(axis="Z", acceleration_m_s2=31.0, frequency_hz=20.0), "0 .. 30 m/s²"),
    (lambda s: s.configure_sine(axis="Z", acceleration_m_s2=0.0, frequency_hz=20.0), "> 0"),
    (lambda s: s.configure_sine(axis="Z", acceleration_m_s2=5.0, frequency_hz=0.8), "displacement of 197.9 mm"),
    (lambda s: s.configure_sine(axis="Z", acceleration_m_s2=2.5, frequency_hz=2, period_s=0.5), "either"),
    (lambda s: s.configure_sine(axis="W", acceleration_m_s2=2.5, frequency_hz=2), "one of X, Y, Z"),
    (lambda s: s.configure_sine(axis="Z", acceleration_m_s2=2.5, frequency_hz=2, duration_s=-1), "duration_s"),
    (lambda s: s.configure_sweep(axis="Z", acceleration_m_s2=5, start_hz=150, stop_hz=10, octaves_per_min=1,
                                 cycles=1), "above start_hz"),
    (lambda s: s.configure_sweep(axis="Z", acceleration_m_s2=5, start_hz=10, stop_hz=150, octaves_per_min=1,
                                 cycles=0), "whole number"),
    (lambda s: s.configure_random(axis="Z", asd_profile=[(10, 1.0), (150, 1.0)], duration_s=60), "RMS 11.8"),
    (lambda s: s.configure_random(axis="Z", asd_profile=[(10, 0.05)], duration_s=60), "at least 2"),
    (lambda s: s.configure_random(axis="Z", asd_profile=[(10, 0.05), (500, 0.05)], duration_s=60), "Hz"),
])
def test_bad_arguments_and_values_beyond_the_rating_are_refused_before_anything_is_sent(call, words):
    with expected_protocol(ShakerController, [], options=RATING) as shaker:
        with pytest.raises(InstrumentValueError, match=words):
            call(shaker)


# -- against the simulated gas bench ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def iolog():
    return MemoryIOLog()


@pytest.fixture(scope="module")
def shaker(gas_lab, iolog):
    entry = gas_lab.bench.instruments["shaker"]
    with open_instrument("shaker", entry, iolog, gas_lab.resources["shaker"]) as driver:
        yield driver
        driver.safe_state()


def test_the_bench_rating_is_the_drivers(shaker):
    assert shaker.options.max_acceleration_m_s2 == 30 and shaker.options.max_displacement_m == 0.1


def test_a_250_gal_sine_of_period_0_5_s_is_measured_at_its_level_and_reaches_the_meter(gas_lab, shaker):
    shaker.configure_sine(axis="X", acceleration_m_s2=250 * 0.01, period_s=0.5, duration_s=60)
    shaker.start()
    gas_lab.clock.sleep(3.0, max_real_s=5)  # past the start-up ramp (1 s)
    readings = [shaker.control_acceleration_m_s2 for _ in range(5)]
    assert readings == pytest.approx([2.5] * 5, rel=0.025)  # the control accelerometer's noise: 0.5 % (1 sigma)
    assert len(set(readings)) > 1  # a reading, not an echo of the setting
    assert shaker.drive_frequency_hz == pytest.approx(2.0)
    motion = gas_lab.world.component("motion")
    with gas_lab.world.now() as world:
        now = world.t_s
    at_meter = np.array([motion.acceleration_at(now + t) for t in np.arange(0.0, 0.5, 0.001)])
    assert np.max(np.abs(at_meter[:, 0])) == pytest.approx(2.5, rel=1e-3) and not np.any(at_meter[:, 1:])
    assert gas_lab.clock.wait_until(lambda: shaker.state == "DONE", timeout_sim_s=120, max_real_s=5)
    assert shaker.control_acceleration_m_s2 == 0.0


def test_a_sweep_progresses_at_its_rate_and_ends_after_its_cycles(gas_lab, shaker):
    shaker.configure_sweep(axis="Y", acceleration_m_s2=5.0, start_hz=10, stop_hz=40, octaves_per_min=2, cycles=1)
    shaker.start()  # 2 octaves at 2 oct/min: a minute up, a minute down
    gas_lab.clock.sleep(10.0, max_real_s=5)
    first = shaker.drive_frequency_hz
    gas_lab.clock.sleep(30.0, max_real_s=5)  # an octave later
    second = shaker.drive_frequency_hz
    # 1/3 octave in 10 s, and one more in 30 s: exact but for the replies' latency (sim/tables/reply-latency.yaml)
    assert first == pytest.approx(10 * 2 ** (1 / 3), rel=1e-3)
    assert second / first == pytest.approx(2.0, rel=1e-3)
    assert shaker.control_acceleration_m_s2 == pytest.approx(5.0, rel=0.025)
    assert gas_lab.clock.wait_until(lambda: shaker.state == "DONE", timeout_sim_s=120, max_real_s=5)


def test_a_random_vibration_reaches_the_rms_of_its_profile(gas_lab, shaker):
    profile = [(10.0, 0.05), (20.0, 0.05), (150.0, 0.05 * 20 / 150)]  # the shape of IEC 60068-2-64 level 1
    shaker.configure_random(axis="Z", asd_profile=profile, duration_s=120)
    shaker.start()
    gas_lab.clock.sleep(3.0, max_real_s=5)
    target = asd_rms_m_s2(profile)
    assert target == pytest.approx(math.sqrt(0.05 * 10 + 0.05 * 20 * math.log(150 / 20)))
    assert shaker.control_acceleration_m_s2 == pytest.approx(target, rel=0.03)  # band discretisation + noise
    shaker.stop()
    assert shaker.state == "STOPPED"


def test_an_abort_leaves_the_shaker_stopped_as_the_instrument_says_over_its_socket(gas_lab, shaker, iolog):
    shaker.configure_sine(axis="Z", acceleration_m_s2=2.5, frequency_hz=2.0, duration_s=0)  # until stopped
    shaker.start()
    gas_lab.clock.sleep(5.0, max_real_s=5)
    assert shaker.control_acceleration_m_s2 > 2.0
    shaker.abort()
    gas_lab.clock.sleep(5.0, max_real_s=5)
    with open_instrument("shaker", gas_lab.bench.instruments["shaker"], MemoryIOLog(),
                         gas_lab.resources["shaker"]) as other:  # a second connection: the instrument's own word
        assert other.state == "ABORTED"
        assert other.control_acceleration_m_s2 == 0.0 and other.drive_frequency_hz == 0.0
    assert gas_lab.world.read("shaker.running") is False
    assert gas_lab.world.read("meter.acceleration_m_s2") == (0.0, 0.0, 0.0)


def test_a_value_beyond_the_rating_sends_nothing_to_the_real_instrument(shaker, iolog):
    before = len(iolog.entries())
    with pytest.raises(InstrumentValueError, match="0 .. 30 m/s²"):
        shaker.configure_sine(axis="Z", acceleration_m_s2=40.0, frequency_hz=10.0)
    with pytest.raises(InstrumentValueError, match="frequency_hz"):
        shaker.configure_sine(axis="Z", acceleration_m_s2=2.0, frequency_hz=-10.0)
    assert len(iolog.entries()) == before


def test_the_simulated_controller_refuses_settings_while_running_and_values_beyond_its_own_range(gas_lab, shaker):
    shaker.configure_sine(axis="Z", acceleration_m_s2=1.0, frequency_hz=5.0, duration_s=0)
    shaker.start()
    shaker.write("SINE:ACC 2")  # raw, bypassing the driver's checks
    assert shaker.read_error_queue() == [(-221, "Settings conflict")]
    assert shaker.sine_acceleration_m_s2 == 1.0
    shaker.abort()
    shaker.write("SINE:ACC 500")
    shaker.write("BOGUS 1")
    assert shaker.read_error_queue() == [(-222, "Data out of range"), (-113, "Undefined header")]
    assert shaker.sine_acceleration_m_s2 == 1.0
    shaker.write("SINE:ACC 20")
    shaker.write("SINE:FREQ 0.5")  # 20 m/s² at 0.5 Hz: 2 m of stroke
    shaker.write("STAR")
    assert shaker.read_error_queue() == [(-221, "Settings conflict")] and shaker.state != "RUNNING"


def test_no_answer_is_a_timeout_and_an_injected_error_is_the_instruments_error(gas_lab):
    with open_with_timeout(gas_lab, "shaker") as driver:
        inject_fault(gas_lab, "shaker", "no_answer")
        try:
            exc, elapsed = raised_within(lambda: driver.control_acceleration_m_s2)
            assert isinstance(exc, InstrumentTimeout) and elapsed < FAULT_TIMEOUT_S + FAULT_SLACK_S
        finally:
            gas_lab.clear_faults()
    with open_with_timeout(gas_lab, "shaker") as driver:
        inject_fault(gas_lab, "shaker", "error", '-240,"Hardware error"')
        try:
            exc, _ = raised_within(lambda: driver.control_acceleration_m_s2)
            assert isinstance(exc, InstrumentError) and "-240" in str(exc)
        finally:
            gas_lab.clear_faults()
