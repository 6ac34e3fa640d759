"""The water flow rig: pump (via its inverter), start/stop valve, diverter, weighing tank with drain.

Flow follows its target (max flow x pump speed setpoint, zero with the valve closed or the pump off)
with a first-order lag, integrated exactly, so the volume is right for any step length. While the
diverter points at the tank, the tank gains the mass that passed the meters: rho(t, p_line) * V, with rho
from Tanaka's formula at the line's absolute pressure, so mass is conserved between meter and tank as in a
real rig (above 40 °C, where Tanaka's formula ends, Kell's density, see `true_water_density`). Water
temperature drifts linearly up to a limit (unless a circulator conditions it); the line pressure falls with the square
of the flow (a pressure regulator, physics/water_conditioning.py, may hold it instead).

Signals: diverter (1 = tank), start_valve (1 = open), drain_valve (1 = open), reverse_valve (1 = the flow
passes the meters backwards, for the reverse-flow test; the meters' step volume is then negative), pump.run, pump.speed_setpoint
(fraction), pump.speed, pump.tripped, pump.acknowledge (write 1), water.flowrate_m3h, water.temperature_c,
water.pressure_bar (gauge), water.density_kg_m3 (in the tank, at atmospheric pressure), tank.mass_kg, tank.steady,
water.timebase (the collection timer's reference, counted). Events: measurement_start
(diverter to tank, or start valve opening). Faults: pump_trip (latched until the inverter acknowledges),
water_temperature_excursion (`message:` the temperature in °C the water jumps to, for `duration_s`, after
which it returns to where it was)."""

from __future__ import annotations

import math
from typing import Any

from meterlab.metrology.fluids import water_density_tanaka
from meterlab.sim.scenario import FaultSpec, Scenario, WaterRigParams
from meterlab.sim.world import Component, World

L_PER_M3 = 1000.0
ATMOSPHERE_PA = 101325.0
PA_PER_BAR = 1e5
S_PER_H = 3600.0
SNAP_SHARE = 1e-7  # of max flow: closer than this to its target, the flow is at its target
# of a ramp's size: closer to its target than this, the flow varies too little for the meters (which count a step at
# its mean flowrate) to need steps of max_step_s; a ramp's tail then takes one step
RAMP_TAIL_SHARE = 0.01
DRIFT_STEP_C = 0.01  # a drifting water temperature moves no more in one step (the meters feel it as at a step's end)
STEADY_KG = 1e-9  # a step changing the tank by less than this does not unsettle the weight


TANAKA_MAX_C = 40.0


def _kell_kg_m3(temperature_c: float) -> float:
    """Kell (1975) density of air-free water at 101.325 kPa, 0..150 °C (ITS-68 coefficients; the difference
    to ITS-90 is far below what the simulation needs)."""
    t = temperature_c
    numerator = (999.83952 + 16.945176 * t - 7.9870401e-3 * t ** 2 - 46.170461e-6 * t ** 3
                 + 105.56302e-9 * t ** 4 - 280.54253e-12 * t ** 5)
    return numerator / (1 + 16.879850e-3 * t)


def true_water_density(temperature_c: float, pressure_pa: float = ATMOSPHERE_PA) -> float:
    """The simulated water's true density: Tanaka's formula where it holds (0..40 °C, so nothing changes for
    cold water), above that Kell's, joined continuously at 40 °C, so hot-water tests (circulator up to
    90 °C) have a physical truth. The metrology core still refuses what its own formulas do not cover."""
    if temperature_c <= TANAKA_MAX_C:
        return float(water_density_tanaka(temperature_c, pressure_pa))
    join = float(water_density_tanaka(TANAKA_MAX_C, pressure_pa)) / _kell_kg_m3(TANAKA_MAX_C)
    return _kell_kg_m3(temperature_c) * join


class WaterRig(Component):
    name = "water_rig"

    def __init__(self, params: WaterRigParams):
        self.p = params
        # actuators, set by the simulated instruments
        self.pump_on = False
        self.pump_speed_setpoint = 0.0  # fraction of the reference speed, 0..1
        self.pump_tripped = False
        self.start_valve_open = False
        self.diverter_to_tank = False  # the command, which gates the meters' counters
        self.tank_collecting = False  # the flap, which follows the command (with a random lag, see _set_diverter)
        self._flap_due_s = -math.inf  # when the flap completes its last commanded switch
        self.drain_open = False
        self.reversed = False  # the reversing manifold sends the flow backwards through the meters
        # state
        self.pump_speed = 0.0  # actual, fraction
        self.flowrate_m3h = 0.0
        self._ramp_target_m3h, self._ramp_m3h = 0.0, 0.0  # the flow the present ramp heads for, and its size
        self.tank_mass_kg = params.initial_tank_mass_kg
        self.tank_changed_at_s = -math.inf
        self.water_temperature_c = params.water_temperature_c
        self.drifted_c = 0.0  # how far the drift has moved the water so far (bounded)
        # set by a pressure regulator (physics/water_conditioning.py) while it regulates; None: the line
        # has the supply's own pressure, as without a regulator
        self.regulated_pressure_bar: float | None = None
        self.regulator_head_bar = params.static_pressure_bar
        self.temperature_conditioned = False  # set while a circulator conditions the water
        self.total_volume_l = 0.0  # true volume through the meters since the start
        self.step_volume_l = 0.0  # of the last step, for the meters
        self.step_flowrate_m3h = 0.0  # mean of the last step

    def attach(self, world: World) -> None:
        super().attach(world)
        self._rng = world.rng()
        world.define_signal("diverter", lambda: self.diverter_to_tank, self._set_diverter, "1 = to the tank")
        world.define_signal("start_valve", lambda: self.start_valve_open, self._set_start_valve, "1 = open")
        world.define_signal("drain_valve", lambda: self.drain_open, self._set_drain, "1 = draining the tank")
        world.define_signal("reverse_valve", lambda: self.reversed, lambda on: setattr(self, "reversed", bool(on)),
                            "1 = the flow goes backwards through the meters (back to the supply, not to the tank)")
        world.define_signal("water.flowrate_m3h", lambda: self.flowrate_m3h)
        world.define_signal("water.temperature_c", lambda: self.water_temperature_c)
        world.define_signal("water.pressure_bar", lambda: self.line_pressure_bar)
        world.define_signal("water.density_kg_m3", lambda: true_water_density(self.water_temperature_c))
        world.define_signal("tank.mass_kg", lambda: self.tank_mass_kg)
        world.define_signal("water.timebase", lambda: math.floor(world.t_s * self.p.timebase_hz),
                            doc="the collection timer's reference, counted (gated by the diverter, it times a fill)")
        world.define_signal("tank.steady", lambda: self.tank_steady(world.t_s), doc="nothing flowing in or out")
        world.define_signal("pump.run", lambda: self.pump_on, lambda on: self.set_pump(on=bool(on)))
        world.define_signal("pump.speed_setpoint", lambda: self.pump_speed_setpoint,
                            lambda share: self.set_pump(speed_fraction=float(share)), "fraction of full speed")
        world.define_signal("pump.speed", lambda: self.pump_speed, doc="actual, fraction of full speed")
        world.define_signal("pump.tripped", lambda: self.pump_tripped)
        world.define_signal("pump.acknowledge", lambda: False, lambda ack: ack and self.acknowledge_trip())
        world.on_fault("pump_trip", self.trip_pump)
        world.on_fault("water_temperature_excursion", self.temperature_excursion)

    # -- actuators ------------------------------------------------------------------------------------------
    def _set_diverter(self, value: Any) -> None:
        to_tank = bool(value)
        if to_tank and not self.diverter_to_tank:
            self.world.emit("measurement_start")
        self.diverter_to_tank = to_tank
        sd = self.p.diverter_timing_sd_s
        if not sd:
            self.tank_collecting = to_tank
            return
        # the flap lags its command by a mean of 3 sd, each switch with its own scatter: the net difference
        # between filling and gating is then normal with standard deviation sd (what a diverter test measures)
        lag_s = max(0.0, 3 * sd + float(self._rng.normal(0.0, sd / math.sqrt(2))))
        # a flap ends where its last command sends it: a switch commanded within the lags of the one before
        # (back and forth within milliseconds) completes after it, never before
        self._flap_due_s = max(self.world.t_s + lag_s, self._flap_due_s)
        self.world.schedule(self._flap_due_s, lambda: setattr(self, "tank_collecting", to_tank))

    def _set_start_valve(self, value: Any) -> None:
        opening = bool(value)
        if opening and not self.start_valve_open:
            self.world.emit("measurement_start")
        self.start_valve_open = opening

    def _set_drain(self, value: Any) -> None:
        self.drain_open = bool(value)

    def set_pump(self, *, on: bool | None = None, speed_fraction: float | None = None) -> None:
        if on is not None:
            self.pump_on = on
        if speed_fraction is not None:
            self.pump_speed_setpoint = min(max(speed_fraction, 0.0), 1.0)

    def trip_pump(self, fault: FaultSpec | None = None) -> None:
        self.pump_tripped = True
        self.world.emit("pump_trip")

    def acknowledge_trip(self) -> None:
        self.pump_tripped = False

    def temperature_excursion(self, fault: FaultSpec) -> None:
        """The supply water changes temperature (a boiler, a mixing valve) and comes back after a while."""
        try:
            excursion_c = float(fault.message or "")
        except ValueError:
            raise ValueError(f"water_temperature_excursion needs `message:` the temperature in °C, got {fault.message!r}") from None
        offset = excursion_c - self.water_temperature_c
        self.water_temperature_c += offset
        if fault.duration_s:
            def restore() -> None:
                self.water_temperature_c -= offset
            self.world.schedule(self.world.t_s + fault.duration_s, restore)

    # -- physics ------------------------------------------------------------------------------------------
    @property
    def line_pressure_bar(self) -> float:
        share = self.flowrate_m3h / self.p.max_flowrate_m3h
        drop_bar = self.p.pressure_drop_bar_at_max_flow * share * share
        if self.regulated_pressure_bar is None:
            return self.p.static_pressure_bar - drop_bar
        # a regulator holds its outlet pressure while its supply (the booster's head less the drop) allows
        return max(0.0, min(self.regulated_pressure_bar, self.regulator_head_bar - drop_bar))

    def _targets(self) -> tuple[float, float]:
        """(pump speed, flowrate) the rig is heading for with its actuators as they are."""
        running = self.pump_on and not self.pump_tripped
        speed_target = self.pump_speed_setpoint if running else 0.0
        return speed_target, self.p.max_flowrate_m3h * speed_target if self.start_valve_open else 0.0

    def step_limit_s(self) -> float:
        """Unlimited while the flow stands at its target or within RAMP_TAIL_SHARE of the ramp that brought it there
        (the meters count a step at its mean flowrate: in the tail that is within that share of every flow in it),
        the tank's weight does not change (when it last changed is taken at a step's end) and the water's
        temperature stands (a drift limits a step to DRIFT_STEP_C of it)."""
        target = self._targets()[1]
        gap = abs(self.flowrate_m3h - target)
        if gap and (target != self._ramp_target_m3h or gap > RAMP_TAIL_SHARE * self._ramp_m3h):
            return self.world.max_step_s
        filling = self.tank_collecting and self.flowrate_m3h > 0 and not self.reversed
        draining = self.drain_open and self.tank_mass_kg > 0
        if filling or draining:
            return self.world.max_step_s
        rate = self.p.water_temperature_drift_c_per_h
        if not self.temperature_conditioned and rate and self.drifted_c != math.copysign(
                self.p.water_temperature_drift_limit_c, rate):  # drifting: by no more than DRIFT_STEP_C in a step
            return max(self.world.max_step_s, DRIFT_STEP_C / abs(rate) * S_PER_H)
        return math.inf

    def step(self, t_s: float, dt_s: float) -> None:
        speed_target, flow_target = self._targets()
        if flow_target != self._ramp_target_m3h:  # a new ramp starts with this step
            self._ramp_target_m3h, self._ramp_m3h = flow_target, abs(self.flowrate_m3h - flow_target)
        decay = math.exp(-dt_s / self.p.pump_time_constant_s)
        # exact integral of a first-order lag towards a constant target over dt
        volume_m3h_s = flow_target * dt_s + (self.flowrate_m3h - flow_target) * self.p.pump_time_constant_s * (1 - decay)
        self.step_volume_l = volume_m3h_s / S_PER_H * L_PER_M3
        self.step_flowrate_m3h = volume_m3h_s / dt_s if dt_s > 0 else self.flowrate_m3h
        self.flowrate_m3h = flow_target + (self.flowrate_m3h - flow_target) * decay
        if abs(self.flowrate_m3h - flow_target) < SNAP_SHARE * self.p.max_flowrate_m3h:
            self.flowrate_m3h = flow_target  # the exponential tail would otherwise never end
        self.pump_speed = speed_target + (self.pump_speed - speed_target) * decay
        if self.reversed:  # the meters see it backwards; it returns to the supply, never to the tank
            self.step_volume_l, self.step_flowrate_m3h = -self.step_volume_l, -self.step_flowrate_m3h
        self.total_volume_l += self.step_volume_l
        if not self.temperature_conditioned:  # a running circulator's controller takes out the drift
            limit = self.p.water_temperature_drift_limit_c
            drifted = max(-limit, min(limit, self.drifted_c + self.p.water_temperature_drift_c_per_h * dt_s / S_PER_H))
            self.water_temperature_c += drifted - self.drifted_c  # by increments: excursions and a circulator add theirs
            self.drifted_c = drifted
        self._fill_tank(t_s + dt_s, dt_s)

    def _fill_tank(self, end_s: float, dt_s: float) -> None:
        before = self.tank_mass_kg
        if self.tank_collecting and self.step_volume_l > 0:
            line_pa = ATMOSPHERE_PA + self.line_pressure_bar * PA_PER_BAR
            mass_kg = true_water_density(self.water_temperature_c, line_pa) * self.step_volume_l / L_PER_M3
            self.tank_mass_kg = min(self.tank_mass_kg + mass_kg, self.p.tank_capacity_kg)  # the rest overflows
        if self.drain_open:
            self.tank_mass_kg = max(self.tank_mass_kg - self.p.tank_drain_rate_kg_s * dt_s, 0.0)
        if abs(self.tank_mass_kg - before) > STEADY_KG:
            self.tank_changed_at_s = end_s

    def tank_steady(self, now_s: float) -> bool:
        """The weight is steady once nothing flows in or out and the water has settled."""
        return now_s - self.tank_changed_at_s >= self.p.scale_settle_time_s


def build(world: World, scenario: Scenario) -> None:
    world.add(WaterRig(scenario.water_rig))
