"""When the scenario's faults are active: communication faults for the protocol servers, physical faults
scheduled into the world (each physics component registers the kinds it handles with `world.on_fault`)."""

from __future__ import annotations

import threading

import numpy as np

from meterlab.errors import MeterlabError
from meterlab.sim.clock import SimClock
from meterlab.sim.scenario import INSTRUMENT_FAULTS, READOUT_FAULTS, FaultSpec
from meterlab.sim.world import World

RANDOM_DEFAULT_DURATION_S = 10.0


class _Occurrences:
    """Active windows of one fault: a fixed one (at_s) or a seeded Poisson series (rate_per_h)."""

    def __init__(self, spec: FaultSpec, rng: np.random.Generator):
        self.spec, self.rng = spec, rng
        if spec.at_s is not None:
            self.window = (spec.at_s, spec.at_s + (spec.duration_s or float("inf")))
            self.next_start = float("inf")
        else:
            self.window = (float("-inf"), float("-inf"))
            self.next_start = self._gap()

    def _gap(self) -> float:
        return float(self.rng.exponential(3600.0 / self.spec.rate_per_h))  # type: ignore[operator]

    def active(self, t_s: float) -> bool:
        while self.next_start <= t_s:  # roll the random series forward to t_s
            duration = self.spec.duration_s or RANDOM_DEFAULT_DURATION_S
            self.window = (self.next_start, self.next_start + duration)
            self.next_start += duration + self._gap()
        return self.window[0] <= t_s < self.window[1]


class CommFaults:
    """Asked by a protocol server before each request: which fault, if any, is active for this instrument."""

    def __init__(self, specs: list[FaultSpec], clock: SimClock, rngs: list[np.random.Generator]):
        self.clock = clock
        self._lock = threading.Lock()
        self._by_instrument: dict[str, list[_Occurrences]] = {}
        for spec, rng in zip((s for s in specs if s.is_comm), rngs):
            self.add(spec, rng)

    def add(self, spec: FaultSpec, rng: np.random.Generator) -> None:
        with self._lock:
            self._by_instrument.setdefault(spec.instrument or "", []).append(_Occurrences(spec, rng))

    def clear(self, instrument: str | None = None) -> None:
        """Forget the faults of `instrument` (of all instruments if None)."""
        with self._lock:
            if instrument is None:
                self._by_instrument.clear()
            else:
                self._by_instrument.pop(instrument, None)

    def active(self, instrument: str) -> FaultSpec | None:
        occurrences = self._by_instrument.get(instrument)
        if not occurrences:
            return None
        t_s = self.clock.now()
        with self._lock:
            for occurrence in occurrences:
                if occurrence.active(t_s):
                    return occurrence.spec
        return None


def fault_problems(specs: list[FaultSpec], world: World, instruments: list[str] | None,
                   readout_faults: dict[str, frozenset[str]] | None = None) -> list[tuple[tuple, str]]:
    """The faults the lab cannot inject: (path in the scenario file, message). `instruments`: the simulated
    instruments of the bench, None when the bench is not known (only the kinds are checked then);
    `readout_faults`: which read-out fault kinds each of them serves (None: not checked)."""
    problems = []
    for index, spec in enumerate(specs):
        if spec.is_comm and instruments is not None and spec.instrument not in instruments:
            problems.append((("faults", index, "instrument"), f"instrument {spec.instrument!r} is not simulated "
                                                              f"here (simulated: {', '.join(instruments)})"))
        elif spec.kind in READOUT_FAULTS and readout_faults is not None:
            served = readout_faults.get(spec.instrument or "", frozenset())
            if spec.kind not in served:
                problems.append((("faults", index, "kind"), f"{spec.instrument} does not serve the read-out fault "
                                                            f"{spec.kind!r} (it serves: {', '.join(sorted(served)) or 'none'})"))
        if not spec.is_comm and spec.kind not in world.fault_handlers:
            known = ", ".join([*INSTRUMENT_FAULTS, *sorted(world.fault_handlers)])
            problems.append((("faults", index, "kind"), f"unknown kind {spec.kind!r}; this lab knows: {known}"))
    return problems


def check_faults(specs: list[FaultSpec], world: World, instruments: list[str],
                 readout_faults: dict[str, frozenset[str]] | None = None) -> None:
    """Refuse faults the lab cannot inject, before anything starts."""
    problems = fault_problems(specs, world, instruments, readout_faults)
    if problems:
        raise MeterlabError("scenario faults cannot be injected:\n  " + "\n  ".join(
            f"faults[{loc[1]}]: {message}" for loc, message in problems))


def schedule_physical_faults(specs: list[FaultSpec], world: World) -> None:
    for spec in specs:
        if not spec.is_comm:
            schedule_physical_fault(spec, world)


def schedule_physical_fault(spec: FaultSpec, world: World) -> None:
    handler = world.fault_handlers[spec.kind]
    if spec.at_s is not None:
        world.schedule(spec.at_s, lambda: handler(spec))
    else:
        _schedule_random(spec, handler, world, world.rng())


def _schedule_random(spec: FaultSpec, handler, world: World, rng: np.random.Generator) -> None:
    def fire() -> None:
        handler(spec)
        world.schedule(world.t_s + float(rng.exponential(3600.0 / spec.rate_per_h)), fire)

    world.schedule(world.t_s + float(rng.exponential(3600.0 / spec.rate_per_h)), fire)  # type: ignore[operator]
