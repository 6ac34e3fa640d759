"""`meterlab fuzz`: an interface fuzz campaign with a metrological oracle, recorded like any run
(docs/fuzzing.md); `--replay RUN_ID CASE` replays one case of a recorded campaign."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from meterlab.errors import MeterlabError
from meterlab.records.store import DEFAULT_URL

console = Console()
SIMULATED_BENCH = Path("instruments/sim.yaml")
FUZZ_PROCEDURE_ID = "interface-fuzz"  # engine.fuzz.PROCEDURE_ID (not imported: the CLI starts without the engine)


def _fail(exc: Exception) -> typer.Exit:
    console.print(str(exc), style="red", markup=False, soft_wrap=True)
    return typer.Exit(2)


def fuzz(
    meter: Path | None = typer.Option(None, "--meter", metavar="FILE", help="Meter declaration with `interface:`."),
    bench: Path = typer.Option(SIMULATED_BENCH, help="Bench description (the simulated lab by default)."),
    scenario: Path | None = typer.Option(None, help="Simulated lab scenario (e.g. a planted weakness)."),
    seed: int = typer.Option(0, help="Seed of the case generator: the same seed gives the same cases."),
    cases: int | None = typer.Option(None, help="Run the first N cases only (default: all of them)."),
    budget_s: float | None = typer.Option(None, help="Stop starting new cases after this many seconds."),
    db: str = typer.Option(DEFAULT_URL, help="Records database: a SQLAlchemy URL or a SQLite file."),
    operator: str = typer.Option("technician", help="Who runs the campaign (recorded)."),
    calibration_dir: Path = typer.Option(Path("calibration"), help="Folder of reference-standard certificates."),
    out: Path = typer.Option(Path("out"), help="Folder for the campaign's report (JSON, HTML, PDF)."),
    replay: tuple[str, int] | None = typer.Option(None, metavar="RUN_ID CASE",
                                                  help="Replay case CASE of recorded campaign RUN_ID."),
) -> None:
    """Fuzz a meter's Modbus TCP interface while it measures at constant flow; report the findings."""
    from meterlab.engine import fuzz as campaign
    from meterlab.records.store import Store

    try:
        if replay is not None and replay[0] is not None:
            store = Store(db, must_exist=True)
            result = campaign.replay_case(store, replay[0], replay[1])
            console.print(json.dumps({k: v for k, v in result.items() if k != "io"}, indent=1), markup=False)
            raise typer.Exit(1 if result["verdict"] == "fail" else 0)
        if meter is None:
            raise MeterlabError("give --meter FILE (a meter declaration with `interface:`), or --replay RUN_ID CASE")
        if cases is not None and budget_s is not None:
            raise MeterlabError("give either --cases or --budget-s, not both (the first N cases, or as many as fit)")
        setup = campaign.load_fuzz_inputs(meter, bench, scenario)
        campaign.check_standards(setup, calibration_dir.resolve())  # refused before the database is touched
        store = Store(db)
        run_id = campaign.create_campaign(store, setup, operator=operator, seed=seed, cases=cases, budget_s=budget_s,
                                          calibration_dir=calibration_dir.resolve())
    except MeterlabError as exc:
        raise _fail(exc) from None
    console.print(f"campaign [bold]{run_id}[/] created in {store.url}")
    _run_and_report(store, run_id, out)


def _run_and_report(store, run_id: str, out: Path) -> None:
    from meterlab.engine import fuzz as campaign
    from meterlab.reports.fuzz import write_fuzz_report

    try:
        summary = campaign.execute_campaign(store, run_id, on_case=_progress)
    except MeterlabError as exc:
        raise _fail(exc) from None
    paths, no_pdf = write_fuzz_report(store, run_id, out)
    console.print(f"{summary['cases_run']} cases: {summary['per_class']}; verdict {summary['verdict'].upper()}")
    for finding in summary["findings"]:
        console.print(f"  case {finding['case']} {finding['class']}: {finding['title']}: "
                      f"{'; '.join(finding['reasons'])}", markup=False)
    console.print("report: " + ", ".join(str(p) for p in paths))
    if no_pdf:
        console.print(f"no PDF report: {no_pdf}", style="yellow", markup=False, soft_wrap=True)
    raise typer.Exit(1 if summary["verdict"] == "fail" else 0)


def _progress(result: dict) -> None:
    if result["verdict"] != "pass":
        console.print(f"case {result['case']} {result['verdict']}: {result['title']}", markup=False)


def resume_campaign(store, run_id: str, operator: str, authenticated: bool, out: Path = Path("out")) -> None:
    """`meterlab resume` of a campaign: the cases not yet recorded, on a fresh bench (baseline measured again)."""
    if any(e.payload.get("state") == "completed" for e in store.entries(run_id, kinds=["state"])):
        console.print(f"campaign {run_id} is completed; there is nothing to resume")
        return
    store.append(run_id, "operator", {"action": "resume", "operator": operator, "authenticated": authenticated})
    _run_and_report(store, run_id, out)


def campaign_report(store, run_id: str, format: str) -> str | bytes:
    """`meterlab report` of a campaign: json, html (text) or pdf (bytes), from the record."""
    from meterlab.reports.fuzz import fuzz_report, render_html, render_pdf

    if format not in ("json", "html", "pdf"):
        raise MeterlabError(f"--format {format}: a fuzz campaign's report is json, html or pdf")
    report = fuzz_report(store, run_id)
    if format == "pdf":
        return render_pdf(report)
    return render_html(report) if format == "html" else json.dumps(report, indent=1, sort_keys=True, default=str) + "\n"
