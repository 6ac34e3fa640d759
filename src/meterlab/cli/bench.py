"""`meterlab bench start BENCH`: a bench process serving the console's runs on one bench (docs/console.md)."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from meterlab.cli.records import open_store
from meterlab.records.store import DEFAULT_URL

bench_app = typer.Typer(help="Bench processes: each drives the runs the console starts on its bench.",
                        no_args_is_help=True)


@bench_app.command()
def start(
    bench_file: Path = typer.Argument(..., metavar="BENCH", help="The bench file (e.g. instruments/sim.yaml)."),
    db: str = typer.Option(DEFAULT_URL, help="Records database shared with the console (PostgreSQL for a lab)."),
    calibration_dir: Path = typer.Option(Path("calibration"), help="Folder of reference-standard certificates."),
) -> None:
    """Serve the bench: runs started (or resumed) from the console on this bench are driven here, one at a time,
    under the bench's lease; the console shows them and passes on answers, pause, resume and abort. Ctrl-C or
    SIGTERM stops it, a run in progress first brought to its safe state."""
    from meterlab.errors import MeterlabError
    from meterlab.instruments.bench import load_bench
    from meterlab.web.stations import Station

    try:
        bench = load_bench(bench_file)
        store = open_store(db, create=True)
    except MeterlabError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    station = Station(store, bench.bench, bench_file, calibration_dir)
    for sig in (signal.SIGINT, signal.SIGTERM):  # the handler only asks; serve() ends after the safe state
        signal.signal(sig, lambda *_: station.stop())

    def ready() -> None:  # said once registered: from then on the console sends this bench's runs here
        typer.echo(f"bench {bench.bench} ({bench_file}) served for the console on {store.url}; Ctrl-C stops it")

    def ended(run_id: str, state: str) -> None:
        typer.echo(f"run {run_id}: {state}")

    try:
        station.serve(on_run=ended, on_ready=ready)
    except MeterlabError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"bench {bench.bench}: no longer served")
