"""The motion of the meter's mounting: the vibration table (shaker) and the mechanical shock / pendulum impact
tester, and the acceleration they give the meter.

The meter is mounted rigidly on the table, so its acceleration is the table's: `meter.acceleration_m_s2` is the
vector (x, y, z) in m/s², the shaker's motion plus a shock pulse while one lasts. A quantity that changes within
milliseconds cannot be a value per world step (up to 1 s), so each component is a function of the simulated time:
`Shaker.acceleration_at(t_s)`, `ShockMachine.acceleration_at(t_s)`, `Motion.acceleration_at(t_s)`, which a
simulated sensor (the meter's accelerometer) samples at its own rate; the signals give the value at the world's
present time.

Shaker (one axis at a time, what its controller was told, `level_error_pct` off, rising over `startup_s`):
- sine: a(t) = A·sin(2πf·t);
- sweep: logarithmic, f = f1·2^(r·t/60) up to f2 and back down (one cycle), phase integrated exactly;
- random: the sum of `random_lines` sinusoids equally spaced over the profile's band, amplitude
  sqrt(2·ASD(f)·Δf) each, random phases (seeded): its RMS is the profile's to the discretisation of the band.
A test with a duration ends at its exact simulated time (DONE); stop and abort end it at once (the simulated
table does not ramp down). Signals: shaker.acceleration_m_s2 (x, y, z), shaker.level_m_s2 (true peak of a
sine or sweep, true RMS of a random vibration, 0 at rest), shaker.frequency_hz (sine, sweep; 0 otherwise),
shaker.running, shaker.state (IDLE, RUNNING, DONE, STOPPED, ABORTED). Events: shaker (state=...).

Shock machine: FIRE releases the pendulum; after `release_delay_s` the meter receives a half-sine pulse
a(t) = P·sin(π·t/D) along the set axis, P and D the settings off by the scenario's errors (P with a shot-to-shot
scatter). Signals: shock.interlock_closed (rw: the guard), shock.firing, shock.count, shock.last_peak_m_s2,
shock.last_duration_s (true values of the last pulse). Events: shock (peak_m_s2, duration_s, axis) at the impact.
Fault: shock_interlock_open (the guard opens, for `duration_s` or until written closed)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from meterlab.instruments.vibration import asd_at
from meterlab.sim.scenario import ShakerParams, ShockParams
from meterlab.sim.world import Component, Scheduled, World

if TYPE_CHECKING:
    from meterlab.sim.scenario import FaultSpec, Scenario

AXIS_INDEX = {"X": 0, "Y": 1, "Z": 2}
S_PER_MIN = 60.0
Vector = tuple[float, float, float]
AT_REST: Vector = (0.0, 0.0, 0.0)


def _on_axis(axis: str, value: float) -> Vector:
    vector = [0.0, 0.0, 0.0]
    vector[AXIS_INDEX[axis]] = value
    return vector[0], vector[1], vector[2]


@dataclass(frozen=True)
class Sweep:
    """A logarithmic sweep start -> stop -> start per cycle at `octaves_per_min`."""

    start_hz: float
    stop_hz: float
    octaves_per_min: float
    cycles: int

    @property
    def k_per_s(self) -> float:  # octaves per second
        return self.octaves_per_min / S_PER_MIN

    @property
    def leg_s(self) -> float:
        return math.log2(self.stop_hz / self.start_hz) / self.k_per_s

    @property
    def duration_s(self) -> float:
        return 2 * self.leg_s * self.cycles

    def frequency_hz(self, t_s: float) -> float:
        legs, into = divmod(t_s, self.leg_s)
        if int(legs) % 2 == 0:
            return self.start_hz * 2 ** (self.k_per_s * into)
        return self.stop_hz * 2 ** (-self.k_per_s * into)

    def phase_rad(self, t_s: float) -> float:
        """2π ∫ f dt from the sweep's start: whole legs, then the part of the current one."""
        legs, into = divmod(t_s, self.leg_s)
        per_leg = (self.stop_hz - self.start_hz) / (self.k_per_s * math.log(2))
        grow = (2 ** (self.k_per_s * into) - 1) / (self.k_per_s * math.log(2))
        shrink = (1 - 2 ** (-self.k_per_s * into)) / (self.k_per_s * math.log(2))
        part = self.start_hz * grow if int(legs) % 2 == 0 else self.stop_hz * shrink
        return 2 * math.pi * (legs * per_leg + part)


@dataclass(frozen=True)
class RandomLines:
    """A random vibration as a sum of sinusoids: frequencies, amplitudes (m/s²), phases."""

    frequencies_hz: np.ndarray
    amplitudes_m_s2: np.ndarray
    phases_rad: np.ndarray

    @classmethod
    def from_profile(cls, profile: list[tuple[float, float]], lines: int, rng: np.random.Generator) -> RandomLines:
        low, high = profile[0][0], profile[-1][0]
        step = (high - low) / lines
        frequencies = low + (np.arange(lines) + 0.5) * step
        asd = np.array([asd_at(profile, float(f)) for f in frequencies])
        return cls(frequencies, np.sqrt(2 * asd * step), rng.uniform(0, 2 * math.pi, lines))

    @property
    def rms_m_s2(self) -> float:
        return float(math.sqrt(np.sum(self.amplitudes_m_s2 ** 2) / 2))

    def value(self, t_s: float) -> float:
        return float(np.sum(self.amplitudes_m_s2 * np.sin(2 * math.pi * self.frequencies_hz * t_s + self.phases_rad)))


@dataclass(frozen=True)
class ShakerRun:
    """What the table runs: kind sine | sweep | random, the demanded level (peak or RMS), from `start_s`."""

    kind: str
    axis: str
    level_m_s2: float
    start_s: float
    duration_s: float | None  # None: until stopped
    frequency_hz: float = 0.0
    sweep: Sweep | None = None
    lines: RandomLines | None = None


class _LazyRandom:
    """A random stream taken from the world on first use: a lab that never shakes draws no stream, so adding this
    subsystem leaves every other component's and device's seeded stream as it was."""

    _rng: np.random.Generator | None = None
    world: World

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = self.world.rng()
        return self._rng


class Shaker(_LazyRandom, Component):
    name = "shaker"

    def __init__(self, params: ShakerParams):
        self.p = params
        self.test: ShakerRun | None = None
        self.state = "IDLE"
        self.last_start_s = 0.0
        self._end: Scheduled | None = None

    def attach(self, world: World) -> None:
        super().attach(world)
        define = world.define_signal
        define("shaker.acceleration_m_s2", lambda: self.acceleration_at(self.world.t_s), doc="(x, y, z) at the table")
        define("shaker.level_m_s2", lambda: self.level_at(self.world.t_s), doc="true peak (sine) or RMS (random)")
        define("shaker.frequency_hz", lambda: self.frequency_at(self.world.t_s))
        define("shaker.running", lambda: self.test is not None)
        define("shaker.state", lambda: self.state)

    # -- the controller's commands ---------------------------------------------------------------------------
    def start_sine(self, axis: str, level_m_s2: float, frequency_hz: float, duration_s: float | None) -> None:
        self._start(ShakerRun("sine", axis, level_m_s2, self.world.t_s, duration_s, frequency_hz=frequency_hz))

    def start_sweep(self, axis: str, level_m_s2: float, sweep: Sweep) -> None:
        self._start(ShakerRun("sweep", axis, level_m_s2, self.world.t_s, sweep.duration_s, sweep=sweep))

    def start_random(self, axis: str, profile: list[tuple[float, float]], duration_s: float | None) -> None:
        lines = RandomLines.from_profile(profile, self.p.random_lines, self.rng)
        self._start(ShakerRun("random", axis, lines.rms_m_s2, self.world.t_s, duration_s, lines=lines))

    def _start(self, test: ShakerRun) -> None:
        self.test, self.state, self.last_start_s = test, "RUNNING", test.start_s
        if test.duration_s is not None:
            self._end = self.world.schedule(test.start_s + test.duration_s, lambda: self._finish("DONE"))
        self.world.emit("shaker", state=self.state)

    def stop(self, state: str = "STOPPED") -> None:
        """End the test at once (`state`: STOPPED, or ABORTED for an abort)."""
        if self.test is not None:
            self._finish(state)

    def _finish(self, state: str) -> None:
        if self._end is not None:
            self._end.cancel()
            self._end = None
        self.test, self.state = None, state
        self.world.emit("shaker", state=state)

    # -- the motion ------------------------------------------------------------------------------------------
    def _envelope(self, test: ShakerRun, t_s: float) -> float:
        """Demanded level x the loop's error x the start-up ramp."""
        since = t_s - test.start_s
        ramp = 1.0 if self.p.startup_s <= 0 else min(1.0, max(0.0, since / self.p.startup_s))
        return test.level_m_s2 * (1 + self.p.level_error_pct / 100) * ramp

    def level_at(self, t_s: float) -> float:
        return 0.0 if self.test is None else self._envelope(self.test, t_s)

    def frequency_at(self, t_s: float) -> float:
        test = self.test
        if test is None or test.kind == "random":
            return 0.0
        return test.sweep.frequency_hz(t_s - test.start_s) if test.sweep else test.frequency_hz

    def acceleration_at(self, t_s: float) -> Vector:
        test = self.test
        if test is None or t_s < test.start_s:
            return AT_REST
        since, envelope = t_s - test.start_s, self._envelope(test, t_s)
        if test.kind == "sine":
            value = envelope * math.sin(2 * math.pi * test.frequency_hz * since)
        elif test.kind == "sweep":
            value = envelope * math.sin(test.sweep.phase_rad(since))  # type: ignore[union-attr]
        else:
            lines = test.lines
            value = envelope / lines.rms_m_s2 * lines.value(since) if lines.rms_m_s2 else 0.0  # type: ignore[union-attr]
        return _on_axis(test.axis, value)


@dataclass(frozen=True)
class Pulse:
    axis: str
    peak_m_s2: float
    duration_s: float
    at_s: float


class ShockMachine(_LazyRandom, Component):
    name = "shock"

    def __init__(self, params: ShockParams):
        self.p = params
        self.interlock_closed = True
        self.firing = False
        self.count = 0
        self.last: Pulse | None = None
        self._interlock_generation = 0

    def attach(self, world: World) -> None:
        super().attach(world)
        define = world.define_signal
        define("shock.interlock_closed", lambda: self.interlock_closed, self._set_interlock, "the guard")
        define("shock.firing", lambda: self.firing)
        define("shock.count", lambda: self.count)
        define("shock.last_peak_m_s2", lambda: self.last.peak_m_s2 if self.last else 0.0, doc="true peak")
        define("shock.last_duration_s", lambda: self.last.duration_s if self.last else 0.0, doc="true duration")
        world.on_fault("shock_interlock_open", self.open_interlock)

    def _set_interlock(self, value: Any) -> None:
        self._interlock_generation += 1
        self.interlock_closed = bool(value)

    def open_interlock(self, fault: FaultSpec | None = None) -> None:
        """The guard opens (fault shock_interlock_open), for the fault's duration if it has one."""
        self._set_interlock(False)
        generation = self._interlock_generation
        if fault is not None and fault.duration_s is not None:
            self.world.schedule(self.world.t_s + fault.duration_s,
                                lambda: generation == self._interlock_generation and self._set_interlock(True))

    def fire(self, axis: str, peak_m_s2: float, duration_s: float) -> None:
        """Release: the pulse reaches the meter after the pendulum's swing."""
        scatter = self.rng.normal(0.0, self.p.peak_scatter_pct / 100) if self.p.peak_scatter_pct else 0.0
        peak = peak_m_s2 * (1 + self.p.peak_error_pct / 100) * (1 + scatter)
        pulse = Pulse(axis, peak, duration_s * (1 + self.p.duration_error_pct / 100),
                      self.world.t_s + self.p.release_delay_s)
        self.firing = True
        self.world.schedule(pulse.at_s, lambda: self._impact(pulse))

    def _impact(self, pulse: Pulse) -> None:
        self.last, self.count = pulse, self.count + 1
        self.world.schedule(pulse.at_s + pulse.duration_s, self._settled)
        self.world.emit("shock", peak_m_s2=pulse.peak_m_s2, duration_s=pulse.duration_s, axis=pulse.axis)

    def _settled(self) -> None:
        self.firing = False

    def acceleration_at(self, t_s: float) -> Vector:
        pulse = self.last
        if pulse is None or not pulse.at_s <= t_s <= pulse.at_s + pulse.duration_s:
            return AT_REST
        return _on_axis(pulse.axis, pulse.peak_m_s2 * math.sin(math.pi * (t_s - pulse.at_s) / pulse.duration_s))


class Motion(Component):
    """The meter's acceleration: the table's and the shock's, added (both act on the same rigid mounting)."""

    name = "motion"

    def __init__(self, shaker: Shaker, shock: ShockMachine):
        self.shaker, self.shock = shaker, shock

    def attach(self, world: World) -> None:
        super().attach(world)
        world.define_signal("meter.acceleration_m_s2", lambda: self.acceleration_at(self.world.t_s),
                            doc="(x, y, z) at the meter under test, m/s²")

    def acceleration_at(self, t_s: float) -> Vector:
        a, b = self.shaker.acceleration_at(t_s), self.shock.acceleration_at(t_s)
        return a[0] + b[0], a[1] + b[1], a[2] + b[2]


def build(world: World, scenario: Scenario) -> None:
    shaker = world.add(Shaker(scenario.shaker))
    shock = world.add(ShockMachine(scenario.shock))
    world.add(Motion(shaker, shock))  # type: ignore[arg-type]
