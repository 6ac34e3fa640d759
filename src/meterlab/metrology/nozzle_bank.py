"""A bank of critical-flow (sonic) nozzles: the discrete flowrates its combinations give.

Shared by the sonic-nozzle method (planning a reading), the gas rigs (choosing the nozzles for a set point) and
the run's check that every test point's window holds a flow the bank can give."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from meterlab.metrology.fluids import ZERO_CELSIUS_K
from meterlab.metrology.reference_volume import MOLAR_GAS_CONSTANT, MOLAR_MASS_AIR, sonic_nozzle_mass_flow


@dataclass(frozen=True)
class NozzleBank:
    """Critical-flow nozzles (name -> throat diameter in m, Cd) and the flows their combinations give (ISO 9300,
    ideal C*): the flowrates a gas rig can set are these, and no others."""

    nozzles: dict[str, tuple[float, float]]
    molar_mass_kg_mol: float = MOLAR_MASS_AIR
    kappa: float = 1.4

    def critical_flow_m3h(self, signals: tuple[str, ...], p0_pa: float, t0_c: float) -> float:
        """Volume flow at p0, T0 that the open nozzles pass (ISO 9300, Cd from the certificate)."""
        return self._volume_flow_m3h(sum(self._mass_flow(s, p0_pa, t0_c) for s in signals), p0_pa, t0_c)

    def flows(self, p0_pa: float, t0_c: float) -> list[tuple[tuple[str, ...], float]]:
        """Every combination of nozzles with its flow at p0, T0, smallest flow first."""
        # each nozzle's mass flow once: a bank of 8 has 255 combinations, and durability sets its flow thousands
        # of times
        masses = {name: self._mass_flow(name, p0_pa, t0_c) for name in self.nozzles}
        combinations = (c for count in range(1, len(self.nozzles) + 1)
                        for c in itertools.combinations(self.nozzles, count))
        return sorted(((c, self._volume_flow_m3h(sum(masses[s] for s in c), p0_pa, t0_c)) for c in combinations),
                      key=lambda cq: cq[1])

    def _mass_flow(self, name: str, p0_pa: float, t0_c: float) -> float:
        d_m, cd = self.nozzles[name]
        return sonic_nozzle_mass_flow(d_m, cd, p0_pa, t0_c, self.molar_mass_kg_mol, self.kappa)

    def _volume_flow_m3h(self, mass_kg_s: float, p0_pa: float, t0_c: float) -> float:
        density = p0_pa * self.molar_mass_kg_mol / (MOLAR_GAS_CONSTANT * (t0_c + ZERO_CELSIUS_K))
        return mass_kg_s / density * 3600.0

    def choose(self, flowrate_m3h: float, p0_pa: float, t0_c: float) -> tuple[tuple[str, ...], float]:
        """The nozzle combination whose critical flow is closest to `flowrate_m3h`, and that flow."""
        return min(self.flows(p0_pa, t0_c), key=lambda cq: abs(cq[1] - flowrate_m3h))
