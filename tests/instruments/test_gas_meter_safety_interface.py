"""The smart gas meter's valve block read over its Modbus interface by the real driver, on the simulated gas bench
(sockets, virtual time): a shaking by the shaker's driver closes the valve, the meter says so with the
cause and its time; the leak tester reads the flow past the closed valve; the reset over the interface opens it."""

from pathlib import Path

import pytest

from meterlab.instruments.bench import open_instrument
from meterlab.instruments.errors import InstrumentError
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.instruments.meter_readout import MODBUS_METER_MODELS
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.testing import running_lab

ROOT = Path(__file__).resolve().parents[2]
GAS_BENCH = ROOT / "instruments" / "sim-gas.yaml"
SAFETY_SCENARIO = ROOT / "tests" / "sim" / "data" / "gas-safety.yaml"


@pytest.fixture(scope="module")
def lab():
    with running_lab(GAS_BENCH, SAFETY_SCENARIO, clock_scale=VIRTUAL) as lab:
        yield lab


def driver(lab, name):
    return open_instrument(name, lab.bench.instruments[name], MemoryIOLog(), lab.resources[name])


def flowing(lab):
    for signal in ("inlet_valve", "vacuum_pump", "nozzle5"):
        lab.world.write(signal, 1)


def test_the_valve_block_tells_the_shut_off_its_cause_and_time_and_the_reset_opens_it(lab):
    flowing(lab)
    with driver(lab, "gas_meter_interface") as meter, driver(lab, "shaker") as shaker, \
            driver(lab, "leak_tester") as leak:
        state = meter.read_safety_state()
        assert state.valve == "open" and state.alarms == frozenset() and state.events == ()
        shaker.configure_sine(axis="X", acceleration_m_s2=2.5, period_s=0.5, duration_s=20)
        started_s = lab.clock.now()
        shaker.start()
        assert lab.clock.wait_until(lambda: meter.read_safety_state().valve == "closed", timeout_sim_s=30,
                                    max_real_s=10)
        state = meter.read_safety_state()
        truth = lab.world.component("safety1").events[0]
        assert state.alarms == {"seismic"} and state.event_count == 1
        assert state.events[0].cause == "seismic"
        assert state.events[0].t_s == pytest.approx(truth.t_s, abs=0.001)  # ms on the wire
        assert 0 < state.events[0].t_s - started_s < 10
        assert leak.flow_l_h == pytest.approx(0.0, abs=1e-6)
        shaker.safe_state()
        lab.world.write("vacuum_pump", 0)  # no gas drawn: the restore check finds nothing
        meter.reset_valve()
        state = meter.read_safety_state()
        assert state.valve == "restoring" and state.alarms == frozenset()  # open, under the meter's restore check
        assert [e.cause for e in state.events] == ["reset", "seismic"]  # newest first
        assert lab.clock.wait_until(lambda: meter.read_safety_state().valve == "open", timeout_sim_s=90,
                                    max_real_s=10)


def test_a_meter_without_a_valve_block_is_refused_naming_the_model(lab):
    entry = lab.bench.instruments["gas_meter_interface"].model_copy(update={"options": {"model": "generic_uint32_ml"}})
    with open_instrument("gas_meter_interface", entry, MemoryIOLog(), lab.resources["gas_meter_interface"]) as meter:
        with pytest.raises(InstrumentError, match="generic_uint32_ml.*no valve block"):
            meter.read_safety_state()


def test_the_map_of_the_simulated_smart_gas_meter_is_data_with_its_confidence():
    model = MODBUS_METER_MODELS["sim_smart_gas"]
    assert model.confidence == "U" and model.safety.event_codes[1] == "seismic"
    assert model.safety.count == 3 + 3 * model.safety.entries
