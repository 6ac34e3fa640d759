"""Decoders into the meter-reading format (meter-reading-v1.json) from what the drivers read: an M-Bus telegram,
a Modbus register read with its register map, a DLMS register named by its OBIS code (data only), and a
rejected read (the driver's error, with no value). Each decoder validates what it makes before returning it.

Protocol facts below are tagged as in the reference sheet: [U] unverified."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from meterlab.instruments.readings.obis import obis_table
from meterlab.instruments.readings.schema import SCHEMA_VERSION, ReadingFormatError, validate_reading

if TYPE_CHECKING:  # the drivers call these decoders: import their types for the checker only
    from meterlab.instruments.mbus import Telegram
    from meterlab.instruments.meter_readout import RegisterReading, VolumeRegister

# M-Bus medium -> kind of meter; volume records only (an electricity meter's energy records are not decoded).
# 03/06/07 [V], 15/16 [U] (reference sheet instruments.md §4).
MBUS_MEDIUM_KIND = {0x03: "gas", 0x06: "water", 0x07: "water", 0x15: "water", 0x16: "water"}
# M-Bus status byte -> flags [U] (mbus.STATUS_BITS, mbus.APPLICATION_STATUS)
MBUS_APPLICATION_FLAGS = {1: "application_busy", 2: "application_error", 3: "alarm"}
MBUS_STATUS_FLAGS = {0x04: "power_low", 0x08: "permanent_error", 0x10: "temporary_error"}


def timestamp_text(timestamp: datetime) -> str:
    """RFC 3339 with its offset; a time without a zone is refused (a reading's time must be unambiguous)."""
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ReadingFormatError([("timestamp", f"{timestamp.isoformat()} has no time zone")])
    return timestamp.isoformat()


def _hex(data: bytes) -> str:
    return bytes(data).hex(" ")


def _source(interface: str, **fields: Any) -> dict[str, Any]:
    return {"interface": interface, **{key: value for key, value in fields.items() if value is not None}}


def mbus_flags(status: int, rolled_over: bool = False) -> list[str]:
    flags = [MBUS_APPLICATION_FLAGS[status & 0x03]] if status & 0x03 else []
    flags += [flag for bit, flag in MBUS_STATUS_FLAGS.items() if status & bit]
    return flags + (["rolled_over"] if rolled_over else [])


def mbus_reading(telegram: Telegram, *, timestamp: datetime, volume_l: float | None = None,
                 rolled_over: bool = False, instrument: str | None = None, flags: list[str] = ()) -> dict[str, Any]:
    """The present volume of an M-Bus RSP_UD telegram; `volume_l`: the driver's checked (unwrapped) value;
    `flags`: what the meter's error-flags record says (its bits are the meter's documentation, not the standard's)."""
    record = telegram.volume_record
    if record is None:
        raise ReadingFormatError([("value", "the telegram has no present volume record (VIF 0x10..0x17, storage 0)")])
    kind = MBUS_MEDIUM_KIND.get(telegram.medium)
    if kind is None:
        raise ReadingFormatError([("meter.kind", f"M-Bus medium {telegram.medium_name} is not a water or gas meter")])
    reading = {
        "schema": SCHEMA_VERSION,
        "meter": {"identification": telegram.identification, "kind": kind, "manufacturer": telegram.manufacturer,
                  "version": telegram.version, "medium": telegram.medium_name},
        "quantity": "volume",
        "value": record.volume_l if volume_l is None else volume_l,
        "unit": "L",
        "resolution": record.volume_step_l,
        "timestamp": timestamp_text(timestamp),
        "meter_time": None,
        "consecutive_number": telegram.access_number,
        "status": {"raw": telegram.status, "flags": sorted(set(mbus_flags(telegram.status, rolled_over)) | set(flags))},
        "source": _source("mbus", instrument=instrument, address=str(telegram.address), register=record.describe(),
                          raw=_hex(telegram.frame), raw_value=record.value),
        "integrity": {"result": "ok"},
    }
    return dict(validate_reading(reading, "M-Bus reading"))


def modbus_reading(read: RegisterReading, volume: VolumeRegister, *, model: str, identification: str, kind: str,
                   timestamp: datetime, unit_id: int | None = None, instrument: str | None = None) -> dict[str, Any]:
    """A checked Modbus volume register read (ModbusMeter.read_register) with the register map it was read by."""
    integer = volume.type != "float32"
    reading = {
        "schema": SCHEMA_VERSION,
        "meter": {"identification": identification, "kind": kind, "model": model},
        "quantity": "volume",
        "value": read.volume_l,
        "unit": "L",
        "resolution": float(volume.litres_per_unit) if integer else None,
        "timestamp": timestamp_text(timestamp),
        "meter_time": None,
        "consecutive_number": None,  # a plain Modbus register map has no frame counter
        "status": {"raw": None, "flags": ["rolled_over"] if read.rolled_over else []},
        "source": _source("modbus", instrument=instrument, address=None if unit_id is None else str(unit_id),
                          register=f"{volume.table} {volume.address}+2 {volume.type} {volume.word_order}",
                          raw=_hex(b"".join(r.to_bytes(2, "big") for r in read.registers)), raw_value=read.raw),
        "integrity": {"result": "ok"},
    }
    return dict(validate_reading(reading, "Modbus reading"))


def dlms_reading(obis: str, value: int | float, scaler: int, unit_code: int, *, identification: str,
                 timestamp: datetime, frame_counter: int | None = None, instrument: str | None = None,
                 address: str | None = None, raw: bytes = b"") -> dict[str, Any]:
    """A DLMS register (value with its scaler_unit) named by its OBIS code, from obis-codes.yaml (data only)."""
    table = obis_table()
    code = table.codes.get(obis)
    if code is None:
        raise ReadingFormatError([("source.register", f"OBIS code {obis} is not in obis-codes.yaml "
                                                      f"(known: {', '.join(table.codes)})")])
    unit = table.units.get(unit_code)
    if unit is None or unit.quantity != code.quantity:
        known = ", ".join(f"{number} ({u.unit})" for number, u in table.units.items() if u.quantity == code.quantity)
        raise ReadingFormatError([("unit", f"DLMS unit {unit_code} is not a unit of {code.quantity} for {obis} "
                                           f"(known: {known})")])
    reading = {
        "schema": SCHEMA_VERSION,
        "meter": {"identification": identification, "kind": code.kind},
        "quantity": code.quantity,
        "value": float(Decimal(repr(value)).scaleb(scaler)),  # exact decimal scaling: 12345 x 10^-3 = 12.345
        "unit": unit.unit,
        "resolution": float(Decimal(1).scaleb(scaler)) if isinstance(value, int) else None,
        "timestamp": timestamp_text(timestamp),
        "meter_time": None,
        "consecutive_number": frame_counter,
        "status": {"raw": None, "flags": []},
        "source": _source("dlms", instrument=instrument, address=address, register=obis, raw=_hex(raw),
                          raw_value=value),
        "integrity": {"result": "ok"},
    }
    return dict(validate_reading(reading, "DLMS reading"))


def rejected_reading(*, identification: str, kind: str, interface: str, reason: str, timestamp: datetime,
                     quantity: str = "volume", unit: str = "L", instrument: str | None = None,
                     address: str | None = None, register: str | None = None, raw: bytes = b"",
                     consecutive_number: int | None = None) -> dict[str, Any]:
    """A read the driver refused (its error as the reason): kept as evidence, with no value."""
    reading = {
        "schema": SCHEMA_VERSION,
        "meter": {"identification": identification, "kind": kind},
        "quantity": quantity,
        "value": None,
        "unit": unit,
        "timestamp": timestamp_text(timestamp),
        "meter_time": None,
        "consecutive_number": consecutive_number,
        "status": {"raw": None, "flags": []},
        "source": _source(interface, instrument=instrument, address=address, register=register, raw=_hex(raw)),
        "integrity": {"result": "rejected", "reason": reason},
    }
    return dict(validate_reading(reading, "rejected reading"))
