"""Wired M-Bus (EN 13757-2 link layer, EN 13757-3 application layer): a pure frame codec, no I/O.

Used by the driver `meter_readout.MBusMeter` and by the simulated gateway. Reference sheet §4 [V] for
what is not marked otherwise:

- single character ACK `E5`; short frame `10 C A CS 16`; long frame `68 L L 68 C A CI <data> CS 16`,
  where L counts C, A, CI and the data (a long frame is L + 6 bytes) and CS is the byte sum of C..data;
- `SND_NKE` = C 0x40 (link reset, answered by E5); `REQ_UD2` = C 0x5B / 0x7B (FCB clear / set; FCV set),
  answered by `RSP_UD`, C 0x08 (0x18/0x28/0x38 with the DFC and ACD bits), CI 0x72 (variable data, long
  header): ID (4 bytes BCD), manufacturer (2 bytes), version, medium, access number, status, signature
  (2 bytes), then records;
- a record is DIF [DIFE...] VIF [VIFE...] data. DIF bits 0-3 give the data field (0x04 32-bit integer,
  0x0C 8-digit BCD...), bits 4-5 the function, bit 6 the low bit of the storage number, bit 7 "DIFE
  follows"; VIF 0x10..0x17 is volume in 10^(n-6) m³ (0x13 = litres), VIF 0x78 the fabrication number.

[U] (from the M-Bus documentation and libmbus, not checked against EN 13757-3 itself): the LVAR coding of
variable-length data, the plain-text VIF layout (length and text right after the VIF, VIFEs after the
text), the application-error telegram (CI 0x70, one error byte) and its codes, the status byte bits, the
meaning of the signature word's bits 8-12 (security mode; non-zero = encrypted), the negative-BCD
convention (top nibble F), the medium codes other than 03/04/06/07.

Everything here works on `bytes`; problems raise `MBusFrameError` (a ValueError) with a message saying
what is wrong, which the driver turns into an InstrumentReplyError naming instrument and command."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

ACK = 0xE5
SHORT_START, LONG_START, STOP = 0x10, 0x68, 0x16

# C fields (master -> slave, and the slave's answer)
C_SND_NKE = 0x40
C_REQ_UD2 = 0x5B  # FCV set, FCB clear
C_REQ_UD1 = 0x5A
C_SND_UD = 0x53
FCB, FCV = 0x20, 0x10
C_RSP_UD = 0x08
RSP_UD_FLAGS = 0x30  # ACD (0x20) and DFC (0x10) may be set in a RSP_UD

# CI fields
CI_RSP_VARIABLE = 0x72  # variable data, long header
CI_APPLICATION_ERROR = 0x70  # [U] one data byte: the error code
CI_APPLICATION_RESET = 0x50

BROADCAST_NO_REPLY, BROADCAST_REPLY, SECONDARY = 0xFF, 0xFE, 0xFD
MAX_PRIMARY_ADDRESS = 250
FIXED_HEADER_BYTES = 12
MIN_RSP_UD_L = 3 + FIXED_HEADER_BYTES
MAX_EXTENSIONS = 10  # at most 10 DIFEs and 10 VIFEs per record

# DIF data field -> data length in bytes (0x0D variable length, 0x0F special: handled apart)
DATA_LENGTH = {0x0: 0, 0x1: 1, 0x2: 2, 0x3: 3, 0x4: 4, 0x5: 4, 0x6: 6, 0x7: 8,
               0x8: 0, 0x9: 1, 0xA: 2, 0xB: 3, 0xC: 4, 0xE: 6}
INTEGER_FIELDS = {0x1, 0x2, 0x3, 0x4, 0x6, 0x7}
BCD_FIELDS = {0x9, 0xA, 0xB, 0xC, 0xE}
DIF_VARIABLE = 0x0D
DIF_MANUFACTURER, DIF_MORE_FOLLOWS, DIF_IDLE_FILLER = 0x0F, 0x1F, 0x2F
DIF_INT32, DIF_BCD8 = 0x04, 0x0C
EXTENSION = 0x80

VIF_VOLUME_FIRST, VIF_VOLUME_LAST = 0x10, 0x17  # 10^(n-6) m³
VIF_VOLUME_L = 0x13
VIF_FABRICATION_NUMBER = 0x78
VIF_PLAIN_TEXT = 0x7C
L_PER_M3_EXPONENT = 3  # 1 m³ = 10^3 L

MEDIA = {0x00: "other", 0x02: "electricity", 0x03: "gas", 0x04: "heat", 0x06: "warm water",
         0x07: "water", 0x15: "hot water", 0x16: "cold water"}  # [U] beyond 03/04/06/07
FUNCTIONS = ("instantaneous", "maximum", "minimum", "value during error state")
STATUS_POWER_LOW = 0x04  # status byte bit 2 [U]
STATUS_BITS = {0x04: "power low", 0x08: "permanent error", 0x10: "temporary error"}  # [U]
APPLICATION_STATUS = {1: "application busy", 2: "application error", 3: "abnormal condition / alarm"}  # [U]
APPLICATION_ERRORS = {  # [U] CI 0x70 error byte
    0: "unspecified error", 1: "unimplemented CI field", 2: "buffer too long, truncated",
    3: "too many records", 4: "premature end of record", 5: "more than 10 DIFEs", 6: "more than 10 VIFEs",
    8: "application too busy", 9: "too many readouts",
}


class MBusFrameError(ValueError):
    """A frame or a record that is not valid M-Bus; the message says what is wrong."""


class MBusApplicationError(Exception):
    """A valid telegram in which the meter reports an application error (CI 0x70)."""

    def __init__(self, address: int, code: int | None):
        self.address, self.code = address, code
        text = "no error code" if code is None else f"code {code} ({APPLICATION_ERRORS.get(code, 'reserved')})"
        super().__init__(f"the meter at primary address {address} reports an application error: {text}")


# --------------------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------------------


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def _byte(name: str, value: int) -> int:
    if not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise ValueError(f"{name} must be one byte (0..255), got {value!r}")
    return value


def short_frame(c: int, a: int) -> bytes:
    """`10 C A CS 16`."""
    body = bytes((_byte("C", c), _byte("A", a)))
    return bytes((SHORT_START,)) + body + bytes((checksum(body), STOP))


def long_frame(c: int, a: int, ci: int, data: bytes = b"") -> bytes:
    """`68 L L 68 C A CI <data> CS 16`."""
    body = bytes((_byte("C", c), _byte("A", a), _byte("CI", ci))) + bytes(data)
    if len(body) > 0xFF:
        raise ValueError(f"a long frame carries at most 252 data bytes, got {len(data)}")
    return bytes((LONG_START, len(body), len(body), LONG_START)) + body + bytes((checksum(body), STOP))


def snd_nke(address: int) -> bytes:
    """Link reset: `10 40 A CS 16`, answered by E5."""
    return short_frame(C_SND_NKE, address)


def req_ud2(address: int, fcb: bool) -> bytes:
    """Request class 2 data: `10 5B A CS 16` (FCB clear) or `10 7B A CS 16` (FCB set)."""
    return short_frame(C_REQ_UD2 | (FCB if fcb else 0), address)


@dataclass(frozen=True)
class ShortFrame:
    c: int
    address: int


@dataclass(frozen=True)
class LongFrame:
    c: int
    address: int
    ci: int
    data: bytes


def decode_frame(frame: bytes) -> ShortFrame | LongFrame:
    """Check a complete short or long frame (start, length, checksum, stop) and split it into its fields."""
    frame = bytes(frame)
    if not frame:
        raise MBusFrameError("empty frame")
    if frame[0] == SHORT_START:
        if len(frame) != 5:
            raise MBusFrameError(f"a short frame is 5 bytes, got {len(frame)}")
        _check_end(frame, frame[1:3])
        return ShortFrame(frame[1], frame[2])
    if frame[0] != LONG_START:
        raise MBusFrameError(f"start byte 0x{frame[0]:02X} is neither 0x10 (short) nor 0x68 (long frame)")
    if len(frame) < 9:
        raise MBusFrameError(f"a long frame has at least 9 bytes, got {len(frame)} (short telegram)")
    length, length_copy = frame[1], frame[2]
    if length != length_copy:
        raise MBusFrameError(f"the two length fields differ (0x{length:02X} and 0x{length_copy:02X})")
    if frame[3] != LONG_START:
        raise MBusFrameError(f"the second start byte is 0x{frame[3]:02X}, not 0x68")
    if length < 3:
        raise MBusFrameError(f"length field L = {length} is less than 3 (C, A, CI)")
    if len(frame) != length + 6:
        kind = "short telegram" if len(frame) < length + 6 else "bytes after the stop byte"
        raise MBusFrameError(f"length field L = {length} announces {length + 6} bytes, got {len(frame)} ({kind})")
    _check_end(frame, frame[4:-2])
    return LongFrame(frame[4], frame[5], frame[6], frame[7:-2])


def _check_end(frame: bytes, body: bytes) -> None:
    if frame[-1] != STOP:
        raise MBusFrameError(f"stop byte is 0x{frame[-1]:02X}, not 0x16")
    if checksum(body) != frame[-2]:
        raise MBusFrameError(f"bad checksum: the frame says 0x{frame[-2]:02X}, the bytes sum to 0x{checksum(body):02X}")


# --------------------------------------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------------------------------------


def encode_bcd(value: int, size: int) -> bytes:
    """`value` as `size` bytes of BCD, least significant byte first (12345678 -> 78 56 34 12)."""
    if not isinstance(value, int) or not 0 <= value < 10 ** (2 * size):
        raise ValueError(f"{value!r} does not fit {2 * size} BCD digits")
    digits = f"{value:0{2 * size}d}"
    return bytes(int(digits[i:i + 2], 16) for i in range(0, 2 * size, 2))[::-1]


def decode_bcd(data: bytes) -> int:
    """BCD, least significant byte first; a top nibble F marks a negative number [U]."""
    text = bytes(data)[::-1].hex().upper()
    negative = text[:1] == "F"
    digits = text[1:] if negative else text
    if not digits.isdigit():
        raise MBusFrameError(f"invalid BCD {bytes(data).hex(' ')} (digits {text})")
    return -int(digits) if negative else int(digits)


def encode_int(value: int, size: int) -> bytes:
    """Signed little-endian integer (type B)."""
    return int(value).to_bytes(size, "little", signed=True)


def decode_int(data: bytes) -> int:
    return int.from_bytes(data, "little", signed=True)


def encode_manufacturer(code: str) -> bytes:
    """Three letters A..Z as 5-bit fields, little-endian: 'SIM' -> 2D 4D."""
    if len(code) != 3 or not all("A" <= ch <= "Z" for ch in code):
        raise ValueError(f"a manufacturer code is three letters A..Z, got {code!r}")
    value = sum((ord(ch) - 64) << shift for ch, shift in zip(code, (10, 5, 0)))
    return value.to_bytes(2, "little")


def decode_manufacturer(data: bytes) -> str:
    value = int.from_bytes(data, "little")
    letters = [(value >> shift) & 0x1F for shift in (10, 5, 0)]
    return "".join(chr(64 + n) if 1 <= n <= 26 else "?" for n in letters)


# --------------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One data record: its header bytes, its raw data and where it starts in the data area."""

    dif: int
    difes: bytes
    vif: int
    vifes: bytes
    data: bytes
    offset: int
    lvar: int | None = None  # variable-length data: the LVAR byte
    vif_text: str | None = None  # plain-text VIF: the unit as text

    @property
    def data_field(self) -> int:
        return self.dif & 0x0F

    @property
    def function(self) -> str:
        return FUNCTIONS[(self.dif >> 4) & 0x03]

    @property
    def storage_number(self) -> int:
        number = (self.dif >> 6) & 0x01
        for i, dife in enumerate(self.difes):
            number |= (dife & 0x0F) << (1 + 4 * i)
        return number

    @property
    def tariff(self) -> int:
        return sum(((dife >> 4) & 0x03) << (2 * i) for i, dife in enumerate(self.difes))

    @property
    def subunit(self) -> int:
        return sum(((dife >> 6) & 0x01) << i for i, dife in enumerate(self.difes))

    @property
    def is_volume(self) -> bool:
        """A plain volume (VIF 0x10..0x17 without VIFE: a VIFE would change its meaning, e.g. backward flow)."""
        return VIF_VOLUME_FIRST <= self.vif <= VIF_VOLUME_LAST

    @property
    def is_current(self) -> bool:
        """Instantaneous value, storage 0 (the present register), tariff 0, subunit 0."""
        return self.function == "instantaneous" and self.storage_number == 0 and not self.tariff and not self.subunit

    @property
    def value(self) -> int | float | str | bytes | None:
        """The data decoded by its DIF type; raises MBusFrameError for invalid BCD."""
        kind = self.data_field
        if kind in (0x0, 0x8):
            return None
        if kind in INTEGER_FIELDS:
            return decode_int(self.data)
        if kind in BCD_FIELDS:
            return decode_bcd(self.data)
        if kind == 0x5:
            return struct.unpack("<f", self.data)[0]
        assert self.lvar is not None  # variable length
        if self.lvar <= 0xBF:
            return self.data[::-1].decode("latin-1")  # strings are sent last character first
        if 0xC0 <= self.lvar <= 0xCF:
            return decode_bcd(self.data)
        if 0xD0 <= self.lvar <= 0xDF:
            return -decode_bcd(self.data)
        if 0xE0 <= self.lvar <= 0xEF:
            return decode_int(self.data)
        return bytes(self.data)

    @property
    def volume_step_l(self) -> float:
        """The volume one count of this record stands for, in litres (VIF 0x13: 1 L, 0x10: 1 mL)."""
        return volume_step_l(self.vif)

    @property
    def volume_l(self) -> float:
        """The value in litres (exact to the float nearest the decimal value)."""
        if not self.is_volume:
            raise MBusFrameError(f"record at byte {self.offset} (VIF 0x{self.vif:02X}) is not a volume")
        raw = self.value
        if not isinstance(raw, int | float):
            raise MBusFrameError(f"volume record at byte {self.offset} holds no number (DIF 0x{self.dif:02X})")
        return counts_to_litres(raw, self.vif)

    def describe(self) -> str:
        return (f"DIF 0x{self.dif:02X}{self.difes.hex().upper()} VIF 0x{self.vif:02X}{self.vifes.hex().upper()} "
                f"data {self.data.hex(' ') or '-'}")


def counts_to_litres(value: int | float, vif: int) -> float:
    """A volume record's value in litres with volume VIF `vif` (exact to the float nearest the decimal value)."""
    exponent = (vif & 0x07) - 6 + L_PER_M3_EXPONENT
    if isinstance(value, int):  # int / 10**k is correctly rounded; int * 0.001 is not
        return float(value * 10**exponent) if exponent >= 0 else value / 10**-exponent
    return value * 10.0**exponent


def volume_step_l(vif: int) -> float:
    """The volume one count stands for with volume VIF `vif`, in litres (0x13: 1 L, 0x10: 0.001 L)."""
    exponent = (vif & 0x07) - 6 + L_PER_M3_EXPONENT
    return float(10**exponent) if exponent >= 0 else 1 / 10**-exponent


def volume_vif_for(step_l: float) -> int:
    """The volume VIF whose unit is the largest power of ten not above `step_l` (0.001 L -> 0x10)."""
    for n in range(7, -1, -1):
        if volume_step_l(n) <= step_l * (1 + 1e-9):
            return VIF_VOLUME_FIRST + n
    return VIF_VOLUME_FIRST


def encode_record(dif: int, vif: int, data: bytes, *, difes: bytes = b"", vifes: bytes = b"") -> bytes:
    return bytes((dif,)) + bytes(difes) + bytes((vif,)) + bytes(vifes) + bytes(data)


def volume_record(value_counts: int, vif: int = VIF_VOLUME_L, *, bcd: bool = True, storage: int = 0) -> bytes:
    """A volume record: DIF 0x0C (8-digit BCD) or 0x04 (int32), VIF 0x10..0x17; storage 0 or 1."""
    if not VIF_VOLUME_FIRST <= vif <= VIF_VOLUME_LAST:
        raise ValueError(f"volume VIFs are 0x10..0x17, got 0x{vif:02X}")
    if storage not in (0, 1):
        raise ValueError("storage numbers above 1 need a DIFE; not supported here")
    dif = (DIF_BCD8 if bcd else DIF_INT32) | (storage << 6)
    data = encode_bcd(value_counts, 4) if bcd else encode_int(value_counts, 4)
    return encode_record(dif, vif, data)


def parse_records(data: bytes) -> tuple[list[Record], bytes, bool, str | None]:
    """The records of a variable-data area.

    Returns (records, manufacturer data after DIF 0x0F/0x1F, more records follow (DIF 0x1F), problem):
    `problem` says why parsing stopped early at a reserved coding it cannot size (the records before it
    are good). A record that runs past the end of the data raises MBusFrameError."""
    records: list[Record] = []
    pos, end = 0, len(data)

    def take(count: int, what: str, start: int) -> bytes:
        nonlocal pos
        if pos + count > end:
            raise MBusFrameError(f"record at byte {start} of the data: {what} runs past the end of the telegram")
        chunk = bytes(data[pos:pos + count])
        pos += count
        return chunk

    def extensions(last: int, what: str, start: int) -> bytes:
        chain = b""
        while last & EXTENSION:
            if len(chain) == MAX_EXTENSIONS:
                raise MBusFrameError(f"record at byte {start} of the data: more than {MAX_EXTENSIONS} {what}s")
            last = take(1, what, start)[0]
            chain += bytes((last,))
        return chain

    while pos < end:
        start = pos
        dif = data[pos]
        pos += 1
        if dif == DIF_IDLE_FILLER:
            continue
        if dif in (DIF_MANUFACTURER, DIF_MORE_FOLLOWS):
            return records, bytes(data[pos:]), dif == DIF_MORE_FOLLOWS, None
        if dif & 0x0F == 0x0F:
            return records, b"", False, f"reserved special DIF 0x{dif:02X} at byte {start}: records after it are not read"
        difes = extensions(dif, "DIFE", start)
        vif = take(1, "VIF", start)[0]
        vif_text = None
        if vif & 0x7F == VIF_PLAIN_TEXT:  # [U] the unit as text, right after the VIF
            length = take(1, "plain-text VIF length", start)[0]
            vif_text = take(length, "plain-text VIF", start)[::-1].decode("latin-1")
        vifes = extensions(vif, "VIFE", start)
        kind, lvar = dif & 0x0F, None
        if kind == DIF_VARIABLE:
            lvar = take(1, "LVAR", start)[0]
            size = _lvar_size(lvar)
            if size is None:
                return records, b"", False, f"reserved LVAR 0x{lvar:02X} at byte {start}: records after it are not read"
        else:
            size = DATA_LENGTH[kind]
        payload = take(size, f"data ({size} bytes)", start)
        records.append(Record(dif, difes, vif, vifes, payload, start, lvar, vif_text))
    return records, b"", False, None


def _lvar_size(lvar: int) -> int | None:
    """Data length for an LVAR byte [U]; None for reserved codings."""
    if lvar <= 0xBF:
        return lvar  # ASCII string
    if 0xC0 <= lvar <= 0xCF:
        return lvar - 0xC0  # positive BCD, 2 digits per byte
    if 0xD0 <= lvar <= 0xDF:
        return lvar - 0xD0  # negative BCD
    if 0xE0 <= lvar <= 0xEF:
        return lvar - 0xE0  # binary number
    if 0xF0 <= lvar <= 0xF4:
        return 4 * (lvar - 0xEC)  # binary number, 4 * (LVAR - 0xEC) bytes
    if lvar == 0xF5:
        return 48
    if lvar == 0xF6:
        return 64
    return None


# --------------------------------------------------------------------------------------------------------
# RSP_UD telegrams
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Telegram:
    """A decoded RSP_UD with variable data (CI 0x72)."""

    c: int
    address: int
    identification: str  # 8 digits, as printed on the meter
    manufacturer: str
    version: int
    medium: int
    access_number: int
    status: int
    signature: int
    records: tuple[Record, ...]
    manufacturer_data: bytes = b""
    more_records_follow: bool = False
    problem: str | None = None  # why record parsing stopped early, if it did
    frame: bytes = field(default=b"", repr=False)

    @property
    def medium_name(self) -> str:
        return MEDIA.get(self.medium, f"medium 0x{self.medium:02X}")

    @property
    def volume_record(self) -> Record | None:
        """The present volume register: the first plain volume record, instantaneous, storage 0."""
        return next((r for r in self.records if r.is_volume and r.is_current), None)

    @property
    def fabrication_number(self) -> str | None:
        record = next((r for r in self.records if r.vif == VIF_FABRICATION_NUMBER), None)
        if record is None:
            return None
        value = record.value
        width = 2 * len(record.data) if record.data_field in BCD_FIELDS else 0
        return f"{value:0{width}d}" if isinstance(value, int) else str(value)

    def status_problems(self) -> list[str]:
        """What the status byte reports, worded for people (empty: nothing wrong)."""
        problems = [APPLICATION_STATUS[self.status & 0x03]] if self.status & 0x03 else []
        return problems + [text for bit, text in STATUS_BITS.items() if self.status & bit]

    @property
    def encrypted(self) -> bool:
        return bool((self.signature >> 8) & 0x1F)  # [U] security mode bits of the configuration word


def decode_rsp_ud(frame: bytes, *, address: int | None = None) -> Telegram:
    """Check and decode a RSP_UD long frame with variable data (CI 0x72).

    `address`: the primary address that was asked (the reply must come from it; not checked for the
    broadcast/secondary addresses 0xFD..0xFF). Raises MBusFrameError for anything malformed and
    MBusApplicationError for an application-error telegram (CI 0x70)."""
    decoded = decode_frame(frame)
    if not isinstance(decoded, LongFrame):
        raise MBusFrameError("a short frame where a RSP_UD long frame was expected")
    if decoded.c & ~RSP_UD_FLAGS != C_RSP_UD:
        raise MBusFrameError(f"C field 0x{decoded.c:02X} is not a RSP_UD (0x08, with ACD/DFC 0x18/0x28/0x38)")
    if address is not None and address < SECONDARY and decoded.address != address:
        raise MBusFrameError(f"the reply comes from primary address {decoded.address}, not {address}")
    if decoded.ci == CI_APPLICATION_ERROR:
        raise MBusApplicationError(decoded.address, decoded.data[0] if decoded.data else None)
    if decoded.ci != CI_RSP_VARIABLE:
        raise MBusFrameError(f"CI field 0x{decoded.ci:02X} is not variable data with long header (0x72)")
    data = decoded.data
    if len(data) < FIXED_HEADER_BYTES:
        raise MBusFrameError(f"short telegram: {len(data)} bytes after CI, the fixed header alone needs 12")
    header, body = data[:FIXED_HEADER_BYTES], data[FIXED_HEADER_BYTES:]
    identification = header[3::-1].hex().upper()
    if not identification.isdigit():
        raise MBusFrameError(f"identification number {identification} is not BCD")
    signature = int.from_bytes(header[10:12], "little")
    if (signature >> 8) & 0x1F:
        raise MBusFrameError(f"the telegram is encrypted (signature 0x{signature:04X}); meterlab does not decrypt")
    records, manufacturer_data, more, problem = parse_records(body)
    return Telegram(
        c=decoded.c, address=decoded.address, identification=identification,
        manufacturer=decode_manufacturer(header[4:6]), version=header[6], medium=header[7],
        access_number=header[8], status=header[9], signature=signature, records=tuple(records),
        manufacturer_data=manufacturer_data, more_records_follow=more, problem=problem, frame=bytes(frame),
    )


def encode_rsp_ud(
    address: int, *, identification: int, manufacturer: str, version: int, medium: int, access_number: int,
    status: int = 0, records: bytes = b"", signature: int = 0, c: int = C_RSP_UD,
) -> bytes:
    """A RSP_UD long frame with CI 0x72, the fixed header and the given (already encoded) records."""
    header = (encode_bcd(identification, 4) + encode_manufacturer(manufacturer)
              + bytes((_byte("version", version), _byte("medium", medium), _byte("access number", access_number),
                       _byte("status", status))) + signature.to_bytes(2, "little"))
    return long_frame(c, address, CI_RSP_VARIABLE, header + records)


def application_error(address: int, code: int = 0) -> bytes:
    """A RSP_UD with CI 0x70 and one error byte [U]."""
    return long_frame(C_RSP_UD, address, CI_APPLICATION_ERROR, bytes((_byte("error code", code),)))
