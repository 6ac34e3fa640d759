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


def restore_test(**changes):
    """A restore test with a leak downstream whose restore check closed the valve again (engine/safety.py)."""
    test = {"step_label": "restore-with-leak", "function": "restore", "expect": "shut_off", "variant": None,
            "meter_serial": "M1", "tripped": True, "leak_downstream": True, "reopened_by_itself_after_s": None,
            "held_valve": "closed", "shut_off": True, "watched_until_s": 1.0, "poll_s": 0.5, "time_s": 1.25,
            "u_time_s": 0.144, "cause": "restore_check", "final_valve": "closed",
            "limit_shut_off_s": {"value": 120.0, "clause": "test", "status": "secondary"},
            "limit_hold_s": {"value": 300.0, "clause": "test", "status": "unverified"}}
    return {**test, **changes}


def test_a_restore_check_that_closes_on_the_leak_passes_with_the_valve_shut_until_restored():
    assert outcomes(restore_test()) == {"restore-with-leak: shut until restored": Outcome.PASS,
                                        "restore-with-leak": Outcome.PASS}


@pytest.mark.parametrize("changes, expected", [
    ({"tripped": False}, {"restore-with-leak": Outcome.FAIL}),  # nothing to restore
    ({"reopened_by_itself_after_s": 60.0, "held_valve": "open"},
     {"restore-with-leak: shut until restored": Outcome.FAIL}),  # opened without a restore: not restored at all
    ({"shut_off": False, "final_valve": "open"},
     {"restore-with-leak: shut until restored": Outcome.PASS, "restore-with-leak": Outcome.FAIL}),  # opened on a leak
    ({"cause": "excess_flow"},
     {"restore-with-leak: shut until restored": Outcome.PASS, "restore-with-leak": Outcome.FAIL}),  # other cause
])
def test_each_way_of_failing_a_restore_is_a_fail(changes, expected):
    assert outcomes(restore_test(**changes)) == expected


@pytest.mark.parametrize("final_valve, outcome", [("open", Outcome.PASS), ("restoring", Outcome.FAIL),
                                                  ("closed", Outcome.FAIL)])
def test_a_restore_without_a_leak_passes_only_if_the_valve_ends_open(final_valve, outcome):
    test = restore_test(step_label="restore-without-leak", expect="no_shut_off", leak_downstream=False,
                        shut_off=False, final_valve=final_valve, time_s=None, cause=None)
    assert outcomes(test)["restore-without-leak"] == outcome


def test_a_continuous_use_time_is_judged_against_the_table_s_time_and_a_not_applicable_test_not_at_all():
    use = shut_off_test(step_label="continuous-use", function="continuous_use", variant="2 m³/h", time_s=7600.0,
                        nominal_time_s=7200.0, cause="continuous_use",
                        limit_shut_off_s={"value": 0.05, "clause": "test", "status": "unverified"})
    del use["transmitted"]  # judged on its own here
    skipped = {"step_label": "alarm", "function": "gas_alarm", "expect": "shut_off", "meter_serial": "M1",
               "not_applicable": "the meter declares no gas-alarm input"}
    results = check_safety({"safety": [use, skipped]}, "simple")
    assert [(r.point, r.outcome) for r in results] == [("continuous-use 2 m³/h", Outcome.FAIL)]  # 400 s > 360 s
    assert (results[0].details["value"], results[0].details["limit"]) == (400.0, pytest.approx(360.0))
