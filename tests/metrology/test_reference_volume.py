"""Reference-volume models: R 49 §9.6, R 137 §9 vectors A and F, and the sheet's worked effects."""

from __future__ import annotations

import math

import pytest
from GTC import reporting

from meterlab.errors import DeclarationError
from meterlab.metrology.budget import (
    evaluate,
    from_certificate,
    quantity,
    rectangular,
)
from meterlab.metrology.fluids import saturation_vapour_pressure_pa, water_density_tanaka
from meterlab.metrology.indication import error_of_indication
from meterlab.metrology.reference_volume import (
    bell_prover_volume,
    bell_prover_volume_at_meter,
    buoyancy_factor,
    critical_flow_function_ideal,
    gas_master_meter_volume,
    gas_volume_at_meter,
    gravimetric_volume,
    indicated_volume_pulses,
    indicated_volume_register,
    interpolate_calibration_curve,
    master_meter_volume,
    sonic_nozzle_mass_flow,
    sonic_nozzle_volume,
    volumetric_tank_volume,
)

ATM = 101325.0


# ------------------------------------------------------------------------------------- gravimetric
def test_buoyancy_factor_at_20c():
    assert buoyancy_factor(1.20, 8000.0, water_density_tanaka(20.0)) == pytest.approx(1.0010534, abs=1e-7)


def test_r49_worked_gravimetric_error():
    # oiml-r49.md §9 item 6: I = 99.700 kg at 20 °C → V_a = 99.984 L; V_i = 100.00 L → E = +0.016 %
    v_a = gravimetric_volume(
        99.700, water_temperature_tank_c=20.0, air_density=1.20, meter_temperature_c=20.0, meter_pressure_pa=ATM
    )
    assert v_a * 1000 == pytest.approx(99.984, abs=5e-4)
    assert round(error_of_indication(0.10000, v_a), 3) == 0.016


def test_three_bar_gauge_at_the_meter_changes_va_by_minus_138_ppm():
    kwargs = dict(water_temperature_tank_c=20.0, air_density=1.2, meter_temperature_c=20.0)
    at_atm = gravimetric_volume(100.0, meter_pressure_pa=ATM, **kwargs)
    at_3bar = gravimetric_volume(100.0, meter_pressure_pa=ATM + 3e5, **kwargs)
    assert (at_3bar / at_atm - 1) * 1e6 == pytest.approx(-138, abs=1)


def test_one_kelvin_tank_to_meter_mismatch_is_about_0_021_percent():
    kwargs = dict(water_temperature_tank_c=20.0, air_density=1.2, meter_pressure_pa=ATM)
    same = gravimetric_volume(100.0, meter_temperature_c=20.0, **kwargs)
    warmer = gravimetric_volume(100.0, meter_temperature_c=21.0, **kwargs)
    assert (warmer / same - 1) * 100 == pytest.approx(0.021, abs=0.0005)


def test_diverter_timing_correction_and_its_uncertainty():
    dt = quantity(0.0, 0.010, name="diverter timing", source="TIS-47 long/short diversion test")
    base = dict(water_temperature_tank_c=20.0, air_density=1.2, meter_temperature_c=20.0, meter_pressure_pa=ATM)
    plain = gravimetric_volume(100.0, **base)
    v = gravimetric_volume(100.0, diverter_timing_s=dt, fill_time_s=60.0, **base)
    assert v.x == pytest.approx(plain)
    assert v.u / v.x == pytest.approx(0.010 / 60.0, rel=1e-9)
    shifted = gravimetric_volume(100.0, diverter_timing_s=0.06, fill_time_s=60.0, **base)
    assert shifted / plain == pytest.approx(1.001, rel=1e-12)
    with pytest.raises(DeclarationError) as err:
        gravimetric_volume(100.0, diverter_timing_s=dt, **base)
    assert err.value.field == "fill_time_s"


def test_density_relative_correction_enters_with_coefficient_minus_one():
    delta = rectangular(0.0, 20e-6, name="water not SMOW", source="lab water analysis")
    v = gravimetric_volume(
        100.0,
        water_temperature_tank_c=20.0,
        air_density=1.2,
        meter_temperature_c=20.0,
        meter_pressure_pa=ATM,
        water_density_rel_correction=delta,
    )
    # ρw enters as 1/ρw(MUT) and, slightly, through buoyancy 1/(1 − ρa/ρw(tank))
    assert reporting.sensitivity(v, delta) / v.x == pytest.approx(-1.0, abs=2e-3)


def test_gravimetric_refuses_water_outside_the_density_formulas_range():
    # Tanaka to 40 °C, Kell above it to 90 °C (hot-water meters); boiling water is refused.
    with pytest.raises(DeclarationError) as err:
        gravimetric_volume(
            100.0, water_temperature_tank_c=95.0, air_density=1.2, meter_temperature_c=20.0, meter_pressure_pa=ATM
        )
    assert err.value.field == "temperature_c" and "90 °C" in str(err.value)
    hot = gravimetric_volume(100.0, water_temperature_tank_c=50.0, air_density=1.2, meter_temperature_c=50.0,
                             meter_pressure_pa=ATM)
    assert hot == pytest.approx(100.0 / 988.035 * (1 - 1.2 / 8000) / (1 - 1.2 / 988.035), rel=1e-5)


# ------------------------------------------------------------------------ volumetric, master meter
def test_volumetric_tank_expansion_and_density_ratio():
    assert volumetric_tank_volume(
        0.1, tank_temperature_c=20.0, expansion_coefficient_per_k=4.8e-5, meter_temperature_c=20.0,
        meter_pressure_pa=ATM,
    ) == pytest.approx(0.1, rel=1e-15)
    v = volumetric_tank_volume(
        0.1, tank_temperature_c=22.0, expansion_coefficient_per_k=4.8e-5, meter_temperature_c=20.0,
        meter_pressure_pa=ATM,
    )
    expected = 0.1 * (1 + 4.8e-5 * 2) * water_density_tanaka(22.0) / water_density_tanaka(20.0)
    assert v == pytest.approx(expected, rel=1e-15)
    # warmer tank water is lighter: fewer kilograms passed the 20 °C meter than 0.1 m³ at 20 °C
    assert v < 0.1 * (1 + 4.8e-5 * 2)


def test_water_master_meter():
    v = master_meter_volume(
        0.1005, error_pct=0.5, mm_temperature_c=20.0, mm_pressure_pa=ATM + 2e5, meter_temperature_c=20.0,
        meter_pressure_pa=ATM + 2e5,
    )
    assert v == pytest.approx(0.1, rel=1e-12)
    v_p = master_meter_volume(
        0.1005, error_pct=0.5, mm_temperature_c=20.0, mm_pressure_pa=ATM + 3e5, meter_temperature_c=20.0,
        meter_pressure_pa=ATM,
    )
    assert (v_p / v - 1) * 1e6 == pytest.approx(138, abs=1)  # denser at the MM → more volume at MUT


CURVE = [(10.0, -0.20, 0.10), (1.0, 0.40, 0.20), (4.0, 0.10, 0.12)]  # deliberately unsorted


def test_interpolation_between_points_and_conservative_u():
    e = interpolate_calibration_curve(2.5, CURVE, name="master meter error", source="MM cert. 2024-33")
    assert e.x == pytest.approx(0.25, abs=1e-12)  # halfway between 0.40 @ 1 and 0.10 @ 4
    assert e.u == pytest.approx(0.10, abs=1e-12)  # larger U (0.20) / 2
    assert e.label == "master meter error | MM cert. 2024-33"


def test_interpolation_at_a_calibration_point_uses_that_point():
    e = interpolate_calibration_curve(4.0, CURVE, name="mm", source="cert")
    assert (e.x, e.u) == (0.10, 0.06)
    top = interpolate_calibration_curve(10.0, CURVE, name="mm", source="cert")
    assert (top.x, top.u) == (-0.20, 0.05)


@pytest.mark.parametrize("flowrate_m3h", [0.999, 10.0001, 25.0])
def test_interpolation_never_extrapolates(flowrate_m3h):
    with pytest.raises(DeclarationError) as err:
        interpolate_calibration_curve(flowrate_m3h, CURVE, name="mm", source="MM cert. 2024-33")
    assert err.value.field == "flowrate_m3h"
    assert "1 to 10" in err.value.allowed and "MM cert. 2024-33" in err.value.allowed


def test_interpolation_refuses_bad_curves():
    with pytest.raises(DeclarationError):
        interpolate_calibration_curve(2.0, [(1.0, 0.1, 0.1), (1.0, 0.2, 0.1)], name="mm", source="c")
    with pytest.raises(DeclarationError):
        interpolate_calibration_curve(2.0, [], name="mm", source="c")


def test_master_meter_budget_names_the_certificate():
    e_mm = interpolate_calibration_curve(2.5, CURVE, name="master meter error", source="MM cert. 2024-33")
    t = quantity(20.0, 0.1, name="water temperature", source="PRT cert. T-3")
    v_a = master_meter_volume(
        0.1, error_pct=e_mm, mm_temperature_c=t, mm_pressure_pa=ATM, meter_temperature_c=t, meter_pressure_pa=ATM
    )
    result = evaluate(error_of_indication(0.1003, v_a))
    top = result.contributions[0]
    assert (top.name, top.source) == ("master meter error", "MM cert. 2024-33")
    assert abs(top.contribution) == pytest.approx(0.10, rel=1e-2)  # ≈ 1:1 in percent
    # one thermometer for both meters: its effect cancels exactly
    assert next(c for c in result.contributions if c.name == "water temperature").contribution == 0


# -------------------------------------------------------------------------------------------- gas
def test_r137_vector_a_bell_prover():
    v_ref = bell_prover_volume_at_meter(
        0.4, effective_area_m2=0.25, bell_temperature_c=20.00, bell_pressure_pa=101825.0,
        p_mut_pa=101625.0, t_mut_c=20.50,
    )
    assert v_ref == pytest.approx(0.100368, abs=5e-7)
    assert round(error_of_indication(0.100900, v_ref), 3) == 0.530
    assert round(error_of_indication(0.100900, 0.1), 3) == 0.900  # without the p/T correction


def test_gas_volume_at_meter_formula_and_z():
    v = gas_volume_at_meter(0.1, p_ref_pa=101825.0, t_ref_c=20.0, p_mut_pa=101625.0, t_mut_c=20.5, z_mut=0.999)
    assert v == pytest.approx(0.1 * 101825 / 101625 * 293.65 / 293.15 * 0.999, rel=1e-14)


def test_gas_temperature_sensitivity_is_0_34_percent_per_kelvin():
    t_mut = quantity(20.0, 0.1, name="MUT gas temperature", source="Pt100 cert. G-9")
    v = gas_volume_at_meter(0.1, p_ref_pa=ATM, t_ref_c=20.0, p_mut_pa=ATM, t_mut_c=t_mut)
    assert 100 * reporting.sensitivity(v, t_mut) / v.x == pytest.approx(100 / 293.15, rel=1e-12)


def test_humid_bell_to_dry_meter_conserves_dry_gas():
    # water-sealed bell saturated, dry MUT at the same p and t: dry-gas partial pressure rises
    v = gas_volume_at_meter(
        0.1, p_ref_pa=ATM, t_ref_c=20.0, p_mut_pa=ATM, t_mut_c=20.0, humidity_ref_pct=100.0, humidity_mut_pct=0.0
    )
    f = 1.00062 + 3.14e-8 * ATM + 5.6e-7 * 20.0**2
    assert v == pytest.approx(0.1 * (ATM - f * saturation_vapour_pressure_pa(20.0)) / ATM, rel=1e-14)
    assert v == pytest.approx(0.1 * (1 - 0.02318), rel=1e-4)
    same = gas_volume_at_meter(
        0.1, p_ref_pa=ATM, t_ref_c=20.0, p_mut_pa=ATM, t_mut_c=20.0, humidity_ref_pct=60.0, humidity_mut_pct=60.0
    )
    assert same == pytest.approx(0.1, rel=1e-15)
    with pytest.raises(DeclarationError):
        gas_volume_at_meter(0.1, p_ref_pa=ATM, t_ref_c=20.0, p_mut_pa=ATM, t_mut_c=20.0, humidity_ref_pct=50.0)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(p_mut_pa=ATM, t_mut_c=293.65), "t_mut_c"),  # kelvin given as °C
        (dict(p_mut_pa=1.01625, t_mut_c=20.5), "p_mut_pa"),  # bar given as Pa
    ],
)
def test_gas_refuses_unit_mistakes(kwargs, field):
    with pytest.raises(DeclarationError) as err:
        gas_volume_at_meter(0.1, p_ref_pa=ATM, t_ref_c=20.0, **kwargs)
    assert err.value.field == field


def test_bell_thermal_expansion():
    assert bell_prover_volume(0.4, effective_area_m2=0.25, bell_temperature_c=20.0) == pytest.approx(0.1)
    v = bell_prover_volume(0.4, effective_area_m2=0.25, bell_expansion_coefficient_per_k=17e-6, bell_temperature_c=25.0)
    assert v == pytest.approx(0.1 * (1 + 17e-6 * 5) ** 2, rel=1e-15)


def test_bell_prover_budget_carries_sources():
    area = from_certificate(0.25, 0.25 * 0.0010, 2, name="bell effective area", source="bell cert. BP-1 (KRISS-like)")
    h = rectangular(0.4, 0.0001, name="bell displacement", source="linear encoder E-2")
    t_bell = quantity(20.0, 0.05, name="bell temperature", source="Pt100 cert. G-7")
    t_mut = quantity(20.5, 0.05, name="MUT gas temperature", source="Pt100 cert. G-9")
    p_bell = quantity(101825.0, 10.0, name="bell pressure", source="barometer cert. P-1")
    p_mut = quantity(101625.0, 10.0, name="MUT pressure", source="barometer cert. P-2")
    v_i = indicated_volume_register(12.345000, 12.445900, scale_interval_m3=1e-6, source="MUT S/N 123 register")
    v_ref = bell_prover_volume_at_meter(
        h, effective_area_m2=area, bell_temperature_c=t_bell, bell_pressure_pa=p_bell, p_mut_pa=p_mut, t_mut_c=t_mut
    )
    result = evaluate(error_of_indication(v_i, v_ref))
    assert round(result.value, 3) == 0.530
    assert (result.contributions[0].name, result.contributions[0].source) == (
        "bell effective area", "bell cert. BP-1 (KRISS-like)"
    )
    assert abs(result.contributions[0].contribution) == pytest.approx(0.05, rel=1e-2)
    by_name = {c.name: c for c in result.contributions}
    # temperatures: ±1/T per kelvin, ≈ 0.017 % for 0.05 K
    assert by_name["MUT gas temperature"].contribution == pytest.approx(-100 * 0.05 / 293.65 * 1.00530, rel=1e-3)
    assert by_name["bell temperature"].contribution == pytest.approx(100 * 0.05 / 293.15 * 1.00530, rel=1e-3)
    assert by_name["MUT register start reading"].source == "MUT S/N 123 register"


def test_critical_flow_function_for_air():
    assert critical_flow_function_ideal(1.4) == pytest.approx(0.68473, abs=5e-6)
    with pytest.raises(DeclarationError):
        critical_flow_function_ideal(1.0)


def test_r137_vector_f_sonic_nozzle():
    q_m = sonic_nozzle_mass_flow(0.002, 0.990, 101325.0, 20.0)
    assert q_m == pytest.approx(7.439e-4, abs=5e-8)
    v = sonic_nozzle_volume(0.002, 0.990, 101325.0, 20.0, duration_s=3600.0, p_mut_pa=101325.0, t_mut_c=20.0)
    assert v == pytest.approx(2.224, abs=5e-4)  # Q in m³/h at (p0, T0)


def test_sonic_nozzle_uncertainty_of_cd_is_relative_one_to_one():
    cd = from_certificate(0.990, 0.002, 2, name="nozzle Cd", source="nozzle cert. SN-4")
    q_m = sonic_nozzle_mass_flow(0.002, cd, 101325.0, 20.0)
    assert q_m.u / q_m.x == pytest.approx(0.001 / 0.990, rel=1e-12)
    real_gas = sonic_nozzle_mass_flow(0.002, 0.990, 101325.0, 20.0, critical_flow_function=0.6860)
    assert real_gas / q_m.x == pytest.approx(0.6860 / critical_flow_function_ideal(1.4), rel=1e-12)


def test_gas_master_meter():
    v = gas_master_meter_volume(
        0.1003, error_pct=0.3, p_mm_pa=102325.0, t_mm_c=20.0, p_mut_pa=101325.0, t_mut_c=21.0
    )
    assert v == pytest.approx(0.1 * 102325 / 101325 * 294.15 / 293.15, rel=1e-12)


# ---------------------------------------------------------------------------------- meter under test
def test_register_reading_uncertainty():
    v = indicated_volume_register(1.2345, 1.3345, scale_interval_m3=0.0001)
    assert v.x == pytest.approx(0.1, rel=1e-12)
    assert v.u == pytest.approx(0.0001 / math.sqrt(6), rel=1e-12)  # two readings ± δ/2 each
    names = {c.name for c in evaluate(v).contributions}
    assert names == {"MUT register start reading", "MUT register end reading"}


def test_pulse_count_uncertainty():
    v = indicated_volume_pulses(10_000, 1e-5, source="MUT S/N 123 pulse output, 0.01 L/pulse")
    assert v.x == pytest.approx(0.1)
    assert v.u == pytest.approx(1e-5 / math.sqrt(6), rel=1e-12)  # triangular: two independent gate phases
    line = evaluate(v).contributions[0]
    assert (line.name, line.source) == ("MUT pulse output count", "MUT S/N 123 pulse output, 0.01 L/pulse")
    with pytest.raises(DeclarationError):
        indicated_volume_pulses(10.5, 1e-5)
