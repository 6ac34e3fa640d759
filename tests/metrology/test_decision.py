"""Decision rules: simple and guarded acceptance, and the uncertainty-too-large outcome."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
