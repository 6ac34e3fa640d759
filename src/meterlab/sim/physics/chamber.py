"""The climate chamber: air temperature, humidity, and the meters inside it.

While the controller drives the chamber (`chamber.running`, no alarm), the air temperature approaches the
setpoint as a first-order lag (`air_time_constant_s`) whose rate of change is limited to the chamber's
largest heating/cooling rate, or to the ramp the controller was given if that is slower:

    dT/dt = clip((T_set - T) / tau, -cooling_rate, +heating_rate)

So a big step is a straight ramp at the limiting rate, then an exponential approach once the remaining
gap is below rate x tau. Humidity does the same with its own time constant and rate (without a humidity
setpoint it is not controlled and drifts back to the room). In standby, off, or while an alarm has
stopped the conditioning, air and humidity drift back to the room with `idle_time_constant_s`. The meters
inside follow the air with their own lag (`meter_time_constant_s`). Everything is integrated exactly
(piecewise: ramp, then exponential; the meter's lag through both), so the result does not depend on the
step length.

Signals: chamber.temperature_c, chamber.humidity_pct, chamber.setpoint_c (rw), chamber.humidity_setpoint_pct
(rw, None = humidity control off), chamber.ramp_c_per_min (rw, None = as fast as the chamber can),
chamber.running (rw: True = the controller drives the chamber; the simulated controllers map their modes
onto it), chamber.alarm (the active alarm code, 0 = none; writing 0 is the operator's reset at the
chamber, writing a code raises it), meter.ambient_c (the temperature of the meters in the chamber).
Events: chamber_alarm (code=...). Faults: chamber_alarm (`message:` an integer alarm code, default the
scenario's `chamber.alarm_code`; latched until reset, or for `duration_s`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from meterlab.sim.physics.lags import SNAP, follow, lag_through
from meterlab.sim.scenario import ChamberParams
from meterlab.sim.world import Component, World

if TYPE_CHECKING:
    from meterlab.sim.scenario import FaultSpec, Scenario

__all__ = ["Chamber", "ChamberParams", "build", "follow", "lag_through"]

S_PER_MIN = 60.0


class Chamber(Component):
    name = "chamber"

    def __init__(self, params: ChamberParams):
        self.p = params
        # what the controller commands (written by the simulated controllers)
        self.running = False
        self.setpoint_c = params.room_temperature_c
        self.humidity_setpoint_pct: float | None = None
        self.ramp_c_per_min: float | None = None
        self.alarm_code = 0
        self._alarm_generation = 0  # a scheduled end of an alarm ends only that alarm
        # state
        self.temperature_c = params.room_temperature_c if params.initial_temperature_c is None \
            else params.initial_temperature_c
        self.humidity_pct = params.room_humidity_pct if params.initial_humidity_pct is None \
            else params.initial_humidity_pct
        self.meter_c = self.temperature_c

    def attach(self, world: World) -> None:
        super().attach(world)
        world.define_signal("chamber.temperature_c", lambda: self.temperature_c, doc="air temperature")
        world.define_signal("chamber.humidity_pct", lambda: self.humidity_pct, doc="relative humidity")
        world.define_signal("chamber.setpoint_c", lambda: self.setpoint_c,
                            lambda value: setattr(self, "setpoint_c", float(value)))
        world.define_signal("chamber.humidity_setpoint_pct", lambda: self.humidity_setpoint_pct,
                            self._set_humidity_setpoint, "None = humidity not controlled")
        world.define_signal("chamber.ramp_c_per_min", lambda: self.ramp_c_per_min, self._set_ramp,
                            "None = as fast as the chamber can")
        world.define_signal("chamber.running", lambda: self.running,
                            lambda value: setattr(self, "running", bool(value)), "the controller drives the chamber")
        world.define_signal("chamber.alarm", lambda: self.alarm_code, self._write_alarm,
                            "active alarm code, 0 = none; write 0 to reset")
        world.define_signal("meter.ambient_c", lambda: self.meter_c, doc="temperature of the meters in the chamber")
        world.on_fault("chamber_alarm", self.raise_alarm)

    # -- controller and operator --------------------------------------------------------------------------
    def _set_humidity_setpoint(self, value: Any) -> None:
        self.humidity_setpoint_pct = None if value is None else float(value)

    def _set_ramp(self, value: Any) -> None:
        self.ramp_c_per_min = None if value is None or value <= 0 else float(value)

    def _write_alarm(self, value: Any) -> None:
        if value:
            self.raise_alarm(code=int(value))
        else:
            self.reset_alarm()

    def raise_alarm(self, fault: FaultSpec | None = None, *, code: int | None = None) -> None:
        """The chamber raises an alarm (scenario fault `chamber_alarm`, or a signal write)."""
        if code is None:
            message = (fault.message or "").strip() if fault is not None else ""
            code = int(message) if message.isdigit() and int(message) > 0 else self.p.alarm_code
        self.alarm_code = code
        self._alarm_generation += 1
        generation = self._alarm_generation
        if fault is not None and fault.duration_s is not None:
            self.world.schedule(self.world.t_s + fault.duration_s, lambda: self._end_alarm(generation))
        self.world.emit("chamber_alarm", code=code)

    def _end_alarm(self, generation: int) -> None:
        if generation == self._alarm_generation:
            self.reset_alarm()

    def reset_alarm(self) -> None:
        self.alarm_code = 0

    @property
    def driving(self) -> bool:
        return self.running and not (self.alarm_code and self.p.alarm_stops_conditioning)

    # -- physics --------------------------------------------------------------------------------------------
    def _air_target(self) -> tuple[float, float, float, float]:
        """(temperature, time constant, heating and cooling rate limits per s) the air is heading for."""
        p = self.p
        if not self.driving:
            return p.room_temperature_c, p.idle_time_constant_s, math.inf, math.inf  # no rate limit back to the room
        rise, fall = p.max_heating_c_per_min / S_PER_MIN, p.max_cooling_c_per_min / S_PER_MIN
        if self.ramp_c_per_min is not None:
            rise, fall = min(rise, self.ramp_c_per_min / S_PER_MIN), min(fall, self.ramp_c_per_min / S_PER_MIN)
        return self.setpoint_c, p.air_time_constant_s, rise, fall

    def _humidity_target(self) -> tuple[float, float, float]:
        """(relative humidity, time constant, rate limit per s) the air is heading for."""
        p = self.p
        if self.driving and self.humidity_setpoint_pct is not None:
            return self.humidity_setpoint_pct, p.humidity_time_constant_s, p.max_humidity_rate_pct_per_min / S_PER_MIN
        return p.room_humidity_pct, p.idle_time_constant_s, math.inf

    def _at_rest(self, air_target: float, humidity_target: float) -> bool:
        return self.temperature_c == air_target and self.meter_c == air_target and self.humidity_pct == humidity_target

    def step_limit_s(self) -> float:
        at_rest = self._at_rest(self._air_target()[0], self._humidity_target()[0])
        return math.inf if at_rest else self.world.max_step_s

    def step(self, t_s: float, dt_s: float) -> None:
        air_target, air_tau, rise, fall = self._air_target()
        humidity_target, humidity_tau, humidity_rate = self._humidity_target()
        if self._at_rest(air_target, humidity_target):
            return
        p = self.p
        self.temperature_c, pieces = follow(self.temperature_c, air_target, air_tau, rise, fall, dt_s)
        self.meter_c = lag_through(self.meter_c, pieces, p.meter_time_constant_s)
        if self.temperature_c == air_target and abs(self.meter_c - air_target) < SNAP:
            self.meter_c = air_target
        humidity, _ = follow(self.humidity_pct, humidity_target, humidity_tau, humidity_rate, humidity_rate, dt_s)
        self.humidity_pct = min(max(humidity, 0.0), 100.0)


def build(world: World, scenario: Scenario) -> None:
    world.add(Chamber(scenario.chamber))
