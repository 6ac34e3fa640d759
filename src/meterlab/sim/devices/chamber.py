"""Simulated climate chamber controllers over the chamber physics (`wiring: {air: chamber}`).

SimEspecChamber: an ESPEC P-300-style controller on a line server, CRLF. Settings answer `OK:<command>`,
errors `NA:CMD ERR` (unknown command), `NA:PARA ERR` (malformed argument), `NA:DATA OUT OF RANGE` (the
value stays as it was). Replies come after the controller's latency (0.2 s for monitor queries, 0.5 s
for settings, simulated seconds: scaled by the clock). Modes: OFF, STANDBY (not conditioning), CONSTANT
(the constant setpoints), RUN (the single-step remote program `RUN PRGM`, which holds its end values
when its time is over; stored programs `MODE, RUN<n>` are not simulated).

SimWatlowF4: a Watlow F4 on Modbus TCP, holding registers only (ILLEGAL FUNCTION otherwise), scaled
16-bit signed values. Unknown addresses are ILLEGAL DATA ADDRESS; values out of range ILLEGAL DATA VALUE,
checked before anything changes. The conditioning and the humidity loop follow the event outputs named by
the bench options `condition_event` / `humidity_event` (always on without them). Profiles: a ramp-rate step
followed by an end step is run (the ramp from the air temperature at the start, at the step's rate); at
the end of the profile the simulated controller goes back to its static setpoints (a simplification: the
driver writes them equal to the profile's target). Pause/resume (1209/1210) are not simulated."""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from meterlab.instruments.chamber import (
    ALARM_STATUS,
    DECIMALS,
    END_ACTION,
    END_STEP,
    EVENT_OUTPUT_1,
    PROFILE_ACTION,
    PROFILE_NUMBER,
    PROFILE_RUNNING,
    PROFILE_SETPOINT,
    PROFILE_STATUS,
    PROFILE_STEP,
    PROFILE_TERMINATE,
    PV,
    RAMP_RATE_STEP,
    RANGE_LOW,
    START,
    STATIC_SETPOINT,
    STEP_RATE,
    STEP_TARGET,
    STEP_TYPE,
)
from meterlab.sim.devices.base import LineDevice, ModbusDevice

S_PER_MIN = 60.0


class _Signals:
    """The chamber physics' signals, by the name wired to the `air` terminal."""

    def __init__(self, device: Any):
        self.prefix = device.signal("air") or "chamber"
        self.world = device.world

    def read(self, quantity: str) -> Any:
        return self.world.signals[f"{self.prefix}.{quantity}"].read()

    def write(self, quantity: str, value: Any) -> None:
        self.world.write(f"{self.prefix}.{quantity}", value)


# --------------------------------------------------------------------------------------------------------
# ESPEC
# --------------------------------------------------------------------------------------------------------


class EspecParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rom: str = "P-300 Ver 1.20 (simulated)"
    min_temperature_c: float = -40.0
    max_temperature_c: float = 150.0
    humidity: bool = True
    min_humidity_pct: float = Field(20.0, ge=0, le=100)
    max_humidity_pct: float = Field(98.0, ge=0, le=100)
    monitor_latency_s: float = Field(0.2, ge=0, description="simulated seconds before a query is answered")
    setting_latency_s: float = Field(0.5, ge=0, description="simulated seconds before a setting is answered")


class EspecError(Exception):
    """An `NA:` reply."""


CMD_ERR, PARA_ERR, OUT_OF_RANGE = "NA:CMD ERR", "NA:PARA ERR", "NA:DATA OUT OF RANGE"
NUMBER = r"-?\d+(?:\.\d*)?"
PROGRAM_TOKEN = re.compile(rf"(GOTEMP|GOHUMI|TEMP|HUMI|TIME)\s*({NUMBER}(?::\d+)?)")


class SimEspecChamber(LineDevice):
    Params = EspecParams
    terminators = (b"\r\n",)
    reply_terminator = b"\r\n"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chamber = _Signals(self)
        p = self.params
        with self.world.now():
            self.temperature_setpoint_c = float(self.chamber.read("setpoint_c"))
        self.humidity_setpoint_pct: float | None = None
        self.temperature_limits_c = [p.min_temperature_c, p.max_temperature_c]  # low, high
        self.humidity_limits_pct = [p.min_humidity_pct, p.max_humidity_pct]
        self.mode = "STANDBY"
        self.program: dict[str, Any] | None = None  # the remote program while mode is RUN
        self._queries = {"TEMP?": self._temp, "HUMI?": self._humi, "MON?": self._mon, "MODE?": self._mode,
                         "ALARM?": self._alarm, "ROM?": lambda arg: p.rom, "TYPE?": self._type}
        self._settings = {"TEMP": self._set_temp, "HUMI": self._set_humi, "MODE": self._set_mode,
                          "POWER": self._power, "RUN PRGM": self._run_program, "PRGM": self._program_command}

    def handle(self, text: str) -> str | None:
        command, _, argument = text.partition(",")
        command, argument = command.strip().upper(), argument.strip().upper()
        query = command in self._queries
        with self.world.now():
            try:
                if query:
                    reply = self._queries[command](argument)
                elif command in self._settings:
                    self._settings[command](argument)
                    reply = f"OK:{text}"
                else:
                    reply = CMD_ERR
            except EspecError as exc:
                reply = str(exc)
        self.wait_sim(self.params.monitor_latency_s if query else self.params.setting_latency_s)
        return reply

    def error_reply(self, text: str, message: str | None) -> str | None:
        return message or "NA:CONT NOT READY-1"

    # -- queries ----------------------------------------------------------------------------------------------
    def _program_progress(self) -> float:
        """0..1 of the running remote program's time."""
        program = self.program
        assert program is not None
        duration_s = program["minutes"] * S_PER_MIN
        return min(1.0, (self.world.t_s - program["start_s"]) / duration_s)

    def _present_setpoints(self) -> tuple[float, float | None]:
        if self.mode != "RUN" or self.program is None:
            return self.temperature_setpoint_c, self.humidity_setpoint_pct
        program, share = self.program, self._program_progress()
        temperature = program["TEMP"] + (program.get("GOTEMP", program["TEMP"]) - program["TEMP"]) * share
        humidity = program.get("HUMI")
        if humidity is not None:
            humidity += (program.get("GOHUMI", humidity) - humidity) * share
        return temperature, humidity

    def _temp(self, argument: str) -> str:
        low, high = self.temperature_limits_c
        setpoint, _ = self._present_setpoints()
        return f"{self.chamber.read('temperature_c'):.1f},{setpoint:.1f},{high:.1f},{low:.1f}"

    def _humi(self, argument: str) -> str:
        if not self.params.humidity:
            raise EspecError(CMD_ERR)
        low, high = self.humidity_limits_pct
        _, setpoint = self._present_setpoints()
        shown = "OFF" if setpoint is None else f"{setpoint:.0f}"
        return f"{self.chamber.read('humidity_pct'):.0f},{shown},{high:.0f},{low:.0f}"

    def _mon(self, argument: str) -> str:
        humidity = f"{self.chamber.read('humidity_pct'):.0f}" if self.params.humidity else ""
        alarms = 1 if self.chamber.read("alarm") else 0
        return f"{self.chamber.read('temperature_c'):.1f},{humidity},{self._mode(argument)},{alarms}"

    def _mode(self, argument: str) -> str:
        if argument == "DETAIL" and self.mode == "RUN":
            return "RMT RUN END HOLD" if self._program_progress() >= 1.0 else "RMT RUN"
        if argument not in ("", "DETAIL"):
            raise EspecError(PARA_ERR)
        return self.mode

    def _alarm(self, argument: str) -> str:
        code = self.chamber.read("alarm")
        return f"1,{code}" if code else "0"

    def _type(self, argument: str) -> str:
        sensors = "T,W" if self.params.humidity else "T"
        return f"{sensors},P300,{self.params.max_temperature_c:.1f}"

    # -- settings (check everything, then change) ---------------------------------------------------------------
    @staticmethod
    def _tokens(argument: str) -> list[tuple[str, str]]:
        tokens = []
        for token in re.split(r"[\s,]+", argument.strip()):
            if token:
                match = re.fullmatch(rf"([SHL])\s*({NUMBER}|OFF)", token)
                if not match:
                    raise EspecError(PARA_ERR)
                tokens.append((match.group(1), match.group(2)))
        if not tokens:
            raise EspecError(PARA_ERR)
        return tokens

    @staticmethod
    def _within(value: float, low: float, high: float) -> float:
        if not low <= value <= high:
            raise EspecError(OUT_OF_RANGE)
        return value

    def _set_temp(self, argument: str) -> None:
        p = self.params
        new: dict[str, float] = {}
        for key, text in self._tokens(argument):
            if text == "OFF":
                raise EspecError(PARA_ERR)
            new[key] = self._within(float(text), p.min_temperature_c, p.max_temperature_c)
        if "S" in new:
            self.temperature_setpoint_c = new["S"]
        if "L" in new:
            self.temperature_limits_c[0] = new["L"]
        if "H" in new:
            self.temperature_limits_c[1] = new["H"]
        self._apply()

    def _set_humi(self, argument: str) -> None:
        p = self.params
        if not p.humidity:
            raise EspecError(CMD_ERR)
        new: dict[str, float | None] = {}
        for key, text in self._tokens(argument):
            if text == "OFF":
                if key != "S":
                    raise EspecError(PARA_ERR)
                new[key] = None
            else:
                new[key] = self._within(float(text), p.min_humidity_pct, p.max_humidity_pct)
        if "S" in new:
            self.humidity_setpoint_pct = new["S"]
        if new.get("L") is not None:
            self.humidity_limits_pct[0] = new["L"]  # type: ignore[assignment]
        if new.get("H") is not None:
            self.humidity_limits_pct[1] = new["H"]  # type: ignore[assignment]
        self._apply()

    def _set_mode(self, argument: str) -> None:
        if argument not in ("CONSTANT", "STANDBY", "OFF"):
            raise EspecError(PARA_ERR)  # RUN<n>: stored programs are not simulated
        self.mode, self.program = argument, None
        self._apply()

    def _power(self, argument: str) -> None:
        if argument not in ("ON", "OFF"):
            raise EspecError(PARA_ERR)
        self._set_mode("CONSTANT" if argument == "ON" else "OFF")

    def _run_program(self, argument: str) -> None:
        """`RUN PRGM, TEMP20.0 TIME1:30 GOTEMP40.0 HUMI50 GOHUMI60`: one step, ramping over TIME."""
        p = self.params
        rest = PROGRAM_TOKEN.sub("", argument)
        if rest.strip(" ,"):
            raise EspecError(PARA_ERR)
        program: dict[str, Any] = {}
        for key, text in PROGRAM_TOKEN.findall(argument):
            if key == "TIME":
                hours, _, minutes = text.partition(":")
                if not minutes or not hours.isdigit() or not minutes.isdigit():
                    raise EspecError(PARA_ERR)
                program["minutes"] = int(hours) * 60 + int(minutes)
            elif key.endswith("TEMP"):
                program[key] = self._within(float(text), p.min_temperature_c, p.max_temperature_c)
            elif not p.humidity:
                raise EspecError(PARA_ERR)
            else:
                program[key] = self._within(float(text), p.min_humidity_pct, p.max_humidity_pct)
        if "TEMP" not in program or not program.get("minutes") or ("GOHUMI" in program and "HUMI" not in program):
            raise EspecError(PARA_ERR)
        program["start_s"] = self.world.t_s
        self.mode, self.program = "RUN", program
        self._apply()

    def _program_command(self, argument: str) -> None:
        words = [word.strip() for word in argument.split(",")]
        if words[0] != "END" or len(words) > 2:
            raise EspecError(PARA_ERR)  # PAUSE, CONTINUE, ADVANCE, RUN: stored programs are not simulated
        end_mode = {"STANDBY": "STANDBY", "OFF": "OFF", "CONST": "CONSTANT", "HOLD": "RUN"}.get(
            words[1] if len(words) == 2 else "STANDBY")
        if end_mode is None:
            raise EspecError(PARA_ERR)
        if self.mode != "RUN":
            raise EspecError("NA:CONT NOT READY-1")
        if end_mode != "RUN":
            self.mode, self.program = end_mode, None
        self._apply()

    def _apply(self) -> None:
        """Tell the physics what the controller now drives."""
        running = self.mode in ("CONSTANT", "RUN")
        if self.mode == "RUN" and self.program is not None:
            program = self.program
            target = program.get("GOTEMP", program["TEMP"])
            ramp = abs(target - program["TEMP"]) / program["minutes"] or None
            humidity = program.get("GOHUMI", program.get("HUMI"))
        else:
            target, ramp, humidity = self.temperature_setpoint_c, None, self.humidity_setpoint_pct
        self.chamber.write("setpoint_c", target)
        self.chamber.write("ramp_c_per_min", ramp)
        self.chamber.write("humidity_setpoint_pct", humidity if self.params.humidity else None)
        self.chamber.write("running", running)


# --------------------------------------------------------------------------------------------------------
# Watlow F4
# --------------------------------------------------------------------------------------------------------


class WatlowF4Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decimals: int = Field(1, ge=0, le=3, description="decimal point of input 1 (temperature)")
    humidity_decimals: int = Field(1, ge=0, le=3)
    min_temperature_c: float = -40.0
    max_temperature_c: float = 150.0
    humidity: bool = True
    min_humidity_pct: float = Field(0.0, ge=0, le=100)
    max_humidity_pct: float = Field(100.0, ge=0, le=100)


EVENTS = {EVENT_OUTPUT_1 + 10 * n: n + 1 for n in range(8)}
STEP_REGISTERS = (STEP_TYPE, STEP_RATE, *STEP_TARGET, END_ACTION)


def _signed(raw: int) -> int:
    return raw - 0x10000 if raw & 0x8000 else raw


class SimWatlowF4(ModbusDevice):
    Params = WatlowF4Params

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chamber = _Signals(self)
        p = self.params
        options = self.entry.options
        self.condition_event: int | None = options.get("condition_event")
        self.humidity_event: int | None = options.get("humidity_event")
        self.scales = (10 ** p.decimals, 10 ** p.humidity_decimals)
        self.ranges = ((p.min_temperature_c, p.max_temperature_c), (p.min_humidity_pct, p.max_humidity_pct))
        with self.world.now():
            self.static = [round(self.chamber.read("setpoint_c") * self.scales[0]),
                           round(self.chamber.read("humidity_pct") * self.scales[1])]
        self.events = [0] * 8
        self.pointer = [1, 1]  # profile, step being edited
        self.profiles: dict[int, dict[int, dict[int, int]]] = {}
        self.running_profile: dict[str, Any] | None = None
        with self.world.now():
            self._apply()

    # -- the map --------------------------------------------------------------------------------------------
    def _profile(self) -> dict[str, Any] | None:
        """The running profile; at its end the controller goes back to the static setpoints."""
        if self.running_profile is not None and self.world.t_s >= self.running_profile["end_s"]:
            self.running_profile = None
            self._apply()
        return self.running_profile

    def _scaled(self, value: float, loop: int) -> int:
        return round(value * self.scales[loop]) & 0xFFFF

    def _registers(self) -> dict[int, int]:
        p = self.params
        profile = self._profile()
        step = self.profiles.get(self.pointer[0], {}).get(self.pointer[1], {})
        registers = {
            PV[0]: self._scaled(self.chamber.read("temperature_c"), 0), PV[0] + 1: 0,
            ALARM_STATUS[0]: 2 if self.chamber.read("alarm") else 0, PV[0] + 3: 0,
            PROFILE_STATUS: PROFILE_RUNNING if profile else 0,
            STATIC_SETPOINT[0]: self.static[0] & 0xFFFF,
            RANGE_LOW[0]: self._scaled(p.min_temperature_c, 0), RANGE_LOW[0] + 1: self._scaled(p.max_temperature_c, 0),
            DECIMALS[0]: p.decimals, PROFILE_TERMINATE: 0,
            PROFILE_NUMBER: self.pointer[0], PROFILE_STEP: self.pointer[1], PROFILE_ACTION: 0,
            PROFILE_SETPOINT[0]: self._scaled(self._profile_setpoint(profile), 0) if profile else 0,
        }
        registers.update({address: step.get(address, 0) for address in STEP_REGISTERS})
        registers.update({address: self.events[n - 1] for address, n in EVENTS.items()})
        if p.humidity:
            registers.update({
                PV[1]: self._scaled(self.chamber.read("humidity_pct"), 1), PV[1] + 1: 0, ALARM_STATUS[1]: 0,
                PV[1] + 3: 0, STATIC_SETPOINT[1]: self.static[1] & 0xFFFF,
                RANGE_LOW[1]: self._scaled(p.min_humidity_pct, 1),
                RANGE_LOW[1] + 1: self._scaled(p.max_humidity_pct, 1),
                DECIMALS[1]: p.humidity_decimals,
                PROFILE_SETPOINT[1]: (profile["humidity"] if profile and profile["humidity"] is not None
                                      else self.static[1]) & 0xFFFF,
            })
        else:
            registers.pop(STEP_TARGET[1])
        return registers

    def _profile_setpoint(self, profile: dict[str, Any]) -> float:
        """The ramp's present setpoint: from the start towards the target at the step's rate."""
        elapsed_min = (self.world.t_s - profile["start_s"]) / S_PER_MIN
        gap = profile["target"] - profile["start"]
        return profile["start"] + math.copysign(min(abs(gap), profile["rate"] * elapsed_min), gap)

    def read(self, table: str, address: int, count: int) -> list[int] | int:
        if table != "holding":
            return self.ILLEGAL_FUNCTION
        with self.world.now():
            registers = self._registers()
        if any(a not in registers for a in range(address, address + count)):
            return self.ILLEGAL_ADDRESS
        return [registers[a] for a in range(address, address + count)]

    # -- writes ---------------------------------------------------------------------------------------------
    def _in_range(self, raw: int, loop: int) -> bool:
        low, high = self.ranges[loop]
        return low <= _signed(raw) / self.scales[loop] <= high

    def _check(self, address: int, value: int, pointer: list[int]) -> int | None:
        """The exception code for writing `value` to `address`, or None if the write is allowed."""
        humidity = self.params.humidity
        if address == STATIC_SETPOINT[0] or address == STEP_TARGET[0]:
            return None if self._in_range(value, 0) else self.ILLEGAL_VALUE
        if address in (STATIC_SETPOINT[1], STEP_TARGET[1]):
            if not humidity:
                return self.ILLEGAL_ADDRESS
            return None if self._in_range(value, 1) else self.ILLEGAL_VALUE
        allowed = {PROFILE_TERMINATE: (1, 1), PROFILE_NUMBER: (1, 40), PROFILE_STEP: (1, 256), STEP_TYPE: (0, 5),
                   STEP_RATE: (1, 9999), END_ACTION: (0, 3), **{a: (0, 1) for a in EVENTS}}
        if address == PROFILE_ACTION:
            return None if value == START and self._startable(pointer) else self.ILLEGAL_VALUE
        if address not in allowed:
            return self.ILLEGAL_ADDRESS
        low, high = allowed[address]
        if not low <= value <= high:
            return self.ILLEGAL_VALUE
        if address == PROFILE_NUMBER:
            pointer[0] = value
        elif address == PROFILE_STEP:
            pointer[1] = value
        return None

    def _startable(self, pointer: list[int]) -> bool:
        """The simulated controller runs a ramp-rate step followed by an end step."""
        steps = self.profiles.get(pointer[0], {})
        first, after = steps.get(pointer[1], {}), steps.get(pointer[1] + 1, {})
        return first.get(STEP_TYPE) == RAMP_RATE_STEP and first.get(STEP_RATE, 0) > 0 \
            and STEP_TARGET[0] in first and after.get(STEP_TYPE) == END_STEP

    def write(self, table: str, address: int, values: list[int]) -> int | None:
        if table != "holding":
            return self.ILLEGAL_FUNCTION
        with self.world.now():
            pointer = list(self.pointer)
            for offset, value in enumerate(values):
                code = self._check(address + offset, int(value), pointer)
                if code is not None:
                    return code
            for offset, value in enumerate(values):
                self._write_one(address + offset, int(value))
            self._apply()
        return None

    def _write_one(self, address: int, value: int) -> None:
        if address in STATIC_SETPOINT:
            self.static[STATIC_SETPOINT.index(address)] = _signed(value)
        elif address in EVENTS:
            self.events[EVENTS[address] - 1] = value
        elif address == PROFILE_NUMBER:
            self.pointer[0] = value
        elif address == PROFILE_STEP:
            self.pointer[1] = value
        elif address in STEP_REGISTERS:
            self.profiles.setdefault(self.pointer[0], {}).setdefault(self.pointer[1], {})[address] = value
        elif address == PROFILE_TERMINATE:
            self.running_profile = None
        elif address == PROFILE_ACTION:
            self._start()

    def _start(self) -> None:
        step = self.profiles[self.pointer[0]][self.pointer[1]]
        start = float(self.chamber.read("temperature_c"))
        target = _signed(step[STEP_TARGET[0]]) / self.scales[0]
        rate = step[STEP_RATE] / 10
        humidity = step.get(STEP_TARGET[1])
        self.running_profile = {
            "start_s": self.world.t_s, "start": start, "target": target, "rate": rate,
            "humidity": None if humidity is None else _signed(humidity),
            "end_s": self.world.t_s + abs(target - start) / rate * S_PER_MIN,
        }

    def _event_on(self, number: int | None) -> bool:
        return number is None or self.events[number - 1] == 1

    def _apply(self) -> None:
        """Tell the physics what the controller now drives."""
        profile = self.running_profile
        humidity = self.static[1] if profile is None or profile["humidity"] is None else profile["humidity"]
        controlled = self.params.humidity and self._event_on(self.humidity_event)
        self.chamber.write("setpoint_c", (profile["target"] if profile else self.static[0] / self.scales[0]))
        self.chamber.write("ramp_c_per_min", profile["rate"] if profile else None)
        self.chamber.write("humidity_setpoint_pct", humidity / self.scales[1] if controlled else None)
        self.chamber.write("running", self._event_on(self.condition_event))
