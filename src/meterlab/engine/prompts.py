"""Operator prompts: the runner asks through a Prompter; the command line implements one now.

Every question and answer is recorded in the run's journal by the runner, with who answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rich.console import Console
from rich.prompt import Confirm, FloatPrompt


@dataclass(frozen=True)
class Question:
    text: str
    value_name: str | None = None
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    meter_serial: str | None = None


@dataclass(frozen=True)
class Answer:
    confirmed: bool
    value: float | None
    answered_by: str          # operator name, or "auto" for unattended runs


class Prompter(Protocol):
    def ask(self, question: Question) -> Answer: ...


class ConsolePrompter:
    """Asks at the terminal; refuses values outside the question's limits until a valid one is typed."""

    def __init__(self, operator: str, console: Console | None = None):
        self.operator = operator
        self.console = console or Console()

    def ask(self, question: Question) -> Answer:
        who = f" [{question.meter_serial}]" if question.meter_serial else ""
        if question.value_name is None:
            ok = Confirm.ask(f"[bold cyan]{question.text}{who}[/] — done?", console=self.console, default=True)
            return Answer(ok, None, self.operator)
        while True:
            unit = f" ({question.unit})" if question.unit else ""
            value = FloatPrompt.ask(f"[bold cyan]{question.text}{who}[/] {question.value_name}{unit}", console=self.console)
            if (question.minimum is None or value >= question.minimum) and (question.maximum is None or value <= question.maximum):
                return Answer(True, value, self.operator)
            self.console.print(f"[red]{value} is outside {question.minimum} .. {question.maximum}; type it again[/]")


class AutoPrompter:
    """Unattended runs (simulated lab, CI): confirms every prompt; values come from a supplier if any."""

    def __init__(self, values: dict[str, float] | None = None):
        self.values = values or {}

    def ask(self, question: Question) -> Answer:
        value = self.values.get(question.value_name) if question.value_name else None
        return Answer(True, value, "auto")
