"""Reference volume at the conditions of the meter under test (MUT), and the MUT's indicated volume.

Each model takes labelled inputs (GTC ureals from :mod:`meterlab.metrology.budget`) or floats, and returns
the volume in m³ at the MUT's pressure and temperature; with ureals the result carries the full budget.
Models built only from arithmetic also accept numpy arrays, so Monte Carlo can run the same code.
Pressures are absolute, in Pa; temperatures in °C.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from meterlab.errors import DeclarationError
from meterlab.metrology.budget import check_range as _check
from meterlab.metrology.budget import quantity, rectangular, triangular, value_of
from meterlab.metrology.fluids import (
    STANDARD_PRESSURE_PA,
    ZERO_CELSIUS_K,
    water_density,
    water_vapour_partial_pressure_pa,
)

__all__ = [
    "MOLAR_GAS_CONSTANT",
    "bell_prover_volume",
    "bell_prover_volume_at_meter",
    "buoyancy_factor",
    "critical_flow_function_ideal",
    "gas_master_meter_volume",
    "gas_volume_at_meter",
    "gravimetric_volume",
    "indicated_volume_pulses",
    "indicated_volume_register",
    "interpolate_calibration_curve",
    "master_meter_volume",
    "sonic_nozzle_mass_flow",
    "sonic_nozzle_volume",
    "volumetric_tank_volume",
]

# Molar gas constant, exact since the 2019 SI (N_A·k).
MOLAR_GAS_CONSTANT = 8.314462618  # J mol⁻¹ K⁻¹
# Molar mass of dry air (ISO 2533 standard atmosphere value).
MOLAR_MASS_AIR = 0.0289647  # kg/mol

# Plausibility bounds that catch unit mistakes (kelvin for °C, bar or kPa for Pa). Not OIML limits.
_GAS_T_RANGE_C = (-100.0, 200.0)
_GAS_P_RANGE_PA = (1.0e3, 100.0e6)


def _positive(field: str, x: Any) -> None:
    _check(field, x, math.ulp(0.0), math.inf, "a value > 0")


def _gas_state(p_field: str, p: Any, t_field: str, t: Any) -> None:
    _check(p_field, p, *_GAS_P_RANGE_PA, "absolute pressure in Pa, 1 kPa to 100 MPa")
    _check(t_field, t, *_GAS_T_RANGE_C, "temperature in °C, −100 to 200 °C")


# ------------------------------------------------------------------------------------------------ water
def buoyancy_factor(air_density: Any, weights_density: Any, water_density: Any) -> Any:
    """Conventional weighing to true mass: (1 − ρa/ρB)/(1 − ρa/ρw)."""
    return (1.0 - air_density / weights_density) / (1.0 - air_density / water_density)


def gravimetric_volume(
    balance_indication_kg: Any,
    *,
    water_temperature_tank_c: Any,
    air_density: Any,
    weights_density: Any = 8000.0,
    meter_temperature_c: Any,
    meter_pressure_pa: Any,
    tank_pressure_pa: Any = STANDARD_PRESSURE_PA,
    diverter_timing_s: Any = None,
    fill_time_s: Any = None,
    water_density_rel_correction: Any = None,
) -> Any:
    """Volume at the MUT of the water collected in a weighing tank.

        m   = I·(1 − ρa/ρB)/(1 − ρa/ρw(t_tank, p_tank))     (weights adjusted at density ρB)
        V_a = m/ρw(t_MUT, p_MUT) · (1 + δt/t_fill)             (mass conserved meter → tank)

    δt (``diverter_timing_s``, value ≈ 0 with its uncertainty) is the flying-start/stop diverter
    timing correction: positive when the tank collected for less time than water passed the meter.
    ``water_density_rel_correction`` δ (value ≈ 0) scales both ρw by (1 + δ) for the density formula's
    own uncertainty and for water that is not SMOW (dissolved air, salts).
    """
    _positive("balance_indication_kg", balance_indication_kg)
    rho_tank = water_density(water_temperature_tank_c, tank_pressure_pa)
    rho_mut = water_density(meter_temperature_c, meter_pressure_pa)
    if water_density_rel_correction is not None:
        rho_tank = rho_tank * (1.0 + water_density_rel_correction)
        rho_mut = rho_mut * (1.0 + water_density_rel_correction)
    mass_kg = balance_indication_kg * buoyancy_factor(air_density, weights_density, rho_tank)
    volume_m3 = mass_kg / rho_mut
    if (diverter_timing_s is None) != (fill_time_s is None):
        raise DeclarationError(
            "diverter_timing_s" if diverter_timing_s is None else "fill_time_s",
            None,
            "diverter_timing_s and fill_time_s are given together (flying start/stop) or not at all",
        )
    if diverter_timing_s is not None:
        _positive("fill_time_s", fill_time_s)
        volume_m3 = volume_m3 * (1.0 + diverter_timing_s / fill_time_s)
    return volume_m3


def volumetric_tank_volume(
    v20_m3: Any,
    *,
    tank_temperature_c: Any,
    expansion_coefficient_per_k: Any,
    meter_temperature_c: Any,
    meter_pressure_pa: Any,
    tank_pressure_pa: Any = STANDARD_PRESSURE_PA,
    tank_reference_temperature_c: float = 20.0,
) -> Any:
    """Volume at the MUT of water read in a volumetric tank calibrated at 20 °C (uncertainty.md §4.5).

        V_a = V20·[1 + γ·(t_tank − 20 °C)]·ρw(t_tank, p_tank)/ρw(t_MUT, p_MUT)

    γ (``expansion_coefficient_per_k``) is the tank's cubical expansion coefficient (≈ 3α).
    """
    _positive("v20_m3", v20_m3)
    expansion = 1.0 + expansion_coefficient_per_k * (tank_temperature_c - tank_reference_temperature_c)
    density_ratio = water_density(tank_temperature_c, tank_pressure_pa) / water_density(
        meter_temperature_c, meter_pressure_pa
    )
    return v20_m3 * expansion * density_ratio


def master_meter_volume(
    indicated_m3: Any,
    *,
    error_pct: Any,
    mm_temperature_c: Any,
    mm_pressure_pa: Any,
    meter_temperature_c: Any,
    meter_pressure_pa: Any,
) -> Any:
    """Volume at the MUT from a water master meter (MM) in series (uncertainty.md §4.5).

        V_a = V_MM/(1 + E_MM/100) · ρw(t_MM, p_MM)/ρw(t_MUT, p_MUT)

    ``error_pct`` is the MM's error at the test flowrate, e.g. from :func:`interpolate_calibration_curve`.
    """
    _positive("indicated_m3", indicated_m3)
    corrected = indicated_m3 / (1.0 + error_pct / 100.0)
    return corrected * water_density(mm_temperature_c, mm_pressure_pa) / water_density(
        meter_temperature_c, meter_pressure_pa
    )


def interpolate_calibration_curve(
    flowrate_m3h: Any,
    points: Sequence[tuple[float, float, float]],
    *,
    name: str,
    source: str,
) -> Any:
    """A master meter's error (%) at Q from its certificate points [(Q m³/h, E %, U % at k = 2)].

    E is interpolated linearly between the bracketing points; its standard uncertainty is U/2 of the
    bracketing point with the larger U (conservative). The certificate U does not cover the
    interpolation itself: add a term for curvature between points if it matters, and the uncertainty
    of Q (slope × u(Q)) is not propagated. Q outside the calibrated range raises DeclarationError:
    a curve is never extrapolated.
    """
    pts = sorted((float(q), float(e), float(u)) for q, e, u in points)
    if not pts:
        raise DeclarationError("points", points, "at least one calibration point (Q, E %, U %)")
    qs = [p[0] for p in pts]
    if len(set(qs)) != len(qs) or qs[0] <= 0 or any(p[2] < 0 or not math.isfinite(p[2]) for p in pts):
        raise DeclarationError("points", points, "distinct flowrates > 0, each with U >= 0")
    q = float(value_of(flowrate_m3h))
    if not qs[0] <= q <= qs[-1]:
        raise DeclarationError(
            "flowrate_m3h",
            q,
            f"within the calibrated range {qs[0]:g} to {qs[-1]:g} m³/h of '{source}' (never extrapolated)",
        )
    i = min(int(np.searchsorted(qs, q, side="right")) - 1, len(pts) - 1)
    if qs[i] == q:
        error, big_u = pts[i][1], pts[i][2]
    else:
        (q0, e0, u0), (q1, e1, u1) = pts[i], pts[i + 1]
        error, big_u = e0 + (q - q0) / (q1 - q0) * (e1 - e0), max(u0, u1)
    return quantity(error, big_u / 2.0, name=name, source=source)


# -------------------------------------------------------------------------------------------------- gas
def _dry_pressure(p: Any, t: Any, humidity_pct: Any) -> Any:
    return p - water_vapour_partial_pressure_pa(t, p, humidity_pct)


def gas_volume_at_meter(
    reference_volume_m3: Any,
    *,
    p_ref_pa: Any,
    t_ref_c: Any,
    p_mut_pa: Any,
    t_mut_c: Any,
    z_ref: Any = 1.0,
    z_mut: Any = 1.0,
    humidity_ref_pct: Any = None,
    humidity_mut_pct: Any = None,
) -> Any:
    """A gas volume measured at the reference (p_ref, t_ref) expressed at the MUT (amount conserved).

        V_MUT = V_ref·(p_ref/p_MUT)·(T_MUT/T_ref)·(Z_MUT/Z_ref),   T = t + 273.15 K

    With both humidities (RH %), the dry-gas amount is conserved instead: each p is replaced by
    p − p_v, with p_v = φ·f(p, t)·p_sv(t) (CIPM-2007 enhancement factor f ≈ 1.004 included).
    """
    _positive("reference_volume_m3", reference_volume_m3)
    _gas_state("p_ref_pa", p_ref_pa, "t_ref_c", t_ref_c)
    _gas_state("p_mut_pa", p_mut_pa, "t_mut_c", t_mut_c)
    if (humidity_ref_pct is None) != (humidity_mut_pct is None):
        raise DeclarationError(
            "humidity_ref_pct" if humidity_ref_pct is None else "humidity_mut_pct",
            None,
            "both humidities (reference and MUT) or neither",
        )
    if humidity_ref_pct is not None:
        p_ref_pa = _dry_pressure(p_ref_pa, t_ref_c, humidity_ref_pct)
        p_mut_pa = _dry_pressure(p_mut_pa, t_mut_c, humidity_mut_pct)
    t_ratio = (t_mut_c + ZERO_CELSIUS_K) / (t_ref_c + ZERO_CELSIUS_K)
    return reference_volume_m3 * (p_ref_pa / p_mut_pa) * t_ratio * (z_mut / z_ref)


def bell_prover_volume(
    displacement_m: Any,
    *,
    effective_area_m2: Any,
    bell_expansion_coefficient_per_k: Any = 0.0,
    bell_temperature_c: Any,
    area_reference_temperature_c: float = 20.0,
) -> Any:
    """Gas volume displaced by a bell prover, at the bell's conditions.

        V_bell = A_eff·h·[1 + α·(t_bell − t_cal)]²

    α is the linear expansion coefficient of the bell shell; A_eff is certified at t_cal (default
    20 °C). The displacement h is taken as measured (correct its own scale beforehand if needed).
    Use :func:`gas_volume_at_meter` (or :func:`bell_prover_volume_at_meter`) to move it to the MUT.
    """
    _positive("displacement_m", displacement_m)
    _positive("effective_area_m2", effective_area_m2)
    _check("bell_temperature_c", bell_temperature_c, *_GAS_T_RANGE_C, "temperature in °C, −100 to 200 °C")
    expansion = 1.0 + bell_expansion_coefficient_per_k * (bell_temperature_c - area_reference_temperature_c)
    return effective_area_m2 * displacement_m * expansion * expansion


def bell_prover_volume_at_meter(
    displacement_m: Any,
    *,
    effective_area_m2: Any,
    bell_temperature_c: Any,
    bell_pressure_pa: Any,
    p_mut_pa: Any,
    t_mut_c: Any,
    bell_expansion_coefficient_per_k: Any = 0.0,
    area_reference_temperature_c: float = 20.0,
    z_bell: Any = 1.0,
    z_mut: Any = 1.0,
    humidity_bell_pct: Any = None,
    humidity_mut_pct: Any = None,
) -> Any:
    """:func:`bell_prover_volume` moved to the MUT by :func:`gas_volume_at_meter`.

    The bell's gas and shell are taken to be at the same temperature ``bell_temperature_c``.
    """
    v_bell = bell_prover_volume(
        displacement_m,
        effective_area_m2=effective_area_m2,
        bell_expansion_coefficient_per_k=bell_expansion_coefficient_per_k,
        bell_temperature_c=bell_temperature_c,
        area_reference_temperature_c=area_reference_temperature_c,
    )
    return gas_volume_at_meter(
        v_bell,
        p_ref_pa=bell_pressure_pa,
        t_ref_c=bell_temperature_c,
        p_mut_pa=p_mut_pa,
        t_mut_c=t_mut_c,
        z_ref=z_bell,
        z_mut=z_mut,
        humidity_ref_pct=humidity_bell_pct,
        humidity_mut_pct=humidity_mut_pct,
    )


def critical_flow_function_ideal(kappa: Any = 1.4) -> Any:
    """Ideal-gas critical flow function C* = √(κ·(2/(κ+1))^((κ+1)/(κ−1))) (ISO 9300).

    0.68473 for κ = 1.4.
    """
    _check("kappa", kappa, 1.0 + 1e-9, 5.0 / 3.0 + 1e-9, "isentropic exponent 1 < κ <= 5/3")
    return (kappa * (2.0 / (kappa + 1.0)) ** ((kappa + 1.0) / (kappa - 1.0))) ** 0.5


def sonic_nozzle_mass_flow(
    throat_diameter_m: Any,
    discharge_coefficient: Any,
    p0_pa: Any,
    t0_c: Any,
    molar_mass: Any = MOLAR_MASS_AIR,
    kappa: Any = 1.4,
    critical_flow_function: Any = None,
) -> Any:
    """Mass flowrate in kg/s through a critical-flow (sonic) nozzle, ISO 9300 form.

        q_m = A·C_d·C*·p0/√(R·T0/M),   A = π·d²/4

    C* is the ideal-gas value for κ unless ``critical_flow_function`` (e.g. real-gas C*_R) is given.
    p0, T0 are stagnation conditions upstream of the nozzle.
    """
    _positive("throat_diameter_m", throat_diameter_m)
    _positive("discharge_coefficient", discharge_coefficient)
    _positive("molar_mass", molar_mass)
    _gas_state("p0_pa", p0_pa, "t0_c", t0_c)
    c_star = critical_flow_function_ideal(kappa) if critical_flow_function is None else critical_flow_function
    area_m2 = math.pi * throat_diameter_m * throat_diameter_m / 4.0
    t0_k = t0_c + ZERO_CELSIUS_K
    return area_m2 * discharge_coefficient * c_star * p0_pa / (MOLAR_GAS_CONSTANT * t0_k / molar_mass) ** 0.5


def sonic_nozzle_volume(
    throat_diameter_m: Any,
    discharge_coefficient: Any,
    p0_pa: Any,
    t0_c: Any,
    *,
    duration_s: Any,
    p_mut_pa: Any,
    t_mut_c: Any,
    molar_mass: Any = MOLAR_MASS_AIR,
    kappa: Any = 1.4,
    critical_flow_function: Any = None,
) -> Any:
    """Volume at the MUT passed through a sonic nozzle during ``duration_s``.

        V_MUT = q_m·Δt/ρ_MUT,   ρ_MUT = p_MUT·M/(R·T_MUT)   (ideal gas, Z = 1)
    """
    _positive("duration_s", duration_s)
    _gas_state("p_mut_pa", p_mut_pa, "t_mut_c", t_mut_c)
    q_m = sonic_nozzle_mass_flow(
        throat_diameter_m, discharge_coefficient, p0_pa, t0_c, molar_mass, kappa, critical_flow_function
    )
    rho_mut = p_mut_pa * molar_mass / (MOLAR_GAS_CONSTANT * (t_mut_c + ZERO_CELSIUS_K))
    return q_m * duration_s / rho_mut


def gas_master_meter_volume(
    indicated_m3: Any,
    *,
    error_pct: Any,
    p_mm_pa: Any,
    t_mm_c: Any,
    p_mut_pa: Any,
    t_mut_c: Any,
    z_mm: Any = 1.0,
    z_mut: Any = 1.0,
) -> Any:
    """Volume at the MUT from a gas master meter (MM) in series.

        V_MUT = V_MM/(1 + E_MM/100) · (p_MM/p_MUT)·(T_MUT/T_MM)·(Z_MUT/Z_MM)
    """
    _positive("indicated_m3", indicated_m3)
    corrected = indicated_m3 / (1.0 + error_pct / 100.0)
    return gas_volume_at_meter(
        corrected,
        p_ref_pa=p_mm_pa,
        t_ref_c=t_mm_c,
        p_mut_pa=p_mut_pa,
        t_mut_c=t_mut_c,
        z_ref=z_mm,
        z_mut=z_mut,
    )


# ---------------------------------------------------------------------------------- meter under test
def register_inputs(
    start_reading_m3: float,
    end_reading_m3: float,
    *,
    scale_interval_m3: float,
    name: str = "MUT register",
    source: str = "meter under test, reading ±½ scale interval",
) -> dict[str, Any]:
    """The two register readings of the MUT as inputs, each rectangular within ±½ scale interval."""
    _positive("scale_interval_m3", scale_interval_m3)
    half = scale_interval_m3 / 2.0
    return {
        "mut_start_m3": rectangular(start_reading_m3, half, name=f"{name} start reading", source=source),
        "mut_end_m3": rectangular(end_reading_m3, half, name=f"{name} end reading", source=source),
    }


def pulse_inputs(
    pulse_count: int,
    pulse_value_m3: float,
    *,
    name: str = "MUT pulse output",
    source: str = "meter under test, pulse count ±1 pulse (triangular)",
) -> dict[str, Any]:
    """The MUT's pulse count as an input within ±1 pulse, triangular: the count misses the fraction of a pulse
    period before the gate opens and gains the one before it closes, two independent uniform phases whose
    difference is triangular on ±1 pulse (u = 1/√6 pulse), not rectangular (GUM 4.3.9)."""
    if int(pulse_count) != pulse_count or pulse_count < 0:
        raise DeclarationError("pulse_count", pulse_count, "a whole number of pulses >= 0")
    _positive("pulse_value_m3", pulse_value_m3)
    return {
        "mut_pulse_count": triangular(pulse_count, 1.0, name=f"{name} count", source=source),
        "mut_pulse_value_m3": float(pulse_value_m3),
    }


def indicated_volume(x: Mapping[str, Any]) -> Any:
    """V_i from register_inputs (R_end − R_start) or pulse_inputs (N·v_pulse); ureals or arrays."""
    if "mut_end_m3" in x:
        return x["mut_end_m3"] - x["mut_start_m3"]
    return x["mut_pulse_count"] * x["mut_pulse_value_m3"]


def indicated_volume_register(start_reading_m3: float, end_reading_m3: float, **kwargs: Any) -> Any:
    """V_i = R_end − R_start, each reading rectangular within ±½ scale interval."""
    return indicated_volume(register_inputs(start_reading_m3, end_reading_m3, **kwargs))


def indicated_volume_pulses(pulse_count: int, pulse_value_m3: float, **kwargs: Any) -> Any:
    """V_i = N·v_pulse, with N rectangular within ±1 pulse."""
    return indicated_volume(pulse_inputs(pulse_count, pulse_value_m3, **kwargs))
