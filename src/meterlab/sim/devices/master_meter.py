"""Simulated Modbus master meters (Promass 83 table, gas flow computer table) serving the rig's master meter.

The registers of the model's `RegisterMap` hold the signals `<sensor>.<quantity>` of the physics component
wired as `sensor` (`sensor: master_meter`), converted to the register's unit; FC03 and FC04 read the same
registers (as on a Promass). A read touching an address outside the table is ILLEGAL DATA ADDRESS; the
totalizer reset register takes its one value (anything else is ILLEGAL DATA VALUE and nothing changes); the
measurement registers are read-only (ILLEGAL DATA ADDRESS); coils and discrete inputs are ILLEGAL FUNCTION."""

from __future__ import annotations

from typing import ClassVar

from meterlab.instruments.master_meter import GAS_FLOW_COMPUTER, PROMASS_83, RegisterMap
from meterlab.instruments.transport import float32_to_registers
from meterlab.sim.devices.base import ModbusDevice


class SimModbusMasterMeter(ModbusDevice):
    register_map: ClassVar[RegisterMap]
    default_sensor: ClassVar[str]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sensor = self.signal("sensor") or self.default_sensor

    def _words(self) -> dict[int, int]:
        words: dict[int, int] = {}
        with self.world.now() as world:
            for quantity, register in self.register_map.registers.items():
                value = world.signals[f"{self.sensor}.{quantity}"].read()
                if register.data_type == "uint16":
                    words[register.address] = int(value) & 0xFFFF
                else:
                    pair = float32_to_registers(value / register.to_driver_unit, self.register_map.word_order)
                    words.update(zip((register.address, register.address + 1), pair))
        if self.register_map.totalizer_reset is not None:
            words[self.register_map.totalizer_reset[0]] = 0
        return words

    def read(self, table: str, address: int, count: int) -> list[int] | int:
        if table not in ("holding", "input"):
            return self.ILLEGAL_FUNCTION
        words = self._words()
        addresses = range(address, address + count)
        if any(a not in words for a in addresses):
            return self.ILLEGAL_ADDRESS
        return [words[a] for a in addresses]

    def write(self, table: str, address: int, values: list[int]) -> int | None:
        if table != "holding":
            return self.ILLEGAL_FUNCTION
        reset = self.register_map.totalizer_reset
        if reset is None or address != reset[0] or len(values) != 1:
            return self.ILLEGAL_ADDRESS
        if values[0] != reset[1]:
            return self.ILLEGAL_VALUE
        self.world.write(f"{self.sensor}.reset", True)
        return None


class SimPromassMasterMeter(SimModbusMasterMeter):
    register_map = PROMASS_83
    default_sensor = "master_meter"


class SimGasMasterMeter(SimModbusMasterMeter):
    register_map = GAS_FLOW_COMPUTER
    default_sensor = "gas_master_meter"
