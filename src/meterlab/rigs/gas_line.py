"""The gas line both gas rigs share (R 137), built on the bench's drivers by their roles.

The line: bell prover (bell_valve) or atmospheric inlet (inlet_valve) -> meters under test -> gas master meter
-> sonic nozzle bank -> vacuum pump. A flow is set by opening the nozzle combination whose critical flow is
closest to the requested one (the flowrates a nozzle bank can give are discrete: the rig reports the flow it
will give, and the stabilise step judges the flow against that). Between measurements the line draws from the
atmosphere.
"""

from __future__ import annotations

import re
from typing import Any

from meterlab.errors import RigError
from meterlab.metrology.nozzle_bank import NozzleBank
from meterlab.metrology.reference_volume import MOLAR_MASS_AIR
from meterlab.rigs.at_rest import AtRestWatch, Reader
from meterlab.rigs.base import BenchRig, Guard, RunIOLog
from meterlab.rigs.conditions import Readings, violation
from meterlab.rigs.register_readout import bus_reader
from meterlab.rigs.safety import SafetyFunctions
from meterlab.rigs.transmission import TransmissionWatch

BELL_FILL_TIMEOUT_S = 3600.0
BELL_RUN_TIMEOUT_S = 48 * 3600.0
MAX_BELL_PASSES = 20  # a planned volume needing more passes than this calls for a bigger bell or another method
INPUT_TOP_SWITCH = 2  # DI2 of the gas valves module: bell.top_switch (see _input_bit)


def wired_bank(wiring: dict[str, str], certificate: Any, diameters_m: list[float], **gas: float) -> NozzleBank:
    """The nozzles wired on the bank (`DOn: nozzle<k>`), each with its certificate's Cd (element N<k>) and its
    throat diameter (k-th of `diameters_m`), keyed by their signal."""
    wired = sorted((s for s in wiring.values() if re.fullmatch(r"nozzle\d+", s)), key=lambda s: int(s[6:]))
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
        raise RigError("the sonic nozzle bank has no nozzle<k> wired")
    return NozzleBank(nozzles, **gas)


class GasLine(SafetyFunctions, AtRestWatch, TransmissionWatch, BenchRig):
    """What both gas rigs share: gas valves (digital I/O), sonic nozzle bank, pulse counters per meter position,
    p/T transmitters, barometer, optional gas master meter, EMC generators and climate chamber (of BenchRig)."""

    meter_prefix = "gas_meter"  # the wiring's name of a meter position (TransmissionWatch)
    meter_line = "gas_meters"  # the simulated lab's line of meters under test (mounted)

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
        self.hygrometer = self._role("gas_humidity", required=False)  # the moist air's humidity, at meter 1
        self.flowmeter = self._role("reference_gas_master_meter", required=False)
        self.counters = self._counters()
        self.bank = wired_bank(self.nozzle_bank.wiring, nozzle_certificate, throat_diameters_m,
                               molar_mass_kg_mol=molar_mass_kg_mol, kappa=kappa)
        self.nozzles = self.bank.nozzles
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

    def humidity_pct(self) -> float | None:
        """The relative humidity at the first meter (None without a hygrometer)."""
        return None if self.hygrometer is None else self.hygrometer.humidity_pct

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
    def choose_nozzles(self, flowrate_m3h: float, p0_pa: float, t0_c: float) -> tuple[tuple[str, ...], float]:
        return self.bank.choose(flowrate_m3h, p0_pa, t0_c)

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

    def _at_rest_readers(self, serials: list[str]) -> dict[str, Reader]:
        """The register of every meter that declares a bus interface (set_interfaces), read over its first one: a
        gas meter's declaration has no register readout of its own (its error is measured by its pulses)."""
        interfaces = getattr(self, "_interfaces", {})
        return {serials[p - 1]: bus_reader(self.clock, {**sources[0], "readout": sources[0]["kind"]})
                for p, sources in interfaces.items() if p <= len(serials) and sources}

    def _line_pressure_abs_pa(self) -> float | None:
        """At the first meter (its transmitter reads absolute pressure, as the nozzles' reference volume needs)."""
        return self.meter_pressure.pressure_pa

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
