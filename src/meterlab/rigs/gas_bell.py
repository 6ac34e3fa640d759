"""The bell-prover gas rig (R 137): a measurement fills the bell, switches the line to it and lets it fall through the measuring section; the bell's encoder counter is gated on the section signal
(bell.gate) and the meters' counters on the PLC's gas.gate, which follows bell.gate while the bell valve is open,
so all count exactly between the start and stop detectors (a flying start and stop). A planned volume larger
than the section is measured in several bell runs, summed.
"""

from __future__ import annotations

import math
from typing import Any

from meterlab.errors import RigError
from meterlab.metrology.methods import BellProverMethod, BellProverReading
from meterlab.rigs.base import Guard, RawMeasurement, with_cover
from meterlab.rigs.conditions import Readings, Suspended, violation
from meterlab.rigs.gas_line import GasLine

BELL_FILL_TIMEOUT_S = 3600.0
BELL_RUN_TIMEOUT_S = 48 * 3600.0
MAX_BELL_PASSES = 20  # a planned volume needing more passes than this calls for a bigger bell or another method
INPUT_TOP_SWITCH = 2  # DI2 of the gas valves module: bell.top_switch (see _input_bit)


class BellProverRig(GasLine):
    """A bell-prover gas rig: the line of GasLine, the bell's switches and its encoder counter gated on bell.gate."""

    def __init__(self, bench: Any, *, method: BellProverMethod, **kwargs: Any):
        super().__init__(bench, method=method, **kwargs)
        self.encoder = self._role("bell_prover_encoder")
        self.bell_pressure = self._role("bell_pressure")
        self._section_m3h_s: float | None = None  # the measuring section's volume as flow x duration of a run

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
                disturbance: tuple[str, dict] | None, criteria, guard: Guard, registers=None,
                next_flow_m3h: float | None = None) -> RawMeasurement:
        """Bell runs until at least the planned `volume_l` has passed: each run fills the bell, switches the line
        to it and counts, gated on the measuring section, every meter's pulses and the bell's encoder. One run
        gives the whole section (more than planned if the section is larger); a larger planned volume takes
        several runs, their counts summed and their conditions averaged (`bell_passes` in the conditions; each
        run adds its own ±1 pulse of gating to a meter's count). `registers` (register readings) is not used:
        the meters are read by their pulses. The meters' interfaces (those that declare one) are polled before
        the disturbance, through every fill and run while it lasts, and after it (rigs/transmission.py)."""
        if start != "flying":
            raise RigError("this rig measures with a flying start (the bell's measuring section)")
        if self.target_m3h is None:
            raise RigError("no flow is set: a set_flow step must come before the measurement")
        passes: list[dict] = []
        disturbed = None
        self._watch_start(serials, disturbance)  # the interfaces before the disturbance (meters that have one)
        try:
            disturbed = self._start_disturbance(disturbance, guard)
            self._watch_disturbed(disturbed)
            t0 = self.clock.now()

            def watching() -> None:  # every wait of a fill or a run checks pause/abort: poll the interfaces there
                self._watch_tick()
                guard()
            while not passes or self._bell_volume_l(passes) < volume_l * 0.999:
                if len(passes) == MAX_BELL_PASSES:
                    raise RigError(f"{volume_l:.1f} L would take more than {MAX_BELL_PASSES} bell runs "
                                   f"({self._bell_volume_l(passes[:1]):.1f} L each): plan a smaller volume")
                passes.append(self._bell_pass(criteria, watching))
        except BaseException:
            self._watch = None  # a discarded measurement: its datasets go with it
            raise
        finally:
            self._stop_disturbance(disturbed)
        t1 = self.clock.now()
        corrections: dict[str, list] = {}
        reading = self._bell_reading(passes, corrections)
        counts = {serials[pos - 1]: {"pulses": sum(p["counts"][pos] for p in passes), "gates": len(passes)}
                  for pos in self.counters if pos <= len(serials)}
        flow = _mean_flow([p["flow"] for p in passes]) or self.target_m3h
        conditions = {"gas_temperature_c": reading.meter_temperature_c, "gas_pressure_pa": reading.meter_pressure_pa,
                      "bell_temperature_c": reading.bell_temperature_c, "bell_pressure_pa": reading.bell_pressure_pa,
                      "ambient_pressure_pa": self.barometer.pressure_pa, "nozzles": list(self.open_nozzles),
                      "bell_encoder_pulses": sum(p["pulses"] for p in passes), "bell_passes": len(passes),
                      # recorded, not in the model: one stream keeps its water-vapour fraction from the bell to the
                      # meters, so humidity cancels in the conversion (docs/budgets.md)
                      "gas_humidity_pct": self._corrected("gas_humidity", self.humidity_pct(), corrections),
                      "corrections": corrections, **self._chamber_conditions()}
        at_meter = self._at_meters(serials, [s for p in passes for s in p["downstream"]], corrections)
        self._watch_end(counts)  # and after it: every dataset into the meters' records
        # The counters count only between the detectors, not while the bell fills or travels to its start detector
        # (the flow runs on through the meters meanwhile), and the rig has no timer on that gate: the time they
        # counted is the reference volume over the flow, so the meters' indication rate (what their transmitted
        # volume is judged by) is their pulses over that time, i.e. the flow times indicated / reference volume.
        reference_m3 = float(self.method.reference_volume_m3(self.method.inputs(reading)).x)
        times = {"start_s": t0, "stop_s": t1, "counted_s": reference_m3 / flow * 3600 if flow else t1 - t0}
        # a disturbance is judged over the whole measurement, the bell's fills included (no pass can be cut short)
        return with_cover(RawMeasurement(reading, counts, flow, times, conditions, at_meter), disturbed)

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
            samples: list[tuple[float, float, float]] = []
            downstream: list[dict[int, float]] = []
            flows: list[float] = []

            def section_done() -> bool:  # the conditions while the bell gives the gas, sampled through the run
                samples.append((self.meter_temperature.temperature_c, self.bell_pressure.pressure_pa,
                                self.meter_pressure.pressure_pa))
                downstream.append(self._downstream_pressures())
                flows.append(self.flowrate_m3h())
                return not self.encoder.measuring

            started_s = self.clock.now()
            self._wait_for(section_done, timeout_s=BELL_RUN_TIMEOUT_S, guard=guard,
                           what="the bell through its measuring section",
                           virtual_poll_s=self._virtual_sample_s(self._section_s()))
            t_meter, p_bell, p_meter = (sum(column) / len(samples) for column in zip(*samples))
            # The flow through the run, not at the valves' switch: read there, the master meter could still show
            # the line at rest (0 m³/h), and the point was judged in the wrong MPE zone.
            flow = _mean_flow(flows)
            if flow:
                self._section_m3h_s = (self.clock.now() - started_s) * flow
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

    def _section_s(self) -> float | None:
        """How long a bell run through the measuring section takes at the set flow (once one has been seen)."""
        if not self._section_m3h_s or not self.target_m3h:
            return None
        return self._section_m3h_s / self.target_m3h

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


def _mean_flow(flows: list[float | None]) -> float | None:
    """The mean of the flow readings that show a flow (None without any: no master meter, or none read)."""
    flowing = [q for q in flows if q is not None and math.isfinite(q) and q > 0]
    return sum(flowing) / len(flowing) if flowing else None
