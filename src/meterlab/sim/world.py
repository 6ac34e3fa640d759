"""One physics model: components advancing together on the simulated clock, under one lock.

Components integrate exactly (or stably) over any step up to `max_step_s`, and over a longer one where they say so
(`step_limit_s`: at rest, or a constant flow): a long quiet wait is then one step. The world splits steps at
scheduled events, so an event (a gate closing, a fault) happens at its exact simulated time whatever the
clock scale. Simulated devices touch the world only inside `with world.now():`, which takes the lock and
first brings every component to the present, so a command acts at the simulated time it arrives.

Coupling between parts goes through names, so subsystems stay in their own modules:
- signals: `define_signal("diverter", read, write)`; devices `read("diverter")`, `write("diverter", 1)`;
- events: `on("diverter", callback)`, `emit("measurement_start")` (writing a signal emits its name);
- faults: `on_fault("pump_trip", handler)` for faults of the physical world from the scenario."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from meterlab.sim.clock import SimClock

log = logging.getLogger(__name__)
DEFAULT_MAX_STEP_S = 1.0
VIRTUAL_POLL_S = 0.1  # a server waiting on continuous state (not a scheduled event) looks again this often


class Component:
    """A physical subsystem. Override `attach` to define signals/listeners and `step` to integrate."""

    name: str = "component"
    world: World

    def attach(self, world: World) -> None:
        self.world = world

    def step(self, t_s: float, dt_s: float) -> None:
        """Advance from `t_s` to `t_s + dt_s` with the actuators as they are (they change only between steps)."""

    def step_limit_s(self) -> float:
        """The longest step (never less than `max_step_s`) this component takes as exactly as one of `max_step_s`
        from its present state: a component at rest, or moving in a way it integrates exactly (a constant flow),
        says so (up to math.inf) and the world, when every component does, crosses a long quiet wait in one step
        instead of thousands."""
        return self.world.max_step_s


@dataclass
class Signal:
    read: Callable[[], Any]
    write: Callable[[Any], None] | None = None
    doc: str = ""


@dataclass(order=True)
class Scheduled:
    at_s: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class World:
    def __init__(self, clock: SimClock, *, seed: int = 0, max_step_s: float = DEFAULT_MAX_STEP_S):
        self.clock = clock
        self.t_s = clock.now()
        self.max_step_s = max_step_s
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # notified after every advance and on stop
        self.components: dict[str, Component] = {}
        self._steppers: list[Component] = []  # the components with physics of their own, in the order added
        self.signals: dict[str, Signal] = {}
        self.fault_handlers: dict[str, Callable[[Any], None]] = {}
        self._listeners: dict[str, list[Callable[..., None]]] = defaultdict(list)
        self._queue: list[Scheduled] = []
        self._seq = itertools.count()
        self._seeds = np.random.SeedSequence(seed)
        self.stopped = threading.Event()
        self.worst_lag_s = 0.0  # largest gap between the clock and the physics after an advance
        self._ticker: threading.Thread | None = None
        if clock.virtual:
            # A virtual clock may jump hours while the rig waits and nobody reads (a durability run): the physics
            # catches up in the thread that wakes, not in the next instrument's reply (which would time out).
            clock.call_on_wake(self.advance)

    # -- building -----------------------------------------------------------------------------------------
    def add(self, component: Component) -> Component:
        if component.name in self.components:
            raise ValueError(f"the world already has a component named {component.name!r}")
        self.components[component.name] = component
        if type(component).step is not Component.step:  # one that does nothing in a step is not asked
            self._steppers.append(component)
        component.attach(self)
        return component

    def component(self, name: str) -> Any:
        try:
            return self.components[name]
        except KeyError:
            raise KeyError(f"no physics component {name!r}; the world has {sorted(self.components)}") from None

    def rng(self) -> np.random.Generator:
        """An independent, reproducible random stream (one per component or device)."""
        return np.random.default_rng(self._seeds.spawn(1)[0])

    def define_signal(self, name: str, read: Callable[[], Any], write: Callable[[Any], None] | None = None,
                      doc: str = "") -> None:
        if name in self.signals:
            raise ValueError(f"signal {name!r} is defined twice")
        self.signals[name] = Signal(read, write, doc)

    def on_fault(self, kind: str, handler: Callable[[Any], None]) -> None:
        self.fault_handlers[kind] = handler

    # -- time -----------------------------------------------------------------------------------------------
    def advance(self) -> None:
        self.advance_to(self.clock.now())

    def advance_to(self, t_s: float) -> None:
        with self.lock:
            while True:
                self._run_due_events()
                if self.t_s >= t_s:
                    break
                next_event = self._queue[0].at_s if self._queue else t_s
                end = min(t_s, next_event, self.t_s + self._step_limit_s())
                dt = end - self.t_s
                for component in self._steppers:
                    component.step(self.t_s, dt)
                self.t_s = end
            self.worst_lag_s = max(self.worst_lag_s, self.clock.now() - self.t_s)
            self.changed.notify_all()

    def _step_limit_s(self) -> float:
        """The next step's longest length: `max_step_s` unless every component can take a longer one exactly."""
        limit = math.inf
        for component in self._steppers:
            limit = min(limit, component.step_limit_s())
            if limit <= self.max_step_s:  # none says less: the rest need not be asked
                return self.max_step_s
        return limit

    def _run_due_events(self) -> None:
        while self._queue and self._queue[0].at_s <= self.t_s:
            event = heapq.heappop(self._queue)
            if not event.cancelled:
                self._call(event.callback)

    def schedule(self, at_s: float, callback: Callable[[], None]) -> Scheduled:
        """Run `callback()` (under the lock) when the world reaches simulated time `at_s`."""
        with self.lock:
            event = Scheduled(max(at_s, self.t_s), next(self._seq), callback)
            heapq.heappush(self._queue, event)
            return event

    @contextlib.contextmanager
    def now(self) -> Iterator[World]:
        """Hold the world at the present simulated time (lock taken, components advanced)."""
        with self.lock:
            self.advance()
            yield self

    # -- signals and events --------------------------------------------------------------------------------
    def read(self, name: str) -> Any:
        with self.now():
            return self._signal(name).read()

    def write(self, name: str, value: Any) -> None:
        with self.now():
            signal = self._signal(name)
            if signal.write is None:
                raise ValueError(f"signal {name!r} is read-only")
            signal.write(value)
            self.emit(name, value=value)

    def _signal(self, name: str) -> Signal:
        try:
            return self.signals[name]
        except KeyError:
            raise KeyError(f"no signal {name!r}; known signals: {', '.join(sorted(self.signals))}") from None

    def on(self, name: str, callback: Callable[..., None]) -> None:
        """Call `callback(**data)` under the lock whenever `name` is emitted (signal writes emit their name)."""
        self._listeners[name].append(callback)

    def emit(self, name: str, **data: Any) -> None:
        with self.lock:
            for callback in list(self._listeners.get(name, ())):
                self._call(callback, **data)

    def _call(self, callback: Callable[..., None], **data: Any) -> None:
        try:
            callback(**data)
        except Exception:  # a broken listener must not stop time for everyone else
            log.exception("simulation callback %r failed", callback)

    # -- waiting and running -------------------------------------------------------------------------------
    def wait_until(self, predicate: Callable[[], bool], *, timeout_real_s: float,
                   timeout_sim_s: float | None = None) -> bool:
        """Block until `predicate()` (checked under the lock after each advance) or timeout or stop. A server
        thread answering a request waits here for simulated time to pass (a gate, a settling)."""
        if self.clock.virtual:
            limit_s = timeout_sim_s if timeout_sim_s is not None else self.clock.sim_seconds(timeout_real_s)
            return self._wait_virtual(predicate, self.clock.now() + limit_s)
        with self.changed:
            self.changed.wait_for(lambda: self.stopped.is_set() or predicate(), timeout_real_s)
            return predicate()

    def _wait_virtual(self, predicate: Callable[[], bool], deadline_s: float) -> bool:
        """On a virtual clock: sleep to the next scheduled event (or a short poll, for a predicate on continuous
        state such as a settling reading) until the predicate holds or the deadline passes."""
        while True:
            with self.now():
                if self.stopped.is_set() or predicate():
                    return predicate()
                next_event_s = self._queue[0].at_s if self._queue else math.inf
                now = self.t_s
            if now >= deadline_s:
                return False
            self.clock.sleep(min(deadline_s, next_event_s, now + VIRTUAL_POLL_S) - now)

    def start_ticker(self, period_real_s: float = 0.01) -> None:
        """Advance in the background so scheduled events fire even when no instrument is asked."""
        def run() -> None:
            while not self.stopped.wait(period_real_s):
                self.advance()

        self._ticker = threading.Thread(target=run, name="sim-world-ticker", daemon=True)
        self._ticker.start()

    def stop(self) -> None:
        self.stopped.set()
        with self.changed:
            self.changed.notify_all()
        if self._ticker is not None:
            self._ticker.join(timeout=2.0)
            self._ticker = None

    @property
    def lag_s(self) -> float:
        """How far the physics is behind the clock (simulated seconds); grows if the scale is too high."""
        return self.clock.now() - self.t_s
