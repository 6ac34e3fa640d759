"""Water and air density against published values (uncertainty.md §4.3, §4.4) and IAPWS-95."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from GTC import reporting, ureal

from meterlab.errors import DeclarationError
from meterlab.metrology.fluids import (
    air_density_cipm2007,
    saturation_vapour_pressure_pa,
    water_density,
    water_density_tanaka,
    water_vapour_partial_pressure_pa,
)

iapws = pytest.importorskip("iapws")

MMHG_PA = 133.322387415  # conventional millimetre of mercury


@functools.cache
def iapws95_rho(temperature_c: float, pressure_pa: float) -> float:
    # IAPWS-95 is slow (tens of ms per state); each state is computed once per session.
    return iapws.IAPWS95(T=temperature_c + 273.15, P=pressure_pa / 1e6).rho


# ------------------------------------------------------------------------------------------- Tanaka
def test_tanaka_at_20c_matches_published_value_to_1e_9():
    assert water_density_tanaka(20.0) == pytest.approx(998.2067455596, rel=1e-9)


@pytest.mark.parametrize(
    "temperature_c, expected, resolution",
    [
        (0.01, 999.8435, 1e-4),
        (4.0, 999.97495, 1e-5),
        (10.0, 999.7027, 1e-4),
        (25.0, 997.04702, 1e-5),
        (30.0, 995.6488, 1e-4),
        (40.0, 992.21521, 1e-5),
    ],
)
def test_tanaka_table_values(temperature_c, expected, resolution):
    # The sheet's values are rounded to `resolution`: agree within half of it.
    assert abs(water_density_tanaka(temperature_c) - expected) <= resolution / 2


# 601 325 Pa = 6 bar gauge over standard atmosphere; the sheet quotes IAPWS-95 there at 20 °C.
@pytest.mark.parametrize("pressure_pa", [101325.0, 601325.0])
@pytest.mark.parametrize("temperature_c", [5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0])
def test_tanaka_within_2_ppm_of_iapws95(temperature_c, pressure_pa):
    rho = water_density_tanaka(temperature_c, pressure_pa)
    assert abs(rho / iapws95_rho(temperature_c, pressure_pa) - 1) < 2e-6


@pytest.mark.parametrize("pressure_pa", [1.0e6, 2.0e6])
@pytest.mark.parametrize("temperature_c", [0.01, 10.0, 20.0, 30.0, 40.0])
def test_tanaka_within_4_ppm_of_iapws95_up_to_2_mpa(temperature_c, pressure_pa):
    # The top of the allowed pressure range: the (unverified) compressibility term still holds.
    rho = water_density_tanaka(temperature_c, pressure_pa)
    assert abs(rho / iapws95_rho(temperature_c, pressure_pa) - 1) < 4e-6


@pytest.mark.parametrize("pressure_pa", [101325.0, 601325.0, 1601325.0])
@pytest.mark.parametrize("temperature_c", [40.5, 50.0, 60.0, 70.0, 80.0, 90.0])
def test_hot_water_within_3_ppm_of_iapws95(temperature_c, pressure_pa):
    # Kell above 40 °C, joined to Tanaka: hot-water meters (T50 to T90) are measured at these temperatures.
    rho = water_density(temperature_c, pressure_pa)
    assert abs(rho / iapws95_rho(temperature_c, pressure_pa) - 1) < 3e-6


def test_water_density_is_continuous_at_40_c_and_takes_gtc_and_arrays():
    below, at, above = (water_density(t, 601325.0) for t in (40.0 - 1e-6, 40.0, 40.0 + 1e-6))
    assert abs(above - at) < 1e-6 and abs(at - below) < 1e-6 and water_density(40.0) == water_density_tanaka(40.0)
    rho = water_density(ureal(60.0, 0.1), 601325.0)
    assert rho.x == pytest.approx(water_density(60.0, 601325.0)) and 0.04 < rho.u < 0.06  # dρ/dt ≈ −0.52 kg/m³/K
    values = water_density(np.array([20.0, 40.0, 60.0]), 601325.0)
    assert list(values) == pytest.approx([water_density(t, 601325.0) for t in (20.0, 40.0, 60.0)])
    with pytest.raises(DeclarationError, match="0 to 90 °C"):
        water_density(95.0)


def test_tanaka_at_6_bar_matches_sheet_values():
    assert water_density_tanaka(20.0, 601325.0) == pytest.approx(998.43575, abs=1e-5)
    assert iapws95_rho(20.0, 601325.0) == pytest.approx(998.43607, abs=1e-5)


def test_tanaka_compressibility_matches_iapws_kappa_at_20c():
    # κ = (k0 + k1·t + k2·t²) = 4.5884e-10 /Pa at 20 °C per the sheet; IAPWS-95 gives 4.5891e-10.
    kappa = (water_density_tanaka(20.0, 201325.0) / water_density_tanaka(20.0) - 1) / 1e5
    assert kappa == pytest.approx(4.5884e-10, rel=1e-4)
    assert kappa == pytest.approx(iapws.IAPWS95(T=293.15, P=0.101325).kappa * 1e-6, rel=3e-3)


def test_tanaka_propagates_temperature_uncertainty():
    t = ureal(20.0, 0.05)
    rho = water_density_tanaka(t)
    h = 1e-4
    slope = (water_density_tanaka(20.0 + h) - water_density_tanaka(20.0 - h)) / (2 * h)
    assert rho.x == water_density_tanaka(20.0)
    assert rho.u == pytest.approx(abs(slope) * 0.05, rel=1e-6)
    # cubic expansion β = 2.068e-4 /K at 20 °C (IAPWS-95 alfav, uncertainty.md §4.3)
    assert -slope / rho.x == pytest.approx(2.068e-4, rel=2e-3)


def test_tanaka_accepts_arrays_like_scalars():
    t = np.array([5.0, 20.0, 35.0])
    np.testing.assert_allclose(water_density_tanaka(t), [water_density_tanaka(float(x)) for x in t], rtol=1e-15)


@pytest.mark.parametrize("temperature_c", [-0.5, 40.5, np.array([20.0, 41.0])])
def test_tanaka_refuses_temperature_outside_0_to_40(temperature_c):
    with pytest.raises(DeclarationError) as err:
        water_density_tanaka(temperature_c)
    assert err.value.field == "temperature_c"
    assert "0 to 40" in err.value.allowed


def test_tanaka_refuses_ureal_outside_range_and_pressure_in_wrong_unit():
    with pytest.raises(DeclarationError):
        water_density_tanaka(ureal(45.0, 0.1))
    with pytest.raises(DeclarationError) as err:
        water_density_tanaka(20.0, 4.0)  # bar, not Pa
    assert err.value.field == "pressure_pa"


# ---------------------------------------------------------------------------------------- CIPM-2007
def test_air_density_10c_730mmhg_40pct():
    # masscor tests/testthat/test-airDensities.R, citing "Comprehensive Mass Metrology" p. 205
    assert air_density_cipm2007(10.0, 730 * MMHG_PA, 40.0) == pytest.approx(1.19569, abs=2e-5)


def test_air_density_20c_101325pa_50pct():
    assert air_density_cipm2007(20.0, 101325.0, 50.0) == pytest.approx(1.199314, abs=1e-6)


def test_air_density_40c_760mmhg_40pct_within_masscor_test_resolution():
    # masscor compares round(rho in g/cm³, 7), i.e. to 1e-4 kg/m³; we compute 1.115035 against the
    # book's 1.11497 (the 6.5e-5 gap the sheet calls unresolved is below that resolution).
    rho = air_density_cipm2007(40.0, 760 * MMHG_PA, 40.0)
    assert rho == pytest.approx(1.115035, abs=1e-6)
    assert round(rho / 1000, 7) == round(1.11497e-3, 7)


def test_air_density_dry_air_is_slightly_denser_than_ideal_gas():
    # Z < 1 for air at room temperature (negative second virial coefficient): Z ≈ 1 − 3.6e-4 at 20 °C.
    rho = air_density_cipm2007(20.0, 101325.0, 0.0)
    ideal = 101325.0 * 28.96546e-3 / (8.314472 * 293.15)
    assert 1.0002 < rho / ideal < 1.0005


def test_air_density_co2_raises_molar_mass():
    low = air_density_cipm2007(20.0, 101325.0, 50.0, x_co2=0.0004)
    high = air_density_cipm2007(20.0, 101325.0, 50.0, x_co2=0.0014)
    assert high / low - 1 == pytest.approx(12.011e-3 * 0.001 / 28.96546e-3, rel=2e-2)


def _slope(f, x, step):
    return (f(x + step) - f(x - step)) / (2 * step)


def test_air_density_sensitivities_follow_the_formula():
    t, p, h = ureal(20.0, 0.1), ureal(101325.0, 10.0), ureal(50.0, 5.0)
    rho = air_density_cipm2007(t, p, h)
    assert rho.x == pytest.approx(1.199314, abs=1e-6)
    assert reporting.sensitivity(rho, t) == pytest.approx(
        _slope(lambda x: air_density_cipm2007(x, 101325.0, 50.0), 20.0, 1e-3), rel=1e-5)
    assert reporting.sensitivity(rho, p) == pytest.approx(
        _slope(lambda x: air_density_cipm2007(20.0, x, 50.0), 101325.0, 1.0), rel=1e-5)
    assert reporting.sensitivity(rho, h) == pytest.approx(
        _slope(lambda x: air_density_cipm2007(20.0, 101325.0, x), 50.0, 1e-3), rel=1e-5)


def test_dry_air_density_varies_as_p_over_t():
    t, p = ureal(20.0, 0.1), ureal(101325.0, 10.0)
    rho = air_density_cipm2007(t, p, 0.0)
    # dZ/dT ≈ +1e-5 /K adds ≈ 0.3 % to the ideal-gas −ρ/T
    assert reporting.sensitivity(rho, t) == pytest.approx(-rho.x / 293.15 * 1.0029, rel=5e-4)
    assert reporting.sensitivity(rho, p) == pytest.approx(rho.x / 101325.0, rel=2e-3)


@pytest.mark.parametrize(
    "args, field",
    [
        ((20.0, 1013.25, 50.0), "pressure_pa"),  # hPa passed as Pa
        ((293.15, 101325.0, 50.0), "temperature_c"),  # kelvin passed as °C
        ((20.0, 101325.0, 101.0), "relative_humidity_pct"),
        ((20.0, 101325.0, -1.0), "relative_humidity_pct"),
    ],
)
def test_air_density_refuses_out_of_range(args, field):
    with pytest.raises(DeclarationError) as err:
        air_density_cipm2007(*args)
    assert err.value.field == field


@pytest.mark.parametrize("temperature_c", [0.01, 10.0, 20.0, 30.0, 45.0, 60.0])
def test_saturation_vapour_pressure_agrees_with_iapws(temperature_c):
    reference = iapws.IAPWS97(T=temperature_c + 273.15, x=0.0).P * 1e6
    assert saturation_vapour_pressure_pa(temperature_c) == pytest.approx(reference, rel=1e-4)


def test_saturation_vapour_pressure_at_20c_and_range():
    assert saturation_vapour_pressure_pa(20.0) == pytest.approx(2339.16, abs=0.01)
    with pytest.raises(DeclarationError):
        saturation_vapour_pressure_pa(-5.0)


def test_partial_pressure_includes_enhancement_factor():
    pv = water_vapour_partial_pressure_pa(20.0, 101325.0, 100.0)
    f = 1.00062 + 3.14e-8 * 101325.0 + 5.6e-7 * 400.0
    assert pv == pytest.approx(f * saturation_vapour_pressure_pa(20.0), rel=1e-15)
    assert math.isclose(f, 1.004025, rel_tol=1e-6)
