"""A water rig whose reference is a master meter in series with the meters under test (R 49 allows it for
the tests where its uncertainty fits the MPE, e.g. the electronic and disturbance tests at high flows).

A master meter's totalizer is read over Modbus, which takes time a flying start cannot allow (the flow moves
on between the reading and the gate): every measurement is a standing start. At rest the master meter's
totalizer is reset and read, the meters' pulses (counters in continuous totalize: nothing arrives at rest)
and registers are read; the flow is started with the start valve, runs until the totalizer has the planned
volume, and is stopped; at rest again everything is read a second time. The master meter's error from its
certificate curve and its p/T are in the method's budget (MasterMeterMethod); the line's one thermometer and
pressure transmitter serve both the master meter and the meters (a rig with its own transmitters at the
master meter would read them there)."""

from __future__ import annotations

from typing import Any

from meterlab.errors import RigError
from meterlab.instruments.master_meter import SYSTEM_OK
from meterlab.metrology.methods import MasterMeterReading
from meterlab.rigs.base import ATMOSPHERE_PA, SETTLE_S, DisturbanceRun, Guard, RawMeasurement, with_cover
from meterlab.rigs.conditions import Suspended
from meterlab.rigs.water_gravimetric import WaterRig

REST_SHARE = 1e-3  # of the set flow: below this the master meter's flow reading counts as rest


class MasterMeterRig(WaterRig):
    """Pump, start valve, reference master meter, pulse counters / register readouts per meter, thermometer
    and pressure transmitter; the weighing tank is not used."""

    weighs = False

    def __init__(self, bench: Any, **kwargs: Any):
        super().__init__(bench, **kwargs)
        if self.flowmeter is None:
            raise RigError(f"the bench {self.bench.bench.bench!r} has no reference master meter "
                           f"(role reference_master_meter): the master_meter method needs one")

    def measure(self, volume_l: float, flowrate_m3h: float, serials: list[str], *, start: str,
                disturbance: tuple[str, dict] | None, criteria, guard: Guard, registers=None,
                next_flow_m3h: float | None = None) -> RawMeasurement:
        if start != "standing":
            raise RigError("the master-meter rig measures with standing starts (its totalizer is read at rest): "
                           "use start: standing in the procedure's measure_error steps")
        if self.target_m3h is None:
            raise RigError("no flow is set: a set_flow step must come before a standing-start measurement")
        self.require_standing_start()
        readers = self._register_readers(serials, registers)
        self._stop_flow_at_valve()
        self._wait_rest(guard)
        self.flowmeter.reset_totalizer()
        for counter in self.counters.values():
            counter.configure_continuous_totalize()
            counter.start()
        first = {pos: counter.running_count() for pos, counter in self.counters.items()}
        mut = self._read_registers(readers, "start", guard)
        mm_start = self.flowmeter.totalizer_m3
        self._watch_start(serials, disturbance)  # the interfaces at rest, before the disturbance (if declared)
        disturbed = None
        try:
            disturbed = self._start_disturbance(disturbance, guard)
            self._watch_disturbed(disturbed)
            self._start_flow()
            t0 = self.clock.now()
            self._run_volume(volume_l, mm_start, flowrate_m3h, criteria, guard, disturbed)
            t_c, p_pa = self.water_temperature_c(), self.water_pressure_pa()  # under flow, as the meters saw it
            flow_m3h = self.flowmeter.volume_flow_m3h
            t1 = self.clock.now()
            self._stop_flow_at_valve()
            self._wait_rest(guard)
        except Suspended:
            self._watch = None  # a discarded collection: its datasets go with it
            self._restart_counters_and_flow()
            raise
        except BaseException:
            self._watch = None
            self._restart_counters_and_flow(flow=False)
            raise
        finally:
            self._stop_disturbance(disturbed)
        end = self._read_registers(readers, "end", guard)
        for serial, record in end.items():
            mut[serial] = {**mut[serial], **record}
        mm_end = self.flowmeter.totalizer_m3
        for pos, counter in self.counters.items():
            if pos <= len(serials):
                mut[serials[pos - 1]] = {"readout": "pulses", "pulses": counter.running_count() - first[pos],
                                         "counter": counter.name, "pulse_value_l": self._pulse_value_l.get(pos)}
            counter.abort()
        self._watch_end(mut, self._standing_flow(t0, t1))  # at rest again: the last poll
        self._start_flow()
        return with_cover(self._reading(mm_end - mm_start, flow_m3h, t_c, p_pa, (t0, t1), mut), disturbed)

    def _reading(self, volume_m3: float, flow_m3h: float, t_c, p_pa, times: tuple[float, float],
                 mut: dict[str, dict]) -> RawMeasurement:
        corrections: dict[str, list] = {}
        t_c = self._corrected("water_thermometer", t_c, corrections)
        p_pa = self._corrected("water_pressure", p_pa, corrections)
        p_pa = p_pa if p_pa else ATMOSPHERE_PA
        reading = MasterMeterReading(volume_m3, flow_m3h, t_c, p_pa, t_c, p_pa)
        conditions = {"water_temperature_c": t_c, "water_pressure_pa": p_pa, "corrections": corrections,
                      "master_meter_m3": volume_m3, "flowrate_source": "reference master meter, under flow"}
        chamber = self._role("climate_chamber", required=False)
        if chamber is not None:
            conditions["chamber_temperature_c"], conditions["chamber_humidity_pct"] = chamber.read()
        return RawMeasurement(reading, mut, flow_m3h, {"start_s": times[0], "stop_s": times[1]}, conditions)

    def health_problems(self) -> list[str]:
        """The pump's fault, and the reference master meter's own diagnosis (its system condition)."""
        problems = super().health_problems()
        condition = self.flowmeter.system_condition
        if condition != SYSTEM_OK:
            problems.append(f"the reference master meter {self.flowmeter.name} reports system condition {condition} "
                            f"(not OK)")
        return problems

    def _run_volume(self, volume_l: float, mm_start_m3: float, flowrate_m3h: float, criteria, guard: Guard,
                    disturbed: DisturbanceRun | None) -> None:
        """Run until the master meter has counted `volume_l` (or until the disturbance `disturbed` ends),
        checking pause/abort and the monitored conditions."""
        self._run_until(lambda: (self.flowmeter.totalizer_m3 - mm_start_m3) * 1000, volume_l, flowrate_m3h / 3.6,
                        criteria, guard, disturbed, what=f"the master meter counting {volume_l:.2f} L", unit="L")

    def _wait_rest(self, guard: Guard) -> None:
        """Until the master meter reads no flow (twice, a settling time apart)."""
        threshold = REST_SHARE * (self.target_m3h or self.max_flowrate_m3h)

        def at_rest() -> bool:
            if abs(self.flowmeter.volume_flow_m3h) > threshold:
                return False
            self.wait(SETTLE_S / 10, guard=guard)
            return abs(self.flowmeter.volume_flow_m3h) <= threshold

        self._wait_for(at_rest, timeout_s=600.0, guard=guard, what="the flow to stop (master meter at zero)")

    def _restart_counters_and_flow(self, *, flow: bool = True) -> None:
        for counter in self.counters.values():
            counter.abort()
        if flow:
            self._start_flow()  # the runner waits for the conditions under the set flow

    def standard_uses(self, raw: RawMeasurement) -> list:
        reading = raw.reading
        by_role = {"reference_master_meter": {"flowrate": reading.flowrate_m3h,
                                              "water_temperature": reading.meter_water_temperature_c},
                   "water_thermometer": reading.meter_water_temperature_c,
                   "water_pressure": reading.meter_pressure_pa}
        valued = {self.certificate_of(role): value for role, value in by_role.items() if self.certificate_of(role)}
        return [(ref, valued[ref]) if ref in valued else ref for ref in self._standards]
