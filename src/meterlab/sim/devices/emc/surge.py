"""Simulated surge generator: `count` surges `interval_s` apart, each measured (VPK?, IPK?) with scatter."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from meterlab.sim.devices.emc.base import GeneratorParams, SimEmcGenerator, counted


class SurgeParams(GeneratorParams):
    identity: str = "SIM-SURGE 1.00"
    peak_deviation_pct: float = Field(1.0, ge=0, description="1-sigma scatter of the measured VPK/IPK")
    line_line_impedance_ohm: float = Field(2.0, gt=0, description="source impedance L-N (and IMP-OUT)")
    line_earth_impedance_ohm: float = Field(12.0, gt=0, description="source impedance L-PE, N-PE")


class SimSurgeGenerator(SimEmcGenerator):
    Params = SurgeParams
    family = "surge"
    DEFAULTS = {"voltage_kv": 0.5, "polarity": "positive", "coupling": "L-N", "phase_angle_deg": 0, "count": 1,
                "interval_s": 60}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pulses = 0
        self.last: tuple[str, int, int] | None = None  # coupling, VPK, IPK of the last surge

    def kind(self) -> str:
        return "surge"

    def begin(self, t0_s: float) -> None:
        self.pulses = 0
        counted(self, t0_s, self.v("interval_s"), self.v("count"), self._surge)

    def _surge(self) -> None:
        sign = 1 if self.is_set("polarity", "positive") else -1
        scatter = 1 + float(self.rng.normal(0, self.params.peak_deviation_pct / 100))
        peak_v = sign * self.v("voltage_kv") * 1000 * scatter
        line_to_line = self.is_set("coupling", "L-N") or self.is_set("coupling", "IMP-OUT")
        impedance = self.params.line_line_impedance_ohm if line_to_line else self.params.line_earth_impedance_ohm
        self.pulses += 1
        self.last = (self.v("coupling"), round(peak_v), round(peak_v / impedance))

    def q_last_coupling(self) -> str:
        return self.last[0] if self.last else self.v("coupling")

    def q_peak_voltage_v(self) -> str:
        return str(self.last[1] if self.last else 0)

    def q_peak_current_a(self) -> str:
        return str(self.last[2] if self.last else 0)

    def q_pulses_delivered(self) -> str:
        return str(self.pulses)
