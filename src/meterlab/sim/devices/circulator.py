"""Simulated JULABO heater/chiller circulator (driver: instruments/circulator.py), conditioning the water rig.

IN commands answer one line (`in_pv_00` the wired `bath` signal plus the sensor's error, 2 decimals;
`in_sp_00` the setpoint; `in_mode_05` 0/1; `version`; `status`); OUT commands answer nothing and act on the
world's circulator (`circulator.setpoint_c`, `circulator.run`, physics/water_conditioning.py). A refused OUT
command is reported once by the next `status`: -08 INVALID COMMAND (unknown or malformed), -10 VALUE TOO SMALL,
-11 VALUE TOO LARGE (outside the unit's working range). Commands are case-insensitive, CR or LF ends one."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from meterlab.quantities import AsTuple
from meterlab.sim.devices.base import LineDevice

STATES = {0: "MANUAL STOP", 1: "MANUAL START", 2: "REMOTE STOP", 3: "REMOTE START"}
ERRORS = {-8: "INVALID COMMAND", -10: "VALUE TOO SMALL", -11: "VALUE TOO LARGE"}
UNIT = "circulator"  # the world's circulator (signals circulator.run, circulator.setpoint_c)


class CirculatorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: str = "JULABO MAGIO MS-1000F VERSION 1.1.2"
    working_range_c: Annotated[tuple[float, float], AsTuple] = Field((-30.0, 200.0), description="setpoints the unit accepts")
    offset_c: float = Field(0.0, description="the bath sensor's error: reading - true temperature")
    initial_setpoint_c: float = 20.0


class SimJulaboCirculator(LineDevice):
    Params = CirculatorParams
    terminators = (b"\r", b"\n")
    reply_terminator = b"\r\n"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bath = self.signal("bath") or "water.temperature_c"
        self.last_error: int | None = None
        self.world.write(f"{UNIT}.setpoint_c", self.params.initial_setpoint_c)

    def handle(self, text: str) -> str | None:
        head, _, arg = text.strip().partition(" ")
        head, arg = head.lower(), arg.strip()
        with self.world.now() as world:
            if head == "version" and not arg:
                return self.params.identity
            if head == "status" and not arg:
                return self._status(world)
            if head == "in_pv_00" and not arg:
                return f"{float(world.signals[self.bath].read()) + self.params.offset_c:.2f}"
            if head == "in_sp_00" and not arg:
                return f"{float(world.signals[f'{UNIT}.setpoint_c'].read()):.2f}"
            if head == "in_mode_05" and not arg:
                return "1" if world.signals[f"{UNIT}.run"].read() else "0"
            if head == "out_sp_00" and arg:
                self._set_setpoint(arg)
                return None
            if head == "out_mode_05" and arg in ("0", "1"):
                world.write(f"{UNIT}.run", arg == "1")
                return None
        self.last_error = -8
        return None

    def _set_setpoint(self, arg: str) -> None:
        try:
            value = float(arg)
        except ValueError:
            self.last_error = -8
            return
        low, high = self.params.working_range_c
        if value < low:
            self.last_error = -10
        elif value > high:
            self.last_error = -11
        else:
            self.world.write(f"{UNIT}.setpoint_c", round(value, 2))

    def _status(self, world) -> str:
        if self.last_error is not None:
            code, self.last_error = self.last_error, None
            return f"{code:03d} {ERRORS[code]}"
        code = 2 + (1 if world.signals[f"{UNIT}.run"].read() else 0)
        return f"{code:02d} {STATES[code]}"

    def error_reply(self, text: str, message: str | None) -> str | None:
        """An `error` fault: the unit is in alarm; `status` says so, the other commands get no answer."""
        if text.strip().lower() == "status":
            return message or "-03 EXCESS TEMPERATURE WARNING"
        return None
