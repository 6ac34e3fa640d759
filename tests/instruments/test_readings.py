"""One reading format (issue 16, part 4): readings decoded from the simulated meters (M-Bus, Modbus), from OBIS
codes (data only) and from refused reads validate against the shipped schema; a reading that does not fit is
refused with a message naming the field."""

import json
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources

import pytest

from meterlab.instruments.errors import ImplausibleValue
from meterlab.instruments.readings.decoders import dlms_reading, rejected_reading
from meterlab.instruments.readings.obis import obis_table
from meterlab.instruments.readings.schema import (
    SCHEMA_VERSION,
    ReadingFormatError,
    reading_schema,
    validate_reading,
)
from meterlab.sim.scenario import FaultSpec

NOON = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def flowed(lab, rig):
    rig["valves"].open_start_valve()
    rig["pump"].run(75)
    lab.clock.sleep(30, max_real_s=3)
    rig.safe_state()
    lab.clock.sleep(60, max_real_s=3)


def round_trip(reading):
    """As a JSON file holds it: what an export writes and a reader loads."""
    return json.loads(json.dumps(reading, allow_nan=False))


def test_the_schema_is_shipped_in_the_package_and_versioned():
    text = resources.files("meterlab.instruments.readings").joinpath("meter-reading-v1.json").read_text()
    schema = json.loads(text)
    assert schema == reading_schema()
    assert schema["properties"]["schema"] == {"const": SCHEMA_VERSION, "description": "this format and its version"}
    assert schema["$id"].endswith(":1")


def test_mbus_readings_from_the_simulated_meters_validate(lab, rig, flowed):
    gateway = rig.by_role("mut_mbus_gateway")
    for position in (1, 2):
        reading = validate_reading(round_trip(gateway.read_meter_reading(meter=f"meter{position}", timestamp=NOON)))
        assert reading["value"] == pytest.approx(lab.world.read(f"meter{position}.register_l"), abs=1e-9)
        assert reading["meter"]["kind"] == "water" and reading["meter"]["medium"] == "water"
        assert reading["quantity"] == "volume" and reading["unit"] == "L"
        assert reading["source"]["interface"] == "mbus" and reading["source"]["address"] == str(position)
        assert reading["source"]["register"].startswith("DIF 0x0C VIF 0x1")  # 8-digit BCD volume
        assert isinstance(reading["consecutive_number"], int) and reading["status"] == {"raw": 0, "flags": []}
        assert reading["integrity"] == {"result": "ok"} and reading["timestamp"] == "2026-12-06T12:00:00+00:00"
    assert reading["resolution"] == 0.01  # meter2's register resolution


def test_modbus_readings_from_the_simulated_meter_validate(lab, rig, flowed):
    meter = rig.by_role("mut_modbus")
    reading = validate_reading(round_trip(meter.read_meter_reading(timestamp=NOON)))
    assert reading["value"] == pytest.approx(lab.world.read("meter1.register_l"), abs=1e-9)
    assert reading["meter"] == {"identification": "1", "kind": "water", "model": "generic_uint32_ml"}
    assert reading["resolution"] == 0.001 and reading["consecutive_number"] is None
    assert reading["source"]["register"] == "input 0+2 uint32 big"
    assert reading["source"]["raw_value"] == round(reading["value"] * 1000)


def test_a_refused_read_becomes_a_rejected_reading_without_a_value(lab, rig, flowed):
    meter = rig.by_role("mut_modbus")
    meter.read_volume_l()
    lab.inject(FaultSpec(kind="value_huge", instrument=meter.name, at_s=lab.clock.now()))
    try:
        with pytest.raises(ImplausibleValue) as info:
            meter.read_meter_reading(timestamp=NOON)
    finally:
        lab.clear_faults()
    reading = rejected_reading(identification="1", kind="water", interface="modbus", reason=str(info.value),
                               timestamp=NOON, instrument=meter.name, register="input 0+2")
    assert validate_reading(round_trip(reading))["value"] is None
    assert "implausible value refused" in reading["integrity"]["reason"]


@pytest.mark.parametrize("obis, value, scaler, unit, kind, quantity, expected", [
    ("7-0:3.0.0.255", 12345, -3, 13, "gas", "volume", (12.345, "m3", 0.001)),
    ("8-0:1.0.0.255", 987654, -2, 13, "water", "volume", (9876.54, "m3", 0.01)),
    ("1-0:1.8.0.255", 1234567, 0, 30, "electricity", "energy", (1234567.0, "Wh", 1.0)),
])
def test_dlms_registers_decode_by_their_obis_code(obis, value, scaler, unit, kind, quantity, expected):
    reading = validate_reading(round_trip(dlms_reading(obis, value, scaler, unit, identification="LGZ1030012345678",
                                                       timestamp=NOON, frame_counter=17, raw=b"\x00\x12")))
    assert (reading["meter"]["kind"], reading["quantity"]) == (kind, quantity)
    assert (reading["value"], reading["unit"], reading["resolution"]) == expected
    assert reading["source"] == {"interface": "dlms", "register": obis, "raw": "00 12", "raw_value": value}
    assert reading["consecutive_number"] == 17


def test_every_obis_code_and_dlms_unit_states_its_source_and_confidence():
    table = obis_table()
    assert {"7-0:3.0.0.255", "8-0:1.0.0.255", "1-0:1.8.0.255"} <= set(table.codes)
    for entry in [*table.codes.values(), *table.units.values()]:
        assert entry.source and entry.confidence in ("V", "S", "U")


def test_an_unknown_obis_code_or_a_unit_of_the_wrong_quantity_is_refused():
    with pytest.raises(ReadingFormatError, match=r"source.register: OBIS code 7-0:99.0.0.255 is not in obis-codes"):
        dlms_reading("7-0:99.0.0.255", 1, 0, 13, identification="x", timestamp=NOON)
    with pytest.raises(ReadingFormatError, match=r"unit: DLMS unit 30 is not a unit of volume for 7-0:3.0.0.255"):
        dlms_reading("7-0:3.0.0.255", 1, 0, 30, identification="x", timestamp=NOON)


def good():
    return dlms_reading("8-0:1.0.0.255", 1000, -3, 13, identification="W-1", timestamp=NOON)


def test_a_reading_missing_a_field_is_refused_naming_it():
    reading = good()
    del reading["timestamp"]
    with pytest.raises(ReadingFormatError) as info:
        validate_reading(reading)
    assert info.value.problems == [("(the reading)", "'timestamp' is a required property")]
    assert "meter reading refused, it does not fit meter-reading/1 (1 problem(s))" in str(info.value)
    reading = good()
    del reading["meter"]["kind"]
    del reading["integrity"]["result"]
    with pytest.raises(ReadingFormatError) as info:
        validate_reading(reading)
    assert info.value.problems == [("integrity", "'result' is a required property"),
                                   ("meter", "'kind' is a required property")]


@pytest.mark.parametrize("change, field, message", [
    (lambda r: r["integrity"].update(result="rejected", reason="bad CRC"), "value", "is not of type 'null'"),
    (lambda r: r["integrity"].update(result="rejected"), "integrity", "'reason' is a required property"),
    (lambda r: r.update(value=None), "value", "None is not of type 'number'"),
    (lambda r: r.update(value=float("nan")), "value", "nan is not a finite number"),
    (lambda r: r["meter"].update(kind="heat"), "meter.kind", "'heat' is not one of"),
    (lambda r: r.update(timestamp="2026-12-06 12:00"), "timestamp", "does not match"),
    (lambda r: r["source"].update(interface="wmbus"), "source.interface", "'wmbus' is not one of"),
    (lambda r: r.update(extra=1), "(the reading)", "Additional properties are not allowed ('extra' was unexpected)"),
])
def test_a_reading_that_does_not_fit_is_refused_naming_the_field(change, field, message):
    reading = good()
    change(reading)
    with pytest.raises(ReadingFormatError) as info:
        validate_reading(reading)
    assert any(f == field and message in m for f, m in info.value.problems), info.value.problems


def test_a_timestamp_must_carry_its_zone():
    assert good()["timestamp"] == "2026-12-06T12:00:00+00:00"
    local = datetime(2026, 12, 6, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert dlms_reading("8-0:1.0.0.255", 1, 0, 13, identification="W-1", timestamp=local)["timestamp"].endswith("+01:00")
    with pytest.raises(ReadingFormatError, match="timestamp: 2026-12-06T12:00:00 has no time zone"):
        dlms_reading("8-0:1.0.0.255", 1, 0, 13, identification="W-1", timestamp=datetime(2026, 12, 6, 12, 0))
