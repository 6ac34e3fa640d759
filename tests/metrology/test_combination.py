"""Faults, durability shifts, WME and repeatability decided with the uncertainty of what they judge."""

import math

import pytest
from scipy.stats import chi2, norm

from meterlab.metrology import GasMeter, Outcome, StoredError, WaterMeter, load_profile, weighted_mean_error
from meterlab.metrology.combination import mean_difference
from meterlab.metrology.indication import durability_shift, evaluate_fault, evaluate_wme, repeatability

CLASS2 = WaterMeter(2.5, 160)  # class 2: significant-fault limit 1.0 %


def stored(error_pct: float, calibration: float, reading: float, *, dof: float = math.inf) -> StoredError:
    """A stored error whose budget has one calibration term of the standard and one reading term."""
    row = {"error_pct": error_pct, "u_pct": math.hypot(calibration, reading), "dof": dof,
           "budget": [{"name": "balance calibration", "source": "cert 1", "dof": dof, "contribution": calibration},
                      {"name": "balance reading, end", "source": "cert 1", "dof": math.inf, "contribution": reading}]}
    return StoredError.from_row(row)


def test_a_fault_takes_the_two_errors_as_independent_an_upper_bound_on_its_u():
    before, after = stored(0.2, 0.02, 0.01), stored(1.3, 0.02, 0.01)
    fault = mean_difference([after], [before])
    assert fault.value == pytest.approx(1.1)
    # shared calibration term fully correlated would cancel (u = 0.01·√2); r = 0 is the larger, conservative u
    assert fault.u == pytest.approx(math.hypot(before.u, after.u))
    assert fault.k == 2.0 and fault.U == pytest.approx(2 * fault.u)
    assert fault.details()["correlation"] == "assumed 0, conservative"


def test_repeats_are_combined_fully_correlated_then_differenced_independently():
    before = [stored(0.2, 0.02, 0.01), stored(0.22, 0.02, 0.01)]
    after = [stored(1.3, 0.02, 0.01)]
    fault = mean_difference(after, before)
    assert fault.value == pytest.approx(1.09)
    # each input: mean of the two repeats (r = 1 within) in quadrature with the one after (r = 0 between)
    assert fault.u == pytest.approx(math.sqrt(2 * 0.02**2 + 2 * 0.01**2))


def test_a_fault_just_above_the_limit_with_a_small_U_fails_under_either_rule():
    before, after = stored(0.2, 0.01, 0.005), stored(1.25, 0.01, 0.005)  # fault 1.05 %, U ≈ 0.032 %
    for rule in ("simple", "guarded"):
        result = evaluate_fault([before], [after], CLASS2, rule=rule)
        assert result.decision.outcome is Outcome.FAIL and result.significant
        assert abs(result.fault_pct) - result.fault.U > result.limit_pct == 1.0


def test_a_fault_far_below_the_limit_passes():
    result = evaluate_fault([stored(0.2, 0.02, 0.01)], [stored(0.3, 0.02, 0.01)], CLASS2, rule="guarded")
    assert result.decision.outcome is Outcome.PASS and not result.significant


def test_a_fault_near_the_limit_with_a_large_U_is_not_a_pass_under_guarded_acceptance():
    before, after = stored(0.1, 0.1, 0.02), stored(1.05, 0.1, 0.02)  # fault 0.95 %, U ≈ 0.29 %
    guarded = evaluate_fault([before], [after], CLASS2, rule="guarded")
    assert guarded.decision.outcome is Outcome.CONDITIONAL_PASS and not guarded.decision.outcome is Outcome.PASS
    simple = evaluate_fault([before], [after], CLASS2, rule="simple")
    assert simple.decision.outcome is Outcome.PASS  # shared risk: accepted, with its risk stated
    u = math.hypot(before.u, after.u)
    risk = 1 - (norm.cdf((1.0 - 0.95) / u) - norm.cdf((-1.0 - 0.95) / u))
    assert simple.decision.specific_risk["probability"] == pytest.approx(risk, rel=1e-6)
    assert simple.decision.specific_risk["probability"] > 0.3


def test_a_fault_at_the_limit_is_significant_even_without_uncertainty():
    assert evaluate_fault(0.0, 1.0, CLASS2).decision.outcome is Outcome.FAIL


def test_wme_with_its_uncertainty_takes_shared_terms_fully_correlated():
    meter = GasMeter(0.04, 0.6, 6.0, accuracy_class=1)  # WME limit 0.4 %
    errors = {0.6: 0.30, 2.4: 0.35, 6.0: 0.40}
    points = [(q, [stored(e, 0.05, 0.02)]) for q, e in errors.items()]
    result = evaluate_wme(points, meter, rule="guarded")
    assert result.wme.value == pytest.approx(weighted_mean_error(list(errors.items()), 6.0))
    # every input of the same name adds linearly over the points (Σw = 1): the stored rows cannot tell the
    # reading term from the calibration term, and r = 1 is the upper bound for a sum of positive weights
    assert result.wme.u == pytest.approx(math.hypot(0.05, 0.02))
    assert result.wme.details()["correlation"] == "assumed 1 where contributions add (conservative)"
    assert result.limit_pct == pytest.approx(0.4)
    assert result.wme.value + result.wme.U > 0.4 > result.wme.value
    assert result.decision.outcome is Outcome.CONDITIONAL_PASS
    low = evaluate_wme([(q, [stored(e / 4, 0.05, 0.02)]) for q, e in errors.items()], meter, rule="guarded")
    assert low.decision.outcome is Outcome.PASS


def test_durability_shift_and_error_after_are_decided_with_their_uncertainty():
    before = {"Q3": (2.4, [stored(0.2, 0.05, 0.02)])}  # class 2 upper zone: shift 1.5 %, error after 2.5 %
    point = durability_shift(before, {"Q3": [stored(1.6, 0.05, 0.02)]}, CLASS2, rule="guarded")[0]
    assert point.shift_pct == pytest.approx(1.4) and point.shift.U == pytest.approx(2 * math.sqrt(2) * math.hypot(0.05, 0.02))
    assert point.shift_decision.outcome is Outcome.CONDITIONAL_PASS and point.error_decision.outcome is Outcome.PASS
    assert point.outcome is Outcome.CONDITIONAL_PASS and point.ok


def test_repeatability_guarded_on_the_chi_square_interval_of_sigma():
    profile = load_profile("r49-2013")  # limit 1/3 MPE
    errors = [0.10, 0.30, 0.20]           # s = 0.1 %, ν = 2
    result = repeatability(errors, mpe_pct=2.0, profile=profile, rule="guarded")
    tail = (1 - 0.9545) / 2
    assert result.interval_pct[1] == pytest.approx(0.1 * math.sqrt(2 / chi2.ppf(tail, 2)))
    assert result.interval_pct[1] < result.limit_pct and result.outcome is Outcome.PASS
    wider = repeatability([0.0, 0.3, 0.6], mpe_pct=2.0, profile=profile, rule="guarded")  # s = 0.3 %
    assert wider.outcome is Outcome.CONDITIONAL_PASS
    assert wider.details()["specific_risk"]["probability"] == pytest.approx(chi2.cdf(2 * 0.3**2 / (2 / 3) ** 2, 2))
    assert repeatability([0.0, 0.3, 0.6], mpe_pct=2.0, profile=profile).outcome is Outcome.PASS  # simple: s ≤ limit
