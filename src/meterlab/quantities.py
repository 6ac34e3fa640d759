"""The types of what input files state: physical quantities with their unit and plausible range, names safe
to put in a path or a label, and the sequences YAML writes where a model wants a tuple.

The ranges here are plausibility limits of the software, not requirements of a standard (those live in the
profiles under procedures/standards/): they catch a slip of the pen (a 32 000-year wait, a scale interval of
1e-300 L, a flowrate in L/h typed as m³/h) before a bench runs for it. Each is wide enough for any meter,
bench or programme a type-approval laboratory handles, and says why it is where it is.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field


def _bounded(unit: str, low: float, high: float, *, low_open: bool) -> AfterValidator:
    unit = f" {unit}" if unit else ""
    lowest = f"greater than {low:g}" if low_open else f"at least {low:g}"

    def check(value: float) -> float:
        if value < low or value > high or (low_open and value == low):
            raise ValueError(f"{value:g}{unit} is not plausible here: give a value {lowest}{unit} and at most "
                             f"{high:g}{unit}")
        return value
    return AfterValidator(check)


def quantity(unit: str, low: float, high: float, *, low_open: bool = False) -> Any:
    """A finite number in `unit` within [low, high] ((low, high] with low_open); errors name the unit."""
    return Annotated[float, Field(allow_inf_nan=False), _bounded(unit, low, high, low_open=low_open)]


# Flowrates: the largest water and gas meters (DN 1000 bulk meters, DN 600 turbine meters) stay below 2e4 m³/h.
FLOWRATE_M3H = quantity("m³/h", 0, 1e5, low_open=True)
# Volumes of one collection: the largest gravimetric tanks and bell provers hold a few 10 m³.
VOLUME_L = quantity("L", 0, 1e6, low_open=True)
# Volumes a meter resolves (scale interval, pulse value, register step): 1 µL to 1 m³ spans the smallest and
# the largest meters' registers and test outputs.
RESOLUTION_L = quantity("L", 1e-6, 1e3)
# Durations, waits and timeouts: the longest programme steps (durability runs of some hundred hours) stay far
# below 1e7 s (116 days); a timeout of years is a typing slip.
DURATION_S = quantity("s", 0, 1e7)
POSITIVE_DURATION_S = quantity("s", 0, 1e7, low_open=True)
# Pressure losses across a meter: at most 63 kPa in R 49's largest class; 1 MPa is beyond any working meter.
PRESSURE_LOSS_PA = quantity("Pa", 0, 1e6, low_open=True)
# Temperatures of water, gas and climate chambers: -70 °C cold tests to T180 hot water meters.
TEMPERATURE_C = quantity("°C", -70, 200)
# Errors of indication: beyond ±100 % a simulated meter counts nothing or double; nothing real is tested there.
ERROR_PCT = quantity("%", -100, 100)
# Ratios of characteristic flowrates (Q3/Q1 = R, Q2/Q1): R 49 knows R up to 1000; 1e4 leaves room.
FLOW_RATIO = quantity("", 1, 1e4, low_open=True)

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _safe_name(value: str) -> str:
    if not SAFE_NAME.fullmatch(value) or ".." in value:
        raise ValueError(f"{value!r} is not a safe name: use 1 to 64 letters, digits, '.', '_' and '-', starting "
                         f"with a letter or digit (no spaces, no '/', no '..'): it names files and report lines")
    return value


# Serial numbers and ids end up in file names, report numbers and budget labels.
SafeName = Annotated[str, AfterValidator(_safe_name)]


def _yaml_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# YAML has no tuples: a sequence of the right length stands for one (and is then checked strictly).
AsTuple = BeforeValidator(_yaml_tuple)


def _whole_number_as_text(value: Any) -> Any:
    return str(value) if type(value) is int else value


# Serial and certificate numbers are often written unquoted: a whole number is read as its digits (a quoted
# value keeps leading zeros, which YAML would drop from a number).
NumberText = Annotated[str, BeforeValidator(_whole_number_as_text)]


def _iso_datetime(value: Any) -> Any:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


# A time stamp meterlab writes itself (a level table's calibration time) is ISO 8601 text in the file.
IsoDatetime = Annotated[dt.datetime, BeforeValidator(_iso_datetime)]
