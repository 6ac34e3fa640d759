"""Run control at the terminal: Ctrl-C's menu, SIGTERM, and the operator's questions, all from the main thread.

The run itself goes on in a worker thread. The main thread never waits for it with `join` while a Ctrl-C can
arrive: in CPython 3.11 a KeyboardInterrupt inside `Thread.join` can mark a live thread as stopped, and the
process then ended under a running rig. Here the signal handlers only set flags; the main thread polls them
and the worker's "done" event, and alone reads the keyboard (the menu and the operator's prompts), so that two
threads never wait for the same line.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from meterlab.engine.control import RunControl
from meterlab.engine.prompts import ConsolePrompter, HandOffPrompter

POLL_S = 0.2
MENU = {"a": "abort", "p": "pause", "r": "resume", "c": "continue"}
MENU_TEXT = ("[a]bort to the safe state, [p]ause at the next safe point, [r]esume, [c]ontinue "
             "(default c; Ctrl-C here aborts)")


def menu_choice(typed: str) -> str | None:
    """The menu's action for what was typed: an empty line continues; anything unknown is None (ask again)."""
    word = typed.strip().lower()
    if not word:
        return "continue"
    return next((action for key, action in MENU.items() if word in (key, action)), None)


class Signals:
    """Flags set by the SIGINT and SIGTERM handlers. While the terminal waits for a line, the handlers also
    raise KeyboardInterrupt, because `input()` would otherwise go on waiting after the signal."""

    def __init__(self) -> None:
        self.interrupted = False
        self.terminated = False
        self.asking = False

    def on_sigint(self, *_: Any) -> None:
        self.interrupted = True
        if self.asking:
            raise KeyboardInterrupt

    def on_sigterm(self, *_: Any) -> None:
        self.terminated = True
        if self.asking:
            raise KeyboardInterrupt

    @contextmanager
    def installed(self) -> Iterator[None]:
        previous = signal.signal(signal.SIGINT, self.on_sigint), signal.signal(signal.SIGTERM, self.on_sigterm)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])

    @contextmanager
    def asking_line(self) -> Iterator[None]:
        self.asking = True
        try:
            yield
        finally:
            self.asking = False


class RunTerminal:
    """Watches a running run from the main thread: opens the menu on Ctrl-C, aborts on SIGTERM (and on
    Ctrl-C without a terminal), and answers the operator's questions the worker hands over."""

    def __init__(self, control: RunControl, record: Callable[[dict], None], console: Console, *,
                 interactive: bool, handoff: HandOffPrompter | None = None, prompter: ConsolePrompter | None = None,
                 aside: Callable[[], Any]):
        self.control, self.record, self.console = control, record, console
        self.interactive, self.handoff, self.prompter, self.aside = interactive, handoff, prompter, aside
        self.signals = Signals()

    def watch(self, worker: threading.Thread, done: threading.Event) -> None:
        """Until the worker is done. Whatever goes wrong here, the run is aborted to its safe state and waited
        for: the process never ends under a running rig."""
        with self.signals.installed():
            try:
                while not done.wait(POLL_S):
                    self._step()
            except BaseException:
                self.control.abort()
                done.wait()
                raise
            finally:
                worker.join()  # done is set: the worker is finishing, no signal can cut this short

    def _step(self) -> None:
        if self.signals.terminated:
            self.signals.terminated = False
            if not self.control.abort_requested:
                self._abort("SIGTERM")
        elif self.signals.interrupted:
            self.signals.interrupted = False
            self._on_ctrl_c()
        elif self.handoff is not None and not self.control.abort_requested:
            self._answer_question()

    def _on_ctrl_c(self) -> None:
        if self.control.abort_requested:
            self.console.print("[yellow]aborting: the bench is being brought to its safe state, please wait[/]")
        elif not self.interactive:
            self._abort("Ctrl-C")
        else:
            self._menu()

    def _menu(self) -> None:
        with self.aside():
            choice = self._ask_menu()
        # a SIGTERM while the menu is open also ends it in an abort; the record says which it was
        self.record({"action": choice, "via": "SIGTERM" if self.signals.terminated else "Ctrl-C"})
        {"abort": self._start_abort, "pause": self.control.pause, "resume": self.control.resume,
         "continue": lambda: None}[choice]()
        if choice == "pause":
            self.console.print("[yellow]pausing at the next safe point (between measurements); "
                               "Ctrl-C then r resumes[/]")

    def _ask_menu(self) -> str:
        """The operator's choice; a Ctrl-C (or the end of input) while the menu is open means abort."""
        while True:
            try:
                with self.signals.asking_line():
                    typed = self.console.input(Text(f"\n{MENU_TEXT}: ", style="bold"))
            except (KeyboardInterrupt, EOFError):
                self.signals.interrupted = False
                self.console.print("\n[red]menu interrupted: abort[/]")
                return "abort"
            choice = menu_choice(typed)
            if choice is not None:
                return choice
            self.console.print(f"[red]{escape(repr(typed.strip()))} is not one of a, p, r, c[/]")

    def _abort(self, via: str) -> None:
        self.record({"action": "abort", "via": via})
        self._start_abort()

    def _start_abort(self) -> None:
        self.console.print("[red]aborting: bringing the bench to its safe state[/]")
        self.control.abort()

    def _answer_question(self) -> None:
        """The worker's waiting question, asked here; a Ctrl-C while it waits opens the menu, then it is asked
        again (unless the run was aborted, which withdraws it)."""
        question = self.handoff.pending()
        if question is None:
            return
        try:
            with self.signals.asking_line():
                answer = self.prompter.ask(question)
        except KeyboardInterrupt:
            self.console.print()
            return  # the flag is set: the next step opens the menu (or aborts on SIGTERM)
        except EOFError:
            self._abort("end of input at a prompt")
            return
        self.handoff.answer(question, answer)
