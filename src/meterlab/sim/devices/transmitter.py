"""Simulated Modbus transmitter: the signal wired to `input` as a float register, laid out as the bench's
options say (address, table, word order, unit; the driver's `TransmitterOptions`).

The signal's unit comes from its name: `*_pa` (absolute pressure, Pa) for a pressure transmitter, `*_c` (°C)
for a temperature transmitter, `*_pct` (%RH) for a humidity transmitter; a differential pressure (`meter1.pressure_loss_pa`) reads as it is. Reads outside the value (and status) registers or in the other table are
ILLEGAL DATA ADDRESS; every write is refused (ILLEGAL DATA ADDRESS: nothing is writable); coils and discrete
inputs are ILLEGAL FUNCTION."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from meterlab.instruments.transmitter import CELSIUS_OFFSET, L_H_PER_UNIT, PA_PER_UNIT, TransmitterOptions
from meterlab.instruments.transport import WordOrder, float32_to_registers
from meterlab.sim.devices.base import ModbusDevice

SIGNAL_SUFFIX = {"pressure": "_pa", "temperature": "_c", "humidity": "_pct", "flow": "_l_h"}


class TransmitterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    offset: float = Field(0.0, description="the transmitter's error in Pa, °C, %RH or L/h: reading - true value")
    noise: float = Field(0.0, ge=0, description="1-sigma reading noise, in Pa, °C, %RH or L/h")
    status: int = Field(0, ge=0, le=0xFFFF, description="what the status register shows")


class SimModbusTransmitter(ModbusDevice):
    Params = TransmitterParams

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.options = TransmitterOptions.model_validate(self.entry.options)
        self.input = self.signal("input")
        suffix = SIGNAL_SUFFIX[self.options.quantity]
        if self.input is None or not self.input.endswith(suffix):
            raise ValueError(f"{self.name}: wire `input` to a {self.options.quantity} signal ending in {suffix}")
        self.word_order = WordOrder.BIG if self.options.word_order == "big" else WordOrder.SWAPPED
        self._rng = self.world.rng() if self.params.noise else None

    def _reading(self) -> float:
        with self.world.now() as world:
            # a signal the world lacks (no meter mounted at that position: a spool piece) reads 0, as a
            # counter's unconnected input does
            signal = world.signals.get(self.input)
            true_value = float(signal.read()) if signal is not None else 0.0
        value = true_value + self.params.offset
        if self._rng is not None:
            value += float(self._rng.normal(0.0, self.params.noise))
        if self.options.quantity == "pressure":
            return value / PA_PER_UNIT[self.options.unit]  # type: ignore[index]
        if self.options.quantity == "humidity":
            return value
        if self.options.quantity == "flow":
            return value / L_H_PER_UNIT[self.options.unit]  # type: ignore[index]
        return value - CELSIUS_OFFSET[self.options.unit]  # type: ignore[index]

    def read(self, table: str, address: int, count: int) -> list[int] | int:
        if table not in ("holding", "input"):
            return self.ILLEGAL_FUNCTION
        if table != self.options.table:
            return self.ILLEGAL_ADDRESS
        base = self.options.address
        words = dict(zip((base, base + 1), float32_to_registers(self._reading(), self.word_order)))
        if self.options.status_address is not None:
            words[self.options.status_address] = self.params.status
        addresses = range(address, address + count)
        if any(a not in words for a in addresses):
            return self.ILLEGAL_ADDRESS
        return [words[a] for a in addresses]

    def write(self, table: str, address: int, values: list[int] | list[bool]) -> int | None:
        return self.ILLEGAL_FUNCTION if table != "holding" else self.ILLEGAL_ADDRESS
