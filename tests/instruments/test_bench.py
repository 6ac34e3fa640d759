"""Bench files: the schema, errors naming file/line/field, the registry, opening a bench."""

import inspect
import textwrap

import pytest

from meterlab.errors import InputFileError
from meterlab.instruments import registry
from meterlab.instruments.base import Instrument
from meterlab.instruments.bench import Bench, load_bench, open_bench
from meterlab.instruments.errors import InstrumentConnectionError
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.sim.devices.base import LineDevice, ModbusDevice

from .conftest import ROOT, SIM_BENCH


def test_the_default_and_example_benches_load():
    sim = load_bench(SIM_BENCH)
    assert sim.simulated == list(sim.instruments)
    assert sim.by_role("mut_pulse_counter") == ["counter", "counter2", "counter3"]  # one per meter in series
    examples = sorted((ROOT / "instruments" / "examples").glob("*.yaml"))
    assert examples
    for path in examples:
        bench = load_bench(path)
        assert not bench.simulated
        for entry in bench.instruments.values():
            assert entry.resource or entry.modbus


def test_every_registered_family_is_complete():
    keys = [entry.key for entry in registry.ENTRIES]
    assert len(keys) == len(set(keys))
    for entry in registry.ENTRIES:
        driver = registry.driver_class(entry.key)
        assert issubclass(driver, Instrument) and not inspect.isabstract(driver), entry.key
        assert driver.safe_state is not Instrument.safe_state
        if entry.sim_device:
            device = registry.sim_device_class(entry.key)
            kind = {"message": LineDevice, "modbus": ModbusDevice}[driver.transport_kind]
            assert issubclass(device, kind), f"{entry.key}: {device.__name__} does not serve {driver.transport_kind}"


def write(tmp_path, text):
    path = tmp_path / "bench.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("body, line, field, message", [
    ("""\
     instruments:
       counter:
         driver: keysight_53231x
         role: mut_pulse_counter
         resource: TCPIP::10.0.0.1::5025::SOCKET
     """, 5, "instruments.counter.driver", "unknown driver 'keysight_53231x'; known drivers: adam_6050"),
    ("""\
     instruments:
       counter:
         driver: keysight_53230a
         role: mut_pulse_counter
     """, 4, "instruments.counter", "give `resource: <VISA resource string>`, or `sim: true`"),
    ("""\
     instruments:
       pump:
         driver: sinamics_v20
         role: pump
         resource: TCPIP::10.0.0.1::502::SOCKET
     """, 4, "instruments.pump", "speaks Modbus: give `modbus:`"),
    ("""\
     instruments:
       counter:
         driver: keysight_53230a
         role: mut_pulse_counter
         sim: true
         options: {channel: 3}
     """, 8, "instruments.counter.options", "channel: Input should be less than or equal to 2"),
    ("""\
     instruments:
       counter:
         driver: keysight_53230a
         role: mut_pulse_counter
         sim: true
         wiring: {ch7: meter1.pulse}
     """, 8, "instruments.counter.wiring", "terminal 'ch7' does not exist"),
    ("""\
     instruments:
       pump:
         driver: sinamics_v20
         role: pump
         modbus: {host: 10.0.0.5, serial_port: /dev/ttyS0}
     """, 7, "instruments.pump.modbus", "either host (Modbus TCP) or serial_port"),
    ("""\
     instruments:
       scale:
         driver: mettler_toledo_sics
         role: Reference Scale
         sim: true
     """, 6, "instruments.scale.role", "should match pattern"),
    ("""\
     instruments:
       scale:
         driver: mettler_toledo_sics
         role: reference_scale
         sim: true
         timeout: 3
     """, 8, "instruments.scale.timeout", "unknown field"),
])
def test_bad_bench_files_name_file_line_and_field(tmp_path, body, line, field, message):
    path = write(tmp_path, "bench: test\ndescription: a bench with one mistake\n" + textwrap.dedent(body))
    with pytest.raises(InputFileError) as info:
        load_bench(path)
    problems = info.value.problems
    assert any(p[0] == line and p[1] == field and message in p[2] for p in problems), problems
    assert str(path) in str(info.value)


def test_opening_a_bench_that_cannot_connect_closes_what_was_opened(tmp_path, lab):
    bench = Bench.model_validate({"bench": "mixed", "instruments": {
        "counter": {"driver": "keysight_53230a", "role": "mut_pulse_counter", "sim": True},
        "scale": {"driver": "mettler_toledo_sics", "role": "reference_scale", "sim": True},
    }})
    with pytest.raises(InstrumentConnectionError, match="scale: connection problem: is simulated"):
        open_bench(bench, MemoryIOLog(), {"counter": lab.resources["counter"]})


def test_open_bench_gives_every_driver_connected_and_by_role(lab):
    with open_bench(lab.bench, MemoryIOLog(), lab.resources) as bench:
        assert set(bench) == set(lab.bench.instruments)
        assert bench.by_role("reference_scale") is bench["scale"]
        assert bench.safe_state() == []
        with pytest.raises(KeyError, match="0 open instruments with role 'chamber'"):
            bench.by_role("chamber")
