"""Malformed input files of every kind, each refused by `meterlab validate` and by `meterlab run`.

Each case is a shipped file (the base of its kind) with one mutation. Both commands must refuse it with a
message that names the file and, where the file has them, the line and the field; neither may print a
traceback, and `run` may not create a run in its database. The cases are built here rather than kept as
files so that each reads as what it breaks.

A hang is made impossible by the reader's limits (size, depth, expanded aliases: meterlab.yamlio); the time
bound below only stops a regression from blocking the suite, it is not a benchmark.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meterlab.cli import app
from meterlab.records.store import Store

ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD_S = 20.0


@dataclass(frozen=True)
class Kind:
    base: str                      # the shipped file the cases mutate
    dup: str                       # a top-level line to repeat (duplicate key)
    number: tuple[str, str]        # (line holding a number, the same line with that number written as .nan)


KINDS = {
    "procedure": Kind("procedures/r49/intrinsic-error.yaml", "version: 2", ("version: 1", "version: .nan")),
    "meter": Kind("examples/meters/dn15-class2.yaml", "q3_m3h: 4.0", ("q3_m3h: 2.5", "q3_m3h: .nan")),
    "bench": Kind("instruments/sim.yaml", "bench: other-rig", ("capacity_kg: 600}", "capacity_kg: .inf}")),
    "scenario": Kind("instruments/scenarios/sim.yaml", "seed: 7", ("max_flowrate_m3h: 6.0", "max_flowrate_m3h: .nan")),
    "certificate": Kind("calibration/bal-600.yaml", "id: bal-601", ("{value: 0.01, unit: kg}", "{value: .nan, unit: kg}")),
    "laboratory": Kind("instruments/laboratory.yaml", "name: Another Lab", ("example: true", "example: .inf")),
    "profile": Kind("procedures/standards/r49-2013.yaml", "kind: gas", ("lower: 5.0,", "lower: .nan,")),
    "severities": Kind("procedures/standards/d11-2013.yaml", 'edition: "2004"', ("B: {d11_level: 6, temperature_c: 55}",
                                                                                "B: {d11_level: 6, temperature_c: .nan}")),
}


@dataclass(frozen=True)
class Case:
    kind: str
    name: str
    old: str | None = None         # replaced by `new` (None: the whole file becomes `raw`)
    new: str = ""
    raw: bytes | None = None
    at: str | int | None = None    # the line: a snippet of the bad text, a number, or None (the file as a whole)
    field: str | None = None
    words: str = ""

    def text(self) -> bytes:
        base = (ROOT / KINDS[self.kind].base).read_bytes()
        if self.raw is not None:
            return self.raw
        old = self.old.encode()
        assert base.count(old) >= 1, f"{self.name}: {self.old!r} is not in {KINDS[self.kind].base}"
        return base.replace(old, self.new.encode(), 1)

    def line(self, text: bytes) -> int | None:
        if isinstance(self.at, str):
            return text[:text.index(self.at.encode())].count(b"\n") + 1
        return self.at


def _generic(kind: str) -> list[Case]:
    """What any YAML file can get wrong, for one kind."""
    base = (ROOT / KINDS[kind].base).read_bytes()
    spec = KINDS[kind]
    bomb = b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n".encode() for i in range(9))
    return [
        Case(kind, "binary", raw=bytes(range(256)) * 4, at=2, words="not UTF-8"),  # 0x80 follows the first 0x0a
        Case(kind, "latin-1", raw=base + "note: Prüfstand Größe\n".encode("latin-1"),
             at=base.count(b"\n") + 1, words="not UTF-8"),
        Case(kind, "NUL byte", raw=base.replace(b"\n", b"\x00\n", 2), at=1, words="U+0000"),
        Case(kind, "escape character", raw=base + b"note: \x1b[31m\n", at=base.count(b"\n") + 1, words="U+001B"),
        Case(kind, "duplicate key", raw=base + f"\n{spec.dup}\n".encode(), at=base.count(b"\n") + 2,
             field=spec.dup.split(":")[0], words="given twice"),
        Case(kind, "not finite", old=spec.number[0], new=spec.number[1], at=spec.number[1], words="not a finite number"),
        Case(kind, "alias bomb", raw=bomb, words="expands to more than"),
        Case(kind, "3000-deep nesting", raw=b"a: " + b"[" * 3000 + b"]" * 3000 + b"\n", at=1, words="nest"),
        Case(kind, "50 MB", raw=b"a: '" + b"x" * 3_000_000 + b"'\n", words="at most"),
        Case(kind, "YAML syntax", raw=base + b"\n: : [\n", words="YAML syntax error"),
        Case(kind, "a list, not a mapping", raw=b"- 1\n- 2\n", at=1, words="must be a mapping"),
        Case(kind, "empty", raw=b"", words=""),
    ]


SPECIFIC = [
    # procedures
    Case("procedure", "unknown test point", "set_flow: {point: $point}", "set_flow: {point: Q7}", at="Q7",
         field="steps.1.for_each_point.steps.0.set_flow.point", words="'Q7' is not a test point"),
    Case("procedure", "unknown point in a list", "points: all", "points: [Q1, Q9]", at="Q9",
         field="steps.1.for_each_point.points.1", words="'Q9' is not a test point"),
    Case("procedure", "a 32 000-year wait", "  - evaluate:", "  - wait: {duration_s: 1.0e+12}\n  - evaluate:",
         at="duration_s: 1.0e+12", field="steps.2.wait.duration_s", words="s is not plausible"),
    Case("procedure", "infinite timeout", "for_s: 30}", "for_s: 30, timeout_s: .inf}", at="timeout_s",
         field="steps.1.for_each_point.steps.1.stabilise.timeout_s", words="not a finite number"),
    Case("procedure", "NaN volume", "volume: auto", "volume: .nan", at="volume: .nan",
         field="steps.1.for_each_point.steps.2.measure_error.volume", words="not a finite number"),
    Case("procedure", "negative volume", "volume: auto", "volume: -5", at="volume: -5",
         field="steps.1.for_each_point.steps.2.measure_error.volume", words="L is not plausible"),
    Case("procedure", "flowrate yes", "set_flow: {point: $point}", "set_flow: {flowrate_m3h: yes}", at="yes",
         field="steps.1.for_each_point.steps.0.set_flow.flowrate_m3h", words="a number"),
    Case("procedure", "flowrate as text", "set_flow: {point: $point}", "set_flow: {flowrate_m3h: '2.5'}", at="'2.5'",
         field="steps.1.for_each_point.steps.0.set_flow.flowrate_m3h", words="a number"),
    Case("procedure", "flowrate in L/h", "set_flow: {point: $point}", "set_flow: {flowrate_m3h: 2500000}",
         at="2500000", field="steps.1.for_each_point.steps.0.set_flow.flowrate_m3h", words="m³/h"),
    Case("procedure", "version as text", "version: 1", "version: '1'", at="version", field="version",
         words="whole number"),
    Case("procedure", "repeats as decimal", "start: flying}", "start: flying, repeats: 2.5}", at="repeats",
         field="steps.1.for_each_point.steps.2.measure_error.repeats", words="whole number"),
    Case("procedure", "temperature band in kelvin", "water_temperature_c: [15.0, 25.0]",
         "water_temperature_c: [288.0, 298.0]", at="288.0",
         field="steps.1.for_each_point.steps.1.stabilise.water_temperature_c.0", words="°C"),
    Case("procedure", "profile as a path", "profile: r49-2013", "profile: ../../../etc/passwd.yaml", at="profile:",
         field="profile", words="not a profile name"),
    Case("procedure", "unknown profile", "profile: r49-2013", "profile: r49-2099", at="profile:", field="profile",
         words="profile file"),
    Case("procedure", "misspelt step", "  - prompt:", "  - promt:", at="promt", field="steps.0",
         words="unknown step kind"),
    Case("procedure", "misspelt field", "flow_within_pct: 2.0", "flow_within_pc: 2.0", at="flow_within_pc",
         field="steps.1.for_each_point.steps.1.stabilise.flow_within_pc", words="unknown field"),
    Case("procedure", "impossible date", "version: 1", "version: 2027-02-30", at="2027-02-30", field="version",
         words="not a calendar date"),
    Case("procedure", "a list as a key", "version: 1", "version: 1\n? [a, b]\n: c", at="? [a, b]",
         words="a key must be a plain name"),
    # meters
    Case("meter", "q3 yes", "q3_m3h: 2.5", "q3_m3h: yes", at="q3_m3h", field="q3_m3h", words="a number"),
    Case("meter", "q3 as text", "q3_m3h: 2.5", "q3_m3h: '2.5'", at="q3_m3h", field="q3_m3h", words="a number"),
    Case("meter", "q3 infinite", "q3_m3h: 2.5", "q3_m3h: .inf", at="q3_m3h", field="q3_m3h", words="finite"),
    Case("meter", "q3 in L/h", "q3_m3h: 2.5", "q3_m3h: 2500000", at="q3_m3h", field="q3_m3h", words="m³/h"),
    Case("meter", "serial escapes the folder", "serial: WM15-2026-0001", "serial: ../../../x", at="serial",
         field="serial", words="not a safe name"),
    Case("meter", "serial with a space", "serial: WM15-2026-0001", "serial: WM15 0001", at="serial",
         field="serial", words="not a safe name"),
    Case("meter", "scale interval 1e-300", "scale_interval_l: 0.05", "scale_interval_l: 1.0e-300",
         at="scale_interval_l", field="scale_interval_l", words="L is not plausible"),
    Case("meter", "negative R", "r: 160", "r: -160", at="r: -160", field="r", words="is not plausible"),
    Case("meter", "R as text", "r: 160", "r: R160", at="r: R160", field="r", words="a number"),
    Case("meter", "unknown kind", "kind: water", "kind: steam", at="kind:", field="kind", words="'water' or 'gas'"),
    Case("meter", "electronic as text", "electronic: true", "electronic: 'yes'", at="electronic: 'yes'", field="electronic",
         words="true or false"),
    Case("meter", "class the profile lacks", "accuracy_class: 2", "accuracy_class: 7", at="accuracy_class",
         field="accuracy_class", words="one of 1, 2"),
    Case("meter", "profile as a path", "temperature_class: T30", "temperature_class: T30\nprofile: /etc/x.yaml",
         at="profile:", field="profile", words="not a profile name"),
    Case("meter", "unknown temperature class", "temperature_class: T30", "temperature_class: T999",
         at="temperature_class", field="temperature_class", words="T999"),
    # benches
    Case("bench", "misspelt role", "role: reference_scale", "role: refrence_scale", at="refrence_scale",
         field="instruments.scale.role", words="did you mean reference_scale"),
    Case("bench", "unknown driver", "driver: sinamics_v20", "driver: sinamics_v2", at="sinamics_v2\n",
         field="instruments.pump.driver", words="unknown driver"),
    Case("bench", "unknown certificate", "calibration: bal-600", "calibration: bal-6000", at="bal-6000",
         field="instruments.scale.calibration", words="not a certificate of the register"),
    Case("bench", "a year-long timeout", "    role: pump\n", "    role: pump\n    timeout_s: 3.0e+7\n",
         at="timeout_s", field="instruments.pump.timeout_s", words="s is not plausible"),
    Case("bench", "bench name escapes", "bench: sim-water-rig", "bench: ../../x", at="bench: ../", field="bench",
         words="not a safe name"),
    Case("bench", "instrument name in capitals", "  pump:\n", "  Pump:\n", at="Pump", field="instruments.Pump",
         words="lower case"),
    Case("bench", "driver option as text", "options: {capacity_kg: 600}", "options: {capacity_kg: '600'}",
         at="'600'", field="instruments.scale.options", words="invalid for mettler_toledo_sics"),
    Case("bench", "adapter table outside the lab's folders", "options: {adapter: generic}",
         "options: {adapter: /etc/meterlab/surge.yaml}", at="/etc/meterlab", field="instruments.surge.options",
         words="outside the lab's folders"),
    Case("bench", "sim as text", "sim: true", "sim: 'true'", at="'true'", field="instruments.counter.sim",
         words="true or false"),
    # scenarios
    Case("scenario", "NaN in an error curve", "[[0.0156, 1.2]", "[[0.0156, .nan]", at=".nan",
         field="meters.0.error_curve.0.1", words="not a finite number"),
    Case("scenario", "flowrate yes in an error curve", "[[0.0156, 1.2]", "[[yes, 1.2]", at="[[yes",
         field="meters.0.error_curve.0.0", words="a number"),
    Case("scenario", "error of 1000 %", "[[0.0156, 1.2]", "[[0.0156, 1000]", at="[[0.0156, 1000]",
         field="meters.0.error_curve.0.1", words="% is not plausible"),
    Case("scenario", "unknown fault kind", "faults: []", "faults:\n  - {kind: meteor_strike, at_s: 10}",
         at="meteor_strike", field="faults.0.kind", words="unknown kind 'meteor_strike'"),
    Case("scenario", "fault on an unknown instrument", "faults: []",
         "faults:\n  - {kind: no_answer, instrument: hygrometer, at_s: 10}", at="hygrometer",
         field="faults.0.instrument", words="'hygrometer' is not simulated here"),
    Case("scenario", "read-out fault on an instrument that cannot play it", "faults: []",
         "faults:\n  - {kind: counter_wrap, instrument: scale, at_s: 10}", at="counter_wrap",
         field="faults.0.kind", words="scale does not serve the read-out fault 'counter_wrap'"),
    Case("scenario", "fault in 30 million years", "faults: []",
         "faults:\n  - {kind: pump_trip, at_s: 1.0e+15}", at="pump_trip", field="faults.0.at_s",
         words="s is not plausible"),
    Case("scenario", "device the bench lacks", "devices:\n", "devices:\n  hygrometer: {noise: 1}\n",
         at="hygrometer", field="devices.hygrometer", words="not a simulated instrument"),
    Case("scenario", "seed as text", "seed: 20240501", "seed: '42'", at="seed", field="seed", words="whole number"),
    Case("scenario", "meter serial escapes", "serial: SIM-0001", "serial: ../../x", at="../../x",
         field="meters.0.serial", words="not a safe name"),
    Case("scenario", "pulse value 1e-300", "    pulse_value_l: 0.01", "    pulse_value_l: 1.0e-300", at="1.0e-300",
         field="meters.0.pulse_value_l", words="L is not plausible"),
    Case("scenario", "rig flow in L/h", "max_flowrate_m3h: 6.0", "max_flowrate_m3h: 6000000", at="6000000",
         field="water_rig.max_flowrate_m3h", words="m³/h"),
    # certificates
    Case("certificate", "impossible due date", "due_date: 2027-05-05", "due_date: 2027-02-30", at="2027-02-30",
         field="due_date", words="not a calendar date"),
    Case("certificate", "due date as text", "due_date: 2027-05-05", "due_date: next May", at="next May",
         field="due_date", words="a date"),
    Case("certificate", "due before calibration", "due_date: 2027-05-05", "due_date: 2025-05-05", at="2025-05-05",
         field="due_date", words="must come after"),
    Case("certificate", "U as text", "U: 0.010, k: 2}", "U: '0.010', k: 2}", at="'0.010'",
         field="correction.table.1.U", words="a number"),
    Case("certificate", "k yes", "U: 0.010, k: 2}", "U: 0.010, k: yes}", at="k: yes",
         field="correction.table.1.k", words="a number"),
    Case("certificate", "id with a slash", "id: bal-600", "id: ../bal-600", at="id:", field="id", words="pattern"),
    Case("certificate", "misspelt field", "calibration_date: 2026-05-05", "calibraton_date: 2026-05-05",
         at="calibraton_date", field="calibraton_date", words="unknown field"),
    # laboratory
    Case("laboratory", "report prefix in lower case", "report_prefix: TA", "report_prefix: ta", at="report_prefix",
         field="report_prefix", words="pattern"),
    Case("laboratory", "example as text", "example: true", "example: 'yes'", at="example: 'yes'", field="example",
         words="true or false"),
    Case("laboratory", "unknown field", "example: true", "example: true\nphone: 123", at="phone", field="phone",
         words="unknown field"),
    Case("laboratory", "name as number", "name: Example Meter Type-Approval Laboratory", "name: 42", at="name:",
         field="name", words="put it in quotes"),
    # standard profiles
    Case("profile", "negative MPE", '"2": {lower: 5.0,', '"2": {lower: -5.0,', at='"2": {lower: -5.0',
         field="mpe.classes.2.lower", words="greater than 0"),
    Case("profile", "MPE as text", '"2": {lower: 5.0,', '"2": {lower: "5.0",', at='"2": {lower: "5.0"',
         field="mpe.classes.2.lower", words="a number"),
    Case("profile", "accuracy class yes", "accuracy_classes: [1, 2]", "accuracy_classes: [1, yes]", at="accuracy_classes",
         field="accuracy_classes.1", words="a number"),
    Case("profile", "window nominal as text", "high: 1.10, nominal: 1.05}", "high: 1.10, nominal: '1.05'}",
         at="nominal: '1.05'", field="test_points.windows.0.nominal", words="a number"),
    # severity profiles
    Case("severities", "duration as text", "common: {duration_s: 7200,", "common: {duration_s: '7200',",
         at="duration_s: '7200'", words="7200"),
    Case("severities", "temperature as a word", "B: {d11_level: 6, temperature_c: 55}",
         "B: {d11_level: 6, temperature_c: hot}", at="temperature_c: hot", words="a number"),
]

CASES = [case for kind in KINDS for case in _generic(kind)] + SPECIFIC


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _place(case: Case, tmp_path: Path, monkeypatch) -> tuple[Path, list[str]]:
    """Write the bad file where `run` will read it; return it and `run`'s arguments."""
    args = {"procedure": str(ROOT / "procedures/r49/intrinsic-error.yaml"),
            "--meter": str(ROOT / "examples/meters/dn15-class2.yaml"),
            "--bench": str(ROOT / "instruments/sim.yaml"),
            "--calibration-dir": str(ROOT / "calibration"),
            "--laboratory": str(ROOT / "instruments/laboratory.yaml")}
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / Path(KINDS[case.kind].base).name
    if case.kind == "certificate":  # the register reads every file of its folder
        shutil.copytree(ROOT / "calibration", folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("examples"))
        args["--calibration-dir"] = str(folder)
    elif case.kind in ("profile", "severities"):  # found by name, in $METERLAB_PROFILES first
        monkeypatch.setenv("METERLAB_PROFILES", str(folder))
        if case.kind == "severities":
            args["procedure"] = str(ROOT / "procedures/r49/dry-heat.yaml")
    else:
        args[{"procedure": "procedure", "meter": "--meter", "bench": "--bench", "scenario": "--scenario",
              "laboratory": "--laboratory"}[case.kind]] = str(path)
    path.write_bytes(case.text())
    argv = ["run", args.pop("procedure")] + [item for pair in args.items() for item in pair]
    return path, argv + ["--db", f"sqlite:///{tmp_path / 'records.db'}", "--yes"]


def _invoke(runner: CliRunner, argv: list[str]):
    start = time.monotonic()
    result = runner.invoke(app, argv)
    assert time.monotonic() - start < HANG_GUARD_S, f"{argv[0]} took too long"
    return result


def _assert_refused(case: Case, result, path: Path) -> None:
    output = result.output
    assert result.exit_code != 0, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output
    assert path.name in output, output
    line = case.line(case.text())
    if line is not None:
        assert f":{line} (line {line})" in output, output
    if case.field is not None:
        assert f"field '{case.field}'" in output, output
    assert case.words in output, output


def test_the_corpus_covers_every_kind_with_at_least_90_files():
    assert len(CASES) >= 90
    assert {case.kind for case in SPECIFIC} == set(KINDS)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}: {c.name}" for c in CASES])
def test_validate_refuses_a_bad_file_naming_file_line_and_field(case, tmp_path, monkeypatch, runner):
    path, argv = _place(case, tmp_path, monkeypatch)
    extra = {"scenario": ["--bench", str(ROOT / "instruments/sim.yaml")],
             "bench": ["--calibration-dir", str(ROOT / "calibration")]}.get(case.kind, [])
    _assert_refused(case, _invoke(runner, ["validate", str(path), *extra]), path)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}: {c.name}" for c in CASES])
def test_run_refuses_a_bad_file_before_it_creates_a_run(case, tmp_path, monkeypatch, runner):
    path, argv = _place(case, tmp_path, monkeypatch)
    _assert_refused(case, _invoke(runner, argv), path)
    database = tmp_path / "records.db"
    assert not database.exists() or Store(f"sqlite:///{database}").runs() == []


@pytest.mark.parametrize("scale", ["0", "-5", "nan", "inf", "1e9"])
def test_run_refuses_an_implausible_clock_scale_before_it_creates_a_run(scale, tmp_path, runner):
    database = tmp_path / "records.db"
    result = runner.invoke(app, ["run", str(ROOT / "procedures/r49/intrinsic-error.yaml"),
                                 "--meter", str(ROOT / "examples/meters/dn15-class2.yaml"),
                                 f"--clock-scale={scale}", "--db", f"sqlite:///{database}", "--yes"])
    assert result.exit_code == 2 and "give simulated seconds per real second" in result.output, result.output
    assert not database.exists()
