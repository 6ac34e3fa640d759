"""Scenario sections of the reference standards: the master meters and the gas rig (bell prover, sonic nozzles).

Fields of `Scenario` (sim/scenario.py): `master_meter` (the water line's master meter), `gas_rig` (with its own
`master_meter`), and `gas_meters` (the meters under test on the gas rig, `MeterSpec` like `meters`). The
defaults are a plausible lab: the nozzle bank and the master-meter curves follow the simulated bench's
certificates in calibration/ (cfv-bank-01, mm-w-01, mm-g-01), so the default truth agrees with them.

Kept apart from scenario.py so that the physics modules can import it without an import cycle; nothing
here imports the simulator."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from meterlab.metrology.reference_volume import MOLAR_MASS_AIR
from meterlab.quantities import ERROR_PCT, FLOWRATE_M3H, AsTuple

WATER_MASTER_METER_CURVE = [(0.1, 0.35), (0.25, 0.18), (0.5, 0.09), (1.0, 0.04), (2.5, 0.02), (5.0, -0.01)]
GAS_MASTER_METER_CURVE = [(0.25, -0.45), (0.5, -0.20), (1.0, -0.08), (2.5, 0.02), (5.0, 0.05), (10.0, 0.06)]
# eight nozzles whose flows are in the ratio 1:2:4:..:128 (N1 about 0.041 m³/h at 101.3 kPa, 20 °C): certificate cfv-bank-01
DEFAULT_NOZZLES = [(0.275e-3, 0.9624), (0.389e-3, 0.9658), (0.549e-3, 0.9692), (0.775e-3, 0.9726),
                   (1.094e-3, 0.9760), (1.544e-3, 0.9794), (2.180e-3, 0.9828), (3.078e-3, 0.9862)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_error_curve(curve: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """An error curve [[flowrate_m3h, error_pct], ...] must be interpolable in log Q."""
    flowrates = [q for q, _ in curve]
    if any(q <= 0 for q in flowrates):
        raise ValueError("flowrates must be > 0 (the curve is interpolated in log Q)")
    if any(b <= a for a, b in zip(flowrates, flowrates[1:])):
        raise ValueError("flowrates must be strictly increasing")
    return curve


class MasterMeterParams(_Strict):
    """A reference master meter in series with the meters under test: its TRUE error curve (the one its
    certificate estimates), interpolated linearly in log Q like the meters', without random error."""

    error_curve: list[Annotated[tuple[FLOWRATE_M3H, ERROR_PCT], AsTuple]] = Field(
        default_factory=lambda: list(WATER_MASTER_METER_CURVE), min_length=1,
        description="[[flowrate_m3h, error_pct], ...] at the master meter's own conditions",
    )
    initial_totalizer_m3: float = Field(0.0, ge=0)

    @field_validator("error_curve")
    @classmethod
    def _increasing_flowrates(cls, curve: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return check_error_curve(curve)


class NozzleSpec(_Strict):
    throat_diameter_m: float = Field(gt=0, lt=0.1)
    discharge_coefficient: float = Field(gt=0, le=1.0)


def _default_nozzles() -> list[NozzleSpec]:
    return [NozzleSpec(throat_diameter_m=d, discharge_coefficient=cd) for d, cd in DEFAULT_NOZZLES]


def _default_gas_master_meter() -> MasterMeterParams:
    return MasterMeterParams(error_curve=list(GAS_MASTER_METER_CURVE))


class GasRigParams(_Strict):
    """Air at near-atmospheric pressure: source (bell prover or the atmospheric inlet) -> meters under test in
    series -> gas master meter -> sonic nozzle bank -> vacuum pump. Pressures are absolute, in Pa."""

    ambient_pressure_pa: float = Field(101325.0, ge=80e3, le=110e3)
    ambient_pressure_drift_pa_per_h: float = 0.0
    ambient_pressure_drift_limit_pa: float = Field(1000.0, ge=0, description="the weather moves the barometer "
                                                   "this far at most: the drift stops there")
    gas_temperature_c: float = Field(20.0, gt=-20, lt=50, description="of the air in the bell and the line")
    gas_temperature_drift_c_per_h: float = 0.0
    gas_temperature_drift_limit_c: float = Field(2.0, ge=0, description="the room's air settles: the drift "
                                                 "stops this far from the start (a 2000 h durability run)")
    humidity_pct: float = Field(45.0, ge=0, le=100, description="relative humidity of the laboratory's air at the "
                                "initial ambient pressure and gas temperature (0 = dry air)")
    molar_mass_kg_mol: float = Field(MOLAR_MASS_AIR, gt=0, description="of the dry air")
    kappa: float = Field(1.4, gt=1.0, le=5.0 / 3.0, description="isentropic exponent of the dry air (ideal C*)")
    nozzles: list[NozzleSpec] = Field(default_factory=_default_nozzles, max_length=16,
                                      description="nozzle n opens with the signal nozzle<n>")
    meter_pressure_drop_pa: float = Field(50.0, ge=0, description="of each meter at pressure_drop_flowrate_m3h")
    pressure_drop_flowrate_m3h: float = Field(10.0, gt=0, description="the drop grows with the flow squared")
    meter_temperature_step_c: float = Field(0.0, description="meter n is at gas temperature + (n - 1) x step")
    bell_area_m2: float = Field(0.950214, gt=0, description="effective area at 20 °C")
    bell_expansion_coefficient_per_k: float = Field(0.0, ge=0, le=1e-4)
    bell_overpressure_pa: float = Field(800.0, ge=0, le=10e3, description="of the bell gas above ambient")
    bell_gas_temperature_offset_c: float = Field(0.0, ge=-2.0, le=2.0, description="the bell's gas is this much "
                                                 "warmer than the line's, which one thermometer for both misses")
    bell_pass_scatter_pct: float = Field(0.0, ge=0, le=1.0, description="relative standard deviation of the "
                                         "volume a bell pass delivers per metre (the rig's reproducibility), "
                                         "drawn anew as each pass enters the measuring section")
    bell_bottom_m: float = Field(0.0, ge=0)
    bell_top_m: float = Field(1.10, gt=0)
    bell_initial_position_m: float = Field(1.05, ge=0)
    bell_start_detector_m: float = Field(0.95, gt=0, description="the measuring section starts (falling bell)")
    bell_stop_detector_m: float = Field(0.15, gt=0, description="the measuring section ends")
    detector_flag_m: float = Field(0.005, gt=0, description="a detector switch is closed within ± half of it")
    encoder_m_per_pulse: float = Field(1e-4, gt=0, description="bell displacement per encoder pulse")
    bell_fill_rate_m3h: float = Field(30.0, gt=0, description="the blower raising the bell (signal bell_fill)")
    master_meter: MasterMeterParams = Field(default_factory=_default_gas_master_meter)
    timebase_hz: float = Field(10000001.8, gt=0, description="true frequency of the collection timer's reference "
                               "(signal gas.timebase; the default follows certificate ctr-02)")

    @model_validator(mode="after")
    def _bell_positions(self) -> GasRigParams:
        if not self.bell_bottom_m < self.bell_stop_detector_m < self.bell_start_detector_m < self.bell_top_m:
            raise ValueError("bell positions must satisfy bottom < stop detector < start detector < top")
        if not self.bell_bottom_m <= self.bell_initial_position_m <= self.bell_top_m:
            raise ValueError("bell_initial_position_m must lie between bell_bottom_m and bell_top_m")
        return self
