"""The gravimetric measurement model and the test-volume planner built on it."""

from dataclasses import replace

import numpy as np
import pytest

from meterlab.errors import DeclarationError
from meterlab.metrology import GasMeter, WaterMeter
from meterlab.metrology.budget import evaluate
from meterlab.metrology.methods import (
    BellProverMethod,
    BellProverReading,
    GravimetricMethod,
    GravimetricReading,
    MasterMeterMethod,
    MasterMeterReading,
)
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


def test_the_rigs_reproducibility_is_a_type_a_input_with_its_degrees_of_freedom():
    reading = GravimetricReading(1.0, 51.0, 20.0, 20.2, 4e5, 60.0)
    mut = pulse_inputs(5000, 1e-5)
    validated = replace(RIG, reproducibility_u_pct=0.08, reproducibility_dof=9, reproducibility_source="validation V-3")
    without, with_ = evaluate(RIG.error(reading, mut)), evaluate(validated.error(reading, mut))
    line = next(c for c in with_.contributions if c.name == "rig reproducibility")
    assert line.source == "validation V-3" and line.dof == 9
    assert abs(line.contribution) == pytest.approx(0.08 * (1 + with_.value / 100), rel=1e-9)  # ∂E/∂δ = -V_i/V_ref
    assert "rig reproducibility" not in {c.name for c in without.contributions}  # none stated: no input
    assert with_.u == pytest.approx((without.u ** 2 + line.contribution ** 2) ** 0.5, rel=1e-9)
    assert with_.value == pytest.approx(without.value, abs=1e-12)
    assert with_.dof < 100 and with_.k > 2.0  # the validation's few runs widen the coverage factor


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


MASTER = MasterMeterMethod(
    master_meter_source="MM-1 cert 2026-117", calibration_points=((0.5, 0.40, 0.10), (2.0, 0.30, 0.08), (4.0, 0.20, 0.08)),
    resolution_l=0.01, reproducibility_half_width_pct=0.03, thermometer_source="PRT cert T-1",
    water_temperature_u_c=0.05, pressure_source="transmitter cert P-1", pressure_u_pa=2000.0)

BELL = BellProverMethod(
    bell_source="bell BP-1 cert G-22", effective_area_m2=0.25, effective_area_u_rel=0.0005, encoder_resolution_m=1e-5,
    thermometer_source="Pt100 cert G-7", temperature_u_c=0.05, bell_pressure_source="transmitter cert P-8",
    bell_pressure_u_pa=10.0, meter_pressure_source="transmitter cert P-9", meter_pressure_u_pa=10.0,
    temperature_difference_half_width_c=0.1)


def test_master_meter_method_applies_the_certificate_error_at_the_flowrate():
    p = 401325.0
    reading = MasterMeterReading(0.1003, 2.0, 20.0, p, 20.0, p)   # MM reads +0.3 % at 2 m³/h
    e = MASTER.error(reading, register_inputs(0.0, 0.1, scale_interval_m3=1e-6))
    assert e.x == pytest.approx(0.0, abs=1e-9)
    result = evaluate(e)
    assert result.contributions[0].name == "master meter error (certificate)"
    assert result.contributions[0].source == "MM-1 cert 2026-117"
    with pytest.raises(DeclarationError, match="calibrated range"):
        MASTER.error(MasterMeterReading(0.1, 5.0, 20.0, p, 20.0, p), register_inputs(0.0, 0.1, scale_interval_m3=1e-6))


def test_bell_prover_method_reproduces_r137_vector_a():
    # oiml-r137.md §9 A: V_bell 0.1 m³ at 101825 Pa, 20 °C; MUT at 101625 Pa, 20.5 °C; V_i 0.1009 -> E = +0.530 %
    reading = BellProverReading(0.4, 20.0, 101825.0, 20.5, 101625.0)
    e = BELL.error(reading, register_inputs(0.0, 0.1009, scale_interval_m3=1e-6))
    assert round(e.x, 3) == 0.530


def test_the_bell_budget_names_each_reading_once_by_the_certificate_that_read_it():
    from pathlib import Path

    from meterlab.calibration.certificates import load_certificate
    from meterlab.calibration.register import Register

    repo = Path(__file__).resolve().parents[2]
    register = Register(load_certificate(repo / "calibration" / f"{c}.yaml")
                        for c in ("bell-01", "prt-01", "ptx-g-01", "ptx-g-04"))
    method = BellProverMethod.from_register(register, bell="bell-01", thermometer="prt-01", bell_pressure="ptx-g-04",
                                            meter_pressure="ptx-g-01", encoder_resolution_m=1e-4,
                                            temperature_difference_half_width_c=0.1)
    reading = BellProverReading(0.8, 20.0, 101800.0, 20.0, 101300.0)
    result = evaluate(method.error(reading, register_inputs(0.0, 0.76, scale_interval_m3=1e-4)))
    sources = {c.name: c.source for c in result.contributions}
    assert sources["bell gas pressure"].startswith("ptx-g-04") and sources["MUT gas pressure"].startswith("ptx-g-01")
    # one thermometer, one input; the unmeasured difference between the places is its own input
    assert {n for n in sources if "temperature" in n} == {"gas temperature", "temperature difference bell - meters"}
    assert method.effective_area_dof == 30 and result.dof < 1e6  # the area's 30 degrees of freedom are kept


def test_planner_on_a_gas_meter_with_a_bell_prover():
    meter = GasMeter(0.04, 0.6, 6.0, accuracy_class=1.5)
    for point in meter.test_points():
        plan = plan_volume(meter, point, BELL, resolution_l=0.2)
        assert plan.volume_for_resolution_l == 0.0  # R 137 profile has no R 49-style resolution rule
        assert expanded_uncertainty_pct(BELL, plan.volume_l * 1e-3, point.nominal_m3h, 0.2).U <= plan.max_uncertainty_pct


def test_master_meter_planning_meets_the_limit():
    meter = WaterMeter(2.5, 160)
    for point in meter.test_points()[2:5]:
        plan = plan_volume(meter, point, MASTER, resolution_l=0.05)
        assert expanded_uncertainty_pct(MASTER, plan.volume_l * 1e-3, point.nominal_m3h, 0.05).U <= plan.max_uncertainty_pct
