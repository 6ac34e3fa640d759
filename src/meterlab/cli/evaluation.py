"""`meterlab evaluation ...`: a type evaluation (the type, its samples, the plan of programmes on them) and its
dossier (docs/evaluations.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from meterlab.cli.records import open_store
from meterlab.errors import MeterlabError
from meterlab.instruments.bench import SIMULATED_BENCH
from meterlab.records.store import DEFAULT_URL

if TYPE_CHECKING:  # the commands import it on use, so `meterlab --help` does not pay for the metrology
    from meterlab.records import evaluations

evaluation_app = typer.Typer(help="Type evaluations: new, plan, status, report.", no_args_is_help=True)
console = Console() if sys.stdout.isatty() else Console(width=140)


def _fail(exc: Exception) -> typer.Exit:
    console.print(str(exc), style="red", markup=False, soft_wrap=True)
    return typer.Exit(2)


def _plan_table(evaluation: evaluations.Evaluation) -> Table:
    table = Table(title=f"plan of {evaluation.id}", title_justify="left")
    for column in ("#", "programme", "samples"):
        table.add_column(column)
    for item in evaluation.items:
        table.add_row(str(item["number"]), item["procedure"], ", ".join(item["samples"]))
    return table


@evaluation_app.command()
def new(
    type_file: Path = typer.Option(..., "--type", help="The type under evaluation: its samples and plan."),
    plan: Path | None = typer.Option(None, help="Another plan template than the one the type file names."),
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
) -> None:
    """Record a new type evaluation; runs made with `meterlab run --evaluation ID` are attached to it."""
    from meterlab.records import evaluations

    try:
        type_, resolved = evaluations.load(type_file, plan)
    except MeterlabError as exc:
        raise _fail(exc) from None
    store = open_store(db, create=True)
    evaluation = evaluations.create(store, type_, resolved)
    console.print(_plan_table(evaluation))
    console.print(f"evaluation [bold]{evaluation.id}[/] of {evaluation.type['name']}: {len(evaluation.items)} tests "
                  f"on {len(evaluation.type['samples'])} sample(s), in {store.url}")


@evaluation_app.command()
def plan(
    evaluation_id: str = typer.Argument(..., help="The evaluation."),
    template: Path | None = typer.Option(None, "--plan", help="Record this plan template as the new plan."),
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
) -> None:
    """Print the evaluation's plan, or record a new one (the earlier plans stay in the record)."""
    from meterlab.records import evaluations

    store = open_store(db)
    try:
        evaluation = (evaluations.replan(store, evaluation_id, template) if template
                      else evaluations.get(store, evaluation_id))
    except MeterlabError as exc:
        raise _fail(exc) from None
    console.print(_plan_table(evaluation))


def _remaining_s(item: dict, evaluation: evaluations.Evaluation, bench: Path, calibration_dir: Path) -> float | None:
    """The estimated rig time of a test still to do (None if it cannot be estimated)."""
    from meterlab.calibration.register import Register
    from meterlab.engine.estimate import estimate
    from meterlab.engine.session import load_inputs, reference_method, register_for

    meters = [Path(s["meter"]) for s in evaluation.type["samples"] if s["serial"] in item["samples"]]
    try:
        inputs = load_inputs(Path(item["procedure"]), meters, bench, None)
        register = register_for(inputs.bench, Register.load(calibration_dir))
        return estimate(inputs, reference_method(inputs, register))[1]
    except MeterlabError:
        return None


@evaluation_app.command()
def status(
    evaluation_id: str = typer.Argument(..., help="The evaluation."),
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
    bench: Path = typer.Option(SIMULATED_BENCH, help="The bench the remaining tests are estimated on."),
    calibration_dir: Path = typer.Option(Path("calibration"), help="Folder of certificates."),
) -> None:
    """Each planned test: to do, running or done (with its verdict and sign-off), the bench time spent, and the
    estimated rig time of the tests still to do."""
    from meterlab.records import evaluations
    from meterlab.records.people import missing_sign_offs
    from meterlab.reports.dossier import item_status, summary

    store = open_store(db)
    try:
        evaluation = evaluations.get(store, evaluation_id)
    except MeterlabError as exc:
        raise _fail(exc) from None
    rows = item_status(store, evaluation)
    table = Table(title=f"{evaluation.id}: {evaluation.type['name']}", title_justify="left")
    for column in ("#", "programme", "samples", "status", "verdict", "run", "sign-off", "bench time", "to do (est.)"):
        table.add_column(column)
    spent = left = 0.0
    for r in rows:
        estimate_s = _remaining_s(r, evaluation, bench, calibration_dir) if r["status"] == "to do" else None
        spent, left = spent + r["bench_time_s"], left + (estimate_s or 0.0)
        signed = "—" if r["run"] is None else (", ".join(missing_sign_offs(store, r["run"]["id"])) or "released")
        table.add_row(str(r["number"]), r["procedure_id"], ", ".join(r["samples"]), r["status"], r["verdict"] or "—",
                      r["run"]["id"] if r["run"] else "—", signed, f"{r['bench_time_s'] / 3600:.2f} h",
                      "—" if estimate_s is None else f"{estimate_s / 3600:.1f} h")
    console.print(table)
    done = sum(r["status"] == "done" for r in rows)
    console.print(f"{done} of {len(rows)} tests done; evaluation verdict: [bold]{summary(rows)}[/]; bench time spent "
                  f"{spent / 3600:.2f} h; estimated rig time still to do {left / 3600:.1f} h")


@evaluation_app.command()
def report(
    evaluation_id: str = typer.Argument(..., help="The evaluation."),
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
    format: str = typer.Option("html", "--format", help="html, pdf, or dtr (the dossier as a PTB Digital Test "
                                                        "Report: DCC-schema XML, validated)."),
    out: Path | None = typer.Option(None, help="Write to this file instead of standard output (needed for pdf)."),
) -> None:
    """The evaluation's dossier (R 49-3 / R 137-3 structure), regenerated from the record."""
    from meterlab.records import evaluations
    from meterlab.reports.dossier import render_html

    if format not in ("html", "pdf", "dtr"):
        raise _fail(MeterlabError(f"--format {format}: use html, pdf or dtr"))
    if format == "pdf" and out is None:
        raise _fail(MeterlabError("--format pdf writes a binary file: give --out PATH"))
    store = open_store(db)
    try:
        evaluation = evaluations.get(store, evaluation_id)
        if format == "dtr":
            from meterlab.reports.dcc import evaluation_dtr

            text = evaluation_dtr(store, evaluation)
        else:
            text = render_html(store, evaluation)
        if format == "pdf":
            from meterlab.reports.document import html_to_pdf

            out.write_bytes(html_to_pdf(text))
        elif out is not None:
            out.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    except MeterlabError as exc:
        raise _fail(exc) from None
    if out is not None:
        console.print(f"dossier of {evaluation_id} written to {out}")
