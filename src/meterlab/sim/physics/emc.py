"""EMC coupling: which disturbance generator is coupled to which meter under test, and the interlocks.

A simulated generator (`sim/devices/emc/`) couples its disturbance to the meters its bench wiring names
(`wiring: {out: meter1.mains}`, or `{out1: meter1.mains, out2: meter2.mains}`: the part after the meter is
the port it is injected into and is only recorded) while it runs, and uncouples it when it stops.
This component turns that into the meters' `disturb(kind, active, params)` calls, counting holders: two
generators of the same kind on one meter (seldom, but possible) end the disturbance only when both stopped.

Interlocks: every generator registers here; the physical fault `interlock_open` (scenario or
`lab.inject(FaultSpec(kind="interlock_open", instrument="surge", at_s=..., duration_s=...))`, no
`instrument` = every generator) opens the test-area interlock of a generator for `duration_s` (default: to
the end). The generator drops its high voltage and reports the interlock error.

No scenario section: the meters' susceptibilities are in `meters[].susceptibility`, the generators'
characteristics in `devices.<name>`."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from meterlab.sim.scenario import FaultSpec, Scenario
from meterlab.sim.world import Component, World

log = logging.getLogger(__name__)
INTERLOCK_FAULT = "interlock_open"

MeterKey = tuple[str, int]  # (meter line component name, position)


class EmcCoupling(Component):
    name = "emc"

    def __init__(self) -> None:
        self.interlock_open: dict[str, bool] = {}  # generator name -> interlock open
        self._listeners: dict[str, Callable[[bool], None]] = {}
        self._holders: dict[tuple[MeterKey, str], set[str]] = defaultdict(set)  # (meter, kind) -> generators
        self._warned: set[str] = set()

    def attach(self, world: World) -> None:
        super().attach(world)
        world.on_fault(INTERLOCK_FAULT, self._interlock_fault)

    # -- generators ---------------------------------------------------------------------------------------
    def register(self, generator: str, on_interlock: Callable[[bool], None]) -> None:
        """A generator announces itself; `on_interlock(open)` is called (under the world lock) on changes."""
        self.interlock_open.setdefault(generator, False)
        self._listeners[generator] = on_interlock

    def set_interlock(self, generator: str, open_: bool) -> None:
        """Open or close the interlock of `generator` (call under the world lock)."""
        if self.interlock_open.get(generator) == open_:
            return
        self.interlock_open[generator] = open_
        listener = self._listeners.get(generator)
        if listener is not None:
            listener(open_)

    def _interlock_fault(self, spec: FaultSpec) -> None:
        generators = [spec.instrument] if spec.instrument else list(self._listeners)
        for generator in generators:
            if generator not in self._listeners:
                log.warning("interlock_open fault for %r, which is not a simulated EMC generator", generator)
                continue
            self.set_interlock(generator, True)
            if spec.duration_s is not None:
                self.world.schedule(self.world.t_s + spec.duration_s,
                                    lambda g=generator: self.set_interlock(g, False))

    # -- coupling -----------------------------------------------------------------------------------------
    def couple(self, generator: str, kind: str, targets: Iterable[str], active: bool,
               params: dict[str, Any] | None = None) -> list[MeterKey]:
        """Start (`active`) or end the disturbance `kind` of `generator` on the meters named by `targets`
        (wiring signals such as `meter1.mains`). Call under the world lock. Returns the meters reached;
        a target naming no meter of this world is skipped with a warning (a scenario without meters)."""
        reached = []
        for target in targets:
            meter = self._resolve(target)
            if meter is None:
                continue
            holders = self._holders[(meter, kind)]
            was_held = bool(holders)
            if active:
                holders.add(generator)
            else:
                holders.discard(generator)
            if bool(holders) != was_held:
                self.world.component(meter[0]).disturb(meter[1], kind, bool(holders), params)
            reached.append(meter)
        return reached

    def active(self, meter: MeterKey) -> dict[str, set[str]]:
        """Disturbance kinds applied to `meter` now, with the generators applying them."""
        return {kind: set(holders) for (key, kind), holders in self._holders.items() if key == meter and holders}

    def _resolve(self, target: str) -> MeterKey | None:
        """`meter1.mains` -> ("meters", 1): a meter line whose signal prefix and position match."""
        for component in self.world.components.values():
            prefix = getattr(component, "prefix", None)
            if prefix is None or not hasattr(component, "disturb"):
                continue
            match = re.fullmatch(rf"{re.escape(prefix)}(\d+)(?:\..+)?", target)
            if match and any(m.position == int(match.group(1)) for m in getattr(component, "meters", ())):
                return component.name, int(match.group(1))
        if target not in self._warned:
            self._warned.add(target)
            log.warning("EMC coupling: %r names no meter of this simulated lab; nothing is disturbed there", target)
        return None


def build(world: World, scenario: Scenario) -> None:
    world.add(EmcCoupling())
