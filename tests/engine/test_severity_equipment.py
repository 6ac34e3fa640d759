"""The equipment that sets a test's severity (EMC generators, chamber, magnet, RF level) is in the register:
a run that uses it is refused at its start when its verification has lapsed, is missing, or was issued for
the simulated laboratory while the bench is real; the run records which equipment it used."""

import shutil
from pathlib import Path

import pytest

from meterlab.calibration.register import CalibrationRefused, ProblemKind, Register
from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs, severity_equipment
from meterlab.records.store import Store
from meterlab.sim.clock import VIRTUAL

REPO = Path(__file__).resolve().parents[2]
SIM_BENCH = REPO / "instruments" / "sim.yaml"
LAPSED_SURGE = REPO / "calibration" / "examples" / "lapsed-surge-generator.yaml"
METERS = ["examples/meters/dn15-class2-sample3.yaml", "examples/meters/dn15-class2.yaml"]
GOOD_METERS = REPO / "examples/scenarios/good-meter.yaml"  # its good meter, once per declaration
SURGE = "procedures/r49/surge-mains.yaml"


def _register_with_lapsed_surge(tmp_path: Path) -> tuple[Register, Path]:
    """The shipped register with the surge generator's verification replaced by a real one that lapsed in
    2023, and the simulated bench naming it."""
    folder = tmp_path / "calibration"
    shutil.copytree(REPO / "calibration", folder, ignore=shutil.ignore_patterns("examples", "emc-sg-01.yaml"))
    shutil.copy(LAPSED_SURGE, folder)
    bench = tmp_path / "sim.yaml"
    bench.write_text(SIM_BENCH.read_text("utf-8").replace("calibration: emc-sg-01", "calibration: emc-sg-00"), "utf-8")
    return Register.load(folder), bench


def _header(tmp_path: Path, procedure: str, bench: Path, register: Register, **kwargs) -> dict:
    """The first record entry of a run created (not executed) on the bench."""
    inputs = load_inputs(REPO / procedure, [REPO / m for m in METERS], bench, None)
    store = Store(str(tmp_path / "records.db"))
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=VIRTUAL, **kwargs)
    return next(store.entries(run_id)).payload


def test_a_surge_run_with_a_lapsed_generator_verification_is_refused_before_anything_is_recorded(tmp_path):
    register, bench = _register_with_lapsed_surge(tmp_path)
    store = Store(str(tmp_path / "records.db"))
    inputs = load_inputs(REPO / SURGE, [REPO / m for m in METERS], bench, None)
    with pytest.raises(CalibrationRefused) as caught:
        create_run(store, inputs, operator="pytest", register=register, clock_scale=VIRTUAL)
    message = str(caught.value)
    assert "emc-sg-00 (surge)" in message and "EMC-V-2022-0019" in message and "due 2023-09-30" in message
    assert [(p.kind, p.standard) for p in caught.value.problems] == [(ProblemKind.EXPIRED, "emc-sg-00")]
    assert store.runs() == []


def test_the_lapsed_surge_generator_does_not_hold_up_a_run_that_applies_no_surge(tmp_path):
    register, bench = _register_with_lapsed_surge(tmp_path)
    header = _header(tmp_path, "procedures/r49/intrinsic-error.yaml", bench, register)
    assert "emc-sg-00" not in header["calibration"] and "bal-600" in header["calibration"]


def test_with_a_reason_the_lapsed_verification_is_recorded_as_overridden(tmp_path):
    register, bench = _register_with_lapsed_surge(tmp_path)
    header = _header(tmp_path, SURGE, bench, register, override_calibration="verified on our scope 2026-12-01")
    assert header["calibration"]["emc-sg-00"]["status"] == "expired"
    assert [p["standard"] for p in header["calibration_override"]["problems"]] == ["emc-sg-00"]


def test_a_run_under_the_override_records_the_lapsed_verification_at_each_surge_it_applies(tmp_path):
    register, bench = _register_with_lapsed_surge(tmp_path)
    inputs = load_inputs(REPO / SURGE, [REPO / m for m in METERS], bench, GOOD_METERS,
                         follow_declarations=True)
    store = Store(str(tmp_path / "records.db"))
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=VIRTUAL,
                        override_calibration="verified on our scope 2026-12-01")
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    surges = [e.payload for e in store.entries(run_id, kinds=["action_done"]) if e.payload.get("disturbance") == "surge"]
    assert surges and all([p["standard"] for p in s["calibration_problems"]] == ["emc-sg-00"] for s in surges)


def test_surges_above_the_verified_voltages_stop_the_run_before_the_rig_moves(tmp_path):
    folder = tmp_path / "calibration"
    shutil.copytree(REPO / "calibration", folder, ignore=shutil.ignore_patterns("examples"))
    surge = folder / "emc-sg-01.yaml"  # verified up to 1 kV only; the E1 line-to-earth level is 2 kV
    surge.write_text(surge.read_text("utf-8").replace("{min: 0.5, max: 4.0, unit: kV}", "{min: 0.5, max: 1.0, unit: kV}"), "utf-8")
    register = Register.load(folder)
    inputs = load_inputs(REPO / SURGE, [REPO / m for m in METERS], SIM_BENCH, GOOD_METERS,
                         follow_declarations=True)
    store = Store(str(tmp_path / "records.db"))
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=VIRTUAL)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.FAILED
    error = [e.payload for e in store.entries(run_id, kinds=["state"])][-1]["error"]
    assert "emc-sg-01 (surge)" in error and "voltage_kv = 1 to 2 kV" in error and "0.5 to 1 kV" in error
    assert not list(store.entries(run_id, kinds=["measurement"]))


def test_a_generator_outside_the_register_is_refused_naming_the_instrument(tmp_path):
    bench = tmp_path / "sim.yaml"
    bench.write_text(SIM_BENCH.read_text("utf-8").replace("    calibration: emc-sg-01\n", ""), "utf-8")
    folder = tmp_path / "calibration"
    shutil.copytree(REPO / "calibration", folder, ignore=shutil.ignore_patterns("examples", "emc-sg-01.yaml"))
    with pytest.raises(CalibrationRefused, match=r"backs the instrument 'surge'") as caught:
        _header(tmp_path, SURGE, bench, Register.load(folder))
    assert [p.kind for p in caught.value.problems] == [ProblemKind.UNKNOWN_STANDARD]


def test_each_programme_checks_the_equipment_of_its_own_disturbances_and_climates():
    bench = load_inputs(REPO / SURGE, [REPO / m for m in METERS], SIM_BENCH, None).bench
    def used(procedure: str) -> list[str]:
        return severity_equipment(load_inputs(REPO / procedure, [REPO / m for m in METERS], SIM_BENCH, None).procedure, bench)
    assert used(SURGE) == ["emc-sg-01"]
    assert used("procedures/r49/burst-mains.yaml") == ["emc-eft-01"]
    assert used("procedures/r49/dry-heat.yaml") == ["cc-01"]
    assert used("procedures/r49/intrinsic-error.yaml") == []


def test_the_run_records_the_surge_generator_s_verification_for_the_report(tmp_path):
    surge = _header(tmp_path, SURGE, SIM_BENCH, Register.load(REPO / "calibration"))["calibration"]["emc-sg-01"]
    assert surge["kind"] == "verification" and surge["simulated"] and surge["certificate"] == "EMC-V-2026-0051"
    assert any("1.2 µs" in v["requirement"] and v["status"] == "unverified" for v in surge["verified"])


REAL_BENCH = """\
bench: real-line
instruments:
  scale:
    driver: mettler_toledo_sics
    role: reference_scale
    resource: TCPIP::192.0.2.10::4001::SOCKET
    calibration: bal-600
    options: {capacity_kg: 600}
  surge:
    driver: emc_surge
    role: surge_generator
    resource: TCPIP::192.0.2.11::5025::SOCKET
    calibration: emc-sg-01
    options: {adapter: generic}
"""


@pytest.mark.parametrize("reason", [None, "the real generator's verification is booked"])
def test_a_real_bench_refuses_the_simulated_lab_s_certificates_whatever_the_reason(tmp_path, reason):
    bench = tmp_path / "real.yaml"
    bench.write_text(REAL_BENCH, "utf-8")
    with pytest.raises(CalibrationRefused) as caught:
        _header(tmp_path, SURGE, bench, Register.load(REPO / "calibration"), override_calibration=reason)
    assert {(p.kind, p.standard) for p in caught.value.problems} == {(ProblemKind.SIMULATED, "bal-600"),
                                                                    (ProblemKind.SIMULATED, "emc-sg-01")}
