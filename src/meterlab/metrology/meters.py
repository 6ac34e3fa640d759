"""Meter declarations: R 49 water meters (Q1..Q4) and R 137 gas meters (Qmin, Qt, Qmax).

A declaration validates itself on construction and refuses a wrong value with an error that names the
field, the value and what is allowed. Every number from the standard comes from the profile.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

from meterlab.errors import DeclarationError
from meterlab.metrology.profiles import StandardProfile, Window, load_profile

Zone = Literal["lower", "upper"]


@dataclass(frozen=True)
class TestPoint:
    """A named flow window of a test programme with its nominal set point."""

    __test__ = False  # not a pytest class
    name: str
    low_m3h: float
    high_m3h: float
    nominal_m3h: float

    def contains(self, flowrate_m3h: float) -> bool:
        return self.low_m3h <= flowrate_m3h <= self.high_m3h


def _positive(field: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise DeclarationError(field, value, "a finite number greater than 0")
    return float(value)


def _window_points(windows: list[Window], bases: dict[str, float]) -> list[TestPoint]:
    points = []
    for w in windows:
        base = bases[w.base]
        points.append(TestPoint(w.name, w.low * base, w.high * base, w.nominal * base))
    return points


class _Meter(ABC):
    profile: StandardProfile
    accuracy_class: float

    def _mpe_row(self):
        return self.profile.mpe_for(self.accuracy_class)

    def _check_in_range(self, flowrate_m3h: float, low: float, high: float, names: str) -> None:
        # A tiny relative tolerance keeps Q4 = 1.25*Q3 computed two ways inside the range.
        if not (low * (1 - 1e-9) <= flowrate_m3h <= high * (1 + 1e-9)):
            raise DeclarationError("flowrate_m3h", flowrate_m3h, f"within {names} = {low:g} .. {high:g} m³/h")

    def repeats(self) -> int:
        return int(self.profile.test_points.repeats.value)

    def significant_fault_pct(self, **conditions: float) -> float:
        """Significant-fault limit: the profile's fraction of the upper-zone MPE."""
        fraction = self.profile.significant_fault.fraction_of_upper_mpe.value
        return fraction * self.upper_mpe_pct(**conditions)

    def max_expanded_uncertainty_pct(self, flowrate_m3h: float, stage: str = "type_evaluation", **conditions) -> float:
        """Largest U (k = 2) of the test the profile allows at this flowrate."""
        limit = getattr(self.profile.uncertainty, f"max_fraction_of_mpe_{stage}").value
        return limit * self.mpe_pct(flowrate_m3h, **conditions)

    def range_m3h(self) -> tuple[float, float]:
        """The meter's flowrate range: (Q1, Q4) for a water meter, (Qmin, Qmax) for a gas meter."""
        return (self.q1_m3h, self.q4_m3h) if hasattr(self, "q1_m3h") else (self.qmin_m3h, self.qmax_m3h)

    def clamped(self, flowrate_m3h: float) -> float:
        """The flowrate moved onto the meter's range (a window's edge may sit a hair outside Q1/Q4)."""
        low, high = self.range_m3h()
        return min(max(flowrate_m3h, low), high)

    def judged_flowrate_m3h(self, point: TestPoint, **conditions: float) -> float:
        """The flowrate of a test point at which its MPE is taken: inside the point's window, where the MPE is
        the smallest (a window that reaches across Q2 or Qt is judged in the upper zone). The limit follows the
        programme's window, never the achieved flow: a point run low cannot earn the lower zone's wider MPE."""
        candidates = [self.clamped(q) for q in (point.nominal_m3h, point.low_m3h, point.high_m3h)]
        return min(candidates, key=lambda q: self.mpe_pct(q, **conditions))

    @abstractmethod
    def mpe_pct(self, flowrate_m3h: float, **conditions: float) -> float:
        """Maximum permissible error (±, percent) at this flowrate."""

    @abstractmethod
    def upper_mpe_pct(self, **conditions: float) -> float:
        """MPE of the upper zone, which fixes the significant-fault limit."""

    @abstractmethod
    def zone(self, flowrate_m3h: float) -> Zone:
        """'lower' or 'upper' flowrate zone."""

    @property
    @abstractmethod
    def transition_m3h(self) -> float:
        """The flowrate where the upper zone starts (Q2, Qt)."""

    @abstractmethod
    def test_points(self) -> list[TestPoint]:
        """The profile's test flow windows for this meter."""


class WaterMeter(_Meter):
    """An R 49 water meter declared by Q3, R = Q3/Q1, accuracy class and temperature class."""

    def __init__(
        self,
        q3_m3h: float,
        r: float,
        accuracy_class: float = 2,
        temperature_class: str = "T30",
        *,
        q2_over_q1: float | None = None,
        serial: str = "",
        profile: str | StandardProfile = "r49-2013",
    ):
        self.profile = load_profile(profile) if not isinstance(profile, StandardProfile) else profile
        if self.profile.kind != "water":
            raise DeclarationError("profile", self.profile.profile, "a water-meter profile (e.g. r49-2013)")
        self.q3_m3h = _positive("q3_m3h", q3_m3h)
        self.r = _positive("r", r)
        self.profile.class_key(accuracy_class)
        self.accuracy_class = accuracy_class
        classes = self.profile.temperature_classes.classes
        if temperature_class not in classes:
            raise DeclarationError("temperature_class", temperature_class, f"one of {', '.join(classes)}")
        self.temperature_class = temperature_class
        ratios = self.profile.flowrate_ratios
        self.q2_over_q1 = ratios.q2_over_q1.value if q2_over_q1 is None else _positive("q2_over_q1", q2_over_q1)
        if self.q2_over_q1 <= 1:
            raise DeclarationError("q2_over_q1", q2_over_q1, "greater than 1 (Q2 lies above Q1)")
        if self.q1_m3h * self.q2_over_q1 >= self.q3_m3h:
            raise DeclarationError("r", r, f"large enough that Q2 = {self.q2_over_q1:g}·Q3/R stays below Q3")
        self.serial = serial

    @property
    def q1_m3h(self) -> float:
        return self.q3_m3h / self.r

    @property
    def q2_m3h(self) -> float:
        return self.q2_over_q1 * self.q1_m3h

    @property
    def q4_m3h(self) -> float:
        return self.profile.flowrate_ratios.q4_over_q3.value * self.q3_m3h

    @property
    def rated_temperature_c(self) -> tuple[float, float]:
        return self.profile.temperature_classes.classes[self.temperature_class]

    @property
    def transition_m3h(self) -> float:
        return self.q2_m3h

    def zone(self, flowrate_m3h: float) -> Zone:
        """'lower' for Q1 <= Q < Q2, 'upper' for Q2 <= Q <= Q4 (Q2 itself is upper)."""
        self._check_in_range(flowrate_m3h, self.q1_m3h, self.q4_m3h, "Q1 .. Q4")
        return "lower" if flowrate_m3h < self.q2_m3h else "upper"

    def _is_hot(self, water_temperature_c: float) -> bool:
        low, high = self.rated_temperature_c
        if not low <= water_temperature_c <= high:
            raise DeclarationError(
                "water_temperature_c", water_temperature_c,
                f"within the rated range of {self.temperature_class}: {low:g} .. {high:g} °C")
        return water_temperature_c > self.profile.mpe.hot_water_above_c.value

    def mpe_pct(self, flowrate_m3h: float, water_temperature_c: float = 20.0) -> float:
        """Maximum permissible error (±, percent) at this flowrate and water temperature."""
        row = self._mpe_row()
        if self.zone(flowrate_m3h) == "lower":
            self._is_hot(water_temperature_c)  # still refuse a temperature outside the class
            return row.lower
        return self.upper_mpe_pct(water_temperature_c=water_temperature_c)

    def upper_mpe_pct(self, water_temperature_c: float = 20.0) -> float:
        row = self._mpe_row()
        return row.upper_hot if self._is_hot(water_temperature_c) else row.upper

    def test_points(self) -> list[TestPoint]:
        """The intrinsic-error flow windows of the profile, each with its nominal set point."""
        bases = {"q1": self.q1_m3h, "q2": self.q2_m3h, "q3": self.q3_m3h, "q4": self.q4_m3h,
                 "q2+q3": self.q2_m3h + self.q3_m3h}
        return _window_points(self.profile.test_points.windows, bases)

    def __repr__(self) -> str:
        return (f"WaterMeter(q3_m3h={self.q3_m3h:g}, r={self.r:g}, accuracy_class={self.accuracy_class:g}, "
                f"temperature_class={self.temperature_class!r})")


class GasMeter(_Meter):
    """An R 137 gas meter declared by Qmin, Qt, Qmax and accuracy class."""

    def __init__(
        self,
        qmin_m3h: float,
        qt_m3h: float,
        qmax_m3h: float,
        accuracy_class: float = 1.5,
        *,
        serial: str = "",
        profile: str | StandardProfile = "r137-2012",
    ):
        self.profile = load_profile(profile) if not isinstance(profile, StandardProfile) else profile
        if self.profile.kind != "gas":
            raise DeclarationError("profile", self.profile.profile, "a gas-meter profile (e.g. r137-2012)")
        self.qmin_m3h = _positive("qmin_m3h", qmin_m3h)
        self.qmax_m3h = _positive("qmax_m3h", qmax_m3h)
        self.qt_m3h = _positive("qt_m3h", qt_m3h)
        if self.qmin_m3h >= self.qmax_m3h:
            raise DeclarationError("qmin_m3h", qmin_m3h, f"below qmax_m3h = {qmax_m3h:g}")
        if not self.qmin_m3h < self.qt_m3h < self.qmax_m3h:
            raise DeclarationError("qt_m3h", qt_m3h, f"strictly between qmin_m3h = {qmin_m3h:g} and qmax_m3h = {qmax_m3h:g}")
        self.profile.class_key(accuracy_class)
        self.accuracy_class = accuracy_class
        self.serial = serial

    @property
    def transition_m3h(self) -> float:
        return self.qt_m3h

    def zone(self, flowrate_m3h: float) -> Zone:
        """'lower' for Qmin <= Q < Qt, 'upper' for Qt <= Q <= Qmax."""
        self._check_in_range(flowrate_m3h, self.qmin_m3h, self.qmax_m3h, "Qmin .. Qmax")
        return "lower" if flowrate_m3h < self.qt_m3h else "upper"

    def mpe_pct(self, flowrate_m3h: float) -> float:
        row = self._mpe_row()
        return row.lower if self.zone(flowrate_m3h) == "lower" else row.upper

    def upper_mpe_pct(self) -> float:
        return self._mpe_row().upper

    def test_points(self) -> list[TestPoint]:
        bases = {"qmin": self.qmin_m3h, "qt": self.qt_m3h, "qmax": self.qmax_m3h}
        return _window_points(self.profile.test_points.windows, bases)

    def __repr__(self) -> str:
        return (f"GasMeter(qmin_m3h={self.qmin_m3h:g}, qt_m3h={self.qt_m3h:g}, qmax_m3h={self.qmax_m3h:g}, "
                f"accuracy_class={self.accuracy_class:g})")
