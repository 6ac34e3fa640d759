"""The gravimetric water rig: the reference volume from the weighing tank (flying or standing starts, the
diverter timed), pump, valves, pulse counters per meter, line thermometer and pressure, optional water
conditioning and register readout."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from meterlab.errors import RigError
from meterlab.instruments.errors import InstrumentError
from meterlab.instruments.scale import STATUS_ERRORS
from meterlab.metrology.methods import GravimetricReading, ReferenceMethod
from meterlab.rigs.at_rest import AtRestWatch
from meterlab.rigs.base import (
    ATMOSPHERE_PA,
    IN_BAND_SLICE_S,
    SETTLE_S,
    BenchRig,
    DisturbanceRun,
    Guard,
    RawMeasurement,
    RunIOLog,
    with_cover,
)
from meterlab.rigs.conditions import Readings, Suspended, violation
from meterlab.rigs.register_readout import RegisterReadout
from meterlab.rigs.transmission import TransmissionWatch
from meterlab.rigs.water_conditioning import WaterConditioning


OVERLOAD = STATUS_ERRORS["+"]  # what the balance's driver says of a load above its range


@dataclass(frozen=True)
class StandingStart:
    """How the rig's flow starts and stops (bench file, the pump's `equipment`, from the rig's validation): the
    flow's first-order time constant, and the shortest run of a standing start, so that the volume passed on
    the ramps (about 2·τ·Q of τ·Q at each end) stays a small share of the whole."""

    flow_time_constant_s: float
    min_run_s: float

    def min_volume_l(self, flowrate_m3h: float) -> float:
        """The volume of the shortest standing start at this flowrate."""
        return flowrate_m3h * self.min_run_s / 3.6

    def ramp_share(self, run_s: float) -> float:
        """The share of a standing start's volume that passed on the ramps, at most (2 τ / run time)."""
        return min(1.0, 2 * self.flow_time_constant_s / run_s) if run_s > 0 else 1.0


def standing_start_of(bench: Any) -> StandingStart | None:
    """The standing-start data of the bench's pump (`equipment.flow_time_constant_s`, `standing_start_min_s`),
    or None if the bench file does not give both."""
    names = bench.by_role("pump")
    equipment = bench.instruments[names[0]].equipment if names else {}
    tau, minimum = equipment.get("flow_time_constant_s"), equipment.get("standing_start_min_s")
    if tau is None or minimum is None:
        return None
    return StandingStart(float(tau), float(minimum))


class WaterRig(WaterConditioning, RegisterReadout, AtRestWatch, TransmissionWatch, BenchRig):
    """A gravimetric water rig: pump, diverter and start valve, weighing tank, pulse counters per meter,
    thermometer and pressure indicator, optional water conditioning (circulator, pressure controller,
    differential-pressure transmitters), EMC generators and climate chamber."""

    weighs = True  # the reference is the weighing tank (a master-meter rig has none)

    def __init__(self, bench: Any, *, clock: Any, iolog: RunIOLog, method: ReferenceMethod,
                 standards: list[str] | None = None, max_flowrate_m3h: float | None = None, register: Any = None):
        self.bench, self.clock, self.iolog, self.method = bench, clock, iolog, method
        self.register = register  # the certificates whose corrections are applied to the readings
        self.pump = self._role("pump")
        self.valves = self._role("diverter")
        self.scale = self._role("reference_scale", required=self.weighs)
        self.thermometer = self._role("water_thermometer", required=False)
        self.pressure = self._role("water_pressure", required=False)
        self.drain = self._role("tank_drain", required=False)
        self.flowmeter = self._role("reference_master_meter", required=False)
        # times the fills (gated by the diverter): a weighing rig's only
        self.timer = self._role("collection_timer", required=False) if self.weighs else None
        if self.timer is not None and getattr(method, "timebase_hz", None) is None:
            raise RigError(f"{self.timer.name} (role collection_timer) times the fills: give it a calibration "
                           f"certificate in the bench file so that its timebase is known")
        self.counters = self._counters()
        self.standing_start = standing_start_of(bench.bench)
        self.max_flowrate_m3h = max_flowrate_m3h or getattr(self.pump.options, "max_flowrate_m3h", None)
        if not self.max_flowrate_m3h:
            raise RigError(f"pump {self.pump.name}: the bench must give options.max_flowrate_m3h (the rig's flow at "
                           f"100 % speed) so that a flow can be set")
        self._standards = standards or []
        self.target_m3h: float | None = None
        self.reversed = False  # the reversing manifold's output is off after a safe state too
        self.speed_pct = 0.0
        self._pulse_value_l: dict[int, float] = {}
        self._speed_changed_at = -SETTLE_S
        self.lab: Any = None  # the simulated lab serving this bench, if any (tests query its world)

    # ------------------------------------------------------------------------------------------ wiring
    def _counters(self) -> dict[int, Any]:
        """Pulse counters by meter position, from their wiring (ch1: meter2.pulse → position 2)."""
        counters = {}
        for name in self.bench.bench.by_role("mut_pulse_counter"):
            driver = self.bench[name]
            wired = driver.wiring.get(f"ch{driver.channel}", "")
            match = re.fullmatch(r"meter(\d+)\.pulse", wired)
            if match:
                counters[int(match.group(1))] = driver
        return counters

    # ------------------------------------------------------------------------------------------- flow
    def set_flow(self, flowrate_m3h: float, *, reverse: bool = False) -> None:
        """Set the flow; `reverse` sends it backwards through the meters (reversing manifold, output wired
        `reverse_valve` on the diverter's digital I/O), back to the supply."""
        reversible = "reverse_valve" in self.valves.wiring.values()
        if reverse and not reversible:
            raise RigError(f"the bench has no reversing manifold: wire an output of {self.valves.name} "
                           f"(DOn: reverse_valve) to run a reverse flow")
        if flowrate_m3h > self.max_flowrate_m3h:
            raise RigError(f"{flowrate_m3h:g} m³/h is above the rig's {self.max_flowrate_m3h:g} m³/h")
        self.target_m3h = flowrate_m3h
        self.valves.diverter_to_bypass()
        if reversible and reverse != self.reversed:  # switched only when the direction changes
            self.valves.set_signal("reverse_valve", reverse)
            self.reversed = reverse
        self.valves.open_start_valve()
        self.speed_pct = min(100.0, flowrate_m3h / self.max_flowrate_m3h * 100)
        self.pump.run(self.speed_pct)
        self._speed_changed_at = self.clock.now()

    def stop_flow(self) -> None:
        self.target_m3h = None
        self.pump.stop()
        self.valves.close_start_valve()

    def _at_rest_readers(self, serials: list[str]) -> dict[str, Callable[[str], dict]]:
        """The bus registers (M-Bus, Modbus) of the declarations' readouts; a register read by hand is not asked for
        at rest (its meter is judged by its pulses or not at all)."""
        return {serials[p - 1]: self._reader(serials[p - 1], source, None)
                for p, source in getattr(self, "_readouts", {}).items()
                if p <= len(serials) and source["readout"] != "manual"}

    def _line_pressure_abs_pa(self) -> float | None:
        return self.water_pressure_pa()

    def _interrupt_flow(self) -> None:
        # start/stop cycles switch the start valve; the pump keeps its speed (the line, diverter and direction
        # stay as set), as a rig's quick-acting valve does
        self.valves.close_start_valve()

    def _restart_flow(self, flowrate_m3h: float) -> None:
        self.valves.open_start_valve()

    def flowrate_m3h(self, *, guard: Guard, window_s: float = 0.0) -> float:
        """Mean flow over at least `window_s`, from the first meter's pulses (at least ~100 pulses, so that
        one pulse more or less is within 1 %)."""
        if not self.counters or self.target_m3h is None:
            return 0.0
        position = min(self.counters)
        counter = self.counters[position]
        pulse_l = self._pulse_value_l[position]
        gate_s = min(max(100 * pulse_l / (self.target_m3h / 3.6), window_s, 1.0), 1000.0)
        counter.configure_timed_totalize(gate_s)
        counter.start()
        self.wait(gate_s, guard=guard)
        count = counter.fetch_count(timeout_s=self.clock.real_seconds(gate_s) + 5)
        return count * pulse_l / gate_s * 3.6

    def water_temperature_c(self) -> float | None:
        return self.thermometer.temperature_c() if self.thermometer else None

    def water_pressure_pa(self) -> float | None:
        return self.pressure.pressure_pa() if self.pressure else None

    def stabilise(self, target_m3h: float | None, *, flow_within_pct: float, water_temperature_c, for_s: float,
                  timeout_s: float, guard: Guard) -> float:
        """Trim the pump until the flow stays within ±pct of the target, and the water temperature in its
        band, for `for_s`; return how long it took (rig seconds). With a reference flowmeter the flow is
        sampled through the hold; without one it is averaged from the first meter's pulses."""
        start = self.clock.now()
        while True:
            guard()
            why, flow = self._hold(target_m3h, flow_within_pct, water_temperature_c, for_s, guard)
            if why is None:
                return self.clock.now() - start
            if target_m3h and flow:
                self._trim_speed(target_m3h, flow)
            if self.clock.now() - start > timeout_s:
                raise RigError(f"not stable within {timeout_s:g} s: {why}")

    def _hold(self, target_m3h, flow_within_pct, water_temperature_c, for_s, guard) -> tuple[str | None, float | None]:
        """Watch the conditions for `for_s`; the first violation (and the flow then), or (None, flow)."""
        def check(flow):
            readings = Readings(flow, self.water_temperature_c(), self.chamber_alarm())
            self.on_readings(readings)
            return violation(readings, target_m3h=target_m3h, flow_within_pct=flow_within_pct,
                             water_temperature_c=water_temperature_c)

        if target_m3h is None or self.flowmeter is None:
            if target_m3h is None:
                self.wait(for_s, guard=guard)
                flow = None
            else:
                flow = self.flowrate_m3h(guard=guard, window_s=for_s)
            return check(flow), flow
        self._wait_in_band(check, guard)
        end = self.clock.now() + for_s
        flow = None
        while True:
            flow = self.flowmeter.volume_flow_m3h
            why = check(flow)
            if why is not None or self.clock.now() >= end:
                return why, flow
            self.wait(min(max(for_s / 10, 1.0), end - self.clock.now()), guard=guard)

    def _wait_in_band(self, check: Callable[[float], str | None], guard: Guard) -> None:
        """After a speed change, until the flow is within its band (`check` finds nothing to say) or SETTLE_S
        has passed. The hold starts from there: the pump's approach to its new flow stays in the band once in
        it, and a flow still outside it before SETTLE_S is the ramp, not a reason to trim the speed (a flow
        that leaves the band during the hold restarts it, as before)."""
        settled_at = self._speed_changed_at + SETTLE_S
        while (left := settled_at - self.clock.now()) > 0:
            if check(self.flowmeter.volume_flow_m3h) is None:
                return
            self.wait(min(IN_BAND_SLICE_S, left), guard=guard)

    def _trim_speed(self, target_m3h: float, measured_m3h: float) -> None:
        self.speed_pct = min(100.0, max(0.1, self.speed_pct * target_m3h / measured_m3h))
        self.pump.run(self.speed_pct)
        self._speed_changed_at = self.clock.now()

    # ------------------------------------------------------------------------------------ measurement
    def standard_uses(self, raw: RawMeasurement) -> list:
        reading = raw.reading
        by_role = {"reference_scale": (min(reading.balance_start_kg, reading.balance_end_kg),
                                       max(reading.balance_start_kg, reading.balance_end_kg)),
                   "water_thermometer": (min(reading.tank_water_temperature_c, reading.meter_water_temperature_c),
                                         max(reading.tank_water_temperature_c, reading.meter_water_temperature_c)),
                   "water_pressure": reading.meter_pressure_pa}
        valued = {self.certificate_of(role): value for role, value in by_role.items() if self.certificate_of(role)}
        return [(ref, valued[ref]) if ref in valued else ref for ref in self._standards]

    def set_meters(self, pulse_values_l: dict[int, float], readouts: dict[int, str] | None = None,
                   update_s: dict[int, float] | None = None) -> None:
        """How the meter at each position is read (declaration `readout`; all pulses if not given) and the
        pulse value of those read by pulses. Registers are found in the bench wiring: M-Bus by the gateway
        address wired to `meter<N>`, Modbus by the meter instrument wired to it; manual ones are typed.
        `update_s`: how often a meter refreshes the register its interface reports (declared)."""
        readouts = dict(readouts or {position: "pulses" for position in pulse_values_l})
        pulsed = sorted(p for p, kind in readouts.items() if kind == "pulses")
        wired = getattr(self, "_wired_counters", None) or self.counters
        self._wired_counters = wired
        missing = [p for p in pulsed if p not in wired]
        if missing:
            raise RigError(f"no pulse counter is wired to meter position(s) {missing} "
                           f"(bench wiring chN: meterM.pulse); wired: {sorted(wired)}")
        no_value = [p for p in pulsed if not pulse_values_l.get(p)]
        if no_value:
            raise RigError(f"meter position(s) {no_value} are read by pulses but have no pulse_value_l")
        self.counters = {p: wired[p] for p in pulsed}  # only these are gated and counted
        self._pulse_value_l = {p: pulse_values_l[p] for p in pulsed}
        self._readouts = {p: {**self._register_source(p, kind), "update_s": (update_s or {}).get(p, 0.0)}
                          for p, kind in sorted(readouts.items()) if kind != "pulses"}

    def _make_room(self, mass_kg: float, guard: Guard) -> None:
        capacity = float(getattr(self.scale.options, "capacity_kg", 0) or 0)
        if not capacity or self._tank_kg(self.scale.weight_kg) + mass_kg * 1.05 < capacity * 0.95:
            return
        if self.drain is None:
            raise RigError(f"the tank cannot take {mass_kg:.1f} kg more and the bench has no tank drain")
        self.drain.set_signal("drain_valve", True)
        try:
            self._wait_for(lambda: self._tank_kg(lambda: self.scale.weight_immediate_kg()[0]) < 0.5, timeout_s=3600,
                           guard=guard, what="draining the weighing tank")
        finally:
            self.drain.set_signal("drain_valve", False)

    def _tank_kg(self, read: Callable[[], float]) -> float:
        """The tank's weight, or infinity while the balance reports an overload (a collection abandoned late,
        e.g. after a missed reply, can overfill the tank: it is drained like a full one)."""
        try:
            return read()
        except InstrumentError as exc:
            if OVERLOAD not in exc.message:
                raise
            return math.inf

    def measure(self, volume_l: float, flowrate_m3h: float, serials: list[str], *, start: str,
                disturbance: tuple[str, dict] | None, criteria, guard: Guard, registers=None,
                next_flow_m3h: float | None = None) -> RawMeasurement:
        """One gravimetric collection of `volume_l`. Flying start: the diverter gates the collection and every
        meter's pulses while the flow runs; with `next_flow_m3h` the pump heads for the programme's next flow
        as soon as the diverter is back on the bypass, while the tank settles for the weighing. Standing start
        (_measure_standing): the flow is stopped, the registers and the tank are read at rest before and after.
        `registers(serial, phase)` types the register of a manually read meter (phase start or end). A violated
        condition discards the attempt and raises Suspended."""
        by_register = [serials[p - 1] for p in getattr(self, "_readouts", {}) if p <= len(serials)]
        if start == "standing":
            return self._measure_standing(volume_l, flowrate_m3h, serials, disturbance, criteria, guard, registers)
        if start != "flying":
            raise RigError(f"start: {start!r} is not a start this rig knows (flying or standing)")
        if by_register:
            raise RigError(f"meter(s) {', '.join(by_register)} are read by their register, which a flying start cannot "
                           f"do on a diverter rig (the register keeps counting while the diverter switches): "
                           f"measure them with start: standing")
        mass_kg = volume_l * 1e-3 * 1000.0
        self._make_room(mass_kg, guard)
        before_kg = self.scale.weight_kg()
        self._arm_counters(timed=True)
        self._watch_start(serials, disturbance)  # the interfaces before the disturbance (meters that have one)
        disturbed = self._start_disturbance(disturbance, guard)
        self._watch_disturbed(disturbed)
        t0 = self.clock.now()
        self.valves.diverter_to_tank()
        try:
            self._collect(mass_kg, before_kg, flowrate_m3h, criteria, guard, disturbed)
        except BaseException:
            self._abandon()
            self._watch = None  # a discarded collection: its datasets go with it
            raise
        finally:
            self._stop_disturbance(disturbed)
        self.valves.diverter_to_bypass()
        t1 = self.clock.now()
        counts = self._pulse_counts(serials)
        self._watch_end(counts)  # and after it: every dataset into the meters' records
        # the line's conditions while the tank settles (the weighing waits for it anyway), the flow still running
        # as the meters saw it
        t_c, p_pa, fill_s, climate = (self.water_temperature_c(), self.water_pressure_pa(), self._timed_fill_s(),
                                      self._climate())
        # nothing of the line is read from here on: the pump may head for the next flow while the tank settles (a flow
        # the rig cannot give is left to its own step, which refuses it)
        if next_flow_m3h is not None and next_flow_m3h <= self.max_flowrate_m3h:
            self.set_flow(next_flow_m3h)
        after_kg = self.scale.weight_kg()
        raw = self._raw_measurement(before_kg, after_kg, t_c, p_pa, (t0, t1), counts, climate, fill_s=fill_s)
        return with_cover(raw, disturbed)

    def _collect(self, mass_kg: float, before_kg: float, flowrate_m3h: float, criteria, guard: Guard,
                 disturbed: DisturbanceRun | None = None) -> None:
        """Fill until the tank holds the mass (or until the disturbance `disturbed` ends), checking pause/abort
        and the monitored conditions."""
        self._run_until(lambda: self.scale.weight_immediate_kg()[0] - before_kg, mass_kg, flowrate_m3h / 3.6,
                        criteria, guard, disturbed, what=f"the tank gaining {mass_kg:.2f} kg", unit="kg")

    def _run_until(self, reached: Callable[[], float], target: float, per_s: float, criteria, guard: Guard,
                   disturbed: DisturbanceRun | None, *, what: str, unit: str) -> None:
        """Until `reached()` (what the reference has collected so far, in `unit`) is `target`, or the disturbance
        `disturbed` has ended (NSAd: the error is measured while the meter is disturbed, so the collection ends
        with it, whatever it holds by then: its U says what the shorter collection is worth), checking
        pause/abort, the rig parts' own health and the monitored conditions (a violation raises Suspended);
        bounded by three times the expected time plus a minute. The progress and the readings already taken
        are shown live (on_collected, on_readings)."""
        expected_s = target / per_s
        end = self.clock.now() + expected_s * 3 + 60
        self._collection_temperatures: list[float] = []  # the monitored readings, for the record's range
        while (got := reached()) < target:
            self.on_collected(got, target, unit)
            self._watch_tick()  # the meters' interfaces while disturbed, every poll interval
            self._check_health(what)
            if disturbed is not None and disturbed.ended():
                return
            guard()
            if criteria is not None:
                readings = Readings(None, self.water_temperature_c(), self.chamber_alarm())
                if readings.water_temperature_c is not None:
                    self._collection_temperatures.append(readings.water_temperature_c)
                self.on_readings(readings)
                why = violation(readings, target_m3h=None, flow_within_pct=None,
                                water_temperature_c=criteria.water_temperature_c)
                if why:
                    raise Suspended(why)
            if self.clock.now() > end:
                raise RigError(f"{what}: not done within {expected_s * 3 + 60:.0f} s")
            self._collection_pause((target - got) / per_s * 0.5, disturbed, expected_s)

    # ------------------------------------------------------------------------- measurement helpers
    def _check_health(self, what: str) -> None:
        """Stop a measurement whose rig parts report a fault of their own (a tripped pump drive; on a master-meter
        rig, the reference master meter's system condition): its readings are no evidence, so it is discarded
        and the run stops in the safe state, instead of running into a timeout or passing on a faulty reference."""
        problems = self.health_problems()
        if problems:
            raise RigError(f"{what}: {'; '.join(problems)}; the measurement is discarded")

    def health_problems(self) -> list[str]:
        """What the parts a measurement relies on report about themselves (empty: all well)."""
        return [f"the pump drive {self.pump.name} reports a fault (tripped)"] if self.pump.fault else []

    def _arm_counters(self, *, timed: bool = False) -> None:
        """Every pulse-read meter's counter armed (and, `timed`, the collection timer): each counts from the
        diverter's next switch to the tank to its switch back."""
        for counter in self._gated(timed):
            counter.configure_gated_totalize()
            counter.start()

    def _gated(self, timed: bool) -> list[Any]:
        return [*self.counters.values(), *([self.timer] if timed and self.timer is not None else [])]

    def _timed_fill_s(self) -> float | None:
        """The fill's duration as the collection timer counted it over the diverter's gate (None: no timer)."""
        if self.timer is None:
            return None
        return self.timer.fetch_count(timeout_s=10.0) / self.method.timebase_hz

    def _pulse_counts(self, serials: list[str]) -> dict[str, dict]:
        return {serials[pos - 1]: {"readout": "pulses", "pulses": counter.fetch_count(timeout_s=10.0),
                                   "counter": counter.name, "pulse_value_l": self._pulse_value_l.get(pos)}
                for pos, counter in self.counters.items() if pos <= len(serials)}

    def _climate(self) -> tuple[float, float] | None:
        """The climatic chamber's temperature and humidity (None: the bench has none)."""
        chamber = self._role("climate_chamber", required=False)
        return None if chamber is None else chamber.read()

    def _raw_measurement(self, before_kg: float, after_kg: float, t_c, p_pa, times: tuple[float, float],
                         mut: dict[str, dict], climate: tuple[float, float] | None, flowrate_m3h: float | None = None,
                         fill_s: float | None = None) -> RawMeasurement:
        """The readings with their certificates' corrections, as the metrology takes them. The flowrate is
        volume / time unless a reference flowmeter gave it under steady flow (a standing start's volume
        includes the ramps, and its start and stop times are only as sharp as the valve's commands). The time
        is the collection timer's count over the diverter's gate (`fill_s`) where the rig has a timer, else the
        rig clock's between the diverter's commands."""
        t0, t1 = times
        source = "reference volume over the rig clock's time between the diverter's commands"
        if fill_s is not None:
            t0, t1 = t1 - fill_s, t1
            source = f"reference volume over the fill time counted by the collection timer ({self.method.timer_source})"
        corrections: dict[str, list] = {}
        after_kg = self._corrected("reference_scale", after_kg, corrections)
        before_kg = self._corrected("reference_scale", before_kg, corrections)
        t_c = self._corrected("water_thermometer", t_c, corrections)
        p_pa = self._corrected("water_pressure", p_pa, corrections)
        reading = GravimetricReading(before_kg, after_kg, t_c, t_c, p_pa if p_pa else ATMOSPHERE_PA, t1 - t0)
        volume_m3 = self.method.reference_volume_m3(self.method.inputs(reading)).x
        conditions = {"water_temperature_c": t_c, "water_pressure_pa": p_pa, "corrections": corrections}
        during = [self._corrected("water_thermometer", t, {}) for t in getattr(self, "_collection_temperatures", ())]
        if during:  # the temperature while the reference collected (corrected like the recorded reading)
            conditions["water_temperature_c_during"] = {"mean": sum(during) / len(during), "min": min(during),
                                                        "max": max(during), "n": len(during)}
        if climate is not None:
            conditions["chamber_temperature_c"], conditions["chamber_humidity_pct"] = climate
        if flowrate_m3h is None:
            flowrate_m3h = volume_m3 / ((t1 - t0) / 3600)
            conditions["flowrate_source"] = source
        else:
            conditions["flowrate_source"] = "reference master meter, under steady flow before the stop"
        if fill_s is not None:
            conditions["fill_time_s"] = {"timer": fill_s, "rig_clock": times[1] - times[0]}
        return RawMeasurement(reading, mut, flowrate_m3h, {"start_s": t0, "stop_s": t1}, conditions)

    # --------------------------------------------------------------------------------- standing start
    def _measure_standing(self, volume_l: float, flowrate_m3h: float, serials: list[str], disturbance, criteria,
                          guard: Guard, registers) -> RawMeasurement:
        """Standing start and stop: registers and tank read at rest, the flow started and stopped with the
        start valve while the diverter stays on the tank; pulses are gated over the whole run. Afterwards
        the set flow runs again, through the bypass, as after a flying start."""
        if self.target_m3h is None:
            raise RigError("no flow is set: a set_flow step must come before a standing-start measurement")
        self.require_standing_start()
        readers = self._register_readers(serials, registers)
        mass_kg = volume_l * 1e-3 * 1000.0
        coast_kg = 2 * flowrate_m3h / 3.6 * SETTLE_S  # what runs on after each stop (twice: before and after)
        self._make_room(mass_kg + coast_kg, guard)
        self._stop_to_rest(guard)
        self.valves.diverter_to_bypass()  # at rest nothing is lost: the counters' gate re-opens at the start
        self._arm_counters()
        mut = self._read_registers(readers, "start", guard)
        before_kg = self.scale.weight_kg()
        self.valves.diverter_to_tank()
        self._watch_start(serials, disturbance)  # the interfaces at rest, before the disturbance (if declared)
        disturbed = None
        try:
            disturbed = self._start_disturbance(disturbance, guard)
            self._watch_disturbed(disturbed)
            self._start_flow()
            # the flow runs from the pump's start to the valve's closing; the ramps up and down (first-order
            # lags) cancel in volume / time, so that is the mean flowrate at the set point
            t0 = self.clock.now()
            self._collect(mass_kg, before_kg, flowrate_m3h, criteria, guard, disturbed)
            t_c, p_pa = self.water_temperature_c(), self.water_pressure_pa()  # under flow, as the meters saw it
            flow_m3h = self.flowmeter.volume_flow_m3h if self.flowmeter is not None else None
            t1 = self.clock.now()
            self._stop_flow_at_valve()
            self._wait_tank_steady(guard)
        except Suspended:
            self._watch = None  # a discarded collection: its datasets go with it
            self._abandon()
            self._start_flow()  # the runner waits for the conditions under the set flow
            raise
        except BaseException:
            self._watch = None
            self._abandon()
            raise
        finally:
            self._stop_disturbance(disturbed)
        end = self._read_registers(readers, "end", guard)
        climate = self._climate()
        after_kg = self.scale.weight_kg()
        self.valves.diverter_to_bypass()
        for serial, record in end.items():
            mut[serial] = {**mut[serial], **record}
        mut.update(self._pulse_counts(serials))
        self._watch_end(mut, self._standing_flow(t0, t1))  # at rest again: the last poll
        self._start_flow()
        return with_cover(self._raw_measurement(before_kg, after_kg, t_c, p_pa, (t0, t1), mut, climate,
                                                flowrate_m3h=flow_m3h), disturbed)

    def _standing_flow(self, t0: float, t1: float) -> dict:
        """When the flow of a standing start ran (pump start to valve closing) and its lag, for judging what the
        meters transmitted meanwhile (rigs/transmission.py)."""
        return {"from_s": t0, "to_s": t1, "lag_s": self.require_standing_start().flow_time_constant_s}

    def require_standing_start(self) -> StandingStart:
        """The standing-start data, or a RigError naming what the bench file must give."""
        if self.standing_start is None:
            raise RigError(f"a standing start needs the pump's start/stop behaviour from the rig's validation: give "
                           f"{self.pump.name} equipment: {{flow_time_constant_s: ..., standing_start_min_s: ...}} in "
                           f"the bench file")
        return self.standing_start

    def _abandon(self) -> None:
        self.valves.diverter_to_bypass()
        for counter in self._gated(timed=True):
            counter.abort()

    def _start_flow(self) -> None:
        """Start valve open and the pump at the speed the last stabilise found for the set flow."""
        self.valves.open_start_valve()
        self.pump.run(self.speed_pct)
        self._speed_changed_at = self.clock.now()

    def _stop_flow_at_valve(self) -> None:
        self.valves.close_start_valve()
        self.pump.stop()

    def _stop_to_rest(self, guard: Guard) -> None:
        """Stop the flow; what still runs on goes to the tank, and a steady balance proves the flow is at rest
        (there is no other proof for every meter: a pulse or register that stops changing may just be slow)."""
        self._stop_flow_at_valve()
        self.valves.diverter_to_tank()
        # what coasts on must reach the tank before its steadiness means anything: at once, a tank that was fed
        # through the bypass is still steady (virtual time asks at once; a busy host's I/O used to give the time)
        self.wait(SETTLE_S, guard=guard)
        self._wait_tank_steady(guard)

    def _wait_tank_steady(self, guard: Guard) -> None:
        # 10 min: far beyond any coasting pump or closing valve; a tank that never settles means a leak
        self._wait_for(lambda: self.scale.weight_immediate_kg()[1], timeout_s=600.0, guard=guard,
                       what="the flow to stop (a steady weighing tank after the start valve closed)")

    # ------------------------------------------------------------------------------------------- end
    def finish(self) -> None:
        """End of a completed run: flow stopped, diverter to bypass."""
        self.stop_flow()
        self.valves.diverter_to_bypass()
