"""The steps the R 137 influence programmes added: set_gas_pressure gives a pressure or releases, never both or
neither; mount names one of the orientations a line can be mounted in, and a direction (forward or reverse)."""

import pytest
from pydantic import ValidationError

from meterlab.errors import InputFileError
from meterlab.metrology.declarations import DIRECTIONS, ORIENTATIONS
from meterlab.procedures.schema import Mount, SetGasPressure, load_procedure


@pytest.mark.parametrize("fields", [{}, {"gauge_pa": 1000, "release": True}])
def test_set_gas_pressure_gives_a_pressure_or_releases(fields):
    with pytest.raises(ValidationError, match="gauge_pa, or release"):
        SetGasPressure(**fields)


def test_set_gas_pressure_refuses_a_negative_gauge_pressure():
    with pytest.raises(ValidationError, match="gauge_pa"):
        SetGasPressure(gauge_pa=-5)


def test_mount_takes_a_known_orientation_only():
    assert {Mount(orientation=o).orientation for o in ORIENTATIONS} == set(ORIENTATIONS)
    with pytest.raises(ValidationError, match="orientation"):
        Mount(orientation="sideways")


def test_mount_takes_a_known_direction_only_forward_and_normal_by_default():
    assert {Mount(direction=d).direction for d in DIRECTIONS} == {"forward", "reverse"}
    assert (Mount().orientation, Mount().direction) == ("normal", "forward")
    with pytest.raises(ValidationError, match="direction"):
        Mount(direction="backwards")


def _water_programme(tmp_path, step: str):
    path = tmp_path / "water.yaml"
    path.write_text(f"""id: water-test
title: a water programme
standard: OIML R 49
edition: "2013"
clause: test
version: 1
meter_kind: water
profile: r49-2013
steps:
  - {step}
  - evaluate: {{checks: [within_mpe]}}
""", encoding="utf-8")
    return path


def test_a_water_programme_with_a_gas_rig_step_is_refused_naming_the_line(tmp_path):
    with pytest.raises(InputFileError) as error:
        load_procedure(_water_programme(tmp_path, "set_gas_pressure: {gauge_pa: 1000}"))
    assert "water.yaml:10" in str(error.value) and "gas rig's step" in str(error.value)


def test_a_water_programme_may_remount_its_meters(tmp_path):
    """Both rigs remount their meters (the water rig's reverse programme turns them round)."""
    procedure = load_procedure(_water_programme(tmp_path, "mount: {orientation: flow_up, direction: reverse}"))
    assert (procedure.steps[0].orientation, procedure.steps[0].direction) == ("flow_up", "reverse")
