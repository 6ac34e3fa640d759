"""Keysight 53230A driver: byte-exact protocol, then through pyvisa-py sockets against the simulated lab."""

import pytest

from meterlab.instruments.bench import open_instrument
from meterlab.instruments.counter import Keysight53230A
from meterlab.instruments.errors import InstrumentError, InstrumentReplyError, InstrumentValueError
from meterlab.instruments.testing import expected_protocol
from meterlab.metrology.reference_volume import gravimetric_volume

# -- byte-exact ---------------------------------------------------------------------------------------------


def test_gate_time_is_written_and_read_in_the_instruments_format():
    with expected_protocol(Keysight53230A, [
        (b"SENS:TOT:GATE:TIME 10", None),
        (b"SENS:TOT:GATE:TIME?", b"+1.00000000000000E+001"),
    ]) as counter:
        counter.gate_time_s = 10
        assert counter.gate_time_s == 10.0


def test_gate_time_out_of_range_is_refused_before_anything_is_sent():
    with expected_protocol(Keysight53230A, []) as counter:
        with pytest.raises(InstrumentValueError, match=r"dut.gate_time_s = 2000 .*1e-06 .. 1000"):
            counter.gate_time_s = 2000
        with pytest.raises(InstrumentValueError):
            counter.configure_timed_totalize(0)


def test_timed_totalize_on_the_configured_channel():
    with expected_protocol(Keysight53230A, [
        (b"CONF:TOT:TIM 12.5,(@2)", None),
        (b"READ?", b"+1.21510000000000E+004"),
    ], options={"channel": 2}) as counter:
        counter.configure_timed_totalize(12.5)
        assert counter.read_count() == 12151


def test_gated_totalize_arms_and_waits_until_the_counter_took_init():
    with expected_protocol(Keysight53230A, [
        (b"CONF:TOT:TIM 1,(@1)", None),
        (b"SENS:TOT:GATE:SOUR EXT", None),
        (b"SENS:TOT:GATE:POL POS", None),
        (b"INIT:IMM", None),
        (b"STAT:OPER:COND?", b"+16"),
        (b"FETC?", b"+5.00000000000000E+002"),
        (b"SENS:TOT:GATE:SOUR?", b"EXT"),
    ]) as counter:
        counter.configure_gated_totalize("positive")
        counter.start()
        assert counter.fetch_count() == 500
        assert counter.gate_source == "external"


def test_an_invalid_reading_raises_with_the_error_queue_contents():
    with expected_protocol(Keysight53230A, [
        (b"READ?", b"+9.91000000000000E+037"),
        (b"SYST:ERR?", b'-241,"Hardware missing"'),
        (b"SYST:ERR?", b'+0,"No error"'),
    ]) as counter:
        with pytest.raises(InstrumentError, match=r"'READ\?'.*-241,\"Hardware missing\""):
            counter.read_count()


def test_a_reply_that_is_not_a_count_is_a_reply_error():
    with expected_protocol(Keysight53230A, [(b"FETC?", b"GARBAGE")]) as counter:
        with pytest.raises(InstrumentReplyError, match="not a count"):
            counter.fetch_count()


def test_safe_state_aborts_and_identify_asks_idn():
    with expected_protocol(Keysight53230A, [
        (b"ABOR", None),
        (b"*IDN?", b"Keysight Technologies,53230A,MY1,A.02"),
    ]) as counter:
        counter.safe_state()
        assert counter.identify() == "Keysight Technologies,53230A,MY1,A.02"


# -- against the simulated lab ---------------------------------------------------------------------------

FLOWRATE_M3H = 3.0  # 50 % of the scenario's 6 m3/h


@pytest.fixture(scope="module")
def flowing(lab, rig):
    """Water flowing steadily at FLOWRATE_M3H through the meters, diverter to bypass."""
    rig["valves"].diverter_to_bypass()
    rig["valves"].open_start_valve()
    rig["pump"].run(50)
    lab.clock.sleep(30, max_real_s=2)  # 15 time constants
    assert lab.world.read("water.flowrate_m3h") == pytest.approx(FLOWRATE_M3H, rel=1e-6)
    yield rig
    rig.safe_state()


def expected_pulses(lab, position, flowrate_m3h, seconds):
    meter = lab.world.component("meters").meter(position)
    volume_l = flowrate_m3h / 3.6 * seconds * (1 + meter.curve_error_pct(flowrate_m3h) / 100)
    return volume_l / meter.spec.pulse_value_l


def test_timed_totalize_counts_the_meters_pulses_over_the_gate(lab, flowing):
    counter = flowing["counter"]
    counter.configure_timed_totalize(10)
    count = counter.read_count()
    assert abs(count - expected_pulses(lab, 1, FLOWRATE_M3H, 10)) <= 1  # meter 1 has no random error


def test_timed_totalize_of_a_noisy_meter_stays_within_its_repeatability(lab, flowing, iolog):
    entry = lab.bench.instruments["counter"].model_copy(update={"options": {"channel": 2}})
    expected = expected_pulses(lab, 2, FLOWRATE_M3H, 10)
    sigma = 0.2 / 100 * expected  # the scenario's repeatability, 1 sigma
    with open_instrument("counter2", entry, iolog, lab.resources["counter"]) as counter:
        counter.configure_timed_totalize(10)
        counts = [counter.read_count() for _ in range(6)]
    assert all(abs(c - expected) <= 4 * sigma + 1 for c in counts), (counts, expected)
    assert len(set(counts)) > 1  # a new random error per measurement


def test_gated_totalize_on_the_diverter_agrees_with_the_scale(lab, flowing):
    counter, scale, valves = flowing["counter"], flowing["scale"], flowing["valves"]
    before_kg = scale.weight_kg()
    counter.configure_gated_totalize()
    counter.start()
    valves.diverter_to_tank()
    lab.clock.sleep(60, max_real_s=2)
    valves.diverter_to_bypass()
    count = counter.fetch_count(timeout_s=2)
    # The metrology core's gravimetric model turns the balance indication back into the meter's volume.
    t_c, line_pa = lab.world.read("water.temperature_c"), 101325.0 + lab.world.read("water.pressure_bar") * 1e5
    reference_l = 1000 * gravimetric_volume(scale.weight_kg() - before_kg, water_temperature_tank_c=t_c, air_density=1.2,
                                            meter_temperature_c=t_c, meter_pressure_pa=line_pa)
    error_pct = (count * 0.01 - reference_l) / reference_l * 100
    meter = lab.world.component("meters").meter(1)
    assert error_pct == pytest.approx(meter.curve_error_pct(FLOWRATE_M3H), abs=0.03)  # a 0.01 kg step is 0.01 %


def test_continuous_totalize_runs_until_aborted(lab, flowing):
    counter = flowing["counter"]
    counter.configure_continuous_totalize()
    counter.start()
    lab.clock.sleep(5, max_real_s=1)
    first = counter.running_count()
    lab.clock.sleep(5, max_real_s=1)
    assert counter.running_count() > first > 0
    counter.abort()
    stopped = counter.running_count()
    lab.clock.sleep(5, max_real_s=1)
    assert counter.running_count() == stopped


def test_unknown_command_gets_undefined_header_in_the_error_queue(rig):
    counter = rig["counter"]
    counter.write("TOT:FROBNICATE 3")
    assert counter.read_error_queue() == [(-113, "Undefined header")]


def test_out_of_range_gate_time_is_refused_by_the_instrument_and_unchanged(rig):
    counter = rig["counter"]
    counter.gate_time_s = 2.5
    counter.write("SENS:TOT:GATE:TIME 5000")  # bypasses the driver's own check
    assert counter.read_error_queue() == [(-222, "Data out of range")]
    assert counter.gate_time_s == 2.5


def test_init_while_measuring_is_ignored_with_an_error(rig, lab):
    counter = rig["counter"]
    counter.configure_timed_totalize(100)
    counter.start()
    counter.write("INIT")
    assert counter.read_error_queue() == [(-213, "Init ignored")]
    counter.abort()
    assert not counter.measuring
