"""`meterlab run` at a terminal: Ctrl-C's menu does what is answered, SIGTERM aborts, prompts stay on screen.

The pseudo-terminal tests run the real command in a child process on the simulated lab, as a technician would;
what happened is read back from the run's record (states, operator entries, the safe state read back from the
instruments by their drivers when the run aborted).
"""

import io
import os
import signal
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import pexpect
import pyte
import pytest
from rich.console import Console

from meterlab.cli.console import ConsoleProgress
from meterlab.cli.terminal import RunTerminal, menu_choice
from meterlab.engine.control import AbortRequested, RunControl
from meterlab.engine.events import Event
from meterlab.engine.prompts import Answer, ConsolePrompter, HandOffPrompter, Question
from meterlab.records.store import Store
from meterlab.reports.results import run_result

REPO = Path(__file__).resolve().parents[2]
PROMPT = "Mount the meters under test in series on the water rig, vent the line and confirm."
COLUMNS, LINES = 160, 40  # wide enough for the first prompt on one line
# 18 measurements take ~10 s at 500 simulated seconds per real second: room for a Ctrl-C mid-run.
CLOCK_SCALE = "500"


def _spawn(db: Path, *extra: str) -> pexpect.spawn:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": str(COLUMNS), "LINES": str(LINES)}
    args = ["-m", "meterlab", "run", "procedures/r49/intrinsic-error.yaml",
            "--meter", "examples/meters/dn15-class2.yaml", "--scenario", "examples/scenarios/good-meter.yaml",
            "--db", str(db), "--operator", "tester", "--clock-scale", CLOCK_SCALE, *extra]
    return pexpect.spawn(sys.executable, args, cwd=str(REPO), env=env, encoding="utf-8", timeout=60,
                         dimensions=(LINES, COLUMNS))


def _start(tmp_path) -> tuple[pexpect.spawn, Store]:
    """The run started and its first prompt answered: the rig is moving."""
    db = tmp_path / "records.db"
    child = _spawn(db)
    child.expect_exact("[y/n]")
    child.sendline("y")
    return child, Store(str(db))


def _run_id(store: Store) -> str:
    return store.runs()[0].id


def _measurements(store: Store) -> int:
    return len(list(store.entries(_run_id(store), kinds=["measurement"])))


def _wait_for_measurements(store: Store, count: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while _measurements(store) < count:
        assert time.monotonic() < deadline, f"fewer than {count} measurements after {timeout_s} s"
        time.sleep(0.1)


def _interrupt(child: pexpect.spawn, answer: str) -> None:
    child.send("\x03")
    child.expect_exact("[a]bort")
    child.sendline(answer)


def _finish(child: pexpect.spawn, timeout_s: float = 90) -> int:
    child.expect(pexpect.EOF, timeout=timeout_s)
    child.close()
    return child.exitstatus


def _operator_actions(store: Store) -> list[str]:
    return [e.payload["action"] for e in store.entries(_run_id(store), kinds=["operator"])]


def _states(store: Store) -> list[str]:
    return [e.payload["state"] for e in store.entries(_run_id(store), kinds=["state"])]


def test_ctrl_c_then_continue_goes_on_to_the_end(tmp_path):
    child, store = _start(tmp_path)
    _wait_for_measurements(store, 1)
    _interrupt(child, "c")
    assert _finish(child) == 0
    assert run_result(store, _run_id(store))["state"] == "completed"
    assert _measurements(store) == 18
    entry = next(store.entries(_run_id(store), kinds=["operator"]))
    assert entry.payload == {"action": "continue", "operator": "tester", "via": "Ctrl-C"}
    prompt = next(e.payload for e in store.entries(_run_id(store), kinds=["action_done"]) if "question" in e.payload)
    assert prompt["question"] == PROMPT and prompt["answered_by"] == "tester"


def test_ctrl_c_then_pause_holds_the_run_and_resume_finishes_it(tmp_path):
    child, store = _start(tmp_path)
    _wait_for_measurements(store, 1)
    _interrupt(child, "p")
    child.expect_exact("paused", timeout=60)  # the state, shown once the run holds at its next safe point
    held = _measurements(store)
    time.sleep(3)
    assert _measurements(store) == held  # nothing measured while paused
    _interrupt(child, "r")
    assert _finish(child) == 0
    assert _states(store) == ["running", "paused", "running", "completed"]
    assert _operator_actions(store) == ["pause", "resume"]


def _assert_aborted_to_the_safe_state(store: Store, via: str) -> None:
    assert _states(store) == ["running", "aborted"]
    aborted = list(store.entries(_run_id(store), kinds=["state"]))[-1].payload
    assert aborted["safe_state_problems"] == []
    # read back from the simulated instruments by their drivers after the safe state
    safe = aborted["safe_state"]
    assert safe["pump"] == {"pump_running": False}
    assert safe["valves"] == {"outputs_on": []} and safe["drain"] == {"outputs_on": []}
    assert safe["chamber"] == {"mode": "standby"}
    assert all(safe[g] == {"high_voltage_on": False} for g in ("surge", "burst", "esd", "dips"))
    operator = [e.payload for e in store.entries(_run_id(store), kinds=["operator"])]
    assert operator == [{"action": "abort", "operator": "tester", "via": via}]


def test_ctrl_c_then_abort_ends_in_the_safe_state_and_can_be_resumed(tmp_path):
    child, store = _start(tmp_path)
    _wait_for_measurements(store, 1)
    _interrupt(child, "a")
    child.expect_exact("meterlab resume", timeout=60)
    assert _finish(child) == 1
    _assert_aborted_to_the_safe_state(store, "Ctrl-C")


def test_sigterm_aborts_to_the_safe_state(tmp_path):
    child, store = _start(tmp_path)
    _wait_for_measurements(store, 1)
    child.kill(signal.SIGTERM)
    child.expect_exact("meterlab resume", timeout=60)
    assert _finish(child) == 1
    _assert_aborted_to_the_safe_state(store, "SIGTERM")


def test_a_second_ctrl_c_while_aborting_keeps_to_the_safe_state(tmp_path):
    child, store = _start(tmp_path)
    _wait_for_measurements(store, 1)
    _interrupt(child, "a")
    child.send("\x03")
    # The abort may be over before the second Ctrl-C arrives: the process then prints its outcome and ends (1),
    # or, if the Ctrl-C comes after the outcome, ends by it (130 or SIGINT). The terminal discards output not
    # yet read when Ctrl-C is typed, so what counts is the record, not the screen.
    child.expect(pexpect.EOF, timeout=90)
    child.close()
    assert child.exitstatus in (1, 130) or child.signalstatus == signal.SIGINT, (child.exitstatus, child.before)
    _assert_aborted_to_the_safe_state(store, "Ctrl-C")


def _feed(stream: pyte.Stream, child: pexpect.spawn, until, timeout_s: float) -> None:
    """Render what the child writes until `until()` holds or `timeout_s` has passed."""
    deadline = time.monotonic() + timeout_s
    while not until() and time.monotonic() < deadline:
        try:
            stream.feed(child.read_nonblocking(4096, timeout=0.2))
        except pexpect.TIMEOUT:
            pass


def _shown(screen: pyte.Screen) -> str:
    return "\n".join(line.rstrip() for line in screen.display)


def test_the_operator_prompt_stays_on_screen_while_it_waits(tmp_path):
    child = _spawn(tmp_path / "records.db")
    screen = pyte.Screen(COLUMNS, LINES)
    stream = pyte.Stream(screen)
    question = f"{PROMPT} — done? [y/n] (default y):"
    _feed(stream, child, lambda: question in _shown(screen), timeout_s=60)
    assert question in _shown(screen), _shown(screen)
    _feed(stream, child, lambda: False, timeout_s=2)  # a live bar would have redrawn over it by now
    assert question in _shown(screen), _shown(screen)
    child.sendline("y")
    child.kill(signal.SIGTERM)
    assert _finish(child) == 1


# ------------------------------------------------------------------------------------------- unit level
def _terminal(control: RunControl, entries: list, *, interactive: bool = True) -> tuple[RunTerminal, io.StringIO]:
    out = io.StringIO()
    return RunTerminal(control, entries.append, Console(file=out, width=200), interactive=interactive,
                       aside=nullcontext), out


def _watch(terminal: RunTerminal, until) -> None:
    """Watch a stand-in run that ends once `until()` holds (bounded), as the main thread watches a run."""
    done = threading.Event()

    def work() -> None:
        deadline = time.monotonic() + 10
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    terminal.watch(worker, done)


@pytest.mark.parametrize("typed, action", [("a", "abort"), ("abort", "abort"), ("P", "pause"), ("r", "resume"),
                                           ("c", "continue"), ("", "continue"), ("x", None), ("pa", None)])
def test_menu_choice_maps_each_answer(typed, action):
    assert menu_choice(typed) == action


@pytest.mark.parametrize("typed, action, paused, aborted", [
    ("p\n", "pause", True, False), ("r\n", "resume", False, False), ("c\n", "continue", False, False),
    ("what\na\n", "abort", False, True), ("", "abort", False, True)])  # "": end of input in the menu aborts
def test_the_menu_records_the_choice_and_does_it(monkeypatch, typed, action, paused, aborted):
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
    control, entries = RunControl(), []
    terminal, _ = _terminal(control, entries)
    terminal.signals.interrupted = True  # as the SIGINT handler leaves it
    _watch(terminal, lambda: entries)
    assert entries == [{"action": action, "via": "Ctrl-C"}]
    assert (control.pause_requested, control.abort_requested) == (paused, aborted)


def test_ctrl_c_in_the_menu_means_abort(monkeypatch):
    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr("builtins.input", interrupted)
    control, entries = RunControl(), []
    terminal, out = _terminal(control, entries)
    terminal.signals.interrupted = True
    _watch(terminal, lambda: entries)
    assert entries == [{"action": "abort", "via": "Ctrl-C"}] and control.abort_requested
    assert "Ctrl-C here aborts" in out.getvalue()


def test_without_a_terminal_ctrl_c_aborts_without_asking():
    control, entries = RunControl(), []
    terminal, _ = _terminal(control, entries, interactive=False)
    terminal.signals.interrupted = True
    _watch(terminal, lambda: entries)
    assert entries == [{"action": "abort", "via": "Ctrl-C"}] and control.abort_requested


def test_sigterm_aborts_once_however_often_it_comes():
    control, entries = RunControl(), []
    terminal, _ = _terminal(control, entries)
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
    threading.Timer(0.8, os.kill, (os.getpid(), signal.SIGTERM)).start()
    _watch(terminal, lambda: time.sleep(1.5) or True)
    assert entries == [{"action": "abort", "via": "SIGTERM"}] and control.abort_requested
    assert signal.getsignal(signal.SIGTERM) is not terminal.signals.on_sigterm  # handlers put back


def test_a_value_is_asked_with_its_unit_and_range_until_it_is_valid(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("abc\n200\n12.5 L\n"))
    out = io.StringIO()
    question = Question("Read the register", "register", "L", minimum=0.0, maximum=100.0, meter_serial="S1")
    answer = ConsolePrompter("tester", Console(file=out, width=200)).ask(question)
    assert answer == Answer(True, 12.5, "tester")
    shown = out.getvalue()
    assert "Read the register [S1] register [number in L, 0 .. 100] (no default):" in shown
    assert "'abc' is not a number in L" in shown and "200 is outside 0 .. 100 L" in shown


def test_a_confirmation_shows_its_answers_and_default(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("maybe\n\n"))
    out = io.StringIO()
    answer = ConsolePrompter("tester", Console(file=out, width=200)).ask(Question("Vent the line."))
    assert answer == Answer(True, None, "tester")
    assert "Vent the line. — done? [y/n] (default y):" in out.getvalue() and "answer y or n" in out.getvalue()


def test_a_handed_over_question_is_answered_by_the_other_thread_or_withdrawn_by_an_abort():
    control = RunControl()
    handoff = HandOffPrompter(control)
    question, result = Question("Mount the meters."), {}
    asker = threading.Thread(target=lambda: result.setdefault("answer", handoff.ask(question)))
    asker.start()
    while handoff.pending() is None:
        time.sleep(0.01)
    handoff.answer(question, Answer(True, None, "tester"))
    asker.join(5)
    assert result["answer"] == Answer(True, None, "tester") and handoff.pending() is None

    def ask() -> None:
        try:
            handoff.ask(question)
        except AbortRequested as exc:
            result["aborted"] = str(exc)

    asker = threading.Thread(target=ask)
    asker.start()
    control.abort()
    asker.join(5)
    assert "abort requested" in result["aborted"] and handoff.pending() is None


def test_what_the_run_prints_while_the_display_stands_aside_comes_after_the_question():
    out = io.StringIO()
    with ConsoleProgress(Console(file=out, width=200), total=3) as progress:
        with progress.aside():
            progress(Event("message", "r1", {"text": "rig state restored"}))
            assert "rig state restored" not in out.getvalue()
        assert "rig state restored" in out.getvalue()


def test_a_point_outside_its_window_and_an_instrument_fault_are_shown_as_they_happen():
    out = io.StringIO()
    with ConsoleProgress(Console(file=out, width=200), total=3) as progress:
        progress(Event("outside_window", "r1", {"key": "1[Q1]/2/r1", "point": "Q1", "attempt": 1, "of": 3,
                                                "flowrate_m3h": 0.01463, "low_m3h": 0.015625, "high_m3h": 0.0171875}))
        progress(Event("instrument_fault", "r1", {"key": "1[Q3]/2/r1", "kind": "reply", "attempt": 3, "of": 3,
                                                  "message": "scale during 'SI': reply not understood: '[x]'"}))
    text = out.getvalue()
    assert "outside its window Q1 (measurement 1): Q 0.01463 m³/h, window 0.01562–0.01719: flow trimmed" in text
    assert "instrument fault (reply, attempt 3 of 3) scale during 'SI': reply not understood: '[x]': the run stops" \
        in text  # the reply's brackets printed as they came, not read as markup
