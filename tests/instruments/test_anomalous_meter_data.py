"""Anomalous meter data on the simulated lab (issue 16, part 3): the real drivers, over real sockets to the
protocol servers, refuse every malformed reply and anomalous value the simulated meters send, with an error
naming the instrument, the request, what came back and what was expected; a counter roll-over is unwrapped."""

import pytest

from meterlab.instruments.bench import Bench, InstrumentEntry, load_bench, open_instrument
from meterlab.instruments.errors import ImplausibleValue, InstrumentError, InstrumentFailure, InstrumentReplyError
from meterlab.instruments.iolog import Direction, MemoryIOLog
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.scenario import FaultSpec, load_scenario
from meterlab.sim.testing import running_lab

from .conftest import SIM_BENCH, WATER_SCENARIO

TIMEOUT_S = 0.3
FLOAT_METER = InstrumentEntry.model_validate({  # meter2 read as float32 m³ (holding 100-101, low word first)
    "driver": "modbus_meter", "role": "mut_modbus", "sim": True, "options": {"model": "generic_float32_m3"},
    "wiring": {"meter": "meter2"}})


@pytest.fixture(scope="module")
def lab():
    bench = load_bench(SIM_BENCH)
    keep = {"pump", "valves", "mbus", "modbus_meter"}
    instruments = {k: v for k, v in bench.instruments.items() if k in keep} | {"modbus_float": FLOAT_METER}
    with running_lab(Bench(bench=bench.bench, instruments=instruments), load_scenario(WATER_SCENARIO),
                     clock_scale=VIRTUAL) as lab:
        yield lab


@pytest.fixture
def connect(lab):
    """A fresh driver with a short timeout; faults cleared after."""
    opened = []

    def open_(name, **options):
        entry = lab.bench.instruments[name]
        entry = entry.model_copy(update={"timeout_s": TIMEOUT_S, "options": {**entry.options, **options}})
        log = MemoryIOLog()
        instrument = open_instrument(name, entry, log, lab.resources[name])
        opened.append(instrument)
        return instrument, log

    yield open_
    lab.clear_faults()
    for instrument in opened:
        instrument.close()


def flow(lab, rig, seconds):
    """Water through the meters for `seconds` of simulated time, then at rest."""
    rig["valves"].open_start_valve()
    rig["pump"].run(75)
    lab.clock.sleep(seconds, max_real_s=3)
    rig.safe_state()
    lab.clock.sleep(60, max_real_s=3)  # the pump runs down with its time constant: wait until nothing flows


@pytest.fixture(scope="module")
def flowed(lab, rig):
    flow(lab, rig, 30)


def inject(lab, kind, instrument, message=None):
    lab.inject(FaultSpec(kind=kind, instrument=instrument, at_s=lab.clock.now(), message=message))


def refused(read, expected_type):
    """The read raises `expected_type` and returns nothing."""
    with pytest.raises(InstrumentFailure) as info:
        value = read()
        pytest.fail(f"a value was returned: {value!r}")
    assert type(info.value) is expected_type, info.value
    return info.value


# -- Modbus ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, message, expected_type, text", [
    ("short_reply", None, InstrumentReplyError, "1 register(s) came back; expected function code 4"),
    ("extra_registers", None, InstrumentReplyError, "3 register(s) came back; expected function code 4"),
    ("wrong_function", None, InstrumentReplyError, "a response with function code 3 (read holding registers); "
                                                   "expected function code 4 (read input registers)"),
    ("exception_code", "6", InstrumentError, "Modbus exception 6 (device busy)"),
])
def test_each_malformed_modbus_reply_is_refused_clearly(lab, connect, flowed, kind, message, expected_type, text):
    meter, log = connect("modbus_meter")
    good_l = meter.read_volume_l()
    inject(lab, kind, "modbus_meter", message)
    error = refused(meter.read_volume_l, expected_type)
    assert error.instrument == "modbus_meter" and error.command == "read input 0+2 (unit 1)"
    assert text in error.message
    assert log.entries()[-1].direction is Direction.ERROR
    lab.clear_faults()
    assert meter.read_volume_l() == good_l == pytest.approx(lab.world.read("meter1.register_l"), abs=1e-9)


@pytest.mark.parametrize("kind, got, expected", [
    ("value_nan", "the totaliser register = nan", "a finite number"),
    ("value_negative", "m3", "a value in the declared range 0 .. 99999999 m3"),
    ("value_huge", "e+30 m3", "a value in the declared range 0 .. 99999999 m3"),
])
def test_anomalous_float_values_are_refused_even_on_a_first_read(lab, connect, flowed, kind, got, expected):
    meter, _ = connect("modbus_float")
    inject(lab, kind, "modbus_float")
    error = refused(meter.read_volume_l, ImplausibleValue)
    assert error.command == "read holding 100+2 (unit 1): volume register"
    assert got in error.got and expected in error.expected
    lab.clear_faults()
    assert meter.read_volume_l() == pytest.approx(lab.world.read("meter2.register_l"), rel=1e-6)


@pytest.mark.parametrize("kind, got", [
    ("value_nan", "4294967295 counts, the register map's no-value marker"),
    ("value_negative", "since the previous reading"),  # two's complement: almost a whole range ahead
    ("value_huge", "since the previous reading"),
])
def test_anomalous_integer_values_are_refused_against_the_previous_reading(lab, connect, flowed, kind, got):
    meter, _ = connect("modbus_meter")
    before = meter.read_register()
    inject(lab, kind, "modbus_meter")
    error = refused(meter.read_volume_l, ImplausibleValue)
    assert got in error.got
    lab.clear_faults()
    assert meter.read_register() == before  # the refused value was not kept as the previous reading


def test_a_modbus_counter_roll_over_is_unwrapped(lab, rig, connect, flowed):
    meter, _ = connect("modbus_meter")
    inject(lab, "counter_wrap", "modbus_meter", "2000")  # 2 L below the roll-over of the uint32 in mL
    true_before_l = lab.world.read("meter1.register_l")
    before = meter.read_register()
    assert before.raw == 2**32 - 2000
    flow(lab, rig, 10)  # ~12 L
    after = meter.read_register()
    assert after.raw < 20_000 and after.rollovers == 1
    true_flowed_l = lab.world.read("meter1.register_l") - true_before_l
    assert true_flowed_l > 5
    assert after.volume_l - before.volume_l == pytest.approx(true_flowed_l, abs=0.002)


# -- M-Bus ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, message, expected_type, text", [
    ("short_reply", None, InstrumentReplyError, "short telegram"),
    ("wrong_function", None, InstrumentReplyError, "C field 0x53 is not a RSP_UD"),
    ("exception_code", "8", InstrumentError, "application error: code 8 (application too busy)"),
    ("value_nan", None, ImplausibleValue, "got the totaliser register = nan from primary address 1"),
    ("value_huge", None, ImplausibleValue, "expected a value in the declared range 0 .. 9.9999999e+13 counts of 0.001 L"),
    ("value_negative", None, ImplausibleValue, "expected a value in the declared range 0 .. 99999999 counts"),
])
def test_each_anomalous_mbus_telegram_is_refused_clearly(lab, connect, flowed, kind, message, expected_type, text):
    gateway, log = connect("mbus", retries=0)
    good_l = gateway.read_volume_l(meter="meter1")
    inject(lab, kind, "mbus", message)
    error = refused(lambda: gateway.read_volume_l(meter="meter1"), expected_type)
    assert error.instrument == "mbus" and error.command == "REQ_UD2 to primary address 1 (FCB=1)"
    assert text in str(error)
    lab.clear_faults()
    assert gateway.read_volume_l(meter="meter1") == good_l


@pytest.mark.parametrize("rolls_over", [False, True])
def test_an_mbus_roll_over_is_unwrapped_only_for_meters_declared_to_roll_over(lab, rig, connect, flowed, rolls_over):
    gateway, _ = connect("mbus", register_rolls_over=rolls_over)
    inject(lab, "counter_wrap", "mbus", "2000")  # 2 L below the roll-over of the 8-digit BCD register in mL
    true_before_l = lab.world.read("meter1.register_l")
    before_l = gateway.read_volume_l(meter="meter1")
    assert before_l == pytest.approx(99_998.0, abs=0.002)
    flow(lab, rig, 10)
    true_flowed_l = lab.world.read("meter1.register_l") - true_before_l
    if rolls_over:
        assert gateway.read_volume_l(meter="meter1") - before_l == pytest.approx(true_flowed_l, abs=0.002)
    else:
        error = refused(lambda: gateway.read_volume_l(meter="meter1"), ImplausibleValue)
        assert "lower than the previous reading 99998000" in error.got
        assert "does not roll over" in error.expected


def test_a_readout_fault_on_an_instrument_that_cannot_play_it_is_refused(lab):
    with pytest.raises(Exception, match="pump does not serve the read-out fault 'value_nan'"):
        inject(lab, "value_nan", "pump")
