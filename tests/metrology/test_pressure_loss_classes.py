"""R 49 pressure-loss classes: data in the standard profile with clause and status, the profile accessor, and
the meter declaration's class (default dp63; a wrong class names file, line and field)."""

from pathlib import Path

import pytest
import yaml

from meterlab.errors import DeclarationError, InputFileError
from meterlab.metrology.declarations import MeterDeclaration, load_meter, max_pressure_loss_kpa
from meterlab.metrology.profiles import load_profile

ROOT = Path(__file__).resolve().parents[2]
DN15 = ROOT / "examples" / "meters" / "dn15-class2.yaml"
G4 = ROOT / "examples" / "meters" / "g4-diaphragm.yaml"


def test_the_classes_come_from_the_profile_with_clause_and_status():
    data = yaml.safe_load((ROOT / "procedures" / "standards" / "r49-2013.yaml").read_text())["pressure_loss"]
    assert data["clause"] == "R 49-1:2013 6.5 Table 5" and data["status"] == "verified"
    profile = load_profile("r49-2013")
    assert profile.pressure_loss.classes_mpa == {"dp63": 0.063, "dp40": 0.040, "dp25": 0.025, "dp16": 0.016,
                                                 "dp10": 0.010}
    assert [profile.max_pressure_loss_kpa(c) for c in ("dp63", "dp40", "dp25", "dp16", "dp10")] == \
        pytest.approx([63.0, 40.0, 25.0, 16.0, 10.0])
    assert profile.max_pressure_loss_kpa() == 63.0  # the default class
    assert profile.max_pressure_loss_kpa("Δp 25") == 25.0 and profile.max_pressure_loss_kpa("DP16") == 16.0
    assert "pressure_loss" not in profile.unverified_values()


def test_an_unknown_class_or_a_profile_without_classes_is_refused():
    with pytest.raises(DeclarationError, match="one of dp63, dp40, dp25, dp16, dp10"):
        load_profile("r49-2013").max_pressure_loss_kpa("dp30")
    with pytest.raises(DeclarationError, match="defines no pressure-loss classes"):
        load_profile("r137-2012").max_pressure_loss_kpa()


def test_a_profile_whose_default_is_not_a_class_is_refused(tmp_path):
    data = yaml.safe_load((ROOT / "procedures" / "standards" / "r49-2013.yaml").read_text())
    data["pressure_loss"]["default_class"] = "dp100"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(Exception, match="default_class 'dp100' is not one of"):
        load_profile(path)


def test_a_water_meter_declares_its_class_default_dp63():
    declaration, _ = load_meter(DN15)
    assert declaration.pressure_loss_class is None and max_pressure_loss_kpa(declaration) == 63.0
    assert max_pressure_loss_kpa(declaration.model_copy(update={"pressure_loss_class": "dp25"})) == 25.0


def test_a_wrong_class_names_file_line_and_field(tmp_path):
    path = tmp_path / "meter.yaml"
    path.write_text(DN15.read_text().replace("temperature_class: T30", "temperature_class: T30\n"
                                                                        "pressure_loss_class: dp30"))
    with pytest.raises(InputFileError) as caught:
        load_meter(path)
    text = str(caught.value)
    assert str(path) in text and "pressure_loss_class" in text and "dp63, dp40" in text
    assert ":11" in text  # the line of the field


def test_a_gas_meter_has_no_pressure_loss_class():
    data = yaml.safe_load(G4.read_text())
    data["pressure_loss_class"] = "dp63"
    with pytest.raises(ValueError, match="pressure_loss_class belong to the other kind"):
        MeterDeclaration.model_validate(data)
