from pathlib import Path

import pytest

from meterlab.sim.clock import VIRTUAL
from meterlab.sim.testing import running_lab

ROOT = Path(__file__).resolve().parents[2]
SIM_BENCH = ROOT / "instruments" / "sim.yaml"
WATER_SCENARIO = ROOT / "tests" / "sim" / "data" / "water.yaml"
DEFAULT_SCENARIO = ROOT / "instruments" / "scenarios" / "sim.yaml"


@pytest.fixture(scope="module")
def lab():
    with running_lab(SIM_BENCH, WATER_SCENARIO, clock_scale=VIRTUAL) as lab:
        yield lab
