"""`meterlab instruments ...`: check a bench, list the drivers."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from meterlab.errors import MeterlabError

instruments_app = typer.Typer(help="Instrument drivers and bench descriptions.", no_args_is_help=True)
DEFAULT_BENCH = Path("instruments/sim.yaml")


@instruments_app.command()
def check(
    bench: Path = typer.Option(DEFAULT_BENCH, help="Bench file to check."),
    scenario: Path | None = typer.Option(None, help="Scenario for the simulated instruments, if any."),
    show_io: bool = typer.Option(False, "--show-io", help="Print the I/O log of the check."),
) -> None:
    """Connect to every instrument of a bench, identify it, print OK or the failure.

    Simulated instruments (`sim: true`) are served by a simulated lab started for the check."""
    from meterlab.instruments.bench import load_bench
    from meterlab.instruments.iolog import MemoryIOLog

    console = Console()
    try:
        bench_model = load_bench(bench)
        lab = _start_lab(bench_model, scenario) if bench_model.simulated else None
    except MeterlabError as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    iolog = MemoryIOLog()
    try:
        failures = _check_all(console, bench_model, lab.resources if lab else {}, iolog)
    finally:
        if lab:
            lab.stop()
    if show_io:
        for entry in iolog.entries():
            typer.echo(str(entry))
    if failures:
        console.print(f"[red]{failures} of {len(bench_model.instruments)} instrument(s) failed[/red]")
        raise typer.Exit(1)
    console.print(f"[green]all {len(bench_model.instruments)} instruments answered[/green]")


def _start_lab(bench, scenario: Path | None):
    from meterlab.sim.cli import load_scenario_or_default
    from meterlab.sim.lab import SimLab

    return SimLab(bench, load_scenario_or_default(scenario)[0]).start()


def _address(entry, resource: str | None) -> str:
    if resource:
        return f"{resource} (simulated)"
    if entry.resource:
        return entry.resource
    modbus = entry.modbus
    return f"modbus {modbus.host}:{modbus.port}" if modbus.host else f"modbus {modbus.serial_port}"


def _check_all(console: Console, bench, resources: dict[str, str], iolog) -> int:
    """Two lines per instrument (name, driver, address; then OK + identity or FAILED + why)."""
    from meterlab.instruments.bench import open_instrument

    console.print(f"bench {bench.bench!r}: {len(bench.instruments)} instrument(s)", soft_wrap=True)
    failures = 0
    for name, entry in bench.instruments.items():
        try:
            with open_instrument(name, entry, iolog, resources.get(name)) as instrument:
                identity = instrument.identify()
                instrument.check_errors()
            result = f"  [green]OK[/green]     {identity}"
        except MeterlabError as exc:
            failures += 1
            result = f"  [red]FAILED[/red] {exc}"
        console.print(f"[bold]{name}[/bold]  {entry.driver}  {_address(entry, resources.get(name))}", soft_wrap=True)
        console.print(result, soft_wrap=True, highlight=False)
    return failures


@instruments_app.command("drivers")
def list_drivers() -> None:
    """List the driver keys a bench file can use."""
    from meterlab.instruments.registry import ENTRIES

    table = Table(title="instrument drivers")
    for column in ("driver", "simulated", "instrument"):
        table.add_column(column)
    for entry in ENTRIES:
        table.add_row(entry.key, "yes" if entry.sim_device else "no", entry.summary)
    Console().print(table)
