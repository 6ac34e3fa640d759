"""Certificate files: the shipped ones load, and a bad one is refused with its file, line and field."""

import datetime as dt
from pathlib import Path

import pytest

from meterlab.calibration.certificates import Status, load_certificate
from meterlab.calibration.register import Register
from meterlab.errors import InputFileError, MeterlabError
from meterlab.instruments.bench import load_bench

ROOT = Path(__file__).resolve().parents[2]
CALIBRATION = ROOT / "calibration"
EXPIRED_EXAMPLE = CALIBRATION / "examples" / "expired-thermometer.yaml"
TODAY = dt.date(2026, 11, 22)
GOOD = (CALIBRATION / "prt-01.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", sorted(CALIBRATION.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_certificate_loads_and_is_valid_until_2027(path):
    certificate = load_certificate(path)
    assert certificate.status(TODAY) is Status.VALID
    assert certificate.due_date >= dt.date(2027, 1, 1)
    assert certificate.sha256 and certificate.path == path


def test_the_register_backs_every_standard_the_simulated_benches_name():
    register = Register.load(CALIBRATION)
    named = {entry.calibration for bench in ("sim.yaml", "sim-gas.yaml")
             for entry in load_bench(ROOT / "instruments" / bench).instruments.values() if entry.calibration}
    assert len(named) >= 10 and named <= {c.id for c in register}
    assert all(register.status(name, TODAY) is Status.VALID for name in named)


def test_the_expired_example_is_outside_the_register_and_expired():
    assert EXPIRED_EXAMPLE.parent != CALIBRATION
    assert load_certificate(EXPIRED_EXAMPLE).status(TODAY) is Status.EXPIRED


def _line_of(text: str, snippet: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if snippet in line)


# (name, text to replace, replacement, expected field, snippet on the expected line, words of the message)
BAD = [
    ("missing field", 'serial: "A93512"\n', "", "serial", "id: prt-01", "required"),
    ("unknown field", "serial:", "serail:", "serail", "serail:", "unknown field"),
    ("due before calibration", "due_date: 2027-03-12", "due_date: 2026-03-01", "due_date", "due_date:",
     "must come after the calibration date 2026-03-12"),
    ("issued before calibration", "  date: 2026-03-16", "  date: 2026-03-01", "certificate.date", "  date:",
     "before the calibration"),
    ("non-increasing table", "{x: 30, correction: -0.004", "{x: 20, correction: -0.004",
     "correction.table.3.x", "{x: 20, correction: -0.004", "increase strictly"),
    ("negative U", "{x: 20, correction: -0.006, U: 0.020", "{x: 20, correction: -0.006, U: -0.020",
     "correction.table.2.U", "U: -0.020", "greater than or equal to 0"),
    ("zero k", "{x: 0,  correction: -0.012, U: 0.020, k: 2}", "{x: 0,  correction: -0.012, U: 0.020, k: 0}",
     "correction.table.0.k", "k: 0}", "greater than 0"),
    ("unknown correction kind", "  table:", "  spline:", "correction.spline", "spline:",
     "unknown correction kind 'spline'"),
    ("two correction kinds", "  table:", "  equation: {coefficients: [0.0]}\n  table:", "correction.equation",
     "equation:", "either table or equation"),
    ("wrong type", "calibration_date: 2026-03-12", "calibration_date: last spring", "calibration_date",
     "calibration_date:", "valid date"),
    ("range beyond the table", "{min: 0, max: 90, unit: °C}", "{min: 0, max: 95, unit: °C}",
     "calibrated_range.max", "calibrated_range:", "never extrapolated"),
    ("range upside down", "{min: 0, max: 90, unit: °C}", "{min: 90, max: 0, unit: °C}",
     "calibrated_range.max", "calibrated_range:", "below min"),
]


@pytest.mark.parametrize("old, new, field, line_snippet, words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_certificate_names_file_line_and_field(tmp_path, old, new, field, line_snippet, words):
    assert old in GOOD, "the test edits a line that must exist in the good file"
    bad_text = GOOD.replace(old, new, 1)
    path = tmp_path / "bad.yaml"
    path.write_text(bad_text, encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        load_certificate(path)
    problems = {problem_field: (line, message) for line, problem_field, message in caught.value.problems}
    assert field in problems, caught.value
    line, message = problems[field]
    assert line == _line_of(bad_text, line_snippet)
    assert words in message
    assert str(path) in str(caught.value) and f":{line} " in str(caught.value)


def test_an_equation_without_its_coverage_factor_is_refused(tmp_path):
    text = (CALIBRATION / "bell-01.yaml").read_text(encoding="utf-8").replace("  k: 2\n", "")
    path = tmp_path / "bell.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError, match=r"field 'correction.k'.*U with its k"):
        load_certificate(path)


def test_a_yaml_syntax_error_names_its_line(tmp_path):
    text = GOOD.replace("quantity: temperature", "quantity: [temperature")
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        load_certificate(path)
    bad_line = _line_of(text, "quantity: [temperature")
    assert caught.value.problems[0][0] in (bad_line, bad_line + 1)  # the parser notices on the next line


def test_unquoted_numbers_are_read_as_text_for_serial_and_certificate_number(tmp_path):
    text = GOOD.replace('serial: "A93512"', "serial: 93512").replace("number: T-2026-0412", "number: 20260412")
    path = tmp_path / "numbers.yaml"
    path.write_text(text, encoding="utf-8")
    certificate = load_certificate(path)
    assert (certificate.serial, certificate.certificate.number) == ("93512", "20260412")


def test_two_certificates_for_one_instrument_are_refused(tmp_path):
    for name in ("prt-01.yaml", "ptx-01.yaml"):
        (tmp_path / name).write_text((CALIBRATION / name).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "prt-00.yaml").write_text(EXPIRED_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(InputFileError, match=r"'thermometer' is already used in .*prt-0"):
        Register.load(tmp_path)


SURGE = (CALIBRATION / "emc-sg-01.yaml").read_text(encoding="utf-8")
# (name, text to replace, replacement, expected field, snippet on the expected line, words of the message)
BAD_VERIFICATIONS = [
    ("a correction on a verification", "conformity:", "correction: {table: [{x: 0.5, correction: 0, U: 1, k: 2}, "
     "{x: 4, correction: 0, U: 1, k: 2}]}\n"
     "conformity:", "correction", "correction:", "a verification has no correction"),
    ("nothing verified", "verified:\n", "verified_:\n", "verified_", "verified_:", "unknown field"),
    ("no statement of conformity", "conformity: the generator", "notes: the generator", "conformity", "id: emc-sg-01",
     "states its conformity"),
    ("unknown status", "status: unverified}\n  - {quantity: open-circuit voltage front time",
     "status: checked}\n  - {quantity: open-circuit voltage front time", "verified.0.status", "status: checked",
     "'verified', 'secondary' or 'unverified'"),
    ("unknown kind", "kind: verification", "kind: conformity", "kind", "kind: conformity", "'calibration' or 'verification'"),
]


@pytest.mark.parametrize("old, new, field, line_snippet, words", [b[1:] for b in BAD_VERIFICATIONS],
                         ids=[b[0] for b in BAD_VERIFICATIONS])
def test_a_bad_verification_names_file_line_and_field(tmp_path, old, new, field, line_snippet, words):
    assert old in SURGE, "the test edits a line that must exist in the good file"
    bad_text = SURGE.replace(old, new, 1)
    path = tmp_path / "bad-surge.yaml"
    path.write_text(bad_text, encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        load_certificate(path)
    problems = {problem_field: (line, message) for line, problem_field, message in caught.value.problems}
    assert field in problems, caught.value
    line, message = problems[field]
    assert line == _line_of(bad_text, line_snippet) and words in message, (line, message)


def test_a_calibration_states_values_not_conformity(tmp_path):
    path = tmp_path / "prt.yaml"
    path.write_text(GOOD + "conformity: within the manufacturer's specification\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"field 'conformity'.*belongs to a verification"):
        load_certificate(path)


def test_a_verification_gives_no_correction_to_evaluate():
    surge = load_certificate(CALIBRATION / "emc-sg-01.yaml")
    assert surge.kind == "verification" and surge.simulated and len(surge.verified) >= 5
    assert surge.out_of_range({"voltage_kv": 4.0}) == [] and surge.out_of_range({"voltage_kv": 5.0})
    with pytest.raises(MeterlabError, match="this one is a verification"):
        surge.evaluate({"voltage_kv": 1.0})


@pytest.mark.parametrize("name", ["emc-sg-01.yaml", "prt-01.yaml", "examples/lapsed-surge-generator.yaml"])
def test_meterlab_validate_recognises_calibrations_and_verifications_as_certificates(name):
    from meterlab.procedures.validate import validate_file

    assert validate_file(CALIBRATION / name) == "certificate"
