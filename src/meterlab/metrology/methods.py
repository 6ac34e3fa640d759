"""Reference methods of a flow rig as measurement models: readings in, error of indication with budget out.

A method object holds what is known about the rig's standards (their standard uncertainties and the
certificate each comes from); a reading holds what was measured at one test point. `error()` builds the
GUM model of E from both, so the engine, the planner and the demo all use the same model.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from math import inf
from typing import Any

from GTC.lib import UncertainReal

from meterlab.errors import DeclarationError
from meterlab.metrology.budget import quantity, rectangular, value_of
from meterlab.metrology.fluids import (
    ZERO_CELSIUS_K,
    moist_air_isentropic_exponent,
    moist_air_molar_mass,
    water_density,
    water_vapour_mole_fraction,
)
from meterlab.metrology.indication import error_of_indication
from meterlab.metrology.nozzle_bank import NozzleBank
from meterlab.metrology.reference_volume import (
    MOLAR_GAS_CONSTANT,
    MOLAR_MASS_AIR,
    bell_prover_volume_at_meter,
    critical_flow_function_ideal,
    gravimetric_volume,
    indicated_volume,
    interpolate_calibration_curve,
    master_meter_volume,
    sonic_nozzle_mass_flow,
)

# Without a hygrometer the gas's relative humidity is stated, not measured: laboratory air anywhere from dry to
# saturated, 50 ± 50 %RH (rectangular)
UNMEASURED_HUMIDITY_PCT = 50.0
UNMEASURED_HUMIDITY_SOURCE = "not measured: laboratory air, dry to saturated (50 ± 50 %RH, rectangular)"


@dataclass(frozen=True, kw_only=True)
class ReferenceMethod(ABC):
    """What every reference method offers: inputs for a reading, a pure model of E, and the reading a
    perfect rig would give for a volume (used by the planner).

    Every method carries the rig's reproducibility from its validation (bench file): the relative standard
    deviation of its reference volume that repeated measurements of a stable transfer standard showed beyond
    what the other inputs explain, a Type A input with the validation's degrees of freedom (0: none stated)."""

    reproducibility_u_pct: float = 0.0
    reproducibility_dof: float = inf
    reproducibility_source: str = "rig validation (bench file)"

    def inputs(self, reading: Any) -> dict[str, Any]:
        """The model's inputs for one reading: labelled ureals (with their sources) and constants."""
        x = self.reference_inputs(reading)
        if self.reproducibility_u_pct > 0:
            x["rig_reproducibility"] = quantity(1.0, self.reproducibility_u_pct / 100, dof=self.reproducibility_dof,
                                                name="rig reproducibility", source=self.reproducibility_source)
        return x

    @abstractmethod
    def reference_inputs(self, reading: Any) -> dict[str, Any]:
        """The inputs of the reference volume's own model for one reading."""

    @classmethod
    def model(cls, x: Mapping[str, Any]) -> Any:
        """E in percent from rig and MUT inputs; the same code runs on ureals (GUM) and arrays (Monte Carlo)."""
        return error_of_indication(indicated_volume(x), cls.reference_volume_m3(x) * x.get("rig_reproducibility", 1.0))

    @staticmethod
    @abstractmethod
    def reference_volume_m3(x: Mapping[str, Any]) -> Any:
        """Actual volume that passed the meter under test, at its conditions, in m³."""

    def error(self, reading: Any, mut_inputs: Mapping[str, Any]) -> UncertainReal:
        """Error of indication E in percent with its full budget (mut_inputs from register/pulse_inputs)."""
        return self.model({**self.inputs(reading), **mut_inputs})

    @abstractmethod
    def reading_for(self, volume_m3: float, flowrate_m3h: float) -> Any:
        """The reading a perfect rig would give for volume_m3 through the meter at flowrate_m3h."""

    def max_volume_l(self) -> float:
        """The largest volume one measurement can have by this method (the planner looks no further)."""
        return math.inf


@dataclass(frozen=True)
class GravimetricReading:
    """What was read at one gravimetric test point (flying or standing start)."""

    balance_start_kg: float
    balance_end_kg: float
    tank_water_temperature_c: float
    meter_water_temperature_c: float
    meter_pressure_pa: float
    fill_time_s: float


@dataclass(frozen=True)
class GravimetricMethod(ReferenceMethod):
    """A weighing-tank reference. Uncertainties are standard uncertainties unless named half_width."""

    balance_source: str
    balance_u_rel: float | None          # balance calibration, relative, one value for every load (or None: the table)
    balance_dof: float
    balance_resolution_kg: float         # display step; each of the two readings is ± half of it
    thermometer_source: str
    water_temperature_u_c: float
    temperature_difference_half_width_c: float  # water in the tank vs at the meters, where it is measured
    pressure_source: str
    meter_pressure_u_pa: float
    # Not measured: a stated constant for laboratory air, its half-width covering 980-1040 hPa and 18-28 °C
    # (CIPM-2007 gives 1.13-1.25 kg/m³ there); the buoyancy term makes it worth about 0.003 % of the volume.
    air_density_kg_m3: float = 1.20
    air_density_half_width: float = 0.06
    air_density_source: str = "stated constant for laboratory air (not measured): 1.20 kg/m³ ± 0.06"
    weights_density_kg_m3: float = 8000.0
    weights_density_half_width: float = 60.0
    weights_source: str = "OIML R 111 conventional density of adjustment weights"
    diverter_timing_u_s: float | None = None     # flying start: residual diverter timing error
    diverter_source: str = "diverter timing test"
    # the collection timer (a counter counting its reference over the diverter's gate), if the rig has one:
    # it times a flying start's fill, hence the achieved flowrate that is checked against the point's window
    timebase_hz: float | None = None
    timer_source: str | None = None
    temperature_difference_source: str = "rig validation (bench file)"
    # the balance certificate's table, (load kg, standard uncertainty kg): the calibration uncertainty is taken at the
    # net load collected (linear between the certified loads), and a load outside the table is refused
    balance_u_table_kg: tuple[tuple[float, float], ...] = ()

    def reference_inputs(self, reading: GravimetricReading) -> dict[str, Any]:
        """The gravimetric model's inputs for one reading: labelled ureals (with their sources) and constants."""
        half_step = self.balance_resolution_kg / 2
        x: dict[str, Any] = {
            "balance_start_kg": rectangular(reading.balance_start_kg, half_step, name="balance reading, start",
                                            source=self.balance_source),
            "balance_end_kg": rectangular(reading.balance_end_kg, half_step, name="balance reading, end",
                                          source=self.balance_source),
            "balance_calibration": quantity(
                1.0, self.balance_u_rel_at(reading.balance_end_kg - reading.balance_start_kg), dof=self.balance_dof,
                name="balance calibration", source=self.balance_source),
            # one reading of the water temperature (at the meters) enters once; the tank's water differs from it by
            # what the readings say (0 with one thermometer) and by the unmeasured difference (rig validation)
            "meter_temperature_c": quantity(reading.meter_water_temperature_c, self.water_temperature_u_c,
                                            name="meter water temperature", source=self.thermometer_source),
            "tank_temperature_offset_c": reading.tank_water_temperature_c - reading.meter_water_temperature_c,
            "temperature_gradient_c": unmeasured_difference(
                self.temperature_difference_half_width_c, "temperature difference tank - meters",
                self.temperature_difference_source),
            "meter_pressure_pa": quantity(reading.meter_pressure_pa, self.meter_pressure_u_pa,
                                          name="meter water pressure", source=self.pressure_source),
            "air_density": rectangular(self.air_density_kg_m3, self.air_density_half_width, name="air density",
                                       source=self.air_density_source),
            "weights_density": rectangular(self.weights_density_kg_m3, self.weights_density_half_width,
                                           name="density of adjustment weights", source=self.weights_source),
            "fill_time_s": reading.fill_time_s,
        }
        if self.diverter_timing_u_s is not None:
            x["diverter_timing_s"] = quantity(0.0, self.diverter_timing_u_s, name="diverter timing",
                                              source=self.diverter_source)
        return x

    def max_volume_l(self) -> float:
        """A collection weighs at most the balance's largest certified load (a litre of water weighs < 1 kg)."""
        return self.balance_u_table_kg[-1][0] if self.balance_u_table_kg else math.inf

    def balance_u_rel_at(self, net_kg: float) -> float:
        """The balance's relative calibration uncertainty for a collection of `net_kg`: from the certificate's table
        at that load (refused outside it), or the one stated value."""
        if not self.balance_u_table_kg:
            if self.balance_u_rel is None:
                raise DeclarationError("balance_u_rel", None, "a relative uncertainty or the certificate's table")
            return self.balance_u_rel
        loads = [load for load, _ in self.balance_u_table_kg]
        if not loads[0] <= net_kg <= loads[-1] or net_kg <= 0:
            raise DeclarationError("net load", net_kg, f"within the balance's calibrated loads {loads[0]:g} .. "
                                                       f"{loads[-1]:g} kg ({self.balance_source})")
        for (x0, u0), (x1, u1) in zip(self.balance_u_table_kg, self.balance_u_table_kg[1:]):
            if net_kg <= x1:
                return (u0 + (net_kg - x0) / (x1 - x0) * (u1 - u0)) / net_kg
        return self.balance_u_table_kg[-1][1] / net_kg

    @staticmethod
    def reference_volume_m3(x: Mapping[str, Any]) -> Any:
        """Actual volume that passed the meter under test, at its temperature and pressure."""
        timing = x.get("diverter_timing_s")
        return gravimetric_volume(
            (x["balance_end_kg"] - x["balance_start_kg"]) * x["balance_calibration"],
            water_temperature_tank_c=(x["meter_temperature_c"] + x["tank_temperature_offset_c"]
                                      + x["temperature_gradient_c"]),
            air_density=x["air_density"],
            weights_density=x["weights_density"],
            meter_temperature_c=x["meter_temperature_c"],
            meter_pressure_pa=x["meter_pressure_pa"],
            diverter_timing_s=timing,
            fill_time_s=x["fill_time_s"] if timing is not None else None,
        )

    def reading_for(self, volume_m3: float, flowrate_m3h: float, *, water_temperature_c: float = 20.0,
                    meter_pressure_pa: float = 101325.0 + 3e5) -> GravimetricReading:
        """The reading a perfect rig would give for `volume_m3` through the meter (used by the planner)."""
        rho_meter = water_density(water_temperature_c, meter_pressure_pa)
        rho_tank = water_density(water_temperature_c)
        mass_kg = volume_m3 * rho_meter
        indication = mass_kg * (1 - self.air_density_kg_m3 / rho_tank) / (1 - self.air_density_kg_m3 / self.weights_density_kg_m3)
        return GravimetricReading(0.0, indication, water_temperature_c, water_temperature_c, meter_pressure_pa,
                                  volume_m3 / flowrate_m3h * 3600.0)

    @classmethod
    def from_register(cls, register: Any, *, balance: str = "scale", thermometer: str = "thermometer",
                      pressure: str = "pressure", diverter_timing_u_s: float | None = None,
                      min_load_kg: float | None = None, timer: str | None = None,
                      temperature_difference_half_width_c: float = 0.1) -> GravimetricMethod:
        """The method with its standards' uncertainties taken from their certificates (u = U/k, ν, resolution).

        `register` is a `meterlab.calibration.Register` (already loaded: the metrology core does no I/O);
        `balance`, `thermometer`, `pressure` are standard ids or the bench instruments they back.
        The balance's calibration uncertainty is taken from its certificate's table at the net load of each
        collection (or, with `min_load_kg`, as the largest u(m)/m from that load, one value for all); the other
        uncertainties are the largest over their calibrated ranges. The gradient between tank and meter is a
        property of the rig, not of a certificate: give `temperature_difference_half_width_c` from the rig's own
        validation.
        Checking that the standards are in calibration is the register's job (`register.enforce`).
        """
        scale, prt, transmitter = register.get(balance), register.get(thermometer), register.get(pressure)
        timebase = timebase_of(register, timer) if timer else None
        return cls(
            balance_source=scale.source,
            balance_u_rel=scale.max_relative_u(min_load_kg) if min_load_kg is not None else None,
            balance_u_table_kg=() if min_load_kg is not None else _balance_table_kg(scale),
            balance_dof=scale.correction_of().dof,
            balance_resolution_kg=scale.resolution_in("kg"),
            thermometer_source=prt.source,
            water_temperature_u_c=prt.max_u("K"),
            temperature_difference_half_width_c=temperature_difference_half_width_c,
            pressure_source=transmitter.source,
            meter_pressure_u_pa=transmitter.max_u("Pa"),
            diverter_timing_u_s=diverter_timing_u_s,
            timebase_hz=timebase.x if timebase else None,
            timer_source=register.get(timer).source if timer else None,
        )


@dataclass(frozen=True)
class MasterMeterReading:
    """What was read at one master-meter test point (water)."""

    master_meter_m3: float
    flowrate_m3h: float
    master_meter_temperature_c: float
    master_meter_pressure_pa: float
    meter_water_temperature_c: float
    meter_pressure_pa: float


@dataclass(frozen=True)
class MasterMeterMethod(ReferenceMethod):
    """A water master meter in series, corrected by its certificate curve (error vs flowrate)."""

    master_meter_source: str
    calibration_points: tuple[tuple[float, float, float], ...]   # (Q m³/h, E %, U % at k = 2)
    resolution_l: float                      # pulse value or display step of the master meter
    reproducibility_half_width_pct: float    # drift and reproducibility since calibration, rectangular
    thermometer_source: str
    water_temperature_u_c: float
    pressure_source: str
    pressure_u_pa: float
    temperature_difference_half_width_c: float = 0.0  # water at the master meter vs at the meters (rig validation)
    temperature_difference_source: str = "rig validation (bench file)"

    def reference_inputs(self, reading: MasterMeterReading) -> dict[str, Any]:
        half_step = self.resolution_l * 1e-3 / 2
        t_u, p_u, thermo, press = (self.water_temperature_u_c, self.pressure_u_pa,
                                   self.thermometer_source, self.pressure_source)
        return {
            "mm_start_m3": rectangular(0.0, half_step, name="master meter reading, start", source=self.master_meter_source),
            "mm_end_m3": rectangular(reading.master_meter_m3, half_step, name="master meter reading, end",
                                     source=self.master_meter_source),
            "mm_error_pct": interpolate_calibration_curve(reading.flowrate_m3h, self.calibration_points,
                                                          name="master meter error (certificate)",
                                                          source=self.master_meter_source),
            "mm_reproducibility": rectangular(0.0, self.reproducibility_half_width_pct / 100,
                                              name="master meter reproducibility", source=self.master_meter_source),
            # one reading each of temperature and pressure (at the meters) enters once; the master meter's water
            # differs by what the readings say (0 with one instrument) and by the unmeasured temperature difference
            "meter_temperature_c": quantity(reading.meter_water_temperature_c, t_u, name="meter water temperature",
                                            source=thermo),
            "meter_pressure_pa": quantity(reading.meter_pressure_pa, p_u, name="meter water pressure", source=press),
            "mm_temperature_offset_c": reading.master_meter_temperature_c - reading.meter_water_temperature_c,
            "mm_pressure_offset_pa": reading.master_meter_pressure_pa - reading.meter_pressure_pa,
            "mm_temperature_difference_c": unmeasured_difference(
                self.temperature_difference_half_width_c, "temperature difference master meter - meters",
                self.temperature_difference_source),
        }

    @staticmethod
    def reference_volume_m3(x: Mapping[str, Any]) -> Any:
        indicated = (x["mm_end_m3"] - x["mm_start_m3"]) * (1 + x["mm_reproducibility"])
        mm_temperature_c = x["meter_temperature_c"] + x["mm_temperature_offset_c"] + x["mm_temperature_difference_c"]
        return master_meter_volume(indicated, error_pct=x["mm_error_pct"], mm_temperature_c=mm_temperature_c,
                                   mm_pressure_pa=x["meter_pressure_pa"] + x["mm_pressure_offset_pa"],
                                   meter_temperature_c=x["meter_temperature_c"],
                                   meter_pressure_pa=x["meter_pressure_pa"])

    def reading_for(self, volume_m3: float, flowrate_m3h: float) -> MasterMeterReading:
        error = interpolate_calibration_curve(flowrate_m3h, self.calibration_points, name="master meter error",
                                              source=self.master_meter_source).x
        p = 101325.0 + 3e5
        return MasterMeterReading(volume_m3 * (1 + error / 100), flowrate_m3h, 20.0, p, 20.0, p)

    @classmethod
    def from_register(cls, register: Any, *, master_meter: str = "master_meter", thermometer: str = "thermometer",
                      pressure: str = "pressure", resolution_l: float, reproducibility_half_width_pct: float,
                      temperature_difference_half_width_c: float = 0.0) -> MasterMeterMethod:
        """The method with the master meter's error curve and the p/T uncertainties from their certificates.
        The resolution of the totalizer as read, the reproducibility since calibration and the temperature
        difference between the master meter and the meters are the rig's (bench file), not a certificate's."""
        mm, prt, transmitter = register.get(master_meter), register.get(thermometer), register.get(pressure)
        return cls(master_meter_source=mm.source, calibration_points=mm.calibration_points(),
                   resolution_l=resolution_l, reproducibility_half_width_pct=reproducibility_half_width_pct,
                   thermometer_source=prt.source, water_temperature_u_c=prt.max_u("K"),
                   pressure_source=transmitter.source, pressure_u_pa=transmitter.max_u("Pa"),
                   temperature_difference_half_width_c=temperature_difference_half_width_c)


@dataclass(frozen=True)
class BellProverReading:
    """What was read at one bell-prover test point (gas)."""

    displacement_m: float
    bell_temperature_c: float
    bell_pressure_pa: float
    meter_temperature_c: float
    meter_pressure_pa: float


@dataclass(frozen=True)
class BellProverMethod(ReferenceMethod):
    """A bell prover; its volume moved to the MUT's pressure and temperature (ideal gas, dry air).

    Each reading enters once, under the certificate of the instrument that read it: the bell's pressure (its own
    transmitter), the meters' pressure (theirs), one gas temperature (one thermometer serves the bell and the
    meters) and, as its own input, the unmeasured temperature difference between the bell and the meters (rig
    validation, bench file)."""

    bell_source: str
    effective_area_m2: float
    effective_area_u_rel: float
    encoder_resolution_m: float
    thermometer_source: str
    temperature_u_c: float
    bell_pressure_source: str
    bell_pressure_u_pa: float
    meter_pressure_source: str
    meter_pressure_u_pa: float
    effective_area_dof: float = inf
    temperature_difference_half_width_c: float = 0.0
    temperature_difference_source: str = "rig validation (bench file)"
    expansion_coefficient_per_k: float = 0.0

    def reference_inputs(self, reading: BellProverReading) -> dict[str, Any]:
        half = self.encoder_resolution_m / 2
        return {
            "area_m2": quantity(self.effective_area_m2, self.effective_area_u_rel * self.effective_area_m2,
                                dof=self.effective_area_dof, name="bell effective area", source=self.bell_source),
            "start_m": rectangular(0.0, half, name="bell encoder, start", source=self.bell_source),
            "end_m": rectangular(reading.displacement_m, half, name="bell encoder, end", source=self.bell_source),
            "meter_temperature_c": quantity(reading.meter_temperature_c, self.temperature_u_c, name="gas temperature",
                                            source=self.thermometer_source),
            # the bell's gas is not measured where it is: the reading's difference (0 with one thermometer) plus
            # the unmeasured difference between the two places
            "bell_temperature_offset_c": reading.bell_temperature_c - reading.meter_temperature_c,
            "temperature_difference_c": unmeasured_difference(
                self.temperature_difference_half_width_c, "temperature difference bell - meters",
                self.temperature_difference_source),
            "bell_pressure_pa": quantity(reading.bell_pressure_pa, self.bell_pressure_u_pa, name="bell gas pressure",
                                         source=self.bell_pressure_source),
            "meter_pressure_pa": quantity(reading.meter_pressure_pa, self.meter_pressure_u_pa, name="MUT gas pressure",
                                          source=self.meter_pressure_source),
            "expansion_per_k": self.expansion_coefficient_per_k,
        }

    @staticmethod
    def reference_volume_m3(x: Mapping[str, Any]) -> Any:
        bell_temperature_c = x["meter_temperature_c"] + x["bell_temperature_offset_c"] + x["temperature_difference_c"]
        return bell_prover_volume_at_meter(
            x["end_m"] - x["start_m"], effective_area_m2=x["area_m2"], bell_temperature_c=bell_temperature_c,
            bell_pressure_pa=x["bell_pressure_pa"], p_mut_pa=x["meter_pressure_pa"], t_mut_c=x["meter_temperature_c"],
            bell_expansion_coefficient_per_k=x["expansion_per_k"])

    def reading_for(self, volume_m3: float, flowrate_m3h: float) -> BellProverReading:
        return BellProverReading(volume_m3 / self.effective_area_m2, 20.0, 101825.0, 20.0, 101825.0)

    @classmethod
    def from_register(cls, register: Any, *, bell: str = "bell-01", thermometer: str = "thermometer",
                      bell_pressure: str, meter_pressure: str, encoder_resolution_m: float,
                      temperature_difference_half_width_c: float = 0.0, position_m: float | None = None,
                      expansion_coefficient_per_k: float = 0.0) -> BellProverMethod:
        """The method with the bell's effective area and the standards' uncertainties from their certificates.

        `register` is a loaded `meterlab.calibration.Register`; `bell`, `thermometer`, `bell_pressure` and
        `meter_pressure` are standard ids or the bench instruments they back. The effective area is the certified
        A(h) at `position_m` (default: the middle of the certified position range), with its standard uncertainty
        and degrees of freedom; the temperature and pressure uncertainties are the largest over each certificate's
        range (u = U/k). The encoder's metres per pulse, the temperature difference between bell and meters and
        the bell's expansion coefficient are properties of the rig, not of a certificate."""
        certificate = register.get(bell)
        correction = certificate.correction_of()
        if position_m is None:
            calibrated = certificate.calibrated_range[correction.variable]
            position_m = (calibrated.min + calibrated.max) / 2
        area = certificate.evaluate(position_m)
        prt, p_bell, p_meter = register.get(thermometer), register.get(bell_pressure), register.get(meter_pressure)
        return cls(
            bell_source=certificate.source,
            effective_area_m2=area.x,
            effective_area_u_rel=area.u / area.x,
            effective_area_dof=area.df,
            encoder_resolution_m=encoder_resolution_m,
            thermometer_source=prt.source,
            temperature_u_c=prt.max_u("K"),
            bell_pressure_source=p_bell.source,
            bell_pressure_u_pa=p_bell.max_u("Pa"),
            meter_pressure_source=p_meter.source,
            meter_pressure_u_pa=p_meter.max_u("Pa"),
            temperature_difference_half_width_c=temperature_difference_half_width_c,
            expansion_coefficient_per_k=expansion_coefficient_per_k,
        )


@dataclass(frozen=True)
class SonicNozzleReading:
    """What was read at one sonic-nozzle test point (gas): the open nozzles, the mean upstream (stagnation)
    and meter conditions over the collection, and the collection time as timebase counts over the gate."""

    nozzles: tuple[str, ...]            # certificate elements of the open nozzles, e.g. ("N3", "N5")
    nozzle_pressure_pa: float
    nozzle_temperature_c: float
    meter_pressure_pa: float
    meter_temperature_c: float
    timebase_count: int                 # the timer's reference counted over the same gate as the meters
    humidity_pct: float | None = None   # relative humidity at the meters (a hygrometer there); None: not measured


@dataclass(frozen=True)
class SonicNozzleMethod(ReferenceMethod):
    """Critical-flow (sonic) nozzles downstream of the meters: the mass that passed, q_m·Δt summed over the
    open nozzles (ISO 9300, Cd from the nozzles' certificate), over the gas density at the meter (ideal gas).

        V_MUT = Σ_k C_d,k·A_k·C*(κ)·p0/√(R·T0/M) · (N/f) · R·T_MUT/(p_MUT·M)

    The gas is the laboratory's moist air: its water-vapour fraction x_v (from the relative humidity at the meters,
    CIPM-2007) sets M and κ (and so C*); the stream keeps x_v from the meters to the nozzles. Dry air at 23 °C and
    45 %RH would bias E by about +0.21 %. Without a hygrometer the humidity is a stated range (dry to saturated).

    `nozzles` lists (element, throat diameter m, Cd, u(Cd), ν(Cd)) of every nozzle of the bank."""

    nozzle_source: str
    nozzles: tuple[tuple[str, float, float, float, float], ...]
    nozzle_pressure_source: str
    nozzle_pressure_u_pa: float
    meter_pressure_source: str
    meter_pressure_u_pa: float
    thermometer_source: str
    temperature_u_c: float
    timer_source: str
    timebase_hz: float
    timebase_u_hz: float
    molar_mass_kg_mol: float = MOLAR_MASS_AIR   # of the dry air
    kappa: float = 1.4                          # of the dry air
    # the ideal-gas C* of the moist air's κ vs the real gas (ISO 9300 real-gas C*_R differs by ~1e-4 near 1 bar
    # [U]): a rectangular relative half-width
    critical_flow_half_width_rel: float = 5e-4
    critical_flow_source: str = "ISO 9300 ideal-gas critical flow function of the moist air vs real gas"
    # the hygrometer at the meters (u from its certificate); None: no hygrometer, the humidity is the stated range
    humidity_u_pct: float | None = None
    humidity_source: str = UNMEASURED_HUMIDITY_SOURCE
    temperature_difference_half_width_c: float = 0.0  # gas at the nozzles vs at the meters (rig validation)
    temperature_difference_source: str = "rig validation (bench file)"

    def _nozzle(self, element: str) -> tuple[str, float, float, float, float]:
        for nozzle in self.nozzles:
            if nozzle[0] == element:
                return nozzle
        raise DeclarationError("nozzles", element, f"one of the certified nozzles {[n[0] for n in self.nozzles]}")

    def reference_inputs(self, reading: SonicNozzleReading) -> dict[str, Any]:
        if not reading.nozzles:
            raise DeclarationError("nozzles", reading.nozzles, "at least one open nozzle")
        x: dict[str, Any] = {
            f"cd_{element}": quantity(cd, u, dof=dof, name=f"discharge coefficient {element}",
                                      source=self.nozzle_source)
            for element, _, cd, u, dof in map(self._nozzle, reading.nozzles)}
        x.update({f"throat_m_{element}": d for element, d, *_ in map(self._nozzle, reading.nozzles)})
        x.update({
            "critical_flow_factor": rectangular(1.0, self.critical_flow_half_width_rel,
                                                name="critical flow function", source=self.critical_flow_source),
            "nozzle_pressure_pa": quantity(reading.nozzle_pressure_pa, self.nozzle_pressure_u_pa,
                                           name="nozzle inlet pressure", source=self.nozzle_pressure_source),
            "meter_pressure_pa": quantity(reading.meter_pressure_pa, self.meter_pressure_u_pa,
                                          name="MUT gas pressure", source=self.meter_pressure_source),
            # one reading of the gas temperature (at the meters) enters once; the nozzles' inlet differs by what the
            # readings say (0 with one thermometer) and by the unmeasured difference between the places
            "meter_temperature_c": quantity(reading.meter_temperature_c, self.temperature_u_c,
                                            name="MUT gas temperature", source=self.thermometer_source),
            "nozzle_temperature_offset_c": reading.nozzle_temperature_c - reading.meter_temperature_c,
            "nozzle_temperature_difference_c": unmeasured_difference(
                self.temperature_difference_half_width_c, "temperature difference nozzles - meters",
                self.temperature_difference_source),
            "timebase_count": rectangular(reading.timebase_count, 1.0, name="collection time, timebase count",
                                          source=self.timer_source),
            "timebase_hz": quantity(self.timebase_hz, self.timebase_u_hz, name="counter timebase frequency",
                                    source=self.timer_source),
            "humidity_pct": self._humidity(reading),
            "dry_molar_mass": self.molar_mass_kg_mol,
            "dry_kappa": self.kappa,
        })
        return x

    def _humidity(self, reading: SonicNozzleReading) -> Any:
        """The relative humidity at the meters: the hygrometer's reading under its certificate, or, with none,
        laboratory air anywhere from dry to saturated (50 ± 50 %RH, rectangular)."""
        if self.humidity_u_pct is None:
            return rectangular(UNMEASURED_HUMIDITY_PCT, UNMEASURED_HUMIDITY_PCT, name="gas relative humidity",
                               source=self.humidity_source)
        if reading.humidity_pct is None:
            raise DeclarationError("humidity_pct", None, f"a hygrometer reading ({self.humidity_source})")
        return quantity(reading.humidity_pct, self.humidity_u_pct, name="gas relative humidity",
                        source=self.humidity_source)

    @staticmethod
    def reference_volume_m3(x: Mapping[str, Any]) -> Any:
        # the water-vapour fraction where the hygrometer is (at the meters) holds all along the stream
        x_v = water_vapour_mole_fraction(x["meter_temperature_c"], x["meter_pressure_pa"], x["humidity_pct"])
        molar_mass = moist_air_molar_mass(x_v, x["dry_molar_mass"])
        kappa = moist_air_isentropic_exponent(x_v, x["dry_kappa"])
        c_star = critical_flow_function_ideal(kappa) * x["critical_flow_factor"]
        elements = [key[3:] for key in x if key.startswith("cd_")]  # the open nozzles
        t0_c = x["meter_temperature_c"] + x["nozzle_temperature_offset_c"] + x["nozzle_temperature_difference_c"]
        mass_flow = sum(sonic_nozzle_mass_flow(x[f"throat_m_{element}"], x[f"cd_{element}"], x["nozzle_pressure_pa"],
                                               t0_c, molar_mass, kappa, c_star)
                        for element in elements)
        duration_s = x["timebase_count"] / x["timebase_hz"]
        density = x["meter_pressure_pa"] * molar_mass / (
            MOLAR_GAS_CONSTANT * (x["meter_temperature_c"] + ZERO_CELSIUS_K))
        return mass_flow * duration_s / density

    def bank(self) -> NozzleBank:
        """The certified nozzles as a bank (element -> throat diameter, Cd)."""
        return NozzleBank({element: (d, cd) for element, d, cd, *_ in self.nozzles}, self.molar_mass_kg_mol, self.kappa)

    def combination_for(self, flowrate_m3h: float, p0_pa: float, t0_c: float) -> tuple[tuple[str, ...], float]:
        """The nozzle combination whose flow at (p0, T0) is closest to `flowrate_m3h`, and that flow."""
        return self.bank().choose(flowrate_m3h, p0_pa, t0_c)

    def reading_for(self, volume_m3: float, flowrate_m3h: float, *, pressure_pa: float = 101325.0,
                    temperature_c: float = 20.0) -> SonicNozzleReading:
        """The reading a perfect rig would give: the closest nozzle combination, collecting for volume ÷ its
        flow (meters and nozzles at the same p and T, laboratory air of 50 %RH)."""
        elements, _ = self.combination_for(flowrate_m3h, pressure_pa, temperature_c)
        humidity = None if self.humidity_u_pct is None else UNMEASURED_HUMIDITY_PCT  # typical laboratory air
        hour = round(3600.0 * self.timebase_hz)
        probe = SonicNozzleReading(elements, pressure_pa, temperature_c, pressure_pa, temperature_c, hour, humidity)
        m3_per_h = float(value_of(self.reference_volume_m3(self.inputs(probe))))  # the moist air's flow
        return replace(probe, timebase_count=round(volume_m3 / m3_per_h * hour))

    @classmethod
    def from_register(cls, register: Any, *, nozzles: str, throat_diameters_m: Mapping[str, float],
                      thermometer: str, nozzle_pressure: str, meter_pressure: str, timer: str,
                      hygrometer: str | None = None, molar_mass_kg_mol: float = MOLAR_MASS_AIR, kappa: float = 1.4,
                      temperature_difference_half_width_c: float = 0.0) -> SonicNozzleMethod:
        """The method with every nozzle's Cd (value, u, ν) from the nozzles' certificate (elements N1..Nk,
        evaluated at the middle of the certified upstream pressure range: Cd is taken constant over it), the
        p/T uncertainties as the largest over each transmitter's certificate (u = U/k) and the timebase
        frequency from the timer's certificate, the humidity's from the hygrometer's (`hygrometer`; None: no
        hygrometer, the stated range of laboratory air). `throat_diameters_m` maps element -> throat diameter (the
        nozzles' drawings: a property of the rig, the certified Cd goes with that nominal area)."""
        certificate = register.get(nozzles)
        table = []
        for element in certificate.elements:
            if element not in throat_diameters_m:
                raise DeclarationError("throat_diameters_m", element,
                                       f"a throat diameter for every nozzle of {certificate.id}")
            correction = certificate.correction_of(element)
            calibrated = certificate.calibrated_range[correction.variable]
            cd = certificate.evaluate((calibrated.min + calibrated.max) / 2, element=element)
            table.append((element, float(throat_diameters_m[element]), cd.x, cd.u, cd.df))
        prt, p0, pm, clock = (register.get(thermometer), register.get(nozzle_pressure), register.get(meter_pressure),
                              register.get(timer))
        timebase = timebase_of(register, timer)
        return cls(nozzle_source=certificate.source, nozzles=tuple(table),
                   nozzle_pressure_source=p0.source, nozzle_pressure_u_pa=p0.max_u("Pa"),
                   meter_pressure_source=pm.source, meter_pressure_u_pa=pm.max_u("Pa"),
                   thermometer_source=prt.source, temperature_u_c=prt.max_u("K"),
                   timer_source=clock.source, timebase_hz=timebase.x, timebase_u_hz=timebase.u,
                   molar_mass_kg_mol=molar_mass_kg_mol, kappa=kappa,
                   temperature_difference_half_width_c=temperature_difference_half_width_c,
                   **_hygrometer(register, hygrometer))


def _hygrometer(register: Any, hygrometer: str | None) -> dict[str, Any]:
    """The humidity's uncertainty and source from the hygrometer's certificate (largest u over its range, %RH)."""
    if hygrometer is None:
        return {}
    certificate = register.get(hygrometer)
    return {"humidity_u_pct": certificate.max_u("%RH"), "humidity_source": certificate.source}


def unmeasured_difference(half_width: float, name: str, source: str) -> Any:
    """The unmeasured difference of a quantity between two places, 0 ± `half_width` (rectangular), as an input;
    a plain 0 when the rig states none (an input without uncertainty is no input)."""
    return rectangular(0.0, half_width, name=name, source=source) if half_width > 0 else 0.0


def _balance_table_kg(scale: Any) -> tuple[tuple[float, float], ...]:
    """(load kg, standard uncertainty kg) of each row of a balance certificate's table."""
    units = {scale.unit, scale.calibrated_range[scale.correction_of().variable].unit}
    if units != {"kg"}:
        raise DeclarationError("unit", sorted(units), f"kg for the loads and corrections of balance {scale.id}")
    return tuple((x, U / 2) for x, _, U in scale.calibration_points())


def timebase_of(register: Any, timer: str) -> Any:
    """A counter's timebase frequency (value and uncertainty) from its certificate: the frequency holds over
    the certificate's ambient range, so it is evaluated at that range's start."""
    clock = register.get(timer)
    return clock.evaluate(clock.calibrated_range[clock.correction_of().variable].min)
