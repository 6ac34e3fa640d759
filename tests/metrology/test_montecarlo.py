"""Monte Carlo (JCGM 101) against TV4 (JCGM 101 §9.2) and TV8 (NPL log example), and GUM validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from GTC import log

from meterlab.errors import DeclarationError
from meterlab.metrology import budget
from meterlab.metrology.indication import error_of_indication
from meterlab.metrology.montecarlo import (
    Arcsine,
    Normal,
    Rectangular,
    StudentT,
    Triangular,
    arcsine,
    distribution_of,
    monte_carlo,
    normal,
    numerical_tolerance,
    rectangular,
    rectangular_bounds,
    student_t,
    triangular,
    validate_gum,
)
from meterlab.metrology.reference_volume import gravimetric_volume

M = 10**6


def additive(d):
    return d["x1"] + d["x2"] + d["x3"] + d["x4"]


# ---------------------------------------------------------------------------------- TV4, §9.2
def test_tv4_four_normals():
    mc = monte_carlo(additive, {f"x{i}": normal(0.0, 1.0) for i in range(1, 5)}, trials=M, seed=1)
    assert mc.value == pytest.approx(0.0, abs=0.01)
    assert mc.u == pytest.approx(2.0, abs=0.01)
    assert (mc.low, mc.high) == (pytest.approx(-3.92, abs=0.02), pytest.approx(3.92, abs=0.02))


def test_tv4_four_rectangulars_and_gum_comparison():
    mc = monte_carlo(additive, {f"x{i}": rectangular(0.0, math.sqrt(3)) for i in range(1, 5)}, trials=M, seed=1)
    assert mc.u == pytest.approx(2.0, abs=0.01)
    assert (mc.low, mc.high) == (pytest.approx(-3.88, abs=0.02), pytest.approx(3.88, abs=0.02))
    xs = [budget.rectangular(0.0, math.sqrt(3), name=f"x{i}", source="JCGM 101 9.2") for i in range(1, 5)]
    gum = budget.evaluate(sum(xs[1:], xs[0]), coverage_pct=95.0)
    assert gum.U == pytest.approx(3.92, abs=0.005)
    # The GUM ends differ by ≈ 0.04 from the MCM's. At one significant digit (δ = 0.5) the GUM is
    # validated; at two (δ = 0.05) the verdict hinges on ±0.01 of sampling noise at M = 10⁶.
    ok, delta, d_low, d_high = validate_gum(gum, mc, interval="symmetric", significant_digits=1)
    assert ok and delta == 0.5
    assert d_low == pytest.approx(0.04, abs=0.015) and d_high == pytest.approx(0.04, abs=0.015)


# ---------------------------------------------------------------------------- TV8, y = ln x
def test_tv8_log_of_rectangular():
    mc = monte_carlo(lambda d: np.log(d["x"]), {"x": rectangular_bounds(0.1, 1.1)}, trials=M, seed=3)
    assert mc.value == pytest.approx(-0.665, abs=0.002)
    assert mc.u == pytest.approx(0.606, abs=0.002)
    assert mc.shortest_low == pytest.approx(-1.895, abs=0.005)
    assert mc.shortest_high == pytest.approx(0.095, abs=0.001)
    # exact values: E[ln x] = [x ln x − x] over [0.1, 1.1]; y's density e^y rises, so the shortest
    # interval ends at ln 1.1 and starts at ln(1.1 − 0.95)
    exact_mean = (1.1 * math.log(1.1) - 1.1) - (0.1 * math.log(0.1) - 0.1)
    assert mc.value == pytest.approx(exact_mean, abs=0.002)
    assert mc.shortest_low == pytest.approx(math.log(0.15), abs=0.003)
    assert mc.shortest_high == pytest.approx(math.log(1.1), abs=1e-4)


def test_tv8_gum_result_is_not_validated():
    x = budget.rectangular(0.6, 0.5, name="x", source="NPL DEM-ES-011 9.2")
    gum = budget.evaluate(log(x), coverage_pct=95.0)
    assert (gum.value, gum.u) == (pytest.approx(-0.511, abs=5e-4), pytest.approx(0.481, abs=5e-4))
    mc = monte_carlo(lambda d: np.log(d["x"]), {"x": distribution_of(x)}, trials=M, seed=3)
    ok, delta, d_low, d_high = validate_gum(gum, mc)
    assert not ok
    assert delta == 0.005 and d_low > 0.4 and d_high > 0.3


# ------------------------------------------------------------------ gravimetric point, GUM is fine
def test_gravimetric_point_gum_validated_with_same_model_code():
    inputs = {
        "balance": budget.from_certificate(100.0, 0.020, 2, dof=50, name="balance calibration", source="cert B-17"),
        "resolution": budget.rectangular(0.0, 0.005, name="balance resolution", source="d = 10 g"),
        "t_w": budget.quantity(20.0, 0.05, name="water temperature", source="PRT cert. T-3"),
        "rho_a": budget.quantity(1.2, 0.01, name="air density", source="CIPM-2007"),
        "rho_b": budget.rectangular(8000.0, 60.0, name="weights density", source="OIML R 111 F1"),
        "v_i": budget.rectangular(0.100300, 0.5e-6, name="indicated volume", source="MUT register"),
    }

    def error_pct(d):
        v_a = gravimetric_volume(
            d["balance"] + d["resolution"],
            water_temperature_tank_c=d["t_w"],
            air_density=d["rho_a"],
            weights_density=d["rho_b"],
            meter_temperature_c=d["t_w"],
            meter_pressure_pa=101325.0,
        )
        return error_of_indication(d["v_i"], v_a)

    gum = budget.evaluate(error_pct(inputs), coverage_pct=95.0)
    pdfs = {name: distribution_of(x) for name, x in inputs.items()}
    assert pdfs["balance"] == StudentT(100.0, 0.01, 50.0)
    mc = monte_carlo(error_pct, pdfs, trials=200_000, seed=4)
    assert mc.value == pytest.approx(gum.value, abs=1e-4)
    ok, delta, d_low, d_high = validate_gum(gum, mc)
    assert ok and delta == 0.0005


# ----------------------------------------------------------------------------------- mechanics
def test_seed_reproduces_and_distinguishes_runs():
    inputs = {"x": normal(1.0, 0.1), "y": rectangular(2.0, 0.5)}
    model = lambda d: d["x"] * d["y"]  # noqa: E731
    a = monte_carlo(model, inputs, trials=10_000, seed=11)
    assert a == monte_carlo(model, inputs, trials=10_000, seed=11)
    assert a != monte_carlo(model, inputs, trials=10_000, seed=12)
    assert (a.seed, a.trials, a.coverage_pct) == (11, 10_000, 95.0)
    assert a.generator.startswith("PCG64, numpy ")


@pytest.mark.parametrize(
    "dist, std",
    [
        (arcsine(1.0, 2.0), 2.0 / math.sqrt(2)),
        (triangular(1.0, 2.0), 2.0 / math.sqrt(6)),
        (rectangular(1.0, 2.0), 2.0 / math.sqrt(3)),
        (student_t(1.0, 2.0, 5), 2.0 * math.sqrt(5 / 3)),  # scaled t: u·√(ν/(ν−2))
    ],
)
def test_distribution_moments(dist, std):
    mc = monte_carlo(lambda d: d["x"], {"x": dist}, trials=400_000, seed=5)
    assert mc.value == pytest.approx(1.0, abs=0.02)
    assert mc.u == pytest.approx(std, rel=0.01)


def test_distribution_of_declared_inputs():
    assert distribution_of(budget.arcsine(0.0, 0.5, name="a", source="s")) == Arcsine(0.0, 0.5)
    assert distribution_of(budget.triangular(0.0, 0.5, name="t", source="s")) == Triangular(0.0, 0.5)
    assert distribution_of(budget.rectangular(3.0, 0.5, name="r", source="s")) == Rectangular(3.0, 0.5)
    assert distribution_of(budget.quantity(3.0, 0.5, name="n", source="s")) == Normal(3.0, 0.5)
    x = budget.quantity(1.0, 0.1, name="x", source="s")
    with pytest.raises(DeclarationError):
        distribution_of(x * 2)  # a result, not an input


def test_shortest_interval_of_a_skewed_sample_is_shorter():
    mc = monte_carlo(lambda d: np.exp(d["x"]), {"x": normal(0.0, 0.5)}, trials=100_000, seed=6)
    assert mc.shortest_high - mc.shortest_low < mc.high - mc.low
    assert mc.shortest_low < mc.low


def test_numerical_tolerance_per_jcgm_101_7_9_2():
    assert numerical_tolerance(1.6, 2) == 0.05  # u = 16·10⁻¹ → δ = ½·10⁻¹
    assert numerical_tolerance(0.481, 2) == 0.005
    assert numerical_tolerance(0.0996, 2) == 0.005  # rounds to 0.10 = 10·10⁻²
    assert numerical_tolerance(0.0105, 1) == 0.005


def test_refusals():
    with pytest.raises(DeclarationError):
        monte_carlo(lambda d: d["x"], {"x": normal(0, 1)}, trials=500)  # below 100/(1 − p)
    with pytest.raises(DeclarationError), np.errstate(invalid="ignore"):
        monte_carlo(lambda d: np.log(d["x"]), {"x": normal(0, 1)}, trials=10_000)  # log of negatives
    with pytest.raises(DeclarationError):
        rectangular_bounds(2.0, 1.0)
    gum = budget.evaluate(budget.quantity(0.0, 1.0, name="x", source="s"))  # 95.45 %
    mc = monte_carlo(lambda d: d["x"], {"x": normal(0, 1)}, trials=10_000)  # 95 %
    with pytest.raises(DeclarationError) as err:
        validate_gum(gum, mc)
    assert err.value.field == "coverage_pct"
