"""A records database with users and one completed run of the simulated lab, for the console's tests."""

import time
from pathlib import Path

import pytest

from meterlab.calibration.register import Register
from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs
from meterlab.records.people import add_user
from meterlab.records.store import Store

REPO = Path(__file__).resolve().parents[2]
PASSWORDS = {"tina": "tina-secret-1", "mira": "mira-secret-1", "quinn": "quinn-secret-1"}
ROLES = {"tina": ["technician"], "mira": ["metrologist"], "quinn": ["qa"]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(store, run id): tina ran the intrinsic error of two meters; nobody signed yet."""
    folder = tmp_path_factory.mktemp("console")
    store = Store(str(folder / "records.db"))
    for name, roles in ROLES.items():
        add_user(store, name, roles, PASSWORDS[name])
    inputs = load_inputs(REPO / "procedures/r49/intrinsic-error.yaml",
                         [REPO / "examples/meters/dn15-class2.yaml", REPO / "examples/meters/dn15-class2-sample2.yaml"],
                         REPO / "instruments/sim.yaml", REPO / "examples/scenarios/demo-three-meters.yaml")
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="tina", register=register, clock_scale=2000.0)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    yield store, run_id
    store.close()


def wait_live(client, run_id, until, timeout_s=120):
    """The run's live state (as the console's live page polls it) once `until(state)` holds; fails after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        live = client.get(f"/api/runs/{run_id}/live").json()
        if until(live):
            return live
        time.sleep(0.1)
    raise AssertionError(f"run {run_id}: still {live}")
