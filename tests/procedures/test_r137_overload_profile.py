"""The overload flow of a programme comes from its standard profile (point Qr, run_flow duration_from: overload):
a profile without an overload section refuses both, naming the point; a run_flow gives exactly one duration."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from meterlab.errors import InputFileError
from meterlab.metrology.profiles import load_profile
from meterlab.procedures.schema import RunFlow, load_procedure

REPO = Path(__file__).resolve().parents[2]


def test_the_r137_profile_holds_qr_and_the_overload_time_with_their_sources():
    overload = load_profile("r137-2012").overload
    assert overload.flow_factor_of_qmax.value == 1.2 and overload.flow_factor_of_qmax.status == "secondary"
    assert overload.duration_s.value > 0 and overload.duration_s.status == "unverified"


def test_qr_in_a_programme_whose_profile_has_no_overload_is_refused_naming_the_line(tmp_path):
    text = (REPO / "procedures/r137/overload-flow.yaml").read_text(encoding="utf-8")
    water = tmp_path / "overload.yaml"
    water.write_text(text.replace("profile: r137-2012", "profile: r49-2013").replace("meter_kind: gas",
                                                                                    "meter_kind: water")
                     .replace("method: sonic_nozzle", "method: gravimetric").replace("0.7Qmax", "Q3")
                     .replace("[Qmin, Q3]", "[Q1, Q3]"), encoding="utf-8")
    with pytest.raises(InputFileError) as error:
        load_procedure(water)
    assert "'Qr' is not a test point of r49-2013" in str(error.value)


@pytest.mark.parametrize("fields", [{"duration_s": 10, "duration_from": "overload"}, {},
                                    {"cycles": 3, "on_s": 1, "off_s": 1, "duration_from": "overload"}])
def test_a_run_flow_gives_exactly_one_duration(fields):
    with pytest.raises(ValidationError, match="duration_from"):
        RunFlow(point="Qr", **fields)
