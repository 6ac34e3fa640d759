"""Engine benchmark (prints figures; not a test).

Rig-time efficiency of the R 49 intrinsic-error programme = simulated rig time the run used ÷ its physical
minimum (Σ test volume ÷ flowrate + the stabilisation times the procedure declares). On a scaled clock
instrument I/O takes real time, which the clock multiplies by its scale, so the figure is given at several
scales; on virtual time (the default) it takes none and the figure is the procedure's own. Wall and CPU time
side by side: a scaled clock waits, virtual time computes. Also the wall time of `make demo`'s run.

    .venv/bin/python -m benchmarks.bench_engine
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from meterlab.calibration.register import Register
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs
from meterlab.procedures.schema import Stabilise
from meterlab.rigs.base import SETTLE_S
from meterlab.records.store import Store
from meterlab.sim.clock import VIRTUAL

REPO = Path(__file__).resolve().parents[1]
METERS = ["examples/meters/dn15-class2.yaml", "examples/meters/dn15-class2-sample2.yaml",
          "examples/meters/dn15-class2-sample3.yaml"]


def efficiency(clock_scale: float) -> tuple[float, float, float, float, float, float, float]:
    """(used rig s, physical minimum s, ratio, wall s, CPU s, rig s between two collections at one flow, rig s
    beyond the stabilisation per flow change) of one run at this clock scale."""
    inputs = load_inputs(REPO / "procedures/r49/intrinsic-error.yaml", [REPO / m for m in METERS],
                         REPO / "instruments/sim.yaml", REPO / "examples/scenarios/demo-three-meters.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(str(Path(tmp) / "bench.db"))
        register = Register.load(REPO / "calibration")
        run_id = create_run(store, inputs, operator="bench", register=register, clock_scale=clock_scale)
        start, cpu = time.monotonic(), time.process_time()
        execute(store, run_id, prompter=AutoPrompter(), register=register)
        wall_s, cpu_s = time.monotonic() - start, time.process_time() - cpu
        measurements = [e.payload for e in store.entries(run_id, kinds=["measurement"])]
        store.close()
    minimum_s = sum(m["reference_volume_l"] / (m["flowrate_m3h"] / 3.6) for m in measurements)
    minimum_s += sum(a.step.for_s for a in inputs.plan().actions if isinstance(a.step, Stabilise))
    used_s = measurements[-1]["sim_time_s"]["stop_s"]  # the simulated clock starts with the lab
    times = [m["sim_time_s"] for m in measurements]
    labels = [m["point"]["name"] for m in measurements]
    gaps = [b["start_s"] - a["stop_s"] for a, b, la, lb in zip(times, times[1:], labels, labels[1:]) if la == lb]
    between_s = sum(gaps) / len(gaps)  # after one collection, before the next at the same flow
    windows = len(set(labels))
    per_change_s = (used_s - minimum_s - (len(measurements) - 1) * between_s) / windows  # each but the last has a tail
    return used_s, minimum_s, used_s / minimum_s, wall_s, cpu_s, between_s, per_change_s



def demo_wall_time() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        subprocess.run([sys.executable, "-m", "meterlab", "run", "procedures/r49/intrinsic-error.yaml",
                        *[a for m in METERS for a in ("--meter", m)], "--scenario",
                        "examples/scenarios/demo-three-meters.yaml", "--db", f"{tmp}/demo.db", "--yes"],
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        return time.monotonic() - start


def main() -> None:
    print("R 49 intrinsic error, 3 meters in series, 6 windows x 3 repeats")
    print(f"{'clock':>12} {'rig time used':>15} {'physical min':>13} {'efficiency':>11} {'wall time':>10} "
          f"{'CPU time':>9} {'between collections':>20} {'per flow change':>16}")
    for scale in (100.0, 500.0, 2000.0, VIRTUAL):
        used, minimum, ratio, wall, cpu, between, per_change = efficiency(scale)
        label = "virtual" if scale == VIRTUAL else f"{scale:.0f}x"
        print(f"{label:>12} {used / 3600:>13.2f} h {minimum / 3600:>11.2f} h {ratio:>11.3f} {wall:>8.1f} s "
              f"{cpu:>7.1f} s {between:>18.2f} s {per_change:>14.2f} s")
    print("physical minimum = test volume / flowrate + the declared stabilisation; beyond it, on virtual time, the")
    print("rig's own physics: the tank settling before each weighing (scenario scale_settle_time_s, 2 s) and the")
    print(f"pump settling after each flow change before the flow is judged (rigs/base.py SETTLE_S, {SETTLE_S:g} s); "
          f"on a scaled")
    print("clock, the instruments' real reply times multiplied by the scale come on top")
    print(f"wall time of the demo run (`meterlab run`, virtual time, incl. start-up): {demo_wall_time():.1f} s")


if __name__ == "__main__":
    main()
