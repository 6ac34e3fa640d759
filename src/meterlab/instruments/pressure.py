"""Pressure indicator / controller, Druck (GE) PACE 1000/5000/6000 style: SCPI whose replies echo the header.

Reference sheet 3.6 [V, ESRF bliss `pace` controller and public test code]: `:SENS:PRES?` answers
`:SENS:PRES 1013.25` (in the unit set with `:UNIT:PRES`), `:UNIT:PRES?` answers `:UNIT:PRES KPA`;
`:SOUR:PRES:LEV:IMM:AMPL <sp>` sets the controller's setpoint and `:OUTP:STAT ON|OFF` switches control;
errors queue in `:SYST:ERR?`. LAN port 5025, LF framing. [U] the echo of `*IDN?` (`*IDN GE Druck,...`), the
layout of the `:SYST:ERR?` and `:OUTP:STAT?` replies (`:SYST:ERR 0,"No error"`, `:OUTP:STAT 0`) and
9.91E+37 as the value of a reading the instrument cannot give (then the error queue says why).

Ramps: `:SOUR:PRES:SLEW <rate>` sets the rate at which the controller moves to a new setpoint [V, reference sheet
3.6], in the pressure unit per second [U: the unit of the rate; the PACE manual also has a slew mode (linear or
maximum) not used here]; `ramp_to_pa(setpoint, rate)` sets the rate, then the setpoint, then switches control on.

Wiring: port = the rig signal at the instrument's pressure port (`port: water.pressure_bar`); reference = the
signal at a gauge sensor's reference port (`reference: ambient.pressure_pa`), for a gauge sensor only."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from meterlab.instruments.base import ScpiInstrument, control, measurement
from meterlab.instruments.errors import InstrumentValueError
from meterlab.instruments.validators import strict_discrete_set, strict_range

INVALID_READING = 9.9e37
PA_PER_UNIT = {"PA": 1.0, "HPA": 100.0, "KPA": 1e3, "MPA": 1e6, "MBAR": 100.0, "BAR": 1e5, "PSI": 6894.757293168}
UNITS = {"Pa": "PA", "hPa": "HPA", "kPa": "KPA", "MPa": "MPA", "mbar": "MBAR", "bar": "BAR", "psi": "PSI"}


class PaceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    controller: bool = Field(False, description="a controller (PACE 5000/6000): safe_state switches control off")
    full_scale_pa: float = Field(2e6, gt=0, description="upper end of the controlled range, for setpoints")
    max_slew_pa_per_s: float = Field(1e5, gt=0, description="fastest ramp the controller is rated for")


class DruckPace(ScpiInstrument):
    Options = PaceOptions
    terminals = r"port|reference"
    read_termination = "\n"
    write_termination = "\n"
    default_timeout_s = 3.0
    error_query = ":SYST:ERR?"

    unit = control(
        ":UNIT:PRES?", ":UNIT:PRES %s", "Pressure unit of readings and setpoints: Pa, hPa, kPa, MPa, mbar, bar, psi.",
        validator=strict_discrete_set, values=UNITS, map_values=True, cast=str,
    )
    pressure = measurement(":SENS:PRES?", "The pressure now, in the instrument's unit.")

    # -- replies --------------------------------------------------------------------------------------------
    def check_reply(self, command: str, reply: str) -> str:
        """Strip the echoed header; a value of 9.91E+37 means an error: read the queue and raise it."""
        value = self._strip_echo(command, reply)
        try:
            invalid = abs(float(value)) >= INVALID_READING
        except ValueError:
            invalid = False
        if invalid:
            errors = self.read_error_queue()
            why = "; ".join(f'{code},"{message}"' for code, message in errors) or "no error queued"
            raise self.instrument_error(command, f"no valid value (9.91E+37): {why}")
        return value

    def _strip_echo(self, command: str, reply: str) -> str:
        header = command.split()[0].rstrip("?")
        text = reply.strip()
        if text[: len(header)].upper() != header.upper() or text[len(header):len(header) + 1] not in ("", " "):
            raise self.reply_error(command, f"reply {reply!r} does not echo the header {header!r}")
        return text[len(header):].strip()

    def error_reply(self) -> str:
        return self._strip_echo(self.error_query, self.transport.query(self.error_query))

    # -- pressure -------------------------------------------------------------------------------------------
    def pressure_pa(self) -> float:
        """The pressure now in Pa (asks the unit, then the pressure)."""
        factor = PA_PER_UNIT[UNITS[self.unit]]
        return self.pressure * factor

    def setpoint_pa(self) -> float:
        factor = PA_PER_UNIT[UNITS[self.unit]]
        command = ":SOUR:PRES:LEV:IMM:AMPL?"
        reply = self.ask(command)
        try:
            return float(reply) * factor
        except ValueError:
            raise self.reply_error(command, f"not a setpoint: {reply!r}") from None

    def set_setpoint_pa(self, setpoint_pa: float) -> None:
        """Set the controller's setpoint (checked against 0 .. full_scale_pa before anything is sent), in the
        instrument's unit; then read the error queue, which also confirms the instrument took it."""
        self._check_setpoint(setpoint_pa)
        factor = PA_PER_UNIT[UNITS[self.unit]]
        self.write(f":SOUR:PRES:LEV:IMM:AMPL {setpoint_pa / factor:.10g}")
        self.check_errors()

    def _check_setpoint(self, setpoint_pa: float) -> None:
        full_scale = self.options.full_scale_pa  # type: ignore[attr-defined]
        try:
            strict_range(setpoint_pa, (0.0, full_scale))
        except ValueError as exc:
            raise InstrumentValueError(self.name, "setpoint_pa", setpoint_pa, f"{exc}, in Pa") from None

    # -- ramps ----------------------------------------------------------------------------------------------
    def slew_pa_per_s(self) -> float:
        """The rate at which the controller moves to a new setpoint, in Pa/s."""
        factor = PA_PER_UNIT[UNITS[self.unit]]
        command = ":SOUR:PRES:SLEW?"
        reply = self.ask(command)
        try:
            return float(reply) * factor
        except ValueError:
            raise self.reply_error(command, f"not a slew rate: {reply!r}") from None

    def set_slew_pa_per_s(self, rate_pa_per_s: float) -> None:
        """Set the ramp rate (checked against 0 < rate <= max_slew_pa_per_s before anything is sent)."""
        self._check_slew(rate_pa_per_s)
        factor = PA_PER_UNIT[UNITS[self.unit]]
        self.write(f":SOUR:PRES:SLEW {rate_pa_per_s / factor:.10g}")
        self.check_errors()

    def _check_slew(self, rate_pa_per_s: float) -> None:
        maximum = self.options.max_slew_pa_per_s  # type: ignore[attr-defined]
        try:
            strict_range(rate_pa_per_s, (0.0, maximum))
        except ValueError as exc:
            raise InstrumentValueError(self.name, "rate_pa_per_s", rate_pa_per_s, f"{exc}, in Pa/s") from None
        if rate_pa_per_s <= 0:
            raise InstrumentValueError(self.name, "rate_pa_per_s", rate_pa_per_s, "must be > 0 Pa/s")

    def ramp_to_pa(self, setpoint_pa: float, rate_pa_per_s: float) -> None:
        """Ramp the controlled pressure to `setpoint_pa` at `rate_pa_per_s` (both checked before anything is sent):
        the rate, then the setpoint, then control on (each confirmed)."""
        self._check_slew(rate_pa_per_s)
        self._check_setpoint(setpoint_pa)
        self.set_slew_pa_per_s(rate_pa_per_s)
        self.set_setpoint_pa(setpoint_pa)
        if not self.output_enabled:
            self.output_on()

    # -- control output -------------------------------------------------------------------------------------
    @property
    def output_enabled(self) -> bool:
        command = ":OUTP:STAT?"
        reply = self.ask(command).upper()
        if reply not in ("0", "1", "ON", "OFF"):
            raise self.reply_error(command, f"not an output state: {reply!r}")
        return reply in ("1", "ON")

    def output_on(self) -> None:
        self.write(":OUTP:STAT ON")
        if not self.output_enabled:
            raise self.instrument_error(":OUTP:STAT ON", "control did not switch on")

    def output_off(self) -> None:
        self.write(":OUTP:STAT OFF")
        if self.output_enabled:
            raise self.instrument_error(":OUTP:STAT OFF", "control did not switch off")

    def safe_state(self) -> None:
        """A controller stops controlling (output off, confirmed); an indicator drives nothing."""
        if self.options.controller:  # type: ignore[attr-defined]
            self.output_off()
