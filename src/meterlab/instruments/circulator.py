"""Temperature-conditioning circulator (heater/chiller), JULABO interface commands.

Command set (JULABO operating manuals, appendix "Interface commands", as used by public drivers:
Dennis-van-Gils/python-dvg-devices `Julabo_circulator_protocol_RS232.py`, ISIS IBEX Julabo IOC, PyPI `julabo`)
[S]: `version` (e.g. `JULABO MAGIO MS-1000F VERSION 1.1.2`), `status` (`03 REMOTE START`, `02 REMOTE STOP`;
a negative code is an error or alarm, e.g. `-08 INVALID COMMAND`, `-01 LOW LEVEL ALARM`), `in_pv_00` bath
temperature, `in_sp_00` working temperature setpoint 1, `out_sp_00 <value>` set it, `in_mode_05` 0 = stopped,
1 = running, `out_mode_05 0|1` stop/start. IN commands answer one line; OUT commands answer nothing, so each
is confirmed by reading `status`. Framing: CR out, CRLF in (RS-232 4800 7E1 on older units) [S].
[U] not verified in a primary manual: the exact status texts and whether an OUT rejection stays in `status`
until read; the > 250 ms gap some manuals ask between OUT commands (a real unit may need a bench
`timeout_s`/pacing); the TCP port of Ethernet models (a serial server or the unit's own port: give it in the
bench `resource:`). Models differ in the IN_PV numbering (IN_PV_02 is external temperature on some, power on
others): this driver uses only the commands common to CORIO, MAGIO, DYNEO and the FP/HL series.

Safe state: by default a running unit keeps circulating with its setpoint at `safe_temperature_c` (20 °C)
(a stopped unit gets the safe setpoint and stays stopped). Why:
stopping a circulator after a hot-water test leaves water at up to 90 °C in the line and the meters for hours
(a scald risk when meters are dismounted, meters outside their rated conditions), whereas a running unit with
a setpoint below the water temperature never heats and brings the water back to a handling temperature.
A rig whose circulator feeds the meter line directly (no buffer tank) or has no cooling can choose
`safe_action: stop` (heater, cooler and pump off).

Wiring: bath = the rig signal of the water it conditions (`bath: water.temperature_c`)."""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from meterlab.instruments.base import MessageInstrument, control
from meterlab.instruments.errors import InstrumentValueError
from meterlab.instruments.validators import strict_discrete_set

STATUS = re.compile(r"^\s*(-?\d+)\s+(.*?)\s*$")


class CirculatorOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_temperature_c: float = Field(5.0, description="lowest setpoint allowed on this rig (unit and line)")
    max_temperature_c: float = Field(90.0, description="highest setpoint allowed on this rig (unit and line)")
    safe_action: Literal["cool", "stop"] = Field(
        "cool", description="safe state: keep circulating at safe_temperature_c (cool), or stop the unit")
    safe_temperature_c: float = Field(20.0, description="setpoint of the safe state `cool`")

    @model_validator(mode="after")
    def _consistent(self) -> CirculatorOptions:
        if self.min_temperature_c >= self.max_temperature_c:
            raise ValueError("min_temperature_c must be below max_temperature_c")
        if not self.min_temperature_c <= self.safe_temperature_c <= self.max_temperature_c:
            raise ValueError("safe_temperature_c must lie within min_temperature_c .. max_temperature_c")
        return self


class JulaboCirculator(MessageInstrument):
    Options = CirculatorOptions
    options: CirculatorOptions
    terminals = r"bath"
    read_termination = "\r\n"
    write_termination = "\r"
    default_timeout_s = 3.0

    running = control("in_mode_05", None, "True while the unit conditions and circulates.",
                      cast=int, validator=strict_discrete_set, values={False: 0, True: 1}, map_values=True)

    def identify(self) -> str:
        return self.ask("version").strip()

    # -- status -------------------------------------------------------------------------------------------
    def status(self) -> tuple[int, str]:
        """(code, text): code >= 0 is an operating state (e.g. 3 REMOTE START), < 0 an error or alarm."""
        reply = self.ask("status")
        match = STATUS.match(reply)
        if not match:
            raise self.reply_error("status", f"not a status: {reply!r}")
        return int(match.group(1)), match.group(2)

    def check_errors(self) -> None:
        command = self.transport.last_command
        code, text = self.status()
        if code < 0:
            raise self.instrument_error(command, f"{code:03d} {text}")

    # -- temperature ----------------------------------------------------------------------------------------
    def _number(self, command: str) -> float:
        reply = self.ask(command)
        try:
            value = float(reply)
        except ValueError:
            raise self.reply_error(command, f"not a temperature: {reply!r}") from None
        if not math.isfinite(value):
            raise self.reply_error(command, f"not a temperature: {reply!r}")
        return value

    def temperature_c(self) -> float:
        """The bath (supply) temperature now, °C."""
        return self._number("in_pv_00")

    def setpoint_c(self) -> float:
        return self._number("in_sp_00")

    def set_setpoint_c(self, temperature_c: float) -> None:
        """Set the working temperature (checked against the rig's range before anything is sent), then read
        the status, which reports a refusal (e.g. -11 VALUE TOO LARGE)."""
        low, high = self.options.min_temperature_c, self.options.max_temperature_c
        if isinstance(temperature_c, bool) or not isinstance(temperature_c, int | float) \
                or not math.isfinite(temperature_c) or not low <= temperature_c <= high:
            raise InstrumentValueError(self.name, "setpoint_c", temperature_c,
                                       f"the allowed range is {low:g} .. {high:g} °C (bench options)")
        self.write(f"out_sp_00 {temperature_c:.2f}")
        self.check_errors()

    # -- start / stop ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self.write("out_mode_05 1")
        self.check_errors()
        if not self.running:
            raise self.instrument_error("out_mode_05 1", "the circulator did not start")

    def stop(self) -> None:
        self.write("out_mode_05 0")
        if self.running:
            raise self.instrument_error("out_mode_05 0", "the circulator did not stop")

    def safe_state(self) -> None:
        """`cool`: setpoint to the safe temperature, confirmed by reading it back; a running unit keeps running
        (it cools the water down), a stopped one stays stopped (it adds no heat, and a rig that never used it
        is left as it was). `stop`: stopped, confirmed."""
        if self.options.safe_action == "stop":
            self.stop()
            return
        self.write(f"out_sp_00 {self.options.safe_temperature_c:.2f}")
        if abs(self.setpoint_c() - self.options.safe_temperature_c) > 0.005:
            raise self.instrument_error("out_sp_00", "the safe setpoint was not taken")
