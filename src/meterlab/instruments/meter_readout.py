"""Reading the meter under test: wired M-Bus, a Modbus meter, and manual entry by the operator.

Four ways to read a meter under test, and how they compare:

| Readout | Driver | What it gives | Resolution | Under disturbance |
|---|---|---|---|---|
| Pulse output | `counter.Keysight53230A` (not here) | pulses counted during the gate (the diverter's run) | the pulse value | pulses can be lost or added, undetectably |
| Wired M-Bus | `MBusMeter` | the register, as a telegram on request | the VIF's unit (0x13 = 1 L, 0x10 = 1 mL) | telegrams can be corrupted; the checksum and frame checks catch it, the driver retries; implausible values are refused |
| Modbus meter | `ModbusMeter` | the register, from holding/input registers | the register's unit (uint32), ~7 digits (float32) | the RTU CRC / TCP catch transmission errors; a failing meter answers an exception; malformed replies and implausible values are refused |
| Manual entry | `ManualRegister` | the register as the operator reads it from the display | the scale interval | human error: typing mistakes are caught by plausibility checks |

- The pulse output is the only real-time readout: the counter is gated by the diverter, so start and stop
  are synchronous with the reference. The three register readouts are snapshots: read them with the flow
  stopped (standing start/stop), or take the time of the request into account.
- M-Bus and Modbus read the same register the display shows; a meter that updates its communication
  register only every few seconds (many battery meters do) must be read after that interval.
- A register readout refers to the meter's display; its resolution (the VIF's unit, the Modbus scaling,
  the scale interval) enters the uncertainty budget, as the pulse value does for pulses.

Wired M-Bus goes through a transparent serial gateway (TCP socket or a serial port, 2400 baud 8E1
usually): the bench entry's `wiring` says which meter sits at which primary address (`addr1: meter1`),
`options.primary_address` which one `read_volume_l()` reads by default. The framing is binary
(`read_termination = ""`, `write_raw`, `read_bytes`); the codec lives in `meterlab.instruments.mbus`.

Modbus meters have vendor register maps, kept as data in `tables/modbus-meters.yaml` (register addresses,
type, word order, scale, unit, plausible range, roll-over, largest step between reads, each model with its
source and confidence tag) and loaded into `MODBUS_METER_MODELS`; a bench chooses one with `options.model`.
The generic maps are meterlab's own layouts [U]: check a real meter's map and add its model before use.
Every register read is checked before it is returned (plausibility.py); a roll-over is unwrapped.

Manual entry needs no instrument: `ManualRegister` asks the operator through an injected `ask(prompt)`
callable (the engine's prompter) and refuses implausible readings before they are recorded."""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from meterlab.errors import MeterlabError
from meterlab.instruments import mbus
from meterlab.instruments.base import MessageInstrument, ModbusInstrument
from meterlab.instruments.errors import (
    ImplausibleValue,
    InstrumentError,
    InstrumentFailure,
    InstrumentReplyError,
    InstrumentTimeout,
    InstrumentValueError,
)
from meterlab.instruments.plausibility import CounterLimits, CounterTrack, Implausible
from meterlab.instruments.readings.decoders import mbus_reading, modbus_reading, rejected_reading
from meterlab.instruments.readings.schema import ReadingFormatError
from meterlab.instruments.transport import RegisterTable, WordOrder, float32_to_registers, registers_to_float32
from meterlab.quantities import AsTuple
from meterlab.yamlio import read_yaml, read_yaml_text, validate_data

# --------------------------------------------------------------------------------------------------------
# Wired M-Bus
# --------------------------------------------------------------------------------------------------------

ADDRESS_TERMINAL = re.compile(r"addr(250|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])")
MAX_DRAIN_BYTES = 2 * (0xFF + 6)  # more than this after a bad telegram: the gateway is babbling


class MBusOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    primary_address: int | None = Field(
        None, ge=0, le=mbus.MAX_PRIMARY_ADDRESS,
        description="address read by default; else the only address in `wiring`",
    )
    retries: int = Field(2, ge=0, le=10, description="repeats of an exchange after a bad or missing reply")
    reset_each_read: bool = Field(True, description="SND_NKE before each read (else once, then FCB toggles)")
    idle_s: float = Field(0.05, gt=0, le=2.0, description="silence that ends a bad telegram being discarded")
    max_telegrams: int = Field(4, ge=1, le=16, description="follow-up telegrams read while looking for the volume")
    register_rolls_over: bool = Field(False, description="the meters' volume registers roll over (at the record's "
                                      "capacity, tables/mbus-records.yaml): a backward step that fits is unwrapped")


# Status flags a meter may transmit (the reading format's, meter-reading-v1.json, less meterlab's own rolled_over)
METER_FLAGS = ("reverse_flow", "leak", "magnet", "tamper", "power_low", "valve_closed")
ERROR_FLAGS_VIFE = 0x17  # VIF FD, VIFE 17: error flags (binary) [U]


class MBusRecordLimits(BaseModel):
    """Plausibility of volume records by their coding (tables/mbus-records.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str
    confidence: Literal["V", "S", "U"]
    rollover_by_data_field: dict[int, int]
    real_max_m3: float = Field(gt=0)
    max_step_fraction: float = Field(gt=0, le=1)
    error_flags: dict[int, Literal[METER_FLAGS]] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="bit of the error-flags record (VIF FD 17) -> status flag")

    def flags_of(self, telegram: mbus.Telegram) -> list[str]:
        """The status flags a telegram transmits: its status byte's power_low and its error-flags record's bits."""
        flags = {"power_low"} if telegram.status & mbus.STATUS_POWER_LOW else set()
        record = next((r for r in telegram.records if r.vif == 0xFD and r.vifes[:1] == bytes((ERROR_FLAGS_VIFE,))),
                      None)
        bits = int.from_bytes(record.data, "little") if record is not None else 0
        flags |= {name for bit, name in self.error_flags.items() if bits >> bit & 1}
        return sorted(flags)

    def limits(self, record: mbus.Record, rolls_over: bool) -> CounterLimits:
        """Limits of the record's raw value (counts of its VIF unit): its capacity, or real_max_m3 for reals
        and codings without one; a roll-over only if the meter's register rolls over and the coding has one."""
        step_l = record.volume_step_l
        unit = f"counts of {step_l:g} L"
        modulus = self.rollover_by_data_field.get(record.data_field)
        if modulus is None:
            high = self.real_max_m3 * 1000 / step_l
            return CounterLimits(0, high, None, high * self.max_step_fraction, unit)
        return CounterLimits(0, modulus - 1, modulus if rolls_over else None, modulus * self.max_step_fraction, unit)


def _load_mbus_record_limits() -> MBusRecordLimits:
    file = resources.files(__package__).joinpath("tables", "mbus-records.yaml")
    data, lines = read_yaml_text(file.read_text(encoding="utf-8"), str(file))
    return validate_data(str(file), MBusRecordLimits, data, lines)


MBUS_RECORD_LIMITS = _load_mbus_record_limits()


class MBusMeter(MessageInstrument):
    """Meters on a wired M-Bus behind a transparent gateway (EN 13757-2/-3), read by primary address.

    A read: SND_NKE -> E5 (link reset; the next REQ_UD2 has FCB set), then REQ_UD2 -> RSP_UD, and further
    REQ_UD2 with the FCB toggled while the telegram says more records follow (DIF 0x1F) and the volume
    has not been found. A bad or missing reply is repeated with the same FCB (the meter then repeats its
    telegram), at most `retries` times; then the failure is raised: InstrumentReplyError (corrupted,
    short or wrong telegram, saying what was wrong), InstrumentTimeout (no meter answers), InstrumentError
    (the meter reports an application error or an error status). A lost connection is raised at once.

    The volume is checked before it is returned (plausibility.py, limits in tables/mbus-records.yaml): a NaN
    or out-of-range record, a backward step (unless `register_rolls_over` and it fits a roll-over, which is
    then unwrapped), a step too far ahead raise ImplausibleValue; nothing is returned."""

    Options = MBusOptions
    terminals = ADDRESS_TERMINAL.pattern  # wiring: addr<primary address> -> meter (e.g. addr1: meter1)
    read_termination = ""  # binary framing: write_raw / read_bytes
    write_termination = ""
    encoding = "latin-1"
    default_timeout_s = 2.0  # 2400 baud: a 255-byte telegram takes 1.2 s on the wire
    options: MBusOptions

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._fcb: dict[int, bool] = {}  # primary address -> FCB of the next REQ_UD2 (absent: reset first)
        self._tracks: dict[tuple[int, int, int], CounterTrack] = {}  # (address, data field, VIF) -> readings so far
        self._rolled_over: dict[int, bool] = {}  # primary address -> its last read unwrapped a roll-over
        self._last_rsp = b""  # the last RSP_UD frame as received (poll_dataset)

    # -- addresses ------------------------------------------------------------------------------------------
    @property
    def wired_addresses(self) -> dict[int, str]:
        """Primary address -> meter, from the bench wiring."""
        found = {}
        for terminal, meter in self.wiring.items():
            match = ADDRESS_TERMINAL.fullmatch(terminal)
            if match:
                found[int(match.group(1))] = meter
        return dict(sorted(found.items()))

    def address_of(self, meter: str) -> int:
        for address, wired in self.wired_addresses.items():
            if wired == meter or wired.split(".")[0] == meter:
                return address
        raise InstrumentValueError(self.name, "meter", meter, f"wired meters: {self.wired_addresses or 'none'}")

    def _address(self, address: int | None, meter: str | None) -> int:
        if meter is not None:
            return self.address_of(meter)
        if address is None:
            address = self.options.primary_address
        if address is None:
            wired = list(self.wired_addresses)
            if len(wired) != 1:
                raise InstrumentValueError(self.name, "primary_address", None,
                                           "give an address or a meter (set options.primary_address for a default)")
            address = wired[0]
        if not isinstance(address, int) or not 0 <= address <= mbus.MAX_PRIMARY_ADDRESS:
            raise InstrumentValueError(self.name, "primary_address", address, f"0 .. {mbus.MAX_PRIMARY_ADDRESS}")
        return address

    # -- reading --------------------------------------------------------------------------------------------
    def reset_link(self, address: int | None = None, *, meter: str | None = None) -> None:
        """SND_NKE -> E5: reset the meter's link layer; the next REQ_UD2 goes out with FCB set."""
        address = self._address(address, meter)
        self._fcb.pop(address, None)
        command = f"SND_NKE to primary address {address}"
        self._with_retries(command, lambda: self._acknowledged(mbus.snd_nke(address), command))
        self._fcb[address] = True

    def read_telegram(self, address: int | None = None, *, meter: str | None = None) -> mbus.Telegram:
        """One RSP_UD (the first of a reading cycle if the link is reset before each read)."""
        return self._telegrams(self._address(address, meter), until_volume=False)[0]

    def read_volume_l(self, address: int | None = None, *, meter: str | None = None) -> float:
        """The meter's register in litres (the present volume: instantaneous, storage 0)."""
        return self.read_volume(address, meter=meter)[0]

    def read_volume(self, address: int | None = None, *, meter: str | None = None) -> tuple[float, float, mbus.Telegram]:
        """(register in litres, its resolution in litres (the VIF's unit), the telegram it came from)."""
        address = self._address(address, meter)
        telegrams = self._telegrams(address, until_volume=True)
        for telegram in telegrams:
            record = telegram.volume_record
            if record is not None:
                return self._checked_volume_l(address, record), record.volume_step_l, telegram
        found = "; ".join(r.describe() for t in telegrams for r in t.records) or "no records"
        why = f"; {telegrams[-1].problem}" if telegrams[-1].problem else ""
        raise self.reply_error(self.transport.last_command,
                               f"no present volume record (VIF 0x10..0x17, storage 0) in {len(telegrams)} "
                               f"telegram(s) from primary address {address}: {found}{why}")

    def _checked_volume_l(self, address: int, record: mbus.Record) -> float:
        """The record's volume in litres once it passes the plausibility checks (unwrapped across a roll-over
        if `register_rolls_over`); ImplausibleValue otherwise, and the reading is not kept."""
        command = self.transport.last_command
        try:
            raw = record.value
        except mbus.MBusFrameError as exc:
            raise self.reply_error(command, f"{exc}: {record.describe()}") from None
        if not isinstance(raw, int | float):
            raise self.reply_error(command, f"the volume record holds no number: {record.describe()}")
        # one history per coding: a meter that switches coding is still compared with its last reading in each
        key = (address, record.data_field, record.vif)
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = CounterTrack(MBUS_RECORD_LIMITS.limits(record, self.options.register_rolls_over))
        rollovers = track.rollovers
        try:
            unwrapped = track.accept(raw)
        except Implausible as exc:
            raise self.transport.fail(ImplausibleValue(
                self.name, command, f"{exc.got} from primary address {address} ({record.describe()})",
                exc.expected)) from None
        self._rolled_over[address] = track.rollovers > rollovers
        return mbus.counts_to_litres(round(unwrapped) if isinstance(raw, int) else unwrapped, record.vif)

    def read_meter_reading(self, address: int | None = None, *, meter: str | None = None,
                           timestamp: datetime | None = None) -> dict:
        """The present volume as a meter reading (readings/meter-reading-v1.json), checked and validated."""
        address = self._address(address, meter)
        volume_l, _, telegram = self.read_volume(address)
        return mbus_reading(telegram, volume_l=volume_l, rolled_over=self._rolled_over.get(address, False),
                            timestamp=timestamp or datetime.now(UTC), instrument=self.name)

    def _telegrams(self, address: int, *, until_volume: bool) -> list[mbus.Telegram]:
        if self.options.reset_each_read or address not in self._fcb:
            self.reset_link(address)
        telegrams: list[mbus.Telegram] = []
        while True:
            fcb = self._fcb[address]
            command = f"REQ_UD2 to primary address {address} (FCB={int(fcb)})"
            try:
                telegram = self._with_retries(command, lambda: self._request(address, fcb, command))
            except InstrumentFailure:
                self._fcb.pop(address, None)  # state unknown: reset the link before the next read
                raise
            self._fcb[address] = not fcb
            telegrams.append(telegram)
            done = not until_volume or telegram.volume_record is not None
            if done or not telegram.more_records_follow or len(telegrams) >= self.options.max_telegrams:
                return telegrams

    def poll_dataset(self, address: int | None = None, *, meter: str | None = None) -> dict:
        """One REQ_UD2 -> RSP_UD exchange without retry, as the data-transmission check counts it: the dataset
        with its integrity: `valid` (frame and checksum right), `rejected` (corrupt, short or wrong: the receiver
        discards it), `no_answer`, or `meter_error` (an application error or error status). The FCB toggles
        only after a valid telegram: a rejected or missing one is asked for again and the meter repeats it (its
        access number says whether a dataset was lost meanwhile). The volume is as transmitted, unchecked: the
        check judges it against the pulses."""
        address = self._address(address, meter)
        self._last_rsp = b""
        try:
            if address not in self._fcb:
                self._acknowledged(mbus.snd_nke(address), f"SND_NKE to primary address {address}")
                self._fcb[address] = True
            fcb = self._fcb[address]
            telegram = self._request(address, fcb, f"REQ_UD2 to primary address {address} (FCB={int(fcb)})")
        except InstrumentTimeout as exc:
            return self._failed_poll("no_answer", address, exc)
        except InstrumentReplyError as exc:
            return self._failed_poll("rejected", address, exc)
        except InstrumentError as exc:
            return self._failed_poll("meter_error", address, exc)
        self._fcb[address] = not fcb
        record = telegram.volume_record
        try:  # the dataset in the one reading format too (readings export), where the telegram fits it
            reading = mbus_reading(telegram, timestamp=datetime.now(UTC), instrument=self.name,
                                   flags=MBUS_RECORD_LIMITS.flags_of(telegram))
        except ReadingFormatError:
            reading = None
        return {"integrity": "valid", "raw": self._last_rsp.hex(), "why": None, "reading": reading,
                "volume_l": record.volume_l if record is not None else None,
                "resolution_l": record.volume_step_l if record is not None else None,
                "access_number": telegram.access_number, "identification": str(telegram.identification),
                "software": f"{telegram.manufacturer} version {telegram.version}", "status": telegram.status,
                "flags": MBUS_RECORD_LIMITS.flags_of(telegram)}

    def _failed_poll(self, integrity: str, address: int, exc: Exception) -> dict:
        """A poll that got no dataset, kept in the reading format too (every polled dataset is exported): a
        reading without a value, the error as its reason; its identity is the wiring's, not the telegram's."""
        wired = self.wired_addresses.get(address, str(address))
        reading = rejected_reading(identification=wired, kind="gas" if wired.startswith("gas") else "water",
                                   interface="mbus", reason=f"{integrity}: {exc}", timestamp=datetime.now(UTC),
                                   instrument=self.name, address=str(address), raw=self._last_rsp)
        return {"integrity": integrity, "raw": self._last_rsp.hex(), "why": str(exc), "reading": reading}

    def identify(self) -> str:
        """Identity of the meter at the default address (else the lowest wired one), from its telegram."""
        address = self.options.primary_address
        if address is None:
            address = min(self.wired_addresses, default=None)
        address = self._address(address, None)
        telegram = self.read_telegram(address)
        return (f"M-Bus meter at primary address {address} via {self.name}: ID {telegram.identification}, "
                f"manufacturer {telegram.manufacturer}, version {telegram.version}, {telegram.medium_name}")

    def safe_state(self) -> None:
        """Reading a meter changes nothing on the rig; forget the link state so the next read resets it."""
        self._fcb.clear()

    # -- exchanges ------------------------------------------------------------------------------------------
    def _with_retries(self, command: str, attempt: Callable[[], object]):
        attempts = 1 + self.options.retries
        for _ in range(attempts):
            try:
                return attempt()
            except (InstrumentReplyError, InstrumentTimeout) as exc:  # each is in the I/O log already
                last = exc
        if isinstance(last, InstrumentTimeout):
            raise self.transport.fail(InstrumentTimeout(self.name, command, last.timeout_s,
                                                        f"no valid reply to {attempts} attempt(s)"))
        raise self.reply_error(command, f"{last.message} (last of {attempts} attempt(s))")

    def _acknowledged(self, frame: bytes, command: str) -> None:
        self.transport.write_raw(frame, command=command)
        reply = self.transport.read_bytes(1)
        if reply[0] != mbus.ACK:
            self._drain()
            raise self.reply_error(command, f"expected the acknowledgement E5, got {reply.hex().upper()}")

    def _request(self, address: int, fcb: bool, command: str) -> mbus.Telegram:
        self.transport.write_raw(mbus.req_ud2(address, fcb), command=command)
        start = self.transport.read_bytes(1)
        self._last_rsp = start
        if start[0] != mbus.LONG_START:
            self._drain()
            what = "the acknowledgement E5" if start[0] == mbus.ACK else f"0x{start[0]:02X}"
            raise self.reply_error(command, f"expected a RSP_UD long frame (start byte 68), got {what}")
        header = self.transport.read_bytes(3)
        self._last_rsp = start + header
        length = header[0]
        if header[1] != length or header[2] != mbus.LONG_START or length < 3:
            self._drain()
            raise self.reply_error(command, f"corrupted frame header {(start + header).hex(' ').upper()}: "
                                            "the length fields differ or the second start byte is not 68")
        try:
            rest = self.transport.read_bytes(length + 2)
        except InstrumentTimeout as exc:
            raise self.reply_error(command, f"short telegram: the header announces {length + 6} bytes; the rest "
                                            f"did not arrive within {exc.timeout_s:g} s") from None
        frame = start + header + rest
        self._last_rsp = frame  # the telegram as it came, for poll_dataset's record
        try:
            telegram = mbus.decode_rsp_ud(frame, address=address)
        except mbus.MBusApplicationError as exc:
            raise self.instrument_error(command, str(exc)) from None
        except mbus.MBusFrameError as exc:
            if frame[-1] != mbus.STOP:  # the frame boundary is in doubt: let the line fall silent
                self._drain()
            raise self.reply_error(command, f"{exc}; telegram {frame.hex(' ').upper()}") from None
        problems = telegram.status_problems()
        if telegram.status & 0x0B:  # application busy/error/alarm, permanent error
            raise self.instrument_error(command, f"the meter reports status 0x{telegram.status:02X}: "
                                                 f"{', '.join(problems)}")
        return telegram

    def _drain(self) -> None:
        """Discard what follows a bad telegram until the line is silent for `idle_s` (bounded).

        The discarded bytes are in the I/O log as reads; the silence that ends them as a timeout entry of
        the command '<request>: discarding the rest of a bad reply'."""
        command = self.transport.last_command
        self.transport.last_command = f"{command}: discarding the rest of a bad reply"
        try:
            for _ in range(MAX_DRAIN_BYTES):
                try:
                    self.transport.read_bytes(1, timeout_s=self.options.idle_s)
                except InstrumentTimeout:
                    return
        finally:
            self.transport.last_command = command
        raise self.reply_error(command, f"the gateway kept sending after a bad telegram (over {MAX_DRAIN_BYTES} bytes)")


# --------------------------------------------------------------------------------------------------------
# Modbus meters
# --------------------------------------------------------------------------------------------------------



LITRES_PER = {"L": Decimal(1), "mL": Decimal("0.001"), "m3": Decimal(1000)}
RegisterType = Literal["uint32", "int32", "float32"]


class VolumeRegister(BaseModel):
    """Where and how a meter keeps its totaliser, and what it may plausibly read (tables/modbus-meters.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    table: Literal["input", "holding"]
    address: int = Field(ge=0, le=0xFFFE)
    type: RegisterType
    word_order: Literal["big", "word_swapped"] = "big"
    scale: float = Field(1.0, gt=0, description="`unit` per count (integers) or per unit of the value")
    unit: Literal["L", "mL", "m3"] = "L"
    range: Annotated[tuple[float, float], AsTuple] = Field(description="plausible values in `unit`: [low, high]")
    rollover: int | None = Field(None, gt=1, description="count at which an integer register rolls over to 0")
    max_step: float | None = Field(None, gt=0, description="largest forward step between two reads, in `unit`")
    no_value: list[int] = Field(default_factory=list, description="raw counts the meter sends for 'no value'")

    @model_validator(mode="after")
    def _consistent(self) -> VolumeRegister:
        if self.range[0] > self.range[1]:
            raise ValueError(f"range {list(self.range)}: low above high")
        if self.rollover is not None and self.type == "float32":
            raise ValueError("a float32 register does not roll over: remove `rollover`")
        return self

    @property
    def registers_table(self) -> RegisterTable:
        return RegisterTable(self.table)

    @property
    def words(self) -> WordOrder:
        return WordOrder(self.word_order)

    @property
    def litres_per_unit(self) -> Decimal:
        """Litres per count (integers) or per unit of the value (floats), exact (scale as the file states it)."""
        return Decimal(repr(self.scale)) * LITRES_PER[self.unit]

    def limits(self) -> CounterLimits:
        """The plausibility limits in the register's own terms: counts for integers, the value for floats."""
        per = Decimal(repr(self.scale)) if self.type != "float32" else Decimal(1)
        low, high = (float(Decimal(repr(v)) / per) for v in self.range)
        step = None if self.max_step is None else float(Decimal(repr(self.max_step)) / per)
        unit = "counts" if self.type != "float32" else self.unit
        return CounterLimits(low, high, None if self.rollover is None else float(self.rollover), step, unit,
                             tuple(float(v) for v in self.no_value))

    def decode(self, registers: list[int]) -> int | float:
        if self.type == "float32":
            return registers_to_float32(registers, self.words)
        value = registers_to_uint32(registers, self.words)
        return value - (1 << 32) if self.type == "int32" and value >= 1 << 31 else value

    def encode(self, value: int | float) -> list[int]:
        """The registers holding `value` (counts or the float), for the simulated meter."""
        if self.type == "float32":
            return float32_to_registers(value, self.words)
        return uint32_to_registers(int(value) % (1 << 32), self.words)

    def to_litres(self, value: int | float) -> float:
        """Counts or the float's value in litres, exact to the float nearest the decimal value."""
        text = str(value) if isinstance(value, int) else shortest_float32_text(value)
        return float(Decimal(text) * self.litres_per_unit)


class SerialRegister(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    table: Literal["input", "holding"]
    address: int = Field(ge=0, le=0xFFFE)
    type: Literal["uint32", "ascii"]
    registers: int = Field(2, ge=1, le=32, description="2 for uint32; 2 characters per register for ascii")


class SafetyRegisters(BaseModel):
    """A smart gas meter's shut-off valve block (tables/modbus-meters.yaml `safety:`). Input registers from
    `address`: +0 valve state (index into `valve_states`), +1 alarms (bit code-1 set per cause code active since
    the last reset), +2 events logged since power-on, then `entries` events newest first, 3 registers each: the
    event's code (`event_codes`, 0 = none) and its time on the meter's clock, uint32 ms, high word first. Writing
    1 to holding register `reset_address` resets the valve (opens it, clears the alarms)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    address: int = Field(ge=0, le=0xFF00)
    entries: int = Field(8, ge=1, le=64)
    reset_address: int = Field(ge=0, le=0xFFFF)
    valve_states: list[str] = Field(min_length=2)
    event_codes: dict[int, str] = Field(min_length=1, description="code -> cause (1..16: an alarm bit each)")

    @field_validator("event_codes")
    @classmethod
    def _codes(cls, codes: dict[int, str]) -> dict[int, str]:
        if any(not 1 <= code <= 16 for code in codes):
            raise ValueError("event codes are 1..16 (code c is alarm bit c-1)")
        return codes

    @property
    def count(self) -> int:
        """Registers of the block."""
        return 3 + 3 * self.entries

    def code_of(self, cause: str) -> int:
        for code, name in self.event_codes.items():
            if name == cause:
                return code
        raise KeyError(f"no event code for {cause!r}; the map has {sorted(self.event_codes.values())}")


class StatusRegister(BaseModel):
    """A meter's status register (tables/modbus-meters.yaml `status:`): one 16-bit register, a flag per bit."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    table: Literal["input", "holding"]
    address: int = Field(ge=0, le=0xFFFF)
    flags: dict[int, Literal[METER_FLAGS]] = Field(  # type: ignore[valid-type]
        min_length=1, description="bit (0..15) -> status flag")

    @field_validator("flags")
    @classmethod
    def _bits(cls, flags: dict[int, str]) -> dict[int, str]:
        if any(not 0 <= bit <= 15 for bit in flags):
            raise ValueError("status bits are 0..15")
        return flags

    def decode(self, word: int) -> list[str]:
        return sorted(name for bit, name in self.flags.items() if word >> bit & 1)

    def encode(self, flags: frozenset[str] | set[str]) -> int:
        return sum(1 << bit for bit, name in self.flags.items() if name in flags)


class ModbusMeterModel(BaseModel):
    """One model's register map: its volume register and serial number (and, for a smart gas meter, its valve
    block), with its source and confidence."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    description: str
    source: str
    confidence: Literal["V", "S", "U"]
    volume: VolumeRegister
    serial: SerialRegister
    safety: SafetyRegisters | None = None
    status: StatusRegister | None = Field(None, description="the status flags the meter transmits")


class ModbusMeterTable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: dict[str, ModbusMeterModel]


def load_modbus_meter_models(path: str | Path | None = None) -> dict[str, ModbusMeterModel]:
    """The register maps of a table file (default: the shipped tables/modbus-meters.yaml)."""
    if path is None:
        file = resources.files(__package__).joinpath("tables", "modbus-meters.yaml")
        data, lines = read_yaml_text(file.read_text(encoding="utf-8"), str(file))
        return validate_data(str(file), ModbusMeterTable, data, lines).models
    data, lines = read_yaml(path)
    return validate_data(path, ModbusMeterTable, data, lines).models


MODBUS_METER_MODELS: dict[str, ModbusMeterModel] = load_modbus_meter_models()


class ModbusMeterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field("generic_uint32_ml", description=f"one of {', '.join(MODBUS_METER_MODELS)}")
    kind: Literal["water", "gas"] = Field("water", description="what the meter measures (for its readings)")

    @field_validator("model")
    @classmethod
    def _known(cls, model: str) -> str:
        if model not in MODBUS_METER_MODELS:
            raise ValueError(f"unknown Modbus meter model {model!r}; known: {', '.join(MODBUS_METER_MODELS)}")
        return model


def registers_to_uint32(registers: list[int], word_order: WordOrder) -> int:
    high, low = registers if WordOrder(word_order) is WordOrder.BIG else registers[::-1]
    return high << 16 | low


def uint32_to_registers(value: int, word_order: WordOrder) -> list[int]:
    words = [(value >> 16) & 0xFFFF, value & 0xFFFF]
    return words if WordOrder(word_order) is WordOrder.BIG else words[::-1]


def shortest_float32_text(value: float) -> str:
    """The shortest decimal that reads back as the same float32 (12.345 stays 12.345, not 12.3450002670)."""
    packed = struct.pack("<f", value)
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.pack("<f", float(text)) == packed:
            return text
    return repr(value)


def registers_to_ascii(registers: list[int]) -> str:
    return b"".join(r.to_bytes(2, "big") for r in registers).rstrip(b"\x00 ").decode("latin-1")


def ascii_to_registers(text: str, count: int) -> list[int]:
    raw = text.encode("latin-1")[: 2 * count].ljust(2 * count, b"\x00")
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, 2 * count, 2)]


@dataclass(frozen=True)
class RegisterReading:
    """One accepted read of a Modbus meter's volume register: the words as they came, the value they hold
    (counts or the float), the value unwrapped across roll-overs, and that in litres."""

    registers: tuple[int, ...]
    raw: int | float
    unwrapped: int | float
    volume_l: float
    rollovers: int  # since the driver was opened
    rolled_over: bool = False  # this read unwrapped a roll-over


@dataclass(frozen=True)
class MeterEvent:
    cause: str  # a cause of the map's event_codes ("seismic", "reset", ...) or "code <n>" for an unknown code
    t_s: float  # the meter's clock


@dataclass(frozen=True)
class SafetyState:
    """What a smart gas meter says of its valve: its state, the alarms since its last reset, its event log."""

    valve: str
    alarms: frozenset[str]
    event_count: int
    events: tuple[MeterEvent, ...]  # newest first


class ModbusMeter(ModbusInstrument):
    """A meter under test with a Modbus interface: its register and serial number, per model register map.

    Every volume read is checked (instruments/plausibility.py) before it is returned: a NaN, a value outside
    the map's range, a backward step that is not a roll-over, a step beyond `max_step` raise ImplausibleValue
    and nothing is returned. A roll-over of the register is unwrapped (once between two reads)."""

    Options = ModbusMeterOptions
    terminals = r"meter"  # wiring: meter = the meter it is (meter1)
    default_timeout_s = 2.0
    options: ModbusMeterOptions

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._track = CounterTrack(self.model.volume.limits())  # kept across safe_state: it is not rig state

    @property
    def model(self) -> ModbusMeterModel:
        return MODBUS_METER_MODELS[self.options.model]

    def read_volume_l(self) -> float:
        """The register in litres (unwrapped across roll-overs)."""
        return self.read_register().volume_l

    def read_register(self) -> RegisterReading:
        """The volume register, read and checked (ImplausibleValue if it cannot be the meter's register)."""
        volume = self.model.volume
        registers = self.transport.read_registers(volume.registers_table, volume.address, 2)
        raw = volume.decode(registers)
        rollovers = self._track.rollovers
        try:
            unwrapped = self._track.accept(raw)
        except Implausible as exc:
            command = f"read {volume.table} {volume.address}+2 (unit {self.transport.unit}): volume register"
            raise self.transport.fail(ImplausibleValue(self.name, command, exc.got, exc.expected)) from None
        if volume.type != "float32":
            unwrapped = int(unwrapped)
        return RegisterReading(tuple(registers), raw, unwrapped, volume.to_litres(unwrapped), self._track.rollovers,
                               self._track.rollovers > rollovers)

    def _safety_map(self) -> SafetyRegisters:
        safety = self.model.safety
        if safety is None:
            raise self.instrument_error("safety", f"model {self.options.model!r} has no valve block "
                                        "(tables/modbus-meters.yaml `safety:`); choose a smart gas meter's model")
        return safety

    def read_safety_state(self) -> SafetyState:
        """The valve block, read in one request (state, alarms and log consistent with each other)."""
        safety = self._safety_map()
        words = self.transport.read_registers(RegisterTable.INPUT, safety.address, safety.count)
        if not 0 <= words[0] < len(safety.valve_states):
            raise self.reply_error(f"read input {safety.address}", f"valve state {words[0]} is not in the map")
        alarms = frozenset(name for code, name in safety.event_codes.items() if words[1] >> (code - 1) & 1)
        events = []
        for i in range(min(words[2], safety.entries)):
            code, high, low = words[3 + 3 * i: 6 + 3 * i]
            events.append(MeterEvent(safety.event_codes.get(code, f"code {code}"), ((high << 16) | low) / 1000.0))
        return SafetyState(safety.valve_states[words[0]], alarms, words[2], tuple(events))

    def reset_valve(self) -> None:
        """The meter's reset of its shut-off valve (opens it, clears its alarms)."""
        self.transport.write_register(self._safety_map().reset_address, 1)

    def read_meter_reading(self, *, timestamp: datetime | None = None) -> dict:
        """The volume register as a meter reading (readings/meter-reading-v1.json), checked and validated."""
        read = self.read_register()
        return modbus_reading(read, self.model.volume, model=self.options.model, identification=self.serial_number(),
                              kind=self.options.kind, timestamp=timestamp or datetime.now(UTC),
                              unit_id=self.transport.unit, instrument=self.name)

    @property
    def volume_resolution_l(self) -> float | None:
        """The register's unit for integer registers; None for float registers (depends on the value)."""
        volume = self.model.volume
        return float(volume.litres_per_unit) if volume.type != "float32" else None

    def serial_number(self) -> str:
        serial = self.model.serial
        registers = self.transport.read_registers(RegisterTable(serial.table), serial.address, serial.registers)
        if serial.type == "uint32":
            return str(registers_to_uint32(registers, WordOrder.BIG))
        return registers_to_ascii(registers)

    def poll_dataset(self) -> dict:
        """The volume register and serial number in one poll, as the data-transmission check counts it: `valid`,
        `rejected` (a malformed reply), `no_answer`, or `meter_error` (an exception reply). Modbus has no
        consecutive number: lost datasets are not counted. The volume is as transmitted, unchecked."""
        volume = self.model.volume
        try:
            registers = self.transport.read_registers(volume.registers_table, volume.address, 2)
            serial = self.serial_number()
            status = self.model.status
            word = None if status is None else self.transport.read_registers(RegisterTable(status.table),
                                                                             status.address, 1)[0]
        except InstrumentTimeout as exc:
            return self._failed_poll("no_answer", exc)
        except InstrumentReplyError as exc:
            return self._failed_poll("rejected", exc)
        except InstrumentError as exc:
            return self._failed_poll("meter_error", exc)
        value = volume.decode(registers)
        volume_l = volume.to_litres(value) if isinstance(value, int | float) else None
        if volume_l is not None and math.isfinite(volume_l):
            # the value as transmitted (not unwrapped, not checked against the previous read): what was sent is
            # what the data_transmission check judges, and what the reading must show
            read = RegisterReading(tuple(registers), value, value, volume_l, 0)
            reading = modbus_reading(read, volume, model=self.options.model, identification=serial,
                                     kind=self.options.kind, timestamp=datetime.now(UTC), unit_id=self.transport.unit,
                                     instrument=self.name)
        else:  # a NaN or infinite float: the reading format holds no such value
            reading = self._refused_reading(f"valid reply, but the volume register holds {value}: not a finite "
                                            f"number", registers)
        return {"integrity": "valid", "raw": "".join(f"{r:04x}" for r in registers), "why": None, "reading": reading,
                "volume_l": volume_l, "resolution_l": self.volume_resolution_l, "access_number": None,
                "identification": serial, "software": None, "status": word,
                "flags": None if word is None else status.decode(word)}

    def _failed_poll(self, integrity: str, exc: Exception) -> dict:
        return {"integrity": integrity, "raw": "", "why": str(exc),
                "reading": self._refused_reading(f"{integrity}: {exc}", [])}

    def _refused_reading(self, reason: str, registers: list[int]) -> dict:
        """A polled dataset without a value, in the reading format: identified by the meter it is wired to (the
        serial number register may be what failed)."""
        volume = self.model.volume
        return rejected_reading(identification=self.wiring.get("meter", self.name), kind=self.options.kind,
                                interface="modbus", reason=reason, timestamp=datetime.now(UTC), instrument=self.name,
                                address=str(self.transport.unit),
                                register=f"{volume.table} {volume.address}+2 {volume.type} {volume.word_order}",
                                raw=b"".join(r.to_bytes(2, "big") for r in registers))

    def identify(self) -> str:
        return (f"Modbus meter ({self.options.model}) at {self.transport.endpoint} unit {self.transport.unit}: "
                f"S/N {self.serial_number()}")

    def safe_state(self) -> None:
        """Reading a meter changes nothing on the rig."""


# --------------------------------------------------------------------------------------------------------
# Manual entry
# --------------------------------------------------------------------------------------------------------

S_PER_H = 3600
L_PER_M3 = 1000


class ImplausibleReading(MeterlabError):
    """The operator's reading was refused (each attempt's reason is in the message)."""

    def __init__(self, meter: str, reasons: list[str]):
        self.meter, self.reasons = meter, reasons
        super().__init__(f"register reading of {meter} refused {len(reasons)} time(s): " + " | ".join(reasons))


@dataclass(frozen=True)
class Context:
    """What the plausibility checks know about the reading."""

    previous_l: float | None = None  # the last accepted reading of this meter
    elapsed_s: float | None = None  # since that reading
    flowrate_m3h: float | None = None  # the (largest) flowrate since that reading


class ManualRegister:
    """The operator reads the register on the meter's display and types it in.

    `ask(prompt) -> str` is the engine's prompter (a scripted callable in tests). A reading is refused,
    and asked again (at most `max_attempts` times, then ImplausibleReading), if it is not a number, is
    negative, is not a whole number of scale intervals (within `interval_tolerance` of an interval), is
    lower than the previous reading, or is further above it than the flow could have carried:
    flowrate x elapsed time x `safety_factor`, plus one scale interval. The safety factor is an
    engineering margin for flow variation and meter error, not a number from a standard.

    The operator types in `entry_unit` (litres or m³, as the display shows); readings come back in litres."""

    def __init__(
        self,
        ask: Callable[[str], str],
        *,
        meter: str,
        scale_interval_l: float,
        entry_unit: Literal["L", "m3"] = "L",
        safety_factor: float = 1.5,
        interval_tolerance: float = 1e-6,
        max_attempts: int = 3,
    ):
        if not scale_interval_l > 0:
            raise ValueError(f"scale_interval_l must be > 0, got {scale_interval_l!r}")
        if not safety_factor >= 1:
            raise ValueError(f"safety_factor must be >= 1, got {safety_factor!r}")
        if not 0 <= interval_tolerance < 0.5:
            raise ValueError(f"interval_tolerance is a fraction of the interval in [0, 0.5), got {interval_tolerance!r}")
        if entry_unit not in ("L", "m3"):
            raise ValueError(f"entry_unit must be 'L' or 'm3', got {entry_unit!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.ask, self.meter = ask, meter
        self.scale_interval_l = Decimal(repr(float(scale_interval_l)))
        self.entry_unit, self.safety_factor = entry_unit, safety_factor
        self.interval_tolerance = Decimal(repr(float(interval_tolerance)))
        self.max_attempts = max_attempts

    def read_volume_l(
        self,
        *,
        previous_l: float | None = None,
        elapsed_s: float | None = None,
        flowrate_m3h: float | None = None,
        prompt: str | None = None,
    ) -> float:
        """Ask until a plausible reading is typed; ImplausibleReading after `max_attempts` refusals."""
        context = Context(previous_l, elapsed_s, flowrate_m3h)
        unit = "m³" if self.entry_unit == "m3" else "L"
        question = prompt or f"Read the register of {self.meter} ({unit}) and type it in:"
        reasons: list[str] = []
        for _ in range(self.max_attempts):
            text = self.ask(question if not reasons else f"{reasons[-1]}\n{question}")
            try:
                return self.check(text, context)
            except ValueError as exc:
                reasons.append(f"{text.strip()!r}: {exc}")
        raise ImplausibleReading(self.meter, reasons)

    def check(self, text: str, context: Context = Context()) -> float:
        """The reading in litres, or ValueError saying why it is implausible."""
        value_l = self._parse(text)
        interval = self.scale_interval_l
        if value_l < 0:
            raise ValueError("a register reading cannot be negative")
        steps = value_l / interval
        if abs(steps - steps.to_integral_value()) > self.interval_tolerance:
            raise ValueError(f"not a whole number of scale intervals ({_l(interval)} L): check the last digit")
        if context.previous_l is not None:
            previous = Decimal(repr(float(context.previous_l)))
            if value_l < previous:
                raise ValueError(f"lower than the previous reading {_l(previous)} L")
            if context.elapsed_s is not None and context.flowrate_m3h is not None:
                flow_l = (Decimal(repr(float(abs(context.flowrate_m3h)))) * L_PER_M3 / S_PER_H
                          * Decimal(repr(float(context.elapsed_s))))
                limit = flow_l * Decimal(repr(float(self.safety_factor))) + interval
                if value_l - previous > limit:
                    raise ValueError(
                        f"{_l(value_l - previous)} L since the previous reading {_l(previous)} L is more than "
                        f"{context.flowrate_m3h:g} m³/h can carry in {context.elapsed_s:g} s "
                        f"({_l(flow_l)} L, at most {_l(limit)} L with the safety factor {self.safety_factor:g})")
        return float(value_l)

    def _parse(self, text: str) -> Decimal:
        cleaned = text.strip().replace(" ", "")
        if cleaned.count(",") == 1 and "." not in cleaned:
            cleaned = cleaned.replace(",", ".")  # a decimal comma, as many displays and keyboards have it
        if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", cleaned):
            raise ValueError("not a number (type digits with one decimal point, no unit)")
        try:
            value = Decimal(cleaned)
        except InvalidOperation:
            raise ValueError("not a number") from None
        return value * L_PER_M3 if self.entry_unit == "m3" else value


def _l(value: Decimal) -> str:
    return f"{float(value):.10g}"


__all__ = [
    "MBusMeter", "MBusOptions", "MeterEvent", "ModbusMeter", "SafetyRegisters", "SafetyState", "ModbusMeterModel", "ModbusMeterOptions", "MODBUS_METER_MODELS",
    "RegisterReading", "VolumeRegister", "load_modbus_meter_models",
    "ManualRegister", "ImplausibleReading", "Context",
]
