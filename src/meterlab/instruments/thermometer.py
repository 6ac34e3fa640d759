"""Precision thermometer readout, Fluke/Hart 1524 (2 channels) and 1529 Chub-E4 (4 channels) style.

SCPI-like commands (reference sheet 3.5): `*IDN?`, `FETC? <ch>` (the latest reading of a channel), `READ? <ch>`
(a new reading), `UNIT:TEMP C|F|K` / `UNIT:TEMP?`, errors in the `SYST:ERR?` queue. Readings are the bare
value in the selected unit, e.g. `20.013`; `9.91E+37` means no valid reading (no probe, probe fault), and
the error queue says why. [U] the exact `FETC?`/`READ?` reply layout, the channel argument and the
invalid-reading value are not verified for the 1524/1529: check them in the technical guide of the model.
Framing: LF out, CRLF in (as the 1521/1522 [V]); a bench entry may override it.

Wiring: ch<n> = the rig signal the probe on channel n measures (`ch1: water.temperature_c`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from meterlab.instruments.base import ScpiInstrument, control
from meterlab.instruments.errors import InstrumentValueError
from meterlab.instruments.validators import strict_discrete_set

INVALID_READING = 9.9e37  # 9.91E+37: no valid reading [U]
ZERO_CELSIUS_K = 273.15
TO_CELSIUS = {"C": lambda v: v, "F": lambda v: (v - 32.0) * 5.0 / 9.0, "K": lambda v: v - ZERO_CELSIUS_K}


class ThermometerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: int = Field(1, ge=1, le=4, description="the channel read when none is named (the line probe)")
    channel_count: Literal[2, 4] = Field(2, description="2 on a 1524, 4 on a 1529 Chub-E4")


class Fluke1524(ScpiInstrument):
    Options = ThermometerOptions
    terminals = r"ch[1-4]"
    read_termination = "\r\n"
    write_termination = "\n"
    default_timeout_s = 3.0

    unit = control(
        "UNIT:TEMP?", "UNIT:TEMP %s", "Unit of the readings: 'C', 'F' or 'K'.",
        validator=strict_discrete_set, values={"C": "C", "F": "F", "K": "K"}, map_values=True, cast=str,
    )

    def _channel(self, channel: int | None) -> int:
        channel = self.options.channel if channel is None else channel  # type: ignore[attr-defined]
        count = self.options.channel_count  # type: ignore[attr-defined]
        if isinstance(channel, bool) or not isinstance(channel, int) or not 1 <= channel <= count:
            raise InstrumentValueError(self.name, "channel", channel, f"channels are 1 .. {count}")
        return channel

    def fetch(self, channel: int | None = None) -> float:
        """The latest reading of `channel`, in the instrument's unit."""
        return self._reading(f"FETC? {self._channel(channel)}")

    def measure(self, channel: int | None = None) -> float:
        """A new reading of `channel` (`READ?`), in the instrument's unit."""
        return self._reading(f"READ? {self._channel(channel)}")

    def temperature_c(self, channel: int | None = None, *, new: bool = False) -> float:
        """The reading of `channel` in °C, whatever unit the instrument shows (asks the unit first)."""
        channel = self._channel(channel)
        unit = self.unit
        value = self.measure(channel) if new else self.fetch(channel)
        return TO_CELSIUS[unit](value)

    def _reading(self, command: str) -> float:
        reply = self.ask(command)
        try:
            value = float(reply)
        except ValueError:
            raise self.reply_error(command, f"not a temperature: {reply!r}") from None
        if abs(value) >= INVALID_READING:
            errors = self.read_error_queue()
            why = "; ".join(f'{code},"{message}"' for code, message in errors) or "no error queued"
            raise self.instrument_error(command, f"no valid reading (9.91E+37): {why}")
        return value

    def safe_state(self) -> None:
        """A thermometer drives nothing: there is nothing to make safe."""
