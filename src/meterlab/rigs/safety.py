"""The safety functions of a smart gas meter on a gas rig: stimuli (shaking, a shock impulse, a fall of the
inlet pressure, an excessive flow), the meter's shut-off valve watched over its interface, and the leak past
the closed valve.

`SafetyFunctions` is a mixin for `rigs.gas_line.GasLine` (it uses `_role`, `wait`, `clock`, `set_flow`,
`stop_flow`). Roles on the bench, needed only when a safety step runs:

- `shaker_controller` (instruments/vibration.py), `shock_tester` (instruments/shock.py);
- `gas_supply_pressure_controller`: the pressure controller between the supply and the meter's inlet, its
  setpoints gauge pressures (`equipment: {pressure_reference: gauge}`);
- `mut_modbus`: the meter's own interface, a register map with a valve block (instruments/meter_readout.py
  SafetyRegisters); the first such instrument is the meter under test;
- `valve_leak_tester`: a flow transmitter downstream of the valve, in L/h (instruments/transmitter.py);
- `gas_rig_valves`, its output wired to `gas_meter1.gas_alarm`: the gas-alarm contact at the meter's input;
- `dips_generator` with a DC output: the meter's battery replaced by it (low-battery shut-off).

A reset is the meter's restore command: the valve may first read `restoring` (the meter's restore check watching
the flow) before it reads open; `reset_valve` waits that out with the flow stopped, `restore_valve` watches it.

The valve's state is polled every `POLL_S` of rig time: a closing is known to lie between the last poll that saw
the valve open and the first that saw it closed (metrology/safety.py turns that into a time and its
uncertainty). A stimulus always ends here (the shaker stopped, the pressure controller's output off) whatever
happens, and the rig's safe state stops both too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from meterlab.errors import RigError
from meterlab.metrology.safety import GAL_M_S2
from meterlab.rigs.base import Guard
from meterlab.rigs.conditions import Held

POLL_S = 0.5  # rig seconds between two reads of the valve's state: the resolution of a shut-off time
# A reset waits out the meter's restore check (the valve reads `restoring`) at most this long before it calls the
# meter faulty: far beyond any check a meter documents (the profile's is minutes).
RESTORE_TIMEOUT_S = 900.0
# The output of the gas-rig digital I/O (role gas_rig_valves) wired to the first meter's gas-alarm input: the
# bench's `wiring:` names it so (instruments/sim-gas.yaml DO5).
GAS_ALARM_SIGNAL = "gas_meter1.gas_alarm"


@dataclass(frozen=True)
class ValveWatch:
    """What polling the valve saw from a stimulus: when it was last open and first closed (rig clock, s)."""

    stimulus_s: float
    last_open_s: float
    closed_s: float | None  # None: still open at the end
    state: Any  # the meter's SafetyState at the end
    poll_s: float = POLL_S  # the polling interval (the resolution of the times)

    @property
    def shut_off(self) -> bool:
        return self.closed_s is not None


class SafetyFunctions:
    clock: Any
    _role: Callable[..., Any]
    wait: Callable[..., None]
    set_flow: Callable[..., float]
    stop_flow: Callable[[], None]

    # -- the meter's interface ------------------------------------------------------------------------------
    def _meter_interface(self) -> Any:
        connected = self.bench  # type: ignore[attr-defined]
        for name in connected.bench.by_role("mut_modbus"):
            driver = connected.get(name)
            if driver is not None and driver.model.safety is not None:
                return driver
        raise RigError("no meter interface with a valve block: give the bench a mut_modbus instrument whose "
                       "register map (options.model) has `safety:` (e.g. sim_smart_gas)")

    def valve_state(self) -> Any:
        return self._meter_interface().read_safety_state()

    def reset_valve(self, *, guard: Guard | None = None) -> None:
        """The meter's reset over its interface (flow stopped: nothing to close it again), its restore check waited
        out; confirmed by the valve reading open."""
        meter = self._meter_interface()
        meter.reset_valve()
        deadline = self.clock.now() + RESTORE_TIMEOUT_S
        while (valve := meter.read_safety_state().valve) == "restoring" and self.clock.now() < deadline:
            if guard is not None:
                guard()
            self.clock.pause(POLL_S)
        if valve != "open":
            raise RigError(f"the meter's valve did not open after its reset (it reads {valve})")

    def restore_valve(self, observe_s: float, *, guard: Guard) -> ValveWatch:
        """The restore command (the meter's reset), then the valve watched for `observe_s`: closed again by the
        meter's restore check, or not (its state at the end says whether it opened). The stimulus is the command."""
        meter = self._meter_interface()
        meter.reset_valve()
        start = self.clock.now()
        return self.watch_valve(start, start + observe_s, guard=guard)

    def hold_closed(self, observe_s: float, *, guard: Guard) -> tuple[float | None, Any]:
        """Watch a closed valve with no restore for `observe_s`: (rig time it was first seen not closed, or None;
        the last state read)."""
        meter = self._meter_interface()
        start = self.clock.now()
        while True:
            guard()
            now, state = self.clock.now(), meter.read_safety_state()
            if state.valve != "closed":
                return now - start, state
            if now >= start + observe_s:
                return None, state
            self.clock.pause(min(POLL_S, start + observe_s - now))

    def watch_valve(self, stimulus_s: float, until_s: float, *, guard: Guard, poll_s: float = POLL_S,
                    last_open_s: float | None = None) -> ValveWatch:
        """Poll the valve every `poll_s` until it reads closed or the rig clock reaches `until_s` (`last_open_s`:
        an earlier watch's last poll that saw it open, when this one continues it)."""
        meter = self._meter_interface()
        last_open = stimulus_s if last_open_s is None else last_open_s
        while True:
            guard()
            now, state = self.clock.now(), meter.read_safety_state()
            if state.valve == "closed":
                return ValveWatch(stimulus_s, last_open, now, state, poll_s)
            last_open = now
            if now >= until_s:
                return ValveWatch(stimulus_s, last_open, None, state, poll_s)
            self.clock.pause(min(poll_s, until_s - now))

    # -- stimuli --------------------------------------------------------------------------------------------
    def shake(self, acceleration_gal: float, period_s: float, duration_s: float, *, axis: str = "X",
              observe_s: float = 0.0, guard: Guard) -> ValveWatch:
        """A sine of constant acceleration for `duration_s` (the valve watched meanwhile and `observe_s` after);
        the table is stopped whatever happens."""
        shaker = self._role("shaker_controller")
        shaker.configure_sine(axis=axis, acceleration_m_s2=acceleration_gal * GAL_M_S2, period_s=period_s,
                              duration_s=duration_s)
        try:
            shaker.start()
            start = self.clock.now()
            watch = self.watch_valve(start, start + duration_s, guard=guard)
        finally:
            shaker.abort()
        if watch.shut_off or observe_s <= 0:
            return watch
        return self.watch_valve(start, self.clock.now() + observe_s, guard=guard)

    def shock(self, peak_m_s2: float, duration_ms: float, observe_s: float, *, axis: str = "X",
              guard: Guard) -> ValveWatch:
        """One half-sine impulse; the stimulus is the impact (the tester's measured pulse is fetched first)."""
        tester = self._role("shock_tester")
        tester.configure(axis=axis, peak_m_s2=peak_m_s2, duration_ms=duration_ms)
        try:
            tester.arm()
            tester.fire()
            tester.measured_peak_m_s2(timeout_s=60.0)
        finally:
            tester.safe_state()
        impact = self.clock.now()
        return self.watch_valve(impact, impact + observe_s, guard=guard)

    def lower_inlet_pressure(self, gauge_pa: float, ramp_pa_per_s: float, threshold_pa: float, observe_s: float, *,
                             guard: Guard) -> ValveWatch:
        """Ramp the inlet down to `gauge_pa`. The stimulus is the inlet reading at or below the threshold (or the
        target, if the target is above it), polled with the valve; the valve is watched from the ramp's start (a
        meter closing above the threshold is seen, its time then 0) until `observe_s` after the stimulus."""
        controller, meter = self._role("gas_supply_pressure_controller"), self._meter_interface()
        level = max(threshold_pa, gauge_pa) * 1.01  # the controller settles within 1 % of its target
        start_pa = controller.pressure_pa()
        controller.ramp_to_pa(gauge_pa, ramp_pa_per_s)
        deadline = self.clock.now() + abs(start_pa - gauge_pa) / ramp_pa_per_s + 60.0
        stimulus = last_open = None
        try:
            while True:
                guard()
                now, pressure, state = self.clock.now(), controller.pressure_pa(), meter.read_safety_state()
                if stimulus is None and pressure <= level:
                    stimulus = now
                if state.valve == "closed":
                    stimulus = now if stimulus is None else stimulus
                    return ValveWatch(stimulus, max(last_open or stimulus, stimulus), now, state)
                last_open = now
                if stimulus is not None and now >= stimulus + observe_s:
                    return ValveWatch(stimulus, now, None, state)
                if stimulus is None and now > deadline:
                    raise RigError(f"the inlet pressure did not come down to {gauge_pa:g} Pa (reads {pressure:g} Pa)")
                self.clock.pause(POLL_S)
        finally:
            controller.safe_state()  # the supply's own pressure again

    def set_inlet_pressure(self, gauge_pa: float | None, *, ramp_pa_per_s: float, within_pa: float, for_s: float,
                           timeout_s: float, guard: Guard) -> float:
        """Bring the meter's inlet to `gauge_pa` (the working-pressure test) and wait until the controller's reading
        holds within `within_pa` for `for_s`; the seconds that took. None: control off, the supply's own pressure
        again (not waited for). The controller keeps regulating until then or the rig's safe state."""
        controller = self._role("gas_supply_pressure_controller")
        if gauge_pa is None:
            controller.safe_state()
            return 0.0
        controller.ramp_to_pa(gauge_pa, ramp_pa_per_s)
        start, held = self.clock.now(), Held()
        while True:
            guard()
            now, pressure = self.clock.now(), controller.pressure_pa()
            if held.long_enough(abs(pressure - gauge_pa) <= within_pa, now, for_s):
                return now - start
            if now - start > timeout_s:
                raise RigError(f"the inlet pressure did not hold {gauge_pa:g} Pa ± {within_pa:g} Pa within "
                               f"{timeout_s:g} s (reads {pressure:g} Pa): is the supply's pressure above it?")
            self.clock.pause(POLL_S)

    def excess_flow(self, flowrate_m3h: float, observe_s: float, *, guard: Guard) -> tuple[float, ValveWatch]:
        """Draw `flowrate_m3h` (the nozzles' nearest) and watch the valve; (the flow set, what was seen)."""
        q = self.set_flow(flowrate_m3h)
        start = self.clock.now()
        return q, self.watch_valve(start, start + observe_s, guard=guard)

    def continuous_use(self, flowrate_m3h: float, fine_from_s: float, observe_s: float, coarse_poll_s: float, *,
                       guard: Guard) -> tuple[float, ValveWatch]:
        """Draw `flowrate_m3h` (the nozzles' nearest) without interruption and watch the valve: every
        `coarse_poll_s` for the first `fine_from_s` of a use of hours, then every POLL_S until `observe_s` (the
        closing expected then is timed as finely as any other); (the flow set, what was seen). The stimulus is the
        flow's start."""
        q = self.set_flow(flowrate_m3h)
        start = self.clock.now()
        coarse = self.watch_valve(start, start + fine_from_s, guard=guard, poll_s=coarse_poll_s)
        if coarse.shut_off:
            return q, coarse
        return q, self.watch_valve(start, start + observe_s, guard=guard, last_open_s=coarse.last_open_s)

    def gas_alarm(self, hold_s: float | None, observe_s: float, *, guard: Guard) -> ValveWatch:
        """Close the gas-alarm contact at the meter's input (the stimulus) and watch the valve for `observe_s`;
        `hold_s`: release it after that long (a short alarm). The contact is released whatever happens."""
        io = self._role("gas_rig_valves")
        io.set_signal(GAS_ALARM_SIGNAL, True)
        start = self.clock.now()
        try:
            if hold_s is None:
                return self.watch_valve(start, start + observe_s, guard=guard)
            short = self.watch_valve(start, start + hold_s, guard=guard)
            io.set_signal(GAS_ALARM_SIGNAL, False)
            if short.shut_off:
                return short
            return self.watch_valve(start, start + observe_s, guard=guard, last_open_s=short.last_open_s)
        finally:
            io.set_signal(GAS_ALARM_SIGNAL, False)

    def low_battery(self, battery_v: float, observe_s: float, *, guard: Guard) -> ValveWatch:
        """Feed the meter from the programmable source's DC output (in place of its battery) at `battery_v` (the
        stimulus) and watch the valve for `observe_s`; the source is switched off whatever happens."""
        label = "low-battery-stimulus"
        self.hold_disturbance(label, "dc_voltage_variation",  # type: ignore[attr-defined]
                              {"nominal_voltage_v": battery_v, "upper_voltage_pct": 0, "lower_voltage_pct": 0,
                               "limit": "lower"})
        start = self.clock.now()
        try:
            return self.watch_valve(start, start + observe_s, guard=guard)
        finally:
            self.release_disturbance(label)  # type: ignore[attr-defined]

    # -- the closed valve -----------------------------------------------------------------------------------
    def valve_leak_l_h(self, settle_s: float, *, guard: Guard) -> tuple[float, str | None]:
        """The leak tester's reading after `settle_s` with the valve closed; (L/h, its certificate id)."""
        tester = self._role("valve_leak_tester")
        self.wait(settle_s, guard=guard)
        return tester.flow_l_h, self.certificate_of("valve_leak_tester")  # type: ignore[attr-defined]
