"""Corrections from certificates: values and uncertainties at and between table rows, equations, and the
range guard that refuses to extrapolate."""

import math
from pathlib import Path

import pytest
from GTC import ureal
from hypothesis import given
from hypothesis import strategies as st

from meterlab.calibration.corrections import OutOfCalibratedRange
from meterlab.calibration.register import Register
from meterlab.errors import DeclarationError, MeterlabError
from meterlab.metrology.budget import declaration, evaluate, parse_label
from meterlab.metrology.reference_volume import interpolate_calibration_curve

CALIBRATION = Path(__file__).resolve().parents[2] / "calibration"
REGISTER = Register.load(CALIBRATION)
PRT_SOURCE = "prt-01 cert T-2026-0412 (Beta Temperature and Pressure Laboratory)"
# prt-01.yaml: (x °C, correction °C, U °C), k = 2
PRT_ROWS = [(0, -0.012, 0.020), (10, -0.009, 0.020), (20, -0.006, 0.020), (30, -0.004, 0.020),
            (50, 0.001, 0.025), (70, 0.006, 0.030), (90, 0.011, 0.035)]


@pytest.mark.parametrize("x, correction, big_u", PRT_ROWS)
def test_at_a_table_row_the_row_is_returned(x, correction, big_u):
    result = REGISTER.correction("thermometer", at=x)
    assert result.x == pytest.approx(correction, abs=1e-12)
    assert result.u == pytest.approx(big_u / 2)
    assert math.isinf(result.df)


def test_between_rows_the_value_is_linear_and_u_the_larger_of_the_two():
    result = REGISTER.correction("thermometer", at=40.0)         # between 30 (-0.004) and 50 (+0.001)
    assert result.x == pytest.approx(-0.0015)
    assert result.u == pytest.approx(0.025 / 2)
    quarter = REGISTER.correction("thermometer", at=12.5)        # a quarter of the way from 10 to 20
    assert quarter.x == pytest.approx(-0.009 + 0.25 * 0.003)
    assert quarter.u == pytest.approx(0.010)


def test_the_result_is_a_labelled_input_naming_the_certificate():
    result = REGISTER.correction("prt-01", at=20.3)
    name, source = parse_label(result.label)
    assert source == PRT_SOURCE
    assert name == "prt-01 correction at 20.3 °C"
    assert declaration(result).shape == "normal"
    budget = evaluate(result * 2.0)
    assert budget.contributions[0].source == PRT_SOURCE


def test_per_row_coverage_factor_and_degrees_of_freedom_are_kept():
    result = REGISTER.correction("scale", at=25.0)               # rows 20 and 30 kg, k = 2.05, ν = 50
    assert result.x == pytest.approx(0.00025)
    assert result.u == pytest.approx(0.0016 / 2.05)
    assert result.df == 50


@pytest.mark.parametrize("flowrate_m3h", [0.1, 0.3, 1.75, 2.5, 7.0, 10.0])
def test_master_meter_curve_agrees_with_the_metrology_core(flowrate_m3h):
    certificate = REGISTER.get("master_meter")
    ours = certificate.evaluate(flowrate_m3h)
    core = interpolate_calibration_curve(flowrate_m3h, certificate.calibration_points(), name="E",
                                         source=certificate.source)
    assert (ours.x, ours.u) == pytest.approx((core.x, core.u))


@pytest.mark.parametrize("reference, at", [
    ("thermometer", 90.0001), ("thermometer", -0.5), ("thermometer", math.nan),
    ("master_meter", 0.09), ("master_meter", 12.0), ("bell_prover", 1.2), ("scale", 60.5),
])
def test_outside_the_calibrated_range_it_raises(reference, at):
    with pytest.raises(OutOfCalibratedRange):
        REGISTER.correction(reference, at=at)


def test_the_range_error_names_standard_certificate_value_and_range():
    with pytest.raises(OutOfCalibratedRange) as caught:
        REGISTER.correction("master_meter", at=12.0)
    message = str(caught.value)
    for words in ("mm-w-01", "F-2026-1104", "flowrate = 12 m³/h", "0.1 to 10 m³/h", "never extrapolated"):
        assert words in message
    assert isinstance(caught.value, MeterlabError)


def test_every_calibrated_variable_given_is_range_checked():
    ok = REGISTER.correction("master_meter", at={"flowrate": 2.5, "water_temperature": 20.0})
    assert ok.x == pytest.approx(0.02)
    with pytest.raises(OutOfCalibratedRange, match=r"water_temperature = 45 °C .* 10 to 30 °C"):
        REGISTER.correction("master_meter", at={"flowrate": 2.5, "water_temperature": 45.0})
    with pytest.raises(DeclarationError, match="flowrate, water_temperature"):
        REGISTER.correction("master_meter", at={"flow": 2.5})


def test_equation_value_slope_and_uncertainty():
    area = REGISTER.correction("bell_prover", at=0.5)           # A = 0.950214 − 0.000018·h, U = 0.00019, k = 2
    assert area.x == pytest.approx(0.950214 - 0.000018 * 0.5)
    assert area.u == pytest.approx(0.000095)
    assert area.df == 30
    frequency = REGISTER.correction("counter", at=23.0)
    assert (frequency.x, frequency.u) == pytest.approx((10_000_001.8, 0.2))


def test_a_multi_element_standard_needs_the_element():
    assert REGISTER.correction("nozzle_bank", at=101325.0, element="N3").x == pytest.approx(0.9692)
    with pytest.raises(DeclarationError, match="N1, N2, N3, N4, N5, N6, N7, N8"):
        REGISTER.correction("nozzle_bank", at=101325.0)
    with pytest.raises(DeclarationError, match="single correction"):
        REGISTER.correction("thermometer", at=20.0, element="N3")


def test_an_uncertain_evaluation_point_adds_slope_times_its_uncertainty():
    temperature = ureal(40.0, 0.05, label="water temperature | readout")
    result = REGISTER.correction("thermometer", at=temperature)
    slope = 0.005 / 20                                            # rows 30 and 50 °C
    assert result.x == pytest.approx(-0.0015)
    assert result.u == pytest.approx(math.hypot(0.0125, slope * 0.05))


@given(st.floats(min_value=0.0, max_value=90.0))
def test_inside_the_range_a_value_lies_between_its_bracketing_rows(x):
    result = REGISTER.correction("thermometer", at=x)
    below = max((row for row in PRT_ROWS if row[0] <= x), key=lambda row: row[0])
    above = min((row for row in PRT_ROWS if row[0] >= x), key=lambda row: row[0])
    low, high = sorted((below[1], above[1]))
    assert low - 1e-12 <= result.x <= high + 1e-12
    assert result.u == pytest.approx(max(below[2], above[2]) / 2)


@given(st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=90.0 + 1e-9)))
def test_outside_the_range_nothing_is_ever_extrapolated(x):
    with pytest.raises(OutOfCalibratedRange):
        REGISTER.correction("thermometer", at=x)
