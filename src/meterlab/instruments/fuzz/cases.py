"""Fuzz cases generated from a meter's declared Modbus interface, deterministic from a seed.

The list depends only on the declared interface and the seed, so case N of a campaign is case N again when it
is replayed (`meterlab fuzz --replay RUN_ID N`). Frames are built with pymodbus' PDUs and socket framer; the
grammar mutations then change the bytes a real meter must check. Groups, in order:

conformance   every documented read of every register; writes of each writable register's bounds
boundaries    addresses {0, first, last, last+1, 0xFFFF} x quantities {0, 1, max, max+1} per documented read
grammar       wrong MBAP length (short, long), protocol id not 0, truncated and oversize frames, unknown function
              codes, wrong unit id, broadcast, a replayed and an out-of-order transaction
sweep         every undocumented function code (with a write-like payload at each holding register), and reads
              of undocumented registers (those around the map and seeded random ones)
protected     writes (FC 6, 16) to every read-only and legally relevant register, and out-of-range values to
              writable ones
flood         a bounded burst of documented reads sent back to back

A case says what it may change (`allowed`: the registers a documented write targets) and whether its frames are
malformed (`malformed`: a normal reply to any of them means the meter accepted a corrupted frame).

Why not hypothesis: its search is adaptive (it shrinks and reorders), so case N is not a stable, replayable
thing; a seeded `random.Random` over a fixed grammar gives that, and the interface map bounds the space anyway."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

from pymodbus.framer import FramerRTU, FramerSocket
from pymodbus.pdu import DecodePDU, ModbusPDU
from pymodbus.pdu.register_message import (
    MaskWriteRegisterRequest,
    ReadHoldingRegistersRequest,
    ReadInputRegistersRequest,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)

from meterlab.metrology.interface import READ_FUNCTIONS, ModbusInterface, RegisterDecl

DEFAULT_FLOOD_FRAMES = 300
RANDOM_REGISTER_READS = 24


@dataclass(frozen=True)
class FuzzCase:
    number: int
    group: str
    title: str
    frames: tuple[bytes, ...]
    malformed: bool = False
    allowed: frozenset[str] = field(default_factory=frozenset)  # registers a documented write may change
    flood: bool = False

    def summary(self) -> dict:
        return {"case": self.number, "group": self.group, "title": self.title, "malformed": self.malformed,
                "allowed": sorted(self.allowed), "flood": self.flood, "frames": [f.hex(" ") for f in self.frames]}


def framer_for(transport: str) -> FramerSocket | FramerRTU:
    return FramerRTU(DecodePDU(False)) if transport == "rtu" else FramerSocket(DecodePDU(False))


def rtu_adu(unit: int, pdu_bytes: bytes) -> bytes:
    """An RTU frame: unit id, PDU, CRC (low byte first on the wire, as pymodbus encodes it)."""
    adu = bytes((unit,)) + pdu_bytes
    return adu + FramerRTU.compute_CRC(adu).to_bytes(2, "big")


class _Builder:
    """Makes frames in the interface's framing (Modbus TCP: successive transaction ids; RTU: the CRC), and numbers
    the cases."""

    def __init__(self, interface: ModbusInterface, rng: random.Random):
        self.interface, self.rng = interface, rng
        self.unit = interface.unit
        self.rtu = interface.transport == "rtu"
        self.framer = framer_for(interface.transport)
        self.tid = 0
        self.cases: list[FuzzCase] = []

    def frame(self, pdu: ModbusPDU, *, unit: int | None = None, tid: int | None = None) -> bytes:
        if tid is None:
            self.tid = self.tid % 0xFFFF + 1
            tid = self.tid
        pdu.dev_id, pdu.transaction_id = self.unit if unit is None else unit, tid
        return self.framer.buildFrame(pdu)

    def wrap(self, pdu_bytes: bytes, *, unit: int | None = None) -> bytes:
        """Raw PDU bytes (function code first) in a well-formed frame of the interface's framing."""
        unit = self.unit if unit is None else unit
        return rtu_adu(unit, pdu_bytes) if self.rtu else self.raw(pdu_bytes, unit=unit)

    def raw(self, pdu_bytes: bytes, *, unit: int | None = None, protocol: int = 0, length: int | None = None) -> bytes:
        """A frame with the MBAP header as given (the length field may lie)."""
        self.tid = self.tid % 0xFFFF + 1
        size = len(pdu_bytes) + 1 if length is None else length
        return struct.pack(">HHHB", self.tid, protocol, size, self.unit if unit is None else unit) + pdu_bytes

    def add(self, group: str, title: str, frames: list[bytes], **kwargs) -> None:
        self.cases.append(FuzzCase(len(self.cases), group, title, tuple(frames), **kwargs))


def read_pdu(table: str, address: int, count: int) -> ModbusPDU:
    kind = ReadHoldingRegistersRequest if table == "holding" else ReadInputRegistersRequest
    return kind(address=address, count=count)


def readable(interface: ModbusInterface) -> list[RegisterDecl]:
    """Registers read with FC 3 or 4 (the fuzzer speaks registers; coils are swept as undocumented functions)."""
    return [r for r in interface.registers if r.table in ("holding", "input")]


def generate_cases(interface: ModbusInterface, seed: int, *, flood_frames: int = DEFAULT_FLOOD_FRAMES) -> list[FuzzCase]:
    builder = _Builder(interface, random.Random(seed))
    for group in (_conformance, _boundaries, _grammar, _sweep, _protected_writes):
        group(builder)
    _flood(builder, flood_frames)
    return builder.cases


def _conformance(b: _Builder) -> None:
    for reg in readable(b.interface):
        b.add("conformance", f"read {reg.name} ({reg.table} {reg.address}, {reg.count})",
              [b.frame(read_pdu(reg.table, reg.address, reg.count))])
    for reg in _writable(b.interface):
        for value in reg.values:
            for function in (6, 16):
                if function in b.interface.functions:
                    b.add("conformance", f"write {reg.name} = {value} (FC {function})",
                          [b.frame(_write_pdu(function, reg.address, [value] * reg.count))],
                          allowed=frozenset({reg.name}))


def _writable(interface: ModbusInterface) -> list[RegisterDecl]:
    return [r for r in interface.registers if r.access == "read_write" and r.table == "holding"]


def _write_pdu(function: int, address: int, values: list[int]) -> ModbusPDU:
    if function == 6:
        return WriteSingleRegisterRequest(address=address, registers=values[:1])
    return WriteMultipleRegistersRequest(address=address, registers=values)


def _boundaries(b: _Builder) -> None:
    limit = b.interface.max_quantity
    for table in ("input", "holding"):
        regs = [r for r in readable(b.interface) if r.table == table]
        if not regs or READ_FUNCTIONS[table] not in b.interface.functions:
            continue
        first, last = min(r.address for r in regs), max(r.span[-1] for r in regs)
        for address in sorted({0, first, last, last + 1, 0xFFFF}):
            for count in (0, 1, limit, limit + 1):
                # the PDU as bytes: pymodbus would refuse to encode a quantity of 0 or above 125
                pdu = struct.pack(">BHH", READ_FUNCTIONS[table], address, count)
                b.add("boundaries", f"read {table} address {address} quantity {count}", [b.wrap(pdu)])


def _valid_read(b: _Builder) -> RegisterDecl:
    return b.rng.choice(readable(b.interface))


def _grammar(b: _Builder) -> None:
    reg = _valid_read(b)
    pdu = read_pdu(reg.table, reg.address, reg.count).encode()
    fc = bytes((READ_FUNCTIONS[reg.table],))
    what = f"read {reg.name}"
    (_grammar_rtu if b.rtu else _grammar_tcp)(b, fc + pdu, what)
    # an oversize PDU in a well-formed frame is not a corrupted frame (nothing in it is inconsistent; many meters
    # ignore trailing bytes): sent for a crash or a state change, not judged by its reply
    extra = bytes(b.rng.randrange(256) for _ in range(b.rng.randrange(1, 8)))
    b.add("grammar", f"{what}: oversize frame (+{len(extra)} byte(s))", [b.wrap(fc + pdu + extra)])
    b.add("grammar", f"{what}: oversize frame ({253 + 1} byte PDU)", [b.wrap(fc + pdu + bytes(253 - len(pdu)))])
    for function in (0, 0x80 | fc[0], 0xFF):
        b.add("grammar", f"function code {function} (exception range or none)", [b.wrap(bytes((function,)) + pdu)],
              malformed=True)
    wrong = b.unit % 247 + 1
    b.add("grammar", f"{what}: unit id {wrong} (not the meter's)", [b.wrap(fc + pdu, unit=wrong)], malformed=True)
    _broadcast_and_transactions(b)


def _grammar_tcp(b: _Builder, request: bytes, what: str) -> None:
    """The MBAP header lies, or the PDU is cut short."""
    size = len(request) + 1  # unit id and the PDU
    b.add("grammar", f"{what}: MBAP length one short", [b.raw(request, length=size - 1)], malformed=True)
    b.add("grammar", f"{what}: MBAP length one long", [b.raw(request, length=size + 1)], malformed=True)
    b.add("grammar", f"{what}: MBAP length 0", [b.raw(request, length=0)], malformed=True)
    b.add("grammar", f"{what}: protocol id 1", [b.raw(request, protocol=1)], malformed=True)
    for cut in sorted({1, 2, len(request) - 1}):
        b.add("grammar", f"{what}: PDU truncated to {cut} byte(s)", [b.raw(request[:cut])], malformed=True)


def _grammar_rtu(b: _Builder, request: bytes, what: str) -> None:
    """A wrong CRC (on a read and on a documented write: neither may be taken), no CRC, a PDU cut short."""
    good = rtu_adu(b.unit, request)
    for position, where in ((-2, "low"), (-1, "high")):  # pymodbus puts the CRC's low byte first
        bad = bytearray(good)
        bad[position] ^= 0x01
        b.add("grammar", f"{what}: bad CRC ({where} byte)", [bytes(bad)], malformed=True)
    for reg in _writable(b.interface):  # the lower bound: conformance left the upper one, so a write taken shows
        write = _write_pdu(16, reg.address, [reg.values[0]] * reg.count).encode()
        adu = rtu_adu(b.unit, bytes((16,)) + write)
        b.add("grammar", f"write {reg.name} = {reg.values[0]} with a bad CRC", [adu[:-1] + bytes((adu[-1] ^ 0x55,))],
              malformed=True)
    b.add("grammar", f"{what}: no CRC", [bytes((b.unit,)) + request], malformed=True)
    for cut in sorted({1, 2, len(request) - 1}):
        b.add("grammar", f"{what}: PDU truncated to {cut} byte(s), CRC of what is left",
              [rtu_adu(b.unit, request[:cut])], malformed=True)


def _broadcast_and_transactions(b: _Builder) -> None:
    for reg in _protected(b.interface):
        b.add("grammar", f"broadcast (unit 0) write to protected {reg.name}",
              [b.frame(_write_pdu(16, reg.address, _different(b, reg)), unit=0)])
    for reg in _writable(b.interface):
        value = reg.values[0]
        frame = b.frame(_write_pdu(16, reg.address, [value] * reg.count))
        b.add("grammar", f"replayed transaction: write {reg.name} = {value} twice", [frame, frame],
              allowed=frozenset({reg.name}))
        if b.rtu:
            continue  # RTU has no transaction ids to put out of order
        first = b.frame(_write_pdu(16, reg.address, [reg.values[1]] * reg.count), tid=0x7000)
        older = b.frame(_write_pdu(16, reg.address, [value] * reg.count), tid=0x0001)
        b.add("grammar", f"out-of-order transactions on {reg.name}", [first, older], allowed=frozenset({reg.name}))


def _protected(interface: ModbusInterface) -> list[RegisterDecl]:
    """Holding registers that must not change over the interface: read-only ones, the legally relevant ones."""
    return [r for r in interface.registers if r.table == "holding" and (r.access == "read" or r.legally_relevant)]


def _different(b: _Builder, reg: RegisterDecl) -> list[int]:
    return [b.rng.randrange(0x100, 0xFFFF) for _ in range(reg.count)]


def _sweep(b: _Builder) -> None:
    holding = [r for r in b.interface.registers if r.table == "holding"] or readable(b.interface)
    for function in range(1, 128):
        if function in b.interface.functions:
            continue
        for reg in holding:
            b.add("sweep", f"undocumented function {function} at {reg.name}", [_undocumented_frame(b, function, reg)])
    documented = {(r.table, a) for r in readable(b.interface) for a in r.span}
    top = max(a for _, a in documented)
    addresses = set(range(top + 17)) | {b.rng.randrange(0x10000) for _ in range(RANDOM_REGISTER_READS)}
    for table in ("input", "holding"):
        if READ_FUNCTIONS[table] not in b.interface.functions:
            continue
        for address in sorted(a for a in addresses if (table, a) not in documented):
            b.add("sweep", f"read undocumented {table} register {address}", [b.frame(read_pdu(table, address, 1))])


def _undocumented_frame(b: _Builder, function: int, reg: RegisterDecl) -> bytes:
    """A frame of an undocumented function aimed at a register: the real PDU where pymodbus knows the function
    (a mask write that flips bits, a write), else the address and a seeded payload."""
    if function == 22:
        return b.frame(MaskWriteRegisterRequest(address=reg.address, and_mask=0x0000, or_mask=b.rng.randrange(1, 0xFFFF)))
    if function in (6, 16):
        return b.frame(_write_pdu(function, reg.address, _different(b, reg)))
    payload = reg.address.to_bytes(2, "big") + bytes(b.rng.randrange(256) for _ in range(4))
    return b.wrap(bytes((function,)) + payload)


def _protected_writes(b: _Builder) -> None:
    for reg in _protected(b.interface):
        for function in (6, 16):
            b.add("protected", f"write {'legally relevant' if reg.legally_relevant else 'read-only'} {reg.name} "
                               f"(FC {function})", [b.frame(_write_pdu(function, reg.address, _different(b, reg)))])
    for reg in _writable(b.interface):
        low, high = reg.values
        for value in sorted({low - 1, high + 1} - {-1}):
            b.add("protected", f"write {reg.name} = {value}, outside its range {low}..{high}",
                  [b.frame(_write_pdu(16, reg.address, [value & 0xFFFF] * reg.count))])




def _flood(b: _Builder, frames: int) -> None:
    reg = _valid_read(b)
    burst = [b.frame(read_pdu(reg.table, reg.address, reg.count)) for _ in range(frames)]
    b.add("flood", f"flood: {frames} reads of {reg.name} back to back", burst, flood=True)
