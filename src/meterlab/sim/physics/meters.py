"""Meters under test, in series on one line: each turns the TRUE volume into its register and its pulses
through its TRUE error curve (linear in log Q), a random error drawn once per measurement, and its
resolution. Disturbances (EMC) act through `disturb()` according to the meter's susceptibility. The meters of a
line are mounted on the lab's vibration table / shock tester when those run (physics/motion.py): a meter with a
`mechanical_shift_pct` keeps that error shift from its first shaking or shock on (a loosened part); one with an
`overload_harm_m3h` keeps its `overload_shift_pct` once gas has passed it faster than that (overload damage). A gas
meter's error shifts by `pressure_shift_pct_per_kpa` with the gas supply's inlet pressure (the working pressure), and
by its `orientation_shift_pct` of the orientation the line is mounted in (signal <prefix>s.orientation, rw). Mounted
the other way round (signal <prefix>s.direction, rw: reverse) a meter sees the line's flow backwards: one that
`measures_reverse_flow` registers it on a reverse register (meter<n>.reverse_register_l) and its pulse output with
its error plus `reverse_error_shift_pct`; one that does not counts nothing (and may be harmed). A meter
with a `humidity_harm_pct` keeps its `humidity_shift_pct` once the climate chamber's humidity has stood at or above
it for `humidity_harm_after_s` (moisture got in).

Signals per meter at position n (1-based): meter<n>.pulse (pulses output since the start),
meter<n>.register_l (the register as displayed), meter<n>.reverse_register_l (the reverse volume it registered).
Event listened to: measurement_start (new random error)."""

from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np

from meterlab.metrology.declarations import DIRECTIONS, ORIENTATIONS
from meterlab.sim.physics.meter_status import MeterStatus
from meterlab.sim.physics.safety import find_safety_unit
from meterlab.sim.scenario import MeterSpec, Scenario, Susceptibility
from meterlab.sim.world import Component, World

DC_SUPPLY_KIND = "dc_voltage_variation"  # the source's DC output held (sim/devices/emc/dips.py kind())
REVERSE_HARM_L = 1.0  # reverse volume beyond which a susceptible meter keeps its reverse_flow_shift_pct


class SimulatedMeter:
    def __init__(self, spec: MeterSpec, position: int, rng: np.random.Generator):
        self.spec, self.position, self.rng = spec, position, rng
        self._log_q = [math.log(q) for q, _ in spec.error_curve]
        self._errors = [e for _, e in spec.error_curve]
        self.indicated_volume_l = spec.initial_register_l
        self.pulse_count = 0
        self._pulse_residue_l = 0.0  # volume counted towards the next pulse
        self.random_error_pct = 0.0
        self.reverse_volume_l = 0.0  # true volume that has flowed backwards through the meter
        self.disturbances: dict[str, Susceptibility] = {}  # active ones, by kind
        self.disturbance_params: dict[str, dict[str, Any]] = {}  # what each applies (a field's flux density)
        self.status = MeterStatus(spec.status)  # the flags it raises from what happens to it
        # the meter's own adjustment (its legally relevant meter factor), which a write over its interface may
        # change: an interface that lets it be changed changes what the meter measures
        self.adjustment_pct = 0.0
        self.mechanically_harmed = False  # shaken or shocked: mechanical_shift_pct from now on
        self.overloaded = False  # run above spec.overload_harm_m3h: overload_shift_pct from now on
        self.inlet_gauge_pa: float | None = None  # the gas supply's pressure at the inlet (None: no gas supply)
        self.orientation = "normal"  # how it is mounted (the line's <prefix>s.orientation signal)
        self.direction = "forward"  # which way round (<prefix>s.direction): reverse sees the line's flow backwards
        self.reverse_indicated_l = 0.0  # what a meter measuring reverse flow registered of it (apart from forward)
        self.damp_s = 0.0  # time in the chamber at or above spec.humidity_harm_pct
        self.water_temperature_c = 20.0  # of the water at the meter (a water line's)
        self.overheated = False  # the water exceeded overheat_above_c once: overheat_shift_pct from now on

    def curve_error_pct(self, flowrate_m3h: float) -> float:
        """The true error at `flowrate_m3h`: linear in log Q, held constant beyond the curve's ends."""
        if flowrate_m3h <= 0:
            return self._errors[0]
        x = math.log(flowrate_m3h)
        i = bisect.bisect_right(self._log_q, x)
        if i == 0:
            return self._errors[0]
        if i == len(self._log_q):
            return self._errors[-1]
        x0, x1, e0, e1 = self._log_q[i - 1], self._log_q[i], self._errors[i - 1], self._errors[i]
        return e0 + (e1 - e0) * (x - x0) / (x1 - x0)

    def new_measurement(self) -> None:
        self.random_error_pct = float(self.rng.normal(0.0, self.spec.repeatability_pct))

    def error_pct(self, flowrate_m3h: float) -> float:
        shift = sum(d.error_shift_pct for d in self.disturbances.values() if d.effect == "error_shift") \
            if self.disturbances else 0.0
        if self.reverse_volume_l > REVERSE_HARM_L:
            shift += self.spec.reverse_flow_shift_pct
        if self.mechanically_harmed:
            shift += self.spec.mechanical_shift_pct
        if self.overloaded:
            shift += self.spec.overload_shift_pct
        shift += self.spec.orientation_shift_pct.get(self.orientation, 0.0)
        if self.spec.humidity_harm_pct is not None and self.damp_s >= self.spec.humidity_harm_after_s:
            shift += self.spec.humidity_shift_pct
        if self.inlet_gauge_pa is not None:
            off_kpa = (self.inlet_gauge_pa - self.spec.pressure_reference_gauge_pa) / 1e3
            shift += self.spec.pressure_shift_pct_per_kpa * off_kpa
        if self.overheated:
            shift += self.spec.overheat_shift_pct
        shift += self.spec.water_temperature_shift_pct_per_c * (self.water_temperature_c - 20.0)
        return self.curve_error_pct(flowrate_m3h) + self.random_error_pct + shift + self.adjustment_pct

    def dc_supply_v(self) -> float | None:
        """The voltage the lab's programmable source feeds the meter with while its DC output is held (in place of
        a battery, or a DC mains), None when it does not (sim/devices/emc/dips.py: nominal x (1 + variation))."""
        params = self.disturbance_params.get(DC_SUPPLY_KIND)
        if params is None:
            return None
        return float(params["nominal_voltage_v"]) * (1 + float(params.get("variation_pct", 0)) / 100)

    def feel_water(self, temperature_c: float) -> None:
        """The water at the meter is at `temperature_c` (a water line's): too hot harms a susceptible meter."""
        self.water_temperature_c = temperature_c
        if self.spec.overheat_above_c is not None and temperature_c > self.spec.overheat_above_c:
            self.overheated = True

    def rest(self, dt_s: float) -> None:
        """The line full and at rest for `dt_s`: a meter that creeps registers (and pulses) its creep volume."""
        if self.spec.creep_l_h > 0:
            self._register(self.spec.creep_l_h * dt_s / 3600)

    def pass_volume(self, true_volume_l: float, flowrate_m3h: float) -> None:
        if true_volume_l < 0:  # reverse flow: counted only by a meter designed to measure it
            self.reverse_volume_l -= true_volume_l
            if self.spec.measures_reverse_flow:
                error_pct = self.error_pct(abs(flowrate_m3h)) + self.spec.reverse_error_shift_pct
                indicated_l = -true_volume_l * (1 + error_pct / 100)
                self.reverse_indicated_l += indicated_l  # recorded apart: the forward register never runs back
                self._pulse(indicated_l)
            return
        if true_volume_l == 0:
            return
        harm_m3h = self.spec.overload_harm_m3h
        if harm_m3h is not None and flowrate_m3h > harm_m3h:
            self.overloaded = True
        self._register(true_volume_l * (1 + self.error_pct(flowrate_m3h) / 100))

    def _register(self, indicated_l: float) -> None:
        """Count `indicated_l` on the register and towards the pulse output."""
        self.indicated_volume_l += indicated_l
        self._pulse(indicated_l)

    def _pulse(self, indicated_l: float) -> None:
        """Count `indicated_l` towards the pulse output (pulses of either direction alike)."""
        self._pulse_residue_l += indicated_l
        pulses = int(self._pulse_residue_l // self.spec.pulse_value_l)
        self._pulse_residue_l -= pulses * self.spec.pulse_value_l
        self.pulse_count += pulses - self._lost(pulses)

    def _lost(self, pulses: int) -> int:
        if not pulses or not self.disturbances:
            return 0
        fraction = max((d.lost_pulse_fraction for d in self.disturbances.values() if d.effect == "lost_pulses"),
                       default=0.0)
        return int(self.rng.binomial(pulses, fraction)) if pulses and fraction else 0

    @property
    def register_l(self) -> float:
        """The register as displayed: the indicated volume cut to the register's resolution."""
        steps = math.floor(self.indicated_volume_l / self.spec.register_resolution_l + 1e-9)
        return steps * self.spec.register_resolution_l

    def disturb(self, kind: str, active: bool, params: dict[str, Any] | None = None) -> None:
        """Start (`active`) or end a disturbance of `kind` (burst, surge, ...) applied to this meter."""
        susceptibility = self.spec.susceptibility.get(kind, Susceptibility())
        if not active:
            self.disturbances.pop(kind, None)
            self.disturbance_params.pop(kind, None)
            return
        self.disturbance_params[kind] = dict(params or {})
        if susceptibility.effect == "reset" and kind not in self.disturbances:
            self.indicated_volume_l = 0.0
            self._pulse_residue_l = 0.0
        self.disturbances[kind] = susceptibility


class MeterLine(Component):
    """The meters under test on the line of a flow rig.

    `source` is the rig component that moves the fluid (it provides `step_volume_l` and
    `step_flowrate_m3h` for each step and must come before this line in the world). Another rig adds its
    own line with its own `name` and signal `prefix` (e.g. gas_meters / gas_meter1.pulse). A source whose
    meters see different volumes (gas at each meter's own p and T) also provides `at_meter(position)`: the
    factor from its step volume to the volume at that meter."""

    def __init__(self, specs: list[MeterSpec], rngs: list[np.random.Generator], *, source: str = "water_rig",
                 name: str = "meters", prefix: str = "meter"):
        self.meters = [SimulatedMeter(spec, i + 1, rng) for i, (spec, rng) in enumerate(zip(specs, rngs))]
        self.source, self.name, self.prefix = source, name, prefix

    def attach(self, world: World) -> None:
        super().attach(world)
        for meter in self.meters:
            world.define_signal(f"{self.prefix}{meter.position}.pulse", lambda m=meter: m.pulse_count)
            world.define_signal(f"{self.prefix}{meter.position}.register_l", lambda m=meter: m.register_l)
            world.define_signal(f"{self.prefix}{meter.position}.reverse_register_l",
                                lambda m=meter: m.reverse_indicated_l)
        world.define_signal(f"{self.prefix}s.orientation", lambda: self.meters[0].orientation if self.meters else None,
                            self._mount, f"how the meters are mounted: {', '.join(ORIENTATIONS)}")
        world.define_signal(f"{self.prefix}s.direction", lambda: self.meters[0].direction if self.meters else None,
                            self._turn, f"which way round the meters are mounted: {', '.join(DIRECTIONS)}")
        world.on("measurement_start", self.new_measurement)
        world.on("shock", self.mechanical_stress)

    def _mount(self, orientation: Any) -> None:
        """The operator remounted every meter of the line in `orientation` (all are in series, mounted alike)."""
        if orientation not in ORIENTATIONS:
            raise ValueError(f"orientation {orientation!r}: one of {', '.join(ORIENTATIONS)}")
        for meter in self.meters:
            meter.orientation = orientation

    def _turn(self, direction: Any) -> None:
        """The operator turned every meter of the line to `direction` (reverse: against the line's flow)."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction {direction!r}: one of {', '.join(DIRECTIONS)}")
        for meter in self.meters:
            meter.direction = direction

    def mechanical_stress(self, **_: Any) -> None:
        """A shaking or a shock reached the line's meters."""
        for meter in self.meters:
            meter.mechanically_harmed = True

    def new_measurement(self, **_: Any) -> None:
        for meter in self.meters:
            meter.new_measurement()

    def step_limit_s(self) -> float:
        """The meters count a constant flow exactly over any step: a step is limited only by a status flag falling
        due, or by moisture getting in (the chamber's humidity counts by the step)."""
        max_step_s, now_s = self.world.max_step_s, self.world.t_s
        flowing = self.world.component(self.source).step_flowrate_m3h  # a quiet rig flows on as in its last step
        limit = math.inf
        for meter in self.meters:
            if meter.spec.humidity_harm_pct is not None and meter.damp_s < meter.spec.humidity_harm_after_s:
                return max_step_s
            sign = 0 if not flowing else -1 if (flowing < 0) != (meter.direction == "reverse") else 1
            limit = min(limit, meter.status.step_limit_s(now_s, max_step_s, meter, sign, self._valve_open(meter)))
        return limit

    def step(self, t_s: float, dt_s: float) -> None:
        shaker = self.world.components.get("shaker")
        if shaker is not None and shaker.test is not None:
            self.mechanical_stress()
        rig = self.world.component(self.source)
        # the working pressure: the gas supply feeds the gas rig's meters (their error curve holds at its nominal
        # pressure; the rig's reference volume is not moved to it: the simulated line stays near atmospheric)
        chamber = self.world.components.get("chamber")  # the meters of a climatic test are inside it
        for meter in self.meters if chamber is not None else ():
            threshold = meter.spec.humidity_harm_pct
            if threshold is not None and chamber.humidity_pct >= threshold:
                meter.damp_s += dt_s
        supply = self.world.components.get("gas_supply") if self.source == "gas_rig" else None
        for meter in self.meters if supply is not None else ():
            meter.inlet_gauge_pa = supply.gauge_pa
        at_meter = getattr(rig, "at_meter", None)  # a gas rig: each meter sees the volume at its own p and T
        for meter in self.meters:
            factor = at_meter(meter.position) if at_meter else 1.0
            factor *= -1.0 if meter.direction == "reverse" else 1.0  # turned round: the line's flow passes it backwards
            if self.source == "water_rig":
                meter.feel_water(rig.water_temperature_c)
            if rig.step_volume_l == 0:  # the line stands full (of water, or of gas at rest): a creeping meter counts
                meter.rest(dt_s)
            meter.pass_volume(rig.step_volume_l * factor, rig.step_flowrate_m3h * factor)
            meter.status.observe(t_s, dt_s, rig.step_volume_l * factor, meter, self._valve_open(meter))

    def _valve_open(self, meter: SimulatedMeter) -> bool | None:
        """A smart gas meter's shut-off valve: open or not (None: the meter has none)."""
        unit = find_safety_unit(self.world, meter.position) if self.source == "gas_rig" else None
        return None if unit is None else unit.valve == "open"

    def meter(self, key: int | str) -> SimulatedMeter:
        """By position (1-based) or serial number."""
        for meter in self.meters:
            if key == meter.position or key == meter.spec.serial:
                return meter
        raise KeyError(f"no meter {key!r} on the line")

    def disturb(self, key: int | str, kind: str, active: bool, params: dict[str, Any] | None = None) -> None:
        """The hook for disturbance generators (EMC): call inside `with world.now():`."""
        self.meter(key).disturb(kind, active, params)


def build(world: World, scenario: Scenario) -> None:
    world.add(MeterLine(scenario.meters, [world.rng() for _ in scenario.meters]))
