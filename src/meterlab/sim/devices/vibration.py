"""Simulated shaker controller: meterlab's own SCPI-style command set (instruments/vibration.py) over the shaker
physics (`wiring: {table: shaker}`, physics/motion.py).

Its own range (`Params`: what the simulated controller accepts, -222 outside) may be wider than the bench's rating,
which the driver checks. Settings while a test runs are refused (-221); START without a level or frequency, or a
sine whose displacement exceeds the table's stroke, too (-221). The control accelerometer reads the table's true
level (peak of a sine or sweep, RMS of a random vibration) with a random reading error (`reading_noise_pct`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from meterlab.instruments.vibration import check_asd_profile, sine_displacement_m
from meterlab.sim.physics.motion import Shaker, Sweep
from meterlab.sim.servers.scpi import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER,
    ScpiCall,
    ScpiDevice,
    ScpiError,
    choice,
    number,
    scpi_float,
)

SETTINGS_CONFLICT = (-221, "Settings conflict")


class ShakerControllerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: str = "meterlab,SIM-SHAKER,0001,1.0"
    max_acceleration_m_s2: float = Field(100.0, gt=0)
    min_frequency_hz: float = Field(0.1, gt=0)
    max_frequency_hz: float = Field(2500.0, gt=0)
    max_displacement_m: float = Field(0.15, gt=0, description="half the table's stroke")
    reading_noise_pct: float = Field(0.5, ge=0, le=10, description="1-sigma of the control accelerometer's reading")


class SimShakerController(ScpiDevice):
    Params = ShakerControllerParams

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.identity = self.params.identity
        self.table: Shaker = self.world.component(self.signal("table") or "shaker")
        self._rng = None  # drawn on the first reading (see physics/motion.py: other streams stay as they were)
        self.reset()
        add = self.scpi.add
        add("AXIS", self._setting(lambda call: setattr(self, "axis", choice(call, {"X": "X", "Y": "Y", "Z": "Z"}))))
        add("AXIS?", lambda call: self.axis)
        add("MODE", self._setting(lambda call: setattr(self, "mode", choice(
            call, {"SINE": "SINE", "SWEep": "SWE", "RANDom": "RAND"}))))
        add("MODE?", lambda call: self.mode)
        for name, key, low, high in self._numbers():
            add(name, self._setting(lambda call, k=key, lo=low, hi=high: self.settings.__setitem__(
                k, number(call, 0, minimum=lo, maximum=hi))))
            add(f"{name}?", lambda call, k=key: scpi_float(self.settings[k]))
        add("RANDom:PROFile", self._setting(self._set_profile))
        add("RANDom:PROFile?", lambda call: ",".join(f"{f:.8g},{a:.6g}" for f, a in self.profile))
        add("STARt", lambda call: self._start())
        add("STOP", lambda call: self._end("STOPPED"))
        add("ABORt", lambda call: self._end("ABORTED"))
        add("STATe?", lambda call: self._state())
        add("MEASure:ACCeleration?", lambda call: scpi_float(self._measured_level()))
        add("MEASure:FREQuency?", lambda call: scpi_float(self._world(lambda: self.table.frequency_at(self.world.t_s))))
        add("MEASure:TIME?", lambda call: scpi_float(self._world(lambda: self.world.t_s - self.table.last_start_s)))

    def _numbers(self) -> list[tuple[str, str, float, float]]:
        p = self.params
        return [
            ("SINE:ACCeleration", "sine_acc", 0.0, p.max_acceleration_m_s2),
            ("SINE:FREQuency", "sine_freq", p.min_frequency_hz, p.max_frequency_hz),
            ("SINE:DURation", "sine_dur", 0.0, 1e6),
            ("SWEep:ACCeleration", "sweep_acc", 0.0, p.max_acceleration_m_s2),
            ("SWEep:STARt", "sweep_start", p.min_frequency_hz, p.max_frequency_hz),
            ("SWEep:STOP", "sweep_stop", p.min_frequency_hz, p.max_frequency_hz),
            ("SWEep:RATE", "sweep_rate", 1e-3, 10.0),
            ("SWEep:CYCLes", "sweep_cycles", 1, 10000),
            ("RANDom:DURation", "random_dur", 0.0, 1e6),
        ]

    def reset(self) -> None:
        self._world(lambda: self.table.stop("ABORTED") if self.table.test is not None else None)
        self.axis, self.mode, self.profile = "Z", "SINE", []
        self.settings = {"sine_acc": 0.0, "sine_freq": 10.0, "sine_dur": 0.0, "sweep_acc": 0.0, "sweep_start": 10.0,
                         "sweep_stop": 150.0, "sweep_rate": 1.0, "sweep_cycles": 1.0, "random_dur": 0.0}

    def _world(self, read):
        with self.world.now():
            return read()

    def _setting(self, apply):
        """A setting is refused while a test runs (the value stays as it was)."""
        def handler(call: ScpiCall) -> None:
            if self._world(lambda: self.table.test is not None):
                raise ScpiError(*SETTINGS_CONFLICT)
            apply(call)
        return handler

    def _set_profile(self, call: ScpiCall) -> None:
        try:
            values = [float(a) for a in call.args]
        except ValueError:
            raise ScpiError(*ILLEGAL_PARAMETER) from None
        if len(values) % 2:
            raise ScpiError(*ILLEGAL_PARAMETER)
        try:
            profile = check_asd_profile(list(zip(values[::2], values[1::2])))
        except ValueError:
            raise ScpiError(*ILLEGAL_PARAMETER) from None
        if profile[0][0] < self.params.min_frequency_hz or profile[-1][0] > self.params.max_frequency_hz:
            raise ScpiError(*DATA_OUT_OF_RANGE)
        self.profile = profile

    # -- running ---------------------------------------------------------------------------------------------
    def _start(self) -> None:
        s = self.settings
        with self.world.now():
            if self.table.test is not None:
                raise ScpiError(*SETTINGS_CONFLICT)
            if self.mode == "SINE":
                self._check_stroke(s["sine_acc"], s["sine_freq"])
                self.table.start_sine(self.axis, s["sine_acc"], s["sine_freq"], s["sine_dur"] or None)
            elif self.mode == "SWE":
                if s["sweep_start"] >= s["sweep_stop"]:
                    raise ScpiError(*SETTINGS_CONFLICT)
                self._check_stroke(s["sweep_acc"], s["sweep_start"])
                self.table.start_sweep(self.axis, s["sweep_acc"], Sweep(s["sweep_start"], s["sweep_stop"],
                                                                       s["sweep_rate"], int(s["sweep_cycles"])))
            else:
                if not self.profile:
                    raise ScpiError(*SETTINGS_CONFLICT)
                self.table.start_random(self.axis, self.profile, s["random_dur"] or None)

    def _check_stroke(self, acceleration_m_s2: float, lowest_hz: float) -> None:
        if acceleration_m_s2 <= 0 or sine_displacement_m(acceleration_m_s2, lowest_hz) > self.params.max_displacement_m:
            raise ScpiError(*SETTINGS_CONFLICT)

    def _end(self, state: str) -> None:
        with self.world.now():
            self.table.stop(state)

    def _state(self) -> str:
        return self._world(lambda: self.table.state)

    def _measured_level(self) -> float:
        level = self._world(lambda: self.table.level_at(self.world.t_s))
        if self._rng is None:
            self._rng = self.world.rng()
        noise = self._rng.normal(0.0, self.params.reading_noise_pct / 100) if self.params.reading_noise_pct else 0.0
        return level * (1 + noise)
