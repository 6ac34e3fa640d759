"""Injected faults surface from the real drivers as clear exceptions within their timeout, never a hang."""


import time

import pytest

from meterlab.instruments.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentFailure,
    InstrumentReplyError,
    InstrumentTimeout,
)
from meterlab.instruments.iolog import Direction, MemoryIOLog
from meterlab.sim.scenario import FaultSpec
from meterlab.sim.testing import FAULT_SLACK_S as SLACK_S
from meterlab.sim.testing import FAULT_TIMEOUT_S as TIMEOUT_S
from meterlab.sim.testing import inject_fault, open_with_timeout, raised_within


@pytest.fixture
def connect(lab):
    """Open a fresh driver with a short timeout; clear all faults afterwards."""
    opened = []

    def open_(name):
        log = MemoryIOLog()
        instrument = open_with_timeout(lab, name, iolog=log)
        opened.append(instrument)
        return instrument, log

    yield open_
    lab.clear_faults()
    for instrument in opened:
        instrument.close()


inject = inject_fault
timed = raised_within


@pytest.mark.parametrize("name, call", [
    ("counter", lambda counter: counter.identify()),
    ("scale", lambda scale: scale.weight_kg()),
    ("pump", lambda pump: pump.status_word),
])
def test_no_answer_is_a_timeout_naming_instrument_and_command(lab, connect, name, call):
    instrument, log = connect(name)
    inject(lab, name, "no_answer")
    exc, elapsed = timed(lambda: call(instrument))
    assert isinstance(exc, InstrumentTimeout)
    assert exc.instrument == name and exc.command and f"{TIMEOUT_S:g} s" in str(exc)
    assert elapsed < TIMEOUT_S + SLACK_S
    assert log.entries()[-1].direction is Direction.ERROR  # the failure is in the I/O log


@pytest.mark.parametrize("name, call, expected", [
    ("counter", lambda counter: counter.identify(), InstrumentReplyError),
    ("scale", lambda scale: scale.weight_kg(), InstrumentReplyError),
    ("pump", lambda pump: pump.status_word, InstrumentFailure),  # the Modbus framer drops it: timeout
])
def test_garbage_is_an_exception_within_the_timeout(lab, connect, name, call, expected):
    instrument, _ = connect(name)
    inject(lab, name, "garbage")
    exc, elapsed = timed(lambda: call(instrument))
    assert isinstance(exc, expected)
    assert elapsed < TIMEOUT_S + SLACK_S


@pytest.mark.parametrize("name, call", [
    ("counter", lambda counter: counter.identify()),
    ("scale", lambda scale: scale.weight_kg()),
    ("pump", lambda pump: pump.status_word),
])
def test_dropped_connection_is_a_connection_error_and_reconnect_works(lab, connect, name, call):
    instrument, _ = connect(name)
    inject(lab, name, "drop_connection")
    exc, elapsed = timed(lambda: call(instrument))
    assert isinstance(exc, InstrumentConnectionError)
    assert elapsed < TIMEOUT_S + SLACK_S
    lab.clear_faults(name)
    instrument.transport.reconnect()
    call(instrument)


def test_counter_error_is_read_from_its_error_queue(lab, connect):
    counter, _ = connect("counter")
    counter.configure_timed_totalize(1)
    inject(lab, "counter", "error", message='-310,"System error"')
    with pytest.raises(InstrumentError, match=r"counter during 'READ\?'.*-310,\"System error\""):
        counter.read_count()


def test_scale_error_is_its_in_line_error_reply(lab, connect):
    scale, _ = connect("scale")
    inject(lab, "scale", "error")
    with pytest.raises(InstrumentError, match="EL: logical error"):
        scale.weight_kg()


def test_pump_error_is_a_modbus_exception(lab, connect):
    pump, _ = connect("pump")
    inject(lab, "pump", "error")
    with pytest.raises(InstrumentError, match="device failure"):
        pump.run(10)


def test_a_fault_ends_when_its_duration_is_over(lab, connect):
    counter, _ = connect("counter")
    lab.inject(FaultSpec(kind="no_answer", instrument="counter", at_s=lab.clock.now(), duration_s=100))
    with pytest.raises(InstrumentTimeout):
        counter.identify()
    lab.clock.sleep(99)
    with pytest.raises(InstrumentTimeout):
        counter.identify()  # 1 simulated s before its end
    lab.clock.sleep(1)
    assert "53230A" in counter.identify()


def test_a_poll_a_silent_simulated_meter_will_not_answer_ends_at_once_only_for_a_caller_that_gives_up_on_silence(lab):
    """The line server says on the wire that it took the request and will not answer; a driver polling inside
    `wire.give_up_silence` (a caller holding the virtual clock) ends with the timeout at once, any other waits the
    real timeout, as for a real instrument."""
    from meterlab.instruments import wire

    timeout_s = 1.5
    with open_with_timeout(lab, "mbus", timeout_s=timeout_s) as gateway:
        inject(lab, "mbus", "no_answer")
        try:
            start = time.monotonic()
            with wire.give_up_silence():
                given_up = gateway.poll_dataset()
            quick_s = time.monotonic() - start
            start = time.monotonic()
            waited = gateway.poll_dataset()
            waited_s = time.monotonic() - start
        finally:
            lab.clear_faults()
    assert given_up["integrity"] == waited["integrity"] == "no_answer"
    assert quick_s < timeout_s / 2 and waited_s >= timeout_s
