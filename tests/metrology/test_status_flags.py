"""Judging transmitted status flags (metrology/status_flags.py): raised in time, not raised falsely, cleared or
latched as declared; polls that cannot tell are inconclusive, never a pass."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from meterlab.metrology.decision import Outcome
from meterlab.metrology.declarations import DeclaredFlag
from meterlab.metrology.status_flags import judge_watch

CLEARS = DeclaredFlag(raise_within_s=30, clears="on_condition_end", clear_within_s=20)
LATCHED = DeclaredFlag(raise_within_s=30, clears="latched")


def polls(*seen, every_s=10.0, start_s=100.0, integrity="valid"):
    return [{"t_request_s": start_s + i * every_s, "integrity": integrity, "flags": list(flags)}
            for i, flags in enumerate(seen)]


def test_raised_within_the_declared_time_passes_and_late_fails():
    ok = judge_watch(polls([], [], ["leak"], ["leak"]), 100.0, "during", "leak", CLEARS)
    assert ok.outcome is Outcome.PASS and ok.figures["raised_at_s"] == 20
    late = judge_watch(polls([], [], [], [], ["leak"]), 100.0, "during", "leak", CLEARS)
    assert late.outcome is Outcome.FAIL and "raised late" in late.reasons[0]


def test_never_raised_fails_once_past_the_limit_and_is_inconclusive_before():
    assert judge_watch(polls([], [], [], [], []), 100.0, "during", "leak", CLEARS).outcome is Outcome.FAIL
    short = judge_watch(polls([], [], []), 100.0, "during", "leak", CLEARS)
    assert short.outcome is Outcome.INCONCLUSIVE and "watch longer" in short.reasons[0]


def test_the_condition_time_is_added_to_the_raise_time():
    declared = DeclaredFlag(condition_s=60, raise_within_s=30, clears="latched")
    assert judge_watch(polls(*[[]] * 8, ["leak"]), 100.0, "during", "leak", declared).outcome is Outcome.PASS


def test_polls_straddling_the_limit_cannot_tell():
    judged = judge_watch(polls([], ["leak"], every_s=40), 100.0, "during", "leak", CLEARS)
    assert judged.outcome is Outcome.INCONCLUSIVE and "poll more often" in judged.reasons[0]


def test_a_flag_dropped_while_the_condition_lasts_fails():
    judged = judge_watch(polls(["leak"], [], ["leak"]), 100.0, "during", "leak", CLEARS)
    assert judged.outcome is Outcome.FAIL and "cleared at 10 s" in judged.reasons[0]


def test_without_a_condition_any_flag_fails_unless_latched_earlier():
    assert judge_watch(polls([], ["magnet"]), 100.0, "without", None, None).outcome is Outcome.FAIL
    latched = judge_watch(polls(["magnet"]), 100.0, "without", None, None, frozenset({"magnet"}))
    assert latched.outcome is Outcome.PASS


def test_after_the_condition_latched_or_cleared_as_declared():
    assert judge_watch(polls(["magnet"], ["magnet"]), 100.0, "after", "magnet", LATCHED).outcome is Outcome.PASS
    assert judge_watch(polls(["magnet"], []), 100.0, "after", "magnet", LATCHED).outcome is Outcome.FAIL
    assert judge_watch(polls(["leak"], [], []), 100.0, "after", "leak", CLEARS).outcome is Outcome.PASS
    stuck = judge_watch(polls(["leak"], ["leak"], ["leak"], ["leak"]), 100.0, "after", "leak", CLEARS)
    assert stuck.outcome is Outcome.FAIL and "still raised at 30 s" in stuck.reasons[0]


def test_no_valid_dataset_or_no_declaration_is_inconclusive():
    corrupt = polls(["leak"], integrity="rejected")
    assert judge_watch(corrupt, 100.0, "during", "leak", CLEARS).outcome is Outcome.INCONCLUSIVE
    no_register = [{"t_request_s": 100.0, "integrity": "valid", "flags": None}]
    assert judge_watch(no_register, 100.0, "without", None, None).outcome is Outcome.INCONCLUSIVE
    undeclared = judge_watch(polls(["leak"]), 100.0, "during", "leak", None)
    assert undeclared.outcome is Outcome.INCONCLUSIVE and "declares no leak flag" in undeclared.reasons[0]


def test_a_declaration_that_clears_says_when():
    with pytest.raises(ValidationError, match="clear_within_s"):
        DeclaredFlag(raise_within_s=1, clears="on_condition_end")


def test_a_declaration_with_status_flags_needs_an_interface_and_names_the_line(tmp_path):
    from meterlab.errors import InputFileError
    from meterlab.metrology.declarations import load_meter

    text = (Path(__file__).resolve().parents[2] / "examples/meters/dn15-class2-pulses-mbus.yaml").read_text()
    without = text.replace("interfaces:\n  - kind: mbus\n    transmits: [volume, status, software_id, access_number]\n",
                           "")
    assert without != text
    path = tmp_path / "meter.yaml"
    path.write_text(without)
    with pytest.raises(InputFileError, match="status_flags are transmitted over an interface"):
        load_meter(path)
    path.write_text(text.replace("clears: latched", "clears: sometimes"))
    with pytest.raises(InputFileError, match="status_flags"):
        load_meter(path)
    example, _ = load_meter(Path(__file__).resolve().parents[2] / "examples/meters/dn15-class2-pulses-mbus.yaml")
    assert set(example.status_flags) == {"reverse_flow", "leak", "magnet", "power_low"}
