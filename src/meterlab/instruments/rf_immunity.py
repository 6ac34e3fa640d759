"""RF immunity as code (IEC 61000-4-6 conducted, 61000-4-3 radiated): the frequency list, the level
calibration (a stored, validated table) and the test sweep that replays it. Reference sheet §1.5.

    steps = frequency_steps(150e3, 80e6, 1)
    table = calibrate_levels(generator, power_meter, amplifier=amplifier, frequency_start_hz=150e3,
                             frequency_stop_hz=80e6, step_pct=1, emf_v=10)      # the adaptor reads emf_v/6
    save_level_table(table, "calibration/rf/cdn-m3-10v.yaml")
    result = run_sweep(generator, load_level_table(path), amplifier=amplifier, power_meter=forward_sensor,
                       dwell_s=1, am_depth_pct=80, am_frequency_hz=1000, should_stop=stop.is_set)

Every number from a standard (frequency range and step, e.m.f. or field strength, AM depth and tone,
dwell) is a parameter with the severity profile's name (procedures/standards/d11-2013.yaml:
frequency_start_hz, frequency_stop_hz, step_pct, am_depth_pct, am_frequency_hz, dwell_s, emf_v,
field_v_per_m). The calibration is made unmodulated; the test adds the AM on top of the stored levels.

Levelling: per frequency, a secant search on the sensor's dB reading (slope measured from the last two
levels, clamped, so a compressing amplifier still converges), bounded in steps, in iterations and by the
largest generator level the amplifier input may take. Each generator change is confirmed (SYST:ERR?)
before the sensor reads, since the sensor is another instrument. The RF is switched off on every exit."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from meterlab.errors import DeclarationError, MeterlabError
from meterlab.instruments.errors import InstrumentFailure
from meterlab.instruments.rf import EtsLindgrenHi6100, RfAmplifier, RohdeSchwarzNrp, RohdeSchwarzSmb100a
from meterlab.quantities import IsoDatetime
from meterlab.yamlio import load_model

SYSTEM_IMPEDANCE_OHM = 50.0  # the power sensor (and the adaptor's measuring port)
MAX_STEPS = 100_000  # a frequency list longer than this is a mistake in the parameters
SLICE_REAL_S = 0.05  # dwell waits are cut into slices that look at should_stop
VIRTUAL_POLL_S = 0.1  # on a virtual clock, status polls of a running measurement are this far apart (simulated)
LEVEL_RESOLUTION_DB = 0.01  # the generator's level setting resolution


class RfImmunityError(MeterlabError):
    """An RF immunity calibration or sweep cannot do what it was asked."""


class LevellingError(RfImmunityError):
    """The target level was not reached at a frequency (amplifier limit, no signal, no convergence)."""


class Stopped(RfImmunityError):
    """`should_stop` asked a calibration to stop; the RF is off."""


def frequency_steps(start_hz: float, stop_hz: float, step_pct: float) -> list[float]:
    """start, then each frequency `step_pct` % above the previous one (rounded down to whole Hz, so no step
    is larger than asked), and `stop` itself as the last point."""
    for name, value in (("start_hz", start_hz), ("stop_hz", stop_hz), ("step_pct", step_pct)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or math.isinf(value):
            raise DeclarationError(f"frequency_steps.{name}", value, "a finite number > 0")
    if stop_hz < start_hz:
        raise DeclarationError("frequency_steps.stop_hz", stop_hz, f">= start_hz ({start_hz:g})")
    if math.log(stop_hz / start_hz) / math.log1p(step_pct / 100) > MAX_STEPS:
        raise DeclarationError("frequency_steps.step_pct", step_pct, f"a step giving at most {MAX_STEPS} frequencies")
    steps = [float(start_hz)]
    while True:
        following = float(math.floor(steps[-1] * (1 + step_pct / 100)))
        if following <= steps[-1]:  # below 100 Hz at tiny steps: whole Hz cannot step less
            following = steps[-1] + 1.0
        if following >= stop_hz:
            break
        steps.append(following)
    if stop_hz > steps[-1]:
        steps.append(float(stop_hz))
    return steps


# --------------------------------------------------------------------------------------------------------
# The level calibration table
# --------------------------------------------------------------------------------------------------------


class LevelPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    frequency_hz: float = Field(gt=0)
    generator_level_dbm: float = Field(description="unmodulated generator level that gave the target")
    measured_db: float = Field(description="the sensor at that level: dBm at the adaptor, or dB(V/m)")
    iterations: int = Field(ge=1)
    linearity_db: float | None = Field(None, description="sensor increase for linearity_step_db more drive")


class LevelCalibration(BaseModel):
    """A stored level calibration: per frequency the generator level that gave the target at the sensor."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["conducted_rf", "radiated_rf"]
    calibrated_at: IsoDatetime = Field(description="when the calibration was made (UTC)")
    emf_v: float | None = Field(None, gt=0, description="conducted: the test e.m.f. (unmodulated)")
    field_v_per_m: float | None = Field(None, gt=0, description="radiated: the test field strength (unmodulated)")
    emf_to_adaptor_ratio: float | None = Field(None, gt=0, description="conducted: e.m.f. / adaptor voltage")
    target_db: float = Field(description="the level sought at the sensor: dBm at the adaptor, or dB(V/m)")
    tolerance_db: float = Field(gt=0)
    attenuation_db: float = Field(0.0, description="between the adaptor and the power sensor")
    frequency_start_hz: float = Field(gt=0)
    frequency_stop_hz: float = Field(gt=0)
    step_pct: float = Field(gt=0)
    linearity_step_db: float | None = None
    bench: str | None = None
    instruments: dict[str, str] = Field(default_factory=dict,
                                        description="role -> identity as the instrument states it")
    points: list[LevelPoint] = Field(min_length=1)

    @field_validator("points")
    @classmethod
    def _increasing(cls, points: list[LevelPoint]) -> list[LevelPoint]:
        frequencies = [p.frequency_hz for p in points]
        if any(b <= a for a, b in zip(frequencies, frequencies[1:])):
            raise ValueError("frequencies must be strictly increasing")
        return points

    @model_validator(mode="after")
    def _level_of_kind(self) -> LevelCalibration:
        if self.kind == "conducted_rf" and (self.emf_v is None or self.field_v_per_m is not None):
            raise ValueError("a conducted_rf calibration states emf_v (and no field_v_per_m)")
        if self.kind == "radiated_rf" and (self.field_v_per_m is None or self.emf_v is not None):
            raise ValueError("a radiated_rf calibration states field_v_per_m (and no emf_v)")
        if self.calibrated_at.tzinfo is None:
            raise ValueError("calibrated_at needs a time zone (e.g. 2025-03-01T10:00:00+00:00)")
        return self

    @property
    def frequencies_hz(self) -> list[float]:
        return [p.frequency_hz for p in self.points]

    def linearity_failures(self, tolerance_db: float) -> list[LevelPoint]:
        """Points whose sensor rose by more than `tolerance_db` off `linearity_step_db` (compression)."""
        if self.linearity_step_db is None:
            raise RfImmunityError("this calibration was made without a linearity check")
        return [p for p in self.points
                if p.linearity_db is not None and abs(p.linearity_db - self.linearity_step_db) > tolerance_db]


def save_level_table(table: LevelCalibration, path: str | Path) -> Path:
    """Write the table as YAML (the same schema `load_level_table` validates)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = table.model_dump(mode="json", exclude_none=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def load_level_table(path: str | Path) -> LevelCalibration:
    """Read and validate a level table; a problem raises InputFileError naming file, line and field."""
    return load_model(path, LevelCalibration)


def table_problems(table: LevelCalibration, *, frequency_start_hz: float, frequency_stop_hz: float,
                   step_pct: float, emf_v: float | None = None, field_v_per_m: float | None = None,
                   **_: Any) -> list[str]:
    """What keeps `table` from serving a test with these parameters (profile names; others are ignored, so
    a profile's `common` + `levels` can be passed whole): one text per differing field, [] if it fits.
    Exact match: a level calibration holds for the frequencies and the level it was made at, no others."""
    wanted = {"frequency_start_hz": frequency_start_hz, "frequency_stop_hz": frequency_stop_hz,
              "step_pct": step_pct, "emf_v": emf_v, "field_v_per_m": field_v_per_m}
    for name, value in wanted.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise DeclarationError(f"test parameter {name}", value, "a number (YAML 1.1 reads 0.15e6 as text: "
                                   "write 0.15e+6 or 150000)")
    return [f"{name}: test {value:g}, calibration {getattr(table, name)}" for name, value in wanted.items()
            if value is not None and not (getattr(table, name) is not None
                                          and math.isclose(getattr(table, name), value, rel_tol=1e-9))]


def check_table(table: LevelCalibration, **params: Any) -> None:
    """Raise RfImmunityError unless `table` was made for these test parameters (see `table_problems`)."""
    problems = table_problems(table, **params)
    if problems:
        raise RfImmunityError(f"the level calibration of {table.calibrated_at:%Y-%m-%d} does not fit this test: "
                              + "; ".join(problems))


# --------------------------------------------------------------------------------------------------------
# Levelling
# --------------------------------------------------------------------------------------------------------


def adaptor_target_dbm(emf_v: float, emf_to_adaptor_ratio: float) -> float:
    """Power in a 50 Ω sensor when the adaptor shows emf_v / ratio: ((U0/ratio)² / 50 Ω) in dBm."""
    volts = emf_v / emf_to_adaptor_ratio
    return 10 * math.log10(volts * volts / SYSTEM_IMPEDANCE_OHM / 1e-3)


def _db_v_per_m(field_v_per_m: float) -> float:
    return 20 * math.log10(field_v_per_m) if field_v_per_m > 0 else -math.inf


@dataclass
class _Levelling:
    generator: RohdeSchwarzSmb100a
    read_db: Callable[[], float]  # the sensor now, in dB
    target_db: float
    tolerance_db: float
    min_level_dbm: float
    max_level_dbm: float
    max_step_db: float
    max_iterations: int

    def set_level(self, level_dbm: float) -> None:
        self.generator.level_dbm = level_dbm
        self.generator.confirm()  # executed before the sensor (another instrument) reads

    def level(self, frequency_hz: float, start_dbm: float) -> tuple[float, float, int]:
        """(generator level, sensor reading, iterations) with the reading within tolerance of the target."""
        level = self._clamp(start_dbm)
        previous: tuple[float, float] | None = None
        measured = -math.inf
        for iteration in range(1, self.max_iterations + 1):
            self.set_level(level)
            measured = self.read_db()
            error = self.target_db - measured
            if abs(error) <= self.tolerance_db:
                return level, measured, iteration
            slope = 1.0
            if previous is not None and math.isfinite(measured) and math.isfinite(previous[1]):
                if abs(level - previous[0]) >= LEVEL_RESOLUTION_DB:
                    slope = min(max((measured - previous[1]) / (level - previous[0]), 0.05), 2.0)
            step = self.max_step_db if not math.isfinite(error) else max(-self.max_step_db,
                                                                         min(self.max_step_db, error / slope))
            following = self._clamp(level + step)
            if following == level:  # a step below the level resolution: one resolution step, if there is room
                following = self._clamp(level + math.copysign(LEVEL_RESOLUTION_DB, error))
            if following == level:
                limit = "largest" if error > 0 else "smallest"
                raise LevellingError(
                    f"{frequency_hz:.6g} Hz: the sensor reads {measured:.2f} dB, target {self.target_db:.2f} dB, "
                    f"with the generator at its {limit} allowed level {level:.2f} dBm (amplifier saturated, "
                    "path open or the limit too low)")
            previous, level = (level, measured), following
        raise LevellingError(f"{frequency_hz:.6g} Hz: not within {self.tolerance_db:g} dB of {self.target_db:.2f} dB "
                             f"after {self.max_iterations} iterations (last {measured:.2f} dB at {level:.2f} dBm)")

    def _clamp(self, level_dbm: float) -> float:
        return round(min(max(level_dbm, self.min_level_dbm), self.max_level_dbm), 2)


def _rf_off(generator: RohdeSchwarzSmb100a, amplifier: RfAmplifier | None) -> None:
    """RF off and amplifier to standby; every part is tried, the first failure is raised afterwards."""
    failures: list[InstrumentFailure] = []
    actions = [generator.safe_state] + ([amplifier.safe_state] if amplifier is not None else [])
    for action in actions:
        try:
            action()
        except InstrumentFailure as exc:
            failures.append(exc)
    if failures:
        raise failures[0]


def _identities(instruments: dict[str, Any]) -> dict[str, str]:
    return {role: instrument.identify() for role, instrument in instruments.items() if instrument is not None}


def _check_loop(tolerance_db: float, max_step_db: float, max_iterations: int, max_level_dbm: float,
                min_level_dbm: float) -> None:
    """The levelling settings, checked before anything is sent."""
    for name, value, ok, allowed in (
        ("tolerance_db", tolerance_db, tolerance_db > 0, "> 0 dB"),
        ("max_step_db", max_step_db, max_step_db > 0, "> 0 dB"),
        ("max_iterations", max_iterations, max_iterations >= 1, ">= 1"),
        ("max_level_dbm", max_level_dbm, max_level_dbm > min_level_dbm, f"> min_level_dbm ({min_level_dbm:g})"),
    ):
        if not ok:
            raise DeclarationError(f"levelling.{name}", value, allowed)


def _calibrate(kind: str, generator: RohdeSchwarzSmb100a, amplifier: RfAmplifier | None, sensors: dict[str, Any],
               prepare: Callable[[float], None], read_db: Callable[[], float], target_db: float,
               frequencies: list[float], *, tolerance_db: float, start_level_dbm: float, max_level_dbm: float,
               min_level_dbm: float, max_step_db: float, max_iterations: int, linearity_step_db: float | None,
               should_stop: Callable[[], bool] | None, on_point: Callable[[LevelPoint], None] | None,
               table_fields: dict[str, Any]) -> LevelCalibration:
    identities = _identities({"rf_generator": generator, "rf_amplifier": amplifier, **sensors})
    levelling = _Levelling(generator, read_db, target_db, tolerance_db, min_level_dbm, max_level_dbm, max_step_db,
                           max_iterations)
    points: list[LevelPoint] = []
    try:
        generator.rf_off()
        generator.am_enabled = False  # the calibration is unmodulated
        generator.frequency_hz = frequencies[0]
        levelling.set_level(levelling._clamp(start_level_dbm))
        if amplifier is not None:
            amplifier.operate()
            amplifier.rf_on()
        generator.rf_output = True
        generator.confirm()
        level = start_level_dbm
        for frequency in frequencies:
            if should_stop is not None and should_stop():
                raise Stopped(f"calibration stopped at {frequency:.6g} Hz after {len(points)} points")
            generator.frequency_hz = frequency
            prepare(frequency)
            level, measured, iterations = levelling.level(frequency, level)
            linearity = None
            if linearity_step_db is not None:
                levelling.set_level(levelling._clamp(level + linearity_step_db))
                linearity = read_db() - measured
            point = LevelPoint(frequency_hz=frequency, generator_level_dbm=level, measured_db=measured,
                               iterations=iterations, linearity_db=linearity)
            points.append(point)
            if on_point is not None:
                on_point(point)
    finally:
        _rf_off(generator, amplifier)
    return LevelCalibration(kind=kind, calibrated_at=dt.datetime.now(dt.timezone.utc), target_db=target_db,
                            tolerance_db=tolerance_db, frequency_start_hz=frequencies[0],
                            frequency_stop_hz=frequencies[-1], linearity_step_db=linearity_step_db,
                            instruments=identities, points=points, **table_fields)


def calibrate_levels(generator: RohdeSchwarzSmb100a, power_meter: RohdeSchwarzNrp, *,
                     frequency_start_hz: float, frequency_stop_hz: float, step_pct: float, emf_v: float,
                     amplifier: RfAmplifier | None = None, emf_to_adaptor_ratio: float = 6.0,
                     attenuation_db: float = 0.0, averaging_count: int = 16, tolerance_db: float = 0.1,
                     start_level_dbm: float = -40.0, max_level_dbm: float = 0.0, min_level_dbm: float = -100.0,
                     max_step_db: float = 10.0, max_iterations: int = 20, linearity_step_db: float | None = None,
                     bench: str | None = None, should_stop: Callable[[], bool] | None = None,
                     on_point: Callable[[LevelPoint], None] | None = None,
                     clock: Clock | None = None) -> LevelCalibration:
    """Conducted (61000-4-6) level calibration: per frequency of `frequency_steps(...)`, the unmodulated
    generator level at which the 50 Ω sensor on the 150 Ω -> 50 Ω adaptor reads emf_v / emf_to_adaptor_ratio.

    emf_to_adaptor_ratio: the calibration jig's ratio (150 Ω source into the adaptor's 100 Ω + 50 Ω: 6);
    attenuation_db: an attenuator between adaptor and sensor (its certificate), added to the readings;
    max_level_dbm: the most the amplifier input may take (its rating); start_level_dbm: where the first
    frequency starts (later ones start at the previous result); linearity_step_db: if given, each point
    also records how much the sensor rises for that much more drive (compression check, see
    `LevelCalibration.linearity_failures`). `should_stop()` is asked before each frequency (-> Stopped).
    `clock`: the simulated lab's, if its time is virtual (the sensor's measurements take simulated time: the
    driver waits for them on it, as in `run_sweep`); default the wall clock."""
    if not (emf_v > 0 and emf_to_adaptor_ratio > 0):
        raise DeclarationError("calibrate_levels.emf_v", emf_v, "emf_v and emf_to_adaptor_ratio > 0")
    _check_loop(tolerance_db, max_step_db, max_iterations, max_level_dbm, min_level_dbm)
    frequencies = frequency_steps(frequency_start_hz, frequency_stop_hz, step_pct)
    power_meter.configure(frequencies[0], averaging_count)

    def prepare(frequency_hz: float) -> None:
        power_meter.frequency_hz = frequency_hz

    polls = between_polls(clock) if clock is not None else None

    def read_db() -> float:
        return power_meter.measure_power_dbm(between_polls=polls) + attenuation_db

    return _calibrate(
        "conducted_rf", generator, amplifier, {"rf_power_meter": power_meter}, prepare, read_db,
        adaptor_target_dbm(emf_v, emf_to_adaptor_ratio), frequencies, tolerance_db=tolerance_db,
        start_level_dbm=start_level_dbm, max_level_dbm=max_level_dbm, min_level_dbm=min_level_dbm,
        max_step_db=max_step_db, max_iterations=max_iterations, linearity_step_db=linearity_step_db,
        should_stop=should_stop, on_point=on_point,
        table_fields={"emf_v": emf_v, "emf_to_adaptor_ratio": emf_to_adaptor_ratio, "attenuation_db": attenuation_db,
                      "step_pct": step_pct, "bench": bench})


def calibrate_field_levels(generator: RohdeSchwarzSmb100a, probe: EtsLindgrenHi6100, *,
                           frequency_start_hz: float, frequency_stop_hz: float, step_pct: float,
                           field_v_per_m: float, amplifier: RfAmplifier | None = None, tolerance_db: float = 0.1,
                           start_level_dbm: float = -40.0, max_level_dbm: float = 0.0,
                           min_level_dbm: float = -100.0, max_step_db: float = 10.0, max_iterations: int = 20,
                           linearity_step_db: float | None = None, bench: str | None = None,
                           should_stop: Callable[[], bool] | None = None,
                           on_point: Callable[[LevelPoint], None] | None = None) -> LevelCalibration:
    """Radiated (61000-4-3) level calibration at one point of the uniform field area: the unmodulated
    generator level at which the probe's composite field is `field_v_per_m`. Same parameters as
    `calibrate_levels`; the levelling works in dB(V/m)."""
    if not field_v_per_m > 0:
        raise DeclarationError("calibrate_field_levels.field_v_per_m", field_v_per_m, "> 0")
    _check_loop(tolerance_db, max_step_db, max_iterations, max_level_dbm, min_level_dbm)
    frequencies = frequency_steps(frequency_start_hz, frequency_stop_hz, step_pct)
    probe.identity()  # switches the probe on

    def read_db() -> float:
        return _db_v_per_m(probe.field_v_per_m())

    return _calibrate(
        "radiated_rf", generator, amplifier, {"field_probe": probe}, lambda frequency_hz: None, read_db,
        _db_v_per_m(field_v_per_m), frequencies, tolerance_db=tolerance_db, start_level_dbm=start_level_dbm,
        max_level_dbm=max_level_dbm, min_level_dbm=min_level_dbm, max_step_db=max_step_db,
        max_iterations=max_iterations, linearity_step_db=linearity_step_db, should_stop=should_stop,
        on_point=on_point, table_fields={"field_v_per_m": field_v_per_m, "step_pct": step_pct, "bench": bench})


# --------------------------------------------------------------------------------------------------------
# The test sweep
# --------------------------------------------------------------------------------------------------------


class Clock(Protocol):
    """Seconds on the test's time base: the wall clock on a real bench, the simulated lab's clock in it."""

    virtual: bool  # the simulated lab's virtual time (sim/clock.py): waits and polls go through the clock

    def now(self) -> float: ...

    def pause(self, sim_s: float) -> None:
        """One slice of a wait of `sim_s` more seconds (the caller loops)."""

    def start_thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Start `target` in a daemon thread that drives the lab until it ends (a virtual clock waits for it)."""

    def idle(self) -> contextlib.AbstractContextManager:
        """The caller waits on another thread meanwhile (a virtual clock lets time move on for it)."""


class WallClock:
    virtual = False

    def now(self) -> float:
        return time.monotonic()

    def pause(self, sim_s: float) -> None:
        time.sleep(min(SLICE_REAL_S, max(sim_s, 0.0005)))

    def start_thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def idle(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


def between_polls(clock: Clock) -> Callable[[], None] | None:
    """What a driver waits between two status polls on `clock`: simulated time on a virtual clock (the
    instrument's operation takes simulated time), else the driver's own real-time poll (None)."""
    return (lambda: clock.pause(VIRTUAL_POLL_S)) if clock.virtual else None


@dataclass(frozen=True)
class SweepStep:
    index: int
    frequency_hz: float
    generator_level_dbm: float
    power_dbm: float | None  # the power meter's reading (forward power when the sensor sits on the coupler)
    field_v_per_m: float | None  # the field probe's composite reading
    applied_s: float  # clock time the step's level was applied
    ended_s: float  # clock time its dwell ended (or the sweep was stopped)


@dataclass
class SweepResult:
    kind: str
    steps: list[SweepStep] = field(default_factory=list)
    stopped: bool = False  # should_stop ended it early

    @property
    def completed(self) -> bool:
        return not self.stopped


def _dwell(clock: Clock, until_s: float, should_stop: Callable[[], bool] | None) -> bool:
    """Wait until `until_s` on `clock` in short slices; False as soon as should_stop() says so."""
    while True:
        if should_stop is not None and should_stop():
            return False
        left = until_s - clock.now()
        if left <= 0:
            return True
        clock.pause(left)


def run_sweep(generator: RohdeSchwarzSmb100a, table: LevelCalibration, *, dwell_s: float, am_depth_pct: float,
              am_frequency_hz: float, am_shape: str = "sine", amplifier: RfAmplifier | None = None,
              power_meter: RohdeSchwarzNrp | None = None, probe: EtsLindgrenHi6100 | None = None,
              clock: Clock | None = None, frequencies_hz: Sequence[float] | None = None,
              on_step: Callable[[SweepStep], None] | None = None,
              should_stop: Callable[[], bool] | None = None,
              on_applied: Callable[[int, float], None] | None = None) -> SweepResult:
    """Replay the stored levels with AM on: per frequency set the level, measure the power meter and the
    probe (if given), dwell `dwell_s` on `clock`, call `on_step(step)`. `should_stop()` is asked between
    steps and during each dwell (within 50 ms real); the sweep then ends with `stopped`. The RF is off and
    the amplifier in standby on every exit, exceptions included.

    `frequencies_hz`: a subset of the table's frequencies (default: all of them). `on_applied(index,
    frequency_hz)` is called as soon as a step's level is applied (before its dwell)."""
    if isinstance(dwell_s, bool) or not isinstance(dwell_s, int | float) or not 0 <= dwell_s < math.inf:
        raise DeclarationError("run_sweep.dwell_s", dwell_s, "a number of seconds >= 0")
    points = table.points
    if frequencies_hz is not None:
        by_frequency = {p.frequency_hz: p for p in table.points}
        missing = [f for f in frequencies_hz if f not in by_frequency]
        if missing:
            raise RfImmunityError(f"frequencies not in the level calibration: {missing[:5]}")
        points = [by_frequency[f] for f in frequencies_hz]
    clock = clock or WallClock()
    result = SweepResult(table.kind)
    generator.configure_am(am_depth_pct, am_frequency_hz, am_shape)  # checked before the RF goes on
    if power_meter is not None:
        power_meter.configure(points[0].frequency_hz)
    if probe is not None:
        probe.identity()  # switches it on
    try:
        generator.rf_off()
        generator.frequency_hz = points[0].frequency_hz
        generator.level_dbm = points[0].generator_level_dbm
        generator.am_enabled = True
        if amplifier is not None:
            amplifier.operate()
            amplifier.rf_on()
        generator.rf_output = True
        level = points[0].generator_level_dbm
        for index, point in enumerate(points):
            if should_stop is not None and should_stop():
                result.stopped = True
                break
            if point.generator_level_dbm < level:  # never pass through a higher level than either step's
                generator.level_dbm = point.generator_level_dbm
                generator.frequency_hz = point.frequency_hz
            else:
                generator.frequency_hz = point.frequency_hz
                generator.level_dbm = point.generator_level_dbm
            level = point.generator_level_dbm
            generator.confirm()
            applied_s = clock.now()
            if on_applied is not None:
                on_applied(index, point.frequency_hz)
            power_dbm = field_v_per_m = None
            if power_meter is not None:
                power_meter.frequency_hz = point.frequency_hz
                power_dbm = power_meter.measure_power_dbm(between_polls=between_polls(clock))
            if probe is not None:
                field_v_per_m = probe.field_v_per_m()
            completed = _dwell(clock, applied_s + dwell_s, should_stop)
            step = SweepStep(index, point.frequency_hz, point.generator_level_dbm, power_dbm, field_v_per_m,
                             applied_s, clock.now())
            result.steps.append(step)
            if on_step is not None:
                on_step(step)
            if not completed:
                result.stopped = True
                break
    finally:
        _rf_off(generator, amplifier)
    return result


class RfSweepDisturbance:
    """An RF sweep as a disturbance applied while the meter measures (`configure`, `start`, `stop`,
    `running`, like the other EMC generators): runs `run_sweep` in a thread.

        disturbance = RfSweepDisturbance(generator, table, amplifier=amplifier, power_meter=sensor)
        disturbance.configure(**profile_params)      # checks the table fits the profile's test
        disturbance.start(); ...; disturbance.stop()  # stop() returns with the RF off (or raises why not)

    `repeat=True` in configure sweeps again until stopped (a measurement longer than one sweep). While the
    sweep runs, its instruments belong to the sweep thread: do not talk to them from another thread."""

    def __init__(self, generator: RohdeSchwarzSmb100a, table: LevelCalibration, *,
                 amplifier: RfAmplifier | None = None, power_meter: RohdeSchwarzNrp | None = None,
                 probe: EtsLindgrenHi6100 | None = None, clock: Clock | None = None,
                 on_step: Callable[[SweepStep], None] | None = None, stop_timeout_real_s: float = 10.0):
        self.generator, self.table, self.amplifier = generator, table, amplifier
        self.power_meter, self.probe, self.clock, self.on_step = power_meter, probe, clock, on_step
        self.stop_timeout_real_s = stop_timeout_real_s
        self.params: dict[str, Any] | None = None
        self.results: list[SweepResult] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    disturbances = ("conducted_rf", "radiated_rf")

    def runs(self, kind: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """One `configure()` parameter set per run: per antenna polarisation (the operator turns the antenna
        in between) if the profile lists them, else one."""
        if kind != self.table.kind:
            raise RfImmunityError(f"this level calibration is for {self.table.kind}, not {kind}")
        params = dict(params)
        polarisations = params.pop("antenna_polarisations", None) or [None]
        return [{**params, **({"antenna_polarisation": p} if p is not None else {})} for p in polarisations]

    def configure(self, *, dwell_s: float, am_depth_pct: float, am_frequency_hz: float, repeat: bool = False,
                  **profile: Any) -> dict[str, Any]:
        """Profile parameters (frequency range and step, emf_v or field_v_per_m: checked against the table;
        other keys such as d11_level or coupling are informational). Sends nothing."""
        check_table(self.table, **profile)
        self.params = {"dwell_s": dwell_s, "am_depth_pct": am_depth_pct, "am_frequency_hz": am_frequency_hz,
                       "repeat": repeat}
        return dict(self.params)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.params is None:
            raise RfImmunityError("configure the RF sweep before starting it")
        if self.running:
            raise RfImmunityError("the RF sweep is already running")
        self._stop.clear()
        self.error = None
        self._thread = (self.clock or WallClock()).start_thread(self._run, "rf-sweep")

    def _run(self) -> None:
        params = dict(self.params or {})
        repeat = params.pop("repeat")
        try:
            while not self._stop.is_set():
                self.results.append(run_sweep(
                    self.generator, self.table, amplifier=self.amplifier, power_meter=self.power_meter,
                    probe=self.probe, clock=self.clock, on_step=self.on_step, should_stop=self._stop.is_set,
                    **params))
                if not repeat:
                    break
        except BaseException as exc:  # handed to the caller by stop()
            self.error = exc

    def safe_state(self) -> None:
        """Stop the sweep; RF off and amplifier standby even if the sweep failed."""
        try:
            self.stop()
        finally:
            _rf_off(self.generator, self.amplifier)

    def stop(self) -> None:
        """Stop the sweep (the RF goes off); raise what went wrong in the sweep, if anything."""
        self._stop.set()
        if self._thread is not None:
            with (self.clock or WallClock()).idle():
                self._thread.join(self.stop_timeout_real_s)
            if self._thread.is_alive():
                raise RfImmunityError(f"the RF sweep did not stop within {self.stop_timeout_real_s:g} s")
        if self.error is not None:
            error, self.error = self.error, None
            raise error
