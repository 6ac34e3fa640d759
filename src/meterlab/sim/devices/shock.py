"""Simulated mechanical shock / pendulum impact tester: meterlab's own SCPI-style command set
(instruments/shock.py) over the shock machine physics (`wiring: {table: shock}`, physics/motion.py).

ARM is refused while the guard (interlock) is open, FIRE unless armed, settings while armed or firing (all -221
Settings conflict, the value unchanged); values outside the tester's own range (`Params`) -222. Opening the guard
while armed disarms the tester (the pendulum is lowered). FETC:PEAK? and FETC:DUR? wait while the tester is
firing (until the impact, bounded by the request's real-time limit) and then answer the measured pulse: the true
peak with the tester's reading error (`reading_noise_pct`), the true duration to 0.01 ms."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from meterlab.sim.physics.motion import ShockMachine
from meterlab.sim.servers.scpi import ScpiCall, ScpiDevice, ScpiError, choice, number, scpi_float

SETTINGS_CONFLICT = (-221, "Settings conflict")
MS_PER_S = 1e3
FETCH_WAIT_REAL_S = 30.0  # a fetch never blocks a connection longer than this (the driver times out first)


class ShockTesterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: str = "meterlab,SIM-SHOCK,0001,1.0"
    max_peak_m_s2: float = Field(10000.0, gt=0)
    min_duration_ms: float = Field(0.2, gt=0)
    max_duration_ms: float = Field(100.0, gt=0)
    reading_noise_pct: float = Field(0.5, ge=0, le=10, description="1-sigma of the tester's peak reading")


class SimShockTester(ScpiDevice):
    Params = ShockTesterParams

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.identity = self.params.identity
        self.machine: ShockMachine = self.world.component(self.signal("table") or "shock")
        self._rng = None  # drawn on the first reading (see physics/motion.py: other streams stay as they were)
        self.reset()
        p, add = self.params, self.scpi.add
        add("AXIS", self._setting(lambda call: setattr(self, "axis", choice(call, {"X": "X", "Y": "Y", "Z": "Z"}))))
        add("AXIS?", lambda call: self.axis)
        add("SHOCk:PEAK", self._setting(lambda call: setattr(self, "peak_m_s2", number(
            call, 0, minimum=0.0, maximum=p.max_peak_m_s2))))
        add("SHOCk:PEAK?", lambda call: scpi_float(self.peak_m_s2))
        add("SHOCk:DURation", self._setting(lambda call: setattr(self, "duration_ms", number(
            call, 0, minimum=p.min_duration_ms, maximum=p.max_duration_ms))))
        add("SHOCk:DURation?", lambda call: scpi_float(self.duration_ms))
        add("SHOCk:SHAPe", self._setting(lambda call: setattr(self, "shape", choice(call, {"HSINe": "HSIN"}))))
        add("SHOCk:SHAPe?", lambda call: self.shape)
        add("SHOCk:COUNt?", lambda call: str(self._world(lambda: self.machine.count)))
        add("INTerlock?", lambda call: "1" if self._world(lambda: self.machine.interlock_closed) else "0")
        add("ARM", lambda call: self._arm())
        add("DISArm", lambda call: setattr(self, "armed", False))
        add("FIRE", lambda call: self._fire())
        add("STATe?", lambda call: self._state())
        add("FETCh:PEAK?", lambda call: scpi_float(self._fetch(self._measured_peak)))
        add("FETCh:DURation?", lambda call: scpi_float(self._fetch(lambda pulse: round(
            pulse.duration_s * MS_PER_S, 2))))

    def reset(self) -> None:
        self.axis, self.shape, self.peak_m_s2, self.duration_ms, self.armed = "Z", "HSIN", 0.0, 11.0, False
        self._reading: float | None = None  # the last impulse's peak as measured, fixed once read

    def _world(self, read):
        with self.world.now():
            return read()

    def _check_guard(self) -> None:
        """An opened guard lowers the pendulum (called under the world's lock)."""
        if not self.machine.interlock_closed:
            self.armed = False

    def _setting(self, apply):
        def handler(call: ScpiCall) -> None:
            with self.world.now():
                self._check_guard()
                busy = self.armed or self.machine.firing
            if busy:
                raise ScpiError(*SETTINGS_CONFLICT)
            apply(call)
        return handler

    def _state(self) -> str:
        with self.world.now():
            self._check_guard()
            if self.machine.firing:
                return "FIRING"
        return "ARMED" if self.armed else "SAFE"

    def _arm(self) -> None:
        with self.world.now():
            if not self.machine.interlock_closed or self.machine.firing or self.peak_m_s2 <= 0:
                raise ScpiError(*SETTINGS_CONFLICT)
            self.armed = True

    def _fire(self) -> None:
        with self.world.now():
            self._check_guard()
            if not self.armed:
                raise ScpiError(*SETTINGS_CONFLICT)
            self.armed, self._reading = False, None
            self.machine.fire(self.axis, self.peak_m_s2, self.duration_ms / MS_PER_S)

    def _fetch(self, value):
        """Wait while firing (the impact), then the last pulse's value; -221 if there has been none."""
        self.world.wait_until(lambda: not self.machine.firing, timeout_real_s=FETCH_WAIT_REAL_S)
        with self.world.now():
            if self.machine.firing or self.machine.last is None:
                raise ScpiError(*SETTINGS_CONFLICT)
            return value(self.machine.last)

    def _measured_peak(self, pulse) -> float:
        if self._reading is None:
            if self._rng is None:
                self._rng = self.world.rng()
            noise = self._rng.normal(0.0, self.params.reading_noise_pct / 100) if self.params.reading_noise_pct else 0
            self._reading = pulse.peak_m_s2 * (1 + noise)
        return self._reading
