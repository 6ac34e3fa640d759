"""Mechanical shock / pendulum impact tester: one half-sine impulse of a set peak acceleration and duration into
the meter's mounting, measured by the tester's own accelerometer.

No well-documented real command set is known to us (reference sheet: none found). The command set below is
**meterlab's own** [U for any real tester], in the SCPI style of the shaker controller (instruments/vibration.py):
LAN socket, LF framing, IEEE 488.2 common commands and the `SYST:ERR?` queue. The simulated lab speaks it.

Units: peak acceleration in m/s², pulse duration in ms (as shock pulses are stated), on the wire and here.

    *IDN? *RST *CLS *OPC? SYST:ERR?     as IEEE 488.2 / SCPI
    AXIS X|Y|Z                (?)      the meter's axis the impulse acts along (the meter is remounted)
    SHOCk:PEAK <m/s²>         (?)      peak acceleration of the pulse
    SHOCk:DURation <ms>       (?)      nominal pulse duration
    SHOCk:SHAPe HSINe         (?)      pulse shape (half-sine only)
    ARM / DISArm                        raise and latch the pendulum (refused while the interlock is open) /
                                        lower it to rest
    FIRE                                release (refused unless ARMED); the tester goes back to SAFE after the impact
    STATe?                              SAFE | ARMED | FIRING
    INTerlock?                          1 guard closed, 0 open
    SHOCk:COUNt?                        impulses delivered since power-on
    FETCh:PEAK?  FETCh:DURation?        the last impulse's measured peak (m/s²) and duration (ms); while FIRING
                                        the reply waits for the impact

Errors: -221 Settings conflict (interlock open, not armed, a setting while armed), -222 out of the tester's
range. This driver refuses, before anything is sent, what the bench's rating (options) does not allow; the test
levels (IEC 60068-2-27, the safety profile) are procedure data.

Wiring: table = the physics of the shock machine (`table: shock`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from meterlab.instruments.base import ScpiInstrument, control, measurement
from meterlab.instruments.errors import InstrumentValueError
from meterlab.instruments.validators import strict_discrete_set, strict_range

AXES = ("X", "Y", "Z")
SHAPES = {"half_sine": "HSIN"}
STATES = ("SAFE", "ARMED", "FIRING")


class ShockOptions(BaseModel):
    """The tester's rating (bench file `options:`); checked before anything is sent."""

    model_config = ConfigDict(extra="forbid")
    axes: list[Literal["X", "Y", "Z"]] = Field(default_factory=lambda: list(AXES))
    max_peak_m_s2: float = Field(5000.0, gt=0)
    min_duration_ms: float = Field(0.5, gt=0)
    max_duration_ms: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _durations(self) -> ShockOptions:
        if self.min_duration_ms >= self.max_duration_ms:
            raise ValueError("min_duration_ms must be below max_duration_ms")
        return self


class ShockTester(ScpiInstrument):
    Options = ShockOptions
    terminals = r"table"
    read_termination = "\n"
    write_termination = "\n"
    default_timeout_s = 3.0
    not_a_number_reads_errors = True  # a query the controller cannot answer: 9.91E+37, the reason in SYST:ERR?

    state = measurement("STAT?", "SAFE, ARMED or FIRING.", map_values=True, values={s: s for s in STATES}, cast=str)
    shape = control("SHOC:SHAP?", "SHOC:SHAP %s", "Pulse shape: half_sine.", map_values=True, values=SHAPES,
                    cast=str, check_set_errors=True)
    shock_count = measurement("SHOC:COUN?", "Impulses delivered since power-on.", cast=int)
    peak_setting_m_s2 = measurement("SHOC:PEAK?", "The pulse's peak acceleration setting, m/s².")

    @property
    def interlock_closed(self) -> bool:
        command = "INT?"
        reply = self.ask(command).strip()
        if reply not in ("0", "1"):
            raise self.reply_error(command, f"not an interlock state: {reply!r}")
        return reply == "1"

    # -- settings --------------------------------------------------------------------------------------------
    def _checked(self, name: str, value: float, low: float, high: float, unit: str) -> float:
        try:
            return float(strict_range(value, (low, high)))
        except ValueError as exc:
            raise InstrumentValueError(self.name, name, value, f"{exc} {unit} (the tester's rating, bench options)") \
                from None

    def configure(self, *, axis: str, peak_m_s2: float, duration_ms: float, shape: str = "half_sine") -> None:
        """Set the impulse: checked completely against the rating, then sent, then the error queue read."""
        o = self.options
        if not isinstance(axis, str) or axis.upper() not in o.axes:  # type: ignore[attr-defined]
            raise InstrumentValueError(self.name, "axis", axis, f"one of {', '.join(o.axes)}")  # type: ignore[attr-defined]
        try:
            strict_discrete_set(shape, SHAPES)
        except ValueError as exc:
            raise InstrumentValueError(self.name, "shape", shape, str(exc)) from None
        peak = self._checked("peak_m_s2", peak_m_s2, 0.0, o.max_peak_m_s2, "m/s²")  # type: ignore[attr-defined]
        if peak <= 0:
            raise InstrumentValueError(self.name, "peak_m_s2", peak_m_s2, "must be > 0 m/s²")
        duration = self._checked("duration_ms", duration_ms, o.min_duration_ms, o.max_duration_ms, "ms")  # type: ignore[attr-defined]
        for command in (f"AXIS {axis.upper()}", f"SHOC:SHAP {SHAPES[shape]}", f"SHOC:PEAK {peak:.6g}",
                        f"SHOC:DUR {duration:.6g}"):
            self.write(command)
        self.check_errors()

    # -- firing ----------------------------------------------------------------------------------------------
    def arm(self) -> None:
        """Raise and latch the pendulum (the tester refuses while its guard is open); confirmed."""
        self._act("ARM", "ARMED")

    def disarm(self) -> None:
        """Lower the pendulum; confirmed by the tester no longer ARMED (a swing under way ends by itself)."""
        self.write("DISA")
        self.check_errors()
        if self.state == "ARMED":
            raise self.instrument_error("DISA", "the tester is still armed")

    def fire(self) -> None:
        """Release; confirmed by the tester leaving ARMED (FIRING until the impact, then SAFE)."""
        self.write("FIRE")
        self.check_errors()
        if self.state == "ARMED":
            raise self.instrument_error("FIRE", "the tester did not fire")

    def _act(self, command: str, expected: str) -> None:
        self.write(command)
        self.check_errors()
        if self.state != expected:
            raise self.instrument_error(command, f"the tester is not {expected}")

    def measured_peak_m_s2(self, *, timeout_s: float | None = None) -> float:
        """The last impulse's measured peak; waits for a firing impulse (give `timeout_s` for a slow swing)."""
        return self._fetch("FETC:PEAK?", timeout_s)

    def measured_duration_ms(self, *, timeout_s: float | None = None) -> float:
        return self._fetch("FETC:DUR?", timeout_s)

    def _fetch(self, command: str, timeout_s: float | None) -> float:
        reply = self.ask(command, timeout_s=timeout_s)
        try:
            return float(reply)
        except ValueError:
            raise self.reply_error(command, f"not a number: {reply!r}") from None

    def safe_state(self) -> None:
        """The pendulum lowered to rest (disarmed), confirmed."""
        self.disarm()
