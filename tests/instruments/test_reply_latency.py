"""A simulated instrument's reply takes its real counterpart's turnaround in simulated time (sim/tables/
reply-latency.yaml), on the virtual clock of the shared lab fixture: whatever the host's speed."""

import pytest

from meterlab.sim.devices.base import reply_latency_s
from meterlab.sim.devices.counter import SimKeysight53230A
from meterlab.sim.devices.emc.burst import SimBurstGenerator
from meterlab.sim.devices.scale import SimMettlerToledoSics


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
