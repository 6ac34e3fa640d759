"""A resumed run reads its profiles and certificates from disk: one edited since the run was created stops the
resume, naming the file and both hashes, unless the operator accepts the change with a reason (recorded).
Before, an upper-zone MPE edited from 2 % to 4 % between a kill and a resume was used without a word."""

import shutil

import pytest

from meterlab.calibration.register import Register
from meterlab.engine.control import RunControl, RunState
from meterlab.engine.events import EventBus
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import InputsChanged, create_run, execute, load_inputs
from meterlab.metrology.profiles import PROFILE_DIR_ENV
from meterlab.records.store import Store
from meterlab.sim.clock import VIRTUAL

from .test_end_to_end import REPO

PROCEDURE = REPO / "procedures" / "r49" / "intrinsic-error.yaml"
METER = REPO / "examples" / "meters" / "dn15-class2.yaml"
SCENARIO = REPO / "examples" / "scenarios" / "good-meter.yaml"


@pytest.fixture
def aborted_run(tmp_path, monkeypatch):
    """A run aborted after its first measurement, on a copy of the profile and of the certificates."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copy(REPO / "procedures" / "standards" / "r49-2013.yaml", profiles)
    monkeypatch.setenv(PROFILE_DIR_ENV, str(profiles))
    calibration = tmp_path / "calibration"
    shutil.copytree(REPO / "calibration", calibration)
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(calibration)
    run_id = create_run(store, load_inputs(PROCEDURE, [METER], REPO / "instruments" / "sim.yaml", SCENARIO),
                        operator="pytest", register=register, clock_scale=VIRTUAL)
    control, bus = RunControl(), EventBus()
    bus.subscribe(lambda e: control.abort() if e.kind == "action_done" and e.data.get("kind") == "measurement" else None)
    assert execute(store, run_id, prompter=AutoPrompter(), bus=bus, control=control, register=register) \
        is RunState.ABORTED
    return store, run_id, profiles / "r49-2013.yaml", calibration


def test_an_edited_profile_stops_the_resume_naming_the_file_and_both_hashes(aborted_run):
    store, run_id, profile, calibration = aborted_run
    recorded = next(store.entries(run_id)).payload["profile"]["sha256"]
    profile.write_text(profile.read_text().replace('"2": {lower: 5.0, upper: 2.0,', '"2": {lower: 5.0, upper: 4.0,'))
    with pytest.raises(InputsChanged) as refused:
        execute(store, run_id, prompter=AutoPrompter(), register=Register.load(calibration))
    message = str(refused.value)
    assert str(profile) in message and recorded[:16] in message and "accept-changed-inputs" in message
    assert len(list(store.entries(run_id, kinds=["measurement"]))) == 1  # nothing measured under the new MPE


def test_an_edited_certificate_stops_the_resume_and_an_accepted_change_is_recorded(aborted_run):
    store, run_id, _, calibration = aborted_run
    prt = calibration / "prt-01.yaml"
    prt.write_text(prt.read_text() + "\n# edited after the run was created\n")
    with pytest.raises(InputsChanged, match="certificate prt-01"):
        execute(store, run_id, prompter=AutoPrompter(), register=Register.load(calibration))
    state = execute(store, run_id, prompter=AutoPrompter(), register=Register.load(calibration),
                    accept_changed_inputs="comment added to the certificate file, values unchanged")
    assert state is RunState.COMPLETED
    accepted = [e.payload for e in store.entries(run_id, kinds=["operator"])
                if e.payload.get("action") == "accept_changed_inputs"]
    assert len(accepted) == 1 and "values unchanged" in accepted[0]["reason"]
    assert any("prt-01" in change for change in accepted[0]["changes"])


def test_an_unchanged_run_resumes_without_a_word(aborted_run):
    store, run_id, _, calibration = aborted_run
    assert execute(store, run_id, prompter=AutoPrompter(), register=Register.load(calibration)) is RunState.COMPLETED
    assert not [e for e in store.entries(run_id, kinds=["operator"]) if e.payload.get("action") == "accept_changed_inputs"]
