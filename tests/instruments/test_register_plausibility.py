"""Register readings are checked before they are returned: NaN, out of the declared range, backwards, too far
ahead are refused (ImplausibleValue, never a value); a roll-over of the counter is unwrapped once."""

import pytest

from meterlab.errors import InputFileError
from meterlab.instruments import mbus
from meterlab.instruments.errors import ImplausibleValue
from meterlab.instruments.iolog import Direction, MemoryIOLog
from meterlab.instruments.meter_readout import MODBUS_METER_MODELS, MBusMeter, ModbusMeter, load_modbus_meter_models
from meterlab.instruments.plausibility import CounterLimits, CounterTrack, Implausible
from meterlab.instruments.testing import expected_protocol

hx = bytes.fromhex
READ_ML = hx("04 0000 0002")  # generic_uint32_ml: input registers 0-1, high word first
READ_M3 = hx("03 0064 0002")  # generic_float32_m3: holding 100-101, low word first


def counts(value: int) -> bytes:
    return hx("04 04") + value.to_bytes(4, "big")


def float_m3(value: float) -> bytes:
    import struct
    raw = struct.pack(">f", value)
    return hx("03 04") + raw[2:] + raw[:2]  # low word first


def test_a_uint32_roll_over_is_unwrapped_and_differences_stay_right():
    with expected_protocol(ModbusMeter, [
        (READ_ML, counts(2**32 - 1500)),  # 1.5 L below the roll-over
        (READ_ML, counts(2500)),  # 4 L later: rolled over
        (READ_ML, counts(3500)),
    ], options={"model": "generic_uint32_ml"}) as meter:
        before = meter.read_register()
        after = meter.read_register()
        assert after.raw == 2500 and after.rollovers == 1 and after.unwrapped == 2**32 + 2500
        assert after.volume_l - before.volume_l == pytest.approx(4.0, abs=1e-9)
        assert meter.read_volume_l() - before.volume_l == pytest.approx(5.0, abs=1e-9)


def test_a_backward_step_that_is_no_roll_over_is_refused_and_nothing_is_recorded():
    log = MemoryIOLog()
    with expected_protocol(ModbusMeter, [
        (READ_ML, counts(123_456)),
        (READ_ML, counts(123_000)),  # 0.456 L backwards: a roll-over would mean 4 294 967 L in between
        (READ_ML, counts(123_500)),
    ], options={"model": "generic_uint32_ml"}, iolog=log, name="meter1-modbus") as meter:
        assert meter.read_volume_l() == 123.456
        with pytest.raises(ImplausibleValue) as info:
            meter.read_volume_l()
        assert info.value.instrument == "meter1-modbus"
        assert info.value.command == "read input 0+2 (unit 1): volume register"
        assert "123000 counts, lower than the previous reading 123456" in info.value.got
        assert "the register went backwards" in info.value.expected
        assert log.entries()[-1].direction is Direction.ERROR
        assert meter.read_volume_l() == 123.5  # compared with the last accepted reading, not the refused one


@pytest.mark.parametrize("value, got, expected", [
    (float("nan"), "= nan", "a finite number"),
    (float("inf"), "= inf", "a finite number"),
    (-12.5, "= -12.5 m3", "declared range 0 .. 99999999 m3"),
    (3.0e12, "e+12 m3", "declared range 0 .. 99999999 m3"),
])
def test_nan_infinite_negative_and_huge_floats_are_refused(value, got, expected):
    with expected_protocol(ModbusMeter, [(READ_M3, float_m3(value))], options={"model": "generic_float32_m3"}) as meter:
        with pytest.raises(ImplausibleValue) as info:
            meter.read_volume_l()
    assert got in info.value.got and expected in info.value.expected


def test_a_step_beyond_the_maps_max_step_is_refused():
    with expected_protocol(ModbusMeter, [(READ_M3, float_m3(12.345)), (READ_M3, float_m3(50_000.0))],
                           options={"model": "generic_float32_m3"}) as meter:
        assert meter.read_volume_l() == 12345.0
        with pytest.raises(ImplausibleValue, match=r"at most 10000 m3 between two reads"):
            meter.read_volume_l()


def test_the_shipped_maps_declare_source_confidence_range_and_roll_over():
    for model in MODBUS_METER_MODELS.values():
        assert model.source and model.confidence in ("V", "S", "U")
        assert model.volume.range[0] < model.volume.range[1]
    assert MODBUS_METER_MODELS["generic_uint32_ml"].volume.limits() == CounterLimits(
        0.0, 4294967295.0, 4294967296.0, 2147483648.0, "counts", (4294967295.0,))


def test_the_no_value_marker_is_refused_even_on_a_first_read():
    with expected_protocol(ModbusMeter, [(READ_ML, counts(0xFFFF_FFFF))], options={"model": "generic_uint32_ml"}) as meter:
        with pytest.raises(ImplausibleValue, match="4294967295 counts, the register map's no-value marker; "
                                                   r"expected a value \(the meter has none to send\)"):
            meter.read_volume_l()


def test_a_bad_register_map_file_names_the_line_and_field(tmp_path):
    path = tmp_path / "maps.yaml"
    path.write_text("models:\n  acme:\n    description: x\n    source: manual p. 4\n    confidence: V\n"
                    "    volume: {table: input, address: 0, type: float32, unit: L, range: [0, 10], rollover: 100}\n"
                    "    serial: {table: input, address: 2, type: uint32}\n")
    with pytest.raises(InputFileError, match=r"maps.yaml:6.*float32 register does not roll over"):
        load_modbus_meter_models(path)


def test_the_counter_track_unwraps_only_one_roll_over_between_reads():
    track = CounterTrack(CounterLimits(0, 99_999_999, 100_000_000, 50_000_000))  # an 8-digit BCD display
    assert track.accept(99_999_990) == 99_999_990
    assert track.accept(5) == 100_000_005
    assert track.accept(40_000_000) == 140_000_000
    with pytest.raises(Implausible, match="a roll-over .* implying a step of at most 50000000"):
        track.accept(39_999_999)  # 1 count backwards: not a roll-over
    with pytest.raises(Implausible, match="a step of 50000001 counts"):
        track.accept(90_000_001)  # too far ahead
    with pytest.raises(Implausible, match="declared range"):
        track.accept(100_000_000)
    assert track.rollovers == 1 and track.previous_raw == 40_000_000


# -- M-Bus records, byte-exact ----------------------------------------------------------------------------------

REQ_UD2 = hx("10 7B 01 7C 16")  # FCB set after the link reset


def telegram(counts: int, *, bcd: bool = True) -> bytes:
    return mbus.encode_rsp_ud(1, identification=12345678, manufacturer="SIM", version=1, medium=7, access_number=5,
                              records=mbus.volume_record(counts, 0x10, bcd=bcd))  # VIF 0x10: mL


def reads(*telegrams):
    return [exchange for t in telegrams for exchange in ((mbus.snd_nke(1), hx("E5")), (REQ_UD2, t))]


def test_an_mbus_register_going_backwards_is_refused_unless_the_meter_rolls_over():
    with expected_protocol(MBusMeter, reads(telegram(99_999_000), telegram(500)),
                           options={"primary_address": 1}, wiring={"addr1": "meter1"}) as meter:
        assert meter.read_volume_l() == 99_999.0
        with pytest.raises(ImplausibleValue) as info:
            meter.read_volume_l()
    assert info.value.got.startswith("500 counts of 0.001 L, lower than the previous reading 99999000 from primary "
                                     "address 1 (DIF 0x0C VIF 0x10")
    assert "this register does not roll over" in info.value.expected
    with expected_protocol(MBusMeter, reads(telegram(99_999_000), telegram(500)),
                           options={"primary_address": 1, "register_rolls_over": True},
                           wiring={"addr1": "meter1"}) as meter:
        assert meter.read_volume_l() == 99_999.0
        assert meter.read_volume_l() == pytest.approx(100_000.5, abs=1e-9)  # 1.5 L across the 8-digit roll-over


def test_an_mbus_meter_switching_coding_is_still_compared_with_its_last_reading_in_each():
    with expected_protocol(MBusMeter, reads(telegram(5000), telegram(6000, bcd=False), telegram(4000)),
                           options={"primary_address": 1}, wiring={"addr1": "meter1"}) as meter:
        assert meter.read_volume_l() == 5.0
        assert meter.read_volume_l() == 6.0
        with pytest.raises(ImplausibleValue, match="4000 counts of 0.001 L, lower than the previous reading 5000"):
            meter.read_volume_l()
