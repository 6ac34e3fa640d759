"""The RF immunity chain (IEC 61000-4-6 conducted, 61000-4-3 radiated): signal generator, RF power meter,
power amplifier, radiated-field probe. Reference sheet §1.5 and §1.6.

- `RohdeSchwarzSmb100a`: R&S SMB100A/SMC100A signal generator, SCPI over LAN (port 5025), LF [V: command
  set]. Frequency, level in dBm, AM (source, depth, internal LF generator frequency and shape), RF output.
- `RohdeSchwarzNrp`: R&S NRP power sensor (NRPxxS(N) over LAN/USBTMC), SCPI, LF [V: command set]. `FETC?`
  answers in W; the driver converts to dBm.
- `RfAmplifier`: a power amplifier whose mnemonics come from a per-model table (`AMPLIFIER_MODELS`); the
  Teseq/AMETEK CBA table: RFON/RFOF, ZEROATT = operate, FULLATT = standby, `*IDN?`, CRLF [V, mpylab].
- `EtsLindgrenHi6100`: ETS-Lindgren HI-61xx isotropic field probe behind its fibre-optic serial converter:
  `I`, `D5` -> x/y/z/composite V/m, `B` battery, `:E<n>` errors, CR framing.

Ranges marked [U] are from memory of the data sheets: keep them behind the class attributes and correct
them per model. Levels, frequencies, dwell and modulation of a test come from the severity profile
(procedures/standards/*.yaml), never from here."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from meterlab.instruments.base import MessageInstrument, ScpiInstrument, control
from meterlab.instruments.validators import strict_discrete_set, strict_integer_range, strict_range

INVALID_READING = 9.9e37  # SCPI "not a number" (9.91E+37)
POLL_REAL_S = 0.002  # between status polls of a measurement


def watts_to_dbm(power_w: float) -> float:
    """10·log10(P / 1 mW); -inf for P <= 0 (a sensor reading noise around zero)."""
    return 10 * math.log10(power_w / 1e-3) if power_w > 0 else -math.inf


def dbm_to_watts(power_dbm: float) -> float:
    return 1e-3 * 10 ** (power_dbm / 10)


def _on_off(value: bool) -> str:
    return "ON" if value else "OFF"


def _boolean(text: str) -> bool:
    """SCPI booleans read back as 1/0 (R&S); ON/OFF accepted too."""
    value = text.strip().upper()
    if value in ("1", "ON"):
        return True
    if value in ("0", "OFF"):
        return False
    raise ValueError(text)


_boolean.__name__ = "a SCPI boolean (1/0)"


# --------------------------------------------------------------------------------------------------------
# Signal generator
# --------------------------------------------------------------------------------------------------------


class RohdeSchwarzSmb100a(ScpiInstrument):
    """R&S SMB100A (SMC100A alike). Ranges [U]: 9 kHz .. 6 GHz is the widest frequency option (B106; B101:
    1.1 GHz, B103: 3.2 GHz: the instrument refuses beyond its option with -222); level -145 .. +30 dBm
    (specified to about +18 dBm, overrange above); LF generator 0.1 Hz .. 1 MHz."""

    terminals = r"rf_out"
    read_termination = "\n"
    write_termination = "\n"

    frequency_hz = control(
        "SOUR:FREQ:CW?", "SOUR:FREQ:CW %.12g", "CW frequency in Hz.",
        validator=strict_range, values=(9e3, 6e9),
    )
    level_dbm = control(
        "SOUR:POW:LEV:IMM:AMPL?", "SOUR:POW:LEV:IMM:AMPL %.2f", "RF level in dBm (unmodulated carrier).",
        validator=strict_range, values=(-145.0, 30.0),
    )
    am_source = control(
        "SOUR:AM:SOUR?", "SOUR:AM:SOUR %s", "AM source: 'internal' (LF generator) or 'external'.",
        validator=strict_discrete_set, values={"internal": "INT", "external": "EXT"}, map_values=True, cast=str,
    )
    am_depth_pct = control(
        "SOUR:AM:DEPT?", "SOUR:AM:DEPT %.1f", "AM depth in percent.",
        validator=strict_range, values=(0.0, 100.0),
    )
    lfo_frequency_hz = control(
        "SOUR:LFO:FREQ?", "SOUR:LFO:FREQ %.9g", "Frequency of the internal LF generator (the AM tone) in Hz.",
        validator=strict_range, values=(0.1, 1e6),
    )
    lfo_shape = control(
        "SOUR:LFO:SHAP?", "SOUR:LFO:SHAP %s", "Shape of the LF generator [U]: sine, square, triangle, trapeze.",
        validator=strict_discrete_set, map_values=True, cast=str,
        values={"sine": "SINE", "square": "SQU", "triangle": "TRI", "trapeze": "TRAP"},
    )
    am_enabled = control(
        "SOUR:AM:STAT?", "SOUR:AM:STAT %s", "Amplitude modulation on/off.",
        validator=strict_discrete_set, values=(True, False), set_process=_on_off, cast=_boolean,
    )
    rf_output = control(
        "OUTP:STAT?", "OUTP:STAT %s", "RF output on/off.",
        validator=strict_discrete_set, values=(True, False), set_process=_on_off, cast=_boolean,
    )

    def configure_am(self, depth_pct: float, frequency_hz: float, shape: str = "sine") -> None:
        """Internal AM: `depth_pct` at `frequency_hz` (values from the severity profile), modulation off."""
        cls = type(self)
        depth, tone, wave = (cls.am_depth_pct.to_instrument(self, depth_pct),
                             cls.lfo_frequency_hz.to_instrument(self, frequency_hz),
                             cls.lfo_shape.to_instrument(self, shape))  # all checked before anything is sent
        self.write("SOUR:AM:SOUR INT")
        self.write(f"SOUR:AM:DEPT {depth:.1f}")
        self.write(f"SOUR:LFO:FREQ {tone:.9g}")
        self.write(f"SOUR:LFO:SHAP {wave}")

    def confirm(self) -> None:
        """Make sure every command sent so far has been executed and none failed (SYST:ERR? round trip)."""
        self.check_errors()

    def rf_off(self) -> None:
        """RF output off, confirmed by reading it back."""
        self.write("OUTP:STAT OFF")
        if self.rf_output:
            raise self.instrument_error("OUTP:STAT OFF", "the RF output is still on")

    def safe_state(self) -> None:
        """RF output off (read back); modulation off."""
        self.rf_off()
        self.write("SOUR:AM:STAT OFF")


# --------------------------------------------------------------------------------------------------------
# Power meter
# --------------------------------------------------------------------------------------------------------


class PowerMeterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    measurement_timeout_s: float = Field(10.0, gt=0, le=600, description="bound of one INIT..FETC? cycle")


class RohdeSchwarzNrp(ScpiInstrument):
    """R&S NRP power sensor, continuous average power. Setup and measurement after the reference sheet:
    `INIT:CONT OFF`, `SENS:FUNC "POW:AVG"`, `SENS:FREQ`, averaging; `INIT:IMM`, poll `STAT:OPER:COND?`
    until the MEASuring bit (16 [U]) clears, `FETC?` in W. Ranges [U] for an NRP6A: 8 kHz .. 6 GHz,
    averaging count 1 .. 2^20; another sensor = a subclass with its own `frequency_hz` range."""

    Options = PowerMeterOptions
    terminals = r"input"
    read_termination = "\n"
    write_termination = "\n"
    MEASURING: ClassVar[int] = 16  # STAT:OPER:COND? bit [U]

    frequency_hz = control(
        "SENS:FREQ?", "SENS:FREQ %.12g", "Frequency of the measured signal (the sensor's correction), Hz.",
        validator=strict_range, values=(8e3, 6e9),
    )
    averaging_count = control(
        "SENS:AVER:COUN?", "SENS:AVER:COUN %d", "Number of averaged readings (fixed, not automatic).",
        validator=strict_integer_range, values=(1, 1 << 20), cast=lambda text: int(float(text)),
    )
    averaging_enabled = control(
        "SENS:AVER:STAT?", "SENS:AVER:STAT %s", "Averaging on/off.",
        validator=strict_discrete_set, values=(True, False), set_process=_on_off, cast=_boolean,
    )

    def configure(self, frequency_hz: float, averaging_count: int = 16) -> None:
        """Single-shot average power at `frequency_hz` with a fixed averaging count (reference sheet)."""
        cls = type(self)
        frequency = cls.frequency_hz.to_instrument(self, frequency_hz)
        count = cls.averaging_count.to_instrument(self, averaging_count)
        self.write("INIT:CONT OFF")
        self.write('SENS:FUNC "POW:AVG"')
        self.write(f"SENS:FREQ {frequency:.12g}")
        self.write("SENS:AVER:COUN:AUTO OFF")
        self.write(f"SENS:AVER:COUN {count:d}")
        self.write("SENS:AVER:STAT ON")
        self.write("SENS:AVER:TCON REP")

    @property
    def measuring(self) -> bool:
        """True while a measurement is running (STAT:OPER:COND? MEASuring bit)."""
        return bool(int(self._number("STAT:OPER:COND?", "a status register")) & self.MEASURING)

    def measure_power_w(self, *, timeout_s: float | None = None,
                        between_polls: Callable[[], None] | None = None) -> float:
        """One measurement: INIT:IMM, wait (bounded) until it completes, FETC? -> W. `between_polls` waits
        between two status polls (default POLL_REAL_S of real time; the simulated lab's virtual clock passes
        its own, for the measurement takes simulated time)."""
        timeout_s = timeout_s or self.options.measurement_timeout_s  # type: ignore[attr-defined]
        self.write("INIT:IMM")
        deadline = time.monotonic() + timeout_s
        while self.measuring:
            if time.monotonic() > deadline:
                self.write("ABOR")
                raise self.instrument_error("INIT:IMM", f"the measurement did not complete within {timeout_s:g} s")
            between_polls() if between_polls is not None else time.sleep(POLL_REAL_S)
        return self._number("FETC?", "a power in W")

    def _number(self, command: str, what: str) -> float:
        """The first value of a numeric reply; 9.91E+37 (no valid value) raises with the error queue."""
        reply = self.ask(command)
        try:
            value = float(reply.split(",")[0])
        except ValueError:
            raise self.reply_error(command, f"not {what}: {reply!r}") from None
        if value >= INVALID_READING:
            errors = self.read_error_queue()
            why = "; ".join(f'{code},"{message}"' for code, message in errors) or "no error queued"
            raise self.instrument_error(command, f"no valid value (9.91E+37): {why}")
        return value

    def measure_power_dbm(self, *, timeout_s: float | None = None,
                          between_polls: Callable[[], None] | None = None) -> float:
        """One measurement in dBm (-inf if the sensor reads <= 0 W, i.e. noise without a signal)."""
        return watts_to_dbm(self.measure_power_w(timeout_s=timeout_s, between_polls=between_polls))

    def abort(self) -> None:
        self.write("ABOR")

    def safe_state(self) -> None:
        """A sensor drives nothing: stop a running measurement."""
        self.abort()


# --------------------------------------------------------------------------------------------------------
# Amplifier
# --------------------------------------------------------------------------------------------------------


class AmplifierCommands(BaseModel):
    """One amplifier model's mnemonics. `error_register`: an IEEE 488.2 `*ESR?`-style query whose query,
    device, execution and command error bits (4|8|16|32) mean the last commands failed; `complete`: a query
    that answers once the previous commands are executed (`*OPC?`). With neither, writes are unconfirmed."""

    model_config = ConfigDict(extra="forbid")
    rf_on: str
    rf_off: str
    operate: str
    standby: str
    identify: str = "*IDN?"
    error_register: str | None = "*ESR?"
    complete: str | None = "*OPC?"


AMPLIFIER_MODELS: dict[str, AmplifierCommands] = {
    # Teseq/AMETEK CBA 1G-xxx, CBA 400M-xxx [V: mnemonics and CRLF, mpylab]; *ESR?/*OPC? [U]: IEEE 488.2
    # common commands, which a device answering *IDN? normally implements.
    "teseq_cba": AmplifierCommands(rf_on="RFON", rf_off="RFOF", operate="ZEROATT", standby="FULLATT"),
}
ESR_ERRORS = {4: "query error", 8: "device-dependent error", 16: "execution error", 32: "command error"}


class AmplifierOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field("teseq_cba", description=f"a key of AMPLIFIER_MODELS: {', '.join(AMPLIFIER_MODELS)}")
    commands: AmplifierCommands | None = Field(None, description="this amplifier's own table (overrides model)")

    @model_validator(mode="after")
    def _known_model(self) -> AmplifierOptions:
        if self.commands is None and self.model not in AMPLIFIER_MODELS:
            raise ValueError(f"unknown amplifier model {self.model!r}; known: {', '.join(AMPLIFIER_MODELS)} "
                             "(or give `commands:`)")
        return self


class RfAmplifier(MessageInstrument):
    """An RF power amplifier switched by mnemonics from its model's table (GPIB or LAN, CRLF).

    Wiring: `cdn` and/or `antenna` -> the meter its output reaches (the simulated lab disturbs that meter)."""

    Options = AmplifierOptions
    terminals = r"cdn|antenna"
    read_termination = "\r\n"
    write_termination = "\r\n"

    @property
    def commands(self) -> AmplifierCommands:
        options: AmplifierOptions = self.options  # type: ignore[assignment]
        return options.commands or AMPLIFIER_MODELS[options.model]

    def identify(self) -> str:
        return self.ask(self.commands.identify).strip()

    def operate(self) -> None:
        self._switch(self.commands.operate)

    def standby(self) -> None:
        self._switch(self.commands.standby)

    def rf_on(self) -> None:
        self._switch(self.commands.rf_on)

    def rf_off(self) -> None:
        self._switch(self.commands.rf_off)

    def _switch(self, *commands: str) -> None:
        for command in commands:
            self.write(command)
        self.confirm(commands[-1])

    def confirm(self, command: str | None = None) -> None:
        """Raise InstrumentError if the amplifier flags an error; else make sure it executed the commands."""
        table = self.commands
        command = command or self.transport.last_command
        if table.error_register:
            reply = self.ask(table.error_register)
            try:
                bits = int(float(reply))
            except ValueError:
                raise self.reply_error(table.error_register, f"not an event register: {reply!r}") from None
            failed = [text for bit, text in ESR_ERRORS.items() if bits & bit]
            if failed:
                raise self.instrument_error(command, f"{table.error_register} = {bits}: {', '.join(failed)}")
        elif table.complete:
            self.ask(table.complete)

    def check_errors(self) -> None:
        self.confirm()

    def safe_state(self) -> None:
        """RF off, then standby (full attenuation); both sent before the confirmation."""
        self._switch(self.commands.rf_off, self.commands.standby)


# --------------------------------------------------------------------------------------------------------
# Field probe
# --------------------------------------------------------------------------------------------------------

PROBE_ERRORS = {  # [V: codes E1..E7 reference sheet; meanings after a public HI-6006 driver, U]
    "1": "communication error", "2": "buffer full", "3": "invalid command", "4": "invalid parameter",
    "5": "hardware error", "6": "parity error", "7": "probe off (send I to switch it on)",
}


@dataclass(frozen=True)
class FieldReading:
    x_v_per_m: float
    y_v_per_m: float
    z_v_per_m: float
    composite_v_per_m: float


@dataclass(frozen=True)
class ProbeIdentity:
    model: str
    firmware: str
    serial: str
    calibration: str
    battery_ok: bool


class EtsLindgrenHi6100(MessageInstrument):
    """ETS-Lindgren HI-61xx probe (HI-60xx alike at 9600 7O1): replies `:` + command letter + data + battery
    flag (N ok, F fail), errors `:E1`..`:E7`. `D5` gives four 5-character fields x, y, z, composite in V/m
    [U: field widths after a public HI-6006 driver]. Command termination CR [U]."""

    terminals = r"field"
    read_termination = "\r"
    write_termination = "\r"

    def check_reply(self, command: str, reply: str) -> str:
        text = reply.strip()
        match = re.fullmatch(r":E(\d)", text)
        if match:
            code = match.group(1)
            raise self.instrument_error(command, f"E{code}: {PROBE_ERRORS.get(code, 'unknown error')}")
        if not text.startswith(":" + command[0]) or text[-1:] not in ("N", "F"):
            raise self.reply_error(command, f"unexpected reply {reply!r}")
        return text

    def identity(self) -> ProbeIdentity:
        """`I`: model, firmware, serial number, calibration date; also switches the probe's laser on."""
        reply = self.ask("I")
        body = reply[2:-1]
        if len(body) != 30:
            raise self.reply_error("I", f"expected 30 characters of identity, got {reply!r}")
        return ProbeIdentity(f"HI-{body[0:4]}", body[4:14].strip(), body[14:22].strip(), body[22:30].strip(),
                             reply.endswith("N"))

    def identify(self) -> str:
        ident = self.identity()
        return f"ETS-Lindgren {ident.model}, S/N {ident.serial}, firmware {ident.firmware}, cal {ident.calibration}"

    def read_field(self) -> FieldReading:
        """`D5`: x, y, z and composite field in V/m. InstrumentError if the battery flag says fail."""
        reply = self.ask("D5")
        body = reply[2:-1]
        try:
            if len(body) != 20:
                raise ValueError(body)
            values = [float(body[i:i + 5]) for i in range(0, 20, 5)]
        except ValueError:
            raise self.reply_error("D5", f"expected four 5-character fields, got {reply!r}") from None
        if reply.endswith("F"):
            raise self.instrument_error("D5", "battery fail: the reading cannot be trusted")
        return FieldReading(*values)

    def field_v_per_m(self) -> float:
        return self.read_field().composite_v_per_m

    def battery(self) -> tuple[float, bool]:
        """`B`: battery voltage [U: format `:B<volts>N`] and whether the probe calls it good."""
        reply = self.ask("B")
        try:
            return float(reply[2:-1]), reply.endswith("N")
        except ValueError:
            raise self.reply_error("B", f"not a battery voltage: {reply!r}") from None

    def safe_state(self) -> None:
        """A probe emits nothing: there is nothing to make safe."""

