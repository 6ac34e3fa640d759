"""Console view of a run: a progress bar over the plan's actions, the current action, live messages
(suspensions, state changes), then the table of results."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from meterlab.engine.events import Event
from meterlab.metrology.decision import Outcome
from meterlab.metrology.rounding import rounded

VERDICT_STYLE = {"pass": "green", "conditional pass": "cyan", "inconclusive": "yellow",
                 "uncertainty too large": "magenta", "conditional fail": "dark_orange", "fail": "red",
                 "aborted": "red", "error": "red"}


class ConsoleProgress:
    """An event listener that drives a Rich progress bar and its live line (point, flow against the point's
    window, water temperature, pressure, the reference's progress, the rig time left)."""

    def __init__(self, console: Console, total: int, done: int = 0, rig_seconds: dict[str, float] | None = None):
        self.console = console
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=False)
        self.task = self.progress.add_task("starting", total=total, completed=done)
        self.action = "starting"
        self.point: dict | None = None
        self.live: dict[str, str] = {}
        self.rig_seconds = dict(rig_seconds or {})  # action key -> estimated rig seconds, until it is done
        self._lock = threading.Lock()
        self._held: list[str] | None = None  # what the run printed while the display stood aside

    def __enter__(self) -> ConsoleProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    @contextmanager
    def aside(self) -> Iterator[None]:
        """The live display steps aside while the operator is asked something: a redrawn bar would overwrite
        the question. What the run prints meanwhile is shown afterwards, below the answer."""
        with self._lock:
            self.progress.stop()
            self._held = []
        try:
            yield
        finally:
            with self._lock:
                held, self._held = self._held, None
                for text in held:
                    self.console.print(text)
                self.progress.start()

    def _print(self, text: str) -> None:
        with self._lock:
            if self._held is not None:
                self._held.append(text)
            else:
                self.console.print(text)

    def __call__(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            handler(event)

    def _on_action_started(self, event: Event) -> None:
        self.action, self.point = event.data["label"], event.data.get("point")
        self.live.pop("collected", None)
        self._show()

    def _on_conditions(self, event: Event) -> None:
        data = event.data
        if data.get("flowrate_m3h") is not None:
            self.live["flow"] = f"Q {data['flowrate_m3h']:.4g} m³/h{_window(self.point)}"
        if data.get("water_temperature_c") is not None:
            self.live["temperature"] = f"water {data['water_temperature_c']:.2f} °C"
        self._show()

    def _on_collected(self, event: Event) -> None:
        data = event.data
        self.live["collected"] = f"ref {data['collected']:.4g}/{data['target']:.4g} {data['unit']}"
        self._show()

    def _on_action_done(self, event: Event) -> None:
        data = event.data
        self.progress.advance(self.task)
        self.rig_seconds.pop(data.get("key"), None)
        self.live.pop("collected", None)
        pressure_pa = (data.get("conditions") or {}).get("water_pressure_pa")
        if pressure_pa is not None:  # read at each measurement's end, not polled: the last one is shown
            self.live["pressure"] = f"p {pressure_pa / 1e3:.1f} kPa"
        self._show()
        if data.get("kind") == "measurement":
            for row in data.get("meters", []):
                style = VERDICT_STYLE.get(row["outcome"], "white")
                error, expanded = rounded(row["error_pct"], row["U_pct"], signed=True)
                self._print(f"  {row['meter_serial']:>16}  {data['point']['name']:>12} #{data['repeat']}  "
                            f"Q {data['flowrate_m3h']:.4g} m³/h  E {error} %  "
                            f"U {expanded} %  MPE ±{row['mpe_pct']:g} %  [{style}]{row['outcome']}[/]"
                            f"{beside_text(row.get('uncertainty_too_large'), row['outcome'])}")

    def _on_suspended(self, event: Event) -> None:
        self._print(f"[yellow]suspended[/] {event.data['key']}: {event.data['reason']}")

    def _on_outside_window(self, event: Event) -> None:
        data = event.data
        self._print(f"[yellow]outside its window[/] {data['point']} (measurement {data['attempt']}): "
                    f"Q {data['flowrate_m3h']:.4g} m³/h, window {data['low_m3h']:.4g}–{data['high_m3h']:.4g}: "
                    + ("flow trimmed, measuring again" if data["attempt"] < data["of"] else "the run stops"))

    def _on_instrument_fault(self, event: Event) -> None:
        data = event.data
        then = "reconnecting, then again" if data["attempt"] < data["of"] else "the run stops"
        self._print(f"[yellow]instrument fault[/] ({data['kind']}, attempt {data['attempt']} of {data['of']}) "
                    f"{escape(data['message'])}: {then}")

    def _on_resumed(self, event: Event) -> None:
        self._print(f"[green]conditions restored[/], retrying {event.data['key']}")

    def _on_state(self, event: Event) -> None:
        data = event.data
        why = data.get("error") or data.get("reason")
        self._print(f"[bold]run {event.run_id}: {data['state']}[/]" + (f" — {why}" if why else ""))
        if data["state"] == "paused":
            self.progress.update(self.task, description=f"paused at {self.action} (Ctrl-C, then r to resume)")
        elif data["state"] == "running":
            self._show()

    def _on_message(self, event: Event) -> None:
        self._print(f"[dim]{event.data['text']}[/]")

    def _show(self) -> None:
        fields = [self.live[k] for k in ("flow", "temperature", "pressure", "collected") if k in self.live]
        if self.rig_seconds:
            fields.append(f"rig time left ≈ {_hms(sum(self.rig_seconds.values()))}")
        self.progress.update(self.task, description=f"{self.action}  [dim]{'  '.join(fields)}[/]")


def _window(point: dict | None) -> str:
    """The flow window of the point being worked at, next to the measured flow."""
    if not point or point.get("low_m3h") is None:
        return ""
    return f" (window {point['low_m3h']:.4g}–{point['high_m3h']:.4g})"


def _hms(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def beside_text(too_large: bool | None, outcome: str) -> str:
    """'uncertainty too large' beside an outcome that is not itself that (a demonstrated fail)."""
    label = Outcome.UNCERTAINTY_TOO_LARGE.label
    return f" [{VERDICT_STYLE[label]}]({label})[/]" if too_large and outcome != label else ""


# shown in their own columns (meter, deciding point) or only for the record
NOT_DETAILS = {"meter_serial", "action", "step_label", "variant", "value", "unit", "limit", "U"}


def details_text(details: dict) -> str:
    """The numbers of a check on one line, a measured quantity first (value ± U against its limit); its specific
    risk in words, its budget and intervals left out."""
    head = []
    if isinstance(details.get("value"), float | int) and "unit" in details:
        expanded = f" ± {details['U']:.2g}" if isinstance(details.get("U"), float | int) else ""
        limit = f" (limit {details['limit']:g} {details['unit']})" if isinstance(details.get("limit"), float | int) else ""
        head = [f"{details['value']:.4g}{expanded} {details['unit']}{limit}"]
    text = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in details.items()
            if not isinstance(v, (dict, list)) and (not head or k not in NOT_DETAILS) and k != "meter_serial"]
    risk = details.get("specific_risk")
    return ", ".join(head + text + ([f"risk of {risk['kind']} {risk['probability']:.2%}"] if risk else []))


def results_table(result: dict) -> Table:
    """The table of points of a run result (meter, point, flowrate, error, U, MPE, verdict)."""
    table = Table(title=f"run {result['id']} — {result['procedure']['id']} — verdict: {result['verdict']}",
                  title_justify="left")
    for col in ("meter", "point", "Q m³/h", "V_ref L", "V_i L", "E %", "U % (k)", "MPE %", "verdict"):
        table.add_column(col, justify="left" if col in ("meter", "point", "verdict") else "right")
    for test in result["tests"]:
        for p in test["points"]:
            style = VERDICT_STYLE.get(p["verdict"], "white")
            error, expanded = rounded(p["error_pct"], p["U_pct"], signed=True)  # GUM 7.2.6, for people
            table.add_row(p["meter_serial"], p["label"], f"{p['flowrate_m3h']:.4g}", f"{p['reference_volume_l']:.3f}",
                          f"{p['indicated_volume_l']:.3f}", error, f"{expanded} ({p['k']:g})",
                          f"±{p['mpe_pct']:g}",
                          f"[{style}]{p['verdict']}[/]{beside_text(p.get('uncertainty_too_large'), p['verdict'])}")
    return table


def print_result(console: Any, result: dict) -> None:
    """The points' table (if the run measured errors of indication: a safety run has none) and the checks'."""
    if any(test["points"] for test in result["tests"]):
        console.print(results_table(result))
    checks = checks_table(result)
    if checks is not None:
        console.print(checks)


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
