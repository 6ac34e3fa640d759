"""`meterlab lab ...`: run the simulated laboratory in the foreground."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from meterlab.errors import MeterlabError
from meterlab.instruments.bench import SIMULATED_BENCH
from meterlab.sim.scenario import load_scenario_or_default

lab_app = typer.Typer(help="The simulated laboratory: real protocol servers on 127.0.0.1.", no_args_is_help=True)


@lab_app.command()
def serve(
    bench: Path = typer.Option(SIMULATED_BENCH, help="Bench file; its `sim: true` instruments are served."),
    scenario: Path | None = typer.Option(None, help="Scenario file (default: scenarios/<bench file name> beside the bench file, if present)."),
    ports_file: Path | None = typer.Option(None, help="Write instrument -> resource (and the clock) as JSON here."),
    clock_scale: float = typer.Option(1.0, min=0.001, help="Simulated seconds per real second."),
) -> None:
    """Serve the simulated instruments until Ctrl-C."""
    from meterlab.sim.lab import SimLab

    console = Console()
    try:
        from meterlab.instruments.bench import load_bench

        bench_model = load_bench(bench)
        scenario_model, scenario_path = load_scenario_or_default(scenario, bench)
        lab = SimLab(bench_model, scenario_model, clock_scale=clock_scale).start()
    except MeterlabError as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        _show(console, lab, scenario_path)
        if ports_file:
            _write_json(ports_file, lab.ports_map())
            console.print(f"ports written to {ports_file}")
        console.print("Serving. Ctrl-C stops the lab.")
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        lab.stop()
        if ports_file:
            ports_file.unlink(missing_ok=True)  # a stale map would point clients at dead ports
        console.print("lab stopped")


def _show(console: Console, lab, scenario_path: Path | None) -> None:
    table = Table(title=f"simulated bench {lab.bench.bench!r} at {lab.clock.scale:g}x "
                        f"(scenario: {scenario_path or 'built-in defaults'})")
    for column in ("instrument", "driver", "role"):
        table.add_column(column, overflow="fold")
    table.add_column("resource", no_wrap=True)  # people copy it into their VISA client
    for name, resource in lab.resources.items():
        entry = lab.bench.instruments[name]
        table.add_row(name, entry.driver, entry.role, resource)
    console.print(table)


def _write_json(path: Path, data: dict) -> None:
    """Write atomically, so a client polling for the file never reads half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(temporary, path)
