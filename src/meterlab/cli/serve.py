"""`meterlab serve`: the laboratory's web console (docs/console.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from meterlab.cli.records import open_store
from meterlab.records.store import DEFAULT_URL


def serve(
    db: str = typer.Option(DEFAULT_URL, help="Records database: a SQLAlchemy URL or a SQLite file."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; 127.0.0.1 serves this computer only."),
    port: int = typer.Option(8080, help="TCP port."),
    calibration_dir: Path = typer.Option(Path("calibration"), help="Folder of reference-standard certificates."),
) -> None:
    """Serve the web console: runs, results and sign-off, records, calibration, type evaluations (log in with a
    user of the records: `meterlab users add`)."""
    import uvicorn

    from meterlab.web.app import create_app

    store = open_store(db, create=True)
    typer.echo(f"meterlab console on http://{host}:{port}/ (records {store.url}); Ctrl-C stops it")
    uvicorn.run(create_app(store, calibration_dir=calibration_dir), host=host, port=port, log_level="warning")
