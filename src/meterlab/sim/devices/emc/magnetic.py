"""Simulated magnetic field source: a static or power-frequency field for `duration_s` (0: until STOP); a
power-frequency field with `pulse_s` > 0 is pulsed: on for `pulse_s` every `pulse_period_s` (the short-duration
field of IEC 61000-4-8, repeated over a measurement), reaching the meters only while on."""

from __future__ import annotations

from meterlab.sim.devices.emc.base import BAD_ARGUMENT, RUNNING, GeneratorFault, GeneratorParams, SimEmcGenerator


class MagneticParams(GeneratorParams):
    identity: str = "SIM-MAGFIELD 1.00"


class SimMagneticFieldSource(SimEmcGenerator):
    Params = MagneticParams
    family = "magnetic_field"
    DEFAULTS = {"field": "static", "flux_density_mt": 0, "field_a_per_m": 0, "frequency_hz": "50", "duration_s": 0,
                "pulse_s": 0, "pulse_period_s": 0}
    field_on = True  # False between two pulses

    def pulsed(self) -> bool:
        return not self.is_set("field", "static") and self.v("pulse_s") > 0

    def kind(self) -> str:
        if self.is_set("field", "static"):
            return "magnetic_field"
        return "power_frequency_magnetic_field_short" if self.pulsed() else "power_frequency_magnetic_field"

    def _start(self) -> None:
        if self.pulsed() and self.v("pulse_period_s") <= self.v("pulse_s"):
            raise GeneratorFault(BAD_ARGUMENT)  # pulses that never end: TREP must exceed TPUL
        super()._start()

    def begin(self, t0_s: float) -> None:
        self.field_on = True
        if self.v("duration_s") > 0:
            self.at(t0_s + self.v("duration_s"), self.complete_test)
        if self.pulsed():
            self._switch_at(t0_s + self.v("pulse_s"), on=False)

    def _switch_at(self, t_s: float, *, on: bool) -> None:
        """Switch the field on or off at `t_s`, and schedule the next switch (pulse after pulse until the end)."""

        def switch() -> None:
            self.field_on = on
            self.emc.couple(self.name, self.kind(), self.targets, on, dict(self.values) if on else None)
            self._switch_at(t_s + (self.v("pulse_s") if on else self.v("pulse_period_s") - self.v("pulse_s")),
                            on=not on)

        self.at(t_s, switch)

    def finished(self) -> None:
        self.field_on = True

    def q_field_now(self) -> str:
        if self.state != RUNNING or not self.field_on:
            return "0"
        return f"{self.v('flux_density_mt') if self.is_set('field', 'static') else self.v('field_a_per_m'):g}"
