"""The gas rigs: what the runner asks of a gas bench (R 137), built on the bench's drivers by their roles.

The line: bell prover (bell_valve) or atmospheric inlet (inlet_valve) -> meters under test -> gas master meter
-> sonic nozzle bank -> vacuum pump. A flow is set by opening the nozzle combination whose critical flow is
closest to the requested one (the flowrates a nozzle bank can give are discrete: the rig reports the flow it
will give, and the stabilise step judges the flow against that). Between measurements the line draws from the
atmosphere.

Two rigs share that line. `GasRig` measures against the bell: a measurement fills the bell, switches the line to
it and lets it fall through the measuring section; the bell's encoder counter is gated on the section signal
(bell.gate) and the meters' counters on the PLC's gas.gate, which follows bell.gate while the bell valve is open,
so all count exactly between the start and stop detectors (a flying start and stop). A planned volume larger
than the section is measured in several bell runs, summed. `SonicNozzleRig` measures against the nozzles
themselves: the line keeps drawing from the atmosphere, the rig switches the collection output (collect) for volume ÷ flow, gas.gate follows it,
and every meter's counter and the collection timer (its reference counted over the same gate) count that one
gate; the nozzles' inlet and the meters' p and T are averaged over it. Meters sit in series by position.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from typing import Any

from meterlab.metrology.fluids import ZERO_CELSIUS_K
from meterlab.metrology.methods import BellProverMethod, BellProverReading, SonicNozzleMethod, SonicNozzleReading
from meterlab.metrology.reference_volume import MOLAR_GAS_CONSTANT, MOLAR_MASS_AIR, sonic_nozzle_mass_flow
from meterlab.procedures.conditions import Readings, Suspended, violation
from meterlab.procedures.rig import SLICE_REAL_S, Guard, RawMeasurement, RigError, RunIOLog, _Rig

BELL_FILL_TIMEOUT_S = 3600.0
BELL_RUN_TIMEOUT_S = 48 * 3600.0
MAX_BELL_PASSES = 20  # a planned volume needing more passes than this calls for a bigger bell or another method
INPUT_TOP_SWITCH = 2  # DI2 of the gas valves module: bell.top_switch (see _input_bit)


class _GasLine(_Rig):
    """What both gas rigs share: gas valves (digital I/O), sonic nozzle bank, pulse counters per meter position,
    p/T transmitters, barometer, optional gas master meter, EMC generators and climate chamber (of _Rig)."""

    def __init__(self, bench: Any, *, clock: Any, iolog: RunIOLog, method: Any,
                 nozzle_certificate: Any, throat_diameters_m: list[float], standards: list[str] | None = None,
                 molar_mass_kg_mol: float = MOLAR_MASS_AIR, kappa: float = 1.4, register: Any = None):
        """`nozzle_certificate` gives each nozzle's Cd (elements N1..Nk); `throat_diameters_m` the nozzles'
        geometry (nozzle k opens with the nozzle bank's signal nozzle<k>)."""
        self.bench, self.clock, self.iolog, self.method = bench, clock, iolog, method
        self.register = register  # the certificates whose corrections are applied to the p/T readings
        self.valves = self._role("gas_rig_valves")
        self.nozzle_bank = self._role("sonic_nozzle_bank")
        self.meter_temperature = self._role("mut_gas_temperature")
        self.pressures_at = self._pressures_by_position()  # one transmitter per meter position, or the first only
        if 1 not in self.pressures_at:
            raise RigError(f"the bench {self.bench.bench.bench!r} has no pressure transmitter at the first meter "
                           f"(role mut_gas_pressure, wiring input: gas.pressure_pa)")
        self.meter_pressure = self.bench[self.pressures_at[1]]
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

    def _pressures_by_position(self) -> dict[int, str]:
        """The meters' pressure transmitters (role mut_gas_pressure) by position: wiring `input: gas.pressure_pa`
        is the first meter's inlet, `input: gas.meter<N>.pressure_pa` meter N's."""
        positions = {}
        for name in self.bench.bench.by_role("mut_gas_pressure"):
            match = re.fullmatch(r"gas\.meter(\d+)\.pressure_pa", self.bench[name].wiring.get("input", ""))
            positions[int(match.group(1)) if match else 1] = name
        return positions

    def _downstream_pressures(self) -> dict[int, float]:
        """The pressure at every meter after the first that has its own transmitter, now."""
        return {pos: self.bench[name].pressure_pa for pos, name in self.pressures_at.items() if pos > 1}

    def _at_meters(self, serials: list[str], samples: list[dict[int, float]], applied: dict[str, list]) -> dict:
        """The averaged pressure at each downstream meter, corrected by its transmitter's certificate, with the
        uncertainty and source its model takes instead of the first meter's."""
        at_meter = {}
        for pos, name in self.pressures_at.items():
            if pos == 1 or pos > len(serials) or not samples:
                continue
            mean = sum(s[pos] for s in samples) / len(samples)
            certificate = self.bench.bench.instruments[name].calibration
            if self.register is None or certificate is None:
                raise RigError(f"{name}: the pressure at meter {pos} needs a calibrated transmitter (calibration: id)")
            correction = self.register.correction(certificate, at=mean).x
            applied.setdefault(certificate, []).append({"reading": mean, "correction": correction})
            cert = self.register.get(certificate)
            at_meter[serials[pos - 1]] = {"meter_pressure_pa": mean + correction, "u_pa": cert.max_u("Pa"),
                                          "source": cert.source, "certificate": certificate}
        return at_meter

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
        """Pulse value of the meter at each position (from the meter declarations)."""
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
            readings = Readings(flow, self.water_temperature_c(), self.chamber_alarm(), fluid="gas")
            why = violation(readings, target_m3h=target, flow_within_pct=flow_within_pct,
                            water_temperature_c=water_temperature_c)
            if why is None:
                return self.clock.now() - start
            if self.clock.now() - start > timeout_s:
                raise RigError(f"not stable within {timeout_s:g} s: {why}")

    def _counts(self, serials: list[str]) -> dict[str, dict]:
        """Every meter's gated count, by serial (position n -> serials[n - 1])."""
        return {serials[pos - 1]: {"pulses": counter.fetch_count(timeout_s=10.0)}
                for pos, counter in self.counters.items() if pos <= len(serials)}

    def _chamber_conditions(self) -> dict[str, float]:
        chamber = self._role("climate_chamber", required=False)
        if chamber is None:
            return {}
        temperature, humidity = chamber.read()
        return {"chamber_temperature_c": temperature, "chamber_humidity_pct": humidity}

    def finish(self) -> None:
        """End of a completed run: flow stopped, every valve and nozzle closed."""
        self.stop_flow()
        self.valves.set_signal("bell_fill", False)
        if "collect" in self.valves.wiring.values():  # a bell-only bench may have no collection output
            self.valves.set_signal("collect", False)


class GasRig(_GasLine):
    """A bell-prover gas rig: the line of _GasLine, the bell's switches and its encoder counter gated on bell.gate."""

    def __init__(self, bench: Any, *, method: BellProverMethod, **kwargs: Any):
        super().__init__(bench, method=method, **kwargs)
        self.encoder = self._role("bell_prover_encoder")
        self.bell_pressure = self._role("bell_pressure")

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
                disturbance: tuple[str, dict] | None, criteria, guard: Guard, registers=None) -> RawMeasurement:
        """Bell runs until at least the planned `volume_l` has passed: each run fills the bell, switches the line
        to it and counts, gated on the measuring section, every meter's pulses and the bell's encoder. One run
        gives the whole section (more than planned if the section is larger); a larger planned volume takes
        several runs, their counts summed and their conditions averaged (`bell_passes` in the conditions; each
        run adds its own ±1 pulse of gating to a meter's count). `registers` (register readings) is not used:
        the meters are read by their pulses."""
        if start != "flying":
            raise RigError("this rig measures with a flying start (the bell's measuring section)")
        if self.target_m3h is None:
            raise RigError("no flow is set: a set_flow step must come before the measurement")
        generator = self._start_disturbance(disturbance)
        passes: list[dict] = []
        t0 = self.clock.now()
        try:
            while not passes or self._bell_volume_l(passes) < volume_l * 0.999:
                if len(passes) == MAX_BELL_PASSES:
                    raise RigError(f"{volume_l:.1f} L would take more than {MAX_BELL_PASSES} bell runs "
                                   f"({self._bell_volume_l(passes[:1]):.1f} L each): plan a smaller volume")
                passes.append(self._bell_pass(criteria, guard))
        finally:
            self._stop_disturbance(generator)
        t1 = self.clock.now()
        corrections: dict[str, list] = {}
        reading = self._bell_reading(passes, corrections)
        counts = {serials[pos - 1]: {"pulses": sum(p["counts"][pos] for p in passes), "gates": len(passes)}
                  for pos in self.counters if pos <= len(serials)}
        flows = [p["flow"] for p in passes if p["flow"] is not None and math.isfinite(p["flow"])]
        flow = sum(flows) / len(flows) if flows else self.target_m3h
        conditions = {"gas_temperature_c": reading.meter_temperature_c, "gas_pressure_pa": reading.meter_pressure_pa,
                      "bell_temperature_c": reading.bell_temperature_c, "bell_pressure_pa": reading.bell_pressure_pa,
                      "ambient_pressure_pa": self.barometer.pressure_pa, "nozzles": list(self.open_nozzles),
                      "bell_encoder_pulses": sum(p["pulses"] for p in passes), "bell_passes": len(passes),
                      "corrections": corrections, **self._chamber_conditions()}
        at_meter = self._at_meters(serials, [s for p in passes for s in p["downstream"]], corrections)
        return RawMeasurement(reading, counts, flow, {"start_s": t0, "stop_s": t1}, conditions, at_meter)

    def _bell_pass(self, criteria, guard: Guard) -> dict:
        """One bell run through its measuring section: encoder pulses, the meters' counts, p/T and flow."""
        self.fill_bell(guard)
        counters = [*self.counters.values(), self.encoder]
        for counter in counters:
            counter.configure_gated_totalize()
            counter.start()
        try:
            self.valves.set_signal("bell_valve", True)
            self.valves.set_signal("inlet_valve", False)
            flow = self.flowrate_m3h()
            samples: list[tuple[float, float, float]] = []
            downstream: list[dict[int, float]] = []

            def section_done() -> bool:  # the conditions while the bell gives the gas, sampled through the run
                samples.append((self.meter_temperature.temperature_c, self.bell_pressure.pressure_pa,
                                self.meter_pressure.pressure_pa))
                downstream.append(self._downstream_pressures())
                return not self.encoder.measuring

            self._wait_for(section_done, timeout_s=BELL_RUN_TIMEOUT_S, guard=guard,
                           what="the bell through its measuring section")
            t_meter, p_bell, p_meter = (sum(column) / len(samples) for column in zip(*samples))
        except BaseException:
            for counter in counters:
                counter.abort()
            self.fill_line_from_atmosphere()
            raise
        self.fill_line_from_atmosphere()
        if criteria is not None and criteria.water_temperature_c:
            readings = Readings(None, self.water_temperature_c(), self.chamber_alarm(), fluid="gas")
            why = violation(readings, target_m3h=None, flow_within_pct=None,
                            water_temperature_c=criteria.water_temperature_c)
            if why:
                for counter in counters:
                    counter.abort()
                raise Suspended(why)
        return {"pulses": self.encoder.fetch_count(timeout_s=10.0), "t": t_meter, "p_bell": p_bell,
                "p_meter": p_meter, "flow": flow, "downstream": downstream,
                "counts": {pos: counter.fetch_count(timeout_s=10.0) for pos, counter in self.counters.items()}}

    def _bell_reading(self, passes: list[dict], corrections: dict[str, list] | None = None) -> BellProverReading:
        """The passes as one reading: displacements summed, conditions averaged and corrected by their
        certificates (what was applied goes into `corrections`)."""
        def mean(key: str) -> float:
            return sum(p[key] for p in passes) / len(passes)

        applied = corrections if corrections is not None else {}
        displacement = sum(p["pulses"] for p in passes) * self.method.encoder_resolution_m
        t = self._corrected("mut_gas_temperature", mean("t"), applied)  # one thermometer serves bell and meters
        return BellProverReading(displacement, t, self._corrected("bell_pressure", mean("p_bell"), applied), t,
                                 self._corrected("mut_gas_pressure", mean("p_meter"), applied))

    def _bell_volume_l(self, passes: list[dict]) -> float:
        reading = self._bell_reading(passes)
        return float(self.method.reference_volume_m3(self.method.inputs(reading)).x) * 1000

    def fill_line_from_atmosphere(self) -> None:
        """Back to the atmospheric inlet (the flow goes on), bell valve closed."""
        if self.target_m3h is not None:
            self.valves.set_signal("inlet_valve", True)
        self.valves.set_signal("bell_valve", False)



class SonicNozzleRig(_GasLine):
    """The gas line measured against its sonic nozzles: atmospheric air drawn through the meters in series to the
    open critical nozzles; a collection is a timed gate (collect -> gas.gate) on every meter's counter and on the
    collection timer, which counts its certified reference over the same gate."""

    def __init__(self, bench: Any, *, method: SonicNozzleMethod, **kwargs: Any):
        super().__init__(bench, method=method, **kwargs)
        self.timer = self._role("collection_timer")
        if "collect" not in self.valves.wiring.values():
            raise RigError(f"{self.valves.name}: no output wired to `collect` (the collection gate of the meters' "
                           f"counters and the timer): add e.g. DO4: collect to its wiring in the bench file")
        if self.nozzle_pressure is None:
            raise RigError("the sonic-nozzle method needs the nozzles' inlet pressure: an instrument with role "
                           "nozzle_pressure in the bench file")

    def _element(self, signal: str) -> str:
        return f"N{signal[6:]}"  # nozzle<k> is certificate element N<k>

    def measure(self, volume_l: float, flowrate_m3h: float, serials: list[str], *, start: str,
                disturbance: tuple[str, dict] | None, criteria, guard: Guard, registers=None) -> RawMeasurement:
        """One timed collection of `volume_l` at the nozzles' flow (volume ÷ flow): gate on, p/T sampled and the
        conditions watched until the time is up (NSAd: until the disturbance ends, once half is in), gate off.
        A violated condition discards the attempt (Suspended). `registers` is not used (pulse readout)."""
        if start != "flying":
            raise RigError("this rig measures with a flying start (a gate on the meters' counters)")
        if self.target_m3h is None:
            raise RigError("no flow is set: a set_flow step must come before the measurement")
        duration_s = volume_l / 1000 / self.target_m3h * 3600
        counters = [*self.counters.values(), self.timer]
        for counter in counters:
            counter.configure_gated_totalize()
            counter.start()
        generator = self._start_disturbance(disturbance)
        samples: list[tuple[float, float, float, float]] = []
        try:
            done_early = self._disturbance_end(generator, guard)
            t0 = self.clock.now()
            self.valves.set_signal("collect", True)
            try:
                self._collect(duration_s, criteria, guard, done_early, samples)
            finally:
                self.valves.set_signal("collect", False)
            t1 = self.clock.now()
        except BaseException:
            for counter in counters:
                counter.abort()
            raise
        finally:
            self._stop_disturbance(generator)
        return self._result(serials, samples, duration_s, t0, t1)

    def _disturbance_end(self, generator, guard: Guard):
        """NSAd: once the disturbance runs, the collection ends with it (the error is measured while disturbed)."""
        if generator is None:
            return None
        thread = generator[0]
        self._wait_for(lambda: generator[3].running or not thread.is_alive(), timeout_s=600, guard=guard,
                       what="the disturbance to start")
        return lambda: not thread.is_alive()

    def _sample(self) -> tuple[float, float, float, float, dict[int, float]]:
        """(nozzle inlet p, nozzle inlet T, meter p, meter T, the downstream meters' p): one gas thermometer
        serves both places."""
        t = self.meter_temperature.temperature_c
        p_meter = self.meter_pressure.pressure_pa
        return self.nozzle_pressure.pressure_pa, t, p_meter, t, self._downstream_pressures()

    def _collect(self, duration_s: float, criteria, guard: Guard, done_early, samples: list) -> None:
        """Sample p/T and watch the conditions until `duration_s` (or `done_early` once half is in)."""
        start = self.clock.now()
        while True:
            samples.append(self._sample())
            elapsed = self.clock.now() - start
            if elapsed >= duration_s or (done_early is not None and elapsed >= duration_s / 2 and done_early()):
                return
            guard()
            readings = Readings(self.flowrate_m3h(), samples[-1][3], self.chamber_alarm(), fluid="gas")
            self.on_readings(readings)
            if criteria is not None:
                why = violation(readings, target_m3h=self.target_m3h, flow_within_pct=criteria.flow_within_pct,
                                water_temperature_c=criteria.water_temperature_c)
                if why:
                    raise Suspended(why)
            time.sleep(max(0.001, min(SLICE_REAL_S, self.clock.real_seconds(duration_s - elapsed))))

    def _result(self, serials: list[str], samples: list, planned_s: float, t0: float, t1: float) -> RawMeasurement:
        count = self.timer.fetch_count(timeout_s=10.0)
        counts = self._counts(serials)
        p0, t0_c, p_meter, t_meter = (sum(column) / len(samples) for column in list(zip(*samples))[:4])
        corrections: dict[str, list] = {}
        p0 = self._corrected("nozzle_pressure", p0, corrections)
        t0_c = t_meter = self._corrected("mut_gas_temperature", t_meter, corrections)  # one thermometer, both places
        p_meter = self._corrected("mut_gas_pressure", p_meter, corrections)
        elements = tuple(self._element(s) for s in self.open_nozzles)
        reading = SonicNozzleReading(elements, p0, t0_c, p_meter, t_meter, count)
        volume_m3 = float(self.method.reference_volume_m3(self.method.inputs(reading)).x)
        collection_s = count / self.method.timebase_hz
        conditions = {"gas_temperature_c": t_meter, "gas_pressure_pa": p_meter, "nozzle_pressure_pa": p0,
                      "ambient_pressure_pa": self.barometer.pressure_pa, "nozzles": list(self.open_nozzles),
                      "collection_time_s": collection_s, "planned_time_s": planned_s, "samples": len(samples),
                      "corrections": corrections, **self._chamber_conditions()}
        at_meter = self._at_meters(serials, [sample[4] for sample in samples], corrections)
        return RawMeasurement(reading, counts, volume_m3 / collection_s * 3600, {"start_s": t0, "stop_s": t1},
                              conditions, at_meter)

    def standard_uses(self, raw: RawMeasurement) -> list:
        """The nozzles' Cd holds for the certified upstream conditions; the transmitters for their ranges."""
        reading = raw.reading
        by_role = {"sonic_nozzle_bank": {"upstream_pressure": reading.nozzle_pressure_pa,
                                         "upstream_temperature": reading.nozzle_temperature_c},
                   "mut_gas_temperature": reading.meter_temperature_c,
                   "nozzle_pressure": reading.nozzle_pressure_pa, "mut_gas_pressure": reading.meter_pressure_pa}
        valued = {self.certificate_of(role): value for role, value in by_role.items() if self.certificate_of(role)}
        valued.update({own["certificate"]: own["meter_pressure_pa"] for own in raw.at_meter.values()})
        return [(ref, valued[ref]) if ref in valued else ref for ref in self._standards]
