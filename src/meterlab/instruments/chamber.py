"""Climate chambers: ESPEC controllers (ASCII over TCP) and the Watlow F4 (Modbus), behind one API.

The engine talks to every chamber through `ClimateChamber`:

    set_climate(temperature_c, humidity_pct=None, ramp_c_per_min=None)   # checked before anything is sent
    read() -> (temperature_c, humidity_pct | None)                         # process values
    setpoint() -> (temperature_c, humidity_pct | None)                     # what the controller works to now
    alarm() -> str | None, alarm_active                                    # polled by the engine
    mode, status(), standby(), safe_state()                                # safe_state = standby

`humidity_pct=None` switches humidity control off; `ramp_c_per_min=None` lets the chamber change as fast
as it can. Values outside the chamber's declared range (bench `options:`, from its data sheet) raise
InstrumentValueError and nothing is sent. The numbers of a test (severity, rate limits of a standard)
never live here: they come from the procedure and its severity profile.

ESPEC (P-300, SCP-220, PR-3J; reference sheet 2.1, and ChamberConnectLibrary `p300.py`): CRLF both ways;
every setting is answered `OK:<command>`, errors in-line as `NA:<text>`. A ramp runs as the controller's
single-step remote program `RUN PRGM, TEMP<now> TIME<h>:<m> GOTEMP<target> [HUMI<h>]`; at its end the
controller holds the target. Safe state: `MODE, STANDBY` (controller on and monitoring, not heating,
cooling or humidifying; also ends a program).

Watlow F4 (reference sheet 2.5, and ChamberConnectLibrary `watlowf4.py`): 16-bit signed registers scaled
by the input's decimal-point setting. The F4 itself has no standby: chamber builders wire the
conditioning on/off to one of its event outputs (`options.condition_event`), and a humidity loop enable
often to another (`options.humidity_event`). A ramp runs as a two-step profile (ramp-rate step, end step
"hold") written into `options.ramp_profile`, a profile number the lab reserves for this driver. Safe
state: terminate any profile and switch the condition event off (= standby); without a condition event,
terminate the profile and, if `options.idle_temperature_c` is given, set the static setpoint to it."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from meterlab.instruments.base import MessageInstrument, ModbusInstrument
from meterlab.instruments.errors import InstrumentValueError
from meterlab.instruments.validators import strict_discrete_set, strict_range

MODES = ("constant", "standby", "off")


class ChamberOptions(BaseModel):
    """The chamber's declared working range (its data sheet); set points outside it are refused."""

    model_config = ConfigDict(extra="forbid")
    min_temperature_c: float = Field(-40.0, description="[U] per model: take it from the chamber's data sheet")
    max_temperature_c: float = Field(150.0)
    humidity: bool = Field(True, description="the chamber controls humidity")
    min_humidity_pct: float = Field(20.0, ge=0, le=100)
    max_humidity_pct: float = Field(98.0, ge=0, le=100)
    max_ramp_c_per_min: float = Field(5.0, gt=0, description="largest ramp the driver will ask for")

    @model_validator(mode="after")
    def _ranges(self) -> ChamberOptions:
        if not self.min_temperature_c < self.max_temperature_c:
            raise ValueError("min_temperature_c must be below max_temperature_c")
        if not self.min_humidity_pct < self.max_humidity_pct:
            raise ValueError("min_humidity_pct must be below max_humidity_pct")
        return self


@dataclass(frozen=True)
class ChamberStatus:
    temperature_c: float
    humidity_pct: float | None
    mode: str  # constant, standby, off, program, paused
    alarm: str | None


class ClimateChamber(ABC):
    """The API every chamber driver offers; the engine uses only this."""

    name: str
    options: Any

    # -- to implement ---------------------------------------------------------------------------------------
    @abstractmethod
    def set_climate(self, temperature_c: float, humidity_pct: float | None = None,
                    ramp_c_per_min: float | None = None) -> None:
        """Drive the chamber to `temperature_c` (and `humidity_pct`; None = humidity control off), at
        `ramp_c_per_min` if given (else as fast as the chamber can)."""

    @abstractmethod
    def read(self) -> tuple[float, float | None]:
        """(air temperature °C, relative humidity % or None if the chamber has none)."""

    @abstractmethod
    def setpoint(self) -> tuple[float, float | None]:
        """(temperature °C, humidity % or None if not controlled) the controller works to now."""

    @abstractmethod
    def alarm(self) -> str | None:
        """The active alarm(s) as the chamber reports them, or None."""

    @abstractmethod
    def standby(self) -> None:
        """Stop conditioning; the controller stays on and keeps monitoring."""

    # -- common ---------------------------------------------------------------------------------------------
    @property
    def alarm_active(self) -> bool:
        """True while the chamber reports an alarm (one query; the engine polls this)."""
        return self.alarm() is not None

    def safe_state(self) -> None:
        """Standby (see the module docstring for what that means on each controller)."""
        self.standby()

    def check_climate(self, temperature_c: float, humidity_pct: float | None,
                      ramp_c_per_min: float | None) -> None:
        """Refuse (InstrumentValueError) what this chamber cannot do, before anything is sent."""
        self._check_temperature("temperature_c", temperature_c)
        if humidity_pct is not None:
            self._check_humidity("humidity_pct", humidity_pct)
        if ramp_c_per_min is not None:
            self._in_range("ramp_c_per_min", ramp_c_per_min, 0.0, self.options.max_ramp_c_per_min)
            if not ramp_c_per_min > 0:
                raise InstrumentValueError(self.name, "ramp_c_per_min", ramp_c_per_min, "must be > 0")

    def _check_temperature(self, name: str, value: Any) -> float:
        return self._in_range(name, value, self.options.min_temperature_c, self.options.max_temperature_c)

    def _check_humidity(self, name: str, value: Any) -> float:
        if not self.options.humidity:
            raise InstrumentValueError(self.name, name, value,
                                       "this chamber has no humidity control (options.humidity: false)")
        return self._in_range(name, value, self.options.min_humidity_pct, self.options.max_humidity_pct)

    def _in_range(self, name: str, value: Any, low: float, high: float) -> float:
        try:
            return strict_range(value, (low, high))
        except ValueError as exc:
            raise InstrumentValueError(self.name, name, value, str(exc)) from None

    def _mode_value(self, mode: Any, allowed: tuple[str, ...]) -> str:
        try:
            return strict_discrete_set(mode, allowed)
        except ValueError as exc:
            raise InstrumentValueError(self.name, "mode", mode, str(exc)) from None


# --------------------------------------------------------------------------------------------------------
# ESPEC
# --------------------------------------------------------------------------------------------------------

ESPEC_MODES = {"CONSTANT": "constant", "STANDBY": "standby", "OFF": "off", "RUN": "program"}
MAX_PROGRAM_MINUTES = 99 * 60 + 59  # TIME<h>:<m> of a remote program [U]: the largest step time


class EspecChamber(ClimateChamber, MessageInstrument):
    """ESPEC chamber controller (P-300 / SCP-220 / PR-3J) over its LAN option, TCP port 57732, CRLF.

    `read()` is the chamber's reading (temperature, humidity), as for every chamber; a raw line read is
    `self.transport.read()`. `write()` is a setting: it reads and checks the `OK:` acknowledgement, so the
    declarative `control(...)`/`setting(...)` properties work with this protocol too."""

    Options = ChamberOptions
    terminals = r"air"  # wiring: air = the chamber whose air it conditions
    read_termination = "\r\n"
    write_termination = "\r\n"
    default_timeout_s = 3.0  # the controller answers settings after about 0.5 s

    def identify(self) -> str:
        return f"ESPEC {self.ask('ROM?').strip()} (type {self.ask('TYPE?').strip()})"

    def check_reply(self, command: str, reply: str) -> str:
        if reply.startswith("NA:"):
            raise self.instrument_error(command, reply.strip())
        return reply

    def write(self, command: str) -> None:
        """Send a setting and check its acknowledgement `OK:<command>` (so no reply is ever left unread)."""
        reply = self.ask(command)
        if not reply.startswith("OK:"):
            raise self.reply_error(command, f"expected 'OK:{command}', got {reply!r}")

    # -- replies --------------------------------------------------------------------------------------------
    def _fields(self, command: str, count: int) -> list[str]:
        fields = [field.strip() for field in self.ask(command).split(",")]
        if len(fields) != count:
            raise self.reply_error(command, f"expected {count} fields, got {','.join(fields)!r}")
        return fields

    def _number(self, command: str, text: str, *, blank_ok: bool = False, off_ok: bool = False) -> float | None:
        if (blank_ok and text == "") or (off_ok and text.upper() == "OFF"):
            return None
        try:
            return float(text)
        except ValueError:
            raise self.reply_error(command, f"not a number: {text!r}") from None

    def _temp(self) -> list[float]:
        """TEMP? -> [process value, setpoint, upper limit, lower limit]."""
        return [self._number("TEMP?", field) for field in self._fields("TEMP?", 4)]  # type: ignore[misc]

    def _humi(self) -> tuple[float, float | None, float, float]:
        """HUMI? -> (process value, setpoint or None if OFF, upper limit, lower limit)."""
        pv, sp, high, low = self._fields("HUMI?", 4)
        return (self._number("HUMI?", pv), self._number("HUMI?", sp, off_ok=True),  # type: ignore[return-value]
                self._number("HUMI?", high), self._number("HUMI?", low))

    # -- process values and setpoints -----------------------------------------------------------------------
    @property
    def temperature_c(self) -> float:
        """Air temperature (process value) in °C."""
        return self._temp()[0]

    @property
    def humidity_pct(self) -> float:
        """Relative humidity (process value) in %."""
        return self._humi()[0]

    @property
    def temperature_setpoint_c(self) -> float:
        """The temperature setpoint in °C (during a program: the program's present setpoint)."""
        return self._temp()[1]

    @temperature_setpoint_c.setter
    def temperature_setpoint_c(self, value: float) -> None:
        self._check_temperature("temperature_setpoint_c", value)
        self.write(f"TEMP, S{value:.1f}")

    @property
    def humidity_setpoint_pct(self) -> float | None:
        """The humidity setpoint in % (None: humidity control off). Resolution 1 %."""
        return self._humi()[1]

    @humidity_setpoint_pct.setter
    def humidity_setpoint_pct(self, value: float | None) -> None:
        if value is not None:
            self._check_humidity("humidity_setpoint_pct", value)
        self.write(self._humidity_command(value))

    @staticmethod
    def _humidity_command(value: float | None) -> str:
        return "HUMI, SOFF" if value is None else f"HUMI, S{value:.0f}"

    def temperature_limits_c(self) -> tuple[float, float]:
        """(lower, upper) temperature alarm limits of the controller."""
        _, _, high, low = self._temp()
        return low, high

    def set_temperature_limits(self, low_c: float, high_c: float) -> None:
        """Set the controller's temperature alarm limits (`TEMP, L..` / `TEMP, H..`)."""
        self._check_temperature("low_c", low_c)
        self._check_temperature("high_c", high_c)
        if not low_c < high_c:
            raise InstrumentValueError(self.name, "low_c", low_c, f"must be below high_c = {high_c:g}")
        self.write(f"TEMP, H{high_c:.1f}")
        self.write(f"TEMP, L{low_c:.1f}")

    def read(self) -> tuple[float, float | None]:
        status = self._monitor()
        return status[0], status[1]

    def setpoint(self) -> tuple[float, float | None]:
        temperature = self.temperature_setpoint_c
        return temperature, (self.humidity_setpoint_pct if self.options.humidity else None)

    # -- mode, status, alarms --------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """'constant', 'standby', 'off', or 'program' (a program runs, or has ended and holds)."""
        reply = self.ask("MODE?").strip().upper()
        if reply not in ESPEC_MODES:
            raise self.reply_error("MODE?", f"unknown mode {reply!r}")
        return ESPEC_MODES[reply]

    @mode.setter
    def mode(self, mode: str) -> None:
        self.write(f"MODE, {self._mode_value(mode, MODES).upper()}")

    def _monitor(self) -> tuple[float, float | None, str, int]:
        temperature, humidity, mode, alarms = self._fields("MON?", 4)
        if mode.upper() not in ESPEC_MODES or not alarms.isdigit():
            raise self.reply_error("MON?", f"unexpected mode or alarm count: {mode!r}, {alarms!r}")
        temperature_c = self._number("MON?", temperature)
        humidity_pct = self._number("MON?", humidity, blank_ok=True)
        return temperature_c, humidity_pct, ESPEC_MODES[mode.upper()], int(alarms)  # type: ignore[return-value]

    def status(self) -> ChamberStatus:
        temperature, humidity, mode, alarms = self._monitor()
        return ChamberStatus(temperature, humidity, mode, self.alarm() if alarms else None)

    def alarm_codes(self) -> list[int]:
        """The controller's active alarm codes (`ALARM?` -> `n,code,...`), empty if none."""
        fields = [field.strip() for field in self.ask("ALARM?").split(",")]
        if not all(field.isdigit() for field in fields) or int(fields[0]) != len(fields) - 1:
            raise self.reply_error("ALARM?", f"not 'count,code,...': {','.join(fields)!r}")
        return [int(code) for code in fields[1:]]

    def alarm(self) -> str | None:
        codes = self.alarm_codes()
        if not codes:
            return None
        return f"ESPEC alarm code{'s' if len(codes) > 1 else ''} {', '.join(map(str, codes))}"

    # -- operation ------------------------------------------------------------------------------------------
    def set_climate(self, temperature_c: float, humidity_pct: float | None = None,
                    ramp_c_per_min: float | None = None) -> None:
        self.check_climate(temperature_c, humidity_pct, ramp_c_per_min)
        if ramp_c_per_min is None:
            self.write(f"TEMP, S{temperature_c:.1f}")
            if self.options.humidity:
                self.write(self._humidity_command(humidity_pct))
            self.write("MODE, CONSTANT")
            return
        start_c = self.temperature_c
        minutes = max(1, math.ceil(abs(temperature_c - start_c) / ramp_c_per_min - 1e-9))  # never faster
        if minutes > MAX_PROGRAM_MINUTES:
            raise InstrumentValueError(self.name, "ramp_c_per_min", ramp_c_per_min,
                                       f"{start_c:g} -> {temperature_c:g} °C takes {minutes} min, more than one "
                                       f"program step holds ({MAX_PROGRAM_MINUTES} min)")
        humidity = "" if humidity_pct is None else f" HUMI{humidity_pct:.0f}"
        time = f"{minutes // 60}:{minutes % 60}"
        self.write(f"RUN PRGM, TEMP{start_c:.1f} TIME{time} GOTEMP{temperature_c:.1f}{humidity}")
        # the constant setpoints too, so that CONSTANT later means the same climate
        self.write(f"TEMP, S{temperature_c:.1f}")
        if self.options.humidity:
            self.write(self._humidity_command(humidity_pct))

    def standby(self) -> None:
        self.write("MODE, STANDBY")


# --------------------------------------------------------------------------------------------------------
# Watlow F4
# --------------------------------------------------------------------------------------------------------

# Protocol addresses (reference sheet 2.5 [V]; ChamberConnectLibrary watlowf4.py for 4043/4060/4122)
PV = (100, 104)  # process value, input 1 (air temperature) / input 2 (humidity)
ALARM_STATUS = (102, 106)  # [U] alarm 1 / alarm 2 status; not on the reference sheet, check the F4 manual
PROFILE_STATUS = 200  # 2 running, 3 holding/paused; anything else: static setpoints
STATIC_SETPOINT = (300, 319)  # loop 1 / loop 2
RANGE_LOW = (602, 612)  # input range low; range high is the next register
DECIMALS = (606, 616)  # [U] decimal point of input 1 / 2: 0 = whole units, 1 = tenths, 2, 3
PROFILE_TERMINATE = 1217
EVENT_OUTPUT_1 = 2000  # event output n at 2000 + 10 (n - 1)
PROFILE_NUMBER, PROFILE_STEP, PROFILE_ACTION, STEP_TYPE = 4000, 4001, 4002, 4003
STEP_RATE = 4043  # ramp-rate step: rate in units per minute x 10 [U: the unit per minute]
STEP_TARGET = (4044, 4045)  # loop 1 / loop 2 target of the step
END_ACTION = 4060  # end step: 0 hold, 1 control off, 2 all off, 3 idle
PROFILE_SETPOINT = (4122, 4123)  # present setpoint while a profile runs
START, RAMP_RATE_STEP, END_STEP, END_HOLD = 5, 2, 5, 0
PROFILE_RUNNING, PROFILE_HOLDING = 2, 3
ALARM_STATES = {1: "low", 2: "high"}  # [U]


class WatlowF4Options(ChamberOptions):
    condition_event: int | None = Field(None, ge=1, le=8, description="event output that turns conditioning on")
    humidity_event: int | None = Field(None, ge=1, le=8, description="event output that enables the humidity loop")
    ramp_profile: int | None = Field(None, ge=1, le=40, description="profile reserved for ramps (overwritten)")
    idle_temperature_c: float | None = Field(None, description="safe state without a condition event")


def _signed(raw: int) -> int:
    return raw - 0x10000 if raw & 0x8000 else raw


class WatlowF4Chamber(ClimateChamber, ModbusInstrument):
    """Chamber with a Watlow F4 ramp/soak controller over Modbus (TCP through a gateway, or RTU)."""

    Options = WatlowF4Options
    terminals = r"air"
    default_timeout_s = 2.0

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._decimals: dict[int, int] = {}  # per input; configuration, read once

    # -- registers ------------------------------------------------------------------------------------------
    def _register(self, address: int) -> int:
        return self.transport.read_holding_registers(address)[0]

    def _set(self, address: int, value: int) -> None:
        self.transport.write_register(address, value & 0xFFFF)

    def _scale(self, loop: int) -> int:
        if loop not in self._decimals:
            decimals = self._register(DECIMALS[loop])
            if decimals > 3:
                raise self.reply_error(f"read holding {DECIMALS[loop]}",
                                       f"decimal point setting {decimals} is not 0..3")
            self._decimals[loop] = decimals
        return 10 ** self._decimals[loop]

    def _read_scaled(self, address: int, loop: int) -> float:
        scale = self._scale(loop)
        return _signed(self._register(address)) / scale

    def _write_scaled(self, address: int, value: float, loop: int) -> None:
        self._set(address, round(value * self._scale(loop)))

    def _event(self, number: int, on: bool) -> None:
        self._set(EVENT_OUTPUT_1 + 10 * (number - 1), int(on))

    def _event_on(self, number: int) -> bool:
        return self._register(EVENT_OUTPUT_1 + 10 * (number - 1)) == 1

    def identify(self) -> str:
        scale = self._scale(0)
        low, high = (_signed(raw) / scale for raw in self.transport.read_holding_registers(RANGE_LOW[0], 2))
        return f"Watlow F4 at {self.transport.endpoint} unit {self.transport.unit}: input 1 range {low:g} .. {high:g}"

    # -- process values and setpoints -----------------------------------------------------------------------
    @property
    def temperature_c(self) -> float:
        return self._read_scaled(PV[0], 0)

    @property
    def humidity_pct(self) -> float:
        return self._read_scaled(PV[1], 1)

    def read(self) -> tuple[float, float | None]:
        return self.temperature_c, (self.humidity_pct if self.options.humidity else None)

    def _humidity_controlled(self) -> bool:
        if not self.options.humidity:
            return False
        return self.options.humidity_event is None or self._event_on(self.options.humidity_event)

    def setpoint(self) -> tuple[float, float | None]:
        addresses = PROFILE_SETPOINT if self._register(PROFILE_STATUS) in (PROFILE_RUNNING, PROFILE_HOLDING) \
            else STATIC_SETPOINT
        temperature = self._read_scaled(addresses[0], 0)
        return temperature, (self._read_scaled(addresses[1], 1) if self._humidity_controlled() else None)

    # -- mode, status, alarms --------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """'program', 'paused' (a profile), else 'constant' or 'standby' (from the condition event)."""
        profile = self._register(PROFILE_STATUS)
        if profile == PROFILE_RUNNING:
            return "program"
        if profile == PROFILE_HOLDING:
            return "paused"
        event = self.options.condition_event
        return "constant" if event is None or self._event_on(event) else "standby"

    @mode.setter
    def mode(self, mode: str) -> None:
        """'constant' (static setpoints, conditioning on) or 'standby'; the F4 has no 'off'."""
        if self._mode_value(mode, ("constant", "standby")) == "standby":
            self.standby()
            return
        self._set(PROFILE_TERMINATE, 1)
        if self.options.condition_event is not None:
            self._event(self.options.condition_event, True)

    def status(self) -> ChamberStatus:
        temperature, humidity = self.read()
        return ChamberStatus(temperature, humidity, self.mode, self.alarm())

    def alarm(self) -> str | None:
        active = []
        for number, address in enumerate(ALARM_STATUS, start=1):
            state = self._register(address)
            if state:
                active.append(f"alarm {number} {ALARM_STATES.get(state, 'active')} (status {state})")
        return "; ".join(active) or None

    # -- operation ------------------------------------------------------------------------------------------
    def set_climate(self, temperature_c: float, humidity_pct: float | None = None,
                    ramp_c_per_min: float | None = None) -> None:
        self.check_climate(temperature_c, humidity_pct, ramp_c_per_min)
        options = self.options
        if ramp_c_per_min is not None:
            if options.ramp_profile is None:
                raise InstrumentValueError(self.name, "ramp_c_per_min", ramp_c_per_min,
                                           "a ramp needs a profile reserved for it: set options.ramp_profile")
            if round(ramp_c_per_min * 10) < 1:
                raise InstrumentValueError(self.name, "ramp_c_per_min", ramp_c_per_min, "resolution is 0.1 /min")
        self._scale(0)  # the decimal points first: nothing is written if they cannot be read
        if humidity_pct is not None:
            self._scale(1)
        self._set(PROFILE_TERMINATE, 1)  # back to the static setpoints
        if ramp_c_per_min is not None:
            self._run_ramp(temperature_c, humidity_pct, ramp_c_per_min)
        self._write_scaled(STATIC_SETPOINT[0], temperature_c, 0)
        if humidity_pct is not None:
            self._write_scaled(STATIC_SETPOINT[1], humidity_pct, 1)
        if options.humidity and options.humidity_event is not None:
            self._event(options.humidity_event, humidity_pct is not None)
        if options.condition_event is not None:
            self._event(options.condition_event, True)

    def _run_ramp(self, temperature_c: float, humidity_pct: float | None, ramp_c_per_min: float) -> None:
        """Write the reserved profile as: step 1 ramp at the rate to the target, step 2 end (hold); start it.

        Without a humidity setpoint the step's loop-2 target is not written: switch the loop off with
        `options.humidity_event`, or the profile keeps the humidity target it held before."""
        profile = self.options.ramp_profile
        self._set(PROFILE_NUMBER, profile)
        self._set(PROFILE_STEP, 1)
        self._set(STEP_TYPE, RAMP_RATE_STEP)
        self._set(STEP_RATE, round(ramp_c_per_min * 10))
        self._write_scaled(STEP_TARGET[0], temperature_c, 0)
        if humidity_pct is not None:
            self._write_scaled(STEP_TARGET[1], humidity_pct, 1)
        self._set(PROFILE_STEP, 2)
        self._set(STEP_TYPE, END_STEP)
        self._set(END_ACTION, END_HOLD)
        self._set(PROFILE_NUMBER, profile)
        self._set(PROFILE_STEP, 1)
        self._set(PROFILE_ACTION, START)

    def standby(self) -> None:
        """Terminate any profile; condition event off (or, without one, the idle setpoint if given)."""
        self._set(PROFILE_TERMINATE, 1)
        if self.options.condition_event is not None:
            self._event(self.options.condition_event, False)
        elif self.options.idle_temperature_c is not None:
            self._write_scaled(STATIC_SETPOINT[0], self.options.idle_temperature_c, 0)
