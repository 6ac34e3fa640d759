"""Pressure, temperature and humidity transmitters (barometers, hygrometers) that give their reading as a Modbus
float register.

One driver for every such transmitter: the bench's `options:` state where the value is (address, input or
holding table, word order), what it measures and in which unit, and optionally a status register (0 = ok).
Examples [U]: a Vaisala PTB330 barometer, a Keller 33X pressure transmitter, a Pt100 head transmitter with a
Modbus output, a Vaisala HMT330 humidity transmitter (relative humidity in %RH), a leak tester's flow output
(quantity flow: the leak past a closed shut-off valve): take each device's register table from its manual and write it in the bench file.

Wiring: input = the rig signal the transmitter measures (`input: gas.pressure_pa`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from meterlab.instruments.base import ModbusInstrument
from meterlab.instruments.errors import InstrumentValueError
from meterlab.instruments.transport import RegisterTable, WordOrder, registers_to_float32

PA_PER_UNIT = {"Pa": 1.0, "hPa": 100.0, "kPa": 1e3, "MPa": 1e6, "mbar": 100.0, "bar": 1e5}
CELSIUS_OFFSET = {"degC": 0.0, "K": -273.15}  # °C = value + offset
PERCENT_RH = {"%RH": 1.0}
L_H_PER_UNIT = {"L/h": 1.0, "mL/min": 0.06, "m3/h": 1000.0}  # small flows: a leak tester's (valve tightness)
UNITS = {"pressure": PA_PER_UNIT, "temperature": CELSIUS_OFFSET, "humidity": PERCENT_RH, "flow": L_H_PER_UNIT}
DEFAULT_UNIT = {"pressure": "Pa", "temperature": "degC", "humidity": "%RH", "flow": "L/h"}


class TransmitterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantity: Literal["pressure", "temperature", "humidity", "flow"]
    unit: str | None = Field(None, description="of the register: Pa, hPa, kPa, MPa, mbar, bar / degC, K / %RH / "
                             "L/h, mL/min, m3/h")
    address: int = Field(0, ge=0, le=65534, description="protocol address of the float's first register")
    table: Literal["input", "holding"] = "input"
    word_order: Literal["big", "word_swapped"] = "big"
    status_address: int | None = Field(None, ge=0, le=65535, description="uint16 status register, 0 = ok")

    @model_validator(mode="after")
    def _unit_of_quantity(self) -> TransmitterOptions:
        units = UNITS[self.quantity]
        if self.unit is None:
            self.unit = DEFAULT_UNIT[self.quantity]
        if self.unit not in units:
            raise ValueError(f"a {self.quantity} unit is one of {', '.join(units)}")
        return self


class ModbusTransmitter(ModbusInstrument):
    Options = TransmitterOptions
    terminals = r"input"
    default_timeout_s = 2.0
    options: TransmitterOptions

    @property
    def value(self) -> float:
        """The reading in the register's unit (options.unit)."""
        options = self.options
        table = RegisterTable.INPUT if options.table == "input" else RegisterTable.HOLDING
        order = WordOrder.BIG if options.word_order == "big" else WordOrder.SWAPPED
        return registers_to_float32(self.transport.read_registers(table, options.address, 2), order)

    @property
    def pressure_pa(self) -> float:
        self._needs("pressure")
        return self.value * PA_PER_UNIT[self.options.unit]  # type: ignore[index]

    @property
    def temperature_c(self) -> float:
        self._needs("temperature")
        return self.value + CELSIUS_OFFSET[self.options.unit]  # type: ignore[index]

    @property
    def humidity_pct(self) -> float:
        """Relative humidity in %RH."""
        self._needs("humidity")
        return self.value

    @property
    def flow_l_h(self) -> float:
        """A flow (a leak tester's reading) in L/h."""
        self._needs("flow")
        return self.value * L_H_PER_UNIT[self.options.unit]  # type: ignore[index]

    def _needs(self, quantity: str) -> None:
        if self.options.quantity != quantity:
            raise InstrumentValueError(self.name, f"{quantity} reading", None,
                                       f"this transmitter measures {self.options.quantity}")

    @property
    def status(self) -> int | None:
        """The status register (0 = ok), or None if the transmitter has none."""
        if self.options.status_address is None:
            return None
        table = RegisterTable.INPUT if self.options.table == "input" else RegisterTable.HOLDING
        return self.transport.read_registers(table, self.options.status_address, 1)[0]

    def identify(self) -> str:
        # A plain transmitter has no identity register: report that it answers and what it reads.
        return (f"Modbus {self.options.quantity} transmitter at {self.transport.endpoint} unit "
                f"{self.transport.unit}: {self.value:.6g} {self.options.unit}")

    def safe_state(self) -> None:
        """A transmitter drives nothing: there is nothing to make safe."""
