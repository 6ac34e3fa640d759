"""Diverter and valve I/O: DAQ970A (SCPI) and ADAM-6050 (Modbus TCP), byte-exact and against the lab."""

import pytest

from meterlab.instruments.digital_io import Adam6050, Daq970aDigitalIO
from meterlab.instruments.errors import InstrumentError, InstrumentValueError
from meterlab.instruments.testing import TIMEOUT, expected_protocol

WIRING = {"DO0": "diverter", "DO1": "start_valve", "DI0": "diverter"}
hx = bytes.fromhex

# -- DAQ970A, byte-exact ------------------------------------------------------------------------------------


def test_daq_switches_one_output_by_read_modify_write_and_waits_for_it():
    with expected_protocol(Daq970aDigitalIO, [
        (b"SOUR:DIG:DATA:BYTE? (@101)", b"4"),
        (b"SOUR:DIG:DATA:BYTE 5,(@101)", None),
        (b"*OPC?", b"1"),
        (b"SENS:DIG:DATA:BYTE? (@102)", b"1"),
    ], wiring=WIRING) as io:
        io.diverter_to_tank()
        assert io.signal_state("diverter") is True  # read back from its position input DI0


def test_daq_uses_the_slot_and_ports_from_the_options():
    with expected_protocol(Daq970aDigitalIO, [(b"SENS:DIG:DATA:BYTE? (@201)", b"+3")],
                           options={"slot": 2, "input_port": 1}) as io:
        assert io.read_inputs()[:3] == [True, True, False]


def test_daq_refuses_a_byte_out_of_range_and_an_unwired_signal_before_sending():
    with expected_protocol(Daq970aDigitalIO, [], wiring=WIRING) as io:
        with pytest.raises(InstrumentValueError, match="0 .. 255"):
            io.write_output_byte(300)
        with pytest.raises(KeyError, match="drain_valve"):
            io.set_signal("drain_valve", True)


def test_daq_safe_state_switches_off_the_wired_outputs_only():
    with expected_protocol(Daq970aDigitalIO, [
        (b"SOUR:DIG:DATA:BYTE? (@101)", b"135"),  # 0b10000111: DO7 is not ours
        (b"SOUR:DIG:DATA:BYTE 132,(@101)", None),
        (b"*OPC?", b"1"),
    ], wiring=WIRING) as io:
        io.safe_state()


def test_daq_safe_state_switches_everything_off_if_the_port_cannot_be_read():
    with expected_protocol(Daq970aDigitalIO, [
        (b"SOUR:DIG:DATA:BYTE? (@101)", TIMEOUT),
        (b"SOUR:DIG:DATA:BYTE 0,(@101)", None),
        (b"*OPC?", b"1"),
    ], wiring=WIRING) as io:
        io.safe_state()


# -- ADAM-6050, byte-exact ----------------------------------------------------------------------------------


def test_adam_outputs_are_coils_from_16():
    with expected_protocol(Adam6050, [
        (hx("05 0010 ff00"), hx("05 0010 ff00")),  # DO0 on
        (hx("01 0010 0006"), hx("01 01 05")),  # DO0..DO5 = 1,0,1,0,0,0
    ], wiring={"DO0": "drain_valve"}) as io:
        io.set_signal("drain_valve", True)
        assert io.read_outputs() == [True, False, True, False, False, False]


def test_adam_inputs_are_discrete_inputs_from_0():
    with expected_protocol(Adam6050, [(hx("02 0000 000c"), hx("02 02 01 08"))]) as io:
        assert io.read_inputs() == [True] + [False] * 10 + [True]


def test_adam_safe_state_switches_off_each_wired_output():
    with expected_protocol(Adam6050, [
        (hx("05 0010 0000"), hx("05 0010 0000")),
        (hx("05 0012 0000"), hx("05 0012 0000")),
    ], wiring={"DO0": "drain_valve", "DO2": "start_valve"}) as io:
        io.safe_state()


# -- against the simulated lab -------------------------------------------------------------------------------


def test_daq_outputs_move_the_rigs_diverter_and_valve(lab, rig):
    valves = rig["valves"]
    valves.diverter_to_tank()
    valves.open_start_valve()
    assert lab.world.read("diverter") is True and lab.world.read("start_valve") is True
    assert valves.signal_state("diverter") is True
    assert valves.read_inputs()[:2] == [True, True]
    valves.safe_state()
    assert lab.world.read("diverter") is False and lab.world.read("start_valve") is False


def test_adam_drains_the_tank_and_reads_the_diverter_position(lab, rig):
    drain = rig["drain"]
    rig["valves"].diverter_to_tank()
    assert drain.read_inputs()[0] is True  # DI0 wired to the diverter's position
    rig["valves"].diverter_to_bypass()
    with lab.world.now():
        lab.world.component("water_rig").tank_mass_kg = 100.0
    drain.set_signal("drain_valve", True)
    lab.clock.sleep(5, max_real_s=1)
    assert lab.world.read("tank.mass_kg") == 0.0  # 50 kg/s in the test scenario
    drain.safe_state()
    assert lab.world.read("drain_valve") is False


def test_daq_refuses_a_bad_byte_and_keeps_its_outputs(rig):
    valves = rig["valves"]
    valves.write_output_byte(2)
    valves.write("SOUR:DIG:DATA:BYTE 300,(@101)")
    valves.write("SOUR:DIG:DATA:BYTE 1,(@105)")
    valves.write("SOUR:DIG:FROB 1")
    assert valves.read_error_queue() == [(-222, "Data out of range"), (-224, "Illegal parameter value"),
                                         (-113, "Undefined header")]
    assert valves.read_output_byte() == 2
    valves.safe_state()


def test_adam_refuses_addresses_and_functions_it_does_not_have(rig):
    transport = rig["drain"].transport
    with pytest.raises(InstrumentError, match="illegal address"):
        transport.write_coil(30, True)
    with pytest.raises(InstrumentError, match="illegal address"):
        transport.read_coils(16, 10)
    with pytest.raises(InstrumentError, match="illegal function"):
        transport.read_holding_registers(0)
