"""Reference methods of a flow rig as measurement models: readings in, error of indication with budget out.

A method object holds what is known about the rig's standards (their standard uncertainties and the
certificate each comes from); a reading holds what was measured at one test point. `error()` builds the
GUM model of E from both, so the engine, the planner and the demo all use the same model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from GTC.lib import UncertainReal

from meterlab.metrology.budget import quantity, rectangular
from meterlab.metrology.fluids import water_density_tanaka
from meterlab.metrology.indication import error_of_indication
from meterlab.metrology.reference_volume import gravimetric_volume, indicated_volume


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
class GravimetricMethod:
    """A weighing-tank reference. Uncertainties are standard uncertainties unless named half_width."""

    balance_source: str
    balance_u_rel: float                 # balance calibration, relative, at the load
    balance_dof: float
    balance_resolution_kg: float         # display step; each of the two readings is ± half of it
    thermometer_source: str
    water_temperature_u_c: float
    temperature_difference_half_width_c: float  # water at the meter vs where it is measured
    pressure_source: str
    meter_pressure_u_pa: float
    air_density_kg_m3: float = 1.20
    air_density_u: float = 0.01
    air_density_source: str = "CIPM-2007 from ambient p, t, RH"
    weights_density_kg_m3: float = 8000.0
    weights_density_half_width: float = 60.0
    weights_source: str = "OIML R 111 conventional density of adjustment weights"
    diverter_timing_u_s: float | None = None     # flying start: residual diverter timing error
    diverter_source: str = "diverter timing test"

    def inputs(self, reading: GravimetricReading) -> dict[str, Any]:
        """The model's inputs for one reading: labelled ureals (with their sources) and constants."""
        half_step = self.balance_resolution_kg / 2
        x: dict[str, Any] = {
            "balance_start_kg": rectangular(reading.balance_start_kg, half_step, name="balance reading, start",
                                            source=self.balance_source),
            "balance_end_kg": rectangular(reading.balance_end_kg, half_step, name="balance reading, end",
                                          source=self.balance_source),
            "balance_calibration": quantity(1.0, self.balance_u_rel, dof=self.balance_dof, name="balance calibration",
                                            source=self.balance_source),
            "tank_temperature_c": quantity(reading.tank_water_temperature_c, self.water_temperature_u_c,
                                           name="tank water temperature", source=self.thermometer_source),
            "meter_temperature_c": quantity(reading.meter_water_temperature_c, self.water_temperature_u_c,
                                            name="meter water temperature", source=self.thermometer_source),
            "temperature_gradient_c": rectangular(0.0, self.temperature_difference_half_width_c,
                                                  name="temperature gradient at the meter", source=self.thermometer_source),
            "meter_pressure_pa": quantity(reading.meter_pressure_pa, self.meter_pressure_u_pa,
                                          name="meter water pressure", source=self.pressure_source),
            "air_density": quantity(self.air_density_kg_m3, self.air_density_u, name="air density",
                                    source=self.air_density_source),
            "weights_density": rectangular(self.weights_density_kg_m3, self.weights_density_half_width,
                                           name="density of adjustment weights", source=self.weights_source),
            "fill_time_s": reading.fill_time_s,
        }
        if self.diverter_timing_u_s is not None:
            x["diverter_timing_s"] = quantity(0.0, self.diverter_timing_u_s, name="diverter timing",
                                              source=self.diverter_source)
        return x

    @staticmethod
    def reference_volume_m3(x: Mapping[str, Any]) -> Any:
        """Actual volume that passed the meter under test, at its temperature and pressure."""
        timing = x.get("diverter_timing_s")
        return gravimetric_volume(
            (x["balance_end_kg"] - x["balance_start_kg"]) * x["balance_calibration"],
            water_temperature_tank_c=x["tank_temperature_c"],
            air_density=x["air_density"],
            weights_density=x["weights_density"],
            meter_temperature_c=x["meter_temperature_c"] + x["temperature_gradient_c"],
            meter_pressure_pa=x["meter_pressure_pa"],
            diverter_timing_s=timing,
            fill_time_s=x["fill_time_s"] if timing is not None else None,
        )

    @classmethod
    def model(cls, x: Mapping[str, Any]) -> Any:
        """E in percent from rig and MUT inputs; the same code runs on ureals (GUM) and arrays (Monte Carlo)."""
        return error_of_indication(indicated_volume(x), cls.reference_volume_m3(x))

    def error(self, reading: GravimetricReading, mut_inputs: Mapping[str, Any]) -> UncertainReal:
        """Error of indication E in percent with its full budget (mut_inputs from register/pulse_inputs)."""
        return self.model({**self.inputs(reading), **mut_inputs})

    def reading_for(self, volume_m3: float, flowrate_m3h: float, *, water_temperature_c: float = 20.0,
                    meter_pressure_pa: float = 101325.0 + 3e5) -> GravimetricReading:
        """The reading a perfect rig would give for `volume_m3` through the meter (used by the planner)."""
        rho_meter = water_density_tanaka(water_temperature_c, meter_pressure_pa)
        rho_tank = water_density_tanaka(water_temperature_c)
        mass_kg = volume_m3 * rho_meter
        indication = mass_kg * (1 - self.air_density_kg_m3 / rho_tank) / (1 - self.air_density_kg_m3 / self.weights_density_kg_m3)
        return GravimetricReading(0.0, indication, water_temperature_c, water_temperature_c, meter_pressure_pa,
                                  volume_m3 / flowrate_m3h * 3600.0)
