"""Simulated EMC generators speaking meterlab's generic TRA3000-style command set (see
`meterlab.instruments.emc` for the command list and the error codes; the simulators read it from the same
table data).

Modules: `base` (the shared protocol and state machine), one per family: `surge`, `burst`, `esd`, `dips`,
`magnetic`.

State machine of every generator: STBY (high voltage off) -ARM-> ARMED -START-> RUN -(count done,
duration elapsed: test complete | STOP)-> ARMED -DISARM-> STBY. The interlock (physics component `emc`,
fault `interlock_open`) refuses ARM and, when it opens, drops a generator to STBY with error 128.

While a generator runs, its disturbance is coupled to the meters its wiring names (`out`, `out1`, ...)
through `EmcCoupling.couple` -> the meters' `disturb(kind, active, params)`; every end of a test (its own
end on the simulated clock, STOP, DISARM, the interlock) uncouples it. Events (surges, discharges, dip
events, the end of a burst) are world events at their exact simulated times."""


from meterlab.sim.devices.emc.base import (
    ACTIONS,
    ARMED,
    BAD_ARGUMENT,
    INTERLOCK_OPEN,
    NO_ERROR,
    NO_QUERY,
    NOT_ARMED,
    NOT_REMOTE,
    NOT_STANDBY,
    OTHER,
    OUTPUT_TERMINAL,
    RUNNING,
    STANDBY,
    UNKNOWN,
    GeneratorFault,
    GeneratorParams,
    Setting,
    SimEmcGenerator,
    choice,
    number,
)
from meterlab.sim.devices.emc.burst import BurstParams, SimBurstGenerator
from meterlab.sim.devices.emc.dips import DipsParams, SimDipsGenerator
from meterlab.sim.devices.emc.esd import EsdParams, SimEsdSimulator
from meterlab.sim.devices.emc.magnetic import MagneticParams, SimMagneticFieldSource
from meterlab.sim.devices.emc.surge import SimSurgeGenerator, SurgeParams

__all__ = [
    "ACTIONS", "ARMED", "BAD_ARGUMENT", "INTERLOCK_OPEN", "NO_ERROR", "NO_QUERY", "NOT_ARMED", "NOT_REMOTE",
    "NOT_STANDBY", "OTHER", "OUTPUT_TERMINAL", "RUNNING", "STANDBY", "UNKNOWN", "BurstParams", "DipsParams",
    "EsdParams", "GeneratorFault", "GeneratorParams", "MagneticParams", "Setting", "SimBurstGenerator",
    "SimDipsGenerator", "SimEmcGenerator", "SimEsdSimulator", "SimMagneticFieldSource", "SimSurgeGenerator",
    "SurgeParams", "choice", "number",
]
