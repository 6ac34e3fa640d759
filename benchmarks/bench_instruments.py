"""Benchmark the instrument layer and the simulated lab (figures, not asserts).

    .venv/bin/python -m benchmarks.bench_instruments [--seconds 2]

1. Queries per second to the simulated counter, served by `meterlab lab serve` in its own process:
   through the driver (pyvisa-py transport, I/O log, parsing) against a raw socket (bytes only).
2. The clock scale the simulated lab sustains while every instrument of the default bench is queried
   continuously: the physics never lags the clock by more than LAG_LIMIT_REAL_S, no query fails, and
   the instruments answer at least MIN_SERVICE_SHARE as fast as at the lowest scale.

The machine's scheduling moves the first figures a lot (two processes ping-ponging on a 2-core VM):
run it a few times before concluding anything."""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from meterlab.instruments.bench import load_bench
from meterlab.instruments.errors import InstrumentFailure
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.sim.lab import SimLab
from meterlab.sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "instruments" / "sim.yaml"
SCENARIO = ROOT / "instruments" / "scenarios" / "sim.yaml"
LAG_LIMIT_REAL_S = 0.05  # 5 ticks of the world's 10 ms ticker
MIN_SERVICE_SHARE = 0.5  # and the instruments still answer at least half as fast as at the lowest scale
SCALES = (1e2, 1e3, 1e4, 3e4, 1e5, 3e5, 1e6)


def rate(call, seconds: float) -> float:
    """Calls per second of `call` over about `seconds`."""
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            call()
        count += 50
    return count / elapsed


def cpu_per_call_us(ways: list, count: int = 3000, rounds: int = 7) -> list[float]:
    """The calling thread's CPU time per call of each way, the best of `rounds` alternating rounds (the host's
    load adds to a round, never takes away)."""
    best = [float("inf")] * len(ways)
    for _ in range(rounds):
        for index, call in enumerate(ways):
            start = time.thread_time()
            for _ in range(count):
                call()
            best[index] = min(best[index], (time.thread_time() - start) / count)
    return [b * 1e6 for b in best]


def raw_query(conn: socket.socket, request: bytes) -> bytes:
    conn.sendall(request)
    reply = b""
    while not reply.endswith(b"\n"):
        reply += conn.recv(4096)
    return reply


def pin(cpu: int | None) -> None:
    """Keep this process on one CPU (if there are two), so client and lab do not trade places."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if cpu is not None and len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[cpu]})


def serve_lab_in_subprocess(ports_file: Path, cpu: int | None = None) -> subprocess.Popen:
    """The default bench served by `meterlab lab serve`, its counter answering without its modelled turnaround
    (sim/tables/reply-latency.yaml): the figures compare the client's layers, not the instrument's speed."""
    truth = yaml.safe_load(SCENARIO.read_text())
    truth.setdefault("devices", {}).setdefault("counter", {})["reply_latency_s"] = 0
    scenario = ports_file.with_name("scenario.yaml")
    scenario.write_text(yaml.safe_dump(truth))
    process = subprocess.Popen(
        [sys.executable, "-m", "meterlab", "lab", "serve", "--bench", str(BENCH), "--scenario", str(scenario),
         "--ports-file", str(ports_file)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=lambda: pin(cpu),
    )
    deadline = time.monotonic() + 30
    while not ports_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"the lab did not start: {process.stderr.read() if process.stderr else ''}")
        time.sleep(0.05)
    return process


def medians(ways: list, seconds: float, rounds: int = 5) -> list[float]:
    """Median rate of each way of asking, measured in alternating rounds (fair to a drifting machine)."""
    rates: list[list[float]] = [[] for _ in ways]
    for _ in range(rounds):
        for way, measured in zip(ways, rates):
            measured.append(rate(way, seconds / rounds / len(ways)))
    return [statistics.median(measured) for measured in rates]


def query_rates(seconds: float) -> None:
    from meterlab.instruments.bench import open_instrument

    entry = load_bench(BENCH).instruments["counter"]
    request, command = b"SENS:TOT:GATE:TIME?\n", "gate_time_s"
    print("1. queries per second to the simulated counter's gate time (lab in its own process)")
    print(f"   {'placement':32} {'driver':>8} {'pyvisa-py':>10} {'raw socket':>11} {'driver/raw':>11} {'pyvisa/raw':>11}")
    original = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    cpu_us: list[float] = []
    for placement, client_cpu, lab_cpu in (("scheduler's choice", None, None), ("lab and client on own CPUs", 0, 1)):
        with tempfile.TemporaryDirectory() as tmp:
            ports_file = Path(tmp) / "ports.json"
            process = serve_lab_in_subprocess(ports_file, lab_cpu)
            pin(client_cpu)
            try:
                resource = json.loads(ports_file.read_text())["instruments"]["counter"]["resource"]
                port = int(resource.split("::")[2])
                with socket.create_connection(("127.0.0.1", port)) as conn, \
                        open_instrument("counter", entry, MemoryIOLog(max_entries=10_000), resource) as counter:
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    visa = counter.transport.resource
                    ways = [lambda: getattr(counter, command), lambda: (visa.write_raw(request), visa.read_raw()),
                            lambda: raw_query(conn, request)]
                    driver, pyvisa_py, raw = medians(ways, seconds)
                    cpu_us = cpu_per_call_us(ways)
            finally:
                process.terminate()
                process.wait(10)
                if original:
                    os.sched_setaffinity(0, original)
        print(f"   {placement:32} {driver:8.0f} {pyvisa_py:10.0f} {raw:11.0f} {driver / raw:11.2f} {pyvisa_py / raw:11.2f}")
    driver_cpu, pyvisa_cpu, raw_cpu = cpu_us
    print(f"   {'client CPU per query (µs)':32} {driver_cpu:8.1f} {pyvisa_cpu:10.1f} {raw_cpu:11.1f} "
          f"{driver_cpu / raw_cpu:11.2f} {pyvisa_cpu / raw_cpu:11.2f}   driver/pyvisa-py {driver_cpu / pyvisa_cpu:.2f}")
    print("   driver = the Keysight53230A property (VisaTransport, I/O log, parsing); pyvisa-py = the same")
    print("   resource's write_raw + read_raw; raw socket = sendall + recv on a plain socket. Rates depend on how")
    print("   the host schedules two processes; the client's CPU per query is what each layer itself costs.")


class BenchLoad:
    """A client thread querying every instrument of the bench in a loop, counting queries and failures."""

    def __init__(self, lab: SimLab):
        self.lab, self.queries, self.failure = lab, 0, None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with self.lab.open_bench(MemoryIOLog(max_entries=10_000)) as bench:
                bench["valves"].open_start_valve()
                bench["pump"].run(50)
                while not self.stop.is_set():
                    bench["counter"].gate_time_s
                    bench["scale"].weight_immediate_kg()
                    bench["pump"].actual_speed_pct
                    bench["valves"].read_inputs()
                    bench["drain"].read_inputs()
                    self.queries += 5
        except InstrumentFailure as exc:
            self.failure = exc

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(15)


def sustained_scale(seconds: float) -> None:
    print("2. clock scale sustained while serving the whole bench (lab and one client in this process)")
    print(f"   {'scale':>8} {'worst lag (real ms)':>20} {'queries/s':>10}  keeps up")
    best, base_rate = None, None
    for scale in SCALES:
        with SimLab(load_bench(BENCH), load_scenario(SCENARIO), clock_scale=scale) as lab:
            load = BenchLoad(lab)
            time.sleep(0.2)
            lab.world.worst_lag_s = 0.0
            start, start_queries = time.monotonic(), load.queries
            time.sleep(seconds)
            queries = (load.queries - start_queries) / (time.monotonic() - start)
            worst_lag_real_s = lab.world.worst_lag_s / scale
            load.finish()
        base_rate = base_rate or queries
        keeps_up = (worst_lag_real_s < LAG_LIMIT_REAL_S and load.failure is None
                    and queries >= MIN_SERVICE_SHARE * base_rate)
        best = scale if keeps_up else best
        note = "yes" if keeps_up else f"no{': ' + str(load.failure) if load.failure else ''}"
        print(f"   {scale:8.0f} {worst_lag_real_s * 1000:20.1f} {queries:10.0f}  {note}")
        if not keeps_up:
            break
    print(f"   sustained clock scale: {best:g}x (physics at most {LAG_LIMIT_REAL_S * 1000:g} ms of real time "
          f"behind, no instrument failure, at least {MIN_SERVICE_SHARE:.0%} of the query rate at "
          f"{SCALES[0]:g}x)" if best else "   no scale sustained")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per figure")
    args = parser.parse_args()
    query_rates(args.seconds)
    sustained_scale(args.seconds)


if __name__ == "__main__":
    main()
