"""`meterlab readings ...`: a run's meter readings in the meter-reading format (docs/readings.md)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from meterlab.errors import MeterlabError
from meterlab.records.store import DEFAULT_URL, Store
from meterlab.reports.readings import run_readings, write_csv, write_jsonl

readings_app = typer.Typer(help="Meter readings in one format (meter-reading/1): export a run's.", no_args_is_help=True)


class Format(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


@readings_app.command()
def export(
    run_id: str = typer.Argument(..., help="The run."),
    output_format: Format = typer.Option(Format.jsonl, "--format", help="jsonl: one reading a line; csv: flattened."),
    out: Path | None = typer.Option(None, "--out", help="File to write (default: standard output)."),
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
) -> None:
    """Write every register reading a run took over M-Bus or Modbus, each validated against the schema."""
    writer = write_jsonl if output_format is Format.jsonl else write_csv
    try:
        store = Store(db)
        readings = run_readings(store, run_id)
        if out is None:
            count = writer(readings, sys.stdout)
        else:
            with out.open("w", encoding="utf-8", newline="") as stream:
                count = writer(readings, stream)
    except MeterlabError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{count} reading(s) of run {run_id}" + (f" written to {out}" if out else ""), err=True)
