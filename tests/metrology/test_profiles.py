"""Standard profiles: every standard value carries a clause and a verification status."""

from pathlib import Path

import pytest
import yaml

from meterlab.errors import DeclarationError, InputFileError
from meterlab.metrology.profiles import Sourced, Value, load_profile

PROFILES = Path(__file__).resolve().parents[2] / "procedures" / "standards"


@pytest.mark.parametrize("name", ["r49-2013", "r137-2012"])
def test_shipped_profiles_load_and_every_section_has_a_clause(name):
    profile = load_profile(name)
    sections = [getattr(profile, f) for f in type(profile).model_fields]
    sourced = [s for s in sections if isinstance(s, Sourced)]
    assert sourced, "a profile must carry clause references"
    assert all(s.clause.strip() for s in sourced)


def test_unverified_values_are_flagged_and_verified_ones_are_not():
    profile = load_profile("r49-2013")
    flagged = profile.unverified_values()
    assert "uncertainty.max_fraction_of_mpe_type_evaluation" in flagged
    assert "test_points.repeats" in flagged
    assert "significant_fault.fraction_of_upper_mpe" not in flagged  # read in the primary text
    assert isinstance(profile.significant_fault.fraction_of_upper_mpe, Value)


def test_gas_profile_marks_class_05_source_as_not_verified():
    profile = load_profile("r137-2012")
    assert profile.mpe.status != "verified"
    assert "weighted_mean_error.weight_at_qmax" in profile.unverified_values()


def test_unknown_profile_name_says_where_it_looked():
    with pytest.raises(DeclarationError, match="profile.*r49-1999"):
        load_profile("r49-1999")


def test_bad_profile_names_file_line_and_field(tmp_path):
    text = (PROFILES / "r49-2013.yaml").read_text().replace('"2": {lower: 5.0,', '"2": {lower: -5.0,')
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(InputFileError) as info:
        load_profile(path)
    line, field, message = info.value.problems[0]
    assert field == "mpe.classes.2.lower"
    assert text.splitlines()[line - 1].lstrip().startswith('"2": {lower: -5.0')
    assert "broken.yaml" in str(info.value) and "greater than 0" in message


def test_window_must_contain_its_nominal(tmp_path):
    data = yaml.safe_load((PROFILES / "r49-2013.yaml").read_text())
    data["test_points"]["windows"][0]["nominal"] = 1.2
    path = tmp_path / "bad-window.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputFileError, match="test_points.windows.0"):
        load_profile(path)


def test_yaml_syntax_error_gives_line(tmp_path):
    path = tmp_path / "syntax.yaml"
    path.write_text("profile: x\nmpe: [1, 2\nkind: water\n")
    with pytest.raises(InputFileError) as info:
        load_profile(path)
    assert info.value.problems[0][0] in (2, 3)
