"""The gas rig: what the runner asks of a bell-prover bench (R 137), built on the bench's drivers by their roles.

The line: bell prover (bell_valve) or atmospheric inlet (inlet_valve) -> meters under test -> gas master meter
-> sonic nozzle bank -> vacuum pump. A flow is set by opening the nozzle combination whose critical flow is
closest to the requested one (the flowrates a nozzle bank can give are discrete: the rig reports the flow it
will give, and the stabilise step judges the flow against that). Between measurements the line draws from the
atmosphere; a measurement fills the bell, switches the line to it and lets it fall through the measuring
section: the meters' pulse counters and the bell's encoder counter are gated on the PLC's section signal
(bell.gate), so both count exactly between the start and stop detectors (a flying start and stop).
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

from meterlab.metrology.fluids import ZERO_CELSIUS_K
from meterlab.metrology.methods import BellProverMethod, BellProverReading
from meterlab.metrology.reference_volume import MOLAR_GAS_CONSTANT, MOLAR_MASS_AIR, sonic_nozzle_mass_flow
from meterlab.procedures.conditions import Readings, Suspended, violation
from meterlab.procedures.rig import Guard, RawMeasurement, RigError, RunIOLog, _Rig

BELL_FILL_TIMEOUT_S = 3600.0
BELL_RUN_TIMEOUT_S = 48 * 3600.0
INPUT_TOP_SWITCH = 2  # DI2 of the gas valves module: bell.top_switch (see _input_bit)


class GasRig(_Rig):
    """A bell-prover gas rig: gas valves and bell switches (digital I/O), sonic nozzle bank, pulse counters per
    meter and the bell's encoder counter gated on bell.gate, p/T transmitters, barometer, gas master meter."""

    def __init__(self, bench: Any, *, clock: Any, iolog: RunIOLog, method: BellProverMethod,
                 nozzle_certificate: Any, throat_diameters_m: list[float], standards: list[str] | None = None,
                 molar_mass_kg_mol: float = MOLAR_MASS_AIR, kappa: float = 1.4):
        """`nozzle_certificate` gives each nozzle's Cd (elements N1..Nk); `throat_diameters_m` the nozzles'
        geometry (nozzle k opens with the nozzle bank's signal nozzle<k>)."""
        self.bench, self.clock, self.iolog, self.method = bench, clock, iolog, method
        self.valves = self._role("gas_rig_valves")
        self.nozzle_bank = self._role("sonic_nozzle_bank")
        self.encoder = self._role("bell_prover_encoder")
        self.meter_temperature = self._role("mut_gas_temperature")
        self.meter_pressure = self._role("mut_gas_pressure")
        self.bell_pressure = self._role("bell_pressure")
        self.nozzle_pressure = self._role("nozzle_pressure", required=False)
        self.barometer = self._role("barometer")
        self.flowmeter = self._role("reference_gas_master_meter", required=False)
        self.counters = self._counters()
        self.nozzles = self._nozzles(nozzle_certificate, throat_diameters_m)
        self.molar_mass, self.kappa = molar_mass_kg_mol, kappa
        self._standards = standards or []
        self.target_m3h: float | None = None
        self.open_nozzles: tuple[str, ...] = ()
        self._pulse_value_l: dict[int, float] = {}
        self.lab: Any = None

    # ------------------------------------------------------------------------------------------ wiring
    def _counters(self) -> dict[int, Any]:
        """Pulse counters by meter position, from their wiring (ch1: gas_meter2.pulse → position 2)."""
        counters = {}
        for name in self.bench.bench.by_role("mut_pulse_counter"):
            driver = self.bench[name]
            wired = driver.wiring.get(f"ch{driver.channel}", "")
            match = re.fullmatch(r"(?:gas_)?meter(\d+)\.pulse", wired)
            if match:
                counters[int(match.group(1))] = driver
        return counters

    def _nozzles(self, certificate: Any, diameters_m: list[float]) -> dict[str, tuple[float, float]]:
        """Signal -> (throat diameter, Cd) for every nozzle wired on the bank and certified."""
        wired = sorted((s for s in self.nozzle_bank.wiring.values() if re.fullmatch(r"nozzle\d+", s)),
                       key=lambda s: int(s[6:]))
        nozzles = {}
        for signal in wired:
            index = int(signal[6:])
            element = f"N{index}"
            if element not in certificate.elements:
                raise RigError(f"{signal}: no Cd for {element} on certificate {certificate.id}")
            if index > len(diameters_m):
                raise RigError(f"{signal}: no throat diameter given for nozzle {index}")
            cd = certificate.correction_of(element).evaluate(101325.0)[0]
            nozzles[signal] = (float(diameters_m[index - 1]), cd)
        if not nozzles:
            raise RigError(f"the nozzle bank {self.nozzle_bank.name} has no nozzle<k> wired")
        return nozzles

    def set_meters(self, pulse_values_l: dict[int, float]) -> None:
        missing = sorted(set(pulse_values_l) - set(self.counters))
        if missing:
            raise RigError(f"no pulse counter is wired to meter position(s) {missing} "
                           f"(bench wiring chN: gas_meterM.pulse); wired: {sorted(self.counters)}")
        self._pulse_value_l = dict(pulse_values_l)

    def _input(self, bit: int) -> bool:
        return bool(self.valves.read_inputs()[bit])

    # ------------------------------------------------------------------------------------------- flow
    def critical_flow_m3h(self, signals: tuple[str, ...], p0_pa: float, t0_c: float) -> float:
        """Volume flow at p0, T0 that the open nozzles pass (ISO 9300, Cd from the certificate)."""
        mass = sum(sonic_nozzle_mass_flow(self.nozzles[s][0], self.nozzles[s][1], p0_pa, t0_c, self.molar_mass,
                                          self.kappa) for s in signals)
        density = p0_pa * self.molar_mass / (MOLAR_GAS_CONSTANT * (t0_c + ZERO_CELSIUS_K))
        return mass / density * 3600.0

    def choose_nozzles(self, flowrate_m3h: float, p0_pa: float, t0_c: float) -> tuple[tuple[str, ...], float]:
        """The nozzle combination whose critical flow is closest to `flowrate_m3h`, and that flow."""
        best: tuple[tuple[str, ...], float] | None = None
        for count in range(1, len(self.nozzles) + 1):
            for combination in itertools.combinations(self.nozzles, count):
                q = self.critical_flow_m3h(combination, p0_pa, t0_c)
                if best is None or abs(q - flowrate_m3h) < abs(best[1] - flowrate_m3h):
                    best = (combination, q)
        assert best is not None
        return best

    def set_flow(self, flowrate_m3h: float, *, reverse: bool = False) -> float:
        """Draw from the atmosphere through the nozzle combination closest to `flowrate_m3h`; return the flow
        it gives (at the ambient pressure and gas temperature now)."""
        if reverse:
            raise RigError("this rig has no reverse-flow line")
        combination, q = self.choose_nozzles(flowrate_m3h, self.barometer.pressure_pa,
                                             self.meter_temperature.temperature_c)
        self.valves.set_signal("bell_valve", False)
        self.valves.set_signal("inlet_valve", True)
        for signal in self.nozzles:
            self.nozzle_bank.set_signal(signal, signal in combination)
        self.valves.set_signal("vacuum_pump", True)
        self.open_nozzles, self.target_m3h = combination, q
        return q

    def stop_flow(self) -> None:
        self.target_m3h, self.open_nozzles = None, ()
        self.valves.set_signal("vacuum_pump", False)
        self.valves.set_signal("bell_valve", False)
        self.valves.set_signal("inlet_valve", False)
        for signal in self.nozzles:
            self.nozzle_bank.set_signal(signal, False)

    def flowrate_m3h(self) -> float | None:
        """Flow at the first meter from the gas master meter (moved from the nozzles' inlet to the meter's
        pressure; same temperature); None without a master meter."""
        if self.flowmeter is None or self.target_m3h is None:
            return None
        q = self.flowmeter.volume_flow_m3h
        if self.nozzle_pressure is not None:
            q *= self.nozzle_pressure.pressure_pa / self.meter_pressure.pressure_pa
        return q

    def water_temperature_c(self) -> float | None:
        """The gas temperature (the stabilise step's temperature band applies to the test medium)."""
        return self.meter_temperature.temperature_c

    def stabilise(self, target_m3h: float | None, *, flow_within_pct: float, water_temperature_c, for_s: float,
                  timeout_s: float, guard: Guard) -> float:
        """Hold for `for_s`, then check the flow against the flow the nozzles give (critical flow is steady at
        once; the nominal point may lie between two nozzle combinations) and the temperature band; repeat
        until both hold or `timeout_s`. Return how long it took (rig seconds)."""
        start = self.clock.now()
        target = self.target_m3h if target_m3h is not None else None
        while True:
            guard()
            self.wait(for_s, guard=guard)
            flow = self.flowrate_m3h() if target else None
            why = violation(Readings(flow, self.water_temperature_c(), self.chamber_alarm()), target_m3h=target,
                            flow_within_pct=flow_within_pct, water_temperature_c=water_temperature_c)
            if why is None:
                return self.clock.now() - start
            if self.clock.now() - start > timeout_s:
                raise RigError(f"not stable within {timeout_s:g} s: {why}")

    # ------------------------------------------------------------------------------------ measurement
    def fill_bell(self, guard: Guard) -> None:
        """Bell valve closed (the line draws from the atmosphere meanwhile), blower on until the top switch."""
        self.valves.set_signal("bell_valve", False)
        if self.target_m3h is not None:
            self.valves.set_signal("inlet_valve", True)
        if self._input(INPUT_TOP_SWITCH):
            return
        self.valves.set_signal("bell_fill", True)
        try:
            self._wait_for(lambda: self._input(INPUT_TOP_SWITCH), timeout_s=BELL_FILL_TIMEOUT_S, guard=guard,
                           what="the bell at its top")
        finally:
            self.valves.set_signal("bell_fill", False)

    def measure(self, volume_l: float, flowrate_m3h: float, serials: list[str], *, start: str,
                disturbance: tuple[str, dict] | None, criteria, guard: Guard) -> RawMeasurement:
        """One bell run: fill the bell, switch the line to it and count, gated on the measuring section,
        every meter's pulses and the bell's encoder. The volume is the bell's measuring section; it must be
        at least the planned `volume_l`."""
        if start != "flying":
            raise RigError("this rig measures with a flying start (the bell's measuring section)")
        if self.target_m3h is None:
            raise RigError("no flow is set: a set_flow step must come before the measurement")
        self.fill_bell(guard)
        counters = [*self.counters.values(), self.encoder]
        for counter in counters:
            counter.configure_gated_totalize()
            counter.start()
        generator = self._start_disturbance(disturbance)
        t0 = self.clock.now()
        try:
            self.valves.set_signal("bell_valve", True)
            self.valves.set_signal("inlet_valve", False)
            # the conditions while the bell gives the gas (the flow is steady at once)
            t_bell = t_meter = self.meter_temperature.temperature_c
            p_bell, p_meter = self.bell_pressure.pressure_pa, self.meter_pressure.pressure_pa
            flow = self.flowrate_m3h()
            self._wait_for(lambda: not self.encoder.measuring, timeout_s=BELL_RUN_TIMEOUT_S, guard=guard,
                           what="the bell through its measuring section")
        except BaseException:
            for counter in counters:
                counter.abort()
            self.fill_line_from_atmosphere()
            raise
        finally:
            self._stop_disturbance(generator)
        t1 = self.clock.now()
        self.fill_line_from_atmosphere()
        if criteria is not None and criteria.water_temperature_c:
            why = violation(Readings(None, self.water_temperature_c(), self.chamber_alarm()), target_m3h=None, flow_within_pct=None,
                            water_temperature_c=criteria.water_temperature_c)
            if why:
                for counter in counters:
                    counter.abort()
                raise Suspended(why)
        pulses = self.encoder.fetch_count(timeout_s=10.0)
        counts = {serials[pos - 1]: {"pulses": counter.fetch_count(timeout_s=10.0)}
                  for pos, counter in self.counters.items() if pos <= len(serials)}
        reading = BellProverReading(pulses * self.method.encoder_resolution_m, t_bell, p_bell, t_meter, p_meter)
        volume_m3 = float(self.method.reference_volume_m3(self.method.inputs(reading)).x)
        if volume_m3 * 1000 < volume_l * 0.999:
            raise RigError(f"the bell's measuring section gave {volume_m3 * 1000:.1f} L, less than the planned "
                           f"{volume_l:.1f} L")
        if flow is None or not math.isfinite(flow):
            flow = self.target_m3h
        conditions = {"gas_temperature_c": t_meter, "gas_pressure_pa": p_meter, "bell_temperature_c": t_bell,
                      "bell_pressure_pa": p_bell, "ambient_pressure_pa": self.barometer.pressure_pa,
                      "nozzles": list(self.open_nozzles), "bell_encoder_pulses": pulses}
        return RawMeasurement(reading, counts, flow, {"start_s": t0, "stop_s": t1}, conditions)

    def fill_line_from_atmosphere(self) -> None:
        """Back to the atmospheric inlet (the flow goes on), bell valve closed."""
        if self.target_m3h is not None:
            self.valves.set_signal("inlet_valve", True)
        self.valves.set_signal("bell_valve", False)

    # ------------------------------------------------------------------------------------------- end
    def finish(self) -> None:
        """End of a completed run: flow stopped, every valve and nozzle closed."""
        self.stop_flow()
        self.valves.set_signal("bell_fill", False)
