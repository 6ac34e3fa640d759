"""The safety profile (procedures/standards/gas-safety-cns14741.yaml) and the verdicts on safety observations."""

import shutil
from pathlib import Path

import pytest

from meterlab.errors import DeclarationError, InputFileError
from meterlab.metrology.decision import Outcome
from meterlab.metrology.profiles import Value
from meterlab.metrology.safety import (
    ObservedTime,
    judge_leak,
    judge_no_shut_off,
    judge_time,
    judge_time_against_table,
    judge_transmitted_time,
    load_safety_profile,
    time_to_state,
)

PROFILE = Path(__file__).resolve().parents[2] / "procedures" / "standards" / "gas-safety-cns14741.yaml"


def limit(value):
    return Value(value=value, clause="test", status="unverified")


def test_the_shaker_table_and_thresholds_are_the_reference_sheets_with_their_status():
    profile = load_safety_profile("gas-safety-cns14741")
    assert [(p.acceleration_gal, p.period_s) for p in profile.seismic.operate.points] == [(250, 0.3), (250, 0.5), (250, 0.7)]
    assert [(p.acceleration_gal, p.period_s) for p in profile.seismic.non_operate.points] == [
        (250, 0.1), (80, 0.3), (80, 0.5), (80, 0.7)]
    assert profile.pressure_threshold_pa("city_gas") == 300 and profile.pressure_threshold_pa("lp_gas") == 1000
    assert profile.seismic.operate.status == "secondary" and profile.valve.max_leak_l_h.status == "unverified"
    # nothing is verified today: CNS 14741 was not read
    assert "seismic.operate" in profile.unverified_values() and "valve.max_leak_l_h" in profile.unverified_values()
    assert profile.excess_threshold_m3h(6.0) == ("G4", 5.0)
    with pytest.raises(DeclarationError, match=r"G4 \(Qmax 6\)"):
        profile.excess_threshold_m3h(16.0)


@pytest.mark.parametrize("old, new, field", [
    ("max_leak_l_h: {value: 0.1,", "max_leak_l_h: {value: 0.1, unit: l,", "valve.max_leak_l_h.unit"),
    ("status: secondary}", "status: checked}", "status"),
    ("- {acceleration_gal: 250, period_s: 0.3}", "- {acceleration_gal: -250, period_s: 0.3}", "acceleration_gal"),
    ("G4: {qmax_m3h: 6.0, threshold_m3h: 5.0}", "G4: {qmax_m3h: 6.0, threshold_m3h: 0}", "threshold_m3h"),
    ("values: [0.6, 2.0]", "values: [0.6, 6.0]", "above the table's last band"),
    ("- {up_to_m3h: 2.5, time_s: 7200}", "- {up_to_m3h: 0.5, time_s: 7200}", "up_to_m3h strictly increasing"),
])
def test_a_wrong_field_is_refused_naming_the_file_the_line_and_the_field(tmp_path, old, new, field):
    bad = tmp_path / "gas-safety-bad.yaml"
    text = PROFILE.read_text(encoding="utf-8")
    assert old in text
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        load_safety_profile(bad)
    message = str(caught.value)
    assert str(bad) in message and field in message and "line" in message


def test_a_profile_is_found_by_name_only_in_the_profile_folders(tmp_path):
    shutil.copy(PROFILE, tmp_path / "x.yaml")
    with pytest.raises(DeclarationError, match="profile"):
        load_safety_profile("no-such-profile")


def test_a_time_seen_by_polling_is_the_middle_of_its_interval_with_a_rectangular_uncertainty():
    observed = time_to_state(100.0, last_before_s=104.0, first_seen_s=105.0)
    assert observed.value_s == pytest.approx(4.5) and observed.u_s == pytest.approx(0.5 / 3 ** 0.5)
    early = time_to_state(100.0, last_before_s=99.0, first_seen_s=101.0)  # no poll between: from the stimulus
    assert early.value_s == pytest.approx(0.5)
    with pytest.raises(DeclarationError):
        time_to_state(100.0, last_before_s=99.0, first_seen_s=98.0)


@pytest.mark.parametrize("value_s, u_s, rule, outcome", [
    (10.0, 0.3, "simple", Outcome.PASS),
    (16.0, 0.3, "simple", Outcome.FAIL),
    (14.8, 0.3, "guarded", Outcome.CONDITIONAL_PASS),
    (15.2, 0.3, "guarded", Outcome.CONDITIONAL_FAIL),
])
def test_a_shut_off_time_is_judged_against_its_limit_by_the_decision_rule(value_s, u_s, rule, outcome):
    decision = judge_time(ObservedTime(value_s, u_s), limit(15.0), rule=rule)
    assert decision.outcome == outcome and decision.expanded_uncertainty_pct == pytest.approx(2 * u_s)


def test_a_leak_and_a_no_shut_off_and_a_transmitted_time_are_judged():
    assert judge_leak(0.02, 0.02, limit(0.1)).outcome == Outcome.PASS
    assert judge_leak(3.0, 0.05, limit(0.1)).outcome == Outcome.FAIL
    assert judge_no_shut_off(False) == Outcome.PASS and judge_no_shut_off(True) == Outcome.FAIL
    observed = ObservedTime(5.0, 0.2)
    assert judge_transmitted_time(4.0, observed, limit(2.0)).outcome == Outcome.PASS
    assert judge_transmitted_time(9.0, observed, limit(2.0)).outcome == Outcome.FAIL
    assert judge_transmitted_time(None, observed, limit(2.0)) is None


@pytest.mark.parametrize("value_s, outcome", [
    (7200.8, Outcome.PASS), (7560.0, Outcome.PASS), (7561.0, Outcome.FAIL), (6839.0, Outcome.FAIL),
    (3600.0, Outcome.FAIL),  # closing at half the table's time does not follow the table either
])
def test_a_continuous_use_time_is_judged_against_its_band_s_time_either_way(value_s, outcome):
    decision = judge_time_against_table(ObservedTime(value_s, 0.1), 7200.0, limit(0.05))
    assert decision.outcome == outcome and decision.mpe_pct == pytest.approx(360.0)


def test_the_continuous_use_table_gives_each_flow_its_band_and_none_above_the_last():
    use = load_safety_profile(PROFILE).continuous_use
    assert use.table.status == "unverified"  # no source gave the figures: the lab's own
    assert [use.band_time_s(q) for q in (0.1, 0.8, 0.81, 2.0, 5.0, 5.1)] == [14400, 14400, 7200, 7200, 3600, None]
    assert all(use.band_time_s(q) is not None for q in use.points_m3h.values)
