"""Simulated digital I/O: outputs drive the rig signals wired to them (`DO0: diverter`), inputs read them.

DAQ970A with a DAQM907A in a slot (SCPI, two 8-bit ports s01/s02) and ADAM-6050 (Modbus TCP: DI as
discrete inputs and coils 0..11, DO as coils 16..21)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from meterlab.instruments.digital_io import ADAM_DI_BASE, ADAM_DO_BASE
from meterlab.sim.devices.base import ModbusDevice, SimDevice
from meterlab.sim.servers.scpi import ILLEGAL_PARAMETER, ScpiCall, ScpiDevice, ScpiError, number, parse_channels


class _Terminals(SimDevice):
    """Wired outputs write rig signals; wired inputs read them."""

    def _wired(self, kind: str) -> dict[int, str]:
        return {int(m.group(1)): signal for terminal, signal in self.wiring.items()
                if (m := re.fullmatch(rf"{kind}(\d+)", terminal))}

    def _drive(self, outputs: list[bool]) -> None:
        with self.world.now():
            for bit, signal in self._wired("DO").items():
                if bit < len(outputs) and bool(self.world.signals[signal].read()) != outputs[bit]:
                    self.world.write(signal, outputs[bit])

    def _sense(self, count: int) -> list[bool]:
        with self.world.now():
            wired = self._wired("DI")
            return [bool(self.world.signals[wired[bit]].read()) if bit in wired else False for bit in range(count)]


class DaqParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: str = "Keysight Technologies,DAQ970A,MY58000002,A.03.02-01.00-03.02-00.02-01-02"


class SimDaq970aDigitalIO(_Terminals, ScpiDevice):
    Params = DaqParams

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.identity = self.params.identity
        options = self.entry.options
        self.slot = int(options.get("slot", 1))
        self.output_port, self.input_port = int(options.get("output_port", 1)), int(options.get("input_port", 2))
        self.output_byte = 0
        self.scpi.add("SOURce:DIGital:DATA[:BYTE]", self._write_byte)
        self.scpi.add("SOURce:DIGital:DATA[:BYTE]?", self._read_output_byte)
        self.scpi.add("SENSe:DIGital:DATA[:BYTE]?", self._read_byte)

    def reset(self) -> None:
        self.output_byte = 0
        self._drive([False] * 8)

    def _port(self, call: ScpiCall, index: int) -> int:
        if len(call.args) <= index:
            raise ScpiError(*ILLEGAL_PARAMETER)
        channels = parse_channels(call.args[index])
        if len(channels) != 1 or channels[0] // 100 != self.slot or channels[0] % 100 not in (1, 2):
            raise ScpiError(*ILLEGAL_PARAMETER)
        return channels[0] % 100

    def _check_output_port(self, call: ScpiCall, index: int) -> None:
        if self._port(call, index) != self.output_port:
            raise ScpiError(*ILLEGAL_PARAMETER)

    def _read_output_byte(self, call: ScpiCall) -> str:
        self._check_output_port(call, 0)
        return str(self.output_byte)

    def _write_byte(self, call: ScpiCall) -> None:
        value = number(call, 0, minimum=0, maximum=255)
        if value != int(value):
            raise ScpiError(*ILLEGAL_PARAMETER)
        self._check_output_port(call, 1)
        self.output_byte = int(value)
        self._drive([bool(self.output_byte >> bit & 1) for bit in range(8)])

    def _read_byte(self, call: ScpiCall) -> str:
        if self._port(call, 0) == self.output_port:
            return str(self.output_byte)
        return str(sum(1 << bit for bit, on in enumerate(self._sense(8)) if on))


class SimAdam6050(_Terminals, ModbusDevice):
    DO_COUNT, DI_COUNT = 6, 12

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.outputs = [False] * self.DO_COUNT

    def read(self, table: str, address: int, count: int) -> list[bool] | int:
        if table not in ("coils", "discrete_inputs"):
            return self.ILLEGAL_FUNCTION
        inputs = self._sense(self.DI_COUNT)
        bits = {ADAM_DI_BASE + i: value for i, value in enumerate(inputs)}
        if table == "coils":
            bits.update({ADAM_DO_BASE + i: value for i, value in enumerate(self.outputs)})
        addresses = range(address, address + count)
        if any(a not in bits for a in addresses):
            return self.ILLEGAL_ADDRESS
        return [bits[a] for a in addresses]

    def write(self, table: str, address: int, values: list[bool]) -> int | None:
        if table != "coils":
            return self.ILLEGAL_FUNCTION
        offsets = range(address - ADAM_DO_BASE, address - ADAM_DO_BASE + len(values))
        if any(not 0 <= i < self.DO_COUNT for i in offsets):
            return self.ILLEGAL_ADDRESS
        for i, value in zip(offsets, values):
            self.outputs[i] = bool(value)
        self._drive(self.outputs)
        return None
