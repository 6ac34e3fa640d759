"""R 49 / R 137 declarations: derived flowrates, zones, MPE at every boundary, windows, bad input."""

import math
from pathlib import Path

import pytest
import yaml

from meterlab.errors import DeclarationError
from meterlab.metrology import GasMeter, WaterMeter, load_profile

PROFILES = Path(__file__).resolve().parents[2] / "procedures" / "standards"


def test_dn15_flowrates_from_q3_and_r():
    meter = WaterMeter(q3_m3h=2.5, r=160)
    assert meter.q1_m3h == pytest.approx(0.015625)
    assert meter.q2_m3h == pytest.approx(0.025)
    assert meter.q4_m3h == pytest.approx(3.125)


def test_r49_worked_example_r100():
    # oiml-r49.md §9 vector 1: Q3 = 2.5, R100 -> Q1 = 25 L/h, Q2 = 40 L/h, Q4 = 3.125 m³/h
    meter = WaterMeter(2.5, 100)
    assert (meter.q1_m3h, meter.q2_m3h, meter.q4_m3h) == pytest.approx((0.025, 0.040, 3.125))


def test_flow_windows_match_worked_example():
    # oiml-r49.md §9 vector 3, Q3 = 2.5, R100 (m³/h)
    expected = [(0.025, 0.0275), (0.040, 0.044), (0.8382, 0.9398), (1.7018, 1.8796), (2.25, 2.5), (2.96875, 3.125)]
    points = WaterMeter(2.5, 100).test_points()
    assert [p.name for p in points] == ["Q1", "Q2", "0.35(Q2+Q3)", "0.7(Q2+Q3)", "Q3", "Q4"]
    for point, (low, high) in zip(points, expected):
        assert (point.low_m3h, point.high_m3h) == pytest.approx((low, high))
        assert point.contains(point.nominal_m3h)


def test_third_window_nominal_is_035_q2_plus_q3():
    meter = WaterMeter(2.5, 160)
    assert meter.test_points()[2].nominal_m3h == pytest.approx(0.35 * (meter.q2_m3h + meter.q3_m3h))


@pytest.mark.parametrize("flowrate, zone", [(0.015625, "lower"), (0.0249999, "lower"), (0.025, "upper"), (3.125, "upper")])
def test_zone_boundaries(flowrate, zone):
    assert WaterMeter(2.5, 160).zone(flowrate) == zone


@pytest.mark.parametrize("flowrate", [0.0156, 3.1251, 0.0])
def test_zone_refuses_flowrate_outside_q1_q4(flowrate):
    with pytest.raises(DeclarationError, match="flowrate_m3h"):
        WaterMeter(2.5, 160).zone(flowrate)


@pytest.mark.parametrize(
    "accuracy_class, temperature_class, flowrate, water_c, mpe",
    [
        (2, "T30", 0.02, 20.0, 5.0),     # lower zone
        (2, "T30", 0.025, 20.0, 2.0),    # Q2 is upper
        (2, "T30", 3.125, 30.0, 2.0),    # 30 °C still cold
        (2, "T50", 2.5, 30.0, 2.0),
        (2, "T50", 2.5, 30.01, 3.0),     # above 30 °C: hot
        (2, "T50", 0.02, 45.0, 5.0),     # lower zone independent of temperature
        (1, "T30", 0.02, 20.0, 3.0),
        (1, "T30", 0.025, 0.1, 1.0),
        (1, "T90", 2.5, 80.0, 2.0),
        (1, "T30/90", 2.5, 30.0, 1.0),
    ],
)
def test_mpe_table(accuracy_class, temperature_class, flowrate, water_c, mpe):
    meter = WaterMeter(2.5, 160, accuracy_class=accuracy_class, temperature_class=temperature_class)
    assert meter.mpe_pct(flowrate, water_temperature_c=water_c) == mpe


def test_water_temperature_outside_the_class_is_refused():
    with pytest.raises(DeclarationError, match="water_temperature_c.*T30"):
        WaterMeter(2.5, 160).mpe_pct(2.5, water_temperature_c=40.0)


def test_significant_fault_is_half_upper_mpe():
    assert WaterMeter(2.5, 160).significant_fault_pct() == pytest.approx(1.0)
    assert WaterMeter(2.5, 160, accuracy_class=1).significant_fault_pct() == pytest.approx(0.5)
    assert WaterMeter(2.5, 160, temperature_class="T90").significant_fault_pct(water_temperature_c=50) == pytest.approx(1.5)


def test_limits_come_from_the_profile_file(tmp_path):
    data = yaml.safe_load((PROFILES / "r49-2013.yaml").read_text())
    data["mpe"]["classes"]["2"]["lower"] = 4.0
    data["flowrate_ratios"]["q2_over_q1"]["value"] = 2.5
    path = tmp_path / "lab-corrected.yaml"
    path.write_text(yaml.safe_dump(data))
    meter = WaterMeter(2.5, 160, profile=str(path))
    assert meter.q2_m3h == pytest.approx(2.5 * 2.5 / 160)
    assert meter.mpe_pct(0.02) == 4.0


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(q3_m3h=2.5, r=0), "r"),
        (dict(q3_m3h=2.5, r=-10), "r"),
        (dict(q3_m3h=math.nan, r=160), "q3_m3h"),
        (dict(q3_m3h=0, r=160), "q3_m3h"),
        (dict(q3_m3h=2.5, r=160, accuracy_class=3), "accuracy_class"),
        (dict(q3_m3h=2.5, r=160, accuracy_class=1.5), "accuracy_class"),
        (dict(q3_m3h=2.5, r=160, temperature_class="T45"), "temperature_class"),
        (dict(q3_m3h=2.5, r=1.2), "r"),  # Q2 = 1.6·Q1 would exceed Q3
        (dict(q3_m3h=2.5, r=160, q2_over_q1=0.9), "q2_over_q1"),
    ],
)
def test_invalid_water_declarations_name_field_value_and_allowed(kwargs, field):
    with pytest.raises(DeclarationError) as info:
        WaterMeter(**kwargs)
    err = info.value
    assert err.field == field
    assert field in str(err) and "allowed" in str(err)


def test_gas_meter_zones_and_mpe():
    meter = GasMeter(0.04, 0.6, 6.0, accuracy_class=1.5)
    assert meter.zone(0.04) == "lower" and meter.zone(0.5999) == "lower" and meter.zone(0.6) == "upper"
    assert meter.mpe_pct(0.1) == 3.0 and meter.mpe_pct(6.0) == 1.5
    assert GasMeter(0.04, 0.6, 6.0, accuracy_class=1).mpe_pct(0.1) == 2.0
    assert GasMeter(0.04, 0.6, 6.0, accuracy_class=0.5).mpe_pct(6.0) == 0.5
    with pytest.raises(DeclarationError, match="flowrate_m3h"):
        meter.mpe_pct(6.5)


def test_gas_test_points_cover_qmin_to_qmax():
    points = GasMeter(0.04, 0.6, 6.0).test_points()
    assert points[0].nominal_m3h == pytest.approx(0.041) and points[-1].nominal_m3h == pytest.approx(5.85)
    assert [p.nominal_m3h for p in points] == sorted(p.nominal_m3h for p in points)


def test_the_mpe_of_a_point_follows_its_window_not_the_achieved_flow():
    gas = GasMeter(0.04, 0.6, 6.0)  # class 1.5: 3 % below Qt, 1.5 % from Qt
    at_qt = next(p for p in gas.test_points() if p.name == "0.1Qmax")
    assert at_qt.low_m3h < gas.qt_m3h <= at_qt.high_m3h  # the window reaches below Qt
    assert gas.mpe_pct(gas.judged_flowrate_m3h(at_qt)) == 1.5  # judged in the upper zone wherever the flow fell
    qmin = gas.test_points()[0]
    assert gas.mpe_pct(gas.judged_flowrate_m3h(qmin)) == 3.0
    water = WaterMeter(2.5, 160)
    q1, q2, q4 = (next(p for p in water.test_points() if p.name == n) for n in ("Q1", "Q2", "Q4"))
    assert [water.mpe_pct(water.judged_flowrate_m3h(p)) for p in (q1, q2, q4)] == [5.0, 2.0, 2.0]
    assert water.judged_flowrate_m3h(q4) <= water.q4_m3h  # on the meter's range


@pytest.mark.parametrize(
    "args, kwargs, field",
    [
        ((0.04, 6.0, 6.0), {}, "qt_m3h"),
        ((0.04, 0.04, 6.0), {}, "qt_m3h"),
        ((0.04, 7.0, 6.0), {}, "qt_m3h"),
        ((6.0, 0.6, 0.04), {}, "qmin_m3h"),
        ((0.04, 0.6, 6.0), {"accuracy_class": 2}, "accuracy_class"),
        ((-1, 0.6, 6.0), {}, "qmin_m3h"),
    ],
)
def test_invalid_gas_declarations(args, kwargs, field):
    with pytest.raises(DeclarationError) as info:
        GasMeter(*args, **kwargs)
    assert info.value.field == field


def test_profile_kind_must_match_meter():
    with pytest.raises(DeclarationError, match="profile"):
        WaterMeter(2.5, 160, profile="r137-2012")
    with pytest.raises(DeclarationError, match="profile"):
        GasMeter(0.04, 0.6, 6.0, profile=load_profile("r49-2013"))
