"""The gravimetric measurement model and the test-volume planner built on it."""

import numpy as np
import pytest

from meterlab.metrology import WaterMeter
from meterlab.metrology.budget import evaluate
from meterlab.metrology.methods import GravimetricMethod, GravimetricReading
from meterlab.metrology.montecarlo import distributions_of, monte_carlo, validate_gum
from meterlab.metrology.planner import PlanningError, expanded_uncertainty_pct, plan_volume, resolution_rule_volume_l
from meterlab.metrology.reference_volume import pulse_inputs, register_inputs

RIG = GravimetricMethod(
    balance_source="balance cert B-1", balance_u_rel=5e-5, balance_dof=50, balance_resolution_kg=0.001,
    thermometer_source="PRT cert T-1", water_temperature_u_c=0.05, temperature_difference_half_width_c=0.1,
    pressure_source="transmitter cert P-1", meter_pressure_u_pa=2000.0, diverter_timing_u_s=0.005,
)


def test_gravimetric_model_reproduces_the_r49_worked_error():
    # oiml-r49.md §9 vector 6: m = 99.700 kg at 20 °C, ρa 1.20, ρB 8000 -> Va = 99.984 L; Vi = 100.00 L -> E = +0.016 %
    reading = GravimetricReading(0.0, 99.700, 20.0, 20.0, 101325.0, 100.0)
    x = RIG.inputs(reading)
    assert RIG.reference_volume_m3(x).x == pytest.approx(0.099984, abs=5e-7)
    e = RIG.error(reading, register_inputs(0.0, 0.100, scale_interval_m3=1e-6))
    assert e.x == pytest.approx(0.016, abs=5e-4)


def test_budget_names_every_source():
    reading = GravimetricReading(1.0, 51.0, 20.0, 20.2, 4e5, 60.0)
    result = evaluate(RIG.error(reading, pulse_inputs(5000, 1e-5, source="MUT S/N 7 pulse output")))
    sources = {c.name: c.source for c in result.contributions}
    assert sources["balance calibration"] == "balance cert B-1"
    assert sources["meter water temperature"] == "PRT cert T-1"
    assert sources["MUT pulse output count"] == "MUT S/N 7 pulse output"
    assert sources["diverter timing"] == "diverter timing test"


def test_same_model_runs_on_arrays_and_validates_against_monte_carlo():
    reading = GravimetricReading(0.0, 99.700, 20.0, 20.0, 101325.0, 100.0)
    inputs = {**RIG.inputs(reading), **register_inputs(0.0, 0.100, scale_interval_m3=1e-6)}
    gum = evaluate(RIG.model(inputs), coverage_pct=95.0)
    mc = monte_carlo(RIG.model, distributions_of(inputs), trials=100_000, seed=5, coverage_pct=95.0)
    arrays = {k: np.full(3, getattr(v, "x", v)) for k, v in inputs.items()}
    assert RIG.model(arrays) == pytest.approx(np.full(3, gum.value))
    ok, *_ = validate_gum(gum, mc, significant_digits=1)
    assert ok


def test_resolution_rule_volume_from_profile():
    assert resolution_rule_volume_l(WaterMeter(2.5, 160), 0.05) == pytest.approx(10.0)   # 0.5 %, class 2
    assert resolution_rule_volume_l(WaterMeter(2.5, 160, accuracy_class=1), 0.05) == pytest.approx(20.0)


@pytest.mark.parametrize("accuracy_class", [1, 2])
def test_planned_volume_meets_the_limit_when_fed_back(accuracy_class):
    meter = WaterMeter(2.5, 160, accuracy_class=accuracy_class)
    for point in meter.test_points():
        plan = plan_volume(meter, point, RIG, resolution_l=0.05)
        limit = meter.max_expanded_uncertainty_pct(point.nominal_m3h)
        fed_back = expanded_uncertainty_pct(RIG, plan.volume_l * 1e-3, point.nominal_m3h, 0.05).U
        assert fed_back <= limit
        assert plan.expanded_uncertainty_pct == pytest.approx(fed_back)
        assert plan.volume_l >= plan.volume_for_resolution_l
        assert plan.duration_s == pytest.approx(plan.volume_l / point.nominal_m3h * 3.6)


def test_planned_volume_is_the_smallest_that_meets_the_limit():
    meter = WaterMeter(2.5, 160, accuracy_class=1)
    point = meter.test_points()[4]
    coarse = 2.0  # a coarse register makes the uncertainty, not the resolution rule, decide
    plan = plan_volume(meter, point, RIG, resolution_l=coarse)
    limit = meter.max_expanded_uncertainty_pct(point.nominal_m3h)
    smaller = expanded_uncertainty_pct(RIG, 0.97 * plan.volume_for_uncertainty_l * 1e-3, point.nominal_m3h, coarse).U
    assert smaller > limit


def test_planner_says_when_no_volume_is_enough():
    poor = GravimetricMethod(
        balance_source="worn balance", balance_u_rel=5e-3, balance_dof=50, balance_resolution_kg=0.001,
        thermometer_source="t", water_temperature_u_c=0.05, temperature_difference_half_width_c=0.1,
        pressure_source="p", meter_pressure_u_pa=2000.0)
    meter = WaterMeter(2.5, 160, accuracy_class=1)
    with pytest.raises(PlanningError, match="fixed contributions"):
        plan_volume(meter, meter.test_points()[4], poor, resolution_l=0.05)
