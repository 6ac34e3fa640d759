"""The `safety` check on stored safety_test payloads (procedures/evaluation.py): each way a shut-off test can fail,
judged from the record alone, with the limits the payload carries."""

import pytest

from meterlab.metrology.decision import Outcome
from meterlab.procedures.evaluation import check_safety

LIMIT = {"value": 15.0, "clause": "test", "status": "unverified"}


def shut_off_test(**changes):
    test = {"step_label": "operate", "function": "seismic", "expect": "shut_off", "variant": "250 gal / 0.5 s",
            "meter_serial": "M1", "shut_off": True, "watched_until_s": 5.0, "limit_shut_off_s": LIMIT, "poll_s": 0.5,
            "time_s": 5.25, "u_time_s": 0.144, "cause": "seismic",
            "transmitted": {"cause": "seismic", "expected_cause": "seismic", "time_since_stimulus_s": 4.3},
            "limit_event_s": {"value": 2.0, "clause": "test", "status": "unverified"}}
    return {**test, **changes}


def outcomes(*tests, rule="simple"):
    return {r.point: r.outcome for r in check_safety({"safety": list(tests)}, rule)}


def test_a_timely_shut_off_and_its_event_pass_with_value_u_limit_and_unit():
    results = check_safety({"safety": [shut_off_test()]}, "simple")
    assert [r.outcome for r in results] == [Outcome.PASS, Outcome.PASS]
    first = results[0].details
    assert (first["value"], first["U"], first["limit"], first["unit"]) == (5.25, pytest.approx(0.288), 15.0, "s")


@pytest.mark.parametrize("changes, failing", [
    ({"shut_off": False, "transmitted": None}, "operate 250 gal / 0.5 s"),  # never closed
    ({"cause": "pressure_drop"}, "operate 250 gal / 0.5 s"),  # closed, for another reason
    ({"time_s": 16.0}, "operate 250 gal / 0.5 s"),  # too late
    ({"transmitted": {"cause": None, "time_since_stimulus_s": None}}, "operate 250 gal / 0.5 s: event transmitted"),
    ({"transmitted": {"cause": "excess_flow", "expected_cause": "seismic", "time_since_stimulus_s": 4.3}},
     "operate 250 gal / 0.5 s: event transmitted"),
])
def test_each_way_of_failing_a_shut_off_is_a_fail(changes, failing):
    test = shut_off_test(**changes)
    if test["transmitted"] is None:
        del test["transmitted"]
    assert outcomes(test)[failing] is Outcome.FAIL


def test_guarded_acceptance_makes_a_time_near_the_limit_conditional():
    assert outcomes(shut_off_test(time_s=14.9), rule="guarded")["operate 250 gal / 0.5 s"] is Outcome.CONDITIONAL_PASS


def test_a_closing_where_none_is_allowed_fails_and_a_leaking_valve_fails_tightness():
    closed = {"step_label": "shock", "function": "shock", "expect": "no_shut_off", "variant": None,
              "meter_serial": "M1", "shut_off": True}
    leak = {"value_l_h": 2.0, "U_l_h": 0.05, "k": 2, "certificate": "lkt-01",
            "limit": {"value": 0.1, "clause": "test", "status": "unverified"}}
    result = outcomes(closed, shut_off_test(step_label="below", variant=None, leak=leak))
    assert result["shock"] is Outcome.FAIL and result["below: valve tightness"] is Outcome.FAIL
    assert result["below"] is Outcome.PASS
