"""R 49 battery supply interruption at rest: the source's DC output drops to 0 V between the two readings of a
watch at rest; a meter whose register restarts from 0 fails no_registration, a meter that keeps it passes."""

from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import execute

from .test_end_to_end import start

PROGRAMME = "procedures/r49/battery-interruption.yaml"
METER = ["tests/engine/data/dn15-modbus.yaml"]  # read over Modbus: its register is what must be kept


def judged(store, register, run_id: str) -> dict:
    """Run a battery-interruption programme to its end; its one no_registration check (R 49 and R 137 alike)."""
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    (check,) = [c for e in store.entries(run_id, kinds=["evaluation"]) for c in e.payload["checks"]]
    assert check["check"] == "no_registration"
    # the interruption (0 V on the DC output) ran, and ended, between the two readings
    disturbance = check["details"]["disturbance"]
    assert disturbance["kind"] == "dc_dips" and disturbance["ended_s"] > disturbance["started_s"]
    return check


def _check(tmp_path, scenario: str) -> dict:
    return judged(*start(tmp_path, PROGRAMME, METER, scenario))


def test_a_meter_losing_its_register_on_an_interruption_fails(tmp_path):
    check = _check(tmp_path, "tests/engine/data/register-lost-on-interruption.yaml")
    assert check["outcome"] == "fail"
    # the line was filled for a minute at Q3 (about 40 L): the register came back at 0, which the Modbus driver
    # refuses as going backwards; the watch keeps that as the finding
    assert "went backwards" in check["details"]["register"]["refused"]
    assert "registered at rest: the register" in check["details"]["why"]


def test_a_meter_keeping_its_register_passes(tmp_path):
    check = _check(tmp_path, "examples/scenarios/good-meter.yaml")
    assert check["outcome"] == "pass" and check["details"]["register_change_l"] == 0
