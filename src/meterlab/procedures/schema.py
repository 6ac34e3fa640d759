"""Procedure files: an OIML test programme as data, validated with errors naming file, line and field.

A procedure is metadata plus a sequence of steps from a small vocabulary. In YAML each step is a
mapping with one key, the step's kind:

    steps:
      - prompt: {text: "Mount the meters in series"}
      - for_each_point:
          points: all
          steps:
            - set_flow: {point: $point}
            - stabilise: {flow_within_pct: 2, for_s: 30}
            - measure_error: {point: $point, volume: auto, repeats: 3}
      - evaluate: {checks: [within_mpe, repeatability]}

`$point` stands for the loop's current test point. Test point names come from the meter's standard
profile ("Q1", "0.35(Q2+Q3)", "Qmin", ...); a multiple of a characteristic flowrate ("0.9 Q3", "0.5 Qmax")
is a point too. Any other `$name` stands for the procedure's parameter `name`, so a value stated once
under `parameters:` (with its clause) is used by every step that names it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from meterlab.errors import DeclarationError, InputFileError
from meterlab.metrology.declarations import DECLARED_VALUES, DIRECTIONS, ORIENTATIONS, STATUS_FLAGS
from meterlab.metrology.profiles import ProfileName, Window, load_profile, profile_path
from meterlab.metrology.safety import load_safety_profile
from meterlab.quantities import DURATION_S, FLOWRATE_M3H, POSITIVE_DURATION_S, TEMPERATURE_C, VOLUME_L, AsTuple
from meterlab.yamlio import load_model, locate, read_yaml

POINT_VARIABLE = "$point"
MULTIPLE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[*·×]?\s*(Q\w+)\s*$")  # "0.9 Q3", "0.5*Qmax"
OVERLOAD_POINT = "Qr"  # the overload flowrate: the profile's overload.flow_factor_of_qmax x Qmax (MID's Qr)
PARAMETER_REF = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
DisturbanceKind = Literal["surge", "burst", "esd", "conducted_rf", "radiated_rf", "dips", "magnetic_field",
                          "power_frequency_magnetic_field", "power_frequency_magnetic_field_short",
                          "voltage_variation", "vibration", "mechanical_shock", "dc_voltage_variation", "dc_dips"]
Check = Literal["within_mpe", "repeatability", "sign_rule", "significant_fault", "wme", "durability_shift",
                "pressure_loss", "no_leak", "safety", "data_transmission", "transmitted_status", "no_registration"]
# the anomalous conditions a smart meter flags over its interface (docs/anomalous-data.md)
StatusFlag = Literal[STATUS_FLAGS]  # type: ignore[valid-type]
Orientation = Literal[ORIENTATIONS]  # type: ignore[valid-type]  # how meters can be mounted on a line
Direction = Literal[DIRECTIONS]  # type: ignore[valid-type]  # which way round: reverse = against the line's flow


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str | None = Field(None, description="short name shown in progress and results")


class Prompt(_Step):
    kind: Literal["prompt"] = "prompt"
    text: str = Field(min_length=1)
    ask: str | None = Field(None, description="name of a value the operator must type, e.g. register_l")
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    per_meter: bool = Field(False, description="ask once for each meter under test")

    @model_validator(mode="after")
    def _limits(self) -> Prompt:
        if self.ask is None and (self.minimum is not None or self.maximum is not None or self.unit):
            raise ValueError("unit, minimum and maximum only make sense with ask")
        if self.minimum is not None and self.maximum is not None and self.minimum >= self.maximum:
            raise ValueError(f"minimum {self.minimum} must be below maximum {self.maximum}")
        return self


class _PointRef(_Step):
    point: str | None = Field(None, description="a test point of the meter's profile, or $point in a loop")
    flowrate_m3h: FLOWRATE_M3H | None = None

    @model_validator(mode="after")
    def _one_flow(self) -> _PointRef:
        if (self.point is None) == (self.flowrate_m3h is None):
            raise ValueError("give either point or flowrate_m3h")
        return self


class SetFlow(_PointRef):
    kind: Literal["set_flow"] = "set_flow"
    reverse: bool = False


class Stabilise(_Step):
    kind: Literal["stabilise"] = "stabilise"
    flow_within_pct: float = Field(2.0, gt=0, le=20)
    water_temperature_c: Annotated[tuple[TEMPERATURE_C, TEMPERATURE_C], AsTuple] | None = Field(None, description="band [low, high] in °C")
    for_s: DURATION_S = 30.0
    timeout_s: POSITIVE_DURATION_S = 900.0

    @field_validator("water_temperature_c")
    @classmethod
    def _band(cls, band):
        if band is not None and band[0] >= band[1]:
            raise ValueError(f"band low {band[0]} must be below high {band[1]}")
        return band


class MeasureError(_PointRef):
    kind: Literal["measure_error"] = "measure_error"
    volume: Literal["auto"] | VOLUME_L = Field("auto", description="'auto' (planner) or a volume in litres")
    duration_s: POSITIVE_DURATION_S | None = Field(None, description="instead of a volume: collect for this long")
    repeats: int | None = Field(None, ge=1, le=20, description="default: the profile's repeats")
    start: Literal["flying", "standing"] = "flying"
    during: str | None = Field(None, description="label of an apply_disturbance step running meanwhile (NSAd)")
    role: Literal["intrinsic", "disturbed", "after_disturbance", "influence", "before", "after"] = "intrinsic"

    @model_validator(mode="after")
    def _volume_or_duration(self) -> MeasureError:
        if self.duration_s is not None and self.volume != "auto":
            raise ValueError("give volume or duration_s, not both")
        return self


class _FromSeverity(_Step):
    """A step whose numbers may come from the severity profile (test + level) instead of the file."""

    test: str | None = Field(None, description="test id in the severity profile, e.g. dry_heat")
    severity: str = Field("declared", description="level (e.g. B, O, E2) or 'declared' (the meter's class)")


class SetClimate(_FromSeverity):
    kind: Literal["set_climate"] = "set_climate"
    temperature_c: TEMPERATURE_C | None = None
    humidity_pct: float | None = Field(None, ge=0, le=100)
    ramp_c_per_min: float | None = Field(None, gt=0, le=10)

    @model_validator(mode="after")
    def _target(self) -> SetClimate:
        if self.temperature_c is None and self.test is None:
            raise ValueError("give temperature_c or a test of the severity profile (e.g. dry_heat)")
        return self


class Soak(_FromSeverity):
    kind: Literal["soak"] = "soak"
    duration_s: POSITIVE_DURATION_S | None = None
    within_c: float = Field(1.0, gt=0, description="chamber must hold its setpoint within this")

    @model_validator(mode="after")
    def _duration(self) -> Soak:
        if self.duration_s is None and self.test is None:
            raise ValueError("give duration_s or a test of the severity profile (e.g. dry_heat)")
        return self


class Wait(_Step):
    kind: Literal["wait"] = "wait"
    duration_s: POSITIVE_DURATION_S


class WatchStatus(_Step):
    """Poll the status flags every meter with a declared interface transmits, for `duration_s`, every
    `poll_interval_s`, the rig left as the steps before set it (a flow runs on, a held field stays): the
    transmitted_status check judges the polls. `phase` says what the meter must show: `without` (no condition
    applied: no flag), `during` (`condition` applied: its flag raised within the time the meter declares),
    `after` (`condition` removed: its flag cleared, or still raised if the meter declares it latched)."""

    kind: Literal["watch_status"] = "watch_status"
    phase: Literal["without", "during", "after"]
    condition: StatusFlag | None = Field(None, description="the anomaly applied (during) or just removed (after)")
    duration_s: POSITIVE_DURATION_S
    poll_interval_s: POSITIVE_DURATION_S = Field(10.0, description="lab choice: the flag's time is known to this")

    @model_validator(mode="after")
    def _condition(self) -> WatchStatus:
        if self.phase != "without" and self.condition is None:
            raise ValueError(f"phase {self.phase} names the condition (reverse_flow, leak, magnet, ...)")
        if self.phase == "without" and self.condition is not None:
            raise ValueError("phase without applies no condition: leave condition out")
        if self.poll_interval_s > self.duration_s:
            raise ValueError("poll_interval_s is longer than duration_s")
        return self


class WatchAtRest(_Step):
    """With the flow stopped (a `stop_flow` before it), read every meter's pulses and register at the start and
    at the end of `duration_s` at rest, the line full and at its pressure (R 49 absence of flow): the
    no_registration check judges what moved. Without `duration_s`, the standard profile's
    `absence_of_flow.duration_s`."""

    kind: Literal["watch_at_rest"] = "watch_at_rest"
    duration_s: POSITIVE_DURATION_S | None = Field(None, description="default: the profile's absence_of_flow")
    during: str | None = Field(None, description="label of an apply_disturbance (mode: during) run between the two "
                               "readings: a supply interrupted at rest must leave the register as it was")


class RunFlow(_PointRef):
    """Run water or gas for a long time (durability): continuous, or on/off cycles."""

    kind: Literal["run_flow"] = "run_flow"
    duration_s: POSITIVE_DURATION_S | None = None
    cycles: int | None = Field(None, ge=1, le=1_000_000, description="R 49 discontinuous test: 100 000")
    on_s: POSITIVE_DURATION_S | None = None
    off_s: POSITIVE_DURATION_S | None = None
    duration_from: Literal["overload"] | None = Field(None, description="continuous, for the duration the standard "
                                                      "profile's section gives (overload: overload.duration_s)")

    @model_validator(mode="after")
    def _programme(self) -> RunFlow:
        if sum(x is not None for x in (self.duration_s, self.cycles, self.duration_from)) != 1:
            raise ValueError("give duration_s (continuous), duration_from (a profile's duration) or cycles with on_s "
                             "and off_s (discontinuous)")
        if self.cycles is not None and (self.on_s is None or self.off_s is None):
            raise ValueError("cycles need on_s and off_s")
        return self


class ApplyDisturbance(_FromSeverity):
    kind: Literal["apply_disturbance"] = "apply_disturbance"
    disturbance: DisturbanceKind
    mode: Literal["during", "between", "hold"] = Field(
        description="during a measurement (NSAd), between two (NSAa), or hold: on from here until release_disturbance")
    parameters: dict[str, Any] = Field(default_factory=dict, description="explicit parameters override the severity")

    @model_validator(mode="after")
    def _something_to_apply(self) -> ApplyDisturbance:
        if self.test is None and not self.parameters:
            raise ValueError("give a test of the severity profile (e.g. burst_mains) or explicit parameters")
        if self.mode == "during" and not self.label:
            raise ValueError("a disturbance applied during a measurement needs a label for measure_error.during")
        if self.mode == "hold" and not self.label:
            raise ValueError("a held disturbance needs a label for release_disturbance.held")
        return self


class ReleaseDisturbance(_Step):
    """End a disturbance applied with mode: hold (the generator stopped and disarmed)."""

    kind: Literal["release_disturbance"] = "release_disturbance"
    held: str = Field(description="label of the apply_disturbance step with mode: hold")


class StopFlow(_Step):
    """Stop the flow (pump off, start valve closed), e.g. to read registers at rest or while not measuring."""

    kind: Literal["stop_flow"] = "stop_flow"
    settle_s: DURATION_S = Field(0.0, description="wait this long after stopping")


class ClimateCycle(_FromSeverity):
    """A cyclic climate programme (IEC 60068-2-30 damp heat): per cycle a rise to the upper temperature, an
    upper phase, a fall, a lower phase, with the humidities of the severity profile's test."""

    kind: Literal["climate_cycle"] = "climate_cycle"
    test: str = Field(description="test id in the severity profile, e.g. damp_heat_cyclic")
    cycles: int | None = Field(None, ge=1, le=21, description="default: the profile's number of cycles")
    fall_duration_s: POSITIVE_DURATION_S | None = Field(None, description="default: the profile's shortest fall")


class SetWaterConditions(_Step):
    """Bring the water to a temperature and/or line pressure (conditioning unit, pressure regulator) and wait
    until both hold within their tolerances for `for_s`."""

    kind: Literal["set_water_conditions"] = "set_water_conditions"
    temperature_c: float | None = Field(None, ge=0.1, le=100)
    overload: bool = Field(False, description="the profile's overload water temperature instead of temperature_c: "
                           "MAT of the meters' temperature class + water_temperature_overload.above_mat_c, held "
                           "for its duration_s once reached")
    pressure_bar: float | None = Field(None, ge=0, le=100, description="gauge pressure at the meters")
    within_c: float = Field(1.0, gt=0, le=10)
    within_bar: float = Field(0.05, gt=0, le=5)
    for_s: DURATION_S = 60.0
    timeout_s: POSITIVE_DURATION_S = 3600.0

    @model_validator(mode="after")
    def _target(self) -> SetWaterConditions:
        if self.overload and self.temperature_c is not None:
            raise ValueError("overload takes its temperature from the standard profile: leave temperature_c out")
        if self.temperature_c is None and self.pressure_bar is None and not self.overload:
            raise ValueError("give temperature_c, pressure_bar or both (or overload: true for the temperature)")
        return self


class Mount(_Step):
    """Ask the operator to remount the meters under test in `orientation` and `direction` (and confirm); the runner
    records it and the rig is told (on the simulated bench, the simulated meters are remounted). A refusal aborts
    the run. `direction: reverse` turns the meters against the line's flow: neither rig measures its reference in
    reverse, so a meter's error in reverse is measured this way, the reference still seeing a forward flow."""

    kind: Literal["mount"] = "mount"
    orientation: Orientation = "normal"
    direction: Direction = Field("forward", description="reverse: the meters mounted the other way round")
    text: str | None = Field(None, description="what the operator is asked; default names the orientation and "
                                               "direction")


class SetGasPressure(_Step):
    """The gas pressure at the meters' inlet (the gas supply's pressure controller, gauge): ramp to `gauge_pa` and
    wait until it holds within `within_pa` for `for_s`; it stays regulated until the next set_gas_pressure or the
    end of the run. `release: true` switches control off (the supply's own pressure)."""

    kind: Literal["set_gas_pressure"] = "set_gas_pressure"
    gauge_pa: float | None = Field(None, ge=0, le=1e6, description="gauge pressure at the meters' inlet, Pa")
    release: bool = Field(False, description="control off: the supply's own pressure again")
    ramp_pa_per_s: float = Field(100.0, gt=0, description="lab choice: slow enough for a diaphragm meter")
    within_pa: float = Field(20.0, gt=0)
    for_s: DURATION_S = 60.0
    timeout_s: POSITIVE_DURATION_S = 1800.0

    @model_validator(mode="after")
    def _target(self) -> SetGasPressure:
        if (self.gauge_pa is None) != self.release:
            raise ValueError("give gauge_pa, or release: true (not both)")
        return self


class MeasurePressureLoss(_PointRef):
    """The pressure loss across each meter under test at the flow set (differential-pressure transmitters)."""

    kind: Literal["measure_pressure_loss"] = "measure_pressure_loss"
    duration_s: POSITIVE_DURATION_S = Field(60.0, description="averaging time")


class SafetyTest(_Step):
    """One test of a smart gas meter's shut-off function; every number (table points, thresholds, times, limits)
    comes from the procedure's safety profile. A seismic step with a table runs once per point of that table, a
    continuous_use step once per flow of the profile's continuous-use points. A restore step trips the meter (excess
    flow), watches the closed valve without a restore, then restores it with a leak downstream (`leak: true`: the
    restore check must close it again) or without (the valve must open). A gas_alarm step closes the alarm contact
    at the meter's input: held (shut_off) or released early (no_shut_off); only for a meter declaring the input."""

    kind: Literal["safety_test"] = "safety_test"
    function: Literal["seismic", "shock", "pressure_drop", "excess_flow", "continuous_use", "restore", "gas_alarm",
                      "low_battery"]
    expect: Literal["shut_off", "no_shut_off"]
    table: Literal["operate", "non_operate"] | None = Field(None, description="seismic: the profile's shaker table")
    gas_in_use: bool = Field(True, description="seismic: gas flows (false: a quake without gas flow)")
    gas: Literal["city_gas", "lp_gas"] = Field("city_gas", description="pressure_drop: whose threshold")
    tightness: bool = Field(False, description="after the shut-off: the closed valve's leak against the profile")
    event: bool = Field(True, description="after the shut-off: the meter's transmitted event and its time")
    leak: bool = Field(False, description="restore: gas drawn downstream during the restore check (a leak)")

    @model_validator(mode="after")
    def _consistent(self) -> SafetyTest:
        if (self.function == "seismic") != (self.table is not None):
            raise ValueError("a seismic test names its table (operate or non_operate); other functions none")
        if not self.gas_in_use and self.function != "seismic":
            raise ValueError("gas_in_use: false is a quake without gas flow (function: seismic)")
        if self.function == "continuous_use" and self.expect != "shut_off":
            raise ValueError("a continuous_use test expects shut_off (the table's time is judged)")
        if self.function == "restore" and (self.expect == "shut_off") != self.leak:
            raise ValueError("a restore test with leak: true expects shut_off (the check closes the valve again), "
                             "without a leak no_shut_off")
        if self.leak and self.function != "restore":
            raise ValueError("leak: true belongs to a restore test (function: restore)")
        if self.tightness and self.expect != "shut_off":
            raise ValueError("tightness is checked after a shut-off: use it with expect: shut_off")
        return self


class Evaluate(_Step):
    kind: Literal["evaluate"] = "evaluate"
    checks: list[Check] = Field(min_length=1)
    reference: str | None = Field(None, description="label of the measurements to compare with (faults, shift)")


class ForEachPoint(_Step):
    kind: Literal["for_each_point"] = "for_each_point"
    points: Literal["all"] | list[str] = "all"
    steps: list[Step] = Field(min_length=1)


class ForEachOrientation(_Step):
    """Mount the meters in each orientation in turn (a `mount` of it, asked and confirmed) and run the steps there.
    The steps' labels get the orientation (`error` in flow_up: `error-flow-up`), the mounts `<label>-<orientation>`;
    `orientations` is usually the programme's parameter the meters' declared `orientations` replace."""

    kind: Literal["for_each_orientation"] = "for_each_orientation"
    orientations: list[Orientation] = Field(min_length=1)
    text: str | None = Field(None, description="what the operator is asked at each mount; default names it")
    steps: list[Step] = Field(min_length=1)

    @field_validator("orientations")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each orientation once")
        return value


class ForEachMeter(_Step):
    kind: Literal["for_each_meter"] = "for_each_meter"
    steps: list[Step] = Field(min_length=1)


STEP_TYPES = {cls.model_fields["kind"].default: cls for cls in
              (Prompt, SetFlow, StopFlow, Stabilise, MeasureError, SetClimate, ClimateCycle, Soak, Wait, RunFlow,
               Mount, SetWaterConditions, SetGasPressure, MeasurePressureLoss, ApplyDisturbance, ReleaseDisturbance,
               SafetyTest, WatchStatus, WatchAtRest,
               Evaluate,
               ForEachPoint, ForEachMeter, ForEachOrientation)}


def _step_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return getattr(value, "kind", None)
    if isinstance(value, dict):
        return value.get("kind")
    return None


Step = Annotated[
    Union[tuple(Annotated[cls, Tag(kind)] for kind, cls in STEP_TYPES.items())],  # type: ignore[misc]
    Discriminator(_step_kind, custom_error_type="unknown_step",
                  custom_error_message=f"unknown step kind; use one of: {', '.join(STEP_TYPES)}"),
]


def parameter_refs(value: Any, path: tuple = ()):
    """(path, name) of every `$name` (other than $point) in a nested structure of the file."""
    if isinstance(value, str):
        match = PARAMETER_REF.match(value)
        if match and value != POINT_VARIABLE:
            yield path, match.group(1)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from parameter_refs(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from parameter_refs(item, path + (index,))


def _substitute(value: Any, parameters: dict[str, Any]) -> Any:
    """Replace every `$name` by the procedure's parameter `name` (unknown names are left for the checks)."""
    if isinstance(value, str):
        match = PARAMETER_REF.match(value)
        return parameters.get(match.group(1), value) if match and value != POINT_VARIABLE else value
    if isinstance(value, dict):
        return {key: _substitute(item, parameters) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, parameters) for item in value]
    return value


def _from_declaration_problems(mapping: dict, parameters: dict) -> list[tuple[str, str]]:
    """Each entry names a parameter of the programme (its fallback) and a declared value of DECLARED_VALUES."""
    problems = []
    for name, path in mapping.items():
        if name not in parameters:
            problems.append((name, f"{name} names no entry of parameters: add it there (the value used when no "
                                   f"meter declares it)"))
        elif path not in DECLARED_VALUES:
            problems.append((name, f"{path!r} is not a declared value; use one of {', '.join(DECLARED_VALUES)}"))
    return problems


def _check_from_declaration(mapping: dict, parameters: dict) -> None:
    problems = _from_declaration_problems(mapping, parameters)
    if problems:
        raise ValueError(f"from_declaration: {problems[0][1]}")


def _unwrap_steps(value: Any) -> Any:
    """YAML writes a step as {kind: {params}}; pydantic gets {kind: kind, **params}."""
    if not isinstance(value, list):
        return value
    steps = []
    for item in value:
        if isinstance(item, dict) and "kind" not in item and len(item) == 1:
            (kind, params), = item.items()
            params = dict(params or {}) if isinstance(params, dict) or params is None else {"_": params}
            if isinstance(params.get("steps"), list):
                params["steps"] = _unwrap_steps(params["steps"])
            item = {"kind": kind, **params}
        steps.append(item)
    return steps


class Metadata(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    title: str = Field(min_length=1)
    standard: str
    edition: str
    clause: str
    version: int = Field(ge=1)


class Procedure(Metadata):
    meter_kind: Literal["water", "gas"]
    profile: ProfileName = Field(description="standard profile, e.g. r49-2013")
    method: Literal["gravimetric", "master_meter", "volumetric", "bell_prover", "sonic_nozzle"] = "gravimetric"
    decision_rule: Literal["simple", "guarded"] = "simple"
    severities: ProfileName | None = Field(None, description="severity profile for disturbances, e.g. d11-2013")
    safety_profile: ProfileName | None = Field(None, description="safety profile of safety_test steps, e.g. "
                                               "gas-safety-cns14741")
    electronic_only: bool = Field(False, description="applies only to meters with electronic devices")
    temperature_classes: list[str] | None = Field(
        None, min_length=1, description="water: the temperature classes the programme is written for (e.g. [T30])")
    # R 49 tests reverse flow one of two ways by the meter's design (fact sheet §5a): errors in reverse for meters
    # designed to measure it, a reverse flow then forward errors for the others. Gas: bidirectional meters only.
    for_reverse_flow: Literal["designed", "not_designed"] | None = Field(
        None, description="designed: applies only to meters declaring reverse_flow (designed to measure it, "
                          "bidirectional); not_designed: only to the others; absent: to any meter")
    parameters: dict[str, Any] = Field(default_factory=dict)
    # parameter -> the declaration field whose value replaces it when the meters declare one (DECLARED_VALUES)
    from_declaration: dict[str, str] = Field(default_factory=dict, description="parameters the meters' declared "
                                             "values replace, e.g. {rated_battery_v: supply.rated_battery_v}")
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _parameters(cls, data):
        if isinstance(data, dict) and isinstance(data.get("from_declaration"), dict):
            _check_from_declaration(data["from_declaration"], data.get("parameters") or {})
        if isinstance(data, dict) and isinstance(data.get("parameters"), dict) and "steps" in data:
            unknown = sorted({name for _, name in parameter_refs(data["steps"]) if name not in data["parameters"]})
            if unknown:
                raise ValueError(f"${unknown[0]} names no entry of parameters:")
            data = {**data, "steps": _substitute(data["steps"], data["parameters"])}
        return data

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, value):
        return _unwrap_steps(value)

    @field_validator("edition", "standard", "clause", mode="before")
    @classmethod
    def _text(cls, value):
        return str(value) if isinstance(value, (int, float)) else value

    def walk(self):
        """Every step, depth first, with its parents and its path in the file (for messages)."""
        def visit(steps, parents, path):
            for index, step in enumerate(steps):
                here = path + (index, step.kind)
                yield step, parents, here
                if isinstance(step, LOOPS):
                    yield from visit(step.steps, parents + (step,), here + ("steps",))
        yield from visit(self.steps, (), ("steps",))

    def reference_problems(self) -> list[tuple[tuple, str]]:
        """Cross-step problems a single step cannot see: (path in the file, message)."""
        problems = []
        seen: dict[str, tuple] = {}
        disturbances = {s.label for s, _, _ in self.walk() if isinstance(s, ApplyDisturbance) and s.mode == "during"}
        held: set[str] = set()
        for step, parents, path in self.walk():
            if step.label in seen:
                problems.append((path + ("label",), f"label '{step.label}' is used twice; labels must be unique"))
            elif step.label:
                seen[step.label] = path
            if isinstance(step, (MeasureError, WatchAtRest)) and step.during and step.during not in disturbances:
                problems.append((path + ("during",), f"'{step.during}' names no apply_disturbance with mode: during"))
            if getattr(step, "point", None) == POINT_VARIABLE and not any(isinstance(p, ForEachPoint) for p in parents):
                problems.append((path + ("point",), f"{POINT_VARIABLE} is only defined inside for_each_point"))
            if isinstance(step, Evaluate) and step.reference and step.reference not in seen:
                problems.append((path + ("reference",), f"'{step.reference}' names no earlier labelled step"))
            if isinstance(step, ApplyDisturbance) and step.mode == "hold":
                held.add(step.label)
            if isinstance(step, SafetyTest) and self.safety_profile is None:
                problems.append((path + ("function",), "a safety_test needs the procedure's safety_profile: "
                                 "add e.g. safety_profile: gas-safety-cns14741"))
            if isinstance(step, SetGasPressure) and self.meter_kind != "gas":  # the gas rig's own step
                problems.append((path + ("kind",), f"{step.kind} is a gas rig's step (its supply's pressure "
                                 f"controller); this procedure is for {self.meter_kind} meters"))
            if isinstance(step, ReleaseDisturbance) and step.held not in held:
                problems.append((path + ("held",), f"'{step.held}' names no earlier apply_disturbance with mode: hold"))
        return problems


Procedure.model_rebuild()
ForEachPoint.model_rebuild()
ForEachMeter.model_rebuild()
ForEachOrientation.model_rebuild()
LOOPS = (ForEachPoint, ForEachMeter, ForEachOrientation)  # steps that hold steps


def load_procedure(path: str | Path, parameters: dict[str, Any] | None = None) -> Procedure:
    """Read and validate a procedure file; problems raise InputFileError naming file, line and field.
    `parameters` replace the file's own (the meters' declared values of its `from_declaration:`)."""
    data, lines = read_yaml(path)
    if parameters and isinstance(data, dict) and isinstance(data.get("parameters"), dict):
        data = {**data, "parameters": {**data["parameters"], **parameters}}
    if isinstance(data, dict) and isinstance(data.get("steps"), list):
        parameters = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
        unknown = [(*locate(lines, ("steps",) + where), f"${name} names no entry of parameters: "
                    f"add {name} under parameters, or use one of: {', '.join(parameters) or '(none)'}")
                   for where, name in parameter_refs(data["steps"]) if name not in parameters]
        if unknown:
            raise InputFileError(path, unknown)
    if isinstance(data, dict) and isinstance(data.get("from_declaration"), dict):  # named at its own line
        problems = _from_declaration_problems(data["from_declaration"], data.get("parameters") or {})
        if problems:
            raise InputFileError(path, [(*locate(lines, ("from_declaration", name)), message)
                                        for name, message in problems])
    procedure = load_model(path, Procedure, data=data, lines=lines)
    problems = [(*locate(lines, loc), message)
                for loc, message in procedure.reference_problems() + _profile_problems(procedure)]
    if problems:
        raise InputFileError(path, problems)
    return procedure


def _profile_problems(procedure: Procedure) -> list[tuple[tuple, str]]:
    """The standard and severity profiles the procedure names, and its test points, checked before a run:
    a misspelt point would otherwise stop the run at its step."""
    try:
        if procedure.severities is not None:
            profile_path(procedure.severities)
    except DeclarationError as exc:
        return [(("severities",), f"{exc.value!r} is not {exc.allowed}")]
    try:
        if procedure.safety_profile is not None:
            load_safety_profile(procedure.safety_profile)
    except DeclarationError as exc:
        return [(("safety_profile",), f"{exc.value!r} is not {exc.allowed}")]
    try:
        profile = load_profile(procedure.profile)
    except DeclarationError as exc:
        return [(("profile",), f"{exc.value!r} is not {exc.allowed}")]
    names = [window.name for window in profile.test_points.windows]
    bases = {name.lower() for name in get_args(Window.model_fields["base"].annotation) if "+" not in name}
    return [(loc, f"{name!r} is not a test point of {profile.profile}: use one of {', '.join(names)}, "
                  f"{POINT_VARIABLE} inside for_each_point, or a multiple of a characteristic flowrate such "
                  f"as 0.9 Q3 ({', '.join(sorted(b.capitalize() for b in bases))})")
            for loc, name in _point_names(procedure)
            if name != POINT_VARIABLE and name not in names and not _is_multiple(name, bases)
            and not (name == OVERLOAD_POINT and profile.overload is not None)]


def _point_names(procedure: Procedure):
    """(path in the file, name) of every test point a step names."""
    for step, _, path in procedure.walk():
        if isinstance(getattr(step, "point", None), str):
            yield path + ("point",), step.point
        if isinstance(step, ForEachPoint) and isinstance(step.points, list):
            yield from ((path + ("points", index), name) for index, name in enumerate(step.points))


def _is_multiple(name: str, bases: set[str]) -> bool:
    match = MULTIPLE.match(name)
    return bool(match) and match.group(2).lower() in bases
