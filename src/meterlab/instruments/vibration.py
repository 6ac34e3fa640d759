"""Vibration test system: a shaker (vibration table) controller driving one axis of the meter's mounting at a time.

No well-documented real command set for a shaker controller is known to us (reference sheet: none found for
any vendor). The command set below is **meterlab's own** [U for any real controller], in the SCPI style of
the instruments the lab already has: LAN socket, LF framing, IEEE 488.2 common commands and the `SYST:ERR?`
queue. The simulated lab speaks it; a real controller needs its own driver (or a gateway speaking this set).

Units on the wire and in this driver: acceleration in **m/s²** (1 gal = 1 cm/s² = 0.01 m/s²; a programme
stating gal converts), frequency in Hz, durations in s, sweep rate in octaves per minute, acceleration
spectral density (ASD) in (m/s²)²/Hz = m²/s³.

    *IDN? *RST *CLS *OPC? SYST:ERR?     as IEEE 488.2 / SCPI
    AXIS X|Y|Z        AXIS?             the meter's axis the table excites (the meter is remounted for another)
    MODE SINE|SWEep|RANDom  MODE?       what START runs
    SINE:ACCeleration <m/s²>  (?)      sine: peak acceleration (constant)
    SINE:FREQuency <Hz>       (?)      sine: frequency (a period T is sent as 1/T)
    SINE:DURation <s>         (?)      sine: time at level (0: until STOP)
    SWEep:ACCeleration <m/s²> (?)      sweep: peak acceleration, constant over the sweep
    SWEep:STARt <Hz> / SWEep:STOP <Hz> (?)   sweep: band, logarithmic sweep start -> stop -> start = 1 cycle
    SWEep:RATE <oct/min>      (?)      sweep rate
    SWEep:CYCLes <n>          (?)      sweep cycles
    RANDom:PROFile f1,asd1,f2,asd2,... (?)   random: ASD breakpoints (Hz, m²/s³), log-log between them;
                                        at least 2, frequencies increasing
    RANDom:DURation <s>       (?)      random: time at level (0: until STOP)
    STARt / STOP / ABORt                run the mode's test / end it (level ramped down) / cut the drive now
    STATe?                              IDLE | RUNNING | DONE (ran to its end) | STOPPED | ABORTED
    MEASure:ACCeleration?               the control accelerometer: peak (sine, sweep) or RMS (random), m/s²
    MEASure:FREQuency?                  the drive frequency now (sine, sweep), 0 otherwise
    MEASure:TIME?                       seconds since START (of the last run)

Settings while RUNNING are refused (-221 Settings conflict), as are settings outside the controller's own
range (-222). This driver refuses, before anything is sent, what the bench's rating of the shaker (options)
does not allow: acceleration, RMS, frequency band, peak displacement (stroke). The test levels themselves
(seismic table, IEC 60068-2-6/-64 severities) are procedure data, never in this driver.

Wiring: table = the physics of the vibration table (`table: shaker`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from meterlab.instruments.base import ScpiInstrument, control, measurement
from meterlab.instruments.errors import InstrumentValueError
from meterlab.instruments.validators import strict_discrete_set, strict_range

AXES = ("X", "Y", "Z")
MODES = {"sine": "SINE", "sweep": "SWE", "random": "RAND"}
STATES = ("IDLE", "RUNNING", "DONE", "STOPPED", "ABORTED")


# -- acceleration spectral density ---------------------------------------------------------------------------
def check_asd_profile(profile: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    """The breakpoints as [(frequency_hz, asd_m2_s3)]; ValueError unless >= 2, frequencies increasing, all > 0."""
    try:
        points = [(float(f), float(a)) for f, a in profile]
    except (TypeError, ValueError):
        raise ValueError("give breakpoints as [[frequency_hz, asd_m2_s3], ...]") from None
    if len(points) < 2:
        raise ValueError("an ASD profile needs at least 2 breakpoints")
    if any(not (math.isfinite(f) and math.isfinite(a)) or f <= 0 or a <= 0 for f, a in points):
        raise ValueError("frequencies and ASD values must be finite and > 0")
    if any(b[0] <= a[0] for a, b in zip(points, points[1:])):
        raise ValueError("breakpoint frequencies must increase strictly")
    return points


def asd_at(profile: Sequence[tuple[float, float]], frequency_hz: float) -> float:
    """The ASD at `frequency_hz`, straight lines between breakpoints on log-log axes (the usual way profiles are
    drawn: a slope in dB/octave), 0 outside the band."""
    for (f1, a1), (f2, a2) in zip(profile, profile[1:]):
        if f1 <= frequency_hz <= f2:
            slope = math.log(a2 / a1) / math.log(f2 / f1)
            return a1 * (frequency_hz / f1) ** slope
    return 0.0


def asd_rms_m_s2(profile: Sequence[tuple[float, float]]) -> float:
    """RMS acceleration of a profile: the square root of the area under the ASD, each log-log segment exactly."""
    area = 0.0
    for (f1, a1), (f2, a2) in zip(profile, profile[1:]):
        slope = math.log(a2 / a1) / math.log(f2 / f1)
        if abs(slope + 1.0) < 1e-12:
            area += a1 * f1 * math.log(f2 / f1)
        else:
            area += a1 * f1 / (slope + 1.0) * ((f2 / f1) ** (slope + 1.0) - 1.0)
    return math.sqrt(area)


def sine_displacement_m(acceleration_m_s2: float, frequency_hz: float) -> float:
    """Peak displacement of a sine of peak acceleration a at frequency f: a / (2πf)²."""
    return acceleration_m_s2 / (2 * math.pi * frequency_hz) ** 2


# -- the driver ----------------------------------------------------------------------------------------------
class ShakerOptions(BaseModel):
    """The shaker's rating, from its data sheet (bench file `options:`); checked before anything is sent."""

    model_config = ConfigDict(extra="forbid")
    axes: list[Literal["X", "Y", "Z"]] = Field(default_factory=lambda: list(AXES), description="axes it can excite")
    max_acceleration_m_s2: float = Field(20.0, gt=0, description="largest peak acceleration (sine, sweep)")
    max_rms_m_s2: float = Field(10.0, gt=0, description="largest RMS acceleration (random)")
    min_frequency_hz: float = Field(0.5, gt=0)
    max_frequency_hz: float = Field(200.0, gt=0)
    max_displacement_m: float = Field(0.1, gt=0, description="largest peak displacement (half the stroke)")
    max_duration_s: float = Field(86400.0, gt=0)

    @model_validator(mode="after")
    def _band(self) -> ShakerOptions:
        if self.min_frequency_hz >= self.max_frequency_hz:
            raise ValueError("min_frequency_hz must be below max_frequency_hz")
        return self


class ShakerController(ScpiInstrument):
    Options = ShakerOptions
    terminals = r"table"
    read_termination = "\n"
    write_termination = "\n"
    default_timeout_s = 3.0
    not_a_number_reads_errors = True  # a query the controller cannot answer: 9.91E+37, the reason in SYST:ERR?

    axis = control("AXIS?", "AXIS %s", "The axis of the meter the table excites: X, Y or Z.",
                   validator=strict_discrete_set, values=AXES, cast=str, check_set_errors=True)
    mode = control("MODE?", "MODE %s", "What START runs: sine, sweep or random.",
                   map_values=True, values=MODES, cast=str, check_set_errors=True)
    state = measurement("STAT?", "IDLE, RUNNING, DONE, STOPPED or ABORTED.", map_values=True,
                        values={s: s for s in STATES}, cast=str)
    control_acceleration_m_s2 = measurement(
        "MEAS:ACC?", "The control accelerometer: peak (sine, sweep) or RMS (random) acceleration in m/s², 0 at rest.")
    drive_frequency_hz = measurement("MEAS:FREQ?", "The drive frequency now (sine, sweep), 0 otherwise.")
    elapsed_s = measurement("MEAS:TIME?", "Seconds since the last START.")
    sine_acceleration_m_s2 = measurement("SINE:ACC?", "The sine's peak acceleration setting, m/s².")
    sine_frequency_hz = measurement("SINE:FREQ?", "The sine's frequency setting, Hz.")

    # -- checks against the rating (nothing is sent when one fails) --------------------------------------------
    def _refuse(self, name: str, value: object, why: str) -> InstrumentValueError:
        return InstrumentValueError(self.name, name, value, why)

    def _checked(self, name: str, value: float, low: float, high: float, unit: str) -> float:
        try:
            return float(strict_range(value, (low, high)))
        except ValueError as exc:
            raise self._refuse(name, value, f"{exc} {unit} (the shaker's rating, bench options)") from None

    def _check_axis(self, axis: str) -> str:
        allowed = self.options.axes  # type: ignore[attr-defined]
        if not isinstance(axis, str) or axis.upper() not in allowed:
            raise self._refuse("axis", axis, f"one of {', '.join(allowed)}")
        return axis.upper()

    def _check_frequency(self, name: str, frequency_hz: float) -> float:
        o = self.options
        return self._checked(name, frequency_hz, o.min_frequency_hz, o.max_frequency_hz, "Hz")  # type: ignore[attr-defined]

    def _check_sine_level(self, acceleration_m_s2: float, lowest_hz: float) -> float:
        o = self.options
        level = self._checked("acceleration_m_s2", acceleration_m_s2, 0.0, o.max_acceleration_m_s2, "m/s²")  # type: ignore[attr-defined]
        if level <= 0:
            raise self._refuse("acceleration_m_s2", acceleration_m_s2, "must be > 0 m/s²")
        stroke = sine_displacement_m(level, lowest_hz)
        if stroke > o.max_displacement_m:  # type: ignore[attr-defined]
            raise self._refuse("acceleration_m_s2", acceleration_m_s2,
                               f"needs a peak displacement of {stroke * 1e3:.1f} mm at {lowest_hz:g} Hz, more than "
                               f"the shaker's {o.max_displacement_m * 1e3:g} mm")  # type: ignore[attr-defined]
        return level

    def _check_duration(self, duration_s: float) -> float:
        return self._checked("duration_s", duration_s, 0.0, self.options.max_duration_s, "s")  # type: ignore[attr-defined]

    # -- configuring a test ----------------------------------------------------------------------------------
    def configure_sine(self, *, axis: str, acceleration_m_s2: float, frequency_hz: float | None = None,
                       period_s: float | None = None, duration_s: float = 0.0) -> None:
        """A sine of constant peak acceleration at a frequency (or period), for a duration (0: until stop)."""
        if (frequency_hz is None) == (period_s is None):
            raise self._refuse("frequency_hz", frequency_hz, "give either frequency_hz or period_s")
        if period_s is not None:
            self._checked("period_s", period_s, 1e-6, math.inf, "s")
            frequency_hz = 1.0 / period_s
        axis = self._check_axis(axis)
        frequency = self._check_frequency("frequency_hz", frequency_hz)  # type: ignore[arg-type]
        level = self._check_sine_level(acceleration_m_s2, frequency)
        duration = self._check_duration(duration_s)
        self._send(f"AXIS {axis}", "MODE SINE", f"SINE:ACC {level:.6g}", f"SINE:FREQ {frequency:.8g}",
                   f"SINE:DUR {duration:.6g}")

    def configure_sweep(self, *, axis: str, acceleration_m_s2: float, start_hz: float, stop_hz: float,
                        octaves_per_min: float, cycles: int) -> None:
        """Logarithmic sine sweeps start -> stop -> start (one cycle) at constant peak acceleration."""
        axis = self._check_axis(axis)
        start, stop = self._check_frequency("start_hz", start_hz), self._check_frequency("stop_hz", stop_hz)
        if start >= stop:
            raise self._refuse("stop_hz", stop_hz, f"must be above start_hz ({start:g} Hz)")
        level = self._check_sine_level(acceleration_m_s2, start)
        rate = self._checked("octaves_per_min", octaves_per_min, 1e-3, 10.0, "oct/min")
        if isinstance(cycles, bool) or not isinstance(cycles, int) or not 1 <= cycles <= 10000:
            raise self._refuse("cycles", cycles, "a whole number 1 .. 10000")
        self._send(f"AXIS {axis}", "MODE SWE", f"SWE:ACC {level:.6g}", f"SWE:STAR {start:.8g}",
                   f"SWE:STOP {stop:.8g}", f"SWE:RATE {rate:.6g}", f"SWE:CYCL {cycles:d}")

    def configure_random(self, *, axis: str, asd_profile: Sequence[Sequence[float]], duration_s: float) -> None:
        """Random vibration by its ASD breakpoints [(frequency_hz, asd_m2_s3), ...] for a duration."""
        axis = self._check_axis(axis)
        try:
            profile = check_asd_profile(asd_profile)
        except ValueError as exc:
            raise self._refuse("asd_profile", asd_profile, str(exc)) from None
        for frequency, _ in (profile[0], profile[-1]):
            self._check_frequency("asd_profile", frequency)
        rms = asd_rms_m_s2(profile)
        if rms > self.options.max_rms_m_s2:  # type: ignore[attr-defined]
            raise self._refuse("asd_profile", asd_profile, f"its RMS {rms:.3g} m/s² is above the shaker's "
                               f"{self.options.max_rms_m_s2:g} m/s²")  # type: ignore[attr-defined]
        duration = self._check_duration(duration_s)
        points = ",".join(f"{f:.8g},{a:.6g}" for f, a in profile)
        self._send(f"AXIS {axis}", "MODE RAND", f"RAND:PROF {points}", f"RAND:DUR {duration:.6g}")

    def _send(self, *commands: str) -> None:
        """Send the settings, then read the error queue: the controller took them all or says why not."""
        for command in commands:
            self.write(command)
        self.check_errors()

    # -- running ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the configured test; confirmed by the controller's state."""
        self.write("STAR")
        self.check_errors()
        if self.state != "RUNNING":
            raise self.instrument_error("STAR", "the test did not start")

    def stop(self) -> None:
        """End the test, the level ramped down; confirmed."""
        self._end("STOP")

    def abort(self) -> None:
        """Cut the drive now; confirmed."""
        self._end("ABOR")

    def _end(self, command: str) -> None:
        self.write(command)
        self.check_errors()
        if self.state == "RUNNING":
            raise self.instrument_error(command, "the table is still running")

    def safe_state(self) -> None:
        """The table at rest: the drive cut (abort), confirmed."""
        self.abort()
