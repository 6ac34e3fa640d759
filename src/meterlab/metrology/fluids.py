"""Densities of water and moist air.

Every function accepts floats, GTC uncertain reals or numpy arrays (the latter for Monte Carlo), and
refuses inputs outside the range where its formula is known to hold. Pressures are absolute, in Pa.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from GTC import exp as _gtc_exp
from GTC.lib import UncertainReal

from meterlab.metrology.budget import check_range as _check_range

__all__ = [
    "CIPM2007_FORMULA_U_REL",
    "air_density_cipm2007",
    "enhancement_factor",
    "moist_air_isentropic_exponent",
    "moist_air_molar_mass",
    "saturation_vapour_pressure_pa",
    "water_density",
    "water_density_tanaka",
    "water_vapour_mole_fraction",
    "water_vapour_partial_pressure_pa",
]

STANDARD_PRESSURE_PA = 101325.0
ZERO_CELSIUS_K = 273.15

# Tanaka M., Girard G., Davis R., Peuto A., Bignell N., "Recommended table for the density of water
# between 0 °C and 40 °C based on recent experimental reports", Metrologia 38 (2001) 301, eq. (1).
# SMOW, air-free, at 101 325 Pa.
TANAKA_A1 = -3.983035  # °C
TANAKA_A2 = 301.797  # °C
TANAKA_A3 = 522528.9  # °C²
TANAKA_A4 = 69.34881  # °C
TANAKA_A5 = 999.974950  # kg/m³

# Compressibility correction to Tanaka, rho(t, p) = rho(t)·[1 + (k0 + k1·t + k2·t²)·(p − 101 325 Pa)].
# UNVERIFIED: recalled as Tanaka et al. 2001, not seen in a retrieved copy (uncertainty.md §4.3).
# Our tests bound it against IAPWS-95 instead: within 2 ppm at 0.1 and 0.6 MPa (5–40 °C),
# within 4 ppm up to 2 MPa.
TANAKA_K0 = 50.74e-11  # Pa⁻¹
TANAKA_K1 = -0.326e-11  # Pa⁻¹ °C⁻¹
TANAKA_K2 = 0.00416e-11  # Pa⁻¹ °C⁻²

# Kell G. S., "Density, thermal expansivity, and compressibility of liquid water from 0 °C to 150 °C",
# J. Chem. Eng. Data 20 (1975) 97: density at 101 325 Pa and isothermal compressibility, rational functions
# of the ITS-68 temperature (coefficients recalled, UNVERIFIED against a retrieved copy). Above 40 °C
# `water_density` uses them, scaled to meet Tanaka at 40 °C; the tests bound the result against IAPWS-95:
# within 3 ppm from 40 °C to 90 °C, 0.1 to 1.6 MPa.
KELL_RHO_NUM = (999.83952, 16.945176, -7.9870401e-3, -46.170461e-6, 105.56302e-9, -280.54253e-12)  # kg/m³
KELL_RHO_DEN = 16.879850e-3  # °C⁻¹
KELL_KAPPA_NUM = (50.88496, 0.6163813, 1.459187e-3, 20.08438e-6, -58.47727e-9, 410.4110e-12)  # 1e-6 bar⁻¹
KELL_KAPPA_DEN = 19.67348e-3  # °C⁻¹
ITS68_PER_ITS90 = 1.00024  # t68 ≈ 1.00024·t90 over 0–100 °C (to well below 1 mK here)

# Picard A., Davis R. S., Gläser M., Fujii K., "Revised formula for the density of moist air
# (CIPM-2007)", Metrologia 45 (2008) 149.
CIPM_R = 8.314472  # J mol⁻¹ K⁻¹, the value the CIPM-2007 equation is defined with (CODATA 2006)
CIPM_MV = 18.01528e-3  # kg/mol, water
CIPM_MA_REF = 28.96546e-3  # kg/mol, dry air at x_CO2 = 0.0004
CIPM_PSV_A = 1.2378847e-5  # K⁻²
CIPM_PSV_B = -1.9121316e-2  # K⁻¹
CIPM_PSV_C = 33.93711047
CIPM_PSV_D = -6.3431645e3  # K
CIPM_F_ALPHA = 1.00062
CIPM_F_BETA = 3.14e-8  # Pa⁻¹
CIPM_F_GAMMA = 5.6e-7  # K⁻²
CIPM_A0, CIPM_A1, CIPM_A2 = 1.58123e-6, -2.9331e-8, 1.1043e-10
CIPM_B0, CIPM_B1 = 5.707e-6, -2.051e-8
CIPM_C0, CIPM_C1 = 1.9898e-4, -2.376e-6
CIPM_D, CIPM_E = 1.83e-11, -0.765e-8
# Relative standard uncertainty of the CIPM-2007 equation itself (Picard et al. 2008, Table 2, as cited
# by masscor); add it as a (1 + δ) factor when air density matters beyond buoyancy.
CIPM2007_FORMULA_U_REL = 22e-6

# Water vapour as an ideal gas near 20 °C: its molar isobaric heat capacity (NIST Chemistry WebBook, H2O gas,
# Shomate equation at 298 K: 33.59 J mol⁻¹ K⁻¹; 33.5-33.6 over 0-40 °C), which with a dry air's κ gives the
# isentropic exponent of moist air (ideal mixing of heat capacities).
WATER_VAPOUR_CP_J_MOL_K = 33.59

# Ranges enforced below. Tanaka's temperature range is the paper's; its pressure range is where the tests
# check it against IAPWS-95 (covers water meters rated MAP 16 bar). CIPM-2007 was assessed for laboratory air
# (recalled: 15–27 °C, 600–1100 hPa, UNVERIFIED); we allow 0–40 °C, which the published test values at
# 10 °C and 40 °C exercise. The p_sv fit agrees with IAPWS within 6e-5 over 0–60 °C (over liquid water).
TANAKA_T_RANGE_C = (0.0, 40.0)
WATER_T_RANGE_C = (0.0, 90.0)  # Tanaka to 40 °C, Kell above (checked against IAPWS-95 to 90 °C)
TANAKA_P_RANGE_PA = (50.0e3, 2.0e6)
CIPM_T_RANGE_C = (0.0, 40.0)
CIPM_P_RANGE_PA = (60.0e3, 110.0e3)
PSV_T_RANGE_C = (0.0, 60.0)
X_CO2_RANGE = (0.0, 0.005)


def _exp(x: Any) -> Any:
    return _gtc_exp(x) if isinstance(x, UncertainReal) else np.exp(x)


def water_density_tanaka(temperature_c: Any, pressure_pa: Any = STANDARD_PRESSURE_PA) -> Any:
    """Density of air-free SMOW in kg/m³ (Tanaka 2001) with the compressibility correction.

    rho = a5·[1 − (t + a1)²(t + a2) / (a3·(t + a4))] · [1 + (k0 + k1·t + k2·t²)·(p − 101 325 Pa)]
    Valid 0–40 °C; ``pressure_pa`` is absolute.
    """
    _check_range("temperature_c", temperature_c, *TANAKA_T_RANGE_C, "0 to 40 °C (Tanaka 2001)")
    _check_range("pressure_pa", pressure_pa, *TANAKA_P_RANGE_PA, "absolute pressure 50 kPa to 2 MPa")
    t = temperature_c
    rho_t = TANAKA_A5 * (1.0 - (t + TANAKA_A1) ** 2 * (t + TANAKA_A2) / (TANAKA_A3 * (t + TANAKA_A4)))
    kappa = TANAKA_K0 + TANAKA_K1 * t + TANAKA_K2 * t * t
    return rho_t * (1.0 + kappa * (pressure_pa - STANDARD_PRESSURE_PA))


def water_density(temperature_c: Any, pressure_pa: Any = STANDARD_PRESSURE_PA) -> Any:
    """Density of air-free water in kg/m³, 0–90 °C: Tanaka (2001) to 40 °C, above it Kell (1975) joined to
    Tanaka at 40 °C (hot-water meters: T50 to T90 classes). ``pressure_pa`` is absolute."""
    _check_range("temperature_c", temperature_c, *WATER_T_RANGE_C, "0 to 90 °C (Tanaka to 40 °C, Kell above)")
    _check_range("pressure_pa", pressure_pa, *TANAKA_P_RANGE_PA, "absolute pressure 50 kPa to 2 MPa")
    if isinstance(temperature_c, np.ndarray):
        cold = water_density_tanaka(np.minimum(temperature_c, TANAKA_T_RANGE_C[1]), pressure_pa)
        hot = _water_density_hot(np.maximum(temperature_c, TANAKA_T_RANGE_C[1]), pressure_pa)
        return np.where(temperature_c <= TANAKA_T_RANGE_C[1], cold, hot)
    t_value = temperature_c.x if isinstance(temperature_c, UncertainReal) else temperature_c
    if t_value <= TANAKA_T_RANGE_C[1]:
        return water_density_tanaka(temperature_c, pressure_pa)
    return _water_density_hot(temperature_c, pressure_pa)


def _kell(temperature_c: Any, pressure_pa: Any) -> Any:
    t = temperature_c * ITS68_PER_ITS90
    rho = sum(c * t ** i for i, c in enumerate(KELL_RHO_NUM)) / (1 + KELL_RHO_DEN * t)
    kappa_per_pa = sum(c * t ** i for i, c in enumerate(KELL_KAPPA_NUM)) / (1 + KELL_KAPPA_DEN * t) * 1e-11
    return rho * (1.0 + kappa_per_pa * (pressure_pa - STANDARD_PRESSURE_PA))


def _water_density_hot(temperature_c: Any, pressure_pa: Any) -> Any:
    join_c = TANAKA_T_RANGE_C[1]
    return _kell(temperature_c, pressure_pa) * water_density_tanaka(join_c, pressure_pa) / _kell(join_c, pressure_pa)


def saturation_vapour_pressure_pa(temperature_c: Any) -> Any:
    """Saturation vapour pressure over liquid water, p_sv = exp(A·T² + B·T + C + D/T) (CIPM-2007)."""
    _check_range("temperature_c", temperature_c, *PSV_T_RANGE_C, "0 to 60 °C (over liquid water)")
    T = temperature_c + ZERO_CELSIUS_K
    return _exp(CIPM_PSV_A * T * T + CIPM_PSV_B * T + CIPM_PSV_C + CIPM_PSV_D / T)


def enhancement_factor(temperature_c: Any, pressure_pa: Any) -> Any:
    """Enhancement factor of water vapour in air, f = α + β·p + γ·t² (CIPM-2007)."""
    return CIPM_F_ALPHA + CIPM_F_BETA * pressure_pa + CIPM_F_GAMMA * temperature_c * temperature_c


def water_vapour_partial_pressure_pa(temperature_c: Any, pressure_pa: Any, relative_humidity_pct: Any) -> Any:
    """Partial pressure of water vapour in moist air, p_v = h·f(p, t)·p_sv(t), h = RH/100."""
    _check_range("relative_humidity_pct", relative_humidity_pct, 0.0, 100.0, "0 to 100 %")
    h = relative_humidity_pct / 100.0
    return h * enhancement_factor(temperature_c, pressure_pa) * saturation_vapour_pressure_pa(temperature_c)


def water_vapour_mole_fraction(temperature_c: Any, pressure_pa: Any, relative_humidity_pct: Any) -> Any:
    """Amount fraction of water vapour in moist air, x_v = h·f·p_sv/p (CIPM-2007). It is what a gas stream keeps
    from place to place (the relative humidity changes with p and t, x_v does not)."""
    return water_vapour_partial_pressure_pa(temperature_c, pressure_pa, relative_humidity_pct) / pressure_pa


def moist_air_molar_mass(x_v: Any, dry_molar_mass: Any = CIPM_MA_REF) -> Any:
    """Molar mass of moist air in kg/mol: M = (1 − x_v)·M_a + x_v·M_v."""
    return (1.0 - x_v) * dry_molar_mass + x_v * CIPM_MV


def moist_air_isentropic_exponent(x_v: Any, dry_kappa: Any = 1.4) -> Any:
    """Isentropic exponent of moist air as an ideal mixture: κ = C_p/(C_p − R), C_p = (1 − x_v)·C_p,a + x_v·C_p,v,
    C_p,a = κ_a·R/(κ_a − 1) from the dry air's κ_a (1.4 gives 29.1 J mol⁻¹ K⁻¹)."""
    cp = (1.0 - x_v) * dry_kappa * CIPM_R / (dry_kappa - 1.0) + x_v * WATER_VAPOUR_CP_J_MOL_K
    return cp / (cp - CIPM_R)


def air_density_cipm2007(
    temperature_c: Any, pressure_pa: Any, relative_humidity_pct: Any, x_co2: Any = 0.0004
) -> Any:
    """Density of moist air in kg/m³ by the CIPM-2007 equation.

    rho_a = p·M_a/(Z·R·T)·[1 − x_v·(1 − M_v/M_a)], x_v = h·f·p_sv/p,
    M_a = [28.96546 + 12.011·(x_CO2 − 0.0004)]·10⁻³ kg/mol, Z from the CIPM-2007 virial expansion.
    """
    _check_range("temperature_c", temperature_c, *CIPM_T_RANGE_C, "0 to 40 °C (CIPM-2007 as used here)")
    _check_range("pressure_pa", pressure_pa, *CIPM_P_RANGE_PA, "absolute pressure 60 kPa to 110 kPa")
    _check_range("x_co2", x_co2, *X_CO2_RANGE, "CO2 mole fraction 0 to 0.005")
    t, p = temperature_c, pressure_pa
    T = t + ZERO_CELSIUS_K
    x_v = water_vapour_partial_pressure_pa(t, p, relative_humidity_pct) / p
    m_a = CIPM_MA_REF + 12.011e-3 * (x_co2 - 0.0004)
    z = (
        1.0
        - (p / T) * (CIPM_A0 + CIPM_A1 * t + CIPM_A2 * t * t + (CIPM_B0 + CIPM_B1 * t) * x_v
                     + (CIPM_C0 + CIPM_C1 * t) * x_v * x_v)
        + (p * p / (T * T)) * (CIPM_D + CIPM_E * x_v * x_v)
    )
    return p * m_a / (z * CIPM_R * T) * (1.0 - x_v * (1.0 - CIPM_MV / m_a))
