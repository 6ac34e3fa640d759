"""Decision rules: simple and guarded acceptance, and the uncertainty-too-large outcome."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm

from meterlab.errors import DeclarationError
from meterlab.metrology import Outcome, decide, worst


@pytest.mark.parametrize("error, outcome", [(2.0, Outcome.PASS), (-2.0, Outcome.PASS), (2.0001, Outcome.FAIL), (-2.5, Outcome.FAIL)])
def test_simple_acceptance_at_the_limit(error, outcome):
    assert decide(error, 0.3, 2.0, rule="simple").outcome is outcome


@pytest.mark.parametrize(
    "error, outcome",
    [(1.7, Outcome.PASS), (-1.7, Outcome.PASS), (1.71, Outcome.CONDITIONAL_PASS), (2.3, Outcome.CONDITIONAL_FAIL),
     (2.31, Outcome.FAIL)],
)
def test_guarded_acceptance_bands(error, outcome):
    assert decide(error, 0.3, 2.0, rule="guarded").outcome is outcome


def test_uncertainty_too_large_is_its_own_outcome():
    d = decide(0.1, 0.5, 2.0, rule="simple", max_uncertainty_pct=0.4)
    assert d.outcome is Outcome.UNCERTAINTY_TOO_LARGE
    assert d.rule_outcome is Outcome.PASS  # kept for review
    assert d.to_dict()["outcome"] == "uncertainty too large"
    assert decide(0.1, 0.4, 2.0, max_uncertainty_pct=0.4).outcome is Outcome.PASS


def test_decision_records_its_rule_and_numbers():
    d = decide(1.0, 0.2, 2.0, rule="guarded", max_uncertainty_pct=0.4)
    assert d.rule.startswith("guarded") and (d.error_pct, d.expanded_uncertainty_pct, d.mpe_pct) == (1.0, 0.2, 2.0)


def test_unknown_rule_and_bad_numbers_are_refused():
    with pytest.raises(DeclarationError, match="decision_rule"):
        decide(0.0, 0.1, 2.0, rule="optimistic")
    with pytest.raises(DeclarationError, match="mpe_pct"):
        decide(0.0, 0.1, 0.0)
    with pytest.raises(DeclarationError, match="error_pct"):
        decide(float("nan"), 0.1, 2.0)


finite = st.floats(min_value=-10, max_value=10)
positive = st.floats(min_value=0, max_value=5)


@given(finite, positive, st.floats(min_value=0.1, max_value=5))
def test_guarded_never_passes_what_simple_fails(error, u, mpe):
    guarded, simple = decide(error, u, mpe, rule="guarded").outcome, decide(error, u, mpe, rule="simple").outcome
    if guarded is Outcome.PASS:
        assert simple is Outcome.PASS
    if guarded is Outcome.FAIL:
        assert simple is Outcome.FAIL


def test_worst_outcome_of_a_group():
    assert worst([Outcome.PASS, Outcome.INCONCLUSIVE, Outcome.PASS]) is Outcome.INCONCLUSIVE
    assert worst([Outcome.UNCERTAINTY_TOO_LARGE, Outcome.FAIL]) is Outcome.FAIL
    with pytest.raises(DeclarationError):
        worst([])


# --- conditional outcomes, demonstrated failures and specific risk ------------------------------------------
@pytest.mark.parametrize("rule", ["simple", "guarded"])
@pytest.mark.parametrize("error", [10.0, -10.0])
def test_a_demonstrated_failure_is_a_fail_with_uncertainty_too_large_beside_it(rule, error):
    # E = 10 %, U = 0.5 %, MPE 2 %, max U 0.4 %: |E| − U = 9.5 % > MPE whatever U is
    d = decide(error, 0.5, 2.0, rule=rule, max_uncertainty_pct=0.4)
    assert d.outcome is Outcome.FAIL and d.uncertainty_too_large
    assert d.to_dict()["outcome"] == "fail" and d.to_dict()["uncertainty_too_large"] is True


@pytest.mark.parametrize("rule", ["simple", "guarded"])
def test_a_failure_within_U_of_the_limit_is_not_demonstrated_when_U_is_too_large(rule):
    d = decide(2.3, 0.5, 2.0, rule=rule, max_uncertainty_pct=0.4)  # |E| − U = 1.8 % ≤ MPE
    assert d.outcome is Outcome.UNCERTAINTY_TOO_LARGE and d.uncertainty_too_large
    assert d.rule_outcome is (Outcome.FAIL if rule == "simple" else Outcome.CONDITIONAL_FAIL)


def test_guarded_conditional_pass_and_fail_state_the_guard_band_and_the_risk():
    conditional_pass = decide(1.8, 0.3, 2.0, rule="guarded", k=2.0)
    assert conditional_pass.outcome is Outcome.CONDITIONAL_PASS and conditional_pass.guard_band_pct == 0.3
    assert conditional_pass.to_dict()["outcome"] == "conditional pass"
    u = 0.15
    p_within = norm.cdf((2.0 - 1.8) / u) - norm.cdf((-2.0 - 1.8) / u)
    assert conditional_pass.specific_risk == {"kind": "false acceptance", "probability": pytest.approx(1 - p_within)}
    assert conditional_pass.specific_risk["probability"] == pytest.approx(0.0912, abs=1e-4)
    conditional_fail = decide(-2.2, 0.3, 2.0, rule="guarded", k=2.0)
    assert conditional_fail.outcome is Outcome.CONDITIONAL_FAIL and conditional_fail.to_dict()["outcome"] == "conditional fail"
    p_within = norm.cdf((2.0 + 2.2) / u) - norm.cdf((-2.0 + 2.2) / u)
    assert conditional_fail.specific_risk == {"kind": "false rejection", "probability": pytest.approx(p_within)}
    assert decide(1.8, 0.3, 2.0, rule="simple").guard_band_pct == 0.0


def test_guarded_pass_at_the_edge_of_the_acceptance_zone_has_a_false_acceptance_risk_of_phi_minus_two():
    # ILAC-G8 guarded rule w = U (k = 2): at |E| + U = MPE the risk is Φ(−2) = 2.275 % (plus the far tail)
    d = decide(1.7, 0.3, 2.0, rule="guarded", k=2.0)
    assert d.outcome is Outcome.PASS
    assert d.specific_risk["probability"] == pytest.approx(norm.cdf(-2.0) + norm.cdf(-3.7 / 0.15), rel=1e-9)


@pytest.mark.parametrize("error, u, risk", [(0.0, 0.4, 0.012419), (0.5, 0.4, 0.10574)])
def test_specific_risk_matches_the_published_vector(error, u, risk):
    # uncertainty.md TV9 (suncal test_risk.py): N(10, 0.4) and N(10.5, 0.4) against [9, 11], shifted to 0 ± 1
    assert decide(error, 2 * u, 1.0, k=2.0).specific_risk["probability"] == pytest.approx(risk, abs=5e-5)


def test_the_risk_uses_u_from_the_stated_k():
    d = decide(0.9, 0.3, 1.0, k=3.0)  # u = 0.1
    assert 1 - d.probability_within == pytest.approx(norm.sf(1.0) + norm.cdf(-19.0))


def test_outcome_labels_round_trip_and_old_labels_still_read():
    for outcome in Outcome:
        assert Outcome.from_label(outcome.label) is outcome
    assert Outcome.from_label("inconclusive") is Outcome.INCONCLUSIVE
    assert Outcome.from_label("uncertainty too large") is Outcome.UNCERTAINTY_TOO_LARGE


def test_a_conditional_fail_never_rolls_up_into_a_pass():
    assert worst([Outcome.PASS, Outcome.CONDITIONAL_PASS]) is Outcome.CONDITIONAL_PASS
    assert worst([Outcome.CONDITIONAL_FAIL, Outcome.UNCERTAINTY_TOO_LARGE, Outcome.PASS]) is Outcome.CONDITIONAL_FAIL
    assert worst([Outcome.CONDITIONAL_FAIL, Outcome.FAIL]) is Outcome.FAIL
    assert Outcome.CONDITIONAL_PASS.accepted and not Outcome.CONDITIONAL_FAIL.accepted
    assert Outcome.CONDITIONAL_FAIL.rejected and not Outcome.UNCERTAINTY_TOO_LARGE.rejected


@given(finite, positive, st.floats(min_value=0.1, max_value=5))
def test_guarded_decisions_agree_with_simple_on_which_side_of_the_limit(error, u, mpe):
    guarded, simple = decide(error, u, mpe, rule="guarded").outcome, decide(error, u, mpe, rule="simple").outcome
    assert guarded.accepted == simple.accepted
