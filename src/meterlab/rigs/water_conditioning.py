"""Water conditions on the water rig: temperature and pressure set points, and the measured pressure loss
(R 49 water temperature, water pressure and pressure-loss tests).

`WaterConditioning` is a mixin for `rig.WaterRig` (it uses `_role`, `wait`, `clock`, `register`, `bench`,
`on_readings`, `chamber_alarm`, `flowmeter`, `target_m3h`). Roles on the bench:

- `water_circulator`: the heater/chiller that sets the water temperature (instruments/circulator.py);
- `water_pressure_controller`: a pressure controller (Druck PACE, `options: {controller: true}`) that sets the
  meters' inlet pressure (it loads the dome of the line's regulator). Its `equipment: {pressure_reference:
  absolute|gauge}` says how its setpoints are referred (default absolute, as the PACE on the default bench);
  an absolute controller's setpoint is the gauge pressure plus the atmosphere from the `barometer` role, or
  the standard atmosphere if the bench has no barometer;
- `pressure_loss_transmitter`: one differential-pressure transmitter per meter position, wired
  `input: meter<N>.pressure_loss_pa` (instruments/transmitter.py, quantity pressure);
- read back with the rig's `water_thermometer` and `water_pressure` (the reference instruments at the meters)
  when the bench has them, else with the circulator's and the controller's own sensors.

Safe state: nothing here; the rig's `safe_state` calls every driver's, so the circulator goes to its safe
setpoint (or stops) and the controller stops controlling (instruments/circulator.py, pressure.py)."""

from __future__ import annotations

import math
import re
import statistics
from typing import Any, Callable

from meterlab.errors import RigError
from meterlab.rigs.base import Guard
from meterlab.rigs.conditions import Held, Readings

STANDARD_ATMOSPHERE_PA = 101325.0
PA_PER_BAR = 1e5
PA_PER_KPA = 1e3
MIN_POLL_S = 1.0  # rig seconds between readings while waiting for the conditions
SAMPLES = 20  # readings of each transmitter over a pressure-loss measurement
DP_WIRING = re.compile(r"meter(\d+)\.pressure_loss_pa")


class WaterConditioning:
    """Water temperature and pressure set points and pressure-loss measurement for a water rig."""

    bench: Any
    clock: Any
    register: Any
    target_m3h: float | None
    _role: Callable[..., Any]
    wait: Callable[..., None]
    on_readings: Callable[[Readings], None]
    chamber_alarm: Callable[[], str | None]

    # ------------------------------------------------------------------------------------- set points
    def set_water_conditions(self, *, temperature_c: float | None, pressure_bar: float | None) -> None:
        """Set the water temperature (°C) and/or the gauge pressure at the meters (bar); None leaves that one
        as it is. Everything is checked before anything is sent: a missing instrument or a value outside its
        range raises RigError."""
        if temperature_c is None and pressure_bar is None:
            raise RigError("set_water_conditions: give temperature_c, pressure_bar or both")
        circulator = controller = setpoint_pa = None
        if temperature_c is not None:
            circulator = self._role("water_circulator")
            low, high = circulator.options.min_temperature_c, circulator.options.max_temperature_c
            if not _finite(temperature_c) or not low <= temperature_c <= high:
                raise RigError(f"water temperature {_show(temperature_c)} °C is outside the circulator "
                                 f"{circulator.name}'s range {low:g} .. {high:g} °C (bench options)")
        if pressure_bar is not None:
            controller = self._role("water_pressure_controller")
            if not getattr(controller.options, "controller", False):
                raise RigError(f"{controller.name} (water_pressure_controller) is not declared a controller: "
                                 f"set options: {{controller: true}} in the bench file")
            if not _finite(pressure_bar) or pressure_bar < 0:
                raise RigError(f"water pressure {_show(pressure_bar)} bar: give a gauge pressure >= 0 bar")
            setpoint_pa = pressure_bar * PA_PER_BAR + self._controller_offset_pa(controller)
            full_scale = controller.options.full_scale_pa
            if setpoint_pa > full_scale:
                raise RigError(f"water pressure {pressure_bar:g} bar (gauge) is above the pressure controller "
                                 f"{controller.name}'s range (full_scale_pa {full_scale:g} Pa, "
                                 f"{self._reference(controller)})")
        if circulator is not None:
            circulator.set_setpoint_c(float(temperature_c))
            if not circulator.running:
                circulator.start()
        if controller is not None:
            controller.set_setpoint_pa(setpoint_pa)
            if not controller.output_enabled:
                controller.output_on()

    def release_water_conditions(self) -> None:
        """After the test: the pressure controller stops controlling, the circulator to its safe state."""
        controller = self._role("water_pressure_controller", required=False)
        if controller is not None:
            controller.output_off()
        circulator = self._role("water_circulator", required=False)
        if circulator is not None:
            circulator.safe_state()

    def _reference(self, controller: Any) -> str:
        names = [n for n in self.bench.bench.by_role("water_pressure_controller")]
        equipment = self.bench.bench.instruments[names[0]].equipment if names else {}
        reference = equipment.get("pressure_reference", "absolute")
        if reference not in ("absolute", "gauge"):
            raise RigError(f"{controller.name}: equipment.pressure_reference must be absolute or gauge, "
                             f"not {reference!r} (bench file)")
        return reference

    def _atmosphere_pa(self) -> float:
        barometer = self._role("barometer", required=False)
        return barometer.pressure_pa if barometer is not None else STANDARD_ATMOSPHERE_PA

    def _controller_offset_pa(self, controller: Any) -> float:
        """What to add to a gauge pressure to get the controller's own reference."""
        return self._atmosphere_pa() if self._reference(controller) == "absolute" else 0.0

    # -------------------------------------------------------------------------------------- read back
    def water_conditions(self) -> tuple[float | None, float | None]:
        """(temperature °C, gauge pressure bar) at the meters now, from the reference instruments when the
        bench has them, else from the conditioning instruments; None where neither exists."""
        thermometer = self._role("water_thermometer", required=False)
        circulator = self._role("water_circulator", required=False)
        temperature = thermometer.temperature_c() if thermometer is not None else \
            circulator.temperature_c() if circulator is not None else None
        indicator = self._role("water_pressure", required=False)
        controller = self._role("water_pressure_controller", required=False)
        pressure = None
        if indicator is not None:  # an indicator on this rig reads absolute (water_gravimetric.py, GravimetricReading)
            pressure = (indicator.pressure_pa() - self._atmosphere_pa()) / PA_PER_BAR
        elif controller is not None:
            pressure = (controller.pressure_pa() - self._controller_offset_pa(controller)) / PA_PER_BAR
        return temperature, pressure

    def wait_water_conditions(self, *, temperature_c: float | None, pressure_bar: float | None, within_c: float,
                              within_bar: float, for_s: float, timeout_s: float, guard: Guard) -> float:
        """Wait until the temperature is within ±within_c of `temperature_c` and the gauge pressure within
        ±within_bar of `pressure_bar` (None: not watched), both without a break for `for_s`; return the rig
        seconds it took. Bounded by `timeout_s` (RigError saying what was last read); the guard is called
        between readings, so pause and abort act within one reading."""
        if within_c <= 0 or within_bar <= 0 or for_s < 0 or timeout_s <= 0:
            raise RigError("wait_water_conditions: within_c, within_bar and timeout_s must be > 0, for_s >= 0")
        poll_s = max(MIN_POLL_S, min(for_s / 10, 10.0))
        start = self.clock.now()
        held = Held()
        while True:
            guard()
            temperature, pressure = self.water_conditions()
            for target, value, what, role in ((temperature_c, temperature, "temperature", "water_circulator"),
                                              (pressure_bar, pressure, "pressure", "water_pressure_controller")):
                if target is not None and value is None:
                    raise RigError(f"the bench has no instrument that reads the water {what} (role {role})")
            self.on_readings(Readings(None, temperature, self.chamber_alarm()))
            now = self.clock.now()
            why = _outside(temperature, temperature_c, within_c, "°C", "water temperature") or \
                _outside(pressure, pressure_bar, within_bar, "bar", "water pressure")
            if held.long_enough(why is None, now, for_s):
                return now - start
            if now - start > timeout_s:
                raise RigError(f"water conditions not reached within {timeout_s:g} s: {why or 'not held'}")
            self.wait(poll_s, guard=guard)

    # ---------------------------------------------------------------------------------- pressure loss
    def pressure_loss_transmitters(self) -> dict[int, Any]:
        """The Δp transmitters by meter position, from their wiring (input: meter2.pressure_loss_pa -> 2)."""
        found = {}
        for name in self.bench.bench.by_role("pressure_loss_transmitter"):
            match = DP_WIRING.fullmatch(self.bench[name].wiring.get("input", ""))
            if match:
                found[int(match.group(1))] = self.bench[name]
        return found

    def measure_pressure_loss(self, positions: dict[int, str], *, duration_s: float,
                              guard: Guard) -> dict[str, dict]:
        """Sample the Δp transmitter of each position over `duration_s` at the flow now running; per serial:
        the mean pressure loss (corrected with the transmitter's certificate if the rig has a register), its
        standard uncertainty (certificate and scatter of the mean), the samples, the certificate, the flowrate
        (reference flowmeter mean, else the set flow)."""
        if not positions:
            raise RigError("measure_pressure_loss: no meter positions given")
        if duration_s <= 0:
            raise RigError("measure_pressure_loss: duration_s must be > 0")
        wired = self.pressure_loss_transmitters()
        missing = sorted(set(positions) - set(wired))
        if missing:
            raise RigError(f"no pressure_loss_transmitter is wired to meter position(s) {missing} (bench wiring "
                             f"input: meterN.pressure_loss_pa); wired: {sorted(wired)}")
        samples: dict[int, list[float]] = {position: [] for position in positions}
        flows: list[float] = []
        flowmeter = getattr(self, "flowmeter", None)
        interval = duration_s / (SAMPLES - 1)  # SAMPLES readings, evenly spread over the duration
        start = self.clock.now()
        for index in range(SAMPLES):
            if index:
                self.wait(max(0.0, start + index * interval - self.clock.now()), guard=guard)
            guard()
            for position in positions:
                samples[position].append(wired[position].pressure_pa)
            if flowmeter is not None:
                flows.append(flowmeter.volume_flow_m3h)
        for position in positions:
            status = wired[position].status
            if status not in (None, 0):
                raise RigError(f"{wired[position].name}: status register {status} (not ok) after the measurement")
        flowrate = statistics.fmean(flows) if flows else self.target_m3h
        return {serial: self._pressure_loss_result(position, wired[position], samples[position], flowrate)
                for position, serial in positions.items()}

    def _pressure_loss_result(self, position: int, transmitter: Any, values: list[float],
                              flowrate_m3h: float | None) -> dict:
        mean_pa = statistics.fmean(values)
        u_mean_pa = statistics.stdev(values) / math.sqrt(len(values))
        certificate = self.bench.bench.instruments[transmitter.name].calibration
        correction_pa = u_certificate_pa = 0.0
        if certificate is not None and self.register is not None:
            correction = self.register.correction(certificate, at=mean_pa)
            correction_pa, u_certificate_pa = float(correction.x), float(correction.u)
        return {
            "position": position,
            "pressure_loss_kpa": (mean_pa + correction_pa) / PA_PER_KPA,
            "u_kpa": math.hypot(u_certificate_pa, u_mean_pa) / PA_PER_KPA,
            "samples": len(values),
            "std_dev_kpa": statistics.stdev(values) / PA_PER_KPA,
            "reading_kpa": mean_pa / PA_PER_KPA,
            "correction_kpa": correction_pa / PA_PER_KPA,
            "certificate": certificate if self.register is not None else None,
            "instrument": transmitter.name,
            "flowrate_m3h": flowrate_m3h,
        }


def _show(value: Any) -> str:
    return f"{value:g}" if _finite(value) else repr(value)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _outside(value: float, target: float | None, within: float, unit: str, what: str) -> str | None:
    if target is None:
        return None
    if abs(value - target) > within:
        return f"{what} {value:.3f} {unit}, target {target:g} ± {within:g} {unit}"
    return None
