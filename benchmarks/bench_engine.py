"""Engine benchmark (prints figures; not a test).

Rig-time efficiency of the R 49 intrinsic-error programme = simulated rig time the run used ÷ the procedure's
minimum (Σ test volume ÷ flowrate + the stabilisation times the procedure declares), and ÷ that minimum plus the
rig's own physics (the tank's settling before a weighing, the pump's ramp into the flow band: what no software
can save). On a scaled clock instrument I/O takes real time, which the clock multiplies by its scale, so the
figures are given at several scales; on virtual time (the default) it takes none. Wall and CPU time side by
side: a scaled clock waits, virtual time computes. Also the wall time of `make demo`'s run.

    .venv/bin/python -m benchmarks.bench_engine
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from meterlab.calibration.register import Register
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs
from meterlab.procedures.schema import Stabilise
from meterlab.rigs.base import SETTLE_S
from meterlab.records.store import Store
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]
SCENARIO = "examples/scenarios/demo-three-meters.yaml"
METERS = ["examples/meters/dn15-class2.yaml", "examples/meters/dn15-class2-sample2.yaml",
          "examples/meters/dn15-class2-sample3.yaml"]


@dataclass
class Efficiency:
    used_s: float  # rig time to the end of the last collection
    minimum_s: float  # the procedure's: test volume / flowrate + the declared stabilisation
    physics_s: float  # the rig's own physics on top (tank settling, the pump's ramp into the band)
    wall_s: float
    cpu_s: float
    between_s: float  # rig s from one collection's end to the next's start at one flow
    per_change_s: float  # rig s beyond the declared stabilisation per flow change


def efficiency(clock_scale: float) -> Efficiency:
    """One run of the programme at this clock scale, and where its rig time went."""
    inputs = load_inputs(REPO / "procedures/r49/intrinsic-error.yaml", [REPO / m for m in METERS],
                         REPO / "instruments/sim.yaml", REPO / SCENARIO)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(str(Path(tmp) / "bench.db"))
        register = Register.load(REPO / "calibration")
        run_id = create_run(store, inputs, operator="bench", register=register, clock_scale=clock_scale)
        start, cpu = time.monotonic(), time.process_time()
        execute(store, run_id, prompter=AutoPrompter(), register=register)
        wall_s, cpu_s = time.monotonic() - start, time.process_time() - cpu
        measurements = [e.payload for e in store.entries(run_id, kinds=["measurement"])]
        store.close()
    stabilise = [a for a in inputs.plan().actions if isinstance(a.step, Stabilise)]
    minimum_s = sum(m["reference_volume_l"] / (m["flowrate_m3h"] / 3.6) for m in measurements)
    minimum_s += sum(a.step.for_s for a in stabilise)
    used_s = measurements[-1]["sim_time_s"]["stop_s"]  # the simulated clock starts with the lab
    times = [m["sim_time_s"] for m in measurements]
    labels = [m["point"]["name"] for m in measurements]
    gaps = [b["start_s"] - a["stop_s"] for a, b, la, lb in zip(times, times[1:], labels, labels[1:]) if la == lb]
    between_s = sum(gaps) / len(gaps)  # after one collection, before the next at the same flow
    windows = len(set(labels))
    per_change_s = (used_s - minimum_s - (len(measurements) - 1) * between_s) / windows  # each but the last has a tail
    return Efficiency(used_s, minimum_s, physics_floor_s(stabilise, len(measurements), windows), wall_s, cpu_s,
                      between_s, per_change_s)


def physics_floor_s(stabilise: list, weighings: int, windows: int) -> float:
    """What the scenario's rig needs whatever its software does: the tank settling before each weighing but a
    window's last (the pump heads for the next window's flow meanwhile; the run's last comes after the last
    collection's end) and, at each flow change, the pump's first-order ramp from the last flow until within the
    stabilise step's band (as the rig sets it: the nominal flowrate)."""
    rig = load_scenario(REPO / SCENARIO).water_rig
    floor_s, before_m3h = (weighings - windows) * rig.scale_settle_time_s, 0.0
    for action in stabilise:
        target_m3h, band_m3h = action.point.nominal_m3h, action.point.nominal_m3h * action.step.flow_within_pct / 100
        if abs(target_m3h - before_m3h) > band_m3h:
            floor_s += rig.pump_time_constant_s * math.log(abs(target_m3h - before_m3h) / band_m3h)
        before_m3h = target_m3h
    return floor_s


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
    print(f"{'clock':>9} {'rig time used':>14} {'procedure min':>14} {'efficiency':>11} {'+ rig physics':>14} "
          f"{'efficiency':>11} {'wall time':>10} {'CPU time':>9} {'between collections':>20} {'per flow change':>16}")
    for scale in (100.0, 500.0, 2000.0, VIRTUAL):
        e = efficiency(scale)
        label = "virtual" if scale == VIRTUAL else f"{scale:.0f}x"
        floor_s = e.minimum_s + e.physics_s
        print(f"{label:>9} {e.used_s:>12.1f} s {e.minimum_s:>12.1f} s {e.used_s / e.minimum_s:>11.3f} "
              f"{floor_s:>12.1f} s {e.used_s / floor_s:>11.3f} {e.wall_s:>8.1f} s {e.cpu_s:>7.1f} s "
              f"{e.between_s:>18.2f} s {e.per_change_s:>14.2f} s")
    print("procedure min = test volume / flowrate + the declared stabilisation (the first efficiency); + rig physics =")
    print("what the scenario's rig needs on top whatever its software does (the second efficiency: what the software")
    print("and, on a scaled clock, the instruments' real reply times multiplied by the scale cost): the tank settling")
    print("before each weighing (scenario scale_settle_time_s) and the pump's first-order ramp into the flow band at")
    print("each flow change (the hold starts once the flow is in its band; a flow still outside it after rigs/base.py")
    print(f"SETTLE_S, {SETTLE_S:g} s, has its pump speed trimmed)")
    print(f"wall time of the demo run (`meterlab run`, virtual time, incl. start-up): {demo_wall_time():.1f} s")


if __name__ == "__main__":
    main()
