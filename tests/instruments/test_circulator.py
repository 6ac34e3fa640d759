"""Water conditioning instruments: the JULABO circulator byte-exact, then the circulator, the PACE as the line's
pressure controller and the Δp transmitters against the simulated lab."""

import time
from pathlib import Path

import pytest

from meterlab.instruments.circulator import JulaboCirculator
from meterlab.instruments.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentReplyError,
    InstrumentTimeout,
    InstrumentValueError,
)
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.instruments.testing import expected_protocol
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.testing import FAULT_SLACK_S as SLACK_S
from meterlab.sim.testing import FAULT_TIMEOUT_S as TIMEOUT_S
from meterlab.sim.testing import inject_fault, open_with_timeout, running_lab

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "tests" / "sim" / "data" / "water-conditioning.yaml"

# -- byte-exact ---------------------------------------------------------------------------------------------


def test_readings_and_identity_with_cr_out():
    with expected_protocol(JulaboCirculator, [
        (b"version", b"JULABO MAGIO MS-1000F VERSION 1.1.2"),
        (b"in_pv_00", b"49.98"),
        (b"in_sp_00", b"50.00"),
        (b"in_mode_05", b"1"),
        (b"status", b"03 REMOTE START"),
    ]) as julabo:
        assert julabo.transport.write_termination == "\r" and julabo.transport.read_termination == "\r\n"
        assert julabo.identify() == "JULABO MAGIO MS-1000F VERSION 1.1.2"
        assert julabo.temperature_c() == 49.98
        assert julabo.setpoint_c() == 50.0
        assert julabo.running is True
        assert julabo.status() == (3, "REMOTE START")


def test_setpoint_is_sent_with_two_decimals_and_confirmed_by_the_status():
    with expected_protocol(JulaboCirculator, [
        (b"out_sp_00 55.50", None),
        (b"status", b"02 REMOTE STOP"),
        (b"out_sp_00 60.00", None),
        (b"status", b"-11 VALUE TOO LARGE"),
    ]) as julabo:
        julabo.set_setpoint_c(55.5)
        with pytest.raises(InstrumentError, match="-11 VALUE TOO LARGE"):
            julabo.set_setpoint_c(60)


def test_setpoints_outside_the_rigs_range_are_refused_before_anything_is_sent():
    with expected_protocol(JulaboCirculator, [], options={"min_temperature_c": 10, "max_temperature_c": 60}) as julabo:
        for value in (9.99, 60.01, float("nan"), True, "50"):
            with pytest.raises(InstrumentValueError, match=r"10 \.\. 60 °C"):
                julabo.set_setpoint_c(value)


def test_start_and_stop_are_confirmed_by_reading_back():
    with expected_protocol(JulaboCirculator, [
        (b"out_mode_05 1", None),
        (b"status", b"03 REMOTE START"),
        (b"in_mode_05", b"1"),
        (b"out_mode_05 0", None),
        (b"in_mode_05", b"1"),
    ]) as julabo:
        julabo.start()
        with pytest.raises(InstrumentError, match="did not stop"):
            julabo.stop()


def test_an_alarm_in_the_status_refuses_the_start():
    with expected_protocol(JulaboCirculator, [
        (b"out_mode_05 1", None),
        (b"status", b"-01 LOW LEVEL ALARM"),
    ]) as julabo:
        with pytest.raises(InstrumentError, match="-01 LOW LEVEL ALARM"):
            julabo.start()


def test_malformed_replies_are_reply_errors():
    with expected_protocol(JulaboCirculator, [
        (b"in_pv_00", b"---.--"),
        (b"status", b"REMOTE START"),
        (b"in_mode_05", b"2"),
    ]) as julabo:
        with pytest.raises(InstrumentReplyError, match="not a temperature"):
            julabo.temperature_c()
        with pytest.raises(InstrumentReplyError, match="not a status"):
            julabo.status()
        with pytest.raises(InstrumentReplyError):
            julabo.running


def test_safe_state_cool_sets_the_safe_temperature_and_leaves_the_pump_as_it_is():
    with expected_protocol(JulaboCirculator, [
        (b"out_sp_00 25.00", None),
        (b"in_sp_00", b"25.00"),
        (b"out_sp_00 25.00", None),
        (b"in_sp_00", b"60.00"),
    ], options={"safe_temperature_c": 25}) as julabo:
        julabo.safe_state()
        with pytest.raises(InstrumentError, match="safe setpoint was not taken"):
            julabo.safe_state()


def test_safe_state_stop_stops_the_unit():
    with expected_protocol(JulaboCirculator, [(b"out_mode_05 0", None), (b"in_mode_05", b"0")],
                           options={"safe_action": "stop"}) as julabo:
        julabo.safe_state()


def test_options_refuse_a_safe_temperature_outside_the_range():
    with pytest.raises(ValueError, match="safe_temperature_c must lie within"):
        JulaboCirculator.Options.model_validate({"safe_temperature_c": 95})


# -- against the simulated lab -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab():
    with running_lab(ROOT / "instruments" / "sim.yaml", SCENARIO, clock_scale=VIRTUAL) as lab:
        yield lab


@pytest.fixture(scope="module")
def bench(lab):
    with lab.open_bench(MemoryIOLog()) as bench:
        yield bench


def test_the_circulator_brings_the_line_water_to_its_setpoint(lab, bench):
    julabo, thermometer = bench["circulator"], bench["thermometer"]
    assert julabo.identify().startswith("JULABO")
    julabo.set_setpoint_c(45.0)
    julabo.start()
    assert julabo.running and julabo.status() == (3, "REMOTE START")
    # 20 of the circulator's time constants (was 20 real s: 20000 simulated s at 1000x)
    assert lab.clock.wait_until(lambda: abs(thermometer.temperature_c() - 45.0) < 0.05, timeout_sim_s=1200,
                                poll_sim_s=10)
    assert julabo.temperature_c() == pytest.approx(45.0, abs=0.06)
    julabo.safe_state()  # cool: 20 °C, still running
    assert julabo.running and julabo.setpoint_c() == 20.0
    assert lab.clock.wait_until(lambda: abs(thermometer.temperature_c() - 20.0) < 0.05, timeout_sim_s=1200,
                                poll_sim_s=10)
    julabo.stop()
    julabo.safe_state()  # a stopped unit stays stopped
    assert not julabo.running


def test_the_simulated_unit_refuses_setpoints_outside_its_working_range(lab, bench):
    julabo = bench["circulator"]
    julabo.write("out_sp_00 250")
    assert julabo.status() == (-11, "VALUE TOO LARGE")
    julabo.write("out_sp_00 -40")
    assert julabo.status() == (-10, "VALUE TOO SMALL")
    julabo.write("bogus")
    assert julabo.status() == (-8, "INVALID COMMAND")
    assert julabo.status()[0] >= 0  # reported once


def test_the_pace_controller_sets_the_line_pressure_and_the_indicator_reads_it(lab, bench):
    controller, indicator = bench["pressure_controller"], bench["pressure"]
    controller.set_setpoint_pa(101325.0 + 7e5)  # absolute, as the bench's PACE is referred
    assert indicator.pressure_pa() == pytest.approx(501325.0, abs=1.0)  # output still off: 4 bar gauge
    controller.output_on()
    # the regulator's lag: 2 s (was 20 real s: 20000 simulated s at 1000x)
    assert lab.clock.wait_until(lambda: abs(indicator.pressure_pa() - 801325.0) < 5.0, timeout_sim_s=200,
                                poll_sim_s=1)
    controller.safe_state()  # output off: the line goes back to the supply's own pressure
    assert not controller.output_enabled
    assert indicator.pressure_pa() == pytest.approx(501325.0, abs=1.0)  # at once (was: within 5 real s)


def test_an_indicator_pace_never_moves_the_line(lab, bench):
    indicator = bench["pressure"]  # options: {controller: false}, same port
    before = indicator.pressure_pa()
    indicator.set_setpoint_pa(2e5)
    indicator.output_on()
    assert lab.world.read("water.pressure_bar.setpoint") is None
    assert indicator.pressure_pa() == pytest.approx(before, abs=1.0)
    indicator.output_off()


def test_the_dp_transmitters_read_each_meters_pressure_loss(lab, bench):
    pump, valves = bench["pump"], bench["valves"]
    valves.open_start_valve()
    pump.run(50.0)  # 3 m³/h
    try:
        assert lab.clock.wait_until(lambda: abs(lab.world.read("water.flowrate_m3h") - 3.0) < 1e-6,
                                    timeout_sim_s=100, poll_sim_s=1)
        dp1 = [bench["dp1"].pressure_pa for _ in range(40)]
        dp2 = [bench["dp2"].pressure_pa for _ in range(40)]
        assert sum(dp1) / 40 == pytest.approx(40e3 * (3.0 / 2.5) ** 2, abs=4 * 50 / 40 ** 0.5)
        assert sum(dp2) / 40 == pytest.approx(20e3 * (3.0 / 4.0) ** 2, abs=4 * 50 / 40 ** 0.5)
        assert bench["dp3"].pressure_pa == 0.0  # no meter at position 3
        assert bench["dp1"].status == 0
    finally:
        pump.stop()
        valves.close_start_valve()


# -- faults --------------------------------------------------------------------------------------------------


@pytest.fixture
def short_timeout(lab):
    with open_with_timeout(lab, "circulator") as julabo:
        yield julabo
    lab.clear_faults()


@pytest.mark.parametrize("kind, expected", [
    ("no_answer", InstrumentTimeout), ("garbage", InstrumentReplyError), ("drop_connection", InstrumentConnectionError),
])
def test_comm_faults_surface_within_the_timeout(lab, short_timeout, kind, expected):
    inject_fault(lab, "circulator", kind)
    start = time.monotonic()
    with pytest.raises(expected) as caught:
        short_timeout.temperature_c()
    assert time.monotonic() - start < TIMEOUT_S + SLACK_S
    assert caught.value.instrument == "circulator"
    lab.clear_faults()
    if kind == "drop_connection":
        short_timeout.transport.reconnect()
    assert 4.0 < short_timeout.temperature_c() < 91.0


def test_an_alarm_of_the_unit_is_an_instrument_error_on_the_next_command(lab, short_timeout):
    inject_fault(lab, "circulator", "error", "-01 LOW LEVEL ALARM")
    with pytest.raises(InstrumentError, match="circulator.*-01 LOW LEVEL ALARM"):
        short_timeout.set_setpoint_c(30.0)
