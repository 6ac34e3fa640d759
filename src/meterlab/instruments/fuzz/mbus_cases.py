"""Fuzz cases for a wired M-Bus meter (EN 13757-2/-3), from its declared interface, deterministic from a seed.

Frames are built with meterlab's own M-Bus codec (`instruments/mbus.py`, the driver's) and then mutated. Groups
as for Modbus (`cases.py`): conformance (the documented commands), boundaries (primary addresses 0, 250..255),
grammar (bad checksums, L fields that disagree, wrong start or stop bytes, truncated and oversize frames, a
repeated REQ_UD2 whose FCB did not toggle, another address), sweep (every undocumented C field, every
undocumented CI of a SND_UD), protected (SND_UD data sends that would set the volume or the fabrication number)
and a bounded flood. A normal reply (E5, or a RSP_UD with a right checksum) to a malformed frame is a corrupted
frame accepted."""

from __future__ import annotations

import random

from meterlab.instruments import mbus
from meterlab.instruments.fuzz.cases import DEFAULT_FLOOD_FRAMES, FuzzCase
from meterlab.metrology.interface import MBusInterface

CI_DATA_SEND = 0x51  # SND_UD with data records: writes the records it carries [U as to which a meter takes]
REQ_UD2_FRESH = 0x4B  # REQ_UD2 without FCV: always a new telegram (the oracle's read)


class _Cases:
    def __init__(self, interface: MBusInterface, rng: random.Random):
        self.interface, self.rng, self.address = interface, rng, interface.primary_address
        self.cases: list[FuzzCase] = []

    def add(self, group: str, title: str, frames: list[bytes], **kwargs) -> None:
        self.cases.append(FuzzCase(len(self.cases), group, title, tuple(frames), **kwargs))


def generate_mbus_cases(interface: MBusInterface, seed: int, *, flood_frames: int = DEFAULT_FLOOD_FRAMES) -> list[FuzzCase]:
    cases = _Cases(interface, random.Random(seed))
    for group in (_conformance, _boundaries, _grammar, _sweep, _protected):
        group(cases)
    address = interface.primary_address
    burst = [mbus.req_ud2(address, bool(i % 2)) for i in range(flood_frames)]
    cases.add("flood", f"flood: {flood_frames} REQ_UD2 back to back", burst, flood=True)
    return cases.cases


def _conformance(b: _Cases) -> None:
    a = b.address
    b.add("conformance", "SND_NKE (link reset)", [mbus.snd_nke(a)])
    b.add("conformance", "REQ_UD2 with FCB set, then clear", [mbus.req_ud2(a, True), mbus.req_ud2(a, False)])
    if "REQ_UD1" in b.interface.commands:
        b.add("conformance", "REQ_UD1", [mbus.short_frame(mbus.C_REQ_UD1, a)])
    for ci in b.interface.snd_ud_ci:
        b.add("conformance", f"SND_UD with CI 0x{ci:02X}", [mbus.long_frame(mbus.C_SND_UD, a, ci)])


def _boundaries(b: _Cases) -> None:
    for address in (0, 250, 251, 252, 253, 254, 255):
        if address != b.address:
            b.add("boundaries", f"REQ_UD2 to primary address {address}", [mbus.short_frame(REQ_UD2_FRESH, address)])


def _grammar(b: _Cases) -> None:
    a = b.address
    read = mbus.short_frame(REQ_UD2_FRESH, a)
    b.add("grammar", "REQ_UD2 with a bad checksum", [read[:3] + bytes((read[3] ^ 0x01,)) + read[4:]], malformed=True)
    nke = mbus.snd_nke(a)
    b.add("grammar", "SND_NKE with a bad checksum", [nke[:3] + bytes((nke[3] ^ 0x80,)) + nke[4:]], malformed=True)
    b.add("grammar", "REQ_UD2 with a wrong stop byte", [read[:4] + b"\x17"], malformed=True)
    b.add("grammar", "REQ_UD2 with start byte 0x11", [b"\x11" + read[1:]], malformed=True)
    b.add("grammar", "REQ_UD2 cut short (4 bytes)", [read[:4]], malformed=True)
    send = mbus.long_frame(mbus.C_SND_UD, a, mbus.CI_APPLICATION_RESET)
    b.add("grammar", "SND_UD with a bad checksum", [send[:-2] + bytes((send[-2] ^ 0x10, send[-1]))], malformed=True)
    b.add("grammar", "SND_UD whose two L fields disagree", [send[:2] + bytes((send[2] + 1,)) + send[3:]], malformed=True)
    extra = bytes(b.rng.randrange(256) for _ in range(200))
    oversize = mbus.long_frame(mbus.C_SND_UD, a, mbus.CI_APPLICATION_RESET, extra)
    b.add("grammar", "SND_UD oversize (200 data bytes)", [oversize])
    b.add("grammar", "REQ_UD2 repeated with the same FCB (a master that missed the reply)",
          [mbus.req_ud2(a, True), mbus.req_ud2(a, True)])
    empty = 250 if a != 250 else 249
    nobody = mbus.short_frame(REQ_UD2_FRESH, empty)
    b.add("grammar", f"REQ_UD2 with a bad checksum to address {empty}", [nobody[:3] + bytes((nobody[3] ^ 0x01, 0x16))],
          malformed=True)


def _sweep(b: _Cases) -> None:
    documented = b.interface.documented_c()
    for c in range(256):
        if c not in documented:
            b.add("sweep", f"undocumented C field 0x{c:02X} (short frame)", [mbus.short_frame(c, b.address)])
    documented_ci = set(b.interface.snd_ud_ci)
    for ci in range(256):
        if ci not in documented_ci:
            data = bytes(b.rng.randrange(256) for _ in range(b.rng.randrange(0, 6)))
            b.add("sweep", f"SND_UD with undocumented CI 0x{ci:02X}", [mbus.long_frame(mbus.C_SND_UD, b.address, ci, data)])


def _protected(b: _Cases) -> None:
    """Data sends (CI 0x51) that would overwrite each declared record: none may take effect."""
    for record in b.interface.records:
        dif = 0x04 | (0x40 if record.storage & 1 else 0)  # a 32-bit integer, the record's storage number's low bit
        value = b.rng.randrange(1, 10**6)
        data = mbus.encode_record(dif, record.vif, mbus.encode_int(value, 4))
        b.add("protected", f"SND_UD data send: {record.name} = {value}",
              [mbus.long_frame(mbus.C_SND_UD, b.address, CI_DATA_SEND, data)])
