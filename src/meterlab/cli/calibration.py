"""`meterlab calibration list|check`: what QA looks at before a run, and a linter for certificate files."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from meterlab.calibration import DUE_WARNING_DAYS

if TYPE_CHECKING:  # the commands import these on use, so `meterlab --help` stays fast
    from meterlab.calibration.certificates import Certificate
    from meterlab.calibration.register import Register

calibration_app = typer.Typer(
    help="Reference standards: certificates, due dates, calibrated ranges.",
    no_args_is_help=True,
    add_completion=False,
)

STATUS_STYLE = {"valid": "green", "due": "yellow", "expired": "bold red", "not yet valid": "bold magenta",
                "simulated": "cyan"}


def status_text(certificate: Certificate, day: dt.date, warn_days: int) -> tuple[str, str]:
    """('valid' | 'due in N days' | 'EXPIRED' | 'NOT YET VALID' | 'simulated lab', rich style) on `day`."""
    from meterlab.calibration.certificates import Status

    if certificate.simulated:  # its dates are the simulated lab's and never enforced: saying EXPIRED would mislead
        return "simulated lab", STATUS_STYLE["simulated"]
    status = certificate.status(day)
    if status is Status.EXPIRED:
        return f"EXPIRED {-certificate.days_until_due(day)} days ago", STATUS_STYLE["expired"]
    if status is Status.NOT_YET_VALID:
        return f"NOT YET VALID (from {certificate.valid_from})", STATUS_STYLE["not yet valid"]
    days = certificate.days_until_due(day)
    if days <= warn_days:
        return f"due in {days} day{'s' if days != 1 else ''}", STATUS_STYLE["due"]
    return "valid", STATUS_STYLE["valid"]


def certificates_table(register: Register, day: dt.date, warn_days: int) -> Table:
    table = Table(title=f"Reference standards on {day}", title_justify="left")
    for column in ("id", "description", "instrument", "certificate", "lab", "calibrated", "due", "status"):
        wraps = column in ("description", "lab")  # the others stay whole: they are looked up and compared
        table.add_column(column, no_wrap=not wraps, overflow="fold", ratio=2 if wraps else None)
    for certificate in register:
        text, style = status_text(certificate, day, warn_days)
        description = certificate.description
        if certificate.kind == "verification":  # a conformity statement, not certified values
            description = f"verification: {description}"
        table.add_row(certificate.id, description, certificate.instrument, certificate.certificate.number,
                      certificate.certificate.issued_by,
                      str(certificate.calibration_date), str(certificate.due_date), f"[{style}]{text}[/]")
    if any(certificate.simulated for certificate in register):
        table.caption = ("simulated lab: issued for the simulated laboratory; only its simulated instruments use it, "
                         "on any date, and a real bench refuses it")
        table.caption_justify = "left"
    return table


@calibration_app.command("list")
def list_certificates(
    folder: Path = typer.Option(Path("calibration"), "--dir", help="Folder of certificate files."),
    at: dt.datetime | None = typer.Option(None, "--at", formats=["%Y-%m-%d"], help="Status on this date "
                                          "(default today)."),
    warn_days: int = typer.Option(DUE_WARNING_DAYS, "--warn-days", min=0, help="Show 'due in N days' from this many days."),
) -> None:
    """List the reference standards with their certificates, due dates and status."""
    from meterlab.calibration.register import Register
    from meterlab.errors import MeterlabError

    try:
        register = Register.load(folder)
    except MeterlabError as exc:
        Console(stderr=True).print(f"[red]{exc}[/]", highlight=False, markup=False)
        raise typer.Exit(2) from exc
    # Piped output gets Rich's 80 columns, too narrow for this table; a terminal keeps its own width.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    if not len(register):
        console.print(f"no certificates in {folder}")
        return
    day = at.date() if at else dt.date.today()
    console.print(certificates_table(register, day, warn_days))


@calibration_app.command("checks")
def intermediate_checks(
    standard: str = typer.Argument(..., help="The standard's id (its checks are in calibration/checks/ID.yaml)."),
    folder: Path = typer.Option(Path("calibration"), "--dir", help="Folder of certificate files."),
    out: Path | None = typer.Option(None, help="Also write the control chart to this PNG file."),
) -> None:
    """A standard's intermediate checks against its warning and action limits, and its state now."""
    from meterlab.calibration.register import Register
    from meterlab.errors import MeterlabError

    try:
        checks = Register.load(folder).checks.get(standard)
    except MeterlabError as exc:
        Console(stderr=True).print(f"[red]{exc}[/]", highlight=False, markup=False)
        raise typer.Exit(2) from exc
    if checks is None:
        Console(stderr=True).print(f"[red]no intermediate checks of {standard!r} in {folder / 'checks'}[/]")
        raise typer.Exit(2)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    table = Table(title=f"{standard}: {checks.check_standard} (reference {checks.reference_value:g} {checks.unit}; "
                        f"limits ±{checks.limits.warning:g} / ±{checks.limits.action:g}: {checks.limits.source})",
                  title_justify="left")
    for column in ("date", "value", "deviation", "state", "by"):
        table.add_column(column)
    for check in checks.checks:
        table.add_row(str(check.date), f"{check.value:g}", f"{checks.deviation(check):+g}", str(checks.state_of(check)),
                      check.by)
    console.print(table)
    console.print(f"state on {dt.date.today()}: [bold]{checks.state(dt.date.today())}[/]")
    if out is not None:
        from meterlab.reports.figures import control_chart_png

        out.write_bytes(control_chart_png(checks))
        console.print(f"control chart written to {out}")


@calibration_app.command("check")
def check_files(
    paths: list[Path] = typer.Argument(..., metavar="PATH", help="Certificate files, or folders of them."),
) -> None:
    """Validate certificate files: every problem is reported with its file, line and field."""
    from meterlab.calibration.certificates import load_certificate
    from meterlab.calibration.register import Register
    from meterlab.errors import MeterlabError

    loaded, failed = [], 0
    for path in _certificate_files(paths):
        try:
            certificate = load_certificate(path)
        except MeterlabError as exc:
            typer.echo(str(exc), err=True)
            failed += 1
            continue
        loaded.append(certificate)
        typer.echo(f"ok  {path}: {certificate.id} ({certificate.instrument}), {certificate.kind} certificate "
                   f"{certificate.certificate.number}, due {certificate.due_date}"
                   + (", simulated laboratory" if certificate.simulated else ""))
    for folder in sorted({c.path.parent for c in loaded}):  # a register is one folder
        try:
            Register(c for c in loaded if c.path.parent == folder)  # duplicate ids or instruments
        except MeterlabError as exc:
            typer.echo(str(exc), err=True)
            failed += 1
    if failed:
        raise typer.Exit(1)


def _certificate_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            files.append(path)  # a missing file is reported by the loader, with its name
    return files


@calibration_app.command("import-dcc")
def import_dcc(
    dcc_file: Path = typer.Argument(..., metavar="DCC", help="The reference standard's DCC (XML)."),
    standard_id: str = typer.Option(..., "--id", help="The standard's id in the register, e.g. prt-02."),
    instrument: str = typer.Option(..., help="The bench instrument it backs (as the bench file names it)."),
    quantity: str = typer.Option(..., help="What the correction is of: mass, temperature, pressure ..."),
    due: dt.date = typer.Option(..., formats=["%Y-%m-%d"], help="Due date of the next calibration (lab policy)."),
    meaning: str = typer.Option("error", help="What the DCC's values are: error (indication − reference), "
                                              "correction (to add) or value (certified value)."),
    x_ref: str = typer.Option("basic_referenceValue", help="refType of the calibration points' quantity."),
    y_ref: str = typer.Option("basic_measurementError", help="refType of the error / correction quantity."),
    variable: str | None = typer.Option(None, help="Name of the points' variable (e.g. load, temperature)."),
    calibration_dir: Path = typer.Option(Path("calibration"), help="The register's folder."),
) -> None:
    """Import a reference standard's PTB Digital Calibration Certificate into the register: validated against
    the DCC schema, written as a certificate file beside the YAML ones (citing the DCC and its SHA-256)."""
    import yaml

    from meterlab.calibration.certificates import load_certificate
    from meterlab.calibration.dcc import certificate_from_dcc
    from meterlab.calibration.register import Register
    from meterlab.errors import MeterlabError

    out = calibration_dir / f"{standard_id}.yaml"
    try:
        if out.exists():
            raise MeterlabError(f"{out} exists: the register already has a certificate file of that id; "
                                f"choose another --id or move the old file to the register's history")
        data = certificate_from_dcc(dcc_file, standard_id=standard_id, instrument=instrument, quantity=quantity,
                                    due_date=due, meaning=meaning, x_ref=x_ref, y_ref=y_ref, variable=variable)
        out.write_text(f"# Imported from the DCC {dcc_file.name} by `meterlab calibration import-dcc`.\n"
                       + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        try:  # the register's own checks (fields, ranges, a second certificate for the instrument)
            load_certificate(out)
            Register.load(calibration_dir)
        except MeterlabError:
            out.unlink()
            raise
    except MeterlabError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    rows = data["correction"]["table"]
    typer.echo(f"{standard_id}: certificate {data['certificate']['number']} of {data['certificate']['issued_by']}, "
                  f"{len(rows)} points {rows[0]['x']:g} to {rows[-1]['x']:g} "
                  f"{data['calibrated_range'][data['correction']['variable']]['unit']}, written to {out}")
