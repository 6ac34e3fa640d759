"""The truth of a simulated lab, from a YAML scenario file: meters, rig, simulated instruments, faults.

Tests load a scenario, run the lab and check that the lab's measurements recover this truth. Each
physical subsystem has its own section model (defined next to its physics); adding a subsystem adds one
field to `Scenario`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from meterlab.errors import InputFileError
from meterlab.yamlio import Path_, read_yaml, validation_problems

M = TypeVar("M", bound=BaseModel)

COMM_FAULTS = ("no_answer", "garbage", "drop_connection", "error")  # served by the protocol servers


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Susceptibility(Strict):
    """How a meter reacts while a disturbance of one kind (burst, surge, esd, ...) is applied to it."""

    effect: Literal["none", "error_shift", "lost_pulses", "reset", "corrupt_telegrams"] = "none"
    error_shift_pct: float = Field(0.0, description="error_shift: added to the error while disturbed")
    lost_pulse_fraction: float = Field(0.0, ge=0, le=1, description="lost_pulses: share of pulses not output")
    corrupt_fraction: float = Field(0.0, ge=0, le=1, description="corrupt_telegrams: share of bad telegrams")


class MeterSpec(Strict):
    serial: str = Field(min_length=1)
    error_curve: list[tuple[float, float]] = Field(
        min_length=1, description="[[flowrate_m3h, error_pct], ...], interpolated linearly in log Q"
    )
    repeatability_pct: float = Field(0.0, ge=0, description="1-sigma of the error, drawn once per measurement")
    pulse_value_l: float = Field(gt=0, description="volume per output pulse")
    register_resolution_l: float = Field(gt=0, description="smallest register step")
    initial_register_l: float = Field(0.0, ge=0)
    susceptibility: dict[str, Susceptibility] = Field(default_factory=dict)

    @field_validator("error_curve")
    @classmethod
    def _increasing_flowrates(cls, curve: list[tuple[float, float]]) -> list[tuple[float, float]]:
        flowrates = [q for q, _ in curve]
        if any(q <= 0 for q in flowrates):
            raise ValueError("flowrates must be > 0 (the curve is interpolated in log Q)")
        if any(b <= a for a, b in zip(flowrates, flowrates[1:])):
            raise ValueError("flowrates must be strictly increasing")
        return curve


class WaterRigParams(Strict):
    max_flowrate_m3h: float = Field(10.0, gt=0, description="flow with the pump at 100 % and the line open")
    pump_time_constant_s: float = Field(2.0, gt=0, description="first-order response of the flow")
    water_temperature_c: float = Field(20.0, gt=0, lt=100)
    water_temperature_drift_c_per_h: float = 0.0
    static_pressure_bar: float = Field(4.0, gt=0, description="gauge pressure of the line at zero flow")
    pressure_drop_bar_at_max_flow: float = Field(1.5, ge=0)
    tank_capacity_kg: float = Field(1000.0, gt=0)
    tank_drain_rate_kg_s: float = Field(5.0, gt=0)
    initial_tank_mass_kg: float = Field(0.0, ge=0)
    scale_settle_time_s: float = Field(2.0, ge=0, description="the weight is unsteady this long after filling")


class FaultSpec(Strict):
    """A fault injected at simulated time `at_s`, or at random (`rate_per_h`, seeded by the scenario)."""

    kind: str = Field(description=f"{', '.join(COMM_FAULTS)} (instrument), or a physical fault, e.g. pump_trip")
    instrument: str | None = Field(None, description="bench instrument name, for communication faults")
    at_s: float | None = Field(None, ge=0)
    rate_per_h: float | None = Field(None, gt=0, le=3600)
    duration_s: float | None = Field(None, gt=0, description="default: to the end (at_s) or 10 s (random)")
    message: str | None = Field(None, description="kind error: the instrument's own error text")

    @model_validator(mode="after")
    def _when_and_where(self) -> FaultSpec:
        if (self.at_s is None) == (self.rate_per_h is None):
            raise ValueError("give either at_s (a simulated time) or rate_per_h (at random)")
        if self.kind in COMM_FAULTS and self.instrument is None:
            raise ValueError(f"a {self.kind} fault needs `instrument:` (which one stops answering?)")
        return self

    @property
    def is_comm(self) -> bool:
        return self.kind in COMM_FAULTS


class Scenario(Strict):
    seed: int = 0
    water_rig: WaterRigParams = Field(default_factory=WaterRigParams)
    meters: list[MeterSpec] = Field(default_factory=list, description="in series, position 1 first")
    devices: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="simulated instrument characteristics, by bench instrument name"
    )
    faults: list[FaultSpec] = Field(default_factory=list)
    _source: tuple[Path, dict[Path_, int]] | None = PrivateAttr(None)

    @field_validator("meters")
    @classmethod
    def _unique_serials(cls, meters: list[MeterSpec]) -> list[MeterSpec]:
        serials = [m.serial for m in meters]
        duplicates = sorted({s for s in serials if serials.count(s) > 1})
        if duplicates:
            raise ValueError(f"serial numbers must be unique: {duplicates}")
        return meters

    def device_params(self, name: str, model: type[M]) -> M:
        """Validate `devices.<name>` against a simulated device's parameter model (errors name the line)."""
        try:
            return model.model_validate(self.devices.get(name, {}))
        except ValidationError as exc:
            path, lines = self._source or ("<scenario>", {})
            own_lines = {key[2:]: line for key, line in lines.items() if key[:2] == ("devices", name)}
            problems = [(line, f"devices.{name}.{field}".rstrip("."), message)
                        for line, field, message in validation_problems(exc, own_lines)]
            raise InputFileError(path, problems) from exc


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; problems raise InputFileError naming file, line and field."""
    data, lines = read_yaml(path)
    if data is None:
        raise InputFileError(path, [(None, "", "the file is empty")])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise InputFileError(path, validation_problems(exc, lines)) from exc
    scenario._source = (Path(path), lines)
    return scenario
