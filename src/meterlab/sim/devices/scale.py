"""Simulated Mettler Toledo balance (MT-SICS over TCP, CRLF) weighing the load wired to it (a tank).

The weight is what a real balance shows for the load's true mass: its conventional mass, i.e. reduced by
the air buoyancy on the water and raised by that on the adjustment weights (OIML R 111 convention),
minus zero and tare, rounded to the resolution.
`S` waits (in simulated time) for the load to be steady and answers `S I` if it does not settle."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from meterlab.sim.devices.base import LineDevice

KG_PER_UNIT = {"g": 1e-3, "kg": 1.0}


class ScaleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = "ICS685k-600"
    serial: str = "B912345678"
    capacity_kg: float = Field(600.0, gt=0)
    resolution_kg: float = Field(0.01, gt=0)
    stability_timeout_s: float = Field(10.0, gt=0, description="simulated seconds `S` waits for stability")
    air_density_kg_m3: float = Field(1.2, ge=0)
    weights_density_kg_m3: float = Field(8000.0, gt=0, description="of the weights the balance was adjusted with")
    load_density_signal: str | None = Field("water.density_kg_m3", description="density of the load, for buoyancy")
    span_error_rel: float = Field(0.0, ge=-0.01, le=0.01, description="the balance's error of indication, relative "
                                  "to the load (what its calibration measures)")
    repeatability_kg: float = Field(0.0, ge=0, description="standard deviation of each reading's scatter")


class SimMettlerToledoSics(LineDevice):
    Params = ScaleParams
    terminators = (b"\r\n",)
    reply_terminator = b"\r\n"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        load = self.signal("load") or "tank"
        self._mass_signal, self._steady_signal = f"{load}.mass_kg", f"{load}.steady"
        self.zero_kg = 0.0  # gross load that reads zero
        self.tare_kg = 0.0
        self._decimals = max(0, -math.floor(math.log10(self.params.resolution_kg) + 1e-9))
        self._rng = self.world.rng()  # the scatter of the readings, seeded by the scenario
        self._commands = {
            "S": self._stable, "SI": self._immediate, "Z": self._zero, "T": self._tare, "TA?": self._tare_value,
            "TA": self._tare_preset, "TAC": self._clear_tare, "@": self._reset, "I2": self._model, "I4": self._serial,
        }

    def handle(self, text: str) -> str | None:
        command, _, argument = text.partition(" ")
        action = self._commands.get(command)
        if action is None:
            return "ES"
        return action(argument.strip())

    def error_reply(self, text: str, message: str | None) -> str | None:
        return message or "EL"

    # -- weighing -------------------------------------------------------------------------------------------
    def _load_kg(self) -> tuple[float, bool]:
        """The balance's gross indication for the load's true mass, and whether it is steady."""
        with self.world.now() as world:
            mass_kg = world.signals[self._mass_signal].read()
            steady = bool(world.signals[self._steady_signal].read())
            density = self.params.load_density_signal
            if density and density in world.signals:
                rho_air = self.params.air_density_kg_m3
                mass_kg *= (1 - rho_air / world.signals[density].read()) / (1 - rho_air / self.params.weights_density_kg_m3)
            mass_kg *= 1 + self.params.span_error_rel
            if self.params.repeatability_kg and mass_kg > self.params.resolution_kg:
                # an empty tank reads zero: the balance's zero tracking holds it there
                mass_kg += float(self._rng.normal(0.0, self.params.repeatability_kg))
            return mass_kg, steady

    def _wait_steady(self) -> tuple[float, bool]:
        timeout_s = self.params.stability_timeout_s
        self.world.wait_until(lambda: bool(self.world.signals[self._steady_signal].read()),
                              timeout_real_s=self.world.clock.real_seconds(timeout_s), timeout_sim_s=timeout_s)
        return self._load_kg()

    def _format(self, kg: float) -> str:
        return f"{kg:>10.{self._decimals}f} kg"

    def _net(self, gross_kg: float) -> float:
        steps = round((gross_kg - self.zero_kg - self.tare_kg) / self.params.resolution_kg)
        return steps * self.params.resolution_kg + 0.0  # + 0.0: never print -0.00

    def _range_status(self, gross_kg: float) -> str | None:
        if gross_kg - self.zero_kg > self.params.capacity_kg:
            return "+"
        if gross_kg - self.zero_kg < -self.params.resolution_kg * 20:
            return "-"
        return None

    def _stable(self, argument: str) -> str:
        gross, steady = self._wait_steady()
        if not steady:
            return "S I"
        over = self._range_status(gross)
        return f"S {over}" if over else f"S S {self._format(self._net(gross))}"

    def _immediate(self, argument: str) -> str:
        gross, steady = self._load_kg()
        over = self._range_status(gross)
        return f"S {over}" if over else f"S {'S' if steady else 'D'} {self._format(self._net(gross))}"

    def _zero(self, argument: str) -> str:
        gross, steady = self._wait_steady()
        if not steady:
            return "Z I"
        self.zero_kg, self.tare_kg = gross, 0.0
        return "Z A"

    def _tare(self, argument: str) -> str:
        gross, steady = self._wait_steady()
        if not steady:
            return "T I"
        self.tare_kg = max(round((gross - self.zero_kg) / self.params.resolution_kg) * self.params.resolution_kg, 0)
        return f"T S {self._format(self.tare_kg)}"

    def _tare_value(self, argument: str) -> str:
        return f"TA A {self._format(self.tare_kg)}"

    def _tare_preset(self, argument: str) -> str:
        if not argument:
            return self._tare_value(argument)
        value, _, unit = argument.partition(" ")
        try:
            tare_kg = float(value) * KG_PER_UNIT[unit.strip()]
        except (ValueError, KeyError):
            return "TA L"
        if not 0 <= tare_kg <= self.params.capacity_kg:
            return "TA L"  # refused; the tare stays as it was
        self.tare_kg = tare_kg
        return f"TA A {self._format(self.tare_kg)}"

    def _clear_tare(self, argument: str) -> str:
        self.tare_kg = 0.0
        return "TAC A"

    def _reset(self, argument: str) -> str:
        self.tare_kg = 0.0
        return self._serial(argument)

    def _model(self, argument: str) -> str:
        return f'I2 A "{self.params.model} {self.params.capacity_kg:g} kg"'

    def _serial(self, argument: str) -> str:
        return f'I4 A "{self.params.serial}"'
