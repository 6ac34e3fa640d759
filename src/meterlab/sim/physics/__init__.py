"""Physics components, one module per subsystem. `build_world` runs every subsystem's `build`.

A subsystem module defines its Component(s) and `build(world, scenario)`; add the builder to BUILDERS
(order matters: a component that reads another's step results, like the meters reading the rig's volume,
comes after it)."""

from __future__ import annotations

from collections.abc import Callable

from meterlab.sim.clock import SimClock
from meterlab.sim.physics import meters, water_rig
from meterlab.sim.scenario import Scenario
from meterlab.sim.world import World

BUILDERS: tuple[Callable[[World, Scenario], None], ...] = (
    water_rig.build,
    meters.build,
)


def build_world(scenario: Scenario, clock: SimClock) -> World:
    world = World(clock, seed=scenario.seed)
    for build in BUILDERS:
        build(world, scenario)
    return world
