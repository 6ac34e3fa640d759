"""The M-Bus frame codec (EN 13757-2/-3): byte-exact frames, RSP_UD decoding, records, and every rejection."""

import pytest

from meterlab.instruments import mbus
from meterlab.instruments.mbus import MBusApplicationError, MBusFrameError

hx = bytes.fromhex

# A RSP_UD built by hand: address 1, ID 12345678, manufacturer SIM (0x4D2D), version 1, medium 07 (water),
# access number 5, status 0, signature 0; records 0C 13 (BCD volume in litres) = 12345 L and 0C 78
# (fabrication number) = 12345678. L = 3 + 12 + 12 = 27 = 0x1B; CS = sum(08 .. 12) mod 256 = 0x436 -> 0x36.
KNOWN_RSP_UD = hx(
    "68 1B 1B 68"
    " 08 01 72"
    " 78 56 34 12  2D 4D  01  07  05  00  00 00"
    " 0C 13 45 23 01 00"
    " 0C 78 78 56 34 12"
    " 36 16"
)


def rsp_ud(records: bytes, *, address: int = 1, status: int = 0, signature: int = 0, c: int = 0x08) -> bytes:
    return mbus.encode_rsp_ud(address, identification=12345678, manufacturer="SIM", version=1, medium=7,
                              access_number=5, status=status, records=records, signature=signature, c=c)


def with_checksum(frame: bytearray) -> bytes:
    frame[-2] = mbus.checksum(bytes(frame[4:-2]))
    return bytes(frame)


# -- frames ---------------------------------------------------------------------------------------------------


def test_master_frames_are_byte_exact():
    assert mbus.snd_nke(1) == hx("10 40 01 41 16")
    assert mbus.snd_nke(0xFF) == hx("10 40 FF 3F 16")
    assert mbus.req_ud2(1, fcb=True) == hx("10 7B 01 7C 16")
    assert mbus.req_ud2(5, fcb=False) == hx("10 5B 05 60 16")
    assert mbus.long_frame(0x53, 1, 0x50) == hx("68 03 03 68 53 01 50 A4 16")  # application reset


def test_the_encoder_builds_the_hand_made_telegram():
    records = mbus.volume_record(12345, mbus.VIF_VOLUME_L) + hx("0C 78 78 56 34 12")
    assert rsp_ud(records) == KNOWN_RSP_UD


def test_the_hand_made_telegram_decodes():
    telegram = mbus.decode_rsp_ud(KNOWN_RSP_UD, address=1)
    assert (telegram.identification, telegram.manufacturer, telegram.version) == ("12345678", "SIM", 1)
    assert (telegram.medium_name, telegram.access_number, telegram.status) == ("water", 5, 0)
    assert telegram.volume_record.volume_l == 12345.0
    assert telegram.volume_record.volume_step_l == 1.0
    assert telegram.fabrication_number == "12345678"
    assert not telegram.more_records_follow and telegram.problem is None


@pytest.mark.parametrize("dif, vif, data, expected_l, step_l", [
    (0x0C, 0x10, "78 56 34 12", 12345.678, 0.001),        # BCD, 1 mL
    (0x04, 0x10, "4E 61 BC 00", 12345.678, 0.001),        # int32 12345678, 1 mL
    (0x0C, 0x11, "99 99 99 99", 999999.99, 0.01),         # BCD, 10 mL
    (0x04, 0x12, "01 00 00 00", 0.1, 0.1),                # int32, 0.1 L
    (0x0C, 0x13, "45 23 01 00", 12345.0, 1.0),            # BCD, litres
    (0x04, 0x13, "FF FF FF FF", -1.0, 1.0),               # int32 is signed
    (0x0C, 0x14, "07 00 00 00", 70.0, 10.0),              # BCD, 10 L
    (0x04, 0x15, "10 27 00 00", 1e6, 100.0),              # int32 10000 x 0.1 m³
    (0x04, 0x16, "10 27 00 00", 1e7, 1000.0),             # int32 10000 m³
    (0x0C, 0x17, "21 43 65 87", 87654321e4, 10000.0),     # BCD, 10 m³
    (0x0A, 0x15, "34 12", 123400.0, 100.0),               # 4-digit BCD
    (0x02, 0x13, "FE FF", -2.0, 1.0),                     # int16
])
def test_volume_at_every_exponent_and_type(dif, vif, data, expected_l, step_l):
    telegram = mbus.decode_rsp_ud(rsp_ud(mbus.encode_record(dif, vif, hx(data))))
    record = telegram.volume_record
    assert record.volume_l == expected_l  # exact: 12345.678, not 12345.678000000001
    assert record.volume_step_l == step_l


def test_volume_vif_for_a_resolution():
    assert [mbus.volume_vif_for(s) for s in (0.001, 0.01, 0.05, 0.1, 1, 2.5, 1000, 1e5)] == [
        0x10, 0x11, 0x11, 0x12, 0x13, 0x13, 0x16, 0x17]


def test_bcd_and_manufacturer_codings():
    assert mbus.encode_bcd(12345678, 4) == hx("78 56 34 12")
    assert mbus.decode_bcd(hx("78 56 34 12")) == 12345678
    assert mbus.decode_bcd(hx("21 43 F5")) == -54321
    with pytest.raises(MBusFrameError, match="invalid BCD"):
        mbus.decode_bcd(hx("7A 56"))
    with pytest.raises(ValueError):
        mbus.encode_bcd(123456789, 4)
    assert mbus.encode_manufacturer("SIM") == hx("2D 4D")
    assert mbus.decode_manufacturer(hx("2D 2C")) == "KAM"
    with pytest.raises(ValueError):
        mbus.encode_manufacturer("sim")


# -- rejections -----------------------------------------------------------------------------------------------


def test_bad_checksum_is_rejected():
    frame = bytearray(KNOWN_RSP_UD)
    frame[-2] ^= 0x01
    with pytest.raises(MBusFrameError, match="bad checksum: the frame says 0x37, the bytes sum to 0x36"):
        mbus.decode_rsp_ud(bytes(frame))
    frame = bytearray(KNOWN_RSP_UD)
    frame[20] ^= 0x40  # a data byte: the checksum no longer matches
    with pytest.raises(MBusFrameError, match="bad checksum"):
        mbus.decode_rsp_ud(bytes(frame))


@pytest.mark.parametrize("frame, message", [
    (hx("68 1B 1C 68") + KNOWN_RSP_UD[4:], "the two length fields differ"),
    (KNOWN_RSP_UD[:-3] + KNOWN_RSP_UD[-2:], "announces 33 bytes, got 32 .short telegram"),
    (KNOWN_RSP_UD + hx("16"), "bytes after the stop byte"),
    (KNOWN_RSP_UD[:6], "at least 9 bytes"),
    (KNOWN_RSP_UD[:-1] + hx("17"), "stop byte is 0x17"),
    (hx("69") + KNOWN_RSP_UD[1:], "start byte 0x69"),
    (KNOWN_RSP_UD[:3] + hx("69") + KNOWN_RSP_UD[4:], "second start byte"),
    (hx("10 08 01 09 16"), "short frame where a RSP_UD"),
    (b"", "empty frame"),
])
def test_bad_framing_and_length_are_rejected(frame, message):
    with pytest.raises(MBusFrameError, match=message):
        mbus.decode_rsp_ud(frame)


@pytest.mark.parametrize("c", [0x53, 0x40, 0x7B, 0x09, 0x48])
def test_a_c_field_other_than_rsp_ud_is_rejected(c):
    with pytest.raises(MBusFrameError, match=f"C field 0x{c:02X} is not a RSP_UD"):
        mbus.decode_rsp_ud(rsp_ud(b"", c=c))


@pytest.mark.parametrize("c", [0x08, 0x18, 0x28, 0x38])
def test_rsp_ud_with_acd_and_dfc_bits_is_accepted(c):
    assert mbus.decode_rsp_ud(rsp_ud(b"", c=c)).c == c


def test_reply_from_another_address_wrong_ci_and_too_short_a_header_are_rejected():
    with pytest.raises(MBusFrameError, match="from primary address 1, not 2"):
        mbus.decode_rsp_ud(KNOWN_RSP_UD, address=2)
    with pytest.raises(MBusFrameError, match="CI field 0x78"):
        mbus.decode_rsp_ud(mbus.long_frame(0x08, 1, 0x78, KNOWN_RSP_UD[7:-2]))
    with pytest.raises(MBusFrameError, match="short telegram: 5 bytes after CI"):
        mbus.decode_rsp_ud(mbus.long_frame(0x08, 1, 0x72, KNOWN_RSP_UD[7:12]))
    with pytest.raises(MBusFrameError, match="identification number 1234567A is not BCD"):
        mbus.decode_rsp_ud(mbus.long_frame(0x08, 1, 0x72, hx("7A 56 34 12") + KNOWN_RSP_UD[11:-2]))
    with pytest.raises(MBusFrameError, match="encrypted .signature 0x0500"):
        mbus.decode_rsp_ud(rsp_ud(b"", signature=0x0500))


def test_application_error_telegram():
    frame = mbus.application_error(3, 8)
    assert frame == hx("68 04 04 68 08 03 70 08 83 16")
    with pytest.raises(MBusApplicationError, match="address 3 reports an application error: code 8 .application too busy"):
        mbus.decode_rsp_ud(frame, address=3)


# -- records --------------------------------------------------------------------------------------------------


def test_unknown_records_are_skipped_and_the_present_volume_is_chosen():
    records = (
        hx("2F 2F")                                   # idle fillers
        + hx("4C 13 00 10 00 00")                     # storage 1 (due date): 1000 L, not the present value
        + hx("8C 10 13 99 99 00 00")                  # DIFE: tariff 1, not the present value
        + hx("0C 93 3C 11 11 00 00")                  # volume with a VIFE (backward flow): not the register
        + hx("02 FD 17 00 00")                        # error flags (VIF FD + VIFE)
        + hx("0D FD 11 03") + b"CBA"                  # variable length string (customer), LVAR 3
        + hx("04 FF 81 02 01 02 03 04")               # manufacturer-specific VIF with VIFEs
        + hx("0C 7C 02") + b"ab" + hx("01 00 00 00")  # plain-text VIF
        + hx("05 3B 00 00 C0 3F")                     # volume flow, real32 1.5
        + hx("0C 13 67 45 23 01")                     # the present volume: 1234567 L
        + hx("0F 01 02 03")                           # manufacturer data to the end
    )
    telegram = mbus.decode_rsp_ud(rsp_ud(records))
    assert telegram.volume_record.volume_l == 1234567.0
    assert telegram.manufacturer_data == hx("01 02 03") and not telegram.more_records_follow
    assert [r.storage_number for r in telegram.records[:2]] == [1, 0]
    assert telegram.records[1].tariff == 1
    assert telegram.records[4].value == "ABC"  # strings come last character first
    assert telegram.records[6].vif_text == "ba"
    assert telegram.records[7].value == 1.5
    assert telegram.fabrication_number is None


def test_more_records_follow_and_reserved_codings_stop_parsing_safely():
    more = mbus.decode_rsp_ud(rsp_ud(hx("0C 78 01 00 00 00 1F")))
    assert more.more_records_follow and more.volume_record is None
    assert more.fabrication_number == "00000001"
    reserved = mbus.decode_rsp_ud(rsp_ud(hx("0C 13 01 00 00 00 3F 0C 13 02 00 00 00")))
    assert reserved.volume_record.volume_l == 1.0
    assert "reserved special DIF 0x3F at byte 6" in reserved.problem
    lvar = mbus.decode_rsp_ud(rsp_ud(hx("0D 13 F9 01 02 0C 13 02 00 00 00")))
    assert lvar.records == () and "reserved LVAR 0xF9" in lvar.problem


@pytest.mark.parametrize("records, message", [
    (hx("0C 13 45 23"), "data .4 bytes. runs past the end"),
    (hx("84"), "DIFE runs past the end"),
    (hx("04 93"), "VIFE runs past the end"),
    (hx("0D 13 05 41 42"), "data .5 bytes. runs past the end"),
    (hx("04 FF") + hx("FF") * 11 + hx("00 00 00 00"), "more than 10 VIFEs"),
])
def test_a_record_running_past_the_end_is_an_error(records, message):
    with pytest.raises(MBusFrameError, match=message):
        mbus.decode_rsp_ud(rsp_ud(records))


def test_invalid_bcd_in_the_volume_is_an_error_when_read():
    telegram = mbus.decode_rsp_ud(rsp_ud(hx("0C 13 45 23 0A 00")))
    with pytest.raises(MBusFrameError, match="invalid BCD"):
        telegram.volume_record.volume_l


def test_status_byte_problems_are_worded():
    telegram = mbus.decode_rsp_ud(rsp_ud(b"", status=0x0A))
    assert telegram.status_problems() == ["application error", "permanent error"]
