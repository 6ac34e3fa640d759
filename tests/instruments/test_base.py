"""The driver framework: declarative properties, validators, the SCPI error queue, expected_protocol itself."""

import math

import pytest

from meterlab.errors import DeclarationError, MeterlabError
from meterlab.instruments.base import (
    ModbusInstrument,
    ScpiInstrument,
    control,
    measurement,
    register_control,
    register_measurement,
    setting,
)
from meterlab.instruments.errors import InstrumentError, InstrumentReplyError, InstrumentTimeout, InstrumentValueError
from meterlab.instruments.testing import TIMEOUT, ProtocolMismatch, expected_protocol
from meterlab.instruments.transport import RegisterTable, WordOrder, float32_to_registers, registers_to_float32
from meterlab.instruments.validators import (
    joined_validators,
    strict_discrete_range,
    strict_discrete_set,
    strict_integer_range,
    strict_range,
    truncated_range,
)


class Source(ScpiInstrument):
    voltage_v = control("VOLT?", "VOLT %g", "Output voltage.", validator=strict_range, values=(0, 10))
    mode = control("MODE?", "MODE %s", "Mode.", validator=strict_discrete_set,
                   values={"fixed": "FIX", "sweep": "SWE"}, map_values=True, cast=str)
    current_a = measurement("MEAS:CURR?", "Measured current.")
    window = measurement("WIN?", "Two numbers.")
    trigger = setting("TRIG %d", "Trigger count.", validator=strict_integer_range, values=(1, 5),
                      check_set_errors=True)

    def safe_state(self):
        self.write("OUTP OFF")


class Drive(ModbusInstrument):
    flow_m3h = register_control(10, "A big-endian float.", data_type="float32", word_order=WordOrder.BIG,
                                validator=strict_range, values=(0, 100))
    total_l = register_measurement(20, "A word-swapped uint32.", table=RegisterTable.INPUT,
                                   data_type="uint32", word_order=WordOrder.SWAPPED)
    offset = register_control(30, "A signed word.", data_type="int16")

    def identify(self):
        return "drive"

    def safe_state(self):
        pass


def test_control_reads_casts_and_writes_with_the_format():
    with expected_protocol(Source, [(b"VOLT 2.5", None), (b"VOLT?", b"2.5"), (b"WIN?", b"1,2.5")]) as source:
        source.voltage_v = 2.5
        assert source.voltage_v == 2.5
        assert source.window == [1.0, 2.5]


def test_map_values_maps_both_ways_and_refuses_unknown_replies():
    with expected_protocol(Source, [(b"MODE SWE", None), (b"MODE?", b"SWE"), (b"MODE?", b"XYZ")]) as source:
        source.mode = "Sweep"  # strings match case-insensitively
        assert source.mode == "sweep"
        with pytest.raises(InstrumentReplyError, match="'XYZ' is none of"):
            source.mode


def test_refused_values_raise_a_declaration_error_and_send_nothing():
    with expected_protocol(Source, []) as source:
        with pytest.raises(InstrumentValueError) as info:
            source.voltage_v = 11
        assert isinstance(info.value, DeclarationError) and isinstance(info.value, MeterlabError)
        assert "dut.voltage_v = 11" in str(info.value) and "nothing was sent" in str(info.value)
        for bad in (float("nan"), "5", True):
            with pytest.raises(InstrumentValueError):
                source.voltage_v = bad
        with pytest.raises(InstrumentValueError):
            source.trigger = 2.0


def test_read_only_and_write_only_properties():
    with expected_protocol(Source, []) as source:
        with pytest.raises(AttributeError, match="can only be read"):
            source.current_a = 1
        with pytest.raises(AttributeError, match="can only be set"):
            source.trigger


def test_a_reply_that_does_not_cast_is_a_reply_error():
    with expected_protocol(Source, [(b"MEAS:CURR?", b"oops")]) as source:
        with pytest.raises(InstrumentReplyError, match="cannot read 'oops' as float"):
            source.current_a


@pytest.mark.parametrize("reply", [b"9.91E+37", b"+9.9E+37", b"-9.9E+37", b"nan", b"inf"])
def test_a_scpi_not_a_number_is_no_measured_value(reply):
    with expected_protocol(Source, [(b"MEAS:CURR?", reply)]) as source:
        with pytest.raises(InstrumentReplyError, match="not a measured value"):
            source.current_a


def test_check_set_errors_drains_the_queue_and_names_the_command():
    with expected_protocol(Source, [
        (b"TRIG 3", None),
        (b"SYST:ERR?", b'-222,"Data out of range"'),
        (b"SYST:ERR?", b'-100,"Command error"'),
        (b"SYST:ERR?", b'+0,"No error"'),
    ]) as source:
        with pytest.raises(InstrumentError, match=r"'TRIG 3'.*-222,\"Data out of range\"; -100,\"Command error\""):
            source.trigger = 3


def test_the_error_queue_is_read_a_bounded_number_of_times():
    exchanges = [(b"SYST:ERR?", b'-350,"Queue overflow"')] * Source.max_error_reads
    with expected_protocol(Source, exchanges) as source:
        assert len(source.read_error_queue()) == Source.max_error_reads


def test_a_silent_instrument_times_out():
    with expected_protocol(Source, [(b"VOLT?", TIMEOUT)]) as source:
        with pytest.raises(InstrumentTimeout, match="dut during 'VOLT\\?'"):
            source.voltage_v


# -- expected_protocol fails the test on any deviation --------------------------------------------------------


def test_expected_protocol_fails_on_different_bytes():
    with pytest.raises(ProtocolMismatch, match="sent b'VOLT 3\\\\n', the script expects b'VOLT 2\\\\n'"):
        with expected_protocol(Source, [(b"VOLT 2", None)]) as source:
            source.voltage_v = 3


def test_expected_protocol_fails_on_unused_exchanges_and_unread_replies():
    with pytest.raises(ProtocolMismatch, match="never sent"):
        with expected_protocol(Source, [(b"VOLT 2", None)]):
            pass
    with pytest.raises(ProtocolMismatch, match="never read"):
        with expected_protocol(Source, [(b"VOLT?", b"2")]) as source:
            source.write("VOLT?")


def test_expected_protocol_fails_on_a_read_without_reply():
    with pytest.raises(ProtocolMismatch, match="no reply"):
        with expected_protocol(Source, [(b"OUTP OFF", None)]) as source:
            source.safe_state()
            source.read()


def test_expected_modbus_protocol_fails_on_a_different_request():
    with pytest.raises(ProtocolMismatch, match="request unit 1 PDU 06 00 1e 00 05"):
        with expected_protocol(Drive, [(bytes.fromhex("06 001e 0004"), bytes.fromhex("06 001e 0004"))]) as drive:
            drive.offset = 5


# -- registers -----------------------------------------------------------------------------------------------


def test_register_properties_encode_floats_words_and_signs():
    hx = bytes.fromhex
    with expected_protocol(Drive, [
        (hx("10 000a 0002 04 4148 0000"), hx("10 000a 0002")),  # 12.5 big-endian
        (hx("04 0014 0002"), hx("04 04 0002 0001")),  # low word first: 0x0001_0002
        (hx("06 001e ffff"), hx("06 001e ffff")),
        (hx("03 001e 0001"), hx("03 02 ffff")),
    ]) as drive:
        drive.flow_m3h = 12.5
        assert drive.total_l == 0x00010002
        drive.offset = -1
        assert drive.offset == -1
        with pytest.raises(InstrumentValueError):
            drive.offset = 70000
        with pytest.raises(AttributeError):
            drive.total_l = 1


@pytest.mark.parametrize("order, words", [(WordOrder.BIG, [0x4148, 0x0000]), (WordOrder.SWAPPED, [0x0000, 0x4148])])
def test_float32_word_orders(order, words):
    assert float32_to_registers(12.5, order) == words
    assert registers_to_float32(words, order) == 12.5


def test_32_bit_registers_need_an_explicit_word_order():
    with pytest.raises(TypeError, match="word_order"):
        register_control(0, "x", data_type="float32")


# -- validators ------------------------------------------------------------------------------------------------


def test_validators():
    assert strict_range(5, (0, 10)) == 5
    with pytest.raises(ValueError, match="0 .. 10"):
        strict_range(-1, (10, 0))
    assert truncated_range(12, (0, 10)) == 10
    assert strict_discrete_range(0.3, (0, 1), 0.1) == 0.3
    with pytest.raises(ValueError, match="steps of 0.1"):
        strict_discrete_range(0.35, (0, 1), 0.1)
    assert strict_discrete_set("pos", ["POS", "NEG"]) == "POS"
    with pytest.raises(ValueError):
        strict_discrete_set(True, [1, 2])
    with pytest.raises(ValueError):
        strict_integer_range(math.pi, (0, 10))
    either = joined_validators(strict_discrete_set, strict_range)
    assert either("MAX", [["MIN", "MAX"], (0, 1)]) == "MAX" and either(0.5, [["MIN", "MAX"], (0, 1)]) == 0.5
    with pytest.raises(ValueError, match="allowed values are 'MIN', 'MAX' or allowed range is 0 .. 1"):
        either(2, [["MIN", "MAX"], (0, 1)])
