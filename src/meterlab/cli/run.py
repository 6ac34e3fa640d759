"""`meterlab run | resume | plan | validate | report`: the technician's and the metrologist's commands."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from meterlab.cli.fuzz import FUZZ_PROCEDURE_ID
from meterlab.errors import MeterlabError
from meterlab.instruments.bench import SIMULATED_BENCH
from meterlab.records.laboratory import LABORATORY_FILE, load_laboratory
from meterlab.records.store import DEFAULT_URL
from meterlab.sim.scenario import default_scenario

# Piped output gets Rich's 80 columns, too narrow for the results table; a terminal keeps its own width.
console = Console() if sys.stdout.isatty() else Console(width=140)


def _fail(exc: Exception) -> typer.Exit:
    console.print(str(exc), style="red", markup=False, soft_wrap=True)  # a file's text is not Rich markup
    return typer.Exit(2)


def run(
    procedure: Path = typer.Argument(..., help="Procedure file, e.g. procedures/r49/intrinsic-error.yaml"),
    meter: list[Path] = typer.Option(..., "--meter", metavar="FILE",
                                     help="Meter declaration file; repeat for meters in series."),
    bench: Path = typer.Option(SIMULATED_BENCH, help="Bench description (the simulated lab by default)."),
    scenario: Path | None = typer.Option(None, help="Simulated lab scenario (truth of the simulated meters)."),
    db: str = typer.Option(DEFAULT_URL, help="Records database: a SQLAlchemy URL or a SQLite file."),
    operator: str = typer.Option("technician", help="Who runs the test (recorded)."),
    clock_scale: float | None = typer.Option(
        None, help="Simulated lab only: run on a scaled real-time clock, simulated seconds per real second (e.g. "
                   "1 to watch it live). Default: virtual time, as fast as the host allows and the same record "
                   "for the same seed on any host."),
    calibration_dir: Path = typer.Option(Path("calibration"), help="Folder of reference-standard certificates."),
    override_calibration: str | None = typer.Option(None, help="Run although a standard is out of calibration; "
                                                                  "the reason is recorded and printed on the report."),
    yes: bool = typer.Option(False, "--yes", help="Unattended: confirm every operator prompt automatically."),
    laboratory: Path = typer.Option(LABORATORY_FILE, help="The laboratory issuing the report (name, address, "
                                                          "accreditation): recorded with the run."),
    evaluation: str | None = typer.Option(None, help="Attach the run to this type evaluation (`meterlab evaluation "
                                                     "new`): the programme and the meters must be in its plan."),
    password_stdin: bool = typer.Option(False, help="Read the operator's password from standard input (asked "
                                                    "only when the records have users)."),
) -> None:
    """Run a procedure on the bench and print the results table and the run id."""
    from meterlab.calibration.register import Register
    from meterlab.cli.records import read_password
    from meterlab.engine.session import DEFAULT_CLOCK_SCALE, MAX_CLOCK_SCALE, create_run, load_inputs
    from meterlab.records import evaluations
    from meterlab.records.people import authenticated_operator
    from meterlab.records.store import Store

    if clock_scale is not None and not 0 < clock_scale <= MAX_CLOCK_SCALE:  # also refuses nan
        raise _fail(MeterlabError(f"--clock-scale {clock_scale}: give simulated seconds per real second, above 0 "
                                  f"and at most {MAX_CLOCK_SCALE:g}"))
    try:
        register = Register.load(calibration_dir)
        inputs = load_inputs(procedure, meter, bench, scenario or default_scenario(bench),
                             follow_declarations=scenario is None)
        store = Store(db, must_exist=evaluation is not None)
        if evaluation is not None:  # refused before any record is made
            evaluations.check_run_fits(evaluations.get(store, evaluation), inputs.procedure.id,
                                       list(inputs.declarations))
        authenticated = authenticated_operator(store, operator, lambda: read_password(password_stdin))
        clock_scale = clock_scale or DEFAULT_CLOCK_SCALE
        run_id = create_run(store, inputs, operator=operator, register=register, clock_scale=clock_scale,
                            override_calibration=override_calibration, laboratory=load_laboratory(laboratory),
                            operator_authenticated=authenticated)
        if evaluation is not None:
            evaluations.attach(store, evaluation, run_id)
    except MeterlabError as exc:
        raise _fail(exc) from None
    console.print(f"run [bold]{run_id}[/] created in {store.url}")
    _warn_due_soon(store, run_id)
    _execute(store, run_id, register, operator, yes)


def _warn_due_soon(store, run_id: str) -> None:
    """A standard this run uses falls due soon, or its latest intermediate check is beyond the warning limit:
    say so at the start, while there is time to act."""
    import datetime as dt

    from meterlab.calibration import DUE_WARNING_DAYS

    header = next(store.entries(run_id)).payload
    today = dt.date.today()
    for standard in (header.get("calibration") or {}).values():
        check = standard.get("intermediate_check") or {}
        if check.get("state") == "beyond the warning limit":
            console.print(f"[yellow]{standard['id']}: its intermediate check of {check['date']} is beyond the warning "
                          f"limit (deviation {check['deviation']:+g} {check['unit']}): watch it[/]", soft_wrap=True)
        if standard.get("simulated") or standard.get("status") != "valid":
            continue
        days = (dt.date.fromisoformat(standard["due_date"]) - today).days
        if days <= DUE_WARNING_DAYS:
            console.print(f"[yellow]{standard['id']} (certificate {standard['certificate']}) falls due on "
                          f"{standard['due_date']}, in {days} day(s): book its calibration[/]", soft_wrap=True)


def resume(
    run_id: str = typer.Argument(..., help="The run to continue (see `meterlab run`'s output)."),
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
    calibration_dir: Path = typer.Option(Path("calibration"), help="Folder of reference-standard certificates."),
    operator: str = typer.Option("technician", help="Who resumes the test (recorded)."),
    yes: bool = typer.Option(False, "--yes", help="Unattended: confirm every operator prompt automatically."),
    accept_changed_inputs: str | None = typer.Option(
        None, help="Go on although a profile or certificate changed since the run was created; the reason and "
                   "the changes are recorded."),
    password_stdin: bool = typer.Option(False, help="Read the operator's password from standard input (asked "
                                                    "only when the records have users)."),
) -> None:
    """Continue a run at its first unfinished measurement, after restoring the rig state it needs."""
    from meterlab.calibration.register import Register
    from meterlab.cli.console import results_table
    from meterlab.cli.records import read_password
    from meterlab.records.people import authenticated_operator
    from meterlab.records.store import Store
    from meterlab.reports.results import run_result

    try:
        store = Store(db, must_exist=True)
        fuzzing = store.run(run_id).procedure_id == FUZZ_PROCEDURE_ID
        register = Register.load(calibration_dir)
        authenticated = authenticated_operator(store, operator, lambda: read_password(password_stdin))
    except MeterlabError as exc:
        raise _fail(exc) from None
    if fuzzing:  # an interface fuzz campaign: its own engine, the same resume
        from meterlab.cli.fuzz import resume_campaign

        return resume_campaign(store, run_id, operator, authenticated)
    result = run_result(store, run_id)
    if result["state"] == "completed":
        console.print(results_table(result))
        console.print(f"run {run_id} is completed; there is nothing to resume")
        return
    store.append(run_id, "operator", {"action": "resume", "operator": operator, "authenticated": authenticated})
    _execute(store, run_id, register, operator, yes, accept_changed_inputs)


def _execute(store, run_id: str, register, operator: str, yes: bool, accept_changed_inputs: str | None = None) -> None:
    from meterlab.cli.console import ConsoleProgress, print_result
    from meterlab.cli.terminal import RunTerminal, Signals
    from meterlab.engine.control import RunControl, RunState
    from meterlab.engine.events import EventBus
    from meterlab.engine.prompts import AutoPrompter, ConsolePrompter, HandOffPrompter
    from meterlab.engine.session import execute, inputs_from_header
    from meterlab.reports.results import run_result

    header = next(store.entries(run_id, kinds=["run_created"])).payload
    inputs = inputs_from_header(header)
    plan = inputs.plan()
    done_keys = store.keys(run_id)
    done = len([a for a in plan.actions if a.key in done_keys])
    control, bus, interactive = RunControl(), EventBus(), sys.stdin.isatty()
    # At a terminal the worker hands its questions to the main thread, which alone reads the keyboard.
    handoff = HandOffPrompter(control) if interactive and not yes else None
    outcome: dict = {}
    finished = threading.Event()

    def work() -> None:
        try:
            outcome["state"] = execute(store, run_id, prompter=handoff or AutoPrompter(), bus=bus, control=control,
                                       register=register, accept_changed_inputs=accept_changed_inputs)
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc
        finally:
            finished.set()

    def record(entry: dict) -> None:
        store.append(run_id, "operator", {**entry, "operator": operator})

    # A Ctrl-C or SIGTERM that arrives once the run has ended (the abort can be quicker than the operator's
    # second Ctrl-C) must not cut the outcome short: the handlers stay until it is printed.
    with Signals().installed():
        rig_seconds = _rig_seconds(inputs, plan, done_keys, register)
        with ConsoleProgress(console, len(plan.actions), done, rig_seconds) as progress:
            bus.subscribe(progress)
            prompter = ConsolePrompter(operator, console, aside=progress.aside)
            terminal = RunTerminal(control, record, console, interactive=interactive, handoff=handoff,
                                   prompter=prompter, aside=progress.aside)
            # not a daemon: the process does not end while the run (and its safe state) is still going
            worker = threading.Thread(target=work, name=f"run-{run_id}")
            worker.start()
            terminal.watch(worker, finished)
        if "error" in outcome:
            raise _fail(outcome["error"])
        result = run_result(store, run_id)
        print_result(console, result)
        for skipped in (s for test in result["tests"] for s in test.get("skipped_checks", [])):
            console.print(f"not applicable: {skipped['check']} for {skipped['meter_serial']}: {skipped['why']}")
        console.print(f"run id: [bold]{run_id}[/]   verdict: [bold]{result['verdict']}[/]   state: {result['state']}")
        if outcome.get("state") in (RunState.FAILED, RunState.ABORTED):
            console.print(f"resume with: meterlab resume {run_id} --db {store.url}")
            raise typer.Exit(1)


def _rig_seconds(inputs, plan, done_keys: set[str], register) -> dict[str, float]:
    """The estimated rig time of each action still to do (the live line's "rig time left"); none if the
    estimate cannot be made, which must not stop a run."""
    from meterlab.engine.estimate import estimate
    from meterlab.engine.session import reference_method

    try:
        rows, _ = estimate(inputs, reference_method(inputs, register))
    except MeterlabError:
        return {}
    return {a.key: row["seconds"] for a, row in zip(plan.actions, rows) if a.key not in done_keys}


def plan(
    procedure: Path = typer.Argument(..., help="Procedure file."),
    meter: list[Path] = typer.Option(..., "--meter", metavar="FILE",
                                     help="Meter declaration file; repeat for meters in series."),
    bench: Path = typer.Option(SIMULATED_BENCH, help="Bench description."),
    calibration_dir: Path = typer.Option(Path("calibration"), help="Folder of certificates."),
) -> None:
    """Dry run: the resolved test points, volumes and the estimated rig time, without touching the rig."""
    from meterlab.calibration.register import Register
    from meterlab.engine.estimate import estimate
    from meterlab.engine.session import check_reachable, load_inputs, reference_method, register_for

    try:
        inputs = load_inputs(procedure, meter, bench, None)
        register = register_for(inputs.bench, Register.load(calibration_dir))
        method = reference_method(inputs, register)
        check_reachable(inputs, inputs.plan(), register)
        rows, total_s = estimate(inputs, method)
    except MeterlabError as exc:
        raise _fail(exc) from None
    table = Table(title=f"{inputs.procedure.id}: {inputs.procedure.title}", title_justify="left")
    for col in ("#", "action", "Q m³/h", "volume L", "rig time"):
        table.add_column(col, justify="left" if col == "action" else "right")
    for i, row in enumerate(rows, 1):
        table.add_row(str(i), row["label"], row.get("flowrate", ""), row.get("volume", ""), row["time"])
    console.print(table)
    console.print(f"estimated rig time: [bold]{total_s / 3600:.2f} h[/] for {len(inputs.declarations)} meter(s) in series")


def validate(
    files: list[Path] = typer.Argument(..., metavar="FILE",
                                       help="Procedure, bench, meter, scenario, certificate or profile files."),
    bench: Path | None = typer.Option(None, help="Check scenarios, and the interfaces meters declare, against this "
                                                 "bench (default: for a scenario the bench it is the default "
                                                 "scenario of, instruments/scenarios/x.yaml -> instruments/x.yaml; "
                                                 "for meters the one bench file given among FILE)."),
    calibration_dir: Path | None = typer.Option(None, help="Check benches' certificate ids against this register "
                                                           "(as run does with its --calibration-dir)."),
) -> None:
    """Check files as `run` would; each problem names the file, the line and the field."""
    from meterlab.procedures.validate import check_meters_on_bench, validate_file

    bad = 0
    kinds: dict[Path, str] = {}
    for path in files:
        try:
            kinds[path] = validate_file(path, bench=bench, calibration_dir=calibration_dir)
            console.print(f"[green]ok[/] {escape(str(path))} ({kinds[path]})")
        except MeterlabError as exc:
            bad += 1
            console.print(str(exc), style="red", markup=False, soft_wrap=True)
    meters = [p for p, kind in kinds.items() if kind == "meter"]
    benches = [p for p, kind in kinds.items() if kind == "bench"]
    # a meter's interfaces are only right or wrong on a bench: the wiring decides where they are read
    wiring = bench or (benches[0] if len(benches) == 1 else None)
    if meters and wiring is not None:
        try:
            errors = check_meters_on_bench(meters, wiring)
        except MeterlabError as exc:  # the bench itself is wrong (given by --bench, not among FILE)
            errors = [exc]
        for exc in errors:
            bad += 1
            console.print(str(exc), style="red", markup=False, soft_wrap=True)
        if not errors:
            console.print(f"[green]ok[/] the interfaces of {len(meters)} meter(s) are wired on {escape(str(wiring))}")
    elif meters:
        console.print("the meters' interfaces were not checked against a bench: give --bench FILE (or one bench "
                      "file among FILE)", markup=False)
    if bad:
        raise typer.Exit(1)


def report(
    run_id: str = typer.Argument(..., help="The run."),
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
    format: str = typer.Option("json", "--format", help="json (machine-readable result), html (type-evaluation "
                                                        "report), pdf (the same, rendered), csv (the points) or dcc "
                                                        "(PTB Digital Calibration Certificate XML, validated)."),
    out: Path | None = typer.Option(None, help="Write to this file instead of standard output (needed for pdf)."),
) -> None:
    """The result or the type-evaluation report of a run, regenerated from its record."""
    from meterlab.records.store import Store
    from meterlab.reports.results import run_result

    formats = ("json", "html", "pdf", "csv", "dcc")
    if format not in formats:
        raise _fail(MeterlabError(f"--format {format}: use one of {', '.join(formats)}"))
    if format == "pdf" and out is None:
        raise _fail(MeterlabError("--format pdf writes a binary file: give --out PATH"))
    try:
        store = Store(db, must_exist=True)
        if store.run(run_id).procedure_id == FUZZ_PROCEDURE_ID:
            from meterlab.cli.fuzz import campaign_report

            text = campaign_report(store, run_id, format)
            if isinstance(text, bytes):  # the PDF (--out is required for it, checked above)
                out.write_bytes(text)
                console.print(f"report of campaign {run_id} written to {out}")
                return
        elif format == "json":
            text = json.dumps(run_result(store, run_id), indent=2, ensure_ascii=False, default=str) + "\n"
        else:
            from meterlab.reports import document

            store.run(run_id)
            if format == "pdf":
                out.write_bytes(document.render_pdf(store, run_id))
                console.print(f"report of run {run_id} written to {out}")
                return
            if format == "dcc":
                from meterlab.reports.dcc import run_dcc

                text = run_dcc(store, run_id)
            else:
                text = document.render_html(store, run_id) if format == "html" else document.render_csv(store, run_id)
    except MeterlabError as exc:
        raise _fail(exc) from None
    if out:
        out.write_text(text, encoding="utf-8")
    else:
        typer.echo(text, nl=False)
