"""The safety functions of a smart (microcomputer) gas meter: its shut-off valve and what closes it.

A gas meter with `safety:` in the scenario gets a `SafetyUnit` (component `safety<n>` for gas_meter<n>):
- an accelerometer on the meter's body, sampling the mounting's acceleration (physics/motion.py: the shaker and
  the shock machine) at `sample_hz` through a 2nd-order Butterworth low-pass (`filter_cutoff_hz`), the way a
  seismic sensor ignores fast shaking, and a seismic decision logic on the filtered signal:
  * dwell_by_level: a band trips when the envelope (max |a| over the trailing `envelope_s`) has stayed at or above
    its level for envelope_s + its dwell; one impulse lifts the envelope for about envelope_s only, so it never
    counts, however large;
  * trigger_then_peaks: |a| >= trigger starts an evaluation; |a| >= confirm must follow within confirm_within_s,
    then `peaks` local maxima of |a| >= peak_gal within peaks_within_s of the trigger (a shock rings once or
    twice, an earthquake oscillates);
  a seismic detection closes the valve only if gas was in use (flow >= in_use_flow_m3h) within flow_window_s
  before it, or comes into use within flow_window_s after it;
- an inlet-pressure sensor: the gas supply's gauge pressure (physics/gas_supply.py: the safety tests feed the
  meter through the pressure controller) at or below pressure_drop_gauge_pa for pressure_drop_dwell_s;
- flow sensing: the flow through the meter (the gas rig's, at the meter) above excess_flow_m3h for
  excess_flow_dwell_s;
- a gas-alarm contact (with `gas_alarm_input`): the contact closed (an alarm sounding) for gas_alarm_dwell_s shuts
  off. The contact is a signal of the gas rig for every meter position, whether the meter has the input or not (the
  bench's digital output is wired to it): gas_meter<n>.gas_alarm;
- low battery: the battery voltage (the lab's DC source's output where it replaces the battery: the meter line's
  dc_supply_v, else the meter's own battery_v) below low_battery_shut_off_v for low_battery_dwell_s shuts off;
- continuous use: gas in use without interruption (every step's flow >= in_use_flow_m3h) for longer than the
  `continuous_use` band of the largest flow since the use began shuts off (a use above the last band has no limit);
- the valve: a decision starts it closing; it is closed valve_close_s later and the gas rig's flow stops (only a
  leak of `leak_l_h` passes with the fault valve_leaks). A reset (the meter's interface: the restore command) opens
  it into `restoring` for restore_check_s: gas in use meanwhile (a leak downstream, an appliance left open) closes
  it again (cause restore_check); without, it ends `open`. With restore_check_s 0 it opens at once.

Pressure and flow are judged once per world step (at most 1 s apart): their decision times have that
resolution; the seismic decision is at the exact sample. Every decision and reset is logged with its simulated
time (the meter's clock), with the alarms (causes since the last reset): what the meter's interface serves.

The meter logs on its own clock, `clock_offset_s` off the lab's. Faults (`fault:`): valve_leaks; trips_on_shocks
(the logic lacks its impulse rejection: dwell_by_level counts the dwell from the envelope's rise, trigger_then_peaks
needs one peak); never_trips (no function ever closes the valve); no_continuous_use (the continuous-use shut-off
never acts, the rest does); reopens_itself (a closed valve opens reopen_after_s later without any reset);
no_restore_check (a reset opens the valve whatever flows); ignores_gas_alarm (the input never shuts off);
no_low_battery_shutoff (a low battery never shuts off).

Signals: gas_meter<n>.valve (open | closing | closed | restoring), gas_meter<n>.flow_l_h (the flow through the meter in
L/h: what a leak tester downstream of the closed valve reads), gas_meter<n>.safety_reset (write 1: reset)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from meterlab.metrology.safety import GAL_M_S2
from meterlab.sim.scenario import SafetySpec, Scenario
from meterlab.sim.world import Component, World

L_PER_M3 = 1000.0
SHOCK_RING_S = 1.0  # after a pulse the filter rings this long: the accelerometer keeps sampling
CAUSES = ("seismic", "pressure_drop", "excess_flow", "continuous_use", "restore_check", "gas_alarm", "low_battery")


@dataclass(frozen=True)
class Event:
    cause: str  # one of CAUSES, or "reset"
    t_s: float  # the meter's clock (simulated time)


class LowPass:
    """2nd-order Butterworth low-pass by the bilinear transform (cut-off pre-warped), direct form I."""

    def __init__(self, cutoff_hz: float, sample_hz: float):
        k = math.tan(math.pi * min(cutoff_hz, 0.45 * sample_hz) / sample_hz)
        norm = 1 / (1 + math.sqrt(2) * k + k * k)
        self.b = (k * k * norm, 2 * k * k * norm, k * k * norm)
        self.a = (2 * (k * k - 1) * norm, (1 - math.sqrt(2) * k + k * k) * norm)
        self.reset()

    def reset(self) -> None:
        self.x1 = self.x2 = self.y1 = self.y2 = 0.0

    def __call__(self, x: float) -> float:
        y = self.b[0] * x + self.b[1] * self.x1 + self.b[2] * self.x2 - self.a[0] * self.y1 - self.a[1] * self.y2
        self.x2, self.x1, self.y2, self.y1 = self.x1, x, self.y1, y
        return y


class DwellByLevel:
    """Bands of level and dwell: the envelope held at or above a level for envelope_s + dwell trips (with
    `rejects_impulses` False, the fault trips_on_shocks: for the dwell alone, so an impulse counts)."""

    def __init__(self, spec: SafetySpec, rejects_impulses: bool = True):
        self.spec = spec
        self.hold_s = spec.envelope_s if rejects_impulses else 0.0
        self.reset()

    def reset(self) -> None:
        self.recent: deque[tuple[float, float]] = deque()  # (t, |a|), |a| decreasing: its head is the envelope
        self.held_since: list[float | None] = [None] * len(self.spec.bands)

    def _envelope(self, t_s: float, a_gal: float) -> float:
        """max |a| over the trailing envelope_s (a monotonic queue: O(1) per sample)."""
        while self.recent and self.recent[-1][1] <= abs(a_gal):
            self.recent.pop()
        self.recent.append((t_s, abs(a_gal)))
        while self.recent[0][0] < t_s - self.spec.envelope_s:
            self.recent.popleft()
        return self.recent[0][1]

    def feed(self, t_s: float, a_gal: float) -> bool:
        envelope = self._envelope(t_s, a_gal)
        tripped = False
        for i, band in enumerate(self.spec.bands):
            if envelope < band.level_gal:
                self.held_since[i] = None
                continue
            since = self.held_since[i] = t_s if self.held_since[i] is None else self.held_since[i]
            tripped |= t_s - since >= self.hold_s + band.dwell_s
        return tripped


class TriggerThenPeaks:
    """Trigger, a confirming level soon after, then enough oscillation peaks: impulses are rejected (with
    `rejects_impulses` False, the fault trips_on_shocks: one peak is enough)."""

    def __init__(self, spec: SafetySpec, rejects_impulses: bool = True):
        self.spec = spec
        self.required_peaks = spec.peaks if rejects_impulses else 1
        self.reset()

    def reset(self) -> None:
        self.trigger_s: float | None = None
        self.confirmed = False
        self.peaks = 0
        self.last = self.before = 0.0  # |a| of the last two samples, for local maxima

    def feed(self, t_s: float, a_gal: float) -> bool:
        s, level = self.spec, abs(a_gal)
        is_peak = self.last >= s.peak_gal and self.last >= level and self.last > self.before
        self.before, self.last = self.last, level
        if self.trigger_s is not None and self._expired(t_s):
            self.trigger_s = None
        if self.trigger_s is None:
            if level >= s.trigger_gal:
                self.trigger_s, self.confirmed, self.peaks = t_s, False, 0
            return False
        self.confirmed |= level >= s.confirm_gal
        self.peaks += is_peak
        return self.confirmed and self.peaks >= self.required_peaks

    def _expired(self, t_s: float) -> bool:
        since = t_s - self.trigger_s  # type: ignore[operator]
        return (not self.confirmed and since > self.spec.confirm_within_s) or since > self.spec.peaks_within_s


def seismic_logic(spec: SafetySpec) -> DwellByLevel | TriggerThenPeaks:
    rejects = spec.fault != "trips_on_shocks"
    return DwellByLevel(spec, rejects) if spec.logic == "dwell_by_level" else TriggerThenPeaks(spec, rejects)


class SafetyUnit(Component):
    def __init__(self, spec: SafetySpec, position: int, prefix: str = "gas_meter"):
        self.spec, self.position, self.prefix = spec, position, prefix
        self.name = f"safety{position}"
        self.filter = LowPass(spec.filter_cutoff_hz, spec.sample_hz)
        self.logic = seismic_logic(spec)
        self.valve = "open"
        self.alarms: set[str] = set()
        self.events: list[Event] = []
        self.flow_m3h = 0.0
        self.last_in_use_s = -math.inf
        self.detected_s: float | None = None  # a seismic detection waiting for gas in use
        self.since: dict[str, float | None] = {"pressure_drop": None, "excess_flow": None, "gas_alarm": None,
                                               "low_battery": None}
        self.next_sample_s = 0.0
        self.use_since_s: float | None = None  # continuous use: when gas came into use, and its largest flow since
        self.use_peak_m3h = 0.0
        self.restoring_since_s: float | None = None

    def attach(self, world: World) -> None:
        super().attach(world)
        self.rig, self.motion = world.component("gas_rig"), world.component("motion")
        self.supply = world.component("gas_supply")
        self.contacts = world.component("gas_alarm_contacts")
        line = world.components.get("gas_meters")  # the meter this unit belongs to: its supply
        self.meter = next((m for m in getattr(line, "meters", ()) if m.position == self.position), None)
        self.rig.valves.append(self.closed_flow_m3h)
        self.next_sample_s = world.t_s
        base = f"{self.prefix}{self.position}"
        world.define_signal(f"{base}.valve", lambda: self.valve, doc="open | closing | closed")
        world.define_signal(f"{base}.flow_l_h", lambda: self.flow_m3h * L_PER_M3, doc="flow through the meter")
        world.define_signal(f"{base}.safety_reset", lambda: 0, lambda v: v and self.reset(), "write 1: reset")

    def closed_flow_m3h(self) -> float | None:
        """For the gas rig: None while the valve passes gas (open, or restoring: open under watch), else what passes
        the closed valve."""
        if self.valve != "closed":
            return None
        return self.spec.leak_l_h / L_PER_M3 if self.spec.fault == "valve_leaks" else 0.0

    # -- the meter's functions, once per world step -----------------------------------------------------------
    def step(self, t_s: float, dt_s: float) -> None:
        end = t_s + dt_s
        self.flow_m3h = self.rig.step_flowrate_m3h * self.rig.at_meter(self.position)
        if self.flow_m3h >= self.spec.in_use_flow_m3h:
            self.last_in_use_s = end
        self._sample(t_s, end)
        if self.detected_s is not None:
            self._seismic_decision(end)
        self._held("pressure_drop", self.supply.gauge_pa <= self.spec.pressure_drop_gauge_pa,
                   self.spec.pressure_drop_dwell_s, end)
        self._held("excess_flow", self.flow_m3h > self.spec.excess_flow_m3h, self.spec.excess_flow_dwell_s, end)
        if self.spec.gas_alarm_input and self.spec.fault != "ignores_gas_alarm":
            self._held("gas_alarm", self.contacts.closed[self.position], self.spec.gas_alarm_dwell_s, end)
        if self.spec.fault != "no_low_battery_shutoff":
            self._held("low_battery", self.battery_v() < self.spec.low_battery_shut_off_v,
                       self.spec.low_battery_dwell_s, end)
        self._continuous_use(t_s, end)
        self._restore_check(end)

    def battery_v(self) -> float:
        """The meter's supply: the lab's DC source where it replaces the battery, else the meter's own battery."""
        fed = self.meter.dc_supply_v() if self.meter is not None else None
        return fed if fed is not None else self.spec.battery_v

    def _continuous_use(self, t_s: float, end_s: float) -> None:
        """Gas in use through the whole step continues a use; a step below the in-use flow ends it."""
        if self.valve != "open" or self.flow_m3h < self.spec.in_use_flow_m3h:
            self.use_since_s, self.use_peak_m3h = None, 0.0
            return
        if self.use_since_s is None:
            self.use_since_s = t_s
        self.use_peak_m3h = max(self.use_peak_m3h, self.flow_m3h)
        band = next((b for b in self.spec.continuous_use if self.use_peak_m3h <= b.up_to_m3h), None)
        if band is not None and end_s - self.use_since_s >= band.limit_s and self.spec.fault != "no_continuous_use":
            self.shut_off("continuous_use", end_s)

    def _restore_check(self, end_s: float) -> None:
        if self.valve != "restoring" or self.restoring_since_s is None:
            return
        if self.flow_m3h >= self.spec.in_use_flow_m3h:
            self.shut_off("restore_check", end_s)
        elif end_s - self.restoring_since_s >= self.spec.restore_check_s:
            self.valve, self.restoring_since_s = "open", None

    def _held(self, cause: str, condition: bool, dwell_s: float, end_s: float) -> None:
        if not condition or self.valve != "open":
            self.since[cause] = None
            return
        since = self.since[cause] = end_s if self.since[cause] is None else self.since[cause]
        if end_s - since >= dwell_s:
            self.shut_off(cause, end_s)

    # -- the accelerometer and the seismic logic ------------------------------------------------------------
    def _moving(self, t_s: float, end_s: float) -> bool:
        pulse = self.motion.shock.last
        shocked = pulse is not None and pulse.at_s <= end_s and t_s <= pulse.at_s + pulse.duration_s + SHOCK_RING_S
        return self.motion.shaker.test is not None or shocked

    def _sample(self, t_s: float, end_s: float) -> None:
        if not self._moving(t_s, end_s):
            self.filter.reset()
            self.logic.reset()
            self.next_sample_s = end_s
            return
        period = 1 / self.spec.sample_hz
        while self.next_sample_s <= end_s:
            at = self.next_sample_s
            a = self.motion.acceleration_at(at)
            a_gal = self.filter(math.sqrt(a[0] ** 2 + a[1] ** 2 + a[2] ** 2) * _sign(a)) / GAL_M_S2
            if self.logic.feed(at, a_gal) and self.detected_s is None and self.valve == "open":
                self.detected_s = at
                self._seismic_decision(at)
            self.next_sample_s = at + period

    def _seismic_decision(self, now_s: float) -> None:
        """Shut off if gas was in use within the window before the detection or is in use within it after."""
        detected, window = self.detected_s, self.spec.flow_window_s
        if detected is None:
            return
        if self.last_in_use_s >= detected - window:
            self.shut_off("seismic", max(now_s, detected))
        elif now_s > detected + window:
            self.detected_s = None

    # -- the valve ------------------------------------------------------------------------------------------
    def shut_off(self, cause: str, at_s: float) -> None:
        self.detected_s = None
        if self.spec.fault == "never_trips" or self.valve not in ("open", "restoring"):
            return
        self.valve, self.restoring_since_s = "closing", None
        self.alarms.add(cause)
        self.events.append(Event(cause, at_s + self.spec.clock_offset_s))
        self.world.schedule(at_s + self.spec.valve_close_s, self._closed)
        self.world.emit("safety_shut_off", meter=self.position, cause=cause, t_s=at_s)

    def _closed(self) -> None:
        if self.valve == "closing":
            self.valve = "closed"
            if self.spec.fault == "reopens_itself":
                self.world.schedule(self.world.t_s + self.spec.reopen_after_s, self._reopen_by_itself)

    def _reopen_by_itself(self) -> None:
        """The fault reopens_itself: the valve opens with no reset, no event logged."""
        if self.valve == "closed":
            self.valve = "open"

    def reset(self) -> None:
        """The meter's reset (over its interface: the restore command): the valve opens into its restore check
        (or straight open), the alarms clear, the log keeps all."""
        checks = self.spec.restore_check_s > 0 and self.spec.fault != "no_restore_check"
        self.valve, self.detected_s = ("restoring" if checks else "open"), None
        self.restoring_since_s = self.world.t_s if checks else None
        self.use_since_s, self.use_peak_m3h = None, 0.0
        self.alarms.clear()
        self.since = dict.fromkeys(self.since)
        self.logic.reset()
        self.events.append(Event("reset", self.world.t_s + self.spec.clock_offset_s))


def _sign(a: tuple[float, float, float]) -> float:
    """The sign of the dominant component: the sensor sees the oscillation, not only its magnitude."""
    dominant = max(a, key=abs)
    return -1.0 if dominant < 0 else 1.0


class GasAlarmContacts(Component):
    """The contact line of a gas alarm to each meter position (closed = alarm), driven by the bench's digital
    output; there whether the meter has the input or not, as the wire is."""

    name = "gas_alarm_contacts"

    def __init__(self, positions: int, prefix: str = "gas_meter"):
        self.closed = dict.fromkeys(range(1, positions + 1), False)
        self.prefix = prefix

    def attach(self, world: World) -> None:
        super().attach(world)
        for position in self.closed:
            world.define_signal(f"{self.prefix}{position}.gas_alarm", lambda p=position: self.closed[p],
                                lambda v, p=position: self.closed.__setitem__(p, bool(v)),
                                "the gas alarm's contact at the meter's input (1: alarm)")


def find_safety_unit(world: World, position: int) -> SafetyUnit | None:
    unit = world.components.get(f"safety{position}")
    return unit if isinstance(unit, SafetyUnit) else None


def build(world: World, scenario: Scenario) -> None:
    if "gas_rig" in world.components:  # position 1 at least: the bench's output is wired whatever is mounted
        world.add(GasAlarmContacts(max(1, len(scenario.gas_meters))))
    for position, spec in enumerate(scenario.gas_meters, start=1):
        if spec.safety is not None:
            world.add(SafetyUnit(spec.safety, position))
