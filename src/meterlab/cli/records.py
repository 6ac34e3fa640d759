"""`meterlab records ...`: find runs, show them, prove their integrity, sign them off."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from meterlab.errors import MeterlabError
from meterlab.records.keys import KEY_FILE_ENV, Keyring
from meterlab.records.store import DEFAULT_URL, Store

records_app = typer.Typer(help="Archived runs: list, show, verify integrity, anchor, approve.", no_args_is_help=True)
console = Console() if sys.stdout.isatty() else Console(width=140)


def open_store(db: str, *, create: bool = False) -> Store:
    """An existing records database (a mistyped path is an error, never a new empty database, unless `create`)."""
    try:
        return Store(db, must_exist=not create)
    except MeterlabError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


def read_password(from_stdin: bool, *, confirm: bool = False) -> str:
    """The password typed at a hidden prompt, or one line of standard input (scripts)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("password", hide_input=True, confirmation_prompt=confirm)


def _anchor(text: str, where: str) -> tuple[int, str]:
    seq, _, digest = text.strip().partition(":")
    if not (seq.isdigit() and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
        console.print(f"[red]{where}: {text.strip()!r} is not an anchor; write SEQ:HASH as `records anchor` prints "
                      f"it (e.g. 42:9f2c…, the hash in 64 hex digits)[/]")
        raise typer.Exit(2)
    return int(seq), digest


def _anchors(expect: list[str], anchors_file: Path | None) -> list[tuple[int, str]]:
    found = [_anchor(text, "--expect") for text in expect]
    if anchors_file is not None:
        if not anchors_file.is_file():
            console.print(f"[red]--anchors {anchors_file}: no such file[/]")
            raise typer.Exit(2)
        for number, line in enumerate(anchors_file.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                found.append(_anchor(line.split()[0], f"{anchors_file}, line {number}"))
    return found


@records_app.command()
def verify(
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
    expect: list[str] = typer.Option([], "--expect", metavar="SEQ:HASH",
                                     help="A head printed earlier (on a report, by `records anchor`): the chain "
                                          "must still hold it. Repeatable."),
    anchors: Path | None = typer.Option(None, help="An anchor file written by `records anchor --append`."),
    key_file: Path | None = typer.Option(None, help=f"The records key file (default ${KEY_FILE_ENV}, else "
                                                    "~/.config/meterlab/records.key)."),
) -> None:
    """Check every entry's hash, link and authentication by the laboratory's key, every run's registration and
    the anchors given; exit 1 naming the first problem of each kind."""
    store = open_store(db)
    expected = _anchors(expect, anchors)
    try:
        keyring = Keyring.load(key_file) if key_file else None
    except MeterlabError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    problems = store.verify(keyring=keyring, expect=expected)
    seq, head = store.head()
    if problems:
        console.print(f"[red bold]{len(problems)} kind(s) of problem in {store.url}[/]")
        for problem in problems:
            console.print(f"  [red]{problem}[/]")
        raise typer.Exit(1)
    anchored = f", {len(expected)} anchor(s) held" if expected else " (no anchor given: a rollback to an older copy " \
               "needs --expect or --anchors to be found)"
    console.print(f"[green]intact[/]: {seq} entries authenticated, chain head {seq}:{head}{anchored}")


@records_app.command()
def anchor(
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
    append: Path | None = typer.Option(None, help="Also append the anchor, with the time and the database, to this "
                                                  "file (keep it where the database's writers cannot change it)."),
) -> None:
    """Print the chain's head as SEQ:HASH, for `records verify --expect` or an anchor file."""
    store = open_store(db)
    seq, head = store.head()
    line = f"{seq}:{head}"
    if append is not None:
        append.parent.mkdir(parents=True, exist_ok=True)
        with append.open("a", encoding="utf-8") as handle:
            handle.write(f"{line}  {datetime.now(timezone.utc).isoformat(timespec='seconds')}  {store.url}\n")
    console.print(line, soft_wrap=True)


@records_app.command("rotate-key")
def rotate_key(db: str = typer.Option(DEFAULT_URL, help="Records database.")) -> None:
    """Put a new records key in the key file and record the rotation in the chain (authenticated by the old key)."""
    store = open_store(db)
    entry = store.rotate_key()
    console.print(f"records key {entry.payload['from']} -> {entry.payload['to']}; rotation recorded as entry "
                  f"{entry.seq}; {store.keyring.path} holds both (keep a copy with QA)")


@records_app.command("list")
def list_runs(
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
    meter: str | None = typer.Option(None, help="Only runs that tested this meter serial."),
    procedure: str | None = typer.Option(None, help="Only runs of this procedure id."),
    since: str | None = typer.Option(None, help="Only runs created on or after this date (YYYY-MM-DD)."),
) -> None:
    """The runs of the database, newest last, with their state and verdict."""
    from meterlab.reports.results import run_result

    store = open_store(db)
    try:
        since_day = date.fromisoformat(since) if since else None
    except ValueError:
        console.print(f"[red]--since {since!r} is not a date; write it as YYYY-MM-DD[/]")
        raise typer.Exit(2) from None
    table = Table(title=f"runs in {store.url}", title_justify="left")
    for column in ("run", "created (UTC)", "procedure", "meters", "operator", "state", "verdict"):
        table.add_column(column)
    for run in store.runs():
        serials = json.loads(run.meters)
        if meter and meter not in serials or procedure and run.procedure_id != procedure:
            continue
        if since_day and date.fromisoformat(run.created_at[:10]) < since_day:
            continue
        result = run_result(store, run.id)
        table.add_row(run.id, run.created_at[:19], run.procedure_id, ", ".join(serials), run.operator,
                      result["state"], result["verdict"])
    console.print(table)


@records_app.command()
def show(run_id: str = typer.Argument(..., help="The run."), db: str = typer.Option(DEFAULT_URL, help="Records database.")) -> None:
    """A run's header, its results table, checks, overrides and sign-offs."""
    from meterlab.cli.console import print_result
    from meterlab.reports.results import run_result

    store = open_store(db)
    try:
        result = run_result(store, run_id)
    except MeterlabError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    header = next(store.entries(run_id)).payload
    console.print(f"[bold]{result['procedure']['title']}[/] ({result['procedure']['clause']})")
    console.print(f"procedure {result['procedure']['id']} sha256 {result['procedure']['sha256']}; software "
                  f"{result['software_version']}; operator {result['operator']}; created {result['created_at']}")
    for standard in header.get("calibration", {}).values():
        what = "equipment" if standard.get("kind") == "verification" else "standard"
        # the simulated lab's dates are not enforced: its status on the day would read 'expired' for no reason
        status = "simulated laboratory" if standard.get("simulated") else standard["status"]
        console.print(f"  {what} {standard['id']}: certificate {standard['certificate']} "
                      f"({standard['laboratory']}), due {standard['due_date']}, {status}")
    if result.get("calibration_override"):
        console.print(f"[yellow]calibration override: {result['calibration_override']['reason']}[/]")
    print_result(console, result)
    for approval in store.entries(run_id, kinds=["approval"]):
        a = approval.payload
        console.print(f"approved by {a['by']} ({a['role']}) at {approval.created_at}: {a.get('comment') or ''}")


@records_app.command()
def approve(
    run_id: str = typer.Argument(..., help="The run to sign off."),
    by: str = typer.Option(..., help="Who signs: a user (`meterlab users add`), asked for their password."),
    role: str = typer.Option(..., help="metrologist (technical review) or qa (release)."),
    comment: str = typer.Option("", help="What was reviewed, or reservations."),
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
    password_stdin: bool = typer.Option(False, help="Read the password from standard input instead of a prompt."),
) -> None:
    """Sign a run off as an authenticated user, in the order and with the separation of duties the laboratory's
    policy sets (the run's report is a DRAFT until every sign-off it asks for is recorded)."""
    from meterlab.records.people import authenticate, missing_sign_offs, sign_off

    if role not in ("metrologist", "qa"):
        console.print(f"[red]--role {role!r}: use metrologist or qa[/]")
        raise typer.Exit(2)
    store = open_store(db)
    try:
        store.run(run_id)
        user = authenticate(store, by, read_password(password_stdin))
        entry = sign_off(store, run_id, user, role, comment)
    except MeterlabError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    missing = missing_sign_offs(store, run_id)
    status = f"still needs: {', '.join(missing)}" if missing else "released: every sign-off the policy asks for"
    console.print(f"run {run_id} signed off by {by} ({role}); entry {entry.seq}, hash {entry.hash}")
    console.print(status)


@records_app.command()
def history(
    meter: str | None = typer.Option(None, help="A sample's serial: its runs and recorded events."),
    standard: str | None = typer.Option(None, help="A reference standard's id: the runs that used it."),
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
) -> None:
    """A sample's history (runs, repairs, replacements, remarks) or a reference standard's uses, in order."""
    from meterlab.records.history import sample_history, standard_history

    if (meter is None) == (standard is None):
        console.print("[red]give --meter SERIAL or --standard ID[/]")
        raise typer.Exit(2)
    store = open_store(db)
    if meter is not None:
        table = Table(title=f"history of sample {meter}", title_justify="left")
        for column in ("when (UTC)", "what", "run", "programme", "detail", "by"):
            table.add_column(column)
        for row in sample_history(store, meter):
            table.add_row(row["at"][:19], row["what"], row["run"] or "—", row["procedure"] or "—", row["detail"],
                          row["by"])
    else:
        table = Table(title=f"uses of standard {standard}", title_justify="left")
        for column in ("when (UTC)", "run", "programme", "certificate", "due", "status at the start"):
            table.add_column(column)
        for row in standard_history(store, standard):
            table.add_row(row["at"][:19], row["run"], row["procedure"], row["certificate"], row["due_date"],
                          row["status"])
    if not table.row_count:
        console.print(f"[yellow]nothing recorded for {meter or standard} in {store.url}[/]")
        raise typer.Exit(1)
    console.print(table)


@records_app.command("sample-event")
def sample_event(
    serial: str = typer.Argument(..., help="The sample."),
    event: str = typer.Option(..., help="repair, replacement or remark."),
    text: str = typer.Option(..., help="What was done or seen."),
    by: str = typer.Option(..., help="Who records it: a user, asked for their password."),
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
    password_stdin: bool = typer.Option(False, help="Read the password from standard input instead of a prompt."),
) -> None:
    """Record a repair, a replacement or a remark against a sample (its history shows it among its runs)."""
    from meterlab.records.history import record_sample_event
    from meterlab.records.people import authenticate

    store = open_store(db)
    try:
        entry = record_sample_event(store, serial, event, text, authenticate(store, by, read_password(password_stdin)))
    except MeterlabError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    console.print(f"{event} of {serial} recorded by {by}; entry {entry.seq}")


@records_app.command()
def nonconformity(
    finding: str | None = typer.Option(None, help="Record a finding: what was found."),
    run: str | None = typer.Option(None, help="The run the finding is against."),
    standard: str | None = typer.Option(None, help="Or the reference standard it is against."),
    dispose: str | None = typer.Option(None, metavar="NC-ID", help="Record the disposition of this nonconformity."),
    disposition: str = typer.Option("", help="What was done, and whether the results stand."),
    by: str | None = typer.Option(None, help="Who records it: a user, asked for their password."),
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
    password_stdin: bool = typer.Option(False, help="Read the password from standard input instead of a prompt."),
) -> None:
    """Record a nonconformity (--finding with --run or --standard), its disposition (--dispose NC-ID
    --disposition), or, with neither, list them all."""
    from meterlab.records import nonconformities
    from meterlab.records.people import authenticate

    store = open_store(db)
    if finding is None and dispose is None:
        table = Table(title=f"nonconformities in {store.url}", title_justify="left")
        for column in ("id", "found (UTC)", "against", "finding", "by", "disposition"):
            table.add_column(column)
        for n in nonconformities.listed(store):
            against = f"run {n['run']}" if n["run"] else f"standard {n['standard']}"
            table.add_row(n["id"], n["at"][:19], against, n["finding"], n["by"],
                          f"{n['disposition']} ({n['disposed_by']})" if n["disposition"] else "OPEN")
        console.print(table)
        return
    if by is None:
        console.print("[red]--by NAME: who records it[/]")
        raise typer.Exit(2)
    try:
        user = authenticate(store, by, read_password(password_stdin))
        entry = (nonconformities.record(store, user, finding, run_id=run, standard=standard) if finding is not None
                 else nonconformities.dispose(store, user, dispose, disposition))
    except MeterlabError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    console.print(f"{entry.payload['id']}: {'recorded' if finding is not None else 'disposed of'} by {by}; "
                  f"entry {entry.seq}")


@records_app.command("mc")
def monte_carlo_check(
    run_id: str = typer.Argument(..., help="The run."),
    point: str = typer.Argument(..., help="The measurement: NAME#REPEAT (Q3#2), or its action key (1[Q3]/2/r2)."),
    meter: str | None = typer.Option(None, help="Meter serial (default: the first in series)."),
    trials: int = typer.Option(200_000, help="Monte Carlo trials M."),
    seed: int = typer.Option(1, help="Seed of the draws (the same seed reproduces the result)."),
    digits: int = typer.Option(2, help="Significant digits of u that fix the numerical tolerance δ (JCGM 101 §7.9)."),
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
    calibration_dir: str = typer.Option("calibration", help="Folder of certificates (those the run used)."),
) -> None:
    """Validate a recorded point's GUM uncertainty by Monte Carlo (JCGM 101 §8): both intervals and whether they
    agree within δ. The point's model is rebuilt from the record and the run's certificates."""
    from meterlab.calibration.register import Register
    from meterlab.engine.mc_validation import validate_point

    store = open_store(db)
    try:
        v = validate_point(store, run_id, point, register=Register.load(calibration_dir), serial=meter,
                           trials=trials, seed=seed, significant_digits=digits)
    except MeterlabError as exc:
        console.print(str(exc), style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    gum, mc = v.gum, v.mc
    table = Table(title=f"run {run_id}, {v.point} #{v.repeat} ({v.action}), meter {v.meter_serial}: E in %",
                  title_justify="left")
    for column in ("", "E", "u", f"{gum.coverage_pct:g} % interval", "k"):
        table.add_column(column, justify="left" if not column else "right")
    table.add_row("recorded", f"{v.recorded_error_pct:+.4f}", "", f"± {v.recorded_U_pct:.4f}", "")
    table.add_row("GUM (rebuilt)", f"{gum.value:+.4f}", f"{gum.u:.4f}",
                  f"[{gum.value - gum.U:+.4f}, {gum.value + gum.U:+.4f}]", f"{gum.k:.3g}")
    table.add_row(f"Monte Carlo (M = {mc.trials}, seed {mc.seed})", f"{mc.value:+.4f}", f"{mc.u:.4f}",
                  f"[{mc.shortest_low:+.4f}, {mc.shortest_high:+.4f}] shortest", "")
    console.print(table)
    verdict = "[green]agree[/]" if v.agree else "[yellow]do not agree[/]"
    console.print(f"GUM and Monte Carlo {verdict} within δ = {v.delta:g} % (|d_low| = {v.d_low:.4f}, "
                  f"|d_high| = {v.d_high:.4f}; JCGM 101 §8, δ from u to {digits} significant digit(s))")


@records_app.command()
def compare(
    first: str = typer.Argument(..., help="A run, e.g. before durability."),
    second: str = typer.Argument(..., help="Another run, e.g. after durability."),
    out: str = typer.Option(..., help="PNG file to write the figure to."),
    meter: str | None = typer.Option(None, help="Only this meter serial."),
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
) -> None:
    """The error curves of two runs in one figure (error vs flowrate, U as error bars, MPE envelope)."""
    from pathlib import Path

    from meterlab.reports.comparison import comparison_png

    store = open_store(db)
    try:
        png, count = comparison_png(store, first, second, meter)
    except MeterlabError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    Path(out).write_bytes(png)
    console.print(f"figure written to {out} ({count} points)")


