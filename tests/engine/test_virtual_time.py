"""Runs on virtual time (issue 11): the same seed gives the same record, every measured value and flowrate,
whatever the host's load; a disturbance's thread (EMC sequence, RF sweep) takes its steps in a fixed order
with the rig's; and the verdicts are the ones the truth calls for (a susceptible meter fails)."""

import subprocess
import threading
import sys
from contextlib import contextmanager

from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import DEFAULT_CLOCK_SCALE, execute
from meterlab.reports.results import run_result
from meterlab.sim.clock import VIRTUAL

from .test_end_to_end import start


@contextmanager
def busy_host(processes: int = 3):
    """More processes spinning than the host has cores (CI has 2): the host's timing changes."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def _record(tmp_path, procedure: str, scenario: str) -> tuple[list[dict], list[dict]]:
    store, register, run_id = start(tmp_path, procedure, ["examples/meters/dn15-class2.yaml"], scenario,
                                    clock_scale=VIRTUAL)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    measurements = [e.payload for e in store.entries(run_id, kinds=["measurement"])]
    return measurements, [p for t in run_result(store, run_id)["tests"] for p in t["points"]]


def test_runs_are_on_virtual_time_by_default():
    assert DEFAULT_CLOCK_SCALE == VIRTUAL


def test_the_same_seed_gives_the_same_record_on_an_idle_and_on_a_busy_host(tmp_path):
    quiet, points = _record(tmp_path / "quiet", "procedures/r49/intrinsic-error.yaml", "instruments/scenarios/sim.yaml")
    with busy_host():
        busy, _ = _record(tmp_path / "busy", "procedures/r49/intrinsic-error.yaml", "instruments/scenarios/sim.yaml")
    assert len(quiet) == 18 and busy == quiet  # every stored value: readings, times, flowrates, budgets
    inside = [m["point"]["low_m3h"] <= m["flowrate_m3h"] <= m["point"]["high_m3h"] for m in quiet]
    assert all(inside) and all(p["verdict"] == "pass" for p in points)


def test_a_burst_sequence_in_its_own_thread_gives_the_same_record_and_fails_a_susceptible_meter(tmp_path):
    first, points = _record(tmp_path / "1", "procedures/r49/burst-mains.yaml", "examples/scenarios/burst-susceptible.yaml")
    with busy_host():
        again, _ = _record(tmp_path / "2", "procedures/r49/burst-mains.yaml",
                           "examples/scenarios/burst-susceptible.yaml")
    assert again == first
    disturbed = [m for m in first if (m.get("disturbance") or m["conditions"].get("disturbance"))]
    cover = disturbed[0]["conditions"]["disturbance"]
    assert cover["kind"] == "burst" and cover["disturbed_fraction"] >= 0.9, cover
    assert [p["verdict"] for p in points] == ["pass", "fail"], points  # +2.6 % shift under the burst


def test_an_rf_sweep_in_its_own_thread_gives_the_same_record(tmp_path):
    first, points = _record(tmp_path / "1", "procedures/r49/radiated-rf.yaml", "examples/scenarios/rf-susceptible.yaml")
    again, _ = _record(tmp_path / "2", "procedures/r49/radiated-rf.yaml", "examples/scenarios/rf-susceptible.yaml")
    assert again == first
    assert [p["verdict"] for p in points] == ["pass", "fail"], points


def test_two_labs_in_one_process_neither_wait_on_each_other_nor_change_each_others_records(tmp_path):
    """Two benches in one console: each lab's clock watches its own servers' wire only (a counter's gate or a
    balance's settling on one never holds the other's time), and each record is the one it has alone."""
    alone, _ = _record(tmp_path / "alone", "procedures/r49/burst-mains.yaml", "examples/scenarios/burst-susceptible.yaml")
    results: dict[str, list[dict]] = {}

    def run(name: str) -> None:
        results[name] = _record(tmp_path / name, "procedures/r49/burst-mains.yaml",
                                "examples/scenarios/burst-susceptible.yaml")[0]

    threads = [threading.Thread(target=run, args=(name,)) for name in ("bench-1", "bench-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert results == {"bench-1": alone, "bench-2": alone}
