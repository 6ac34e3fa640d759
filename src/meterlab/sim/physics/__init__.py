"""Physics components, one module per subsystem. `build_world` runs every subsystem's `build`.

A subsystem module defines its Component(s) and `build(world, scenario)`; add the builder to BUILDERS
(order matters: a component that reads another's step results, like the meters reading the rig's volume,
comes after it)."""

from __future__ import annotations

from collections.abc import Callable

from meterlab.sim.clock import SimClock
from meterlab.sim.physics import chamber, meters, water_conditioning, water_rig
from meterlab.sim.physics import rf as rf_chain
from meterlab.sim.physics import emc as emc_coupling
from meterlab.sim.physics import gas_rig, gas_supply, master_meter, motion, safety
from meterlab.sim.scenario import Scenario
from meterlab.sim.world import World

BUILDERS: tuple[Callable[[World, Scenario], None], ...] = (
    water_rig.build,
    meters.build,
    master_meter.build,  # after the water rig, whose step volume it integrates
    water_conditioning.build,  # after the water rig, whose temperature and pressure it conditions
    gas_rig.build,  # the gas rig, its meters under test (gas_meters) and its master meter
    emc_coupling.build,  # couples EMC generators to the meters above (no step of its own)
    rf_chain.build,
    chamber.build,
    gas_supply.build,  # after the gas rig, whose ambient pressure it is above
    motion.build,  # the shaker and the shock machine, and the acceleration at the meter
    safety.build,  # last: the gas meters' safety functions read the rig's flow, the supply and the motion
)


def build_world(scenario: Scenario, clock: SimClock) -> World:
    world = World(clock, seed=scenario.seed)
    for build in BUILDERS:
        build(world, scenario)
    return world
