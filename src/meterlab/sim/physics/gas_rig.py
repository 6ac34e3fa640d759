"""The gas flow rig: air at near-atmospheric pressure through the gas meters under test, measured by a bell
prover, a sonic nozzle bank or the gas master meter.

The line: source -> gas meters under test 1..N in series -> gas master meter -> sonic nozzle bank -> vacuum
pump. The source is the bell prover (signal bell_valve; its gas is at ambient + bell overpressure) or, with
the bell valve closed, the atmospheric inlet (inlet_valve). With the vacuum pump on and a source open, the
open nozzles pass critical flow, q_m = sum of Cd·C*·A·p0/sqrt(R·T0/M) (`sonic_nozzle_mass_flow`), p0 being
the pressure at the nozzle inlet: the source pressure less the meters' pressure drops, each growing with the
flow squared (solved exactly). The flow is steady at once (critical flow sets itself in milliseconds).

Each meter n sees the mass that passed at ITS OWN pressure and temperature: its volume is the source volume
moved by `gas_volume_at_meter` (p falls by one meter's drop per position; T = gas temperature + (n - 1) x
meter_temperature_step_c). The master meter sits at the nozzle inlet (p0, gas temperature).

The bell: its gas volume changes by the fill blower (bell_fill, at bell_fill_rate_m3h) minus what flows out
to the line, at the bell's pressure and temperature; the bell moves by that volume over its effective area
(`bell_prover_volume`: A·[1 + α(t - 20 °C)]² per metre). It stops at its bottom (no more flow) and top (the
blower stops). The encoder counts the bell's path (bell.encoder, pulses); the detector switches close while
the bell's flag is within ± detector_flag_m/2 of them; bell.gate is the PLC's measuring-section output, on
while the bell is between the stop and the start detector. Gate edges and the end stops happen at their exact
simulated times (scheduled world events, so a counter gated on bell.gate sees exactly the volume between
the detectors). Gas temperature and ambient pressure drift linearly up to a limit (in steps every 10
simulated seconds). Two effects a bell budget covers from the rig's validation can be made real: the bell's gas
warmer than the line's (bell_gas_temperature_offset_c) and a scatter of the volume each pass delivers
(bell_pass_scatter_pct, drawn as the pass enters the measuring section).

The gas is the laboratory's moist air: its water-vapour fraction x_v (from `humidity_pct` at the initial ambient
pressure and gas temperature, CIPM-2007) holds all along the line and through the run; it sets the molar mass
and the isentropic exponent the nozzles and the densities use. gas.humidity_pct is the relative humidity at
meter 1 (where the hygrometer is).

Actuator signals: bell_valve, inlet_valve, vacuum_pump, bell_fill, nozzle1..nozzle<k> (1 = open / on).
Readings: ambient.pressure_pa, gas.temperature_c, gas.pressure_pa (at meter 1), gas.flowrate_m3h (at meter 1),
gas.humidity_pct (at meter 1),
gas.mass_flow_kg_s, gas.nozzle_pressure_pa, gas.nozzle_temperature_c, gas.meter<n>.pressure_pa,
gas.meter<n>.temperature_c, bell.position_m, bell.pressure_pa, bell.temperature_c, bell.encoder, bell.gate,
bell.start_switch, bell.stop_switch, bell.top_switch, bell.bottom_switch. Events: bell.gate (at its edges),
measurement_start (when the gate opens). Pressures are absolute, in Pa.

The PLC's gate for the meters' counters, gas.gate: on while the bell's measuring section is on AND the bell
valve is open (a bell run), or while the collection output `collect` is on (a timed collection, the sonic
nozzles being the reference); edges are world events at their exact times, so the meters' counters and the
collection timer (counting gas.timebase, the timer's reference at `timebase_hz`) see the same gate.

Fault: gas_temperature_excursion (`message:` the temperature in °C the line's gas jumps to, for `duration_s`, after
which it comes back; the drift goes on underneath)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from meterlab.metrology.fluids import (
    ZERO_CELSIUS_K,
    enhancement_factor,
    moist_air_isentropic_exponent,
    moist_air_molar_mass,
    saturation_vapour_pressure_pa,
    water_vapour_mole_fraction,
)
from meterlab.metrology.reference_volume import (
    MOLAR_GAS_CONSTANT,
    bell_prover_volume,
    gas_volume_at_meter,
    sonic_nozzle_mass_flow,
)
from meterlab.sim.physics.master_meter import Conditions, MasterMeter
from meterlab.sim.physics.meters import MeterLine
from meterlab.sim.reference_params import GasRigParams
from meterlab.sim.scenario import Scenario
from meterlab.sim.world import Component, Scheduled, World

S_PER_H = 3600.0
L_PER_M3 = 1000.0
POSITION_EPS_M = 1e-12  # closer than this, the bell is at a boundary
SNAP_M = 1e-9  # at a boundary event the bell is put exactly on it if it is this close (rounding only)
TIME_EPS_S = 1e-9
DRIFT_PERIOD_S = 10.0  # the drifting temperature and ambient pressure change in steps this far apart


def _bounded(drift: float, limit: float) -> float:
    return max(-limit, min(limit, drift))


@dataclass(frozen=True)
class LineState:
    """The steady state of the line for given actuators and conditions (constant over one world step)."""

    source: str | None  # "bell", "inlet" or None
    source_pressure_pa: float
    temperature_c: float
    source_density_kg_m3: float
    mass_flow_kg_s: float
    nozzle_pressure_pa: float  # p0, also at the master meter
    meter_pressure_drop_pa: float  # of each meter under test
    meter_factors: tuple[float, ...]  # volume at meter n / volume at the source
    master_meter_factor: float
    master_meter_density_kg_m3: float
    bell_speed_m_s: float  # + rising

    @property
    def source_flowrate_m3h(self) -> float:
        return self.mass_flow_kg_s / self.source_density_kg_m3 * S_PER_H


class GasRig(Component):
    name = "gas_rig"

    def __init__(self, params: GasRigParams, meter_count: int, rng: np.random.Generator | None = None):
        self.p = params
        self._rng = rng  # for the bell passes' scatter (only when the scenario sets one)
        self._pass_factor = 1.0  # this bell pass's volume per metre, relative to the area's
        self.meter_count = meter_count
        self.x_v = water_vapour_mole_fraction(params.gas_temperature_c, params.ambient_pressure_pa,
                                              params.humidity_pct) if params.humidity_pct else 0.0
        self.molar_mass_kg_mol = float(moist_air_molar_mass(self.x_v, params.molar_mass_kg_mol))
        self.kappa = float(moist_air_isentropic_exponent(self.x_v, params.kappa))
        self._diameters = np.array([n.throat_diameter_m for n in params.nozzles])
        self._cds = np.array([n.discharge_coefficient for n in params.nozzles])
        # actuators
        self.bell_valve_open = False
        self.inlet_valve_open = False
        self.vacuum_pump_on = False
        self.bell_filling = False
        self.collecting = False
        self.nozzle_open = [False] * len(params.nozzles)
        # state
        self.ambient_pressure_pa = params.ambient_pressure_pa
        self.gas_temperature_c = params.gas_temperature_c
        self.bell_position_m = params.bell_initial_position_m
        self.bell_travel_m = 0.0  # path of the bell since the start, for the encoder
        self.gate_open = params.bell_stop_detector_m < self.bell_position_m < params.bell_start_detector_m
        self.line_gate_open = False  # gas.gate
        # shut-off valves of meters under test (physics/safety.py): each says None (open) or the flow, m³/h at
        # the source's conditions, its closed valve passes
        self.valves: list[Callable[[], float | None]] = []
        self.total_mass_kg = 0.0
        self.total_volume_l = 0.0  # at the source's conditions
        self.bell_volume_out_l = 0.0  # left the bell to the line, at the bell's conditions
        self.step_volume_l = 0.0  # of the last step, at the source's conditions (for the meters)
        self.step_flowrate_m3h = 0.0
        self._cache: tuple[tuple[Any, ...], LineState] | None = None
        self._current = self.solve()  # the state of the step being integrated
        self._pending: list[Scheduled] = []
        self._drift_origin_s = 0.0
        self._excursion_c = 0.0  # offset of a gas_temperature_excursion fault while it lasts

    # -- wiring ---------------------------------------------------------------------------------------------
    def attach(self, world: World) -> None:
        super().attach(world)
        self._drift_origin_s = world.t_s
        world.on_fault("gas_temperature_excursion", self.temperature_excursion)
        define = world.define_signal
        define("bell_valve", lambda: self.bell_valve_open, self._actuator("bell_valve_open"), "1 = bell to the line")
        define("inlet_valve", lambda: self.inlet_valve_open, self._actuator("inlet_valve_open"),
               "1 = the line draws from the atmosphere")
        define("vacuum_pump", lambda: self.vacuum_pump_on, self._actuator("vacuum_pump_on"), "1 = running")
        define("bell_fill", lambda: self.bell_filling, self._actuator("bell_filling"), "1 = blower raising the bell")
        define("collect", lambda: self.collecting, self._actuator("collecting"), "1 = timed collection: gas.gate on")
        define("gas.gate", lambda: self.line_gate_open, doc="the meters' counter gate (bell run or timed collection)")
        define("gas.timebase", lambda: math.floor(self.world.t_s * self.p.timebase_hz),
               doc="the collection timer's reference, counted")
        for index in range(len(self.p.nozzles)):
            define(f"nozzle{index + 1}", lambda i=index: self.nozzle_open[i], self._nozzle_actuator(index), "1 = open")
        define("ambient.pressure_pa", lambda: self.ambient_pressure_pa)
        define("gas.temperature_c", lambda: self.gas_temperature_c)
        define("gas.pressure_pa", lambda: self.meter_pressure_pa(1))
        define("gas.humidity_pct", self.humidity_pct, doc="relative humidity at meter 1")
        define("gas.flowrate_m3h", lambda: self.solve().source_flowrate_m3h, doc="at meter 1 (the source)")
        define("gas.mass_flow_kg_s", lambda: self.solve().mass_flow_kg_s)
        define("gas.nozzle_pressure_pa", lambda: self.solve().nozzle_pressure_pa)
        define("gas.nozzle_temperature_c", lambda: self.gas_temperature_c)
        for position in range(1, self.meter_count + 1):
            define(f"gas.meter{position}.pressure_pa", lambda n=position: self.meter_pressure_pa(n))
            define(f"gas.meter{position}.temperature_c", lambda n=position: self.meter_temperature_c(n))
        define("bell.position_m", lambda: self.bell_position_m)
        define("bell.pressure_pa", lambda: self.ambient_pressure_pa + self.p.bell_overpressure_pa)
        define("bell.temperature_c", lambda: self.gas_temperature_c + self.p.bell_gas_temperature_offset_c)
        define("bell.encoder", lambda: math.floor(self.bell_travel_m / self.p.encoder_m_per_pulse + 1e-9),
               doc="encoder pulses: the bell's path")
        define("bell.gate", lambda: self.gate_open, doc="measuring section: between the stop and start detectors")
        half_flag = self.p.detector_flag_m / 2
        define("bell.start_switch", lambda: abs(self.bell_position_m - self.p.bell_start_detector_m) <= half_flag)
        define("bell.stop_switch", lambda: abs(self.bell_position_m - self.p.bell_stop_detector_m) <= half_flag)
        define("bell.top_switch", lambda: self.bell_position_m >= self.p.bell_top_m - POSITION_EPS_M)
        define("bell.bottom_switch", lambda: self.bell_position_m <= self.p.bell_bottom_m + POSITION_EPS_M)

    def _actuator(self, attribute: str):
        def write(value: Any) -> None:
            setattr(self, attribute, bool(value))
            self._replan(self.world.t_s)
            self._sync_line_gate()

        return write

    def _nozzle_actuator(self, index: int):
        def write(value: Any) -> None:
            self.nozzle_open[index] = bool(value)
            self._replan(self.world.t_s)

        return write

    def temperature_excursion(self, fault: Any) -> None:
        """The air of the line changes temperature (a door, the air conditioning) and comes back after a while."""
        try:
            excursion_c = float(fault.message or "")
        except ValueError:
            raise ValueError(f"gas_temperature_excursion needs `message:` the temperature in °C, "
                             f"got {fault.message!r}") from None
        self._shift_temperature(excursion_c - self.gas_temperature_c)
        if fault.duration_s:
            offset = self._excursion_c
            self.world.schedule(self.world.t_s + fault.duration_s, lambda: self._shift_temperature(-offset))

    def _shift_temperature(self, offset_c: float) -> None:
        self._excursion_c += offset_c
        self.gas_temperature_c += offset_c

    # -- the line -------------------------------------------------------------------------------------------
    def density_kg_m3(self, pressure_pa: float, temperature_c: float) -> float:
        """Ideal gas (Z = 1 near atmospheric pressure)."""
        return pressure_pa * self.molar_mass_kg_mol / (MOLAR_GAS_CONSTANT * (temperature_c + ZERO_CELSIUS_K))

    def humidity_pct(self) -> float:
        """The relative humidity at meter 1: x_v·p/(f·p_sv(t)), at its pressure and temperature."""
        if not self.x_v:
            return 0.0
        p, t = self.meter_pressure_pa(1), self.meter_temperature_c(1)
        return min(100.0, 100.0 * self.x_v * p / float(enhancement_factor(t, p) * saturation_vapour_pressure_pa(t)))

    def meter_pressure_pa(self, position: int) -> float:
        state = self.solve()
        return state.source_pressure_pa - (position - 1) * state.meter_pressure_drop_pa

    def meter_temperature_c(self, position: int) -> float:
        return self.gas_temperature_c + (position - 1) * self.p.meter_temperature_step_c

    def solve(self) -> LineState:
        """The line's state for the actuators and conditions now (cached while they do not change)."""
        p = self.p
        bell_available = self.bell_position_m > p.bell_bottom_m + POSITION_EPS_M
        can_fill = self.bell_filling and self.bell_position_m < p.bell_top_m - POSITION_EPS_M
        key = (self.bell_valve_open, self.inlet_valve_open, self.vacuum_pump_on, tuple(self.nozzle_open),
               bell_available, can_fill, self.gas_temperature_c, self.ambient_pressure_pa, self._pass_factor,
               self._closed_flow_m3h())
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        state = self._solve(bell_available, can_fill)
        self._cache = (key, state)
        return state

    def _solve(self, bell_available: bool, can_fill: bool) -> LineState:
        p, temperature_c, count = self.p, self.gas_temperature_c, self.meter_count
        source = "bell" if self.bell_valve_open else "inlet" if self.inlet_valve_open else None
        source_pa = self.ambient_pressure_pa + (p.bell_overpressure_pa if source == "bell" else 0.0)
        source_c = temperature_c + (p.bell_gas_temperature_offset_c if source == "bell" else 0.0)
        source_density = self.density_kg_m3(source_pa, source_c)
        open_nozzles = [i for i, is_open in enumerate(self.nozzle_open) if is_open]
        flowing = bool(source and self.vacuum_pump_on and open_nozzles and (source != "bell" or bell_available))
        mass_flow, nozzle_pa, drop_pa = 0.0, source_pa, 0.0
        factors, mm_factor = (1.0,) * count, 1.0
        if flowing:
            diameters, cds = self._diameters[open_nozzles], self._cds[open_nozzles]

            def nozzles(p0_pa: float) -> float:
                return float(np.sum(sonic_nozzle_mass_flow(diameters, cds, p0_pa, temperature_c,
                                                           self.molar_mass_kg_mol, self.kappa)))

            # q = k·p0 (critical flow) and p0 = p_source - N·c·q² (each meter's drop ∝ flow²): solve for p0
            drop_per_q2 = p.meter_pressure_drop_pa * (S_PER_H / (source_density * p.pressure_drop_flowrate_m3h)) ** 2
            a = count * drop_per_q2 * (nozzles(source_pa) / source_pa) ** 2
            nozzle_pa = source_pa if a == 0 else 2 * source_pa / (1 + math.sqrt(1 + 4 * a * source_pa))
            mass_flow = nozzles(nozzle_pa)
            drop_pa = (source_pa - nozzle_pa) / count if count else 0.0
            pressures = [source_pa - n * drop_pa for n in range(count)] + [nozzle_pa]
            temperatures = [temperature_c + n * p.meter_temperature_step_c for n in range(count)] + [temperature_c]
            moved = gas_volume_at_meter(1.0, p_ref_pa=source_pa, t_ref_c=source_c,
                                        p_mut_pa=np.array(pressures), t_mut_c=np.array(temperatures))
            factors, mm_factor = tuple(float(f) for f in moved[:-1]), float(moved[-1])
            mass_flow = self._through_valves(mass_flow, source_density)
        volume_per_m = self._pass_factor * bell_prover_volume(
            1.0, effective_area_m2=p.bell_area_m2, bell_expansion_coefficient_per_k=p.bell_expansion_coefficient_per_k,
            bell_temperature_c=temperature_c + p.bell_gas_temperature_offset_c)
        fill_m3_s = p.bell_fill_rate_m3h / S_PER_H if can_fill else 0.0
        out_m3_s = mass_flow / source_density if source == "bell" else 0.0
        return LineState(
            source=source, source_pressure_pa=source_pa, temperature_c=temperature_c,
            source_density_kg_m3=source_density, mass_flow_kg_s=mass_flow, nozzle_pressure_pa=nozzle_pa,
            meter_pressure_drop_pa=drop_pa, meter_factors=factors, master_meter_factor=mm_factor,
            master_meter_density_kg_m3=self.density_kg_m3(nozzle_pa, temperature_c),
            bell_speed_m_s=(fill_m3_s - out_m3_s) / volume_per_m,
        )

    def _closed_flow_m3h(self) -> float | None:
        """The flow the closed shut-off valves let through (the tightest in the series), None if all are open."""
        closed = [flow for flow in (valve() for valve in self.valves) if flow is not None]
        return min(closed) if closed else None

    def _through_valves(self, mass_flow_kg_s: float, source_density: float) -> float:
        """A closed valve passes no more than its leak. Simplified: the line's pressures stay those of the open
        line (the nozzles unchoke; nothing a safety test reads depends on them)."""
        closed = self._closed_flow_m3h()
        return mass_flow_kg_s if closed is None else min(mass_flow_kg_s, closed / S_PER_H * source_density)

    # -- for the meters under test and the master meter -----------------------------------------------------
    def at_meter(self, position: int) -> float:
        """Volume at meter `position` per volume at the source, during the step being integrated."""
        factors = self._current.meter_factors
        return factors[position - 1] if position <= len(factors) else 1.0

    def at_master_meter(self) -> float:
        return self._current.master_meter_factor

    def master_meter_conditions(self) -> Conditions:
        state = self.solve()
        flowrate = state.mass_flow_kg_s / state.master_meter_density_kg_m3 * S_PER_H
        return Conditions(flowrate, state.temperature_c, state.nozzle_pressure_pa, state.master_meter_density_kg_m3)

    # -- integration ----------------------------------------------------------------------------------------
    def step_limit_s(self) -> float:
        """Unlimited only at rest: no gas flowing, the bell still and no arrival planned (a moving bell is planned
        two steps ahead)."""
        state = self.solve()
        moving = state.mass_flow_kg_s or state.bell_speed_m_s or self._pending
        return self.world.max_step_s if moving else math.inf

    def step(self, t_s: float, dt_s: float) -> None:
        state = self._current = self.solve()
        mass_kg = state.mass_flow_kg_s * dt_s
        self.step_volume_l = mass_kg / state.source_density_kg_m3 * L_PER_M3
        self.step_flowrate_m3h = state.source_flowrate_m3h
        self.total_mass_kg += mass_kg
        self.total_volume_l += self.step_volume_l
        if state.source == "bell":
            self.bell_volume_out_l += self.step_volume_l
        if state.bell_speed_m_s:
            position = min(max(self.bell_position_m + state.bell_speed_m_s * dt_s, self.p.bell_bottom_m),
                           self.p.bell_top_m)
            self.bell_travel_m += abs(position - self.bell_position_m)
            self.bell_position_m = position
        end_s = t_s + dt_s
        self._drift(end_s)
        if state.bell_speed_m_s or self._pending:
            if self._gate_for(self.bell_position_m, self.solve().bell_speed_m_s) != self.gate_open:
                self._pending.append(self.world.schedule(end_s, self._sync_gate))  # missed edge: at once
            self._replan(end_s)

    def _drift(self, now_s: float) -> None:
        """Linear drifts, taken in steps every DRIFT_PERIOD_S (a function of the time alone, whatever the world's
        steps): the line's state is recomputed only then, not at every step."""
        if not (self.p.gas_temperature_drift_c_per_h or self.p.ambient_pressure_drift_pa_per_h):
            return
        hours = math.floor((now_s - self._drift_origin_s) / DRIFT_PERIOD_S) * DRIFT_PERIOD_S / S_PER_H
        drift_c = _bounded(self.p.gas_temperature_drift_c_per_h * hours, self.p.gas_temperature_drift_limit_c)
        self.gas_temperature_c = self.p.gas_temperature_c + drift_c + self._excursion_c
        self.ambient_pressure_pa = self.p.ambient_pressure_pa + _bounded(
            self.p.ambient_pressure_drift_pa_per_h * hours, self.p.ambient_pressure_drift_limit_pa)

    def _gate_for(self, position_m: float, speed_m_s: float) -> bool:
        stop, start = self.p.bell_stop_detector_m, self.p.bell_start_detector_m
        if stop < position_m < start:
            return True
        if position_m == start:
            return speed_m_s < 0  # entering the section from above
        if position_m == stop:
            return speed_m_s > 0
        return False

    def _sync_gate(self) -> None:
        gate = self._gate_for(self.bell_position_m, self.solve().bell_speed_m_s)
        if gate != self.gate_open:
            self.gate_open = gate
            if gate:
                if self._rng is not None:
                    self._pass_factor = 1.0 + self._rng.normal(0.0, self.p.bell_pass_scatter_pct / 100)
                self.world.emit("measurement_start")
            self.world.emit("bell.gate", value=gate)
            self._sync_line_gate()

    def _sync_line_gate(self) -> None:
        """gas.gate follows the bell's section during a bell run, the collection output otherwise."""
        gate = self.collecting or (self.bell_valve_open and self.gate_open)
        if gate != self.line_gate_open:
            self.line_gate_open = gate
            if gate and self.collecting:
                self.world.emit("measurement_start")  # a bell run's start was emitted with bell.gate
            self.world.emit("gas.gate", value=gate)

    def _replan(self, now_s: float) -> None:
        """Schedule the bell's next arrival at a boundary (end stop or detector) if it falls within two world
        steps; re-planned after every step and actuator change, so drifts never make it late or early."""
        for event in self._pending:
            if event.at_s > now_s + TIME_EPS_S:
                event.cancel()
        self._pending = [e for e in self._pending if not e.cancelled and e.at_s >= self.world.t_s - TIME_EPS_S]
        speed = self.solve().bell_speed_m_s
        if not speed:
            return
        p, position = self.p, self.bell_position_m
        arrivals = [((b - position) / speed, b) for b in
                    (p.bell_bottom_m, p.bell_stop_detector_m, p.bell_start_detector_m, p.bell_top_m)
                    if abs(b - position) > POSITION_EPS_M and (b - position) / speed > 0]
        if not arrivals:
            return
        delay_s, boundary = min(arrivals)
        if delay_s <= 2 * self.world.max_step_s:
            self._pending.append(self.world.schedule(now_s + delay_s, lambda: self._arrive(boundary)))

    def _arrive(self, boundary: float) -> None:
        if abs(self.bell_position_m - boundary) <= SNAP_M:
            self.bell_travel_m += abs(boundary - self.bell_position_m)
            self.bell_position_m = boundary
        self._sync_gate()
        self._replan(self.world.t_s)


def build(world: World, scenario: Scenario) -> None:
    meter_rngs = [world.rng() for _ in scenario.gas_meters]
    # a stream of its own only when drawn from: the other components' streams stay as they were
    rig = GasRig(scenario.gas_rig, len(scenario.gas_meters),
                 rng=world.rng() if scenario.gas_rig.bell_pass_scatter_pct else None)
    world.add(rig)
    world.add(MeterLine(scenario.gas_meters, meter_rngs, source="gas_rig", name="gas_meters", prefix="gas_meter"))
    world.add(MasterMeter("gas_master_meter", scenario.gas_rig.master_meter, source="gas_rig",
                          conditions=rig.master_meter_conditions))
