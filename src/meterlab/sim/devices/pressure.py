"""Simulated Druck PACE pressure indicator/controller: SCPI with header echo, reading the signal at its port.

The port signal's unit comes from its name: `*_bar` is a gauge pressure in bar (the water rig's
`water.pressure_bar`), `*_pa` an absolute pressure in Pa (the gas rig's). An absolute sensor adds
`atmosphere_pa` to a gauge signal; a gauge sensor subtracts it from an absolute one. The controller part
(setpoint, output on/off) is accepted and remembered; it moves the line only for a bench entry with
`options: {controller: true}` whose port signal has a regulator in the world (`<port>.setpoint`, e.g.
`water.pressure_bar.setpoint`): with the output on, the regulator holds the setpoint (converted to the port's
reference), with the output off it stops regulating; where the regulator also has a ramp rate (`<port>.slew_per_s`, in the
port's unit per second, e.g. the gas supply's `gas_supply.pressure_pa.slew_per_s`), the slew rate set with
`:SOUR:PRES:SLEW` drives it (0: as fast as the regulator can). Otherwise the simulated PACE is an indicator on the
line. A gauge sensor reads against the signal wired to its `reference` port (`reference: ambient.pressure_pa`), or
`atmosphere_pa` without one; the sensor is the scenario's `sensor`, else the bench's `equipment.pressure_reference`.
Errors: unknown header -113, a unit other than PA/HPA/KPA/MPA/MBAR/BAR/PSI -224, a setpoint outside
the sensor's range -222 (the setpoint stays as it was); every reply echoes the header (`:SENS:PRES 1013.25`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from meterlab.instruments.pressure import PA_PER_UNIT
from meterlab.quantities import AsTuple
from meterlab.sim.servers.scpi import (
    DATA_OUT_OF_RANGE,
    ScpiCall,
    ScpiCommandSet,
    ScpiDevice,
    ScpiError,
    choice,
    number,
)

PA_PER_BAR = 1e5


class PaceParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: str = "GE Druck,PACE5000,3213201,02.00.07"
    sensor: Literal["absolute", "gauge"] = "absolute"
    atmosphere_pa: float = Field(101325.0, gt=0, description="ambient pressure between gauge and absolute")
    range_pa: Annotated[tuple[float, float], AsTuple] = Field((0.0, 2.1e6), description="of the sensor, in its own reference")
    resolution_pa: float = Field(1.0, gt=0)
    offset_pa: float = Field(0.0, description="the sensor's error: reading - true pressure")
    unit: str = Field("KPA", description="the unit at power-on")

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str) -> str:
        if unit.upper() not in PA_PER_UNIT:
            raise ValueError(f"one of {', '.join(PA_PER_UNIT)}")
        return unit.upper()


class SimDruckPace(ScpiDevice):
    Params = PaceParams

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.identity = self.params.identity
        port = self.signal("port")
        if port is not None and not port.endswith(("_bar", "_pa")):
            raise ValueError(f"{self.name}: the port signal {port!r} must end in _bar (gauge) or _pa (absolute)")
        self.port = port
        controls = port is not None and bool(self.entry.options.get("controller")) and \
            f"{port}.setpoint" in self.world.signals
        self.control = f"{port}.setpoint" if controls else None
        self.slew = f"{port}.slew_per_s" if controls and f"{port}.slew_per_s" in self.world.signals else None
        self.reference = self.signal("reference")
        stated = self.entry.equipment.get("pressure_reference")
        self.sensor = self.params.sensor if "sensor" in self.params.model_fields_set or stated is None else stated
        self.reset()
        self.scpi = ScpiCommandSet()  # every reply echoes its header, the common commands too
        add = self.scpi.add
        add("*IDN?", lambda call: f"*IDN {self.identity}")
        add("*RST", lambda call: self.reset())
        add("*CLS", lambda call: self.errors.clear())
        add("*OPC?", lambda call: "*OPC 1")
        add("SYSTem:ERRor[:NEXT]?", self._pop_error)
        add("SENSe:PRESsure?", lambda call: f":SENS:PRES {self._format(self._reading_pa())}")
        add("UNIT:PRESsure", self._set_unit)
        add("UNIT:PRESsure?", lambda call: f":UNIT:PRES {self.unit}")
        add("SOURce:PRESsure:LEVel:IMMediate:AMPLitude", self._set_setpoint)
        add("SOURce:PRESsure:LEVel:IMMediate:AMPLitude?",
            lambda call: f":SOUR:PRES:LEV:IMM:AMPL {self._format(self.setpoint_pa)}")
        add("SOURce:PRESsure:SLEW", self._set_slew)
        add("SOURce:PRESsure:SLEW?", lambda call: f":SOUR:PRES:SLEW {self.slew_pa_per_s / PA_PER_UNIT[self.unit]:.10g}")
        add("OUTPut:STATe", self._set_output)
        add("OUTPut:STATe?", lambda call: f":OUTP:STAT {int(self.output_on)}")

    def reset(self) -> None:
        self.unit = self.params.unit
        self.setpoint_pa = 0.0
        self.slew_pa_per_s = 0.0  # 0: as fast as the regulator can
        self.output_on = False
        self._drive()

    def _drive(self) -> None:
        """A controller with its output on makes the line's regulator hold the setpoint; off, it lets go."""
        if self.control is None:
            return
        value = None
        if self.output_on:
            setpoint = self.setpoint_pa - self.params.offset_pa  # the sensor's error shifts what it controls to
            absolute = setpoint if self.sensor == "absolute" else setpoint + self._atmosphere_pa()
            value = (absolute - self.params.atmosphere_pa) / PA_PER_BAR if self.port.endswith("_bar") else absolute
        if self.slew is not None:
            rate = self.slew_pa_per_s / PA_PER_BAR if self.port.endswith("_bar") else self.slew_pa_per_s
            self.world.write(self.slew, rate or None)
        self.world.write(self.control, value)

    def _atmosphere_pa(self) -> float:
        """What a gauge sensor's reference port sees."""
        if self.reference is None:
            return self.params.atmosphere_pa
        return float(self.world.read(self.reference))

    def _pop_error(self, call: ScpiCall) -> str:
        return f":SYST:ERR {self.errors.pop()}"

    def error_reply(self, text: str, message: str | None) -> str | None:
        reply = super().error_reply(text, message)
        if reply is None or reply.startswith(":SYST:ERR"):
            return reply
        return f"{text.partition(' ')[0].rstrip('?').upper()} {reply}"

    # -- pressure -------------------------------------------------------------------------------------------
    def _reading_pa(self) -> float:
        if self.port is None:
            return self.params.atmosphere_pa if self.sensor == "absolute" else 0.0
        with self.world.now() as world:
            value = float(world.signals[self.port].read())
        if self.port.endswith("_bar"):
            absolute = value * PA_PER_BAR + self.params.atmosphere_pa
        else:
            absolute = value
        reading = absolute if self.sensor == "absolute" else absolute - self._atmosphere_pa()
        return reading + self.params.offset_pa

    def _format(self, pascal: float) -> str:
        steps = round(pascal / self.params.resolution_pa) * self.params.resolution_pa
        return f"{steps / PA_PER_UNIT[self.unit]:.10g}"

    def _set_unit(self, call: ScpiCall) -> None:
        self.unit = choice(call, {unit: unit for unit in PA_PER_UNIT})

    def _set_setpoint(self, call: ScpiCall) -> None:
        pascal = number(call, 0) * PA_PER_UNIT[self.unit]
        low, high = self.params.range_pa
        if not low <= pascal <= high:
            raise ScpiError(*DATA_OUT_OF_RANGE)
        self.setpoint_pa = pascal
        self._drive()

    def _set_slew(self, call: ScpiCall) -> None:
        self.slew_pa_per_s = number(call, 0, minimum=0.0) * PA_PER_UNIT[self.unit]
        self._drive()

    def _set_output(self, call: ScpiCall) -> None:
        self.output_on = choice(call, {"ON": "1", "OFF": "0", "1": "1", "0": "0"}) == "1"
        self._drive()
