"""Simulated SINAMICS V20 pump inverter on Modbus TCP, driving the pump wired to it (`motor: pump`).

Holding registers: STW1 (address 99), HSW (100) read/write; ZSW (109), HIW (110) read-only. A setpoint
above 0x4000 (100 %) is refused with ILLEGAL DATA VALUE and the setpoint stays as it was; any other
address is ILLEGAL DATA ADDRESS; coils and inputs are ILLEGAL FUNCTION."""

from __future__ import annotations

from meterlab.instruments.pump import FAULT, FULL_SCALE, HIW, HSW, RUNNING, STW1, ZSW
from meterlab.sim.devices.base import ModbusDevice

ON, NO_OFF2, NO_OFF3, ACKNOWLEDGE = 1 << 0, 1 << 1, 1 << 2, 1 << 7
READY_TO_SWITCH_ON, READY = 1 << 0, 1 << 1


class SimSinamicsV20(ModbusDevice):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.motor = self.signal("motor") or "pump"
        self.stw1 = 0x047E
        self.hsw = 0

    def read(self, table: str, address: int, count: int) -> list[int] | int:
        if table != "holding":
            return self.ILLEGAL_FUNCTION
        with self.world.now():
            registers = {STW1: self.stw1, HSW: self.hsw, ZSW: self._status_word(), HIW: self._actual_speed()}
        if any(a not in registers for a in range(address, address + count)):
            return self.ILLEGAL_ADDRESS
        return [registers[a] for a in range(address, address + count)]

    def write(self, table: str, address: int, values: list[int]) -> int | None:
        if table != "holding":
            return self.ILLEGAL_FUNCTION
        addresses = range(address, address + len(values))
        if any(a not in (STW1, HSW) for a in addresses):
            return self.ILLEGAL_ADDRESS
        new = dict(zip(addresses, values))
        if HSW in new and not 0 <= new[HSW] <= FULL_SCALE:
            return self.ILLEGAL_VALUE  # checked before anything changes
        with self.world.now():
            if HSW in new:
                self.hsw = new[HSW]
                self.world.write(f"{self.motor}.speed_setpoint", self.hsw / FULL_SCALE)
            if STW1 in new:
                self._control(new[STW1])
        return None

    def _control(self, word: int) -> None:
        if word & ACKNOWLEDGE and not self.stw1 & ACKNOWLEDGE:
            self.world.write(f"{self.motor}.acknowledge", True)  # acts on the rising edge
        self.stw1 = word
        self.world.write(f"{self.motor}.run", (word & (ON | NO_OFF2 | NO_OFF3)) == (ON | NO_OFF2 | NO_OFF3))

    def _status_word(self) -> int:
        if self.world.signals[f"{self.motor}.tripped"].read():
            return FAULT
        running = RUNNING if self.world.signals[f"{self.motor}.run"].read() else 0
        return READY_TO_SWITCH_ON | READY | running

    def _actual_speed(self) -> int:
        return round(self.world.signals[f"{self.motor}.speed"].read() * FULL_SCALE)
