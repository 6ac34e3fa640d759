"""The vibration and mechanical shock tests of R 137-2 / R 49-2 as disturbances: the shaker controller and the
shock tester behind the generator protocol the rig's disturbance sequence uses (rigs/base.py `_run_sequence`:
runs, configure, arm, start, wait_complete, stop, disarm), so a programme applies them with `apply_disturbance`
(kinds `vibration` and `mechanical_shock`) between two measurements, its levels from the severity profile.

- vibration: one random vibration per axis, `asd_profile` for `duration_per_axis_s`; the profile's RMS must be the
  level's `rms_m_s2` (within RMS_AGREEMENT) so a mistyped breakpoint is refused before the table moves. The table is
  aborted whatever happens (its safe state).
- mechanical_shock: `count` half-sine impulses per axis of `peak_m_s2` / `pulse_duration_ms`, `interval_s` apart;
  the tester's measured peak of each is fetched (the impact happened), the pendulum lowered at the end."""

from __future__ import annotations

import time
from typing import Any, Callable

from meterlab.errors import RigError
from meterlab.instruments.vibration import asd_rms_m_s2

# How far the ASD profile's RMS may lie from the level's stated RMS: D 11 states the RMS to two figures (1.6, 7),
# the breakpoints give 1.59 and 7.09 m/s².
RMS_AGREEMENT = 0.05
REAL_POLL_S = 0.5  # a real clock's wait between two polls of the table's state
FETCH_TIMEOUT_S = 60.0  # real seconds for the tester's measured pulse (the swing takes seconds)


class VibrationSequence:
    """The shaker controller as a disturbance generator: one random vibration per axis."""

    def __init__(self, shaker: Any, clock: Any):
        self.shaker, self.clock = shaker, clock

    @property
    def running(self) -> bool:
        return self.shaker.state == "RUNNING"

    def runs(self, kind: str, params: dict) -> list[dict]:
        if kind != "vibration":
            raise RigError(f"the shaker applies vibration, not {kind}")
        missing = [k for k in ("asd_profile", "axes", "duration_per_axis_s") if k not in params]
        if missing:
            raise RigError(f"a vibration needs {', '.join(missing)} (the severity profile's vibration_random)")
        profile = [tuple(point) for point in params["asd_profile"]]
        rms, stated = asd_rms_m_s2(profile), params.get("rms_m_s2")
        if stated is not None and abs(rms - stated) > RMS_AGREEMENT * stated:
            raise RigError(f"the ASD profile's RMS is {rms:.3g} m/s², not the level's {stated:g} m/s²: check the "
                           "breakpoints")
        return [{"axis": axis, "asd_profile": profile, "duration_s": params["duration_per_axis_s"]}
                for axis in params["axes"]]

    def configure(self, *, axis: str, asd_profile: list, duration_s: float) -> None:
        self.shaker.configure_random(axis=axis, asd_profile=asd_profile, duration_s=duration_s)

    def arm(self) -> None:
        """Nothing to arm: the controller starts from its configuration."""

    def start(self) -> None:
        self.shaker.start()

    def wait_complete(self, timeout_s: float, *, guard: Callable[[], None] | None = None,
                      between_polls: Callable[[], None] | None = None) -> None:
        deadline = time.monotonic() + timeout_s
        while (state := self.shaker.state) == "RUNNING":
            if guard is not None:
                guard()
            if time.monotonic() > deadline:
                raise RigError(f"the vibration did not end within {timeout_s:g} s (real)")
            between_polls() if between_polls is not None else time.sleep(REAL_POLL_S)
        if state != "DONE":
            raise RigError(f"the vibration ended {state}, not DONE: the table stopped before its time")

    def stop(self) -> None:
        self.shaker.abort()

    def disarm(self) -> None:
        """Nothing armed."""


class ShockSequence:
    """The shock tester as a disturbance generator: `count` impulses per axis, `interval_s` apart."""

    def __init__(self, tester: Any, clock: Any):
        self.tester, self.clock = tester, clock
        self.interval_s = 0.0
        self.measured: list[float] = []

    @property
    def running(self) -> bool:
        return self.tester.state in ("ARMED", "FIRING")

    def runs(self, kind: str, params: dict) -> list[dict]:
        if kind != "mechanical_shock":
            raise RigError(f"the shock tester applies mechanical_shock, not {kind}")
        missing = [k for k in ("peak_m_s2", "pulse_duration_ms", "axes") if k not in params]
        if missing:
            raise RigError(f"a mechanical shock needs {', '.join(missing)} (the severity profile's mechanical_shock)")
        self.interval_s = float(params.get("interval_s", 0.0))
        return [{"axis": axis, "peak_m_s2": params["peak_m_s2"], "duration_ms": params["pulse_duration_ms"]}
                for axis in params["axes"] for _ in range(int(params.get("count", 1)))]

    def configure(self, *, axis: str, peak_m_s2: float, duration_ms: float) -> None:
        self.tester.configure(axis=axis, peak_m_s2=peak_m_s2, duration_ms=duration_ms)

    def arm(self) -> None:
        self.tester.arm()

    def start(self) -> None:
        self.tester.fire()

    def wait_complete(self, timeout_s: float, *, guard: Callable[[], None] | None = None,
                      between_polls: Callable[[], None] | None = None) -> None:
        """The impact (the tester's measured pulse), then the interval before the next."""
        self.measured.append(self.tester.measured_peak_m_s2(timeout_s=min(timeout_s, FETCH_TIMEOUT_S)))
        if guard is not None:
            guard()
        if self.interval_s > 0:
            self.clock.pause(self.interval_s)

    def stop(self) -> None:
        """Nothing runs after an impact."""

    def disarm(self) -> None:
        self.tester.safe_state()
