"""The steps the R 137 influence programmes added: set_gas_pressure gives a pressure or releases, never both or
neither; mount names one of the orientations a line can be mounted in."""

import pytest
from pydantic import ValidationError

from meterlab.metrology.declarations import ORIENTATIONS
from meterlab.procedures.schema import Mount, SetGasPressure


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
