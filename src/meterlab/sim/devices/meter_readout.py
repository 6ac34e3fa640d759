"""Simulated meter readouts: an M-Bus gateway with the meters of the line behind it, and a Modbus meter.

`SimMBusGateway` (bench wiring `addr<N>: meter<k>`): a transparent M-Bus gateway on TCP with one simulated
meter per primary address. Each meter answers SND_NKE with E5 and REQ_UD2 with a RSP_UD (CI 0x72) built
from its register (`meter<k>.register_l`, the display): fabrication number, the volume at the due date
(storage 1, the initial register), the present volume (DIF 0x0C BCD or 0x04 int32, VIF from the
register's resolution unless the scenario sets it), an error-flags record (VIF FD 17: the flags the meter raised,
physics/meter_status.py, at the bits of tables/mbus-records.yaml; power_low also in the status byte) and manufacturer
data (DIF 0x0F). It keeps the FCB: a REQ_UD2 whose FCB has not toggled gets the previous telegram again
(same access number), as EN 13757-2 has it. An address with no meter, a frame with a bad checksum and an
unknown C field get no answer (a real bus stays silent). While a meter is disturbed with the susceptibility
`corrupt_telegrams`, each RSP_UD is corrupted (one byte changed) with probability `corrupt_fraction`.
The `error` fault: RSP_UD with CI 0x70 and the error code (the fault's message, default 0). With
`register_update_s` a meter copies its display to the bus register only that often (battery meters), so a
read right after the flow stops may still show an older volume.

`SimModbusMeter` (wiring `meter: meter<k>`): serves the register and serial number of one meter with the
register table of `options.model` (see `MODBUS_METER_MODELS`), with the raised status flags in the map's status
register where it has one."""

from __future__ import annotations

import logging
import math
import re
import struct
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from meterlab.instruments import mbus
from meterlab.instruments.meter_readout import (
    ADDRESS_TERMINAL,
    ERROR_FLAGS_VIFE,
    MBUS_RECORD_LIMITS,
    MODBUS_METER_MODELS,
    ModbusMeterOptions,
    ascii_to_registers,
    uint32_to_registers,
)
from meterlab.instruments.transport import RegisterTable, WordOrder
from meterlab.sim.devices.base import MAX_FRAME_BYTES, LineDevice, ModbusDevice
from meterlab.sim.devices.interface_weaknesses import MASK_WRITE, InterfaceHealth, Weaknesses
from meterlab.sim.physics.meters import MeterLine, SimulatedMeter
from meterlab.sim.physics.safety import SafetyUnit, find_safety_unit
from meterlab.sim.devices import transmission
from meterlab.sim.scenario import READOUT_FAULTS
from meterlab.sim.world import World

log = logging.getLogger(__name__)
MANUFACTURER_DATA = b"meterlab-sim"
MEDIUM_GAS, MEDIUM_WATER = 0x03, 0x07  # EN 13757-3 medium codes (instruments/mbus.py MEDIA)


def find_meter(world: World, name: str) -> SimulatedMeter | None:
    """The simulated meter a wiring names (`meter2`, `gas_meter1`), or None if the scenario has none there."""
    match = re.fullmatch(r"([a-z_]*?)(\d+)(\..*)?", name)
    if not match:
        return None
    prefix, position = match.group(1), int(match.group(2))
    for component in world.components.values():
        if isinstance(component, MeterLine) and component.prefix == prefix:
            try:
                return component.meter(position)
            except KeyError:
                return None
    return None


def disturbed_fraction(meter: SimulatedMeter) -> float:
    """The share of telegrams a meter corrupts now (its disturbances with effect corrupt_telegrams)."""
    return max((d.corrupt_fraction for d in meter.disturbances.values() if d.effect == "corrupt_telegrams"),
               default=0.0)


def digits_of(serial: str, fallback: int) -> int:
    """An 8-digit M-Bus identification from a serial number: its last 8 digits, else `fallback`."""
    digits = "".join(ch for ch in serial if ch.isdigit())
    return int(digits[-8:]) if digits else fallback


HUGE_FLOAT = 3.0e30  # value_huge on a float register: far beyond any meter's display
REAL32_DIF = 0x05  # a 32-bit real record
NO_VALUE_U32 = 0xFFFF_FFFF  # value_nan on an integer register: the "no value" word many meters send
DEFAULT_WRAP_MARGIN = 1000  # counter_wrap without `message:`: counts below the roll-over at the fault's start


class CounterWrap:
    """The counter_wrap fault: while it is active the register stands `margin` counts (the fault's message,
    default 1000) below its roll-over at the fault's start and counts on from there, so the flow carries it over
    the roll-over as a meter whose register is near its end would."""

    def __init__(self) -> None:
        self._spec = None
        self._offset = 0

    def offset(self, fault, counts: int, modulus: int) -> int:
        if fault is None or fault.kind != "counter_wrap":
            self._spec = None
            return 0
        if fault is not self._spec:
            margin = int(fault.message) if fault.message and fault.message.isdigit() else DEFAULT_WRAP_MARGIN
            self._spec, self._offset = fault, (modulus - margin - counts) % modulus
        return self._offset


def error_flags(meter: SimulatedMeter) -> int:
    """The error-flags record's word: the meter's raised flags at their bits of tables/mbus-records.yaml."""
    raised = meter.status.raised()
    return sum(1 << bit for bit, name in MBUS_RECORD_LIMITS.error_flags.items() if name in raised)


# --------------------------------------------------------------------------------------------------------
# M-Bus
# --------------------------------------------------------------------------------------------------------


class TelegramParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    manufacturer: str = Field("SIM", pattern=r"^[A-Z]{3}$")
    version: int = Field(1, ge=0, le=255)
    medium: int | None = Field(None, ge=0, le=255, description="07 water, 03 gas, 06 warm water, 04 heat; default: "
                                                                "03 for a meter on the gas rig, else 07")
    volume_format: Literal["bcd8", "int32"] = "bcd8"
    volume_vif: int | None = Field(None, ge=0x10, le=0x17, description="default: from the register resolution")
    identification: int | None = Field(None, ge=0, le=99_999_999, description="default: digits of the serial")
    register_update_s: float = Field(0.0, ge=0, description="the meter copies its display to the bus register "
                                                             "every this many seconds (0: always current)")


class MBusGatewayParams(TelegramParams):
    by_address: dict[int, dict] = Field(default_factory=dict, description="per primary address overrides")
    accept_bad_checksum: bool = Field(False, description="a planted interface weakness: the meters act on frames "
                                                         "whatever their checksum (docs/fuzzing.md)")

    @field_validator("by_address")
    @classmethod
    def _overrides(cls, by_address: dict[int, dict]) -> dict[int, dict]:
        for overrides in by_address.values():
            TelegramParams.model_validate(overrides)
        return by_address

    def for_address(self, address: int) -> TelegramParams:
        base = self.model_dump(exclude={"by_address", "accept_bad_checksum"})
        return TelegramParams.model_validate({**base, **self.by_address.get(address, {})})


class _Slave:
    """One meter on the bus: its link state (FCB) and its last telegram."""

    def __init__(self, address: int, signal: str, params: TelegramParams):
        self.address, self.signal, self.params = address, signal, params
        self.expected_fcb = True  # after a reset, the next new request has the FCB set
        self.last: bytes | None = None
        self.access_number = 0
        self.snapshot_l: float | None = None  # the bus register of a meter that refreshes it periodically
        self.wrap = CounterWrap()
        self.transmitted = transmission.TransmittedVolume()  # frozen or off while disturbed

    def reset(self) -> None:
        self.expected_fcb, self.last = True, None


class SimMBusGateway(LineDevice):
    """The gateway and its meters, and the anomalous data they may send (scenario faults of this instrument,
    for every meter behind it): short_reply (the RSP_UD cut short by 4 bytes: the length field announces more),
    wrong_function (C field SND_UD 0x53 instead of RSP_UD), exception_code (an application error, CI 0x70, the
    fault's message as code), value_nan / value_huge (the present volume as a 32-bit real, NaN or 3e30),
    value_negative (the present volume negative: BCD with top nibble F, or a negative integer), counter_wrap
    (the register near its roll-over, then rolling over with the flow)."""

    Params = MBusGatewayParams
    terminators = ()
    reply_terminator = b""  # binary framing: no terminator (the garbage fault sends bare bytes)
    readout_faults = frozenset(READOUT_FAULTS) - {"extra_registers"}  # a Modbus notion

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rng = self.world.rng()
        self.slaves: dict[int, _Slave] = {}
        for terminal, signal in self.wiring.items():
            match = ADDRESS_TERMINAL.fullmatch(terminal)
            if match:
                address = int(match.group(1))
                self.slaves[address] = _Slave(address, signal, self.params.for_address(address))
        for slave in self.slaves.values():
            if slave.params.register_update_s > 0:
                self._refresh(slave)

    def _refresh(self, slave: _Slave) -> None:
        """A battery meter copies its display to the bus register now and then, not at every request."""
        meter = find_meter(self.world, slave.signal)
        slave.snapshot_l = meter.register_l if meter is not None else None
        self.world.schedule(self.world.t_s + slave.params.register_update_s, lambda: self._refresh(slave))

    # -- framing --------------------------------------------------------------------------------------------
    def split(self, buffer: bytearray) -> list[bytes]:
        """Complete short/long frames; bytes that start no frame are skipped (a slave resynchronises)."""
        frames = []
        while buffer:
            start = buffer[0]
            if start == mbus.SHORT_START:
                if len(buffer) < 5:
                    break
                frames.append(bytes(buffer[:5]))
                del buffer[:5]
            elif start == mbus.LONG_START:
                if len(buffer) < 4:
                    break
                if buffer[1] != buffer[2] or buffer[3] != mbus.LONG_START:
                    del buffer[:1]
                    continue
                size = buffer[1] + 6
                if len(buffer) < size:
                    break
                frames.append(bytes(buffer[:size]))
                del buffer[:size]
            else:
                del buffer[:1]
        if len(buffer) > MAX_FRAME_BYTES:
            del buffer[:]
        return frames

    def respond(self, frame: bytes) -> bytes | None:
        return self._respond(frame, error_code=None)

    def respond_error(self, frame: bytes, message: str | None) -> bytes | None:
        code = int(message) if message and message.isdigit() and int(message) <= 0xFF else 0
        return self._respond(frame, error_code=code)

    def _respond(self, frame: bytes, error_code: int | None) -> bytes | None:
        try:
            decoded = mbus.decode_frame(self._checked(frame))
        except mbus.MBusFrameError:
            return None  # a slave ignores a frame it cannot check
        with self.lock, self.world.now():
            if decoded.address == mbus.BROADCAST_NO_REPLY and decoded.c == mbus.C_SND_NKE:
                for slave in self.slaves.values():
                    slave.reset()
                return None
            slave = self.slaves.get(decoded.address)
            meter = find_meter(self.world, slave.signal) if slave else None
            if slave is None or meter is None:
                return None  # nobody at that address
            c = decoded.c
            if isinstance(decoded, mbus.ShortFrame) and c == mbus.C_SND_NKE:
                slave.reset()
                return bytes((mbus.ACK,))
            if isinstance(decoded, mbus.ShortFrame) and c & ~mbus.FCB in (mbus.C_REQ_UD2, mbus.C_REQ_UD2 & ~mbus.FCV):
                fault = self.active_fault()
                if fault is not None and fault.kind == "exception_code":
                    error_code = int(fault.message) if fault.message and fault.message.isdigit() else 0
                if error_code is not None:
                    return mbus.application_error(slave.address, error_code & 0xFF)
                telegram = self._rsp_ud(slave, meter, c)
                return None if telegram is None else self._malformed(self._corrupted(telegram, meter), fault)
            if isinstance(decoded, mbus.ShortFrame) and c & ~mbus.FCB == mbus.C_REQ_UD1:
                return bytes((mbus.ACK,))  # no alarm (class 1) data
            if isinstance(decoded, mbus.LongFrame) and c & ~mbus.FCB == mbus.C_SND_UD:
                return bytes((mbus.ACK,))  # accepted (application reset, baud rate, ...) without effect
            return None

    def _checked(self, frame: bytes) -> bytes:
        """The frame as the meters check it: with the weakness accept_bad_checksum, its checksum is taken as right
        (recomputed), so a frame corrupted on the bus is acted on."""
        if not self.params.accept_bad_checksum or len(frame) < 5 or frame[-1] != mbus.STOP:
            return frame
        body = frame[1:3] if frame[0] == mbus.SHORT_START else frame[4:-2]
        return frame[:-2] + bytes((mbus.checksum(body), mbus.STOP))

    def _rsp_ud(self, slave: _Slave, meter: SimulatedMeter, c: int) -> bytes | None:
        now = transmission.effects(meter)
        if now.silent:
            return None  # a meter without supply: no answer, and its datasets stay buffered
        if c & mbus.FCV:
            fcb = bool(c & mbus.FCB)
            if fcb != slave.expected_fcb and slave.last is not None:
                return slave.last  # FCB not toggled: the master missed it, send it again
            slave.expected_fcb = not fcb
        slave.access_number = (slave.access_number + 1) & 0xFF
        slave.last = self._telegram(slave, meter)
        if now.drop_fraction and self.rng.random() < now.drop_fraction:
            slave.last = None  # the dataset is lost: the repeated request gets the next one
            return None
        return slave.last

    def _medium(self, params: TelegramParams, meter: SimulatedMeter) -> int:
        if params.medium is not None:
            return params.medium
        on_gas_rig = any(isinstance(c, MeterLine) and c.source == "gas_rig" and meter in c.meters
                         for c in self.world.components.values())
        return MEDIUM_GAS if on_gas_rig else MEDIUM_WATER

    def _telegram(self, slave: _Slave, meter: SimulatedMeter) -> bytes:
        params = slave.params
        vif = params.volume_vif or mbus.volume_vif_for(meter.spec.register_resolution_l)
        step_l = mbus.volume_step_l(vif)
        bcd = params.volume_format == "bcd8"
        wrap = 10**8 if bcd else 2**31  # the register rolls over like the display
        register_l = slave.transmitted.value_l(meter, meter.register_l if slave.snapshot_l is None else slave.snapshot_l)
        present = math.floor(register_l / step_l + 1e-6) % wrap
        due_date = math.floor(meter.spec.initial_register_l / step_l + 1e-6) % wrap
        identification = params.identification
        if identification is None:
            identification = digits_of(meter.spec.serial, slave.address)
        records = (
            mbus.encode_record(mbus.DIF_BCD8, mbus.VIF_FABRICATION_NUMBER, mbus.encode_bcd(identification, 4))
            + mbus.volume_record(due_date, vif, bcd=bcd, storage=1)
            + self._present_record(slave, present, vif, bcd, wrap)
            + mbus.encode_record(0x02, 0xFD, mbus.encode_int(error_flags(meter), 2), vifes=bytes((ERROR_FLAGS_VIFE,)))
            + bytes((mbus.DIF_MANUFACTURER,)) + MANUFACTURER_DATA
        )
        return mbus.encode_rsp_ud(
            slave.address, identification=identification, manufacturer=params.manufacturer,
            version=params.version, medium=self._medium(params, meter), access_number=slave.access_number,
            records=records, status=mbus.STATUS_POWER_LOW if "power_low" in meter.status.raised() else 0,
        )

    @staticmethod
    def _malformed(frame: bytes, fault) -> bytes:
        kind = fault.kind if fault is not None else None
        if kind == "short_reply":
            return frame[:-4]
        if kind == "wrong_function" and frame[:1] == bytes((mbus.LONG_START,)):
            # rebuilt from the frame's own fields (a telegram corrupted by a disturbance stays as it is)
            body = frame[4:-2]
            return mbus.long_frame(mbus.C_SND_UD, body[1], body[2], body[3:])
        return frame

    def _present_record(self, slave: _Slave, present: int, vif: int, bcd: bool, wrap: int) -> bytes:
        """The present volume record as the meter sends it, with an active value fault."""
        fault = self.active_fault()
        kind = fault.kind if fault is not None else None
        if kind in ("value_nan", "value_huge"):
            value = math.nan if kind == "value_nan" else HUGE_FLOAT
            return mbus.encode_record(REAL32_DIF, vif, struct.pack("<f", value))
        present = (present + slave.wrap.offset(fault, present, wrap)) % wrap
        if kind == "value_negative":
            if not bcd:
                return mbus.volume_record(-max(present, 1), vif, bcd=False)
            digits = bytearray(mbus.encode_bcd(max(present, 1) % 10**7, 4))
            digits[-1] |= 0xF0  # top nibble F: a negative BCD number [U]
            return mbus.encode_record(mbus.DIF_BCD8, vif, bytes(digits))
        return mbus.volume_record(present, vif, bcd=bcd)

    def _corrupted(self, frame: bytes, meter: SimulatedMeter) -> bytes:
        fraction = disturbed_fraction(meter)
        if not fraction or self.rng.random() >= fraction:
            return frame
        corrupted = bytearray(frame)
        corrupted[int(self.rng.integers(len(frame)))] ^= int(self.rng.integers(1, 256))
        return bytes(corrupted)

    def handle(self, text: str) -> str | None:  # binary framing: respond() does the work
        return None

    def error_reply(self, text: str, message: str | None) -> str | None:
        return None


# --------------------------------------------------------------------------------------------------------
# Modbus
# --------------------------------------------------------------------------------------------------------


class ModbusMeterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    serial: str | None = Field(None, description="default: the scenario meter's serial")
    software_id: int = Field(0x4D4C0100, ge=0, le=0xFFFF_FFFF, description="the software identification "
                                                                           "(a checksum) at input 4-5")
    weaknesses: Weaknesses = Field(default_factory=Weaknesses, description="planted interface weaknesses "
                                                                           "(none: the robust meter)")
    framing: Literal["tcp", "rtu"] = Field("tcp", description="rtu: the meter speaks Modbus RTU, reached through a "
                                                              "transparent serial-to-TCP gateway")


# The simulated smart meter's registers beyond the model's volume and serial: meterlab's own layout [U], the one
# examples/meters/dn15-class2-modbus.yaml declares for fuzzing.
SOFTWARE_ID_INPUT = 4        # input 4-5: software identification, uint32, read only
METER_FACTOR_HOLDING = 0     # holding 0-1: meter factor in ppm (1 000 000 = as adjusted), legally relevant, protected
DISPLAY_MODE_HOLDING = 2     # holding 2: display mode 0..3, documented as writable
UNITY_PPM = 1_000_000
DISPLAY_MODES = range(4)
PLAIN_WRITES = (6, 16)


class SimModbusMeter(ModbusDevice):
    """The Modbus meter, and the anomalous data a meter may send (scenario faults READOUT_FAULTS): malformed
    replies (played by the Modbus server), NaN (integers: the no-value word 0xFFFFFFFF), a negative value (two's
    complement in an unsigned register), a huge value (a float far off scale; an integer half its range ahead),
    a counter rolling over."""

    Params = ModbusMeterParams
    readout_faults = frozenset(READOUT_FAULTS)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.model = MODBUS_METER_MODELS[ModbusMeterOptions.model_validate(self.entry.options).model]
        self.meter_name = self.signal("meter") or "meter1"
        self.wrap = CounterWrap()
        self.health = InterfaceHealth(self.params.weaknesses)
        self.framing = self.params.framing
        self.accepts_bad_crc = self.params.weaknesses.accept_bad_crc
        self.meter_factor_ppm = UNITY_PPM
        self.display_mode = 0
        self.transmitted = transmission.TransmittedVolume()  # frozen or off while disturbed

    # -- the interface's health (planted weaknesses) ---------------------------------------------------------
    def interface_down(self) -> str | None:
        with self.world.now() as world:
            return self.health.state(world.t_s)

    def on_frame(self, count: int = 1) -> None:
        with self.world.now() as world:
            for _ in range(count):
                self.health.on_request(world.t_s)

    def _undocumented(self) -> bool:
        """A request by FC 22, which the meter does not document: refused unless the weakness is planted."""
        return self.request_function == MASK_WRITE and not self.params.weaknesses.undocumented_function

    # -- registers --------------------------------------------------------------------------------------------
    def read(self, table: str, address: int, count: int) -> list[int] | int:
        if table not in ("holding", "input") or self._undocumented():
            return self.ILLEGAL_FUNCTION
        with self.world.now() as world:
            meter = find_meter(self.world, self.meter_name)
            if meter is None or transmission.effects(meter).silent:  # a meter without supply cannot answer
                return self.DEVICE_FAILURE
            if self.health.on_read(world.t_s, address, count):
                return self.DEVICE_FAILURE  # never sent: the server swallows requests while the meter is down
            registers = self._registers(meter)
        if RegisterTable(table) not in registers:
            return self.ILLEGAL_ADDRESS
        words = registers[RegisterTable(table)]
        if any(a not in words for a in range(address, address + count)):
            return self.ILLEGAL_ADDRESS
        return [words[a] for a in range(address, address + count)]

    def write(self, table: str, address: int, values: list[int] | list[bool]) -> int | None:
        """A smart gas meter's valve reset (1 resets; other values are refused) and the display mode are
        writable; the meter factor is protected (legally relevant) unless a weakness lets a write through.
        Everything is checked before anything changes."""
        safety = self.model.safety
        if table == "holding" and safety is not None and address == safety.reset_address:
            return self._reset_valve(values)
        if table != "holding" or self._undocumented():
            return self.ILLEGAL_FUNCTION
        span = range(address, address + len(values))
        factor = range(METER_FACTOR_HOLDING, METER_FACTOR_HOLDING + 2)
        protected_open = (self.params.weaknesses.writable_protected and self.request_function in PLAIN_WRITES
                          or self.request_function == MASK_WRITE)
        if any(a in factor for a in span) and not protected_open:
            return self.ILLEGAL_ADDRESS
        if any(a not in factor and a != DISPLAY_MODE_HOLDING for a in span):
            return self.ILLEGAL_ADDRESS
        if DISPLAY_MODE_HOLDING in span and values[span.index(DISPLAY_MODE_HOLDING)] not in DISPLAY_MODES:
            return self.ILLEGAL_VALUE
        self._store(dict(zip(span, (int(v) for v in values))))
        return None

    def _reset_valve(self, values: list[int] | list[bool]) -> int | None:
        if len(values) != 1:
            return self.ILLEGAL_ADDRESS
        if values[0] != 1:
            return self.ILLEGAL_VALUE
        with self.world.now():
            unit = self._safety_unit()
            if unit is None:
                return self.DEVICE_FAILURE
            unit.reset()
        return None

    def _safety_unit(self) -> SafetyUnit | None:
        meter = find_meter(self.world, self.meter_name)
        return None if meter is None else find_safety_unit(self.world, meter.position)

    def _store(self, words: dict[int, int]) -> None:
        if DISPLAY_MODE_HOLDING in words:
            self.display_mode = words[DISPLAY_MODE_HOLDING]
        high, low = uint32_to_registers(self.meter_factor_ppm, WordOrder.BIG)
        high, low = words.get(METER_FACTOR_HOLDING, high), words.get(METER_FACTOR_HOLDING + 1, low)
        self.meter_factor_ppm = high << 16 | low
        with self.world.now():
            meter = find_meter(self.world, self.meter_name)
            if meter is not None:  # the adjustment acts on what the meter measures from now on
                meter.adjustment_pct = (self.meter_factor_ppm - UNITY_PPM) / 1e4

    def _registers(self, meter: SimulatedMeter) -> dict[RegisterTable, dict[int, int]]:
        volume, serial = self.model.volume, self.model.serial
        value = self._volume_value(self.transmitted.value_l(meter, meter.register_l) / float(volume.litres_per_unit))
        text = self.params.serial or meter.spec.serial
        if serial.type == "uint32":
            serial_words = uint32_to_registers(digits_of(text, 0) % 2**32, WordOrder.BIG)
        else:
            serial_words = ascii_to_registers(text, serial.registers)
        tables: dict[RegisterTable, dict[int, int]] = {}
        tables.setdefault(RegisterTable(volume.table), {}).update(zip(range(volume.address, volume.address + 2), volume.encode(value)))
        tables.setdefault(RegisterTable(serial.table), {}).update(zip(range(serial.address, serial.address + len(serial_words)),
                                                       serial_words))
        unit = self._safety_unit() if self.model.safety is not None else None
        if unit is not None:  # a meter without a valve has no valve block: reading it is an illegal address
            tables.setdefault(RegisterTable.INPUT, {}).update(self._safety_words(unit))
            # the reset register reads 1 (as written: a write is answered with the register read back), the
            # reset itself being done at once
            tables.setdefault(RegisterTable.HOLDING, {})[self.model.safety.reset_address] = 1
        status = self.model.status
        if status is not None:  # the flags the meter raised from what happened to it (physics/meter_status.py)
            tables.setdefault(RegisterTable(status.table), {})[status.address] = status.encode(meter.status.raised())
        self._smart_registers(tables)
        return tables

    def _safety_words(self, unit: SafetyUnit) -> dict[int, int]:
        """The valve block of the map (instruments/meter_readout.py SafetyRegisters) from the meter's state."""
        safety = self.model.safety
        alarms = sum(1 << (safety.code_of(cause) - 1) for cause in unit.alarms)
        words = [safety.valve_states.index(unit.valve), alarms, min(len(unit.events), 0xFFFF)]
        newest = list(reversed(unit.events))[:safety.entries]
        for event in newest:
            ms = int(round(event.t_s * 1000)) % (1 << 32)
            words += [safety.code_of(event.cause), ms >> 16, ms & 0xFFFF]
        words += [0] * (safety.count - len(words))
        return dict(zip(range(safety.address, safety.address + safety.count), words))

    def _smart_registers(self, tables: dict[RegisterTable, dict[int, int]]) -> None:
        """Software identification, meter factor and display mode, where the model's map leaves them free."""
        extra = {
            RegisterTable.INPUT: dict(zip((SOFTWARE_ID_INPUT, SOFTWARE_ID_INPUT + 1),
                                          uint32_to_registers(self.params.software_id, WordOrder.BIG))),
            RegisterTable.HOLDING: {**dict(zip((METER_FACTOR_HOLDING, METER_FACTOR_HOLDING + 1),
                                               uint32_to_registers(self.meter_factor_ppm, WordOrder.BIG))),
                                    DISPLAY_MODE_HOLDING: self.display_mode},
        }
        for table, words in extra.items():
            known = tables.setdefault(table, {})
            known.update({a: w for a, w in words.items() if a not in known})

    def _volume_value(self, value: float) -> int | float:
        """The register's value (counts or the float) as the meter sends it, with an active value fault."""
        fault = self.active_fault()
        kind = fault.kind if fault is not None else None
        if self.model.volume.type == "float32":
            anomalous = {"value_nan": math.nan, "value_negative": -max(value, 1.0), "value_huge": HUGE_FLOAT}
            return anomalous.get(kind, value)
        modulus = self.model.volume.rollover or 1 << 32
        counts = math.floor(value + 1e-6) % modulus
        counts = (counts + self.wrap.offset(fault, counts, modulus)) % modulus
        anomalous = {"value_nan": NO_VALUE_U32, "value_negative": -max(counts, 1), "value_huge": counts + (1 << 31) + 12345}
        return anomalous.get(kind, counts)
