from pathlib import Path

import pytest

from meterlab.instruments.iolog import MemoryIOLog
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.testing import running_lab

ROOT = Path(__file__).resolve().parents[2]
SIM_BENCH = ROOT / "instruments" / "sim.yaml"
WATER_SCENARIO = ROOT / "tests" / "sim" / "data" / "water.yaml"


@pytest.fixture(scope="module")
def lab():
    """The default simulated bench on virtual time, serving the test scenario (one lab per test module)."""
    with running_lab(SIM_BENCH, WATER_SCENARIO, clock_scale=VIRTUAL) as lab:
        yield lab


@pytest.fixture(scope="module")
def iolog():
    return MemoryIOLog()


@pytest.fixture(scope="module")
def rig(lab, iolog):
    """The real drivers of the default bench, connected to the lab through pyvisa-py and pymodbus."""
    with lab.open_bench(iolog) as bench:
        yield bench


GAS_BENCH = ROOT / "instruments" / "sim-gas.yaml"
GAS_SCENARIO = ROOT / "tests" / "sim" / "data" / "gas.yaml"


@pytest.fixture(scope="module")
def gas_lab():
    """The simulated gas bench on virtual time, serving the gas test scenario (one lab per test module)."""
    with running_lab(GAS_BENCH, GAS_SCENARIO, clock_scale=VIRTUAL) as lab:
        yield lab
