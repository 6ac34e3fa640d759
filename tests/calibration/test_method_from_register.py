"""The gravimetric method takes its uncertainties from the certificates, and its budget names them."""

from pathlib import Path

import pytest

from meterlab.calibration.register import Register
from meterlab.errors import DeclarationError
from meterlab.metrology.budget import evaluate
from meterlab.metrology.methods import GravimetricMethod, GravimetricReading
from meterlab.metrology.reference_volume import register_inputs

REGISTER = Register.load(Path(__file__).resolve().parents[2] / "calibration")
BALANCE = "bal-060 cert M-2026-0318 (Alpha Mass Metrology Laboratory)"
THERMOMETER = "prt-01 cert T-2026-0412 (Beta Temperature and Pressure Laboratory)"
TRANSMITTER = "ptx-01 cert P-2026-0233 (Beta Temperature and Pressure Laboratory)"


def test_uncertainties_come_from_the_certificates():
    method = GravimetricMethod.from_register(REGISTER, diverter_timing_u_s=0.005)
    # the balance at the net load collected, from its certificate's table (u = U/k, linear between the loads)
    assert method.balance_u_rel_at(10.0) == pytest.approx(0.0008 / 2.05 / 10.0)
    assert method.balance_u_rel_at(5.0) == pytest.approx((0.0006 + 0.0008) / 2 / 2.05 / 5.0)
    assert method.balance_u_rel_at(2.0) > method.balance_u_rel_at(10.0)  # not the 10 kg row's value below it
    assert method.balance_dof == 50
    assert method.balance_resolution_kg == 0.001
    assert method.water_temperature_u_c == pytest.approx(0.035 / 2)     # largest over 0-90 °C
    assert method.meter_pressure_u_pa == pytest.approx(1100 / 2)
    assert method.diverter_timing_u_s == 0.005


def test_a_load_outside_the_certificate_is_refused_and_a_stated_minimum_load_gives_one_value():
    method = GravimetricMethod.from_register(REGISTER)
    with pytest.raises(DeclarationError, match="within the balance's calibrated loads 0 .. 60 kg"):
        method.balance_u_rel_at(61.0)
    heavy = GravimetricMethod.from_register(REGISTER, min_load_kg=40.0)
    assert heavy.balance_u_rel_at(45.0) == heavy.balance_u_rel == pytest.approx(0.0030 / 2.05 / 60.0)


def test_the_budget_names_each_certificate():
    method = GravimetricMethod.from_register(REGISTER)
    reading = GravimetricReading(2.314, 52.167, 19.62, 19.80, 101325.0 + 2.8e5, 75.8)
    result = evaluate(method.error(reading, register_inputs(1.0, 1.05005, scale_interval_m3=5e-5)))
    sources = {c.name: c.source for c in result.contributions}
    assert sources["balance calibration"] == BALANCE
    assert sources["balance reading, end"] == BALANCE
    assert sources["meter water temperature"] == THERMOMETER
    assert sources["meter water pressure"] == TRANSMITTER


def test_the_large_tank_uses_its_own_balance():
    method = GravimetricMethod.from_register(REGISTER, balance="scale_large")
    assert method.balance_source.startswith("bal-600 cert M-2026-0319")
    assert method.balance_resolution_kg == 0.01
