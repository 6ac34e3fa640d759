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
