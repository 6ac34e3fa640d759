"""Simulated time: `now()` runs `scale` times faster than real time from an origin.

Every wait on simulated time is bounded in real time: a test at 1000x that asks for a simulated day by
mistake fails at once instead of sleeping for a real minute and a half."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DEFAULT_MAX_REAL_S = 30.0


class SimClock:
    """Simulated seconds since the lab started; `origin_unix_s` is the wall time of simulated t = 0."""

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

    def sleep(self, sim_s: float, *, max_real_s: float = DEFAULT_MAX_REAL_S) -> None:
        """Sleep `sim_s` simulated seconds; ValueError if that would take longer than `max_real_s`."""
        real_s = self._bounded(sim_s, max_real_s)
        time.sleep(real_s)

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

    def wait_until(
        self,
        predicate: Callable[[], bool],
        *,
        timeout_sim_s: float,
        poll_sim_s: float | None = None,
        max_real_s: float = DEFAULT_MAX_REAL_S,
        stop: threading.Event | None = None,
    ) -> bool:
        deadline = self._now + timeout_sim_s
        step_s = poll_sim_s or timeout_sim_s / 100
        while not predicate() and self._now < deadline:
            self.advance(min(step_s, deadline - self._now))
        return predicate()
