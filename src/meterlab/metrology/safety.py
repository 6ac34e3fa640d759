"""The safety profile of smart gas meters' shut-off functions, and the verdicts on what a safety test observed.

The profile (`procedures/standards/gas-safety-*.yaml`) holds every limit and test value with its clause and
status, as the standard profiles do (profiles.py): the shaker's operate / non-operate table, the gas-in-use window,
the shock impulse, pressure-drop thresholds per gas, excess-flow thresholds per meter size, shut-off time limits,
the valve's leak limit. Nothing of it is a constant here.

Verdicts, pure functions of numbers:
- a shut-off time (from the stimulus to the valve seen closed) against its limit: the valve's state is polled, so
  the closing lies between the last poll that saw it open and the first that saw it closed; the estimate is the
  middle of that interval, its standard uncertainty that of a rectangle over it (GUM 4.3.7) combined with the
  clock's; the decision rule of decision.py judges it;
- a leak rate against the valve's limit, with the leak tester's uncertainty, by the same rule;
- a function that must NOT shut off: a state observed, no uncertainty (fail if the valve closed);
- the shut-off time the meter transmits against the lab's observation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from meterlab.errors import DeclarationError
from meterlab.metrology.decision import Decision, DecisionRule, Outcome, decide
from meterlab.metrology.profiles import Sourced, Value, _unverified, profile_path
from meterlab.yamlio import load_model

GAL_M_S2 = 0.01  # 1 gal = 1 cm/s² (a unit)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TablePoint(_Strict):
    acceleration_gal: float = Field(gt=0)
    period_s: float = Field(gt=0)

    @property
    def label(self) -> str:
        return f"{self.acceleration_gal:g} gal / {self.period_s:g} s"


class ShakerTable(Sourced):
    points: list[TablePoint] = Field(min_length=1)


class Band(_Strict):
    level_gal: float = Field(gt=0)
    dwell_s: float = Field(ge=0)


class DwellTimes(Sourced):
    bands: list[Band] = Field(min_length=1)


class Seismic(_Strict):
    operate: ShakerTable
    non_operate: ShakerTable
    shaking_s: Value
    max_shut_off_s: Value
    flow_window_s: Value
    flowrate_m3h: Value
    dwell_times: DwellTimes | None = None


class Shock(_Strict):
    peak_m_s2: Value
    duration_ms: Value
    observe_s: Value


class GasThreshold(_Strict):
    threshold_pa: Value


class PressureDrop(_Strict):
    gases: dict[Literal["city_gas", "lp_gas"], GasThreshold] = Field(min_length=1)
    below_fraction: Value
    above_fraction: Value
    ramp_pa_per_s: Value
    max_shut_off_s: Value
    observe_s: Value


class SizeThreshold(_Strict):
    qmax_m3h: float = Field(gt=0, description="the size's Qmax: how a declared meter is matched to its size")
    threshold_m3h: float = Field(gt=0)


class Thresholds(Sourced):
    by_designation: dict[str, SizeThreshold] = Field(min_length=1)


class ExcessFlow(_Strict):
    thresholds_m3h: Thresholds
    above_fraction: Value
    below_fraction: Value
    max_shut_off_s: Value
    observe_s: Value


class ContinuousUseBand(_Strict):
    up_to_m3h: float = Field(gt=0)
    time_s: float = Field(gt=0)


class ContinuousUseTable(Sourced):
    bands: list[ContinuousUseBand] = Field(min_length=1)

    @model_validator(mode="after")
    def _rising(self) -> ContinuousUseTable:
        flows = [b.up_to_m3h for b in self.bands]
        if any(b <= a for a, b in zip(flows, flows[1:])):
            raise ValueError("continuous_use bands: up_to_m3h strictly increasing")
        return self


class Values(Sourced):
    values: list[float] = Field(min_length=1)


class ContinuousUse(_Strict):
    table: ContinuousUseTable
    points_m3h: Values
    tolerance_fraction: Value
    poll_s: Value

    @model_validator(mode="after")
    def _points_in_the_table(self) -> ContinuousUse:
        beyond = [q for q in self.points_m3h.values if self.band_time_s(q) is None]
        if beyond:
            raise ValueError(f"continuous_use.points_m3h {beyond} lie above the table's last band "
                             f"({self.table.bands[-1].up_to_m3h:g} m³/h): no time to judge them against")
        return self

    def band_time_s(self, flowrate_m3h: float) -> float | None:
        """The continuous-use time of the band holding this flow (None above the last band)."""
        return next((b.time_s for b in self.table.bands if flowrate_m3h <= b.up_to_m3h), None)


class Restore(_Strict):
    max_check_s: Value
    hold_s: Value
    leak_flow_m3h: Value


class GasAlarm(_Strict):
    min_alarm_s: Value
    short_fraction: Value
    max_shut_off_s: Value
    observe_s: Value


class LowBattery(_Strict):
    threshold_v: Value
    above_fraction: Value
    below_fraction: Value
    max_shut_off_s: Value
    observe_s: Value


class Valve(_Strict):
    max_leak_l_h: Value
    leak_settle_s: Value
    max_close_s: Value


class EventTransmission(_Strict):
    max_time_difference_s: Value


# The cause a meter logs for the shut-off each function's test expects (shock: none, it must not shut off).
SHUT_OFF_CAUSES = {"seismic": "seismic", "shock": None, "pressure_drop": "pressure_drop", "excess_flow": "excess_flow",
                   "continuous_use": "continuous_use", "restore": "restore_check", "gas_alarm": "gas_alarm",
                   "low_battery": "low_battery"}


class SafetyProfile(_Strict):
    profile: str
    standard: str
    edition: str
    title: str
    kind: Literal["gas_safety"]
    seismic: Seismic
    shock: Shock
    pressure_drop: PressureDrop
    excess_flow: ExcessFlow
    continuous_use: ContinuousUse
    restore: Restore
    gas_alarm: GasAlarm
    low_battery: LowBattery
    valve: Valve
    event: EventTransmission

    def pressure_threshold_pa(self, gas: str) -> float:
        try:
            return self.pressure_drop.gases[gas].threshold_pa.value  # type: ignore[index]
        except KeyError:
            raise DeclarationError("gas", gas, f"one of {', '.join(self.pressure_drop.gases)} "
                                               f"(profile {self.profile})") from None

    def excess_threshold_m3h(self, qmax_m3h: float) -> tuple[str, float]:
        """(designation, threshold) of the meter size with this Qmax."""
        table = self.excess_flow.thresholds_m3h.by_designation
        for designation, size in table.items():
            if math.isclose(size.qmax_m3h, qmax_m3h, rel_tol=1e-6):
                return designation, size.threshold_m3h
        sizes = ", ".join(f"{name} (Qmax {size.qmax_m3h:g})" for name, size in table.items())
        raise DeclarationError("qmax_m3h", qmax_m3h, f"the Qmax of a size of profile {self.profile}: {sizes}; add the "
                               "meter's size under excess_flow.thresholds_m3h.by_designation")

    def unverified_values(self) -> list[str]:
        """Dotted names of every value not verified against the standard (for reports)."""
        return sorted(_unverified(self))


@lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int) -> SafetyProfile:
    return load_model(path, SafetyProfile)


def load_safety_profile(name_or_path: str | Path) -> SafetyProfile:
    """By name ('gas-safety-cns14741', looked up as the standard profiles are) or path; errors name file, line
    and field (InputFileError)."""
    path = profile_path(name_or_path).resolve()
    return _load(path, path.stat().st_mtime_ns)


# -- what a test observed, and its verdicts -------------------------------------------------------------------
@dataclass(frozen=True)
class ObservedTime:
    """A time from a stimulus to a state first seen by polling: estimate and standard uncertainty, s."""

    value_s: float
    u_s: float


def time_to_state(stimulus_s: float, last_before_s: float, first_seen_s: float, *,
                  clock_resolution_s: float = 0.0) -> ObservedTime:
    """The state changed between the last poll that did not see it and the first that did: the middle of that
    interval, u of a rectangle over it (half-width w: u = w/√3), combined with the clock's resolution (u = r/√12)."""
    if not stimulus_s <= first_seen_s or not last_before_s <= first_seen_s:
        raise DeclarationError("first_seen_s", first_seen_s, "a time after the stimulus and the last poll before it")
    start = max(last_before_s, stimulus_s)
    half = (first_seen_s - start) / 2
    u = math.hypot(half / math.sqrt(3), clock_resolution_s / math.sqrt(12))
    return ObservedTime(start + half - stimulus_s, u)


def judge_time(observed: ObservedTime, limit: Value, *, rule: str | DecisionRule = "simple", k: float = 2.0) -> Decision:
    """A shut-off time against its limit (≤ limit conforms)."""
    return decide(observed.value_s, k * observed.u_s, limit.value, rule=rule, k=k)


def judge_leak(leak_l_h: float, expanded_uncertainty_l_h: float, limit: Value, *, rule: str | DecisionRule = "simple",
               k: float = 2.0) -> Decision:
    """The closed valve's leak against its limit (a negative reading of a zero-drifting tester counts as 0)."""
    return decide(max(leak_l_h, 0.0), expanded_uncertainty_l_h, limit.value, rule=rule, k=k)


def judge_time_against_table(observed: ObservedTime, nominal_s: float, tolerance_fraction: Value, *,
                             rule: str | DecisionRule = "simple", k: float = 2.0) -> Decision:
    """A shut-off time against the table's time (continuous use): |observed - nominal| within the tolerance."""
    return decide(observed.value_s - nominal_s, k * observed.u_s, tolerance_fraction.value * nominal_s, rule=rule, k=k)


def judge_no_shut_off(shut_off: bool) -> Outcome:
    """A function that must not act: a state seen, not a measured value (fail if the valve closed)."""
    return Outcome.FAIL if shut_off else Outcome.PASS


def judge_transmitted_time(transmitted_s: float | None, observed: ObservedTime, limit: Value, *,
                           rule: str | DecisionRule = "simple", k: float = 2.0) -> Decision | None:
    """The shut-off time the meter logged against the lab's observation, both counted from the stimulus (the
    meter's clock set to the lab's): |difference| within the limit. None if the meter logged none."""
    if transmitted_s is None:
        return None
    return decide(transmitted_s - observed.value_s, k * observed.u_s, limit.value, rule=rule, k=k)
