"""A simulated instrument's reply takes its real counterpart's turnaround in simulated time (sim/tables/
reply-latency.yaml), on the virtual clock of the shared lab fixture: whatever the host's speed."""

from pathlib import Path

import pytest
import yaml

from meterlab.errors import InputFileError
from meterlab.instruments.bench import load_bench
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.devices.base import reply_latency_s
from meterlab.sim.devices.counter import SimKeysight53230A
from meterlab.sim.devices.emc.burst import SimBurstGenerator
from meterlab.sim.devices.scale import SimMettlerToledoSics
from meterlab.sim.lab import check_scenario
from meterlab.sim.scenario import load_scenario
from meterlab.sim.testing import running_lab

from .conftest import SIM_BENCH, WATER_SCENARIO


def test_the_table_gives_each_class_or_its_nearest_listed_base_its_latency():
    assert reply_latency_s(SimKeysight53230A) == 0.002
    assert reply_latency_s(SimMettlerToledoSics) == 0.05
    assert reply_latency_s(SimBurstGenerator) == 0.01  # listed as SimEmcGenerator, the base of every generator
    assert reply_latency_s(object) == 0.0


@pytest.mark.parametrize("name, ask", [("counter", lambda d: d.gate_time_s),
                                       ("scale", lambda d: d.weight_immediate_kg())])
def test_each_reply_costs_the_run_its_latency_in_simulated_time(lab, rig, name, ask):
    latency_s = lab.devices[name].reply_latency_s
    assert latency_s > 0
    started_s = lab.clock.now()
    for _ in range(20):
        ask(rig[name])
    assert lab.clock.now() - started_s == pytest.approx(20 * latency_s, rel=1e-9)


def test_a_command_without_a_reply_takes_none(lab, rig):
    counter = rig["counter"]
    started_s = lab.clock.now()
    counter.write("SENS:TOT:GATE:TIME 1")
    assert lab.clock.now() == started_s


def _with_counter_latency(tmp_path, value) -> Path:
    truth = yaml.safe_load(WATER_SCENARIO.read_text())
    truth.setdefault("devices", {}).setdefault("counter", {})["reply_latency_s"] = value
    path = tmp_path / "fast-counter.yaml"
    path.write_text(yaml.safe_dump(truth))
    return path


def test_a_scenario_sets_one_instruments_turnaround(tmp_path):
    with running_lab(SIM_BENCH, load_scenario(_with_counter_latency(tmp_path, 0)), clock_scale=VIRTUAL) as lab:
        assert lab.devices["counter"].reply_latency_s == 0.0 and lab.devices["scale"].reply_latency_s == 0.05
        with lab.open_bench(MemoryIOLog()) as bench:
            started_s = lab.clock.now()
            bench["counter"].gate_time_s
            assert lab.clock.now() == started_s


def test_a_wrong_turnaround_is_refused_naming_the_file_line_and_field(tmp_path):
    scenario = load_scenario(_with_counter_latency(tmp_path, -1))
    with pytest.raises(InputFileError, match=r"fast-counter.yaml:\d+ .*devices.counter.reply_latency_s.*0 to 60"):
        with running_lab(SIM_BENCH, scenario, clock_scale=VIRTUAL):
            pass


def test_a_turnaround_for_a_modbus_device_is_refused_before_the_run(tmp_path):
    path = tmp_path / "slow-pump.yaml"
    path.write_text(yaml.safe_dump({"devices": {"pump": {"reply_latency_s": 0.1}}}), encoding="utf-8")
    with pytest.raises(InputFileError, match=r"slow-pump.yaml:\d+ .*devices.pump.reply_latency_s.*answers over Modbus"):
        check_scenario(load_scenario(path), load_bench(SIM_BENCH))
    with pytest.raises(InputFileError, match="answers over Modbus"):
        with running_lab(SIM_BENCH, load_scenario(path), clock_scale=VIRTUAL):
            pass
