"""Digital I/O that switches the diverter and the start/stop and drain valves, and reads position switches.

The bench's `wiring:` names what each terminal does: `DO0: diverter`, `DO1: start_valve`, `DI0: ...`.
Outputs are active high and each signal is named for its energized state (diverter 1 = to the tank,
valve 1 = open), so the safe state - diverter to bypass, valves closed - is every wired output off.

Two families: Keysight DAQ970A/34970A with a DAQM907A/34907A module (SCPI, 8-bit ports), Advantech
ADAM-6050 over Modbus TCP (DO are coils from 16, DI from 0)."""

from __future__ import annotations

import re
from abc import abstractmethod

from pydantic import BaseModel, ConfigDict, Field

from meterlab.instruments.base import Instrument, ModbusInstrument, ScpiInstrument
from meterlab.instruments.errors import InstrumentFailure, InstrumentValueError
from meterlab.instruments.validators import strict_integer_range


class ValveIO(Instrument):
    """What the rig needs from any digital I/O: switch outputs by signal name, read inputs."""

    terminals = r"D[OI]\d{1,2}"
    output_count: int
    input_count: int

    def _terminal_bit(self, signal: str, kind: str) -> int:
        for terminal, wired in self.wiring.items():
            match = re.fullmatch(rf"{kind}(\d+)", terminal)
            if wired == signal and match:
                return int(match.group(1))
        raise KeyError(f"{self.name}: no {kind} terminal is wired to {signal!r} (wiring: {self.wiring})")

    @property
    def wired_outputs(self) -> list[int]:
        return sorted(int(t[2:]) for t in self.wiring if t.startswith("DO"))

    def set_signal(self, signal: str, on: bool) -> None:
        """Switch the output wired to `signal` (e.g. 'diverter', 'start_valve')."""
        self.set_output(self._terminal_bit(signal, "DO"), on)

    def signal_state(self, signal: str) -> bool:
        """The state of an input wired to `signal`, or else of the output wired to it."""
        try:
            return self.read_inputs()[self._terminal_bit(signal, "DI")]
        except KeyError:
            return self.read_outputs()[self._terminal_bit(signal, "DO")]

    def diverter_to_tank(self) -> None:
        self.set_signal("diverter", True)

    def diverter_to_bypass(self) -> None:
        self.set_signal("diverter", False)

    def open_start_valve(self) -> None:
        self.set_signal("start_valve", True)

    def close_start_valve(self) -> None:
        self.set_signal("start_valve", False)

    def _check_bit(self, bit: int, count: int) -> None:
        if not 0 <= bit < count:
            raise InstrumentValueError(self.name, "output", bit, f"outputs are 0 .. {count - 1}")

    @abstractmethod
    def set_output(self, bit: int, on: bool) -> None: ...

    @abstractmethod
    def read_outputs(self) -> list[bool]: ...

    @abstractmethod
    def read_inputs(self) -> list[bool]: ...


# --------------------------------------------------------------------------------------------------------


class DaqDioOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slot: int = Field(1, ge=1, le=3, description="slot of the DAQM907A/34907A module")
    output_port: int = Field(1, ge=1, le=2, description="8-bit port driving the outputs (channel s01 or s02)")
    input_port: int = Field(2, ge=1, le=2, description="8-bit port reading the inputs")


def _bits(value: int, count: int = 8) -> list[bool]:
    return [bool(value >> bit & 1) for bit in range(count)]


class Daq970aDigitalIO(ValveIO, ScpiInstrument):
    Options = DaqDioOptions
    output_count = input_count = 8

    def _channel(self, port: int) -> str:
        return f"(@{self.options.slot}{port:02d})"  # type: ignore[attr-defined]

    @property
    def output_channel(self) -> str:
        return self._channel(self.options.output_port)  # type: ignore[attr-defined]

    def write_output_byte(self, value: int) -> None:
        try:
            strict_integer_range(value, (0, 255))
        except ValueError as exc:
            raise InstrumentValueError(self.name, "output_byte", value, str(exc)) from None
        self.write(f"SOUR:DIG:DATA:BYTE {value},{self.output_channel}")
        self.ask("*OPC?")  # return only once the outputs have switched (the write has no reply)

    def read_output_byte(self) -> int:
        return self._byte(f"SOUR:DIG:DATA:BYTE? {self.output_channel}")

    def read_input_byte(self) -> int:
        return self._byte(f"SENS:DIG:DATA:BYTE? {self._channel(self.options.input_port)}")  # type: ignore[attr-defined]

    def _byte(self, command: str) -> int:
        reply = self.ask(command)
        try:
            value = int(float(reply))
        except ValueError:
            raise self.reply_error(command, f"not a byte: {reply!r}") from None
        if not 0 <= value <= 255:
            raise self.reply_error(command, f"not a byte: {reply!r}")
        return value

    def set_output(self, bit: int, on: bool) -> None:
        self._check_bit(bit, self.output_count)
        current = self.read_output_byte()
        self.write_output_byte(current | 1 << bit if on else current & ~(1 << bit))

    def read_outputs(self) -> list[bool]:
        return _bits(self.read_output_byte())

    def read_inputs(self) -> list[bool]:
        return _bits(self.read_input_byte())

    def safe_state(self) -> None:
        """Every wired output off (diverter to bypass, valves closed); all off if the port cannot be read."""
        mask = sum(1 << bit for bit in self.wired_outputs)
        try:
            current = self.read_output_byte()
        except InstrumentFailure:
            current = 0
        self.write_output_byte(current & ~mask)


# --------------------------------------------------------------------------------------------------------

ADAM_DO_BASE = 16  # DO0 is coil 00017 (protocol address 16)
ADAM_DI_BASE = 0


class Adam6050(ValveIO, ModbusInstrument):
    output_count, input_count = 6, 12
    default_timeout_s = 2.0

    def identify(self) -> str:
        # The module has no identity query over Modbus; report that it answers and what it shows.
        inputs = "".join(str(int(b)) for b in self.read_inputs())
        outputs = "".join(str(int(b)) for b in self.read_outputs())
        return f"Advantech ADAM-6050 at {self.transport.endpoint} unit {self.transport.unit}: DI {inputs}, DO {outputs}"

    def set_output(self, bit: int, on: bool) -> None:
        self._check_bit(bit, self.output_count)
        self.transport.write_coil(ADAM_DO_BASE + bit, on)

    def read_outputs(self) -> list[bool]:
        return self.transport.read_coils(ADAM_DO_BASE, self.output_count)

    def read_inputs(self) -> list[bool]:
        return self.transport.read_discrete_inputs(ADAM_DI_BASE, self.input_count)

    def safe_state(self) -> None:
        """Every wired output off (diverter to bypass, valves closed)."""
        for bit in self.wired_outputs:
            self.transport.write_coil(ADAM_DO_BASE + bit, False)
