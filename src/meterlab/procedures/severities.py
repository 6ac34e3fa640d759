"""Severity profiles: the test levels of the climatic and EMC tests (OIML D 11), read from YAML.

A severity profile (`procedures/standards/d11-2013.yaml`) holds, for each test (dry_heat, burst_mains,
esd, ...), the IEC basic standard, the clause and verification status, how the result is judged
(influence factor -> within MPE while exposed; disturbance -> no significant fault, during (NSAd) or
after (NSAa) the disturbance) and one level per environment class the test applies to: climatic
B/O/M for climate tests, electromagnetic E1/E2(/E3) for EMC tests. Parameter names carry their unit
(`voltage_kv`, `repetition_khz`, `duration_s`, ...) and are fixed by `Parameters`, so a misspelt or
out-of-range value in the file is reported with the file, the line and the field.

    profile = load_severities("d11-2013")
    resolve(profile, "burst_mains", "declared", declaration.environment)
    # -> {'voltage_kv': 1.0, 'repetition_khz': 5.0, 'duration_per_polarity_s': 60.0, ...}

Like standard profiles, severity profiles are data: a lab corrects a level without a code change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from meterlab.errors import DeclarationError
from meterlab.metrology.declarations import Environment
from meterlab.metrology.profiles import Sourced, Status, profile_path
from meterlab.procedures.schema import ApplyDisturbance, ClimateCycle, DisturbanceKind, Procedure, SetClimate, Soak
from meterlab.yamlio import load_model

ClassGroup = Literal["climatic", "electromagnetic", "mechanical"]
#: The class names a level may be keyed by: those a meter declaration can declare.
CLASSES: dict[str, tuple[str, ...]] = {
    group: get_args(Environment.model_fields[group].annotation) for group in get_args(ClassGroup)
}
DECLARED = "declared"
Polarity = Literal["positive", "negative"]
_META = ("d11_level", "clause", "status", "note")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reduction(_Strict):
    """One voltage dip or interruption (IEC 61000-4-11 on AC mains, in cycles; IEC 61000-4-29 on a DC supply, in
    milliseconds): the residual voltage and how long it lasts."""

    residual_pct: float = Field(ge=0, lt=100, description="remaining voltage, % of the rated voltage")
    duration_cycles: float | None = Field(None, gt=0, description="AC: mains cycles at 50 Hz")
    duration_cycles_60hz: float | None = Field(None, gt=0, description="AC: mains cycles at 60 Hz")
    duration_ms: float | None = Field(None, gt=0, description="DC: milliseconds")

    @model_validator(mode="after")
    def _one_duration(self) -> Reduction:
        if (self.duration_cycles is None) == (self.duration_ms is None):
            raise ValueError("give duration_cycles (AC) or duration_ms (DC), one of them")
        return self


class Parameters(_Strict):
    """Every parameter a level may give a driver; the unit is in the name. Unknown names are refused."""

    # climate chamber
    temperature_c: float | None = Field(None, ge=-70, le=180, description="test (upper) temperature")
    lower_temperature_c: float | None = Field(None, ge=-70, le=180, description="lower temperature of a cycle")
    humidity_pct: float | None = Field(None, ge=0, le=100, description="relative humidity (upper phase)")
    lower_phase_humidity_pct: float | None = Field(None, ge=0, le=100)
    max_absolute_humidity_g_per_m3: float | None = Field(None, gt=0)
    ramp_c_per_min: float | None = Field(None, gt=0, le=10, description="largest rate of temperature change")
    duration_s: float | None = Field(None, gt=0, description="exposure after stabilisation (soak)")
    cycles: int | None = Field(None, ge=1)
    cycle_duration_s: float | None = Field(None, gt=0)
    rise_duration_s: float | None = Field(None, gt=0)
    upper_phase_until_s: float | None = Field(None, gt=0, description="end of the upper phase, from cycle start")
    fall_duration_min_s: float | None = Field(None, gt=0)
    fall_duration_max_s: float | None = Field(None, gt=0)
    recovery_within_c: float | None = Field(None, gt=0)
    # mains supply
    upper_voltage_pct: float | None = Field(None, ge=0, le=100, description="above the rated voltage")
    lower_voltage_pct: float | None = Field(None, ge=-100, le=0, description="below the rated voltage")
    frequency_variation_pct: float | None = Field(None, gt=0, le=20)
    reductions: list[Reduction] | None = Field(None, min_length=1)
    # pulses and discharges
    voltage_kv: float | None = Field(None, gt=0, le=30)
    repetition_khz: float | None = Field(None, gt=0)
    duration_per_polarity_s: float | None = Field(None, gt=0)
    polarities: list[Polarity] | None = Field(None, min_length=1)
    count: int | None = Field(None, ge=1, description="events per polarity / test point / setting")
    interval_s: float | None = Field(None, gt=0, description="least time between two events")
    phase_angles_deg: list[float] | None = Field(None, min_length=1)
    line_to_line_kv: float | None = Field(None, gt=0, le=30)
    line_to_earth_kv: float | None = Field(None, gt=0, le=30)
    symmetrical_line_to_earth_kv: float | None = Field(None, gt=0, le=30)
    shielded_line_kv: float | None = Field(None, gt=0, le=30)
    contact_voltage_kv: float | None = Field(None, gt=0, le=30)
    air_voltage_kv: float | None = Field(None, gt=0, le=30)
    capacitance_pf: float | None = Field(None, gt=0)
    resistance_ohm: float | None = Field(None, gt=0)
    coupling: str | None = Field(None, min_length=1, description="coupling network, e.g. capacitive clamp")
    waveform: str | None = Field(None, min_length=1)
    # radio frequency
    field_v_per_m: float | None = Field(None, gt=0, le=200)
    emf_v: float | None = Field(None, gt=0, le=100)
    frequency_start_hz: float | None = Field(None, gt=0)
    frequency_stop_hz: float | None = Field(None, gt=0)
    step_pct: float | None = Field(None, gt=0, le=10, description="frequency step, % of the previous frequency")
    am_depth_pct: float | None = Field(None, ge=0, le=100)
    am_frequency_hz: float | None = Field(None, gt=0)
    dwell_s: float | None = Field(None, gt=0)
    antenna_polarisations: list[Literal["horizontal", "vertical"]] | None = Field(None, min_length=1)
    # magnetic fields
    field_a_per_m: float | None = Field(None, gt=0, description="continuous field strength")
    short_duration_field_a_per_m: float | None = Field(None, gt=0)
    short_duration_min_s: float | None = Field(None, gt=0)
    short_duration_max_s: float | None = Field(None, gt=0)
    short_duration_interval_s: float | None = Field(None, gt=0, description="from one short-duration field's start "
                                                    "to the next, repeated over an NSAd measurement")
    mains_frequency_hz: float | None = Field(None, gt=0)
    flux_density_mt: float | None = Field(None, gt=0, description="static field at the meter surface")
    # vibration and mechanical shock (the shaker and the shock tester)
    asd_profile: list[Annotated[list[float], Field(min_length=2, max_length=2)]] | None = Field(
        None, min_length=2, description="random vibration: ASD breakpoints [[frequency_hz, asd_m2_s3], ...], straight "
                                        "lines on log-log axes between them")
    rms_m_s2: float | None = Field(None, gt=0, description="random vibration: the profile's RMS (a check on it)")
    axes: list[Literal["X", "Y", "Z"]] | None = Field(None, min_length=1, description="each axis in turn")
    duration_per_axis_s: float | None = Field(None, gt=0)
    drop_height_mm: float | None = Field(None, gt=0, description="shock: the drop the pulse stands for")
    peak_m_s2: float | None = Field(None, gt=0, description="shock: half-sine peak acceleration")
    pulse_duration_ms: float | None = Field(None, gt=0, description="shock: half-sine duration")

    @field_validator("phase_angles_deg")
    @classmethod
    def _angles(cls, angles):
        if angles is not None and any(not 0 <= a < 360 for a in angles):
            raise ValueError(f"phase angles must lie in [0, 360) degrees, got {angles}")
        return angles

    @field_validator("polarities", "antenna_polarisations", "axes")
    @classmethod
    def _distinct(cls, values):
        if values is not None and len(set(values)) != len(values):
            raise ValueError(f"each entry only once, got {values}")
        return values

    @model_validator(mode="after")
    def _ranges(self):
        for low, high in (("frequency_start_hz", "frequency_stop_hz"), ("lower_temperature_c", "temperature_c"),
                          ("fall_duration_min_s", "fall_duration_max_s"),
                          ("short_duration_min_s", "short_duration_max_s")):
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{low} ({a:g}) must not exceed {high} ({b:g})")
        return self

    def given(self) -> dict[str, Any]:
        """The parameters set in the file, as plain data for a driver (lists of dicts, no models)."""
        return {name: value for name, value in self.model_dump(exclude_none=True).items() if name not in _META}


class Level(Parameters):
    """The parameters for one environment class, with the D 11 level index they correspond to."""

    d11_level: str | None = Field(None, description="test level index in the D 11 table, e.g. '3'")
    clause: str | None = Field(None, description="overrides the test's clause for this level")
    status: Status | None = Field(None, description="overrides the test's status for this level")
    note: str | None = None

    @field_validator("d11_level", mode="before")
    @classmethod
    def _index_text(cls, value):
        return str(value) if isinstance(value, int) else value


class SeverityTest(Sourced):
    """One test of the profile: its standard, how it is judged, and its level per environment class.

    Fields are validated in this order, so each rule is reported at the field that breaks it."""

    title: str = Field(min_length=1)
    standard: str = Field(min_length=1, description="IEC basic standard, e.g. IEC 61000-4-4")
    applies_to: ClassGroup = Field(description="which declared class selects the level")
    disturbance: DisturbanceKind | None = Field(None, validate_default=True,
                                                description="apply_disturbance kind; none for climate tests")
    category: Literal["influence", "disturbance"]
    mode: Literal["during", "between"] = Field(description="during (MPE or NSAd) or between two measurements (NSAa)")
    criterion: Literal["within_mpe", "significant_fault"]
    electronic_only: bool = True
    evaluation: Sourced = Field(description="where the evaluation (I/MPE, D/NSAd, D/NSAa) comes from")
    class_mapping: Sourced = Field(description="where the environment class -> level mapping comes from")
    common: Parameters = Field(default_factory=Parameters, description="parameters shared by every level")
    levels: dict[str, Level] = Field(min_length=1)
    unverified: list[str] = Field(default_factory=list, description="parameters not confirmed by the clause")

    @field_validator("disturbance")
    @classmethod
    def _run_by(cls, disturbance, info):
        group = info.data.get("applies_to")
        if group == "climatic" and disturbance is not None:
            raise ValueError("a climate test is run by set_climate and soak, not apply_disturbance: remove it")
        if group in ("electromagnetic", "mechanical") and disturbance is None:
            raise ValueError(f"an {group} test needs the apply_disturbance kind it is run with")
        return disturbance

    @field_validator("mode")
    @classmethod
    def _measured_while_applied(cls, mode, info):
        if info.data.get("category") == "influence" and mode != "during":
            raise ValueError("an influence factor is measured while applied: mode must be during")
        return mode

    @field_validator("criterion")
    @classmethod
    def _judged_by(cls, criterion, info):
        category = info.data.get("category")
        expected = {"influence": "within_mpe", "disturbance": "significant_fault"}.get(category, criterion)
        if criterion != expected:
            raise ValueError(f"the {category} tests of D 11 Table 5 are judged by {expected}, not {criterion}")
        return criterion

    @field_validator("levels")
    @classmethod
    def _classes(cls, levels, info):
        group = info.data.get("applies_to")
        if group is not None:
            wrong = [key for key in levels if key not in CLASSES[group]]
            if wrong:
                raise ValueError(f"{', '.join(wrong)}: not {group} classes; use {', '.join(CLASSES[group])}")
        return levels

    @field_validator("unverified")
    @classmethod
    def _named(cls, names, info):
        common, levels = info.data.get("common"), info.data.get("levels")
        if common is None or levels is None:
            return names
        known = set(common.given()) | {name for level in levels.values() for name in level.given()}
        strange = [name for name in names if name not in known]
        if strange:
            raise ValueError(f"{', '.join(strange)}: not parameters of this test ({', '.join(sorted(known))})")
        return names

    @property
    def evaluation_method(self) -> str:
        """D 11 Table 5 wording: MPE, NSAd or NSAa."""
        if self.category == "influence":
            return "MPE"
        return "NSAd" if self.mode == "during" else "NSAa"

    def status_of(self, level: str) -> Status:
        return self.levels[level].status or self.status


class SeverityProfile(_Strict):
    profile: str
    document: str
    edition: str
    title: str
    tests: dict[str, SeverityTest] = Field(min_length=1)
    aliases: dict[str, str] = Field(default_factory=dict, description="other names of a test, e.g. R 49 wording")

    @field_validator("edition", mode="before")
    @classmethod
    def _text(cls, value):
        return str(value) if isinstance(value, (int, float)) else value

    @field_validator("tests")
    @classmethod
    def _ids(cls, tests):
        bad = [name for name in tests if not name.replace("_", "").isalnum() or not name.islower()]
        if bad:
            raise ValueError(f"test ids are lower_case_with_underscores: {', '.join(bad)}")
        return tests

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, aliases, info):
        tests = info.data.get("tests")
        if tests is None:
            return aliases
        for alias, target in aliases.items():
            if target not in tests:
                raise ValueError(f"alias {alias} names no test ({target}); tests: {', '.join(tests)}")
            if alias in tests:
                raise ValueError(f"alias {alias} is also a test id")
        return aliases

    def test_id(self, name: str) -> str:
        """The test id for a name or alias; an unknown name raises DeclarationError listing the tests."""
        if name in self.tests:
            return name
        if name in self.aliases:
            return self.aliases[name]
        names = ", ".join(sorted(self.tests))
        also = f" (aliases: {', '.join(sorted(self.aliases))})" if self.aliases else ""
        raise DeclarationError("test", name, f"a test of severity profile {self.profile}: {names}{also}")

    def test(self, name: str) -> SeverityTest:
        return self.tests[self.test_id(name)]

    def unverified_values(self) -> list[str]:
        """Dotted names of what is not verified against the primary text (for reports)."""
        found = []
        for test_id, test in self.tests.items():
            for part, sourced in (("", test), (".evaluation", test.evaluation), (".class_mapping", test.class_mapping)):
                if not sourced.verified:
                    found.append(f"{test_id}{part}")
            found += [f"{test_id}.{name}" for name in test.unverified]
            found += [f"{test_id}.levels.{key}" for key, level in test.levels.items()
                      if level.status is not None and level.status != "verified"]
        return sorted(set(found))


@lru_cache(maxsize=16)
def _load(path: Path, mtime_ns: int) -> SeverityProfile:
    return load_model(path, SeverityProfile)


def load_severities(name_or_path: str | Path) -> SeverityProfile:
    """Load a severity profile by name ('d11-2013') or path; looked up like standard profiles."""
    path = profile_path(name_or_path).resolve()
    return _load(path, path.stat().st_mtime_ns)


def _declared_class(environment: Any, group: str, test_id: str) -> str:
    if environment is None:
        raise DeclarationError("environment", None,
                               f"severity '{DECLARED}' for {test_id} needs the meter's declared {group} class")
    environment = getattr(environment, "environment", environment)  # a whole meter declaration will do
    value = environment.get(group) if isinstance(environment, Mapping) else getattr(environment, group, None)
    if value is None:
        raise DeclarationError(f"environment.{group}", None, f"{test_id} needs the meter's declared {group} class")
    return str(value)


def resolve_level(profile: SeverityProfile | str | Path, test: str, severity: str = DECLARED,
                  environment: Any = None) -> tuple[str, SeverityTest, Level]:
    """The test id, the test and its level for an explicit level ('E2', 'B') or the declared class."""
    if not isinstance(profile, SeverityProfile):
        profile = load_severities(profile)
    test_id = profile.test_id(test)
    entry = profile.tests[test_id]
    levels = ", ".join(entry.levels)
    if severity == DECLARED:
        key = _declared_class(environment, entry.applies_to, test_id)
        if key not in entry.levels:
            raise DeclarationError(f"environment.{entry.applies_to}", key,
                                   f"{test_id} in {profile.profile} has levels for {levels} only")
    else:
        key = severity
        if key not in entry.levels:
            raise DeclarationError("severity", key, f"{test_id} in {profile.profile} has levels {levels} "
                                                    f"(or '{DECLARED}': the meter's {entry.applies_to} class)")
    return test_id, entry, entry.levels[key]


def resolve(profile: SeverityProfile | str | Path, test: str, severity: str = DECLARED,
            environment: Any = None) -> dict[str, Any]:
    """The parameters of `test` at `severity`: the test's common parameters, overridden by the level's.

    severity is a level key ('E1', 'E2', 'B', 'O', 'M') or 'declared': the level of the meter's
    declared class (climatic for climate tests, electromagnetic for EMC tests), taken from
    `environment` (a declarations.Environment, a meter declaration, or a mapping).
    """
    _, entry, level = resolve_level(profile, test, severity, environment)
    return {**entry.common.given(), **level.given()}


def procedure_problems(procedure: Procedure, profile: SeverityProfile) -> list[tuple[tuple, str]]:
    """Steps of `procedure` that do not fit `profile`: (path in the file, message), like reference_problems."""
    problems = []
    for step, _, path in procedure.walk():
        name = getattr(step, "test", None)
        if not isinstance(step, (ApplyDisturbance, SetClimate, Soak, ClimateCycle)) or name is None:
            continue
        try:
            entry = profile.test(name)
        except DeclarationError as exc:
            problems.append((path + ("test",), str(exc)))
            continue
        if step.severity != DECLARED and step.severity not in entry.levels:
            problems.append((path + ("severity",), f"{name} has levels {', '.join(entry.levels)} or '{DECLARED}'"))
        if isinstance(step, ApplyDisturbance):
            if entry.disturbance is None:
                problems.append((path + ("test",), f"{name} is a climate test: use set_climate and soak"))
            elif step.disturbance != entry.disturbance:
                problems.append((path + ("disturbance",), f"{name} is applied as '{entry.disturbance}'"))
            elif step.mode != entry.mode and not (step.mode == "hold" and entry.mode == "during"):
                problems.append((path + ("mode",), f"{name} is evaluated {entry.evaluation_method}: mode {entry.mode}"))
        elif entry.applies_to != "climatic":
            problems.append((path + ("test",), f"{name} is not a climate test; use apply_disturbance"))
        elif isinstance(step, ClimateCycle) and entry.common.cycle_duration_s is None:
            problems.append((path + ("test",), f"{name} is not a cyclic test (no cycle_duration_s in the profile)"))
    return problems


@dataclass(frozen=True)
class CycleSegment:
    """One phase of a climate cycle: drive the chamber to a climate (ramped) and stay for `duration_s`."""

    name: str
    temperature_c: float
    humidity_pct: float | None
    ramp_c_per_min: float | None
    duration_s: float


def cycle_segments(params: Mapping[str, Any], *, fall_duration_s: float | None = None) -> list[CycleSegment]:
    """The phases of every cycle of a cyclic test (IEC 60068-2-30): rise, upper phase, fall, lower phase,
    from the resolved parameters of the test (`resolve`). The fall takes the profile's shortest fall unless
    `fall_duration_s` (within the profile's bounds) is given."""
    need = ("temperature_c", "lower_temperature_c", "cycles", "cycle_duration_s", "rise_duration_s",
            "upper_phase_until_s", "fall_duration_min_s")
    missing = [k for k in need if params.get(k) is None]
    if missing:
        raise DeclarationError("climate_cycle", ", ".join(missing), "a cyclic test in the severity profile giving them")
    low, high = params.get("fall_duration_min_s"), params.get("fall_duration_max_s") or params["fall_duration_min_s"]
    fall_s = fall_duration_s if fall_duration_s is not None else low
    if not low <= fall_s <= high:
        raise DeclarationError("fall_duration_s", fall_s, f"between {low:g} s and {high:g} s (the profile's bounds)")
    upper, lower = params["temperature_c"], params["lower_temperature_c"]
    rise_s, upper_until_s, cycle_s = params["rise_duration_s"], params["upper_phase_until_s"], params["cycle_duration_s"]
    if not rise_s < upper_until_s < upper_until_s + fall_s < cycle_s:
        raise DeclarationError("climate_cycle", cycle_s, "rise < end of the upper phase < that + fall < cycle length")
    wet = params.get("lower_phase_humidity_pct") or params.get("humidity_pct")
    span_c = abs(upper - lower)
    one = [CycleSegment("rise", upper, wet, span_c / (rise_s / 60), rise_s),
           CycleSegment("upper", upper, params.get("humidity_pct"), None, upper_until_s - rise_s),
           CycleSegment("fall", lower, wet, span_c / (fall_s / 60), fall_s),
           CycleSegment("lower", lower, wet, None, cycle_s - upper_until_s - fall_s)]
    return [CycleSegment(f"cycle {n} {seg.name}", seg.temperature_c, seg.humidity_pct, seg.ramp_c_per_min,
                         seg.duration_s) for n in range(1, int(params["cycles"]) + 1) for seg in one]
