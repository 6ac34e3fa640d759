"""Console view of a run: a progress bar over the plan's actions, the current action, live messages
(suspensions, state changes), then the table of results."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from meterlab.engine.events import Event
from meterlab.metrology.decision import Outcome

VERDICT_STYLE = {"pass": "green", "conditional pass": "cyan", "inconclusive": "yellow",
                 "uncertainty too large": "magenta", "conditional fail": "dark_orange", "fail": "red",
                 "aborted": "red", "error": "red"}


class ConsoleProgress:
    """An event listener that drives a Rich progress bar."""

    def __init__(self, console: Console, total: int, done: int = 0):
        self.console = console
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=False)
        self.task = self.progress.add_task("starting", total=total, completed=done)
        self.action = "starting"

    def __enter__(self) -> ConsoleProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def __call__(self, event: Event) -> None:
        data = event.data
        if event.kind == "action_started":
            self.action = data["label"]
            self.progress.update(self.task, description=self.action)
        elif event.kind == "conditions":
            live = [f"Q {data['flowrate_m3h']:.4g} m³/h" if data.get("flowrate_m3h") is not None else "",
                    f"water {data['water_temperature_c']:.2f} °C" if data.get("water_temperature_c") is not None else ""]
            self.progress.update(self.task, description=f"{self.action}  [dim]{'  '.join(x for x in live if x)}[/]")
        elif event.kind == "action_done":
            self.progress.advance(self.task)
            if data.get("kind") == "measurement":
                for row in data.get("meters", []):
                    style = VERDICT_STYLE.get(row["outcome"], "white")
                    self.console.print(f"  {row['meter_serial']:>16}  {data['point']['name']:>12} #{data['repeat']}  "
                                       f"Q {data['flowrate_m3h']:.4g} m³/h  E {row['error_pct']:+.3f} %  "
                                       f"U {row['U_pct']:.3f} %  MPE ±{row['mpe_pct']:g} %  [{style}]{row['outcome']}[/]"
                                       f"{beside_text(row.get('uncertainty_too_large'), row['outcome'])}")
        elif event.kind == "suspended":
            self.console.print(f"[yellow]suspended[/] {data['key']}: {data['reason']}")
        elif event.kind == "resumed":
            self.console.print(f"[green]conditions restored[/], retrying {data['key']}")
        elif event.kind == "state":
            self.console.print(f"[bold]run {event.run_id}: {data['state']}[/]"
                               + (f" — {data.get('error') or data.get('reason')}" if data.get("error") or data.get("reason") else ""))
        elif event.kind == "message":
            self.console.print(f"[dim]{data['text']}[/]")


def beside_text(too_large: bool | None, outcome: str) -> str:
    """'uncertainty too large' beside an outcome that is not itself that (a demonstrated fail)."""
    label = Outcome.UNCERTAINTY_TOO_LARGE.label
    return f" [{VERDICT_STYLE[label]}]({label})[/]" if too_large and outcome != label else ""


def details_text(details: dict) -> str:
    """The numbers of a check on one line; its specific risk in words, its budget and intervals left out."""
    text = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in details.items()
            if not isinstance(v, (dict, list))]
    risk = details.get("specific_risk")
    return ", ".join(text + ([f"risk of {risk['kind']} {risk['probability']:.2%}"] if risk else []))


def results_table(result: dict) -> Table:
    """The table of points of a run result (meter, point, flowrate, error, U, MPE, verdict)."""
    table = Table(title=f"run {result['id']} — {result['procedure']['id']} — verdict: {result['verdict']}",
                  title_justify="left")
    for col in ("meter", "point", "Q m³/h", "V_ref L", "V_i L", "E %", "U % (k)", "MPE %", "verdict"):
        table.add_column(col, justify="left" if col in ("meter", "point", "verdict") else "right")
    for test in result["tests"]:
        for p in test["points"]:
            style = VERDICT_STYLE.get(p["verdict"], "white")
            table.add_row(p["meter_serial"], p["label"], f"{p['flowrate_m3h']:.4g}", f"{p['reference_volume_l']:.3f}",
                          f"{p['indicated_volume_l']:.3f}", f"{p['error_pct']:+.3f}", f"{p['U_pct']:.3f} ({p['k']:.2f})",
                          f"±{p['mpe_pct']:g}",
                          f"[{style}]{p['verdict']}[/]{beside_text(p.get('uncertainty_too_large'), p['verdict'])}")
    return table


def checks_table(result: dict) -> Table | None:
    """One row per meter and check: the worst outcome, and the numbers of the point that decided it."""
    checks = [c for t in result["tests"] for c in t["checks"]]
    if not checks:
        return None
    worst: dict[tuple[str, str], dict] = {}
    counts: dict[tuple[str, str], int] = {}
    for c in checks:
        key = (c["meter_serial"], c["check"])
        counts[key] = counts.get(key, 0) + 1
        if key not in worst or Outcome.from_label(c["outcome"]) > Outcome.from_label(worst[key]["outcome"]):
            worst[key] = c
    table = Table(title="checks (worst point of each)", title_justify="left")
    for col in ("meter", "check", "points", "outcome", "deciding point", "details"):
        table.add_column(col)
    for (serial, check), c in worst.items():
        details = details_text(c["details"])
        style = VERDICT_STYLE.get(c["outcome"], "white")
        table.add_row(serial, check, str(counts[(serial, check)]), f"[{style}]{c['outcome']}[/]", c.get("point") or "",
                      details)
    return table
