"""Simulated time, scaled or virtual.

`SimClock`: `now()` runs `scale` times faster than real time from an origin. Every wait on simulated time is
bounded in real time: a test at 1000x that asks for a simulated day by mistake fails at once instead of
sleeping for a real minute and a half. What a host's load delays is simulated time lost: results depend on it.

`VirtualClock`: simulated time moves only when every actor waits, and then jumps to the earliest wake-up. The
actors are the threads that drive the lab (the runner, a disturbance's thread: `actor()`, `start_thread()`); they
wait on the clock (`sleep`, `pause`, `wait_until`) or on a reply from a simulated instrument, and the servers'
threads wait on it while a request needs time (a gate, a settling). Nothing on the wire between them
(`instruments/wire.py`) and no server handling a request: only then has everything that happens at the
present simulated time happened. The same seed gives the same record on any host at any load."""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator

from meterlab.instruments import wire

log = logging.getLogger(__name__)
DEFAULT_MAX_REAL_S = 30.0
SLICE_REAL_S = 0.05  # a guarded wait on a scaled clock looks at its guard this often
VIRTUAL = 0.0  # the clock scale that means virtual time (stored with a run like any scale)
# Bounds in real time derived from simulated durations (a reply timeout, a sequence's limit) take virtual time
# to run at least this fast; it runs far faster unless the physics or the protocol traffic is heavy.
VIRTUAL_BOUND_SPEED = 50.0
RECHECK_REAL_S = 0.05  # a waiting actor looks again this often even if nobody told it that the lab went quiet
STALL_REPORT_REAL_S = 30.0  # waited that long for quiet: say what is busy (a bug, or an operator prompt)


def make_clock(scale: float) -> SimClock:
    """The clock of a simulated lab: virtual for `scale` 0 (VIRTUAL), else scaled real time."""
    return VirtualClock() if scale == VIRTUAL else SimClock(scale)


class SimClock:
    """Simulated seconds since the lab started; `origin_unix_s` is the wall time of simulated t = 0."""

    virtual = False
    _stopped = False  # a virtual clock's waits end when its lab stops

    def __init__(self, scale: float = 1.0):
        if not scale > 0:
            raise ValueError(f"clock scale must be > 0, got {scale!r}")
        self.scale = float(scale)
        self._t0 = time.monotonic()
        self.origin_unix_s = time.time()

    def now(self) -> float:
        return (time.monotonic() - self._t0) * self.scale

    def real_seconds(self, sim_s: float) -> float:
        return sim_s / self.scale

    def sim_seconds(self, real_s: float) -> float:
        return real_s * self.scale

    def sleep(self, sim_s: float, *, max_real_s: float = DEFAULT_MAX_REAL_S) -> None:
        """Sleep `sim_s` simulated seconds; ValueError if that would take longer than `max_real_s`."""
        real_s = self._bounded(sim_s, max_real_s)
        time.sleep(real_s)

    def pause(self, sim_s: float) -> None:
        """One slice of a guarded wait of `sim_s` more simulated seconds (the caller loops, guard between)."""
        time.sleep(max(0.0, min(SLICE_REAL_S, self.real_seconds(sim_s))))

    def actor(self) -> contextlib.AbstractContextManager:
        """The calling thread drives the lab while the block runs (it matters to a virtual clock only)."""
        return contextlib.nullcontext()

    def idle(self) -> contextlib.AbstractContextManager:
        """The calling actor waits on other threads (joins them) while the block runs (virtual clock only)."""
        return contextlib.nullcontext()

    def watch(self, server: tuple[str, int]) -> None:
        """`server` is one of the lab's simulated servers (it matters to a virtual clock only)."""

    def start_thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Start `target` in a daemon thread that drives the lab (a disturbance's sequence, a sweep)."""
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Release every waiter (the lab is stopping)."""

    def wait_until(
        self,
        predicate: Callable[[], bool],
        *,
        timeout_sim_s: float,
        poll_sim_s: float | None = None,
        max_real_s: float = DEFAULT_MAX_REAL_S,
        stop: threading.Event | None = None,
    ) -> bool:
        """Poll `predicate` until it is true or `timeout_sim_s` of simulated time passed; return it."""
        self._bounded(timeout_sim_s, max_real_s)
        deadline = self.now() + timeout_sim_s
        poll_real_s = max(self.real_seconds(poll_sim_s or timeout_sim_s / 100), 0.001)
        while not predicate():
            if self.now() >= deadline or (stop is not None and stop.is_set()):
                return predicate()
            time.sleep(poll_real_s)
        return True

    def _bounded(self, sim_s: float, max_real_s: float) -> float:
        real_s = self.real_seconds(sim_s)
        if sim_s < 0 or real_s > max_real_s:
            raise ValueError(
                f"waiting {sim_s:g} simulated s takes {real_s:g} real s at {self.scale:g}x (bound {max_real_s:g} s)"
            )
        return real_s


def _wait_in_steps(
    clock: SimClock,
    predicate: Callable[[], bool],
    *,
    timeout_sim_s: float,
    poll_sim_s: float | None = None,
    max_real_s: float = DEFAULT_MAX_REAL_S,
    stop: threading.Event | None = None,
) -> bool:
    """`wait_until` for a clock whose `sleep` moves simulated time itself (manual, virtual): no real time to
    bound, the predicate asked after every step of `poll_sim_s`."""
    deadline = clock.now() + timeout_sim_s
    step_s = poll_sim_s or timeout_sim_s / 100
    while not predicate():
        if clock.now() >= deadline or clock._stopped or (stop is not None and stop.is_set()):
            return predicate()
        clock.sleep(min(step_s, deadline - clock.now()))
    return True


class ManualClock(SimClock):
    """A clock that moves only when told (unit tests of physics): `advance(dt)`, `sleep` advances at once."""

    def __init__(self, start_s: float = 0.0):
        super().__init__(1.0)
        self._now = float(start_s)

    def now(self) -> float:
        return self._now

    def advance(self, dt_s: float) -> None:
        if dt_s < 0:
            raise ValueError("time does not run backwards")
        self._now += dt_s

    def sleep(self, sim_s: float, *, max_real_s: float = DEFAULT_MAX_REAL_S) -> None:
        self.advance(sim_s)

    wait_until = _wait_in_steps


class VirtualClock(SimClock):
    """Simulated time that moves only when every actor waits (see the module's docstring).

    One waiter at a time is woken, the earliest due first and, among those due at the same simulated time,
    the one that began to wait first: the lab runs one actor at a time, each until it waits again, so the order
    of what happens at one simulated instant (a sweep's new level, the rig's next reading) is the same on every
    run. A thread started by an actor (`start_thread`) waits for its turn before its first step."""

    virtual = True

    def __init__(self, start_s: float = 0.0):
        self.scale = VIRTUAL
        self.origin_unix_s = time.time()
        self._now = float(start_s)
        self._cond = threading.Condition()
        self._actors: dict[threading.Thread, int] = {}
        self._idle: dict[threading.Thread, int] = {}  # actors waiting on other threads
        self._holding: dict[threading.Thread, int] = {}  # actors that keep time still while they wait (hold)
        self._sleepers: dict[threading.Thread, tuple[float, int]] = {}  # thread -> (wake-up time, order)
        self._order = itertools.count()
        self._servers: set[wire.Address] = set()  # the lab's simulated servers: their wire is watched
        self._stopped = False
        self._on_wake: list[Callable[[], None]] = []
        wire.add_listener(self._poke)

    def now(self) -> float:
        return self._now

    def call_on_wake(self, callback: Callable[[], None]) -> None:
        """Call `callback()` in each thread the clock wakes, before it goes on (the world catches up with the
        time there, not later inside an instrument's reply)."""
        self._on_wake.append(callback)

    def real_seconds(self, sim_s: float) -> float:
        return sim_s / VIRTUAL_BOUND_SPEED

    def sim_seconds(self, real_s: float) -> float:
        return real_s * VIRTUAL_BOUND_SPEED

    def watch(self, server: tuple[str, int]) -> None:
        """`server` (an address) is one of this lab's simulated servers: time waits for what is on its wire."""
        with self._cond:
            self._servers.add((str(server[0]), int(server[1])))
        wire.on_clock(server, self.sleep)

    # -- actors -----------------------------------------------------------------------------------------------
    def actor(self) -> contextlib.AbstractContextManager:
        """The calling thread drives the lab: time waits for it unless it waits on the clock or a reply."""
        return self._registered(self._actors)

    def idle(self) -> contextlib.AbstractContextManager:
        """The calling actor waits on other threads (a sequence it stops, instruments put in their safe state
        in parallel): time may move on for them meanwhile."""
        return self._registered(self._idle)

    def hold(self) -> contextlib.AbstractContextManager:
        """The calling actor waits for a reply that may never come (a meter's interface polled while disturbed):
        time stands still meanwhile, so the real-time timeout of a silent device cannot let the rest of the lab
        run ahead by however much the host manages in that time. The caller then accounts for the exchange in
        simulated time itself."""
        return self._registered(self._holding)

    @contextlib.contextmanager
    def _registered(self, table: dict[threading.Thread, int]) -> Iterator[None]:
        """The calling thread counted in `table` (nested uses add up) until the block ends; waiters look again
        at each change."""
        me = threading.current_thread()
        with self._cond:
            table[me] = table.get(me, 0) + 1
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                table[me] -= 1
                if not table[me]:
                    del table[me]
                self._cond.notify_all()

    def start_thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Start `target` in an actor thread that takes its first step when its turn comes (now, after the
        caller waits): its steps never race the caller's."""
        thread = threading.Thread(target=self._in_turn, args=(target,), name=name, daemon=True)
        with self._cond:
            self._actors[thread] = 1
            self._sleepers[thread] = (self._now, next(self._order))
        thread.start()
        return thread

    def _in_turn(self, target: Callable[[], None]) -> None:
        try:
            with self._cond:
                self._wait_turn(threading.current_thread())
            target()
        finally:
            with self._cond:
                self._actors.pop(threading.current_thread(), None)
                self._cond.notify_all()

    # -- waiting ----------------------------------------------------------------------------------------------
    def sleep(self, sim_s: float, *, max_real_s: float = DEFAULT_MAX_REAL_S) -> None:
        """Wait until simulated time has moved `sim_s` on (at once in real time if the lab is otherwise quiet)."""
        if not sim_s >= 0 or math.isinf(sim_s):
            raise ValueError(f"cannot wait {sim_s!r} simulated s")
        me = threading.current_thread()
        with self._cond:
            if self._stopped or (sim_s == 0 and me in self._holding):  # a turn for one who holds time: it has it
                return
            self._sleepers[me] = (self._now + sim_s, next(self._order))
            self._wait_turn(me)
        for callback in self._on_wake:
            callback()

    def _wait_turn(self, me: threading.Thread) -> None:
        """Under the lock: until `me` is woken (no longer among the sleepers) or the clock stops."""
        waited_since, reported = time.monotonic(), False
        try:
            while me in self._sleepers and not self._stopped:
                if self._advance_if_quiet():
                    continue
                self._cond.wait(RECHECK_REAL_S)
                if not reported and time.monotonic() - waited_since > STALL_REPORT_REAL_S:
                    reported = True
                    log.warning("virtual clock at %.3f s: %s waits for %s", self._now, me.name,
                                "; ".join(self._busy()) or "nothing known")
        finally:
            self._sleepers.pop(me, None)

    def pause(self, sim_s: float) -> None:
        self.sleep(max(0.0, sim_s))

    wait_until = _wait_in_steps

    def stop(self) -> None:
        wire.remove_listener(self._poke)
        for server in list(self._servers):
            wire.on_clock(server, None)
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    # -- moving on --------------------------------------------------------------------------------------------
    def _poke(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _busy(self) -> list[str]:
        """What keeps time from moving (empty: everything waits on the clock or on a simulated instrument)."""
        sleeping = set(self._sleepers)
        for thread in [t for t in self._actors if t.ident is not None and not t.is_alive()]:
            del self._actors[thread]  # an actor that ended
        busy = [f"{t.name} running" for t in self._actors
                if t not in sleeping and t not in self._idle and not wire.waiting_for_reply(t)]
        busy += [f"{t.name} holding time for a reply" for t in self._holding]
        return busy + wire.busy(self._servers, sleeping)

    def _advance_if_quiet(self) -> bool:
        """Under the lock: if all is quiet, wake the next waiter (moving time on to its wake-up); True if done."""
        if not self._sleepers or self._busy():
            return False
        thread, (wake_s, _) = min(self._sleepers.items(), key=lambda item: item[1])
        self._now = max(self._now, wake_s)
        del self._sleepers[thread]
        self._cond.notify_all()
        return True
