"""The sonic-nozzle reference method: ISO 9300 critical mass flow over a timed collection, moved to the meter."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from meterlab.calibration.certificates import load_certificate
from meterlab.calibration.register import Register
from meterlab.errors import DeclarationError
from meterlab.metrology import GasMeter
from meterlab.metrology.budget import evaluate
from meterlab.metrology.methods import UNMEASURED_HUMIDITY_SOURCE, SonicNozzleMethod, SonicNozzleReading
from meterlab.metrology.montecarlo import distributions_of, monte_carlo, validate_gum
from meterlab.metrology.planner import expanded_uncertainty_pct, plan_volume
from meterlab.metrology.reference_volume import critical_flow_function_ideal, pulse_inputs, sonic_nozzle_volume

REPO = Path(__file__).resolve().parents[2]
DIAMETERS = {f"N{k}": d for k, d in enumerate((0.275e-3, 0.389e-3, 0.549e-3, 0.775e-3, 1.094e-3, 1.544e-3, 2.18e-3,
                                                3.078e-3), start=1)}  # instruments/sim-gas.yaml

METHOD = SonicNozzleMethod(
    nozzle_source="nozzle cert F-1",
    nozzles=(("N4", 2.8e-3, 0.9889, 0.0006, 50.0), ("N5", 5.6e-3, 0.9921, 0.0005, 50.0)),
    nozzle_pressure_source="p0 cert P-2", nozzle_pressure_u_pa=8.0,
    meter_pressure_source="pm cert P-1", meter_pressure_u_pa=8.0,
    thermometer_source="PRT cert T-1", temperature_u_c=0.01,
    timer_source="timer cert TF-2", timebase_hz=1e7, timebase_u_hz=0.2,
    humidity_u_pct=0.5, humidity_source="hygrometer cert H-1",
)
DRY = 0.0  # %RH: the hand-computed vector is for dry air


def test_one_nozzle_reproduces_the_hand_computed_volume():
    # N5: A = π(5.6 mm)²/4 = 2.46301e-5 m², C*(κ = 1.4) = 0.684731, p0 = 100 kPa, T0 = 293.15 K:
    # q_m = A·Cd·C*·p0/√(R·T0/M) = 5.76785e-3 kg/s; ρ at the meter (100.5 kPa, 294.15 K) = 1.190233 kg/m³;
    # 1e9 counts of 10 MHz = 100 s -> V = 5.76785e-3 × 100 / 1.190233 = 0.484599 m³
    reading = SonicNozzleReading(("N5",), 100000.0, 20.0, 100500.0, 21.0, 1_000_000_000, DRY)
    v = METHOD.reference_volume_m3(METHOD.inputs(reading))
    assert v.x == pytest.approx(0.484599, rel=2e-6)
    # the same as reference_volume's single-nozzle model
    assert v.x == pytest.approx(sonic_nozzle_volume(5.6e-3, 0.9921, 100000.0, 20.0, duration_s=100.0,
                                                    p_mut_pa=100500.0, t_mut_c=21.0), rel=1e-12)


def test_open_nozzles_add_their_mass_flows():
    both = SonicNozzleReading(("N4", "N5"), 100000.0, 20.0, 100500.0, 21.0, 10**9, DRY)
    each = [SonicNozzleReading((n,), 100000.0, 20.0, 100500.0, 21.0, 10**9, DRY) for n in ("N4", "N5")]
    def volume(reading):
        return METHOD.reference_volume_m3(METHOD.inputs(reading)).x

    assert volume(both) == pytest.approx(volume(each[0]) + volume(each[1]), rel=1e-12)
    # N4 has half the diameter: a quarter of the area, with its own Cd
    assert volume(each[0]) / volume(each[1]) == pytest.approx(0.25 * 0.9889 / 0.9921, rel=1e-12)


def test_error_and_budget_name_every_source():
    reading = SonicNozzleReading(("N5",), 100000.0, 20.0, 100500.0, 21.0, 10**9, DRY)
    v_ref = 0.484599
    error = METHOD.error(reading, pulse_inputs(round(v_ref * 1.01 / 1e-4), 1e-4))  # a meter 1 % fast
    result = evaluate(error)
    assert result.value == pytest.approx(1.0, abs=0.01)
    sources = {c.name: c.source for c in result.contributions}
    assert sources["discharge coefficient N5"] == "nozzle cert F-1"
    assert sources["nozzle inlet pressure"] == "p0 cert P-2"
    assert sources["MUT gas pressure"] == "pm cert P-1"
    assert sources["MUT gas temperature"] == "PRT cert T-1"
    assert sources["counter timebase frequency"] == "timer cert TF-2"
    # Cd dominates: u(E) ≈ √(u(Cd)/Cd² + (5e-4/√3)² + ...) ≈ 0.06 %
    assert 0.055 < result.u < 0.07


def test_gum_agrees_with_monte_carlo():
    reading = SonicNozzleReading(("N4", "N5"), 100000.0, 20.0, 100500.0, 21.0, 10**9, 45.0)
    inputs = {**METHOD.inputs(reading), **pulse_inputs(6000, 1e-4)}
    gum = evaluate(METHOD.model(inputs), coverage_pct=95.0)
    # the shortest interval's ends are noisy at M = 5e4 (one seed in three missed δ by 6e-5): M = 2e5
    mc = monte_carlo(METHOD.model, distributions_of(inputs), trials=200_000, seed=7, coverage_pct=95.0)
    ok, *_ = validate_gum(gum, mc, significant_digits=1)
    assert ok


def test_moist_air_passes_more_volume_than_dry_air_would():
    # 23 °C, 45 %RH at 101 325 Pa: p_sv = 2810.4 Pa, f = 1.0040 -> x_v = 0.012532, M = 28.8275 g/mol (28.9647 dry),
    # κ = 1.39892 (C_p of the vapour 33.59 J/mol/K): V ∝ C*(κ)/√M -> 1.002378 × C*(1.39892)/C*(1.4)
    def volume(humidity_pct):
        reading = SonicNozzleReading(("N5",), 101000.0, 23.0, 101325.0, 23.0, 10**9, humidity_pct)
        return METHOD.reference_volume_m3(METHOD.inputs(reading)).x

    expected = 1.002378 * critical_flow_function_ideal(1.39892) / critical_flow_function_ideal(1.4)
    assert volume(45.0) / volume(DRY) == pytest.approx(expected, rel=2e-6)
    assert 0.0020 < volume(45.0) / volume(DRY) - 1 < 0.0022  # E from a dry-air model: about +0.21 % too high


def test_without_a_hygrometer_the_humidity_is_a_stated_range():
    unmeasured = replace(METHOD, humidity_u_pct=None, humidity_source=UNMEASURED_HUMIDITY_SOURCE)
    measured = SonicNozzleReading(("N5",), 101000.0, 23.0, 101325.0, 23.0, 10**9, 45.0)
    reading = replace(measured, humidity_pct=None)
    budgets = [evaluate(METHOD.error(measured, pulse_inputs(4900, 1e-4))),
               evaluate(unmeasured.error(reading, pulse_inputs(4900, 1e-4)))]
    lines = [{c.name: c for c in budget.contributions} for budget in budgets]
    assert lines[0]["gas relative humidity"].source == "hygrometer cert H-1"
    assert lines[1]["gas relative humidity"].source == UNMEASURED_HUMIDITY_SOURCE
    # 50 ± 50 %RH moves V by ±0.23 %: the largest term, where the hygrometer's 0.5 %RH gives 0.003 %
    assert abs(lines[1]["gas relative humidity"].contribution) > 0.1
    assert abs(lines[0]["gas relative humidity"].contribution) < 0.005
    with pytest.raises(DeclarationError, match="hygrometer"):  # a method with a hygrometer needs its reading
        METHOD.inputs(reading)


def test_unknown_or_no_nozzle_is_refused():
    with pytest.raises(DeclarationError, match="N3"):
        METHOD.inputs(SonicNozzleReading(("N3",), 1e5, 20.0, 1e5, 20.0, 10**9))
    with pytest.raises(DeclarationError, match="open nozzle"):
        METHOD.inputs(SonicNozzleReading((), 1e5, 20.0, 1e5, 20.0, 10**9))


def test_from_register_takes_every_value_from_the_certificates():
    register = Register(load_certificate(REPO / "calibration" / f"{standard}.yaml")
                        for standard in ("cfv-bank-01", "prt-01", "ptx-g-01", "ptx-g-02", "ctr-02"))
    method = SonicNozzleMethod.from_register(register, nozzles="cfv-bank-01", throat_diameters_m=DIAMETERS,
                                             thermometer="prt-01", nozzle_pressure="ptx-g-02",
                                             meter_pressure="ptx-g-01", timer="ctr-02")
    n3 = next(n for n in method.nozzles if n[0] == "N3")
    assert n3[1:4] == pytest.approx((0.549e-3, 0.9692, 0.0022 / 2))  # Cd and U/k from cfv-bank-01
    assert method.nozzle_source.startswith("cfv-bank-01 cert F-2026-0655")
    assert method.timebase_hz == pytest.approx(10000001.8) and method.timebase_u_hz == pytest.approx(0.2)
    assert method.meter_pressure_u_pa == pytest.approx(9.0)  # largest U/k on ptx-g-01
    assert method.temperature_u_c == pytest.approx(0.035 / 2)
    with pytest.raises(DeclarationError, match="throat_diameters_m"):
        SonicNozzleMethod.from_register(register, nozzles="cfv-bank-01", throat_diameters_m={"N1": 0.35e-3},
                                        thermometer="prt-01", nozzle_pressure="ptx-g-02",
                                        meter_pressure="ptx-g-01", timer="ctr-02")


def test_reading_for_picks_the_closest_combination_and_the_planner_uses_it():
    reading = METHOD.reading_for(0.1, 4.0)
    assert reading.nozzles == ("N4",)  # 4.36 m³/h; N5 alone gives 17.4
    assert METHOD.reference_volume_m3(METHOD.inputs(reading)).x == pytest.approx(0.1, rel=1e-6)
    assert reading.humidity_pct == 50.0  # the planner's laboratory air (the bank's flows are for dry air)
    meter = GasMeter(0.04, 0.6, 6.0, accuracy_class=1.5)
    for point in meter.test_points():
        if point.nominal_m3h < METHOD.bank().critical_flow_m3h(("N4",), 101325.0, 20.0) / 2:
            continue  # below what this two-nozzle method can give
        plan = plan_volume(meter, point, METHOD, resolution_l=0.1)
        assert np.isfinite(plan.volume_l) and plan.volume_l > 0
        budget = expanded_uncertainty_pct(METHOD, plan.volume_l * 1e-3, point.nominal_m3h, 0.1)
        assert budget.U <= plan.max_uncertainty_pct
