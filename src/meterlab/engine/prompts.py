"""Operator prompts: the runner asks through a Prompter; the command line implements one now.

Every question and answer is recorded in the run's journal by the runner, with who answered.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Callable, Protocol

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from meterlab.engine.control import AbortRequested, RunControl

YES, NO = ("y", "yes"), ("n", "no")


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


def limits(question: Question) -> str:
    """The question's range as typed for people: "0 .. 100", "≥ 0", "≤ 5" or "" (none)."""
    low, high = question.minimum, question.maximum
    if low is not None and high is not None:
        return f"{low:g} .. {high:g}"
    if low is not None:
        return f"≥ {low:g}"
    return f"≤ {high:g}" if high is not None else ""


def accepted(question: Question) -> str:
    """What the operator may type, as shown with the question."""
    if question.value_name is None:
        return "[y/n] (default y)"
    unit = f" in {question.unit}" if question.unit else ""
    span = f", {limits(question)}" if limits(question) else ""
    return f"[number{unit}{span}] (no default)"


def parse_confirm(text: str) -> bool | None:
    """y/yes or an empty line (the default) confirm, n/no declines; anything else is not an answer (None)."""
    word = text.strip().lower()
    if word in ("", *YES):
        return True
    return False if word in NO else None


def parse_value(text: str, question: Question) -> tuple[float | None, str | None]:
    """(value, None) for a number within the question's limits, optionally followed by its unit; else
    (None, why it was refused)."""
    number = text.strip()
    unit = question.unit or ""
    if unit and number.lower().endswith(unit.lower()):
        number = number[: -len(unit)].strip()
    try:
        value = float(number)
    except ValueError:
        return None, f"{text.strip()!r} is not a number{f' in {unit}' if unit else ''}"
    if value != value or value in (float("inf"), float("-inf")):
        return None, f"{text.strip()!r} is not a finite number"
    if (question.minimum is not None and value < question.minimum) or \
            (question.maximum is not None and value > question.maximum):
        return None, f"{value:g} is outside {limits(question)}{f' {unit}' if unit else ''}"
    return value, None


class ConsolePrompter:
    """Asks at the terminal and accepts only a valid answer. `aside` (from the command line) makes a live
    display step aside while the question waits, so the question stays on screen."""

    def __init__(self, operator: str, console: Console | None = None,
                 aside: Callable[[], AbstractContextManager] = nullcontext):
        self.operator = operator
        self.console = console or Console()
        self.aside = aside

    def ask(self, question: Question) -> Answer:
        who = f" [{question.meter_serial}]" if question.meter_serial else ""
        name = "" if question.value_name is None else f" {question.value_name}"
        text = f"[bold cyan]{escape(question.text + who)}[/]{escape(name)} {'— done? ' if not name else ''}" \
               f"{escape(accepted(question))}: "
        with self.aside():
            while True:
                typed = self.console.input(Text.from_markup(text))  # a Text: not "highlighted" as a repr
                answer = self._answer(typed, question)
                if answer is not None:
                    return answer

    def _answer(self, typed: str, question: Question) -> Answer | None:
        if question.value_name is None:
            ok = parse_confirm(typed)
            if ok is None:
                self.console.print(f"[red]answer y or n, not {escape(repr(typed.strip()))}[/]")
                return None
            return Answer(ok, None, self.operator)
        value, why = parse_value(typed, question)
        if why is not None:
            self.console.print(f"[red]{escape(why)}; type it again[/]")
            return None
        return Answer(True, value, self.operator)


class HandOffPrompter:
    """The runner's thread asks, another thread (the terminal's, which alone reads the keyboard) answers:
    `pending` shows the waiting question, `answer` releases it. An abort withdraws the question."""

    def __init__(self, control: RunControl):
        self.control = control
        self._lock = threading.Lock()
        self._question: Question | None = None
        self._answer: Answer | None = None
        self._answered = threading.Event()

    def ask(self, question: Question) -> Answer:
        with self._lock:
            self._question, self._answer = question, None
            self._answered.clear()
        try:
            while not self._answered.wait(0.1):
                if self.control.abort_requested:
                    raise AbortRequested(f"abort requested by the operator while asking: {question.text}")
        finally:
            with self._lock:
                self._question = None
        return self._answer

    def pending(self) -> Question | None:
        with self._lock:
            return self._question

    def answer(self, question: Question, answer: Answer) -> None:
        with self._lock:
            if self._question is question:  # not withdrawn meanwhile
                self._answer = answer
                self._answered.set()


class AutoPrompter:
    """Unattended runs (simulated lab, CI): confirms every prompt; values come from a supplier if any."""

    def __init__(self, values: dict[str, float] | None = None):
        self.values = values or {}

    def ask(self, question: Question) -> Answer:
        value = self.values.get(question.value_name) if question.value_name else None
        return Answer(True, value, "auto")
