"""Bad procedure files: each kind of mistake names the file, the line and the field."""

from pathlib import Path

import pytest

from meterlab.errors import InputFileError
from meterlab.procedures.schema import ForEachPoint, MeasureError, load_procedure

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
id: test-procedure
title: A test procedure
standard: OIML R 49
edition: "2013"
clause: R 49-2:2013 7.4
version: 1
meter_kind: water
profile: r49-2013
steps:
  - prompt:
      text: Mount the meters
      ask: register_l
      unit: L
      minimum: 0
      maximum: 99999
  - apply_disturbance:
      label: burst-mains
      disturbance: burst
      mode: during
      test: burst_mains
      severity: E2
  - for_each_point:
      points: [Q1, Q3]
      steps:
        - set_flow: {point: $point}
        - stabilise: {flow_within_pct: 2.0, water_temperature_c: [15.0, 25.0], for_s: 30}
        - measure_error: {point: $point, volume: auto, repeats: 3, label: intrinsic}
        - measure_error: {point: $point, volume: 50, during: burst-mains, label: burst}
  - set_climate: {temperature_c: 55, humidity_pct: 50}
  - soak: {duration_s: 7200}
  - run_flow: {point: Q3, cycles: 100, on_s: 15, off_s: 15}
  - evaluate: {checks: [within_mpe, significant_fault], reference: intrinsic}
"""


def write(tmp_path, text, name="proc.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_good_file_loads(tmp_path):
    procedure = load_procedure(write(tmp_path, GOOD))
    loop = procedure.steps[2]
    assert isinstance(loop, ForEachPoint) and isinstance(loop.steps[2], MeasureError)
    assert loop.steps[3].during == "burst-mains"


# (what is wrong, old text, new text, field named, text of the line named)
CASES = [
    ("missing id", "id: test-procedure\n", "", "id", None),
    ("bad id characters", "id: test-procedure", "id: Test Procedure!", "id", "id: Test Procedure!"),
    ("version zero", "version: 1", "version: 0", "version", "version: 0"),
    ("unknown meter kind", "meter_kind: water", "meter_kind: steam", "meter_kind", "meter_kind: steam"),
    ("unknown top-level field", "profile: r49-2013\n", "profile: r49-2013\nprofle: x\n", "profle", "profle: x"),
    ("no steps", "steps:\n", "steps: []\nold_steps:\n", "steps", "steps: []"),
    ("unknown step kind", "  - soak: {duration_s: 7200}", "  - sleep: {duration_s: 7200}", "steps.4", "- sleep:"),
    ("prompt without text", "      text: Mount the meters\n", "", "steps.0.prompt.text", "- prompt:"),
    ("prompt min above max", "      minimum: 0", "      minimum: 100000", "steps.0.prompt", "- prompt:"),
    ("unknown step field", "      severity: E2", "      severity: E2\n      voltage_kv: 2", "steps.1.apply_disturbance.voltage_kv", "voltage_kv: 2"),
    ("unknown disturbance", "disturbance: burst", "disturbance: lightning", "steps.1.apply_disturbance.disturbance", "disturbance: lightning"),
    ("bad disturbance mode", "mode: during", "mode: sometimes", "steps.1.apply_disturbance.mode", "mode: sometimes"),
    ("during without label", "      label: burst-mains\n", "", "steps.1.apply_disturbance", "- apply_disturbance:"),
    ("negative volume", "volume: 50,", "volume: -5,", "steps.2.for_each_point.steps.3.measure_error.volume", "volume: -5"),
    ("volume not a number", "volume: 50,", "volume: lots,", "steps.2.for_each_point.steps.3.measure_error.volume", "volume: lots"),
    ("too many repeats", "repeats: 3", "repeats: 500", "steps.2.for_each_point.steps.2.measure_error.repeats", "repeats: 500"),
    ("bad start mode", "volume: auto,", "volume: auto, start: running,", "steps.2.for_each_point.steps.2.measure_error.start", "start: running"),
    ("set_flow without point", "- set_flow: {point: $point}", "- set_flow: {}", "steps.2.for_each_point.steps.0.set_flow", "- set_flow: {}"),
    ("inverted temperature band", "[15.0, 25.0]", "[25.0, 15.0]", "steps.2.for_each_point.steps.1.stabilise.water_temperature_c", "water_temperature_c: [25.0, 15.0]"),
    ("humidity over 100", "humidity_pct: 50", "humidity_pct: 150", "steps.3.set_climate.humidity_pct", "humidity_pct: 150"),
    ("negative soak", "duration_s: 7200", "duration_s: -1", "steps.4.soak.duration_s", "duration_s: -1"),
    ("cycles without off time", "on_s: 15, off_s: 15", "on_s: 15", "steps.5.run_flow", "- run_flow:"),
    ("unknown check", "checks: [within_mpe, significant_fault]", "checks: [within_mpe, looks_good]", "steps.6.evaluate.checks.1", "checks: [within_mpe, looks_good]"),
    ("during names no disturbance", "during: burst-mains", "during: surge-mains", "steps.2.for_each_point.steps.3.measure_error.during", "during: surge-mains"),
    ("$point outside a loop", "  - run_flow: {point: Q3,", "  - run_flow: {point: $point,", "steps.5.run_flow.point", "- run_flow:"),
    ("duplicate labels", "label: burst}", "label: intrinsic}", "steps.2.for_each_point.steps.3.measure_error.label", "label: intrinsic}"),
    ("reference to nothing", "reference: intrinsic", "reference: baseline", "steps.6.evaluate.reference", "reference: baseline"),
    ("points neither all nor a list", "points: [Q1, Q3]", "points: 7", "steps.2.for_each_point.points", "points: 7"),
]


@pytest.mark.parametrize("what, old, new, field, line_text", CASES, ids=[c[0] for c in CASES])
def test_bad_procedure_names_file_line_and_field(tmp_path, what, old, new, field, line_text):
    assert old in GOOD, f"test case '{what}' does not apply to GOOD"
    text = GOOD.replace(old, new, 1)
    path = write(tmp_path, text, name="bad-procedure.yaml")
    with pytest.raises(InputFileError) as info:
        load_procedure(path)
    message = str(info.value)
    assert "bad-procedure.yaml" in message
    fields = [f for _, f, _ in info.value.problems]
    assert any(f == field or f.startswith(field + ".") for f in fields), (fields, message)
    if line_text is not None:
        lines = [line for line, f, _ in info.value.problems if f == field or f.startswith(field + ".")]
        named = [text.splitlines()[n - 1] for n in lines if n]
        assert any(line_text in t for t in named), (named, message)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, GOOD.replace("  - soak: {duration_s: 7200}", "  - soak: {duration_s: 7200"))
    with pytest.raises(InputFileError) as info:
        load_procedure(path)
    assert info.value.problems[0][0] is not None and "YAML syntax" in str(info.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputFileError, match="nothere.yaml.*cannot read"):
        load_procedure(tmp_path / "nothere.yaml")


def test_shipped_procedures_are_valid():
    files = sorted((REPO / "procedures").glob("r*/*.yaml"))
    assert files
    for path in files:
        load_procedure(path)
