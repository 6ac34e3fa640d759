"""`meterlab procedures list`: the programmes that exist, so a technician need not read folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sys

import typer
from rich.console import Console
from rich.table import Table

from meterlab.errors import MeterlabError
from meterlab.instruments.bench import SIMULATED_BENCH, SIMULATED_GAS_BENCH

procedures_app = typer.Typer(help="The test programmes (procedures/r49, procedures/r137, procedures/safety, "
                                  "procedures/smart).",
                             no_args_is_help=True)
# Piped output gets Rich's 80 columns, too narrow for the table; a terminal keeps its own width.
console = Console() if sys.stdout.isatty() else Console(width=140)

STANDARDS = {"r49": "OIML R 49", "r137": "OIML R 137", "safety": "smart gas meters' shut-off functions",
             "smart": "smart meters' anomalous data (status flags transmitted)"}
EXAMPLE_METERS = {"water": Path("examples/meters/dn15-class2.yaml"), "gas": Path("examples/meters/g4-diaphragm.yaml")}
BENCHES = {"water": SIMULATED_BENCH, "gas": SIMULATED_GAS_BENCH}
BENCH_KIND = {"gravimetric": "water rig", "master_meter": "water rig", "volumetric": "water rig",
              "bell_prover": "gas rig", "sonic_nozzle": "gas rig"}


@dataclass
class Row:
    file: Path
    clause: str = ""
    method: str = ""
    points: str = "—"
    rig_time: str = "—"
    note: str = ""


@procedures_app.command("list")
def list_procedures(
    standard: str | None = typer.Option(None, help="r49, r137, safety or smart; all when omitted."),
    meter: list[Path] = typer.Option([], "--meter", metavar="FILE",
                                     help="Meter declaration for the points and rig time (one water and/or one gas "
                                          "meter); the example meters by default."),
    folder: Path = typer.Option(Path("procedures"),
                                help="Where the programmes are (r49/, r137/, safety/, smart/ inside)."),
    calibration_dir: Path = typer.Option(Path("calibration"), help="Folder of certificates (for the method's volumes)."),
) -> None:
    """Each programme with its clause, reference method, bench, test points and estimated rig time."""
    if standard is not None and standard not in STANDARDS:
        console.print(f"[red]--standard {standard}: use one of {', '.join(STANDARDS)}[/]")
        raise typer.Exit(2)
    from meterlab.calibration.register import Register

    try:
        meters = _meters_by_kind(meter)
        register = Register.load(calibration_dir)
    except MeterlabError as exc:
        console.print(f"[red]{exc}[/]", soft_wrap=True)
        raise typer.Exit(2) from None
    files = sorted(p for s in ([standard] if standard else STANDARDS) for p in (folder / s).glob("*.yaml"))
    if not files:
        console.print(f"[red]no programmes in {folder}/{standard or '{' + ','.join(STANDARDS) + '}'}[/]")
        raise typer.Exit(1)
    rows = [_row(path, meters, register) for path in files]
    console.print(_table(rows, meters, folder))
    for number, row in enumerate((r for r in rows if r.note), 1):
        console.print(f"[{number}] {row.file}: {row.note}", soft_wrap=True)


def _meters_by_kind(paths: list[Path]) -> dict[str, Path]:
    """The meter declaration to plan with, per meter kind: the given ones, else the examples that exist."""
    from meterlab.metrology.declarations import load_meter

    chosen = {kind: path for kind, path in EXAMPLE_METERS.items() if path.exists()}
    for path in paths:
        decl, _ = load_meter(path)
        chosen[decl.kind] = path
    return chosen


def _row(path: Path, meters: dict[str, Path], register) -> Row:
    from meterlab.procedures.schema import load_procedure

    row = Row(path)
    try:
        procedure = load_procedure(path)
    except MeterlabError as exc:
        row.note = f"[red]not valid: {str(exc).splitlines()[0]}[/]"
        return row
    row.clause = procedure.clause.split(";")[0]  # the first reference; the file has them all
    row.method = f"{procedure.method} ({BENCH_KIND.get(procedure.method, '?')})"
    meter = meters.get(procedure.meter_kind)
    if meter is None:
        row.note = f"give --meter with a {procedure.meter_kind} meter for points and rig time"
        return row
    try:
        points, seconds = _estimate(path, meter, BENCHES[procedure.meter_kind], register)
    except MeterlabError as exc:
        row.note = str(exc).splitlines()[0].replace(f"meter = '{meter}' is not allowed: ", "not for this meter: ")
        return row
    row.points, row.rig_time = str(points), _duration(seconds)
    return row


def _estimate(procedure: Path, meter: Path, bench: Path, register) -> tuple[int, float]:
    from meterlab.engine.estimate import estimate
    from meterlab.engine.session import load_inputs, reference_method

    inputs = load_inputs(procedure, [meter], bench, None)
    _, seconds = estimate(inputs, reference_method(inputs, register))
    actions = inputs.plan().actions
    points = {a.point.name for a in actions if getattr(a, "point", None) is not None}
    points |= {a.variant for a in actions if getattr(a, "variant", None)}  # a safety table's shaker points
    return len(points), seconds


def _duration(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours >= 1 else f"{seconds / 60:.0f} min"


def _table(rows: list[Row], meters: dict[str, Path], folder: Path) -> Table:
    planned = ", ".join(f"{kind}: {path}" for kind, path in meters.items()) or "no meter"
    table = Table(title=f"test programmes (points and rig time for {planned})", title_justify="left")
    for column in ("programme", "clause", "method (bench)", "points", "rig time"):
        table.add_column(column, justify="right" if column in ("points", "rig time") else "left")
    notes = 0
    for r in rows:
        name = str(r.file.relative_to(folder).with_suffix(""))
        if r.note:
            notes += 1
            name += f" [{notes}]"
        table.add_row(name, r.clause, r.method, r.points, r.rig_time)
    return table
