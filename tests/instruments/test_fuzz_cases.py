"""The fuzz case generator (issue 16, part 2): cases come from the declared interface, every group the campaign
needs is there with the values it must hold, malformed frames really are malformed, and the list is a pure
function of the interface and the seed (a finding replays by its number)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from pymodbus.framer import FramerSocket
from pymodbus.pdu import DecodePDU

from meterlab.instruments.fuzz.cases import DEFAULT_FLOOD_FRAMES, generate_cases
from meterlab.metrology.declarations import load_meter
from meterlab.metrology.interface import ModbusInterface

ROOT = Path(__file__).resolve().parents[2]
SERVER_FRAMER = FramerSocket(DecodePDU(True))


@pytest.fixture(scope="module")
def interface() -> ModbusInterface:
    declaration, _ = load_meter(ROOT / "examples" / "meters" / "dn15-class2-modbus.yaml")
    return declaration.interface.modbus


@pytest.fixture(scope="module")
def cases(interface):
    return generate_cases(interface, seed=5)


def by_group(cases, group):
    return [c for c in cases if c.group == group]


def mbap(frame: bytes) -> tuple[int, int, int, int]:
    return struct.unpack(">HHHB", frame[:7])


def test_the_same_seed_gives_the_same_cases_and_another_seed_other_random_ones(interface, cases):
    assert generate_cases(interface, seed=5) == cases
    other = generate_cases(interface, seed=6)
    assert [c.title for c in by_group(other, "conformance")] == [c.title for c in by_group(cases, "conformance")]
    assert [c.frames for c in other] != [c.frames for c in cases]  # seeded parts differ
    assert [c.number for c in cases] == list(range(len(cases)))


def test_conformance_reads_every_register_and_writes_the_bounds_of_the_writable_one(cases):
    titles = [c.title for c in by_group(cases, "conformance")]
    for name in ("volume", "serial", "software_id", "meter_factor", "display_mode"):
        assert any(t.startswith(f"read {name} ") for t in titles), name
    writes = [c for c in by_group(cases, "conformance") if c.allowed]
    assert {c.title for c in writes} == {f"write display_mode = {v} (FC {f})" for v in (0, 3) for f in (6, 16)}
    for case in by_group(cases, "conformance"):  # valid frames: a server decodes them
        _, pdu = SERVER_FRAMER.handleFrame(case.frames[0], 0, 0)
        assert pdu is not None and not case.malformed


def test_boundaries_cover_addresses_and_quantities_around_the_map(cases):
    seen = set()
    for case in by_group(cases, "boundaries"):
        function, address, count = struct.unpack(">BHH", case.frames[0][7:12])
        seen.add((function, address, count))
    for function, last in ((4, 5), (3, 2)):  # input 0..5, holding 0..2 are declared
        for address in (0, last, last + 1, 0xFFFF):
            for count in (0, 1, 125, 126):
                assert (function, address, count) in seen


def test_grammar_mutations_are_really_malformed(interface, cases):
    grammar = {c.title.split(": ", 1)[-1]: c for c in by_group(cases, "grammar")}
    short = grammar["MBAP length one short"].frames[0]
    assert mbap(short)[2] == len(short) - 6 - 1
    long = grammar["MBAP length one long"].frames[0]
    assert mbap(long)[2] == len(long) - 6 + 1
    assert mbap(grammar["protocol id 1"].frames[0])[1] == 1
    assert mbap(grammar[f"unit id {interface.unit + 1} (not the meter's)"].frames[0])[3] == interface.unit + 1
    for cut in (1, 2, 4):
        assert len(grammar[f"PDU truncated to {cut} byte(s)"].frames[0]) == 7 + cut
    replayed = next(c for c in by_group(cases, "grammar") if c.title.startswith("replayed"))
    assert replayed.frames[0] == replayed.frames[1]
    out_of_order = next(c for c in by_group(cases, "grammar") if c.title.startswith("out-of-order"))
    assert mbap(out_of_order.frames[0])[0] > mbap(out_of_order.frames[1])[0]
    broadcast = next(c for c in by_group(cases, "grammar") if c.title.startswith("broadcast"))
    assert mbap(broadcast.frames[0])[3] == 0 and not broadcast.allowed
    assert all(c.malformed for c in by_group(cases, "grammar")
               if "MBAP" in c.title or "truncated" in c.title or "unit id" in c.title or "protocol id" in c.title)


def test_the_sweep_tries_every_undocumented_function_and_registers_off_the_map(interface, cases):
    sweep = by_group(cases, "sweep")
    functions = {c.frames[0][7] for c in sweep if c.title.startswith("undocumented function")}
    assert functions == set(range(1, 128)) - set(interface.functions)
    mask_writes = [c for c in sweep if c.title.startswith("undocumented function 22 ")]
    assert {c.title.rsplit(" at ", 1)[1] for c in mask_writes} == {"meter_factor", "display_mode"}
    reads = {c.title for c in sweep if c.title.startswith("read undocumented")}
    assert "read undocumented input register 6" in reads and "read undocumented holding register 3" in reads
    assert not any(c.allowed for c in sweep)


def test_protected_and_flood_cases(cases):
    protected = {c.title for c in by_group(cases, "protected")}
    assert {"write legally relevant meter_factor (FC 6)", "write legally relevant meter_factor (FC 16)",
            "write display_mode = 4, outside its range 0..3"} <= protected
    (flood,) = by_group(cases, "flood")
    assert flood.flood and len(flood.frames) == DEFAULT_FLOOD_FRAMES
    assert len({mbap(f)[0] for f in flood.frames}) == DEFAULT_FLOOD_FRAMES  # each its own transaction


def test_rtu_cases_carry_their_crc_and_the_corrupted_ones_a_wrong_one(interface):
    from pymodbus.framer import FramerRTU

    rtu = generate_cases(interface.model_copy(update={"transport": "rtu"}), seed=5)

    def crc_ok(frame: bytes) -> bool:
        return FramerRTU.compute_CRC(frame[:-2]).to_bytes(2, "big") == frame[-2:]

    for case in rtu:
        if case.group in ("conformance", "boundaries", "protected", "flood"):
            assert all(crc_ok(f) for f in case.frames), case.title
    bad_crc = [c for c in rtu if "bad CRC" in c.title]
    assert len(bad_crc) == 3 and all(c.malformed and not crc_ok(c.frames[0]) for c in bad_crc)
    assert any(c.title.startswith("write display_mode") for c in bad_crc)
    assert not any(c.title.startswith("out-of-order") or "MBAP" in c.title for c in rtu)
    assert [c.title for c in by_group(rtu, "conformance")] == [
        c.title for c in by_group(generate_cases(interface, seed=5), "conformance")]


def test_mbus_cases_from_the_declared_records_and_commands():
    from meterlab.instruments import mbus
    from meterlab.instruments.fuzz.mbus_cases import generate_mbus_cases

    declaration, _ = load_meter(ROOT / "examples" / "meters" / "dn15-class2-mbus-fuzz.yaml")
    interface = declaration.interface.mbus
    cases = generate_mbus_cases(interface, seed=2)
    assert cases == generate_mbus_cases(interface, seed=2)
    swept = {c.frames[0][1] for c in by_group(cases, "sweep") if c.title.startswith("undocumented C field")}
    assert swept == set(range(256)) - interface.documented_c()
    cis = {c.frames[0][6] for c in by_group(cases, "sweep") if c.title.startswith("SND_UD with undocumented CI")}
    assert cis == set(range(256)) - {0x50}
    for case in by_group(cases, "grammar"):
        if "checksum" in case.title:
            assert case.malformed
            with pytest.raises(mbus.MBusFrameError):
                mbus.decode_frame(case.frames[0])
    assert {c.title.split(": ")[1].split(" =")[0] for c in by_group(cases, "protected")} == {
        "fabrication_number", "volume", "due_date_volume"}
    assert {c.frames[0][2] for c in by_group(cases, "boundaries")} == {0, 250, 251, 252, 253, 254, 255}
