"""Meter declaration files: shipped examples load; mistakes name file, line and field."""

from pathlib import Path

import pytest

from meterlab.errors import InputFileError
from meterlab.metrology import GasMeter, WaterMeter
from meterlab.metrology.declarations import load_meter

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "meters"


def test_examples_load_into_the_metrology_core():
    _, dn15 = load_meter(EXAMPLES / "dn15-class2.yaml")
    assert isinstance(dn15, WaterMeter) and dn15.q3_m3h == 2.5 and dn15.r == 160 and dn15.accuracy_class == 2
    _, class1 = load_meter(EXAMPLES / "dn25-class1.yaml")
    assert class1.accuracy_class == 1
    decl, g4 = load_meter(EXAMPLES / "g4-diaphragm.yaml")
    assert isinstance(g4, GasMeter) and g4.accuracy_class == 1.5 and decl.serial == "GM4-2026-0042"


GOOD = (EXAMPLES / "dn15-class2.yaml").read_text()


@pytest.mark.parametrize(
    "old, new, field, line_text",
    [
        ("r: 160", "r: 0", "r", "r: 0"),                                   # found by the metrology core
        ("r: 160", "r: 1.2", "r", "r: 1.2"),                               # Q2 above Q3
        ("accuracy_class: 2", "accuracy_class: 3", "accuracy_class", "accuracy_class: 3"),
        ("temperature_class: T30", "temperature_class: T45", "temperature_class", "temperature_class: T45"),
        ("kind: water", "kind: oil", "kind", "kind: oil"),
        ("scale_interval_l: 0.05", "scale_interval_l: -1", "scale_interval_l", "scale_interval_l: -1"),
        ("serial: WM15-2026-0001", "serial: WM 15 #1", "serial", "serial: WM 15 #1"),
        ("pulse_value_l: 0.01\n", "", "", None),                           # pulses without pulse value
        ("q3_m3h: 2.5", "q3_m3h: 2.5\nqmax_m3h: 6", "", None),             # gas field on a water meter
        ("electromagnetic: E1", "electromagnetic: E9", "environment.electromagnetic", "environment:"),
    ],
)
def test_bad_meter_file(tmp_path, old, new, field, line_text):
    text = GOOD.replace(old, new, 1)
    path = tmp_path / "meter.yaml"
    path.write_text(text)
    with pytest.raises(InputFileError) as info:
        load_meter(path)
    line, named, _ = info.value.problems[0]
    assert "meter.yaml" in str(info.value)
    assert named == field
    if line_text:
        assert line_text in text.splitlines()[line - 1]


@pytest.mark.parametrize("text, expected", [("", None), ("reverse_flow: false", None), ("reverse_flow: true", None),
                                            ("reverse_flow: {r: 80}", 80.0)])
def test_a_meter_declares_whether_it_measures_reverse_flow(tmp_path, text, expected):
    path = tmp_path / "meter.yaml"
    path.write_text(GOOD + text + "\n")
    decl, _ = load_meter(path)
    assert (decl.reverse_flow is not None) == (text.endswith("true") or "r:" in text)
    assert (decl.reverse_flow.r if decl.reverse_flow else None) == expected


def test_the_bidirectional_examples_declare_reverse_flow():
    assert load_meter(EXAMPLES / "dn15-class2-bidirectional.yaml")[0].reverse_flow is not None
    assert load_meter(EXAMPLES / "g4-bidirectional.yaml")[0].reverse_flow is not None


@pytest.mark.parametrize("meter, text, message", [
    ("g4-diaphragm.yaml", "reverse_flow: {r: 80}", "a gas meter declares reverse_flow: true"),  # R is a water meter's
    ("dn15-class2.yaml", "reverse_flow: {q1_m3h: 0.01}", "q1_m3h"),
    ("dn15-class2.yaml", "reverse_flow: {r: 0}", "r"),
])
def test_a_wrong_reverse_flow_declaration_is_refused_naming_the_file(tmp_path, meter, text, message):
    path = tmp_path / "meter.yaml"
    path.write_text((EXAMPLES / meter).read_text() + text + "\n")
    with pytest.raises(InputFileError) as info:
        load_meter(path)
    assert "meter.yaml" in str(info.value) and message in str(info.value)
