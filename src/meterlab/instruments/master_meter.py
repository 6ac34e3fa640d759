"""Reference master meters over Modbus: one driver, one register table per model.

E+H Promass 83/84 (and Promass 500 in Promass 83 compatibility), reference sheet 3.4 [V]: FC03 and FC04
behave the same; floats are IEEE 754 with the MSB first (word order big); register numbers 2007 mass flow,
2017 temperature, 2610 totalizer 1, 6859 system condition (1 = ok), i.e. protocol addresses one lower.
[U] volume flow (2009) and density (2013), the totalizer reset register and its value, and the units: the
registers hold values in the units configured on the device; the table assumes kg/h, m³/h, kg/m³, °C and m³.
Check them in the "Description of device parameters" of the exact model before the first run.

The gas master meter speaks the same protocol with its own table (`GAS_FLOW_COMPUTER`, a fictitious layout
[U]: a rotary or turbine master meter read through a flow computer with p and T). A lab adds a model by
writing a `RegisterMap` and a two-line subclass (plus its registry entry), not a driver.

Wiring: sensor = the rig's master meter (`sensor: master_meter`), whose signals the simulated lab serves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from meterlab.instruments.base import ModbusInstrument
from meterlab.instruments.errors import InstrumentValueError
from meterlab.instruments.transport import RegisterTable, WordOrder, registers_to_float32

QUANTITIES = ("mass_flow_kg_h", "volume_flow_m3h", "density_kg_m3", "temperature_c", "pressure_pa", "totalizer_m3",
              "system_condition")
SYSTEM_OK = 1


@dataclass(frozen=True)
class Register:
    """One quantity: its protocol address, its type and the factor from the register's unit to the driver's."""

    address: int
    data_type: Literal["float32", "uint16"] = "float32"
    to_driver_unit: float = 1.0  # value in the driver's unit (the quantity's name) = register value x this

    @property
    def count(self) -> int:
        return 2 if self.data_type == "float32" else 1


@dataclass(frozen=True)
class RegisterMap:
    model: str
    word_order: WordOrder
    table: RegisterTable
    registers: dict[str, Register] = field(default_factory=dict)  # quantity -> register
    totalizer_reset: tuple[int, int] | None = None  # (address, value written) resets the totalizer


PROMASS_83 = RegisterMap(
    "E+H Promass 83/84", WordOrder.BIG, RegisterTable.HOLDING,
    {
        "mass_flow_kg_h": Register(2006),  # 2007 [V]
        "volume_flow_m3h": Register(2008),  # 2009 [U]
        "density_kg_m3": Register(2012),  # 2013 [U]
        "temperature_c": Register(2016),  # 2017 [V]
        "totalizer_m3": Register(2609),  # 2610, totalizer 1 [V]
        "system_condition": Register(6858, "uint16"),  # 6859, 1 = ok [V]
    },
    totalizer_reset=(2607, 1),  # [U]
)

GAS_FLOW_COMPUTER = RegisterMap(
    "gas master meter flow computer (fictitious layout [U])", WordOrder.BIG, RegisterTable.HOLDING,
    {
        "volume_flow_m3h": Register(0),  # actual flowrate, m³/h
        "temperature_c": Register(2),
        "pressure_pa": Register(4, to_driver_unit=1e3),  # absolute, kPa
        "totalizer_m3": Register(6),  # actual volume, m³
        "system_condition": Register(8, "uint16"),  # 1 = ok
    },
    totalizer_reset=(9, 1),
)


class ModbusMasterMeter(ModbusInstrument):
    """A master meter read over Modbus through its model's `register_map`."""

    register_map: ClassVar[RegisterMap]
    terminals = r"sensor"
    default_timeout_s = 2.0

    def read_quantity(self, quantity: str) -> float:
        """`quantity` (one of QUANTITIES) in the driver's unit, from one register read."""
        register = self._register(quantity)
        words = self.transport.read_registers(self.register_map.table, register.address, register.count)
        if register.data_type == "uint16":
            return words[0]
        return registers_to_float32(words, self.register_map.word_order) * register.to_driver_unit

    def _register(self, quantity: str) -> Register:
        try:
            return self.register_map.registers[quantity]
        except KeyError:
            raise InstrumentValueError(self.name, quantity, None,
                                       f"the {self.register_map.model} register map has no {quantity}") from None

    @property
    def mass_flow_kg_h(self) -> float:
        return self.read_quantity("mass_flow_kg_h")

    @property
    def volume_flow_m3h(self) -> float:
        return self.read_quantity("volume_flow_m3h")

    @property
    def density_kg_m3(self) -> float:
        return self.read_quantity("density_kg_m3")

    @property
    def temperature_c(self) -> float:
        return self.read_quantity("temperature_c")

    @property
    def pressure_pa(self) -> float:
        return self.read_quantity("pressure_pa")

    @property
    def totalizer_m3(self) -> float:
        return self.read_quantity("totalizer_m3")

    @property
    def system_condition(self) -> int:
        return int(self.read_quantity("system_condition"))

    @property
    def system_ok(self) -> bool:
        return self.system_condition == SYSTEM_OK

    def reset_totalizer(self) -> None:
        """Totalizer to zero (the Modbus write is answered once the meter has taken it)."""
        if self.register_map.totalizer_reset is None:
            raise InstrumentValueError(self.name, "reset_totalizer", None,
                                       f"the {self.register_map.model} register map has no totalizer reset")
        address, value = self.register_map.totalizer_reset
        self.transport.write_register(address, value)

    def identify(self) -> str:
        condition = self.system_condition
        state = "ok" if condition == SYSTEM_OK else "NOT OK"
        return (f"{self.register_map.model} at {self.transport.endpoint} unit {self.transport.unit}: "
                f"system condition {condition} ({state})")

    def safe_state(self) -> None:
        """A master meter drives nothing: there is nothing to make safe (its totalizer is left as it is)."""


class PromassMasterMeter(ModbusMasterMeter):
    register_map = PROMASS_83


class GasMasterMeter(ModbusMasterMeter):
    register_map = GAS_FLOW_COMPUTER
