"""Scenario files: the schema and its errors (file, line, field), faults on the clock."""

import textwrap

import pytest

from meterlab.errors import InputFileError
from meterlab.sim.clock import ManualClock
from meterlab.sim.devices.scale import ScaleParams
from meterlab.sim.faults import CommFaults
from meterlab.sim.scenario import FaultSpec, load_scenario

from .conftest import DEFAULT_SCENARIO, WATER_SCENARIO


def test_shipped_scenarios_load():
    for path in (DEFAULT_SCENARIO, WATER_SCENARIO):
        scenario = load_scenario(path)
        assert scenario.meters and scenario.device_params("scale", ScaleParams).capacity_kg > 0


def write(tmp_path, text):
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("text, line, field, message", [
    ("""\
     meters:
       - serial: A
         error_curve: [[1.0, 0.5], [0.5, 0.2]]
         pulse_value_l: 1
         register_resolution_l: 0.1
     """, 3, "meters.0.error_curve", "strictly increasing"),
    ("""\
     meters:
       - serial: A
         error_curve: [[1.0, 0.5]]
         pulse_value_l: 0
         register_resolution_l: 0.1
     """, 4, "meters.0.pulse_value_l", "greater than 0"),
    ("""\
     meters:
       - serial: A
         error_curve: [[1.0, 0.5]]
         pulse_value_l: 1
         register_resolution_l: 0.1
         susceptibility: {burst: {effect: explode}}
     """, 6, "meters.0.susceptibility.burst.effect", "Input should be 'none'"),
    ("""\
     faults:
       - kind: no_answer
         at_s: 10
     """, 2, "faults.0", "needs `instrument:`"),
    ("""\
     faults:
       - kind: garbage
         instrument: counter
     """, 2, "faults.0", "either at_s"),
    ("""\
     water_rig:
       max_flowrate: 5
     """, 2, "water_rig.max_flowrate", "unknown field"),
])
def test_bad_scenarios_name_file_line_and_field(tmp_path, text, line, field, message):
    path = write(tmp_path, text)
    with pytest.raises(InputFileError) as info:
        load_scenario(path)
    assert any(p[0] == line and p[1] == field and message in p[2] for p in info.value.problems), info.value.problems


def test_device_parameters_are_checked_with_the_line(tmp_path):
    path = write(tmp_path, """\
        devices:
          scale:
            resolution_kg: -1
        """)
    with pytest.raises(InputFileError) as info:
        load_scenario(path).device_params("scale", ScaleParams)
    assert info.value.problems[0][:2] == (3, "devices.scale.resolution_kg")


def test_comm_faults_follow_the_clock_and_random_ones_repeat_with_the_seed():
    import numpy as np

    clock = ManualClock()
    fixed = FaultSpec(kind="no_answer", instrument="counter", at_s=10, duration_s=5)
    random_spec = FaultSpec(kind="garbage", instrument="scale", rate_per_h=60, duration_s=30)

    def windows(seed):
        clock._now = 0.0
        faults = CommFaults([fixed, random_spec], clock, [np.random.default_rng(seed)] * 2)
        seen = []
        for t in range(0, 3600, 5):
            clock._now = float(t)
            seen.append((faults.active("counter") is not None, faults.active("scale") is not None))
        return seen

    first = windows(3)
    assert [t * 5 for t, (c, _) in enumerate(first) if c] == [10]
    assert first == windows(3) and first != windows(4)
    share = sum(s for _, s in first) / len(first)
    assert 0.2 < share < 0.6  # about 30 s in every 90 s
