"""Modbus pressure/temperature/humidity transmitters and barometers: byte-exact PDUs for each register layout, then the
gas bench's transmitters (instruments/sim-gas.yaml) against the simulated gas rig over Modbus TCP."""

import struct
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from meterlab.instruments.bench import open_instrument
from meterlab.instruments.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentFailure,
    InstrumentTimeout,
    InstrumentValueError,
)
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.instruments.testing import expected_protocol
from meterlab.instruments.transmitter import ModbusTransmitter, TransmitterOptions
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.scenario import FaultSpec
from meterlab.sim.testing import running_lab

ROOT = Path(__file__).resolve().parents[2]
GAS_BENCH = ROOT / "instruments" / "sim-gas.yaml"
GAS_SCENARIO = ROOT / "tests" / "sim" / "data" / "gas.yaml"
hx = bytes.fromhex


def words(value: float, swapped: bool = False) -> str:
    raw = struct.pack(">f", value)
    return (raw[2:] + raw[:2]).hex() if swapped else raw.hex()


# -- byte-exact ---------------------------------------------------------------------------------------------


def test_a_barometer_in_hpa_on_input_registers():
    with expected_protocol(ModbusTransmitter, [(hx("04 0000 0002"), hx("04 04" + words(1013.25)))],
                           options={"quantity": "pressure", "unit": "hPa"}) as barometer:
        assert barometer.pressure_pa == pytest.approx(101325.0)


def test_a_hygrometer_in_percent_relative_humidity():
    with expected_protocol(ModbusTransmitter, [(hx("04 0000 0002"), hx("04 04" + words(45.25)))],
                           options={"quantity": "humidity"}) as hygrometer:
        assert hygrometer.humidity_pct == pytest.approx(45.25)
        with pytest.raises(InstrumentValueError, match="measures humidity"):
            hygrometer.pressure_pa


def test_a_word_swapped_holding_register_in_kelvin_and_a_status_register():
    with expected_protocol(ModbusTransmitter, [
        (hx("03 0010 0002"), hx("03 04" + words(294.5, swapped=True))),
        (hx("03 0020 0001"), hx("03 02 0000")),
    ], options={"quantity": "temperature", "unit": "K", "address": 16, "table": "holding",
                "word_order": "word_swapped", "status_address": 32}) as thermometer:
        assert thermometer.temperature_c == pytest.approx(21.35, abs=1e-5)
        assert thermometer.status == 0


def test_asking_the_other_quantity_is_refused_before_anything_is_sent():
    with expected_protocol(ModbusTransmitter, [], options={"quantity": "pressure"}) as transmitter:
        with pytest.raises(InstrumentValueError, match="measures pressure"):
            transmitter.temperature_c
        assert transmitter.status is None  # no status register: nothing to ask
        transmitter.safe_state()


def test_the_options_must_name_a_unit_of_the_quantity():
    assert TransmitterOptions(quantity="pressure").unit == "Pa"
    assert TransmitterOptions(quantity="temperature").unit == "degC"
    with pytest.raises(ValidationError, match="a temperature unit is one of"):
        TransmitterOptions(quantity="temperature", unit="kPa")
    assert TransmitterOptions(quantity="humidity").unit == "%RH"
    with pytest.raises(ValidationError, match="a humidity unit is one of %RH"):
        TransmitterOptions(quantity="humidity", unit="kPa")
    assert TransmitterOptions(quantity="flow").unit == "L/h"  # a leak tester's output (valve tightness)
    with pytest.raises(ValidationError, match="a flow unit is one of L/h"):
        TransmitterOptions(quantity="flow", unit="kPa")
    with pytest.raises(ValidationError):
        TransmitterOptions(quantity="speed")


def test_a_modbus_exception_and_identify():
    with expected_protocol(ModbusTransmitter, [
        (hx("04 0000 0002"), hx("84 02")),
        (hx("04 0000 0002"), hx("04 04" + words(100.25))),
    ], options={"quantity": "pressure", "unit": "kPa"}) as transmitter:
        with pytest.raises(InstrumentError, match=r"read input 0\+2 \(unit 1\).*illegal address"):
            transmitter.value
        assert transmitter.identify().endswith("unit 1: 100.25 kPa")


# -- against the simulated gas lab ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gas_lab():
    with running_lab(GAS_BENCH, GAS_SCENARIO, clock_scale=VIRTUAL) as lab:
        yield lab


@pytest.fixture(scope="module")
def gas_rig(gas_lab):
    with gas_lab.open_bench(MemoryIOLog()) as bench:
        yield bench


@pytest.mark.parametrize("name, signal", [
    ("barometer", "ambient.pressure_pa"),
    ("gas_pressure", "gas.pressure_pa"),
    ("bell_pressure", "bell.pressure_pa"),
    ("nozzle_pressure", "gas.nozzle_pressure_pa"),
])
def test_pressure_transmitters_read_their_signals(gas_lab, gas_rig, name, signal):
    assert gas_rig[name].pressure_pa == pytest.approx(gas_lab.world.read(signal), rel=1e-7)  # float32


def test_the_temperature_transmitter_and_its_status(gas_lab, gas_rig):
    transmitter = gas_rig["gas_temperature"]
    assert transmitter.temperature_c == pytest.approx(21.5, abs=1e-5)
    assert transmitter.status == 0


def test_the_line_pressure_falls_below_the_bells_while_air_flows(gas_lab, gas_rig):
    valves = gas_rig["gas_valves"]
    for k in range(1, 9):
        gas_rig["nozzle_bank"].set_signal(f"nozzle{k}", True)
    valves.set_signal("vacuum_pump", True)
    valves.set_signal("bell_valve", True)
    try:
        p_bell, p0 = gas_rig["bell_pressure"].pressure_pa, gas_rig["nozzle_pressure"].pressure_pa
        assert p_bell == pytest.approx(100500 + 800, rel=1e-7)
        assert p_bell - p0 > 100  # two meters' drop at ~10 m3/h (the whole bank open)
    finally:
        gas_rig.safe_state()


def test_registers_outside_the_layout_and_writes_are_refused(gas_rig):
    transmitter = gas_rig["gas_temperature"]
    with pytest.raises(InstrumentError, match="illegal address"):
        transmitter.transport.read_input_registers(0, 4)  # value and status, then nothing at 3
    with pytest.raises(InstrumentError, match="illegal address"):
        transmitter.transport.read_holding_registers(0, 2)  # the value is in the input table
    with pytest.raises(InstrumentError, match="illegal address"):
        transmitter.transport.write_register(0, 1)
    with pytest.raises(InstrumentError, match="illegal function"):
        transmitter.transport.read_coils(0)
    assert transmitter.temperature_c == pytest.approx(21.5, abs=1e-5)


# -- faults --------------------------------------------------------------------------------------------------

TIMEOUT_S, SLACK_S = 0.4, 0.6


@pytest.fixture
def short_timeout(gas_lab):
    entry = gas_lab.bench.instruments["barometer"].model_copy(update={"timeout_s": TIMEOUT_S})
    with open_instrument("barometer", entry, MemoryIOLog(), gas_lab.resources["barometer"]) as barometer:
        yield barometer
    gas_lab.clear_faults()


@pytest.mark.parametrize("kind, expected", [
    ("no_answer", InstrumentTimeout), ("garbage", InstrumentFailure), ("drop_connection", InstrumentConnectionError),
])
def test_comm_faults_surface_within_the_timeout(gas_lab, short_timeout, kind, expected):
    gas_lab.inject(FaultSpec(kind=kind, instrument="barometer", at_s=gas_lab.clock.now()))
    start = time.monotonic()
    with pytest.raises(expected) as caught:
        short_timeout.pressure_pa
    assert time.monotonic() - start < TIMEOUT_S + SLACK_S
    assert caught.value.instrument == "barometer"
    gas_lab.clear_faults()
    if kind != "no_answer":
        short_timeout.transport.reconnect()
    assert short_timeout.pressure_pa == pytest.approx(100500, rel=1e-7)


def test_an_error_is_a_modbus_exception(gas_lab, short_timeout):
    gas_lab.inject(FaultSpec(kind="error", instrument="barometer", at_s=gas_lab.clock.now(), message="4"))
    with pytest.raises(InstrumentError, match="device failure"):
        short_timeout.pressure_pa
