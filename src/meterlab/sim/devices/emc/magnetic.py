"""Simulated magnetic field source: a static or power-frequency field for `duration_s` (0: until STOP)."""

from __future__ import annotations

from meterlab.sim.devices.emc.base import RUNNING, GeneratorParams, SimEmcGenerator


class MagneticParams(GeneratorParams):
    identity: str = "SIM-MAGFIELD 1.00"


class SimMagneticFieldSource(SimEmcGenerator):
    Params = MagneticParams
    family = "magnetic_field"
    DEFAULTS = {"field": "static", "flux_density_mt": 0, "field_a_per_m": 0, "frequency_hz": "50", "duration_s": 0}

    def kind(self) -> str:
        return "magnetic_field" if self.is_set("field", "static") else "power_frequency_magnetic_field"

    def begin(self, t0_s: float) -> None:
        if self.v("duration_s") > 0:
            self.at(t0_s + self.v("duration_s"), self.complete_test)

    def q_field_now(self) -> str:
        if self.state != RUNNING:
            return "0"
        return f"{self.v('flux_density_mt') if self.is_set('field', 'static') else self.v('field_a_per_m'):g}"
