"""The SCPI layer of simulated instruments: mnemonics, compound commands, the error queue, formats."""

import pytest

from meterlab.sim.servers.scpi import ErrorQueue, ScpiCommandSet, ScpiError, parse_channels, scpi_float


@pytest.fixture
def commands():
    calls = []
    scpi = ScpiCommandSet()
    scpi.add("[SENSe:]TOTalize:GATE:TIME", lambda call: calls.append(("time", call.args)))
    scpi.add("[SENSe:]TOTalize:GATE:TIME?", lambda call: "1")
    scpi.add("[SENSe:]TOTalize:GATE:POLarity", lambda call: calls.append(("pol", call.args)))
    scpi.add("INPut#:LEVel", lambda call: calls.append(("level", call.suffixes, call.args)))
    scpi.add("SYSTem:ERRor[:NEXT]?", lambda call: "err")
    scpi.add("*IDN?", lambda call: "id")
    return scpi, calls


@pytest.mark.parametrize("header", [
    "TOT:GATE:TIME 2", "tot:gate:time 2", "SENS:TOT:GATE:TIME 2", "sense:totalize:gate:time 2",
    ":TOTalize:GATE:TIME 2",
])
def test_short_and_long_forms_in_any_case(commands, header):
    scpi, calls = commands
    assert scpi.execute(header) == ([], None)
    assert calls == [("time", ["2"])]


@pytest.mark.parametrize("header", ["TOTA:GATE:TIME 2", "TO:GATE:TIME 2", "TOT:GATE 2", "TOT:GATE:TIME:X 2"])
def test_neither_form_is_an_undefined_header(commands, header):
    scpi, calls = commands
    replies, error = scpi.execute(header)
    assert (error.code, error.message) == (-113, "Undefined header") and calls == []


def test_compound_commands_relative_paths_and_replies(commands):
    scpi, calls = commands
    replies, error = scpi.execute("TOT:GATE:TIME 3;POL POS;*IDN?;TIME?;:SYST:ERR?")
    assert error is None
    assert replies == ["id", "1", "err"]
    assert calls == [("time", ["3"]), ("pol", ["POS"])]


def test_an_error_stops_a_compound_line_after_the_commands_before_it(commands):
    scpi, calls = commands
    replies, error = scpi.execute("*IDN?;BOGUS;TOT:GATE:TIME 1")
    assert replies == ["id"] and error.code == -113 and calls == []


def test_numeric_suffixes_and_channel_lists(commands):
    scpi, calls = commands
    scpi.execute("INP2:LEV 1.5, 2")
    scpi.execute("INPUT:LEV 0")
    assert calls == [("level", [2], ["1.5", "2"]), ("level", [1], ["0"])]
    assert parse_channels("(@101,103:105)") == [101, 103, 104, 105]
    with pytest.raises(ScpiError):
        parse_channels("101")


def test_error_queue_is_fifo_and_reports_overflow():
    queue = ErrorQueue(size=3)
    assert queue.pop() == '+0,"No error"'
    for code in (-1, -2, -3, -4):
        queue.push(code, f"e{code}")
    assert [queue.pop() for _ in range(4)] == ['-1,"e-1"', '-2,"e-2"', '-350,"Queue overflow"', '+0,"No error"']


@pytest.mark.parametrize("value, text", [
    (12151, "+1.21510000000000E+004"), (0.1, "+1.00000000000000E-001"), (-3, "-3.00000000000000E+000"),
    (9.91e37, "+9.91000000000000E+037"),
])
def test_keysight_number_format(value, text):
    assert scpi_float(value) == text
