"""SINAMICS V20 driver: byte-exact Modbus PDUs, then against the simulated inverter and rig over Modbus TCP."""

import pytest

from meterlab.instruments.errors import InstrumentError, InstrumentValueError
from meterlab.instruments.pump import SinamicsV20
from meterlab.instruments.testing import expected_protocol
from meterlab.sim.scenario import FaultSpec
from meterlab.sim.testing import wait_for

hx = bytes.fromhex

# -- byte-exact ---------------------------------------------------------------------------------------------


def test_run_writes_the_setpoint_then_the_control_word():
    with expected_protocol(SinamicsV20, [
        (hx("06 0064 2000"), hx("06 0064 2000")),  # HSW = 50 % of 0x4000
        (hx("06 0063 047f"), hx("06 0063 047f")),  # STW1 = run
    ]) as pump:
        pump.run(50)


def test_setpoint_out_of_range_is_refused_before_anything_is_sent():
    with expected_protocol(SinamicsV20, []) as pump:
        with pytest.raises(InstrumentValueError, match="0 .. 100"):
            pump.run(150)
        with pytest.raises(InstrumentValueError):
            pump.control_word = "reverse"


def test_status_and_signed_actual_speed():
    with expected_protocol(SinamicsV20, [
        (hx("03 006d 0001"), hx("03 02 0007")),
        (hx("03 006d 0001"), hx("03 02 0007")),
        (hx("03 006e 0001"), hx("03 02 f000")),
        (hx("03 0064 0001"), hx("03 02 1000")),
    ], unit=3) as pump:
        assert pump.running and not pump.fault
        assert pump.actual_speed_pct == -25.0
        assert pump.speed_setpoint_pct == 25.0


def test_exception_response_names_the_register_and_the_exception():
    with expected_protocol(SinamicsV20, [(hx("03 006d 0001"), hx("83 02"))]) as pump:
        with pytest.raises(InstrumentError, match=r"read holding 109\+1 \(unit 1\).*2 \(illegal address\)"):
            pump.status_word


def test_safe_state_stops_and_zeroes_the_setpoint():
    with expected_protocol(SinamicsV20, [
        (hx("06 0063 047e"), hx("06 0063 047e")),
        (hx("06 0064 0000"), hx("06 0064 0000")),
    ]) as pump:
        pump.safe_state()


# -- against the simulated lab -------------------------------------------------------------------------------


def test_speed_and_flow_follow_the_setpoint_with_the_rigs_time_constant(lab, rig):
    pump, valves = rig["pump"], rig["valves"]
    valves.open_start_valve()
    pump.run(75)
    assert pump.running
    lab.clock.sleep(30, max_real_s=2)
    assert pump.actual_speed_pct == pytest.approx(75, abs=0.01)
    assert lab.world.read("water.flowrate_m3h") == pytest.approx(4.5, rel=1e-4)
    pump.stop()
    lab.clock.sleep(30, max_real_s=2)
    assert pump.actual_speed_pct == pytest.approx(0, abs=0.01)
    assert not pump.running
    rig.safe_state()


def test_out_of_range_setpoint_is_refused_by_the_inverter_and_unchanged(rig):
    pump = rig["pump"]
    pump.speed_setpoint_pct = 40
    assert pump.transport.read_holding_registers(100) == [0x199A]  # 40 % of 0x4000, rounded
    with pytest.raises(InstrumentError, match="illegal value"):
        pump.transport.write_register(100, 0x5000)  # 125 %, bypassing the driver's check
    assert pump.transport.read_holding_registers(100) == [0x199A]


def test_unknown_register_and_function_are_refused(rig):
    pump = rig["pump"]
    with pytest.raises(InstrumentError, match="illegal address"):
        pump.transport.read_holding_registers(200)
    with pytest.raises(InstrumentError, match="illegal address"):
        pump.transport.write_register(109, 1)  # the status word is read-only
    with pytest.raises(InstrumentError, match="illegal function"):
        pump.transport.read_coils(0)


def test_a_pump_trip_stops_the_flow_until_acknowledged(lab, rig):
    pump, valves = rig["pump"], rig["valves"]
    valves.open_start_valve()
    pump.run(50)
    lab.clock.sleep(20, max_real_s=2)
    lab.inject(FaultSpec(kind="pump_trip", at_s=lab.clock.now()))
    assert wait_for(lambda: pump.fault, timeout_real_s=2)
    lab.clock.sleep(40, max_real_s=2)
    assert lab.world.read("water.flowrate_m3h") == pytest.approx(0, abs=1e-6)
    pump.acknowledge_fault()
    assert not pump.fault and not pump.running
    pump.run(50)
    lab.clock.sleep(30, max_real_s=2)
    assert lab.world.read("water.flowrate_m3h") == pytest.approx(3.0, rel=1e-4)
    rig.safe_state()
