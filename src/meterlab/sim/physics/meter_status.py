"""The status flags a simulated smart meter raises from what happens to it (issue 16, anomalous data): reverse flow
(backward volume beyond `reverse_after_l`), leak (forward flow never stopped for `leak_after_s`), magnet (a static
magnetic field at the meter of at least `magnet_threshold_mt`), power_low (its battery at or below
`low_battery_pct`), valve_closed (a smart gas meter's shut-off valve not open). Each flag follows its condition
`raise_after_s` later and, unless latched, clears when the condition ends. Scenario faults per flag: never raised,
raised late, raised falsely (from the start). Values not set in the scenario (`meters[].status`) come from
sim/tables/meter-status.yaml, all unverified: the simulated meter's design, the truth a test recovers.

The meter line calls `observe()` for every physics step; the read-out devices ask `raised()`."""

from __future__ import annotations

import math
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from meterlab.sim.scenario import STATUS_FLAGS, MeterStatusSpec
from meterlab.yamlio import read_yaml_text, validate_data

if TYPE_CHECKING:
    from meterlab.sim.physics.meters import SimulatedMeter

MAGNET_KIND = "magnetic_field"  # the static field's disturbance kind (sim/devices/emc/magnetic.py)


class _Behaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")
    raise_after_s: float = Field(ge=0)
    latched: bool


class StatusDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str
    confidence: Literal["V", "S", "U"]
    reverse_after_l: float = Field(ge=0)
    leak_after_s: float = Field(gt=0)
    magnet_threshold_mt: float = Field(gt=0)
    low_battery_pct: float = Field(ge=0, le=100)
    battery_pct: float = Field(ge=0, le=100)
    flags: dict[Literal[STATUS_FLAGS], _Behaviour]  # type: ignore[valid-type]


@cache
def status_defaults() -> StatusDefaults:
    file = resources.files("meterlab.sim").joinpath("tables", "meter-status.yaml")
    data, lines = read_yaml_text(file.read_text(encoding="utf-8"), str(file))
    return validate_data(str(file), StatusDefaults, data, lines)


class _Flag:
    """One flag: when its condition began (None: not now), and whether it was raised since the last clear."""

    def __init__(self, name: str, spec: MeterStatusSpec, defaults: StatusDefaults):
        own = spec.flags.get(name)
        default = defaults.flags[name]
        self.name = name
        self.raise_after_s = own.raise_after_s if own is not None and own.raise_after_s is not None \
            else default.raise_after_s
        self.latched = own.latched if own is not None and own.latched is not None else default.latched
        self.fault = own.fault if own is not None else "none"
        if own is not None and own.fault == "late":
            self.raise_after_s += own.late_by_s
        self.since_s: float | None = None
        self.raised = self.fault == "false"

    def update(self, condition_since_s: float | None, t_s: float) -> None:
        if self.fault == "false":
            return  # raised from the start, whatever happens
        self.since_s = condition_since_s
        due = condition_since_s is not None and t_s >= condition_since_s + self.raise_after_s
        if self.fault == "never":
            self.raised = False
        elif due:
            self.raised = True
        elif condition_since_s is None and not self.latched:
            self.raised = False


class MeterStatus:
    """The status of one simulated meter, updated step by step from the volume through it and its disturbances."""

    def __init__(self, spec: MeterStatusSpec, defaults: StatusDefaults | None = None):
        defaults = defaults or status_defaults()

        def value(name: str) -> float:
            own = getattr(spec, name)
            return own if own is not None else getattr(defaults, name)

        self.reverse_after_l = value("reverse_after_l")
        self.leak_after_s = value("leak_after_s")
        self.magnet_threshold_mt = value("magnet_threshold_mt")
        self.battery_pct = value("battery_pct")
        self.low_battery_pct = value("low_battery_pct")
        self.flags = {name: _Flag(name, spec, defaults) for name in STATUS_FLAGS}
        self._backward_l = 0.0  # of the present reverse flow
        self._reverse_since_s: float | None = None
        self._flowing_since_s: float | None = None
        self._magnet_since_s: float | None = None
        self._valve_since_s: float | None = None

    def observe(self, t_s: float, dt_s: float, volume_l: float, meter: SimulatedMeter,
                valve_open: bool | None = None) -> None:
        """One physics step [t_s, t_s + dt_s] in which `volume_l` passed the meter (negative: backwards)."""
        end_s = t_s + dt_s
        if volume_l < 0:
            self._backward_l -= volume_l
            if self._reverse_since_s is None and self._backward_l > self.reverse_after_l:
                self._reverse_since_s = end_s
        else:
            self._backward_l, self._reverse_since_s = 0.0, None
        if volume_l > 0:
            self._flowing_since_s = t_s if self._flowing_since_s is None else self._flowing_since_s
        elif dt_s > 0:
            self._flowing_since_s = None  # the flow stopped (or went backwards): the continuous-flow count restarts
        magnet = self._magnet(meter)
        self._magnet_since_s = (self._magnet_since_s if self._magnet_since_s is not None else t_s) if magnet else None
        closed = valve_open is False
        self._valve_since_s = (self._valve_since_s if self._valve_since_s is not None else t_s) if closed else None
        leak_since = None if self._flowing_since_s is None else self._flowing_since_s + self.leak_after_s
        flags = self.flags  # one call per flag, not a table per step: this runs for every meter in every step
        flags["reverse_flow"].update(self._reverse_since_s, end_s)
        flags["leak"].update(leak_since if leak_since is not None and end_s >= leak_since else None, end_s)
        flags["magnet"].update(self._magnet_since_s, end_s)
        flags["power_low"].update(0.0 if self.battery_pct <= self.low_battery_pct else None, end_s)
        flags["valve_closed"].update(self._valve_since_s, end_s)

    def step_limit_s(self, now_s: float, max_step_s: float, meter: SimulatedMeter, flow_sign: int,
                     valve_open: bool | None = None) -> float:
        """The longest step from `now_s` (at least `max_step_s`) after which no flag is raised later than with steps
        of `max_step_s`: up to the next flag falling due under the conditions as they stand (the flow's direction,
        `flow_sign`, and what acts on the meter change only between steps), or `max_step_s` while a reverse
        volume counts towards its threshold."""
        if flow_sign < 0 and self._reverse_since_s is None:
            return max_step_s
        on_since = {"reverse_flow": self._reverse_since_s,
                    "leak": (self._flowing_since_s if self._flowing_since_s is not None else now_s) + self.leak_after_s
                    if flow_sign > 0 else None,
                    "magnet": (self._magnet_since_s if self._magnet_since_s is not None else now_s)
                    if self._magnet(meter) else None,
                    "power_low": 0.0 if self.battery_pct <= self.low_battery_pct else None,
                    "valve_closed": (self._valve_since_s if self._valve_since_s is not None else now_s)
                    if valve_open is False else None}
        limit = math.inf
        for name, flag in self.flags.items():
            since = on_since[name]
            if since is not None and not flag.raised and flag.fault not in ("never", "false"):
                limit = min(limit, max(since + flag.raise_after_s - now_s, max_step_s))
        return limit

    def _magnet(self, meter: SimulatedMeter) -> bool:
        """A static field at the meter of at least the threshold."""
        if MAGNET_KIND not in meter.disturbances:
            return False
        field_mt = float((meter.disturbance_params.get(MAGNET_KIND) or {}).get("flux_density_mt", 0) or 0)
        return field_mt >= self.magnet_threshold_mt

    def raised(self) -> frozenset[str]:
        """The flags the meter reports now."""
        return frozenset(name for name, flag in self.flags.items() if flag.raised)
