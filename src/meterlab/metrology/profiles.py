"""Standard profiles: the numbers an OIML standard fixes, read from YAML with clause and status.

A profile is data (`procedures/standards/<name>.yaml`), never code, so a lab can correct a value or
select another edition without a code change. Every value keeps its clause reference and how far it
has been verified against the primary text, so reports can show it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from meterlab.errors import DeclarationError
from meterlab.quantities import SAFE_NAME, AsTuple
from meterlab.yamlio import load_model

Status = Literal["verified", "secondary", "unverified"]
PROFILE_DIR_ENV = "METERLAB_PROFILES"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(_Strict):
    clause: str
    status: Status
    note: str | None = None

    @property
    def verified(self) -> bool:
        return self.status == "verified"


class Value(Sourced):
    value: float


class FlowrateRatios(_Strict):
    q2_over_q1: Value
    q4_over_q3: Value


class TemperatureClasses(Sourced):
    classes: dict[str, Annotated[tuple[float, float], AsTuple]]


class PressureLossClasses(Sourced):
    """R 49 pressure-loss classes: the largest pressure loss allowed between Q1 and Q3, per class (MPa)."""

    default_class: str
    classes_mpa: dict[str, float]

    @model_validator(mode="after")
    def _default_is_a_class(self) -> "PressureLossClasses":
        if any(not value > 0 for value in self.classes_mpa.values()):
            raise ValueError("every pressure-loss class needs a limit > 0 MPa")
        if self.default_class not in self.classes_mpa:
            raise ValueError(f"default_class {self.default_class!r} is not one of {', '.join(self.classes_mpa)}")
        return self


class MpeClass(_Strict):
    lower: float = Field(gt=0)
    upper: float = Field(gt=0)
    upper_hot: float | None = Field(default=None, gt=0)


class SignRule(_Strict):
    fraction_of_mpe: Value
    enabled: bool = True


class MpeTable(Sourced):
    classes: dict[str, MpeClass]
    hot_water_above_c: Value | None = None
    sign_rule: SignRule | None = None


class Window(_Strict):
    name: str
    base: Literal["q1", "q2", "q3", "q4", "q2+q3", "qmin", "qt", "qmax"]
    low: float = Field(gt=0)
    high: float = Field(gt=0)
    nominal: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "Window":
        if not self.low <= self.nominal <= self.high:
            raise ValueError(f"window {self.name}: need low <= nominal <= high, got {self.low}, {self.nominal}, {self.high}")
        return self


class TestPoints(Sourced):
    __test__ = False  # not a pytest class
    windows: list[Window]
    repeats: Value
    # ± this percentage around a set point that is not one of the windows (an explicit flowrate, 0.9 Q3)
    set_point_window_pct: Value
    # the shortest collection the planner gives a point, whatever the uncertainty would allow
    min_collection_s: Value


class Repeatability(_Strict):
    max_std_dev_fraction_of_mpe: Value


class SignificantFault(_Strict):
    fraction_of_upper_mpe: Value
    min_disturbed_fraction: Value


class DataTransmission(_Strict):
    """Limits of the data_transmission check (what a meter transmits while a disturbance is applied)."""

    max_rejected_fraction: Value  # share of telegrams the receiver may reject as corrupt
    max_unanswered_fraction: Value  # share of polls the meter may leave unanswered (outside silent_allowed)
    max_lost_datasets: Value  # consecutive-number gaps allowed
    poll_interval_s: Value  # how often the rig polls each interface during a disturbed collection
    silence_allowed_during: list[str] = []  # disturbances during which the meter may not answer (supply gone)


class AbsenceOfFlow(Sourced):
    """No registration at rest (R 49 absence of flow; the battery interruption of R 49 and R 137 judges by it too):
    the line full, at rest and under pressure for `duration_s`; each meter's pulses and register may move by at most
    these counts (a meter that creeps registers what nobody drew)."""

    duration_s: Value
    max_pulses: Value
    max_register_steps: Value  # in the register's own steps (scale interval, or the bus register's resolution)


class WaterTemperatureOverload(Sourced):
    """R 49 overload water temperature: the water at the meter's maximum admissible temperature (MAT, from its
    temperature class) plus `above_mat_c`, for `duration_s`; then the error after recovery within MPE."""

    above_mat_c: Value
    duration_s: Value


class DurabilityClass(_Strict):
    max_shift_lower: float
    max_shift_upper: float
    max_error_lower: float
    max_error_upper: float
    max_error_upper_hot: float | None = None


class Durability(Sourced):
    classes: dict[str, DurabilityClass]


class Overload(Sourced):
    """The overload flow test: the meter runs at flow_factor_of_qmax x Qmax (MID's Qr) for duration_s, then its
    errors are judged against the MPE and their shift against the significant fault."""

    flow_factor_of_qmax: Value
    duration_s: Value

    @model_validator(mode="after")
    def _above_qmax(self) -> "Overload":
        if not self.flow_factor_of_qmax.value > 1 or not self.duration_s.value > 0:
            raise ValueError("flow_factor_of_qmax must exceed 1 (an overload) and duration_s be positive")
        return self


class Uncertainty(_Strict):
    max_fraction_of_mpe_type_evaluation: Value
    max_fraction_of_mpe_verification: Value


class ClassValues(Sourced):
    classes: dict[str, float]


class Resolution(_Strict):
    max_resolution_error_pct: ClassValues
    reference_duration_at_q1_min: Value


class WeightedMeanError(Sourced):
    weight_at_qmax: Value
    qmax_point_from_fraction: Value
    points: Literal["all", "upper"]
    max_abs_fraction_of_upper_mpe: Value


class StandardProfile(_Strict):
    profile: str
    standard: str
    edition: str
    title: str
    kind: Literal["water", "gas"]
    accuracy_classes: list[float]
    mpe: MpeTable
    test_points: TestPoints
    repeatability: Repeatability
    significant_fault: SignificantFault
    durability: Durability
    uncertainty: Uncertainty
    flowrate_ratios: FlowrateRatios | None = None
    temperature_classes: TemperatureClasses | None = None
    resolution: Resolution | None = None
    weighted_mean_error: WeightedMeanError | None = None
    pressure_loss: PressureLossClasses | None = None
    data_transmission: DataTransmission | None = None
    overload: Overload | None = None
    absence_of_flow: AbsenceOfFlow | None = None
    water_temperature_overload: WaterTemperatureOverload | None = None

    def class_key(self, accuracy_class: float) -> str:
        """The table key of an accuracy class ('1', '1.5', '0.5'); refuses classes the edition lacks."""
        allowed = ", ".join(_fmt_class(c) for c in self.accuracy_classes)
        if accuracy_class not in self.accuracy_classes:
            raise DeclarationError("accuracy_class", accuracy_class, f"one of {allowed} ({self.standard}:{self.edition})")
        return _fmt_class(accuracy_class)

    def mpe_for(self, accuracy_class: float) -> MpeClass:
        return self.mpe.classes[self.class_key(accuracy_class)]

    def pressure_loss_class(self, name: str | None = None) -> str:
        """The profile's key of a pressure-loss class ('dp63'; 'Δp 63' and 'DP63' name it too), the default
        class for None; refuses classes the edition lacks."""
        if self.pressure_loss is None:
            raise DeclarationError("pressure_loss_class", name,
                                   f"no class: {self.standard}:{self.edition} defines no pressure-loss classes")
        if name is None:
            return self.pressure_loss.default_class
        key = name.strip().lower().replace("δ", "d").replace(" ", "") if isinstance(name, str) else name
        if key not in self.pressure_loss.classes_mpa:
            allowed = ", ".join(self.pressure_loss.classes_mpa)
            raise DeclarationError("pressure_loss_class", name, f"one of {allowed} ({self.standard}:{self.edition})")
        return key

    def max_pressure_loss_kpa(self, pressure_loss_class: str | None = None) -> float:
        """The largest pressure loss (kPa) allowed between Q1 and Q3 for the class (default class for None)."""
        key = self.pressure_loss_class(pressure_loss_class)
        return self.pressure_loss.classes_mpa[key] * 1e3  # type: ignore[union-attr]

    def unverified_values(self) -> list[str]:
        """Dotted names of every value not verified against the primary text (for reports)."""
        return sorted(_unverified(self))


def _fmt_class(accuracy_class: float) -> str:
    return f"{accuracy_class:g}"


def _unverified(model: BaseModel, prefix: str = "") -> set[str]:
    found: set[str] = set()
    if isinstance(model, Sourced) and not model.verified:
        found.add(prefix.rstrip("."))
    for name in type(model).model_fields:
        child = getattr(model, name)
        if isinstance(child, BaseModel):
            found |= _unverified(child, f"{prefix}{name}.")
    return found


def profile_dirs() -> list[Path]:
    """Where profiles are looked up: $METERLAB_PROFILES, ./procedures/standards, the source checkout."""
    dirs = [Path(p) for p in os.environ.get(PROFILE_DIR_ENV, "").split(os.pathsep) if p]
    dirs.append(Path.cwd() / "procedures" / "standards")
    dirs.append(Path(__file__).resolve().parents[3] / "procedures" / "standards")
    return dirs


def _profile_name(name: str) -> str:
    if not SAFE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"{name!r} is not a profile name: name a file of procedures/standards without '.yaml' "
                         f"(e.g. r49-2013); a lab's own profiles go in a folder listed in ${PROFILE_DIR_ENV}")
    return name


# How files name a profile: a name looked up in profile_dirs(), never a path, so a file cannot make meterlab
# read (and record) a file outside the profile folders.
ProfileName = Annotated[str, AfterValidator(_profile_name)]


def profile_path(name_or_path: str | Path) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        return candidate
    for directory in profile_dirs():
        path = directory / f"{name_or_path}.yaml"
        if path.is_file():
            return path
    searched = ", ".join(str(d) for d in profile_dirs())
    raise DeclarationError("profile", str(name_or_path), f"a profile file <name>.yaml in one of: {searched}")


@lru_cache(maxsize=32)
def _load(path: Path, mtime_ns: int) -> StandardProfile:
    return load_model(path, StandardProfile)


def load_profile(name_or_path: str | Path) -> StandardProfile:
    """Load a standard profile by name ('r49-2013') or path; cached until the file changes."""
    path = profile_path(name_or_path).resolve()
    return _load(path, path.stat().st_mtime_ns)
