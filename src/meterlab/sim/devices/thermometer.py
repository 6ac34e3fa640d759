"""Simulated Fluke/Hart 1524/1529 thermometer readout: each channel reads the rig signal wired to it.

`FETC? [<ch>]` and `READ? [<ch>]` (channel 1 if none) answer the temperature of the wired signal now (the
simulated readout samples continuously), plus the probe's error (`offset_c`) and noise, rounded to the
resolution, in the selected unit. A channel with nothing wired answers 9.91E+37 and queues -241 "Hardware
missing"; a channel beyond the model's count is -222 (no reply), a unit other than C/F/K is -224 and the
unit stays as it was."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from meterlab.sim.servers.scpi import ILLEGAL_PARAMETER, ScpiCall, ScpiDevice, ScpiError, choice, number

HARDWARE_MISSING = (-241, "Hardware missing")
FROM_CELSIUS = {"C": lambda c: c, "F": lambda c: c * 9.0 / 5.0 + 32.0, "K": lambda c: c + 273.15}


class ThermometerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: str = "FLUKE,1524,B21345,1.10"
    resolution: float = Field(0.001, gt=0, description="of the displayed value, in the selected unit")
    offset_c: float = Field(0.0, description="the probe's error: reading - true temperature")
    noise_c: float = Field(0.0, ge=0, description="1-sigma reading noise")


class SimFluke1524(ScpiDevice):
    Params = ThermometerParams
    terminators = (b"\n", b"\r")
    reply_terminator = b"\r\n"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.identity = self.params.identity
        self.channel_count = int(self.entry.options.get("channel_count", 2))
        self.unit = "C"
        self._decimals = max(0, -math.floor(math.log10(self.params.resolution) + 1e-9))
        self._rng = self.world.rng() if self.params.noise_c else None
        add = self.scpi.add
        add("FETCh[:TEMPerature]?", self._reading)
        add("READ[:TEMPerature]?", self._reading)
        add("MEASure[:TEMPerature]?", self._reading)
        add("UNIT:TEMPerature", self._set_unit)
        add("UNIT:TEMPerature?", lambda call: self.unit)

    def reset(self) -> None:
        self.unit = "C"

    def _set_unit(self, call: ScpiCall) -> None:
        self.unit = choice(call, {"C": "C", "CEL": "C", "F": "F", "FAR": "F", "K": "K"})

    def _reading(self, call: ScpiCall) -> str:
        channel = 1
        if call.args:
            value = number(call, 0, minimum=1, maximum=self.channel_count)
            if value != int(value):
                raise ScpiError(*ILLEGAL_PARAMETER)
            channel = int(value)
        signal = self.signal(f"ch{channel}")
        if signal is None:
            self.errors.push(*HARDWARE_MISSING)
            return self.invalid_reply
        with self.world.now() as world:
            celsius = float(world.signals[signal].read()) + self.params.offset_c
        if self._rng is not None:
            celsius += float(self._rng.normal(0.0, self.params.noise_c))
        shown = round(FROM_CELSIUS[self.unit](celsius) / self.params.resolution) * self.params.resolution
        return f"{shown:.{self._decimals}f}"
