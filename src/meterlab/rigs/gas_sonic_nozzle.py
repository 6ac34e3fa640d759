"""The sonic-nozzle gas rig (R 137), measured against the nozzles themselves: the line keeps drawing from the
atmosphere, the rig switches the collection output (collect) for volume ÷ flow, gas.gate follows it, and every
meter's counter and the collection timer (its reference counted over the same gate) count that one gate; the
nozzles' inlet and the meters' p and T are averaged over it. Meters sit in series by position.
"""

from __future__ import annotations

from typing import Any

from meterlab.errors import RigError
from meterlab.metrology.methods import SonicNozzleMethod, SonicNozzleReading
from meterlab.rigs.base import DisturbanceRun, Guard, RawMeasurement, with_cover
from meterlab.rigs.conditions import Readings, Suspended, violation
from meterlab.rigs.gas_line import GasLine


class SonicNozzleRig(GasLine):
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
                disturbance: tuple[str, dict] | None, criteria, guard: Guard, registers=None,
                next_flow_m3h: float | None = None) -> RawMeasurement:
        """One timed collection of `volume_l` at the nozzles' flow (volume ÷ flow): gate on, p/T sampled and the
        conditions watched until the time is up (NSAd: until the disturbance ends), gate off.
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
        samples: list[tuple[float, float, float, float]] = []
        disturbed = None
        self._watch_start(serials, disturbance)  # the interfaces before the disturbance (meters that have one)
        try:
            disturbed = self._start_disturbance(disturbance, guard)
            self._watch_disturbed(disturbed)
            t0 = self.clock.now()
            self.valves.set_signal("collect", True)
            try:
                self._collect(duration_s, criteria, guard, disturbed, samples)
            finally:
                self.valves.set_signal("collect", False)
            t1 = self.clock.now()
        except BaseException:
            for counter in counters:
                counter.abort()
            self._watch = None  # a discarded collection: its datasets go with it
            raise
        finally:
            self._stop_disturbance(disturbed)
        raw = self._result(serials, samples, duration_s, t0, t1)
        self._watch_end(raw.mut)  # and after it: every dataset into the meters' records
        collection_s = raw.conditions["collection_time_s"]  # the timer's count: the gate, not the PC's clock
        return with_cover(raw, disturbed, (t1 - collection_s, t1))

    def _sample(self) -> tuple[float, float, float, float, float | None, dict[int, float]]:
        """(nozzle inlet p, nozzle inlet T, meter p, meter T, relative humidity at the meters, the downstream
        meters' p): one gas thermometer serves both places."""
        t = self.meter_temperature.temperature_c
        p_meter = self.meter_pressure.pressure_pa
        return self.nozzle_pressure.pressure_pa, t, p_meter, t, self.humidity_pct(), self._downstream_pressures()

    def _collect(self, duration_s: float, criteria, guard: Guard, disturbed: DisturbanceRun | None,
                 samples: list) -> None:
        """Sample p/T and watch the conditions until `duration_s`, or until the disturbance `disturbed` ends
        (NSAd: the collection ends with it)."""
        start = self.clock.now()
        while True:
            samples.append(self._sample())
            self._watch_tick()  # the meters' interfaces while disturbed, every poll interval
            elapsed = self.clock.now() - start
            if elapsed >= duration_s or (disturbed is not None and disturbed.ended()):
                return
            guard()
            readings = Readings(self.flowrate_m3h(), samples[-1][3], self.chamber_alarm(), fluid="gas")
            self.on_readings(readings)
            if criteria is not None:
                why = violation(readings, target_m3h=self.target_m3h, flow_within_pct=criteria.flow_within_pct,
                                water_temperature_c=criteria.water_temperature_c)
                if why:
                    raise Suspended(why)
            self._collection_pause(duration_s - elapsed, disturbed, duration_s)

    def _result(self, serials: list[str], samples: list, planned_s: float, t0: float, t1: float) -> RawMeasurement:
        count = self.timer.fetch_count(timeout_s=10.0)
        counts = self._counts(serials)
        p0, t0_c, p_meter, t_meter = (sum(column) / len(samples) for column in list(zip(*samples))[:4])
        humidity = None if self.hygrometer is None else sum(sample[4] for sample in samples) / len(samples)
        corrections: dict[str, list] = {}
        p0 = self._corrected("nozzle_pressure", p0, corrections)
        t0_c = t_meter = self._corrected("mut_gas_temperature", t_meter, corrections)  # one thermometer, both places
        p_meter = self._corrected("mut_gas_pressure", p_meter, corrections)
        humidity = self._corrected("gas_humidity", humidity, corrections)
        elements = tuple(self._element(s) for s in self.open_nozzles)
        reading = SonicNozzleReading(elements, p0, t0_c, p_meter, t_meter, count, humidity)
        volume_m3 = float(self.method.reference_volume_m3(self.method.inputs(reading)).x)
        collection_s = count / self.method.timebase_hz
        conditions = {"gas_temperature_c": t_meter, "gas_pressure_pa": p_meter, "nozzle_pressure_pa": p0,
                      "gas_humidity_pct": humidity,
                      "ambient_pressure_pa": self.barometer.pressure_pa, "nozzles": list(self.open_nozzles),
                      "collection_time_s": collection_s, "planned_time_s": planned_s, "samples": len(samples),
                      "corrections": corrections, **self._chamber_conditions()}
        at_meter = self._at_meters(serials, [sample[5] for sample in samples], corrections)
        return RawMeasurement(reading, counts, volume_m3 / collection_s * 3600, {"start_s": t0, "stop_s": t1},
                              conditions, at_meter)

    def standard_uses(self, raw: RawMeasurement) -> list:
        """The nozzles' Cd holds for the certified upstream conditions; the transmitters for their ranges."""
        reading = raw.reading
        by_role = {"sonic_nozzle_bank": {"upstream_pressure": reading.nozzle_pressure_pa,
                                         "upstream_temperature": reading.nozzle_temperature_c},
                   "mut_gas_temperature": reading.meter_temperature_c, "gas_humidity": reading.humidity_pct,
                   "nozzle_pressure": reading.nozzle_pressure_pa, "mut_gas_pressure": reading.meter_pressure_pa}
        valued = {self.certificate_of(role): value for role, value in by_role.items()
                  if self.certificate_of(role) and value is not None}
        valued.update({own["certificate"]: own["meter_pressure_pa"] for own in raw.at_meter.values()})
        return [(ref, valued[ref]) if ref in valued else ref for ref in self._standards]
