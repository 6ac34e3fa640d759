"""Helpers for tests that run a simulated lab (bounded waits only)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from meterlab.instruments.bench import Bench, load_bench
from meterlab.sim.lab import SimLab
from meterlab.sim.scenario import Scenario, load_scenario


@contextlib.contextmanager
def running_lab(bench: Bench | str | Path, scenario: Scenario | str | Path | None = None, *,
                clock_scale: float = 1000.0) -> Iterator[SimLab]:
    """A started SimLab, stopped on exit."""
    bench_model = bench if isinstance(bench, Bench) else load_bench(bench)
    scenario_model = scenario if isinstance(scenario, Scenario) or scenario is None else load_scenario(scenario)
    lab = SimLab(bench_model, scenario_model, clock_scale=clock_scale).start()
    try:
        yield lab
    finally:
        lab.stop()


def wait_for(predicate: Callable[[], bool], *, timeout_real_s: float = 5.0, poll_real_s: float = 0.002) -> bool:
    """Poll until `predicate()` is true or the real-time bound passes; return the last result."""
    deadline = time.monotonic() + timeout_real_s
    while not predicate():
        if time.monotonic() > deadline:
            return predicate()
        time.sleep(poll_real_s)
    return True


# -- injected communication faults -------------------------------------------------------------------------
FAULT_TIMEOUT_S = 0.4  # a driver's timeout in fault tests
FAULT_SLACK_S = 0.6  # scheduling slack on a busy 2-core machine


def open_with_timeout(lab: SimLab, name: str, timeout_s: float = FAULT_TIMEOUT_S, iolog=None):
    """A fresh driver for the lab's instrument `name` with a short timeout (close it, or use `with`)."""
    from meterlab.instruments.bench import open_instrument
    from meterlab.instruments.iolog import MemoryIOLog

    entry = lab.bench.instruments[name].model_copy(update={"timeout_s": timeout_s})
    return open_instrument(name, entry, iolog if iolog is not None else MemoryIOLog(), lab.resources[name])


def inject_fault(lab: SimLab, instrument: str, kind: str, message: str | None = None) -> None:
    """Make `instrument` misbehave (`no_answer`, `garbage`, `drop_connection`, `error`) from now on."""
    from meterlab.sim.scenario import FaultSpec

    lab.inject(FaultSpec(kind=kind, instrument=instrument, at_s=lab.clock.now(), message=message))


def raised_within(call: Callable[[], object]):
    """(the InstrumentFailure `call()` raised, real seconds it took); AssertionError if it raised nothing."""
    from meterlab.instruments.errors import InstrumentFailure

    start = time.monotonic()
    try:
        call()
    except InstrumentFailure as exc:
        return exc, time.monotonic() - start
    raise AssertionError("no exception")
