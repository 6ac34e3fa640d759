"""Conditions monitored while a point is measured; a violation suspends the point (Bluesky-style)."""

from __future__ import annotations

from dataclasses import dataclass

from meterlab.errors import MeterlabError


class Suspended(MeterlabError):
    """A monitored condition is violated; the current measurement is discarded and retried."""


@dataclass(frozen=True)
class Readings:
    flowrate_m3h: float | None = None
    water_temperature_c: float | None = None
    chamber_alarm: str | None = None
    fluid: str = "water"  # names the temperature in messages (the field is the meters' fluid temperature)


class Held:
    """Whether a condition has held without a break for a settling time (a setpoint reached and kept)."""

    def __init__(self) -> None:
        self._since: float | None = None

    def long_enough(self, ok: bool, now: float, for_s: float) -> bool:
        """The condition is `ok` at `now`, and has been since at least `for_s` ago; a break starts it over."""
        if not ok:
            self._since = None
            return False
        self._since = now if self._since is None else self._since
        return now - self._since >= for_s


def violation(readings: Readings, *, target_m3h: float | None, flow_within_pct: float | None,
              water_temperature_c: tuple[float, float] | None) -> str | None:
    """Why the conditions are not met, or None when they are."""
    if readings.chamber_alarm:
        return f"climate chamber alarm: {readings.chamber_alarm}"
    if water_temperature_c and readings.water_temperature_c is not None:
        low, high = water_temperature_c
        if not low <= readings.water_temperature_c <= high:
            return f"{readings.fluid} temperature {readings.water_temperature_c:.2f} °C outside {low:g} .. {high:g} °C"
    if target_m3h and flow_within_pct and readings.flowrate_m3h is not None:
        deviation = abs(readings.flowrate_m3h - target_m3h) / target_m3h * 100
        if deviation > flow_within_pct:
            return f"flowrate {readings.flowrate_m3h:.4g} m³/h is {deviation:.1f} % from {target_m3h:.4g} (limit {flow_within_pct:g} %)"
    return None
