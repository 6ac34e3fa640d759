"""What every rig shares: the contract the engine drives (`Rig`: set a flow, measure a volume, disturb, set
a climate, safe state) and the implementation common to every bench (`BenchRig`: instruments by role,
bounded waits in guarded slices, EMC and RF disturbances, the climate chamber, endurance flow, the safe
state). One module per kind of bench builds on it: water_gravimetric, water_master_meter, gas_bell,
gas_sonic_nozzle. The same code drives a real bench and the simulated lab; only the clock differs.

Every wait is cut into short slices that call the runner's guard, so pause and abort are honoured
within a fraction of a second, and every wait is bounded.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Protocol

from meterlab.errors import RigError
from meterlab.instruments.chamber import ClimateChamber
from meterlab.instruments.digital_io import ValveIO
from meterlab.instruments.emc import EmcGenerator
from meterlab.instruments.iolog import IOEntry
from meterlab.instruments.pump import SinamicsV20
from meterlab.instruments.rf import RohdeSchwarzSmb100a
from meterlab.instruments.rf_immunity import WallClock
from meterlab.metrology.methods import GravimetricReading, ReferenceMethod
from meterlab.rigs.conditions import Readings

Guard = Callable[[], None]
SLICE_REAL_S = 0.05
# On a virtual clock (sim/clock.py) a wait is in simulated time: a rig samples its instruments every
# VIRTUAL_SLICE_S while it collects or waits for a condition (a real rig's software samples every few seconds
# too), or about COLLECTION_SAMPLES times over a long collection (at Qmin one lasts hours: a sample every few
# seconds would cost more than it tells); every VIRTUAL_DISTURBED_SLICE_S while a disturbance runs over the
# collection (which ends with it); and a collection's last approach to its target goes down to VIRTUAL_MIN_SLICE_S.
VIRTUAL_SLICE_S, VIRTUAL_DISTURBED_SLICE_S, VIRTUAL_MIN_SLICE_S = 5.0, 1.0, 0.05
COLLECTION_SAMPLES = 100
SETTLE_S = 10.0  # after a speed change, the longest a flow outside its band is taken for the pump's ramp
IN_BAND_SLICE_S = 0.5  # meanwhile the flow is read this often, the hold starting once it is in its band
ATMOSPHERE_PA = 101325.0

# The instrument that sets a disturbance's severity, by kind: the generator that applies it or, for RF (the
# chain replays a stored level table, `rf_disturbance.py`), the power sensor or field probe the level was set
# with. Its verification is enforced at the start of a run that applies the disturbance (`engine/session.py`).
SEVERITY_ROLES: dict[str, str] = {
    "surge": "surge_generator", "burst": "burst_generator", "esd": "esd_generator",
    "dips": "dips_generator", "voltage_variation": "dips_generator", "dc_voltage_variation": "dips_generator",
    "dc_dips": "dips_generator",
    "magnetic_field": "magnetic_field_source", "power_frequency_magnetic_field": "magnetic_field_source",
    "power_frequency_magnetic_field_short": "magnetic_field_source",
    "conducted_rf": "rf_power_meter", "radiated_rf": "field_probe",
    "vibration": "shaker_controller", "mechanical_shock": "shock_tester",
}
CLIMATE_ROLE = "climate_chamber"  # sets the temperature and humidity of the climatic tests
# Set the severity of the mechanical tests (vibration, shock): verified like the EMC generators, never a reference
# standard of a volume; enforced by the programmes that use them (issue 14, part 2).
MECHANICAL_ROLES = ("shaker_controller", "shock_tester")
# The R 137-2 / R 49-2 vibration and shock tests, applied as disturbances (rigs/mechanical.py): kind -> role.
MECHANICAL_KINDS: dict[str, str] = {kind: SEVERITY_ROLES[kind] for kind in ("vibration", "mechanical_shock")}


class _SequenceStopped(Exception):
    """The measurement a background disturbance served has ended."""


class RealClock(WallClock):
    """Wall-clock seconds since the run's bench opened, for real benches (the simulated lab's clock's interface)."""

    scale = 1.0

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._t0

    def real_seconds(self, sim_s: float) -> float:
        return sim_s

    def actor(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


class RunIOLog:
    """The run's I/O-log sink: collects entries until the runner commits them with a measurement."""

    def __init__(self) -> None:
        self._entries: deque[IOEntry] = deque()
        self._lock = threading.Lock()

    def record(self, entry: IOEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def drain(self) -> list[list]:
        with self._lock:
            entries, self._entries = list(self._entries), deque()
        return [[e.wall_time_s, e.monotonic_s, e.instrument, e.direction.value,
                 e.data.decode("latin-1")] for e in entries]


@dataclass
class RawMeasurement:
    reading: GravimetricReading
    mut: dict[str, dict]               # serial -> {"pulses": n} or {"start_l": .., "end_l": ..}
    flowrate_m3h: float
    time_s: dict[str, float]           # start/stop on the rig clock
    conditions: dict[str, Any] = field(default_factory=dict)
    # serial -> readings taken at that meter alone, replacing the shared ones in its model (a gas meter
    # downstream in a series sees a lower pressure): {"meter_pressure_pa": p, "u_pa": u, "source": certificate}
    at_meter: dict[str, dict] = field(default_factory=dict)

    def reading_dict(self) -> dict:
        return asdict(self.reading)


class Rig(Protocol):
    """The contract between the engine and a bench: what the runner may ask of any rig. Capabilities of
    some benches only (water conditioning, pressure loss, register readout) are their own mixins."""

    clock: Any
    on_readings: Callable[[Readings], None]

    def set_flow(self, flowrate_m3h: float, *, reverse: bool = False) -> Any: ...
    def stop_flow(self) -> None: ...
    def mounted(self, orientation: str, direction: str = "forward") -> None: ...
    def stabilise(self, target_m3h: float | None, *, flow_within_pct: float, water_temperature_c, for_s: float,
                  timeout_s: float, guard: Guard) -> Any: ...
    # next_flow_m3h: the flow the programme sets right after this measurement, which a rig may start towards once
    # its collection is over (a gravimetric rig, while its tank settles for the weighing)
    def measure(self, volume_l: float, flowrate_m3h: float, serials: list[str], *, start: str, guard: Guard,
                criteria: Any = None, disturbance: Any = None, next_flow_m3h: float | None = None) -> RawMeasurement: ...
    def check_disturbance(self, kind: str, params: dict) -> list[dict]: ...
    def apply_disturbance(self, kind: str, params: dict, *, guard: Guard,
                          serials: list[str] | None = None) -> dict | None: ...
    def hold_disturbance(self, label: str, kind: str, params: dict) -> dict: ...
    def release_disturbance(self, label: str) -> bool: ...
    def held_disturbances(self) -> dict[str, Any]: ...
    def set_climate(self, temperature_c: float, humidity_pct: float | None, *, ramp_c_per_min: float | None) -> None: ...
    def soak(self, duration_s: float, *, within_c: float, guard: Guard) -> None: ...
    def run_flow(self, flowrate_m3h: float, *, duration_s, cycles, on_s, off_s, guard: Guard,
                 flowing: bool = False) -> None: ...
    def wait(self, duration_s: float, *, guard: Guard) -> None: ...
    def wait_condition(self, criteria, *, guard: Guard, timeout_s: float = 3600.0) -> None: ...
    def standards(self) -> list[str]: ...
    def certificate_of(self, role: str) -> str | None: ...
    def standard_uses(self, raw: Any) -> list: ...
    def reference_method(self) -> ReferenceMethod: ...
    def drain_io(self) -> list[list]: ...
    def reconnect(self, name: str) -> None: ...
    def safe_state(self, timeout_s: float = 10.0) -> list[str]: ...
    def safe_state_readback(self) -> dict[str, dict]: ...
    def finish(self) -> None: ...


class DisturbanceRun:
    """An NSAd disturbance running in the background of one measurement, and the rig-clock times it ran over:
    the collection ends as soon as it ends, and the record says which share of the collection it covered."""

    def __init__(self, rig: Any, kind: str, params: dict, generator: Any):
        self.kind, self.clock = kind, rig.clock
        self.started_s: float | None = None
        self.ended_s: float | None = None  # None: it still ran when the collection ended
        self._stop = threading.Event()
        self._errors: list[BaseException] = []

        def stopped() -> None:
            if self._stop.is_set():
                raise _SequenceStopped

        def work() -> None:
            try:
                rig._run_sequence(generator, kind, params, stopped)
                self.ended_s = self.clock.now()
            except _SequenceStopped:
                pass
            except BaseException as exc:  # noqa: BLE001 - re-raised in the measuring thread
                self.ended_s = self.clock.now()
                self._errors.append(exc)

        self._thread = self.clock.start_thread(work, f"disturbance-{kind}")  # a virtual clock waits for it too

    def ended(self) -> bool:
        return not self._thread.is_alive()

    def pause(self, real_s: float) -> None:
        """Sleep up to `real_s`, waking at once when the disturbance ends (the collection must end with it)."""
        self._thread.join(real_s)

    def stop(self) -> None:
        """Stop the sequence if it still runs (the generator ends stopped and disarmed); re-raise its error."""
        self._stop.set()
        with self.clock.idle():  # on a virtual clock, the sequence needs time to see the stop
            self._thread.join(timeout=30)
        if self._errors:
            raise self._errors[0]

    def cover(self, t0: float, t1: float) -> dict:
        """How the disturbance covered the collection [t0, t1] (rig clock): the share of it that was disturbed."""
        start = max(t0, self.started_s if self.started_s is not None else t0)
        end = min(t1, self.ended_s if self.ended_s is not None else t1)
        fraction = max(0.0, end - start) / (t1 - t0) if t1 > t0 else 0.0
        return {"kind": self.kind, "started_s": self.started_s, "ended_s": self.ended_s,
                "collection_s": [t0, t1], "disturbed_fraction": fraction}


def with_cover(raw: RawMeasurement, disturbed: DisturbanceRun | None,
               collection_s: tuple[float, float] | None = None) -> RawMeasurement:
    """The measurement with how its NSAd disturbance covered the collection (`conditions.disturbance`), over
    `collection_s` (rig clock) or, by default, the measurement's own start and stop."""
    if disturbed is not None:
        t0, t1 = collection_s or (raw.time_s["start_s"], raw.time_s["stop_s"])
        raw.conditions["disturbance"] = disturbed.cover(t0, t1)
    return raw


class BenchRig:
    """What every rig shares: instruments by role, bounded waits in guarded slices, disturbances (EMC
    generators), the climate chamber, endurance flow and the safe state. A subclass sets `bench`, `clock`,
    `iolog`, `_standards` and implements the flow and measurement (set_flow, stop_flow, stabilise, measure)."""

    bench: Any
    clock: Any
    iolog: RunIOLog
    _standards: list[str]
    method: ReferenceMethod
    target_m3h: float | None = None
    register: Any = None  # the certificates whose corrections are applied to the readings (None: not applied)
    lab: Any = None  # the simulated lab serving this bench, if any
    meter_line = "meters"  # the simulated lab's line of meters under test (a gas rig's: gas_meters)

    def mounted(self, orientation: str, direction: str = "forward") -> None:
        """The operator confirmed the meters remounted in `orientation`, `direction` (reverse: against the line's
        flow). A real bench has nothing to tell (the confirmation is the record); on a simulated bench the simulated
        lab is told, as the operator's hands would move the simulated meters (signals <line>.orientation and
        <line>.direction)."""
        if self.lab is not None:
            self.lab.world.write(f"{self.meter_line}.orientation", orientation)
            self.lab.world.write(f"{self.meter_line}.direction", direction)

    # ------------------------------------------------------------------------------------------ wiring
    def _role(self, role: str, *, required: bool = True):
        try:
            return self.bench.by_role(role)
        except KeyError:
            if required:
                raise RigError(f"the bench {self.bench.bench.bench!r} has no instrument with role {role!r}") from None
            return None

    def standards(self) -> list[str]:
        return list(self._standards)

    def _corrected(self, role: str, reading: float | None, applied: dict[str, list]) -> float | None:
        """The reading with its certificate's correction added (its uncertainty is in the method's budget);
        what was applied is recorded, by certificate, for the traceability of the result."""
        certificate = self.certificate_of(role)
        if reading is None or self.register is None or certificate is None:
            return reading
        correction = self.register.correction(certificate, at=reading).x
        applied.setdefault(certificate, []).append({"reading": reading, "correction": correction})
        return reading + correction

    def certificate_of(self, role: str) -> str | None:
        """The certificate id the bench names for the instrument with `role` (None if none)."""
        for name in self.bench.bench.by_role(role):
            if self.bench.bench.instruments[name].calibration:
                return self.bench.bench.instruments[name].calibration
        return None

    def on_readings(self, readings: Readings) -> None:
        """Called with every set of monitored readings (the runner shows them live); no-op by default."""

    def on_collected(self, collected: float, target: float, unit: str) -> None:
        """Called while the reference collects a measurement's volume (the runner shows it live); no-op by default."""

    def chamber_alarm(self) -> str | None:
        """The climate chamber's alarm, if the bench has a chamber and it reports one (a monitored condition)."""
        chamber = self._role(CLIMATE_ROLE, required=False)
        return chamber.alarm() if chamber is not None else None

    def standard_uses(self, raw: Any) -> list:
        """(certificate id, value or range used) for the range checks after a measurement; the standards
        without a measured value are checked for their due date only."""
        return list(self._standards)

    def reference_method(self) -> ReferenceMethod:
        return self.method

    def drain_io(self) -> list[list]:
        return self.iolog.drain()

    # ---------------------------------------------------------------------------------------- waiting
    def wait(self, duration_s: float, *, guard: Guard) -> None:
        """Wait `duration_s` on the rig clock in short slices, calling the guard between them."""
        end = self.clock.now() + duration_s
        while (left := end - self.clock.now()) > 0:
            guard()
            self.clock.pause(left)

    def _wait_for(self, predicate: Callable[[], bool], *, timeout_s: float, guard: Guard, what: str,
                  virtual_poll_s: float = VIRTUAL_SLICE_S) -> None:
        """Until `predicate()` (asked every `virtual_poll_s` on a virtual clock, every real slice otherwise)."""
        end = self.clock.now() + timeout_s
        while not predicate():
            if self.clock.now() >= end:
                raise RigError(f"{what}: not reached within {timeout_s:g} s")
            guard()
            self.clock.pause(virtual_poll_s) if self.clock.virtual else time.sleep(SLICE_REAL_S)

    def _between_polls(self) -> Callable[[], None] | None:
        """How a generator's driver waits between two status polls: simulated time on a virtual clock (its
        test runs in simulated time), else its own real-time poll (None)."""
        return (lambda: self.clock.pause(VIRTUAL_DISTURBED_SLICE_S)) if self.clock.virtual else None

    def _polls_with(self, tick: Callable[[], None] | None) -> Callable[[], None] | None:
        """`_between_polls`, and `tick` after each wait (on a real clock: a real slice, then `tick`)."""
        wait = self._between_polls()
        if tick is None:
            return wait

        def wait_then_tick() -> None:
            wait() if wait is not None else time.sleep(SLICE_REAL_S)
            tick()
        return wait_then_tick

    @staticmethod
    def _virtual_sample_s(duration_s: float | None) -> float:
        """On a virtual clock, how often a collection lasting about `duration_s` samples its instruments."""
        return max(VIRTUAL_SLICE_S, (duration_s or 0.0) / COLLECTION_SAMPLES)

    def _collection_pause(self, sim_s: float, disturbed: DisturbanceRun | None, duration_s: float | None = None) -> None:
        """One slice of a collection lasting about `duration_s` that needs about `sim_s` more: on a virtual
        clock that much simulated time, at least VIRTUAL_MIN_SLICE_S, at most a sampling period; otherwise a
        short real slice, cut short when the collection's disturbance ends (the collection must end with it)."""
        if self.clock.virtual:
            longest_s = self._virtual_sample_s(duration_s) if disturbed is None else VIRTUAL_DISTURBED_SLICE_S
            self.clock.pause(min(max(sim_s, VIRTUAL_MIN_SLICE_S), longest_s))
            return
        pause_s = max(0.001, min(SLICE_REAL_S, self.clock.real_seconds(sim_s)))
        disturbed.pause(pause_s) if disturbed is not None else time.sleep(pause_s)

    def wait_condition(self, criteria, *, guard: Guard, timeout_s: float = 3600.0) -> None:
        """After a suspension: wait until the criteria hold again (the stabilise rules)."""
        if criteria is None:
            return
        self.stabilise(self.target_m3h, flow_within_pct=criteria.flow_within_pct,
                       water_temperature_c=criteria.water_temperature_c, for_s=criteria.for_s,
                       timeout_s=timeout_s, guard=guard)

    # ------------------------------------------------------------------------------- disturbances etc.
    def _generator_for(self, kind: str):
        if kind in MECHANICAL_KINDS:  # the shaker or the shock tester behind the generator protocol
            from meterlab.rigs.mechanical import ShockSequence, VibrationSequence

            role = MECHANICAL_KINDS[kind]
            instrument = self._role(role, required=False)
            if instrument is None:
                raise RigError(f"the bench has no instrument for a {kind} disturbance (role {role})")
            sequence = VibrationSequence if kind == "vibration" else ShockSequence
            return sequence(instrument, self.clock)
        if kind in ("conducted_rf", "radiated_rf"):  # the RF chain + the bench's stored level calibration
            from meterlab.rigs.rf_disturbance import rf_generator_for

            return rf_generator_for(self.bench, kind, clock=self.clock)
        role = SEVERITY_ROLES.get(kind)
        generator = self._role(role, required=False) if role else None
        if generator is None:
            raise RigError(f"the bench has no instrument for a {kind} disturbance (role {role})")
        return generator

    def check_disturbance(self, kind: str, params: dict) -> list[dict]:
        """The runs a disturbance will apply, checked without sending anything (the generator exists, the
        parameters are known and in range, an RF level table covers the test)."""
        generator = self._generator_for(kind)
        runs = generator.runs(kind, params)
        check = getattr(generator, "check_parameters", None)
        for run in runs if check is not None else ():
            check(**run)
        return runs

    def _run_sequence(self, generator, kind: str, params: dict, guard: Guard,
                      tick: Callable[[], None] | None = None) -> None:
        """Apply every run the profile's parameters expand to (polarities, phase angles, ...), in order;
        whatever happens, the generator ends stopped and disarmed. `tick` is called between the generator's
        status polls (the meters' interfaces watched meanwhile)."""
        limit_real_s = self.clock.real_seconds(float(params.get("max_duration_s", 7200))) + 10
        try:
            for run in generator.runs(kind, params):
                guard()
                generator.configure(**run)
                generator.arm()
                generator.start()
                generator.wait_complete(limit_real_s, guard=guard, between_polls=self._polls_with(tick))
        finally:
            generator.stop()
            generator.disarm()

    def _start_disturbance(self, disturbance, guard: Guard) -> DisturbanceRun | None:
        """NSAd: run the disturbance in the background while the measurement collects; return once it runs."""
        if disturbance is None:
            return None
        kind, params = disturbance
        generator = self._generator_for(kind)
        generator.runs(kind, params)  # refuse bad parameters before the measurement starts
        run = DisturbanceRun(self, kind, params, generator)
        self._wait_for(lambda: generator.running or run.ended(), timeout_s=600, guard=guard,
                       what="the disturbance to start")
        run.started_s = self.clock.now()
        return run

    @staticmethod
    def _stop_disturbance(run: DisturbanceRun | None) -> None:
        if run is not None:
            run.stop()

    def apply_disturbance(self, kind: str, params: dict, *, guard: Guard, serials: list[str] | None = None) -> dict | None:
        """NSAa: apply the whole disturbance sequence now, between two measurements. With `serials` (the meters
        in position order), the declared interfaces are watched meanwhile (rigs/transmission.py): returns
        serial -> {"transmission": ...} for the meters that have one, else None."""
        generator = self._generator_for(kind)

        def run(tick: Callable[[], None] | None) -> None:
            self._run_sequence(generator, kind, params, guard, tick)
        watch = getattr(self, "_watch_between", None)
        if serials is None or watch is None:
            run(None)
            return None
        return watch(serials, kind, run)

    def hold_disturbance(self, label: str, kind: str, params: dict) -> dict:
        """Switch a steady disturbance on (a supply voltage held at a limit, a static field) and leave it on
        until release_disturbance(label): measurements made meanwhile are made under it."""
        generator = self._generator_for(kind)
        runs = generator.runs(kind, params)
        if len(runs) != 1:
            raise RigError(f"{label}: a held {kind} disturbance is one setting, but its parameters give {len(runs)} "
                           f"(choose one, e.g. parameters: {{limit: upper}})")
        generator.configure(**runs[0])
        generator.arm()
        generator.start()
        self.held_disturbances()[label] = generator
        self.__dict__.setdefault("_held_kinds", {})[label] = kind  # what a measurement made meanwhile is under
        return runs[0]

    def release_disturbance(self, label: str) -> bool:
        """Stop and disarm the generator of a held disturbance; False if it was not held."""
        generator = self.held_disturbances().pop(label, None)
        self.__dict__.get("_held_kinds", {}).pop(label, None)
        if generator is None:
            return False
        generator.stop()
        generator.disarm()
        return True

    def held_disturbances(self) -> dict[str, Any]:
        return self.__dict__.setdefault("_held", {})

    def set_climate(self, temperature_c: float, humidity_pct: float | None, *, ramp_c_per_min: float | None) -> None:
        chamber = self._role(CLIMATE_ROLE)
        chamber.set_climate(temperature_c, humidity_pct, ramp_c_per_min)

    def soak(self, duration_s: float, *, within_c: float, guard: Guard) -> None:
        chamber = self._role(CLIMATE_ROLE)
        target = chamber.setpoint()[0]
        self._wait_for(lambda: abs(chamber.read()[0] - target) <= within_c, timeout_s=24 * 3600, guard=guard,
                       what=f"chamber at {target:g} °C")
        self.wait(duration_s, guard=guard)

    def run_flow(self, flowrate_m3h: float, *, duration_s, cycles, on_s, off_s, guard: Guard,
                 flowing: bool = False) -> None:
        """Flow for `duration_s` (`flowing`: already set at this flowrate, by the step's previous part), or
        `cycles` start/stop cycles, ending stopped."""
        if duration_s is not None:
            if not flowing:
                self.set_flow(flowrate_m3h)
            self.wait(duration_s, guard=guard)
            return
        for index in range(cycles):
            self.set_flow(flowrate_m3h) if index == 0 else self._restart_flow(flowrate_m3h)
            self.wait(on_s, guard=guard)
            self.stop_flow() if index == cycles - 1 else self._interrupt_flow()
            self.wait(off_s, guard=guard)

    def _interrupt_flow(self) -> None:
        """Stop the flow within a run of start/stop cycles (a rig with a quick valve leaves the rest as set)."""
        self.stop_flow()

    def _restart_flow(self, flowrate_m3h: float) -> None:
        self.set_flow(flowrate_m3h)

    def reconnect(self, name: str) -> None:
        """Close and reopen the connection of instrument `name` (after a lost connection or a missed reply, whose
        late answer must not be read as the next one's)."""
        transport = getattr(self.bench.get(name), "transport", None)
        if transport is not None and hasattr(transport, "reconnect"):
            transport.reconnect()

    def safe_state(self, timeout_s: float = 10.0) -> list[str]:
        """Every instrument to its safe state, in parallel, within `timeout_s`; return what failed."""
        problems: list[str] = []
        pool = ThreadPoolExecutor(max_workers=max(1, len(self.bench)))
        futures = {pool.submit(driver.safe_state): name for name, driver in self.bench.items()}
        with self.clock.idle():  # on a virtual clock, an instrument's reply may take simulated time
            done, pending = wait(futures, timeout=timeout_s)
        pool.shutdown(wait=False, cancel_futures=True)
        for future in done:
            if future.exception() is not None:
                problems.append(f"{futures[future]}: {future.exception()}")
        problems += [f"{futures[f]}: no answer within {timeout_s:g} s" for f in pending]
        return problems

    def safe_state_readback(self) -> dict[str, dict]:
        """What the instruments that can hurt (pump, valves, EMC and RF generators, climate chamber) report
        after the safe state, read back through their drivers: the record shows the state, not the command."""
        report = {}
        for name, driver in self.bench.items():
            read = _readback(driver)
            if read is None:
                continue
            try:
                report[name] = read()
            except Exception as exc:  # noqa: BLE001 - an instrument that does not answer is itself the finding
                report[name] = {"error": f"{type(exc).__name__}: {exc}"}
        return report



def _readback(driver: Any) -> Callable[[], dict] | None:
    """How to read back the safe state of a driver that has one worth reading (None: nothing to read)."""
    if isinstance(driver, SinamicsV20):
        return lambda: {"pump_running": driver.running}
    if isinstance(driver, ValveIO):
        return lambda: {"outputs_on": _outputs_on(driver)}
    if isinstance(driver, EmcGenerator):
        return lambda: {"high_voltage_on": driver.high_voltage_on}
    if isinstance(driver, RohdeSchwarzSmb100a):
        return lambda: {"rf_output": bool(driver.rf_output)}
    if isinstance(driver, ClimateChamber):
        return lambda: {"mode": driver.mode}
    return None


def _outputs_on(io: ValveIO) -> list[str]:
    """The signals (start valve, diverter, drain) whose outputs are on, read from the module."""
    outputs = io.read_outputs()
    return [signal for terminal, signal in io.wiring.items() if terminal.startswith("DO") and outputs[int(terminal[2:])]]
