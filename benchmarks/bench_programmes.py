"""Every shipped programme on virtual time (prints figures; not a test).

Each programme of procedures/r49 and procedures/r137, durability included, runs once on the simulated bench of
its kind with the bench's default truth and the example meter (as `tests/engine/test_every_programme.py` does),
in this process, one after the other. Printed per programme and per standard: rig time simulated, wall time and
CPU time. On virtual time the lab never waits on a clock: wall time is CPU time plus what the two cores cannot
overlap, and the ratio of the two says how much is left of waiting.

    .venv/bin/python -m benchmarks.bench_programmes [--standard r49|r137] [--skip-durability]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from meterlab.calibration.register import Register
from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs
from meterlab.instruments.bench import SIMULATED_BENCH, SIMULATED_GAS_BENCH
from meterlab.procedures.schema import load_procedure
from meterlab.records.store import Store
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.scenario import default_scenario

REPO = Path(__file__).resolve().parents[1]
BENCHES = {"water": REPO / SIMULATED_BENCH, "gas": REPO / SIMULATED_GAS_BENCH}
EXAMPLE_METER = {"water": REPO / "examples/meters/dn15-class2.yaml", "gas": REPO / "examples/meters/g4-diaphragm.yaml"}
FOR_CLASS = {"T50": REPO / "examples/meters/dn25-class1.yaml"}  # programmes written for another temperature class
# programmes for meters designed to measure reverse flow (bidirectional) refuse the one-direction examples
FOR_REVERSE_FLOW = {"water": REPO / "examples/meters/dn15-class2-bidirectional.yaml",
                    "gas": REPO / "examples/meters/g4-bidirectional.yaml"}


def run_programme(path: Path) -> tuple[float, float, float]:
    """(rig time s to the last measurement, wall s, CPU s) of one run of the programme."""
    procedure = load_procedure(path)
    classes = procedure.temperature_classes or []
    meter = next((FOR_CLASS[c] for c in classes if c in FOR_CLASS), EXAMPLE_METER[procedure.meter_kind])
    if procedure.for_reverse_flow == "designed":
        meter = FOR_REVERSE_FLOW[procedure.meter_kind]
    bench = BENCHES[procedure.meter_kind]
    inputs = load_inputs(path, [meter], bench, default_scenario(bench))
    register = Register.load(REPO / "calibration")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(str(Path(tmp) / "bench.db"))
        run_id = create_run(store, inputs, operator="bench", register=register, clock_scale=VIRTUAL)
        start, cpu = time.monotonic(), time.process_time()
        state = execute(store, run_id, prompter=AutoPrompter(), register=register)
        wall_s, cpu_s = time.monotonic() - start, time.process_time() - cpu
        stops = [e.payload["sim_time_s"]["stop_s"] for e in store.entries(run_id, kinds=["measurement"])
                 if "sim_time_s" in e.payload]
        store.close()
    if state is not RunState.COMPLETED:
        raise SystemExit(f"{path.relative_to(REPO)} ended {state.value}")
    return max(stops, default=0.0), wall_s, cpu_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--standard", choices=["r49", "r137"], help="one standard's programmes only")
    parser.add_argument("--skip-durability", action="store_true", help="leave the durability programmes out")
    args, _ = parser.parse_known_args()
    print("Every shipped programme once, virtual time, one meter, the bench's default truth (this process)")
    print(f"   {'programme':42} {'rig time':>10} {'wall':>8} {'CPU':>8} {'wall/CPU':>9}")
    for standard in [args.standard] if args.standard else ["r49", "r137"]:
        total_rig = total_wall = total_cpu = 0.0
        for path in sorted((REPO / "procedures" / standard).glob("*.yaml")):
            if args.skip_durability and path.stem.startswith("durability"):
                continue
            rig_s, wall_s, cpu_s = run_programme(path)
            total_rig, total_wall, total_cpu = total_rig + rig_s, total_wall + wall_s, total_cpu + cpu_s
            print(f"   {standard + '/' + path.stem:42} {rig_s / 3600:8.1f} h {wall_s:6.1f} s {cpu_s:6.1f} s "
                  f"{wall_s / cpu_s:9.2f}", flush=True)
        print(f"   {standard.upper() + ' in all':42} {total_rig / 3600:8.1f} h {total_wall:6.1f} s {total_cpu:6.1f} s "
              f"{total_wall / total_cpu:9.2f}   ({total_wall / 60:.1f} min of wall time)", flush=True)


if __name__ == "__main__":
    main()
