"""The register refuses expired, not-yet-valid, unknown and out-of-range standards unless overridden; the
simulated laboratory's certificates are accepted on its simulated instruments whatever the date, and never
on a real one."""

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from meterlab.calibration.certificates import Status
from meterlab.calibration.register import CalibrationRefused, ProblemKind, Register, UnknownStandard
from meterlab.errors import MeterlabError

CALIBRATION = Path(__file__).resolve().parents[2] / "calibration"
EXPIRED_EXAMPLE = CALIBRATION / "examples" / "expired-thermometer.yaml"
TODAY = dt.date(2026, 11, 22)
WATER_RUN = [("scale", (2.0, 52.0)), ("thermometer", (15.0, 25.0)), ("pressure", 400_000.0), "counter"]


REGISTER = Register.load(CALIBRATION)
SIMULATED_IDS = [c.id for c in REGISTER]
ON_SIMULATED_BENCH = REGISTER.accepting_simulated(SIMULATED_IDS)  # every simulated instrument names its own


@pytest.fixture
def register_with_expired_thermometer(tmp_path) -> Register:
    """The shipped register, as the simulated bench sees it, with its thermometer replaced by the expired
    example: a real certificate, whose dates are enforced wherever it is used."""
    for path in CALIBRATION.glob("*.yaml"):
        if path.name != "prt-01.yaml":
            shutil.copy(path, tmp_path / path.name)
    shutil.copy(EXPIRED_EXAMPLE, tmp_path / EXPIRED_EXAMPLE.name)
    return Register.load(tmp_path).accepting_simulated(SIMULATED_IDS)


@pytest.fixture
def real_register(tmp_path) -> Register:
    """The shipped certificates as a real lab's: the same files without `simulated: true`."""
    for path in CALIBRATION.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert "\nsimulated: true" in text
        (tmp_path / path.name).write_text(text.replace("\nsimulated: true", "\n# (a real lab's copy)"), encoding="utf-8")
    return Register.load(tmp_path).accepting_simulated(SIMULATED_IDS)


def test_look_up_by_id_and_by_instrument_gives_the_same_certificate():
    assert REGISTER.get("thermometer") is REGISTER.get("prt-01") is REGISTER.for_instrument("thermometer")
    assert REGISTER.by_id("bal-600").instrument == "scale_large"
    assert len(REGISTER) == len(list(CALIBRATION.glob("*.yaml"))) and "nozzle_bank" in REGISTER and "cfv-bank-01" in REGISTER
    with pytest.raises(UnknownStandard, match="'thermometre'.*prt-01"):
        REGISTER.get("thermometre")


@pytest.mark.parametrize("day, status", [
    (dt.date(2026, 3, 15), Status.NOT_YET_VALID),  # calibrated 03-12, certificate issued 03-16
    (dt.date(2026, 3, 16), Status.VALID),
    (dt.date(2027, 3, 12), Status.VALID),          # the due date itself
    (dt.date(2027, 3, 13), Status.EXPIRED),
    (dt.datetime(2027, 3, 13, 0, 5), Status.EXPIRED),
])
def test_status_runs_from_the_date_of_issue_through_the_due_date(day, status):
    assert REGISTER.status("thermometer", at=day) is status


def test_a_valid_bench_has_no_problems_and_enforce_lets_it_run():
    assert ON_SIMULATED_BENCH.check(WATER_RUN, at=TODAY) == []
    assert ON_SIMULATED_BENCH.enforce(WATER_RUN, at=TODAY) == []


@pytest.mark.parametrize("day", [dt.date(2026, 1, 1), dt.date(2027, 6, 1), dt.date(2029, 12, 6), dt.date(2036, 12, 31)])
def test_the_simulated_lab_s_certificates_are_accepted_by_its_instruments_on_any_date(day):
    assert ON_SIMULATED_BENCH.enforce(SIMULATED_IDS, at=day) == []


def test_a_real_register_refuses_an_expired_certificate_naming_it_and_its_due_date(real_register):
    assert real_register.enforce(WATER_RUN, at=TODAY) == []
    with pytest.raises(CalibrationRefused) as caught:
        real_register.enforce(WATER_RUN, at=dt.date(2027, 6, 1))
    message = str(caught.value)
    assert "ptx-01 (pressure)" in message and "P-2026-0233" in message and "due 2027-02-18" in message
    assert {p.kind for p in caught.value.problems} == {ProblemKind.EXPIRED}


@pytest.mark.parametrize("reason", [None, "the real bench has no certificate yet"])
def test_a_simulated_certificate_is_refused_on_a_real_bench_and_no_reason_overrides_it(reason):
    with pytest.raises(CalibrationRefused) as caught:
        REGISTER.enforce(WATER_RUN, at=TODAY, override_reason=reason)
    assert {p.kind for p in caught.value.problems} == {ProblemKind.SIMULATED}
    assert "bal-060" in str(caught.value) and "simulated laboratory" in str(caught.value)
    assert "--override-calibration" not in str(caught.value)


def test_only_the_certificates_simulated_instruments_name_are_accepted():
    partly = REGISTER.accepting_simulated(["prt-01"])
    assert partly.check([("thermometer", 20.0)], at=TODAY) == []
    assert [p.standard for p in partly.check(["prt-01", "bal-060"], at=TODAY)] == ["bal-060"]


def test_an_expired_standard_is_refused_naming_standard_and_certificate(register_with_expired_thermometer):
    with pytest.raises(CalibrationRefused) as caught:
        register_with_expired_thermometer.enforce(WATER_RUN, at=TODAY)
    message = str(caught.value)
    assert "prt-00" in message and "thermometer" in message and "T-2025-0877" in message
    assert "expired" in message and "2026-09-30" in message
    assert "--override-calibration" in message
    assert isinstance(caught.value, MeterlabError)
    assert [p.kind for p in caught.value.problems] == [ProblemKind.EXPIRED]


def test_with_an_override_reason_it_proceeds_and_returns_the_problems(register_with_expired_thermometer):
    problems = register_with_expired_thermometer.enforce(
        WATER_RUN, at=TODAY, override_reason="recalibration booked; checked against prt-02 on 2026-11-20")
    assert [(p.kind, p.standard, p.certificate) for p in problems] == [(ProblemKind.EXPIRED, "prt-00", "T-2025-0877")]
    assert json.loads(json.dumps([p.to_dict() for p in problems]))[0]["kind"] == "expired"


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_blank_reason_is_no_override(register_with_expired_thermometer, reason):
    with pytest.raises(CalibrationRefused):
        register_with_expired_thermometer.enforce(WATER_RUN, at=TODAY, override_reason=reason)


def test_out_of_range_use_is_a_problem_naming_the_range():
    problems = ON_SIMULATED_BENCH.check([("master_meter", (0.05, 2.5)), ("scale", 61.0)], at=TODAY)
    assert [p.kind for p in problems] == [ProblemKind.OUT_OF_RANGE] * 2
    assert "mm-w-01" in problems[0].message and "F-2026-1104" in problems[0].message
    assert "0.05 to 2.5 m³/h" in problems[0].message and "0.1 to 10 m³/h" in problems[0].message
    assert "bal-060" in problems[1].message and "61 kg" in problems[1].message
    with pytest.raises(CalibrationRefused, match="mm-w-01"):
        ON_SIMULATED_BENCH.enforce([("master_meter", (0.05, 2.5))], at=TODAY)


def test_unknown_standards_and_dates_outside_validity_are_problems(real_register):
    problems = real_register.check(["no_such_meter", ("thermometer", 20.0)], at=dt.date(2026, 1, 1))
    kinds = {p.standard: p.kind for p in problems}
    assert kinds == {"no_such_meter": ProblemKind.UNKNOWN_STANDARD, "prt-01": ProblemKind.NOT_YET_VALID}


def test_the_same_problem_is_reported_once(register_with_expired_thermometer):
    uses = [("thermometer", 19.0), ("prt-00", 21.0), "thermometer"]
    assert len(register_with_expired_thermometer.check(uses, at=TODAY)) == 1


def test_snapshot_is_plain_data_with_certificate_lab_due_date_and_status(register_with_expired_thermometer):
    snapshot = register_with_expired_thermometer.snapshot(["scale", "thermometer"], at=TODAY)
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert snapshot["prt-00"]["certificate"] == "T-2025-0877"
    assert snapshot["prt-00"]["status"] == "expired"
    assert snapshot["bal-060"]["laboratory"] == "Alpha Mass Metrology Laboratory"
    assert snapshot["bal-060"]["due_date"] == "2027-05-04" and snapshot["bal-060"]["status"] == "valid"
    assert len(snapshot["bal-060"]["sha256"]) == 64
    with pytest.raises(UnknownStandard):
        register_with_expired_thermometer.snapshot(["scale", "nothing"], at=TODAY)


def test_the_settings_of_severity_equipment_are_checked_against_the_range_it_was_verified_over():
    climates = [{"temperature_c": 40.0, "humidity_pct": 93.0, "ramp_c_per_min": 1.0, "name": "upper"},
                {"temperature_c": 25.0, "humidity_pct": None}]
    spans = ON_SIMULATED_BENCH.spans("chamber", climates)
    assert spans == {"temperature_c": (25.0, 40.0), "humidity_pct": (93.0, 93.0)}
    assert ON_SIMULATED_BENCH.check([("chamber", spans)], at=TODAY) == []
    too_hot = ON_SIMULATED_BENCH.spans("cc-01", [{"temperature_c": 120.0}])
    (problem,) = ON_SIMULATED_BENCH.check([("cc-01", too_hot)], at=TODAY)
    assert problem.kind is ProblemKind.OUT_OF_RANGE and "equipment cc-01 (chamber)" in problem.message
    assert "-40 to 85 °C" in problem.message
