"""Simulated RF immunity chain instruments over the physics component `rf` (sim/physics/rf.py):

- `SimSmb100a`: R&S SMB100A signal generator (SCPI, LF); its settings drive the chain.
- `SimNrp`: R&S NRP power sensor (SCPI, LF): averages the power of the signal wired to `input` (default
  `rf.adaptor_power_w`) over its measurement time, with noise that shrinks with the averaging count.
- `SimCbaAmplifier`: Teseq CBA-style amplifier (RFON/RFOF/ZEROATT/FULLATT, CRLF), IEEE 488.2 event register
  (`*ESR?`: command error 32, execution error 16, device-dependent error 8). Its wiring (`cdn`, `antenna`)
  says where the output goes and which meter it reaches.
- `SimHi6100Probe`: ETS-Lindgren HI-61xx field probe (CR framing, `:`-prefixed replies, `:E<n>` errors),
  reading the field wired to `field` (default `rf.field_v_per_m`). Off (`:E7`) until `I` switches it on."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from meterlab.quantities import AsTuple
from meterlab.sim.devices.base import LineDevice
from meterlab.sim.servers.scpi import (
    DATA_OUT_OF_RANGE,
    DATA_TYPE_ERROR,
    ILLEGAL_PARAMETER,
    MISSING_PARAMETER,
    ScpiCall,
    ScpiDevice,
    ScpiError,
    choice,
)
from meterlab.sim.world import Scheduled

INVALID_SUFFIX = (-131, "Invalid suffix")
INIT_IGNORED = (-213, "Init ignored")
DATA_STALE = (-230, "Data corrupt or stale")
FREQUENCY_UNITS = {"": 1.0, "HZ": 1.0, "KHZ": 1e3, "MHZ": 1e6, "GHZ": 1e9}
QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:E[+-]?\d+)?)\s*([A-Z]*)")


def quantity(call: ScpiCall, index: int = 0, *, units: dict[str, float] | None = None,
             minimum: float | None = None, maximum: float | None = None) -> float:
    """A number with an optional unit suffix (`150000Hz`, `1 kHz`, `-20 dBm`); out of range -> -222."""
    if index >= len(call.args):
        raise ScpiError(*MISSING_PARAMETER)
    match = QUANTITY.fullmatch(call.args[index].strip().upper())
    if not match:
        raise ScpiError(*DATA_TYPE_ERROR)
    units = units or {"": 1.0}
    if match.group(2) not in units:
        raise ScpiError(*INVALID_SUFFIX)
    value = float(match.group(1)) * units[match.group(2)]
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ScpiError(*DATA_OUT_OF_RANGE)
    return value


def boolean(call: ScpiCall, index: int = 0) -> bool:
    if index >= len(call.args):
        raise ScpiError(*MISSING_PARAMETER)
    text = call.args[index].strip().upper()
    if text in ("ON", "1"):
        return True
    if text in ("OFF", "0"):
        return False
    raise ScpiError(*ILLEGAL_PARAMETER)


def number_text(value: float) -> str:
    return f"{value:.12g}"


# --------------------------------------------------------------------------------------------------------
# Signal generator
# --------------------------------------------------------------------------------------------------------


class SignalGeneratorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: str = "Rohde&Schwarz,SMB100A,1406.6000k03/180123,3.1.19.15-3.20.390.24"
    min_frequency_hz: float = Field(9e3, gt=0)
    max_frequency_hz: float = Field(3.2e9, gt=0, description="the frequency option (B103: 3.2 GHz)")
    min_level_dbm: float = -145.0
    max_level_dbm: float = 30.0


class SimSmb100a(ScpiDevice):
    Params = SignalGeneratorParams
    SHAPES = {"SINE": "SINE", "SQUare": "SQU", "TRIangle": "TRI", "TRAPeze": "TRAP"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.identity = self.params.identity
        self.chain = self.world.component("rf")
        with self.world.lock:
            self.chain.attach_generator(self.name)
        self.lfo_shape = "SINE"
        self.reset()
        self._add_commands()

    def reset(self) -> None:
        """*RST [U]: 1 GHz, -30 dBm, RF off, AM off (internal source, 30 %), LF generator 1 kHz sine."""
        with self.world.now():
            self.chain.set_generator(output_on=False, frequency_hz=1e9, level_dbm=-30.0, am_on=False,
                                     am_internal=True, am_depth_pct=30.0, am_frequency_hz=1000.0)
        self.lfo_shape = "SINE"

    def _set(self, **changes) -> None:
        with self.world.now():
            self.chain.set_generator(**changes)

    def _add_commands(self) -> None:
        add, p, g = self.scpi.add, self.params, self.chain.generator
        add("[SOURce#:]FREQuency[:CW]", lambda call: self._set(frequency_hz=quantity(
            call, units=FREQUENCY_UNITS, minimum=p.min_frequency_hz, maximum=p.max_frequency_hz)))
        add("[SOURce#:]FREQuency[:CW]?", lambda call: number_text(g.frequency_hz))
        add("[SOURce#:]POWer[:LEVel][:IMMediate][:AMPLitude]", lambda call: self._set(level_dbm=quantity(
            call, units={"": 1.0, "DBM": 1.0}, minimum=p.min_level_dbm, maximum=p.max_level_dbm)))
        add("[SOURce#:]POWer[:LEVel][:IMMediate][:AMPLitude]?", lambda call: number_text(g.level_dbm))
        add("[SOURce#:]AM:SOURce", lambda call: self._set(
            am_internal=choice(call, {"INTernal": "INT", "EXTernal": "EXT"}) == "INT"))
        add("[SOURce#:]AM:SOURce?", lambda call: "INT" if g.am_internal else "EXT")
        add("[SOURce#:]AM:DEPTh", lambda call: self._set(am_depth_pct=quantity(
            call, units={"": 1.0, "PCT": 1.0}, minimum=0.0, maximum=100.0)))
        add("[SOURce#:]AM:DEPTh?", lambda call: number_text(g.am_depth_pct))
        add("[SOURce#:]AM[:STATe]", lambda call: self._set(am_on=boolean(call)))
        add("[SOURce#:]AM[:STATe]?", lambda call: "1" if g.am_on else "0")
        add("[SOURce#:]LFOutput#[:FREQuency]", lambda call: self._set(am_frequency_hz=quantity(
            call, units=FREQUENCY_UNITS, minimum=0.1, maximum=1e6)))
        add("[SOURce#:]LFOutput#[:FREQuency]?", lambda call: number_text(g.am_frequency_hz))
        add("[SOURce#:]LFOutput#:SHAPe", self._set_shape)
        add("[SOURce#:]LFOutput#:SHAPe?", lambda call: self.lfo_shape)
        add("OUTPut#[:STATe]", lambda call: self._set(output_on=boolean(call)))
        add("OUTPut#[:STATe]?", lambda call: "1" if g.output_on else "0")

    def _set_shape(self, call: ScpiCall) -> None:
        self.lfo_shape = choice(call, self.SHAPES)  # the chain's AM average assumes a sine tone


# --------------------------------------------------------------------------------------------------------
# Power sensor
# --------------------------------------------------------------------------------------------------------


class PowerSensorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: str = "ROHDE&SCHWARZ,NRP6A,1424.6138K02/100926,02.40.21022401"
    min_frequency_hz: float = Field(8e3, gt=0)
    max_frequency_hz: float = Field(6e9, gt=0)
    aperture_s: float = Field(0.02, gt=0, description="a measurement lasts 2 x aperture x averaging count")
    noise_pct: float = Field(0.1, ge=0, description="1-sigma relative noise of a single reading")
    noise_floor_w: float = Field(1e-10, ge=0, description="1-sigma additive noise of a single reading")
    input_attenuation_db: float = Field(0.0, ge=0, description="between the wired point and the sensor")
    max_fetch_wait_real_s: float = Field(10.0, gt=0)


class SimNrp(ScpiDevice):
    Params = PowerSensorParams
    MEASURING = 16

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.identity = self.params.identity
        self.input = self.signal("input") or "rf.adaptor_power_w"
        self.rng = self.world.rng()
        self._timer: Scheduled | None = None
        self.reset()
        self._add_commands()

    def reset(self) -> None:
        with self.world.lock:
            self._abort()
            self.continuous = False
            self.frequency_hz = 1e9
            self.averaging_count = 1
            self.averaging_on = True
            self.averaging_auto = True
            self.termination = "MOV"
            self.result: float | None = None

    def _add_commands(self) -> None:
        add, p = self.scpi.add, self.params
        add("[SENSe#:]FREQuency", lambda call: setattr(self, "frequency_hz", quantity(
            call, units=FREQUENCY_UNITS, minimum=p.min_frequency_hz, maximum=p.max_frequency_hz)))
        add("[SENSe#:]FREQuency?", lambda call: number_text(self.frequency_hz))
        add("[SENSe#:]AVERage:COUNt:AUTO", lambda call: setattr(self, "averaging_auto", boolean(call)))
        add("[SENSe#:]AVERage:COUNt:AUTO?", lambda call: "1" if self.averaging_auto else "0")
        add("[SENSe#:]AVERage:COUNt", self._set_count)
        add("[SENSe#:]AVERage:COUNt?", lambda call: str(self.averaging_count))
        add("[SENSe#:]AVERage[:STATe]", lambda call: setattr(self, "averaging_on", boolean(call)))
        add("[SENSe#:]AVERage[:STATe]?", lambda call: "1" if self.averaging_on else "0")
        add("[SENSe#:]AVERage:TCONtrol", lambda call: setattr(self, "termination", choice(
            call, {"MOVing": "MOV", "REPeat": "REP"})))
        add("[SENSe#:]AVERage:TCONtrol?", lambda call: self.termination)
        add("[SENSe#:]FUNCtion", self._set_function)
        add("[SENSe#:]FUNCtion?", lambda call: '"POW:AVG"')
        add("INITiate#:CONTinuous", self._set_continuous)
        add("INITiate#:CONTinuous?", lambda call: "1" if self.continuous else "0")
        add("INITiate#[:IMMediate]", self._init)
        add("ABORt#", lambda call: self._locked_abort())
        add("STATus:OPERation:CONDition?", self._condition)
        add("FETCh#[:SCALar][:POWer][:AVG]?", self._fetch)

    def _set_count(self, call: ScpiCall) -> None:
        count = quantity(call, minimum=1, maximum=1 << 20)
        if count != int(count):
            raise ScpiError(*ILLEGAL_PARAMETER)
        self.averaging_count = int(count)

    def _set_function(self, call: ScpiCall) -> None:
        if not call.args:
            raise ScpiError(*MISSING_PARAMETER)
        if call.args[0].strip().strip("\"'").upper() not in ("POW:AVG", "POWER:AVG", "POW:AVERAGE"):
            raise ScpiError(*ILLEGAL_PARAMETER)

    def _set_continuous(self, call: ScpiCall) -> None:
        on = boolean(call)
        with self.world.now():
            self._abort()
            self.continuous = on

    # -- measuring ------------------------------------------------------------------------------------------
    def _count(self) -> int:
        return self.averaging_count if self.averaging_on else 1

    def _reading_w(self) -> float:
        """One averaged reading of the wired signal now (call under the world lock)."""
        signal = self.world.signals.get(self.input)
        power_w = float(signal.read()) if signal is not None else 0.0
        power_w *= 10 ** (-self.params.input_attenuation_db / 10)
        root_n = math.sqrt(self._count())
        relative = self.params.noise_pct / 100 / root_n
        return power_w * (1 + relative * float(self.rng.normal())) + self.params.noise_floor_w / root_n * float(
            self.rng.normal())

    def _init(self, call: ScpiCall) -> None:
        with self.world.now() as world:
            if self._timer is not None:
                raise ScpiError(*INIT_IGNORED)
            self.result = None
            duration_s = 2 * self.params.aperture_s * self._count()
            self._timer = world.schedule(world.t_s + duration_s, self._complete)

    def _complete(self) -> None:
        self.result, self._timer = self._reading_w(), None

    def _abort(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _locked_abort(self) -> None:
        with self.world.now():
            self._abort()

    def _condition(self, call: ScpiCall) -> str:
        with self.world.now():
            return str(self.MEASURING if self._timer is not None else 0)

    def _fetch(self, call: ScpiCall) -> str:
        if self.continuous:
            with self.world.now():
                return f"{self._reading_w():.9e}"
        self.world.wait_until(lambda: self._timer is None, timeout_real_s=self.params.max_fetch_wait_real_s)
        with self.world.lock:
            if self.result is None:
                self.errors.push(*DATA_STALE)
                return self.invalid_reply
            return f"{self.result:.9e}"


# --------------------------------------------------------------------------------------------------------
# Amplifier
# --------------------------------------------------------------------------------------------------------


class AmplifierParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: str = "AMETEK CTS,CBA 1G-070,1234567,V2.10"


class SimCbaAmplifier(LineDevice):
    Params = AmplifierParams
    terminators = (b"\r\n", b"\n")
    reply_terminator = b"\r\n"
    COMMAND_ERROR, EXECUTION_ERROR, DEVICE_ERROR = 32, 16, 8

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.chain = self.world.component("rf")
        with self.world.lock:
            self.chain.attach_amplifier(self.name, self.wiring)
            self._trips_seen = self.chain.amplifier.interlock_trips
        self.esr = 0
        self._commands = {"RFON": ("rf_on", True), "RFOF": ("rf_on", False),
                          "ZEROATT": ("operate", True), "FULLATT": ("operate", False)}

    def handle(self, text: str) -> str | None:
        command = text.strip().upper()
        if command in self._commands:
            key, value = self._commands[command]
            with self.world.now():
                if not self.chain.set_amplifier(**{key: value}):
                    self.esr |= self.EXECUTION_ERROR  # the interlock is open: it stays off
            return None
        if command == "*IDN?":
            return self.params.identity
        if command == "*OPC?":
            return "1"
        if command == "*ESR?":
            with self.world.now():
                trips = self.chain.amplifier.interlock_trips
            if trips != self._trips_seen:
                self._trips_seen, self.esr = trips, self.esr | self.DEVICE_ERROR
            value, self.esr = self.esr, 0
            return str(value)
        if command == "*CLS":
            self.esr = 0
            return None
        if command == "*RST":
            with self.world.now():
                self.chain.set_amplifier(operate=False, rf_on=False)
            return None
        self.esr |= self.COMMAND_ERROR
        return None

    def error_reply(self, text: str, message: str | None) -> str | None:
        """An internal fault: nothing is switched, the event register flags a device-dependent error."""
        self.esr |= self.DEVICE_ERROR
        return self.handle(text) if text.strip().endswith("?") else None


# --------------------------------------------------------------------------------------------------------
# Field probe
# --------------------------------------------------------------------------------------------------------


class FieldProbeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field("6105", min_length=4, max_length=4)
    firmware: str = Field("V1.03.0007", max_length=10)
    serial: str = Field("00234567", max_length=8)
    calibration: str = Field("03152025", max_length=8, description="calibration date as the probe states it")
    battery_v: float = Field(3.9, ge=0)
    battery_low_v: float = Field(3.3, ge=0, description="below this every reply carries the fail flag F")
    axis_weights: Annotated[tuple[float, float, float], AsTuple] = Field((0.45, 0.6, 0.66),
                                                     description="field direction in the probe's axes")
    noise_pct: float = Field(0.5, ge=0, description="1-sigma relative noise per axis")
    temperature_c: float = 24.0

    @field_validator("axis_weights")
    @classmethod
    def _direction(cls, weights: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(w < 0 for w in weights) or not any(weights):
            raise ValueError("give three non-negative weights, not all zero")
        return weights


def five(value: float) -> str:
    """A probe field of 5 characters with a floating decimal point: 1.234, 12.34, 123.4, 1234."""
    value = max(0.0, value)
    for decimals in (3, 2, 1, 0):
        text = f"{value:.{decimals}f}"
        if len(text) <= 5:
            return text.rjust(5)
    return "99999"


class SimHi6100Probe(LineDevice):
    Params = FieldProbeParams
    terminators = (b"\r", b"\n")
    reply_terminator = b"\r"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.field_signal = self.signal("field") or "rf.field_v_per_m"
        self.rng = self.world.rng()
        norm = math.sqrt(sum(w * w for w in self.params.axis_weights))
        self.axes = [w / norm for w in self.params.axis_weights]
        self.on = False

    @property
    def flag(self) -> str:
        return "N" if self.params.battery_v >= self.params.battery_low_v else "F"

    def handle(self, text: str) -> str | None:
        command = text.strip().upper()
        p = self.params
        if command == "I":
            self.on = True
            return f":I{p.model}{p.firmware:<10}{p.serial:<8}{p.calibration:<8}{self.flag}"
        if not self.on:
            return ":E7"
        if command in ("D3", "D5"):
            axes = self._axes()
            values = axes + [math.sqrt(sum(v * v for v in axes))] if command == "D5" else axes
            return ":D" + "".join(five(v) for v in values) + self.flag
        if re.fullmatch(r"D\d+", command):
            return ":E4"
        if command == "B":
            return f":B{p.battery_v:.2f}{self.flag}"
        if command in ("TC", "TF"):
            value = p.temperature_c if command == "TC" else p.temperature_c * 9 / 5 + 32
            return ":T" + five(value) + self.flag
        return ":E3"

    def _axes(self) -> list[float]:
        with self.world.now() as world:
            signal = world.signals.get(self.field_signal)
            field = float(signal.read()) if signal is not None else 0.0
        sigma = self.params.noise_pct / 100
        return [field * w * (1 + sigma * float(self.rng.normal())) for w in self.axes]

    def error_reply(self, text: str, message: str | None) -> str | None:
        return message or ":E5"
