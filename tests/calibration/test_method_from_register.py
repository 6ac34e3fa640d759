"""The gravimetric method takes its uncertainties from the certificates, and its budget names them."""

from pathlib import Path

import pytest

from meterlab.calibration.register import Register
from meterlab.metrology.budget import evaluate
from meterlab.metrology.methods import GravimetricMethod, GravimetricReading
from meterlab.metrology.reference_volume import register_inputs

REGISTER = Register.load(Path(__file__).resolve().parents[2] / "calibration")
BALANCE = "bal-060 cert M-2026-0318 (Alpha Mass Metrology Laboratory)"
THERMOMETER = "prt-01 cert T-2026-0412 (Beta Temperature and Pressure Laboratory)"
TRANSMITTER = "ptx-01 cert P-2026-0233 (Beta Temperature and Pressure Laboratory)"


def test_uncertainties_come_from_the_certificates():
    method = GravimetricMethod.from_register(REGISTER, diverter_timing_u_s=0.005)
    assert method.balance_u_rel == pytest.approx(0.0008 / 2.05 / 10.0)  # largest u(m)/m: 10 kg row
    assert method.balance_dof == 50
    assert method.balance_resolution_kg == 0.001
    assert method.water_temperature_u_c == pytest.approx(0.035 / 2)     # largest over 0-90 °C
    assert method.meter_pressure_u_pa == pytest.approx(1100 / 2)
    assert method.diverter_timing_u_s == 0.005


def test_a_heavier_minimum_load_gives_a_smaller_relative_uncertainty():
    light = GravimetricMethod.from_register(REGISTER)
    heavy = GravimetricMethod.from_register(REGISTER, min_load_kg=40.0)
    assert heavy.balance_u_rel == pytest.approx(0.0030 / 2.05 / 60.0)
    assert heavy.balance_u_rel < light.balance_u_rel


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
