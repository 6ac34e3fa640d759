"""Error algebra, WME, repeatability, sign rule, faults and durability shift."""

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from meterlab.errors import DeclarationError
from meterlab.metrology import (
    GasMeter,
    WaterMeter,
    durability_shift,
    error_of_indication,
    evaluate_fault,
    load_profile,
    repeatability,
    same_sign_rule,
    weighted_mean_error,
    wme_limit_pct,
)

PROFILES = Path(__file__).resolve().parents[2] / "procedures" / "standards"
volumes = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_error_of_indication_divides_by_the_reference():
    assert error_of_indication(100.5, 100.0) == pytest.approx(0.5)
    # Not the utility convention (divide by the meter volume), which would give 0.4975...
    assert error_of_indication(100.5, 100.0) != pytest.approx(100 * 0.5 / 100.5)


def test_error_refuses_non_positive_reference():
    with pytest.raises(DeclarationError, match="reference"):
        error_of_indication(1.0, 0.0)


@given(volumes, st.floats(min_value=0.5, max_value=1.5))
def test_error_inverts_to_the_indicated_volume(reference, ratio):
    # Meters err by percent, not by orders of magnitude: 1 + E/100 then keeps full precision.
    indicated = reference * ratio
    e = error_of_indication(indicated, reference)
    assert reference * (1 + e / 100) == pytest.approx(indicated, rel=1e-12)


@given(volumes, volumes, st.floats(min_value=1e-3, max_value=1e3))
def test_error_is_scale_invariant(indicated, reference, factor):
    assert error_of_indication(indicated * factor, reference * factor) == pytest.approx(
        error_of_indication(indicated, reference), rel=1e-9, abs=1e-9)


@given(volumes, volumes)
def test_error_sign_follows_over_or_under_registration(indicated, reference):
    e = error_of_indication(indicated, reference)
    assert (e > 0) == (indicated > reference) and (e < 0) == (indicated < reference)


WME_B = [(0.04, 1.20), (0.12, 0.80), (0.6, 0.30), (1.2, 0.25), (2.4, 0.10), (4.2, -0.05), (6.0, -0.20)]


def test_wme_vector_b_all_points():
    # oiml-r137.md §9 B: Σk = 1.82667, WME = +0.0159 %
    assert weighted_mean_error(WME_B, 6.0) == pytest.approx(0.01588, abs=5e-5)


def test_wme_vector_c_turbine():
    # oiml-r137.md §9 C: Σk·E = −0.009, Σk = 1.9, WME = −0.0047 %
    points = [(q * 100, e) for q, e in [(0.05, -0.01), (0.1, 0.03), (0.25, -0.05), (0.4, 0.10), (0.7, -0.01), (1.0, -0.08)]]
    assert weighted_mean_error(points, 100.0) == pytest.approx(-0.009 / 1.9, rel=1e-6)


def test_wme_upper_zone_only_when_the_profile_says_so(tmp_path):
    data = yaml.safe_load((PROFILES / "r137-2012.yaml").read_text())
    data["weighted_mean_error"]["points"] = "upper"
    path = tmp_path / "upper.yaml"
    path.write_text(yaml.safe_dump(data))
    # oiml-r137.md §9 B: Qt (0.6) to Qmax only: Σk = 1.8, WME = +0.0028 %
    assert weighted_mean_error(WME_B, 6.0, qt_m3h=0.6, profile=str(path)) == pytest.approx(0.005 / 1.8, rel=1e-6)
    with pytest.raises(DeclarationError, match="qt_m3h"):
        weighted_mean_error(WME_B, 6.0, profile=str(path))


def test_wme_weight_at_qmax_is_read_from_the_profile(tmp_path):
    data = yaml.safe_load((PROFILES / "r137-2012.yaml").read_text())
    data["weighted_mean_error"]["weight_at_qmax"]["value"] = 1.0
    path = tmp_path / "w1.yaml"
    path.write_text(yaml.safe_dump(data))
    plain = sum(q / 6 * e for q, e in WME_B) / sum(q / 6 for q, _ in WME_B)
    assert weighted_mean_error(WME_B, 6.0, profile=str(path)) == pytest.approx(plain)


def test_wme_limit_is_fraction_of_upper_mpe():
    assert wme_limit_pct(GasMeter(0.04, 0.6, 6.0, accuracy_class=1.5)) == pytest.approx(0.6)
    assert wme_limit_pct(GasMeter(0.04, 0.6, 6.0, accuracy_class=1)) == pytest.approx(0.4)


def test_repeatability_against_one_third_mpe():
    profile = load_profile("r49-2013")
    ok = repeatability([0.10, 0.30, 0.20], mpe_pct=2.0, profile=profile)
    assert ok.std_dev_pct == pytest.approx(0.1) and ok.limit_pct == pytest.approx(2 / 3) and ok.ok
    bad = repeatability([-0.8, 0.9, 0.0], mpe_pct=2.0, profile=profile)
    assert not bad.ok
    with pytest.raises(DeclarationError):
        repeatability([0.1], 2.0, profile)


def test_same_sign_rule():
    profile = load_profile("r49-2013")
    all_positive_large = [(1.2, 2.0), (1.5, 2.0), (3.0, 5.0)]
    result = same_sign_rule(all_positive_large, profile)
    assert result.applies and not result.ok and result.smallest_ratio == pytest.approx(0.6)
    assert same_sign_rule([(1.2, 2.0), (0.9, 2.0)], profile).ok           # 0.9 <= 0.5·2
    assert same_sign_rule([(1.9, 2.0), (-1.9, 2.0)], profile).ok          # mixed signs: rule does not apply
    assert not same_sign_rule([(1.9, 2.0), (-1.9, 2.0)], profile).applies
    # The R 137 profile keeps the rule disabled (unverified for R 137).
    assert same_sign_rule(all_positive_large, load_profile("r137-2012")).ok


def test_fault_evaluation_against_significant_fault_limit():
    meter = WaterMeter(2.5, 160)  # class 2: limit 1.0 %
    small = evaluate_fault(0.4, 1.3, meter)
    assert small.fault_pct == pytest.approx(0.9) and not small.significant
    big = evaluate_fault(0.4, -0.7, meter)
    assert big.fault_pct == pytest.approx(-1.1) and big.significant
    assert evaluate_fault(0.0, 1.0, meter).significant  # at the limit: significant (">=")


def test_durability_shift_uses_zone_limits():
    meter = WaterMeter(2.5, 160)  # class 2: shift 3 % lower / 1.5 % upper; errors 6 % / 2.5 %
    before = {"Q1": (0.016, 1.0), "Q3": (2.4, 0.2)}
    points = {p.label: p for p in durability_shift(before, {"Q1": 3.5, "Q3": 1.9}, meter)}
    assert points["Q1"].shift_pct == pytest.approx(2.5) and points["Q1"].ok
    assert points["Q3"].shift_pct == pytest.approx(1.7) and not points["Q3"].ok
    with pytest.raises(DeclarationError, match="after"):
        durability_shift(before, {"Q1": 1.0}, meter)
