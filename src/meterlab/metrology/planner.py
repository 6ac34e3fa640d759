"""Test-volume planner: the smallest volume for which U stays within the profile's fraction of the MPE, and
which lasts the profile's shortest collection (test_points.min_collection_s).

Resolution of the meter under test and the diverter's timing error shrink relative to the volume, so U
falls as the volume grows; the planner searches the volume on the same GUM model the measurement uses,
so the planned volume, fed back into the budget, really meets the limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from meterlab.errors import MeterlabError
from meterlab.metrology.budget import evaluate
from meterlab.metrology.meters import GasMeter, TestPoint, WaterMeter
from meterlab.metrology.methods import ReferenceMethod
from meterlab.metrology.reference_volume import pulse_inputs, register_inputs

M3_PER_L = 1e-3


class PlanningError(MeterlabError):
    """No volume within the allowed duration brings U within the limit."""


@dataclass(frozen=True)
class PlannedVolume:
    point: str
    flowrate_m3h: float
    volume_l: float
    duration_s: float
    expanded_uncertainty_pct: float
    max_uncertainty_pct: float
    largest_input: str
    volume_for_uncertainty_l: float    # smallest volume that meets the U limit
    volume_for_resolution_l: float     # smallest volume the profile's reading-resolution rule allows
    volume_for_duration_l: float = 0.0  # the profile's shortest collection at this flowrate


def mut_inputs_for(volume_m3: float, resolution_l: float, readout: str) -> dict:
    """The meter-under-test inputs a perfect meter would give: register readings or a pulse count."""
    if readout == "pulses":
        return pulse_inputs(round(volume_m3 / (resolution_l * M3_PER_L)), resolution_l * M3_PER_L)
    return register_inputs(0.0, volume_m3, scale_interval_m3=resolution_l * M3_PER_L)


def expanded_uncertainty_pct(method: ReferenceMethod, volume_m3: float, flowrate_m3h: float,
                             resolution_l: float, *, readout: str = "register", fixed_k: float | None = None):
    """The GUM result of E (percent) for a perfect-meter measurement of volume_m3 at flowrate_m3h, read
    the way the measurement will read it (`readout`: register or pulses)."""
    reading = method.reading_for(volume_m3, flowrate_m3h)
    return evaluate(method.error(reading, mut_inputs_for(volume_m3, resolution_l, readout)), fixed_k=fixed_k)


def resolution_rule_volume_l(meter: WaterMeter | GasMeter, resolution_l: float) -> float:
    """Smallest test volume for which reading the meter (½ interval at start and at end) stays within
    the profile's resolution error (R 49: 0.25 % class 1, 0.5 % class 2). 0 when the profile has no rule."""
    rule = meter.profile.resolution
    if rule is None:
        return 0.0
    max_pct = rule.max_resolution_error_pct.classes[meter.profile.class_key(meter.accuracy_class)]
    return resolution_l / (max_pct / 100.0)


def _round_up(volume_l: float, resolution_l: float) -> float:
    """Round up to two significant figures and to a whole number of resolution steps."""
    step = 10 ** (math.floor(math.log10(volume_l)) - 1)
    rounded = math.ceil(volume_l / step - 1e-9) * step
    return math.ceil(rounded / resolution_l - 1e-9) * resolution_l


def plan_volume(
    meter: WaterMeter | GasMeter,
    point: TestPoint,
    method: ReferenceMethod,
    *,
    resolution_l: float,
    readout: str = "register",
    stage: str = "type_evaluation",
    max_duration_s: float = 4 * 3600.0,
) -> PlannedVolume:
    """Smallest practical volume at the point's set point that keeps U within the profile's limit."""
    q = point.nominal_m3h
    limit = meter.max_expanded_uncertainty_pct(q, stage)

    def u_of(volume_l: float) -> float:
        return expanded_uncertainty_pct(method, volume_l * M3_PER_L, q, resolution_l, readout=readout).U

    largest_l = min(q * max_duration_s / 3.6, method.max_volume_l())
    low_l, high_l = resolution_l, largest_l
    if u_of(high_l) > limit:
        raise PlanningError(
            f"{point.name}: even {high_l:.4g} L ({high_l / q * 3.6 / 3600:.3g} h at {q:.4g} m³/h, the most one "
            f"measurement can take) leaves U = {u_of(high_l):.3g} % above the limit {limit:.3g} %; the rig's fixed "
            f"contributions are too large")
    for _ in range(60):  # bisection in log volume; 60 halvings are far below any display step
        mid = math.sqrt(low_l * high_l)
        low_l, high_l = (low_l, mid) if u_of(mid) <= limit else (mid, high_l)
        if high_l / low_l < 1.001:
            break
    for_resolution = resolution_rule_volume_l(meter, resolution_l)
    for_duration = q * meter.profile.test_points.min_collection_s.value / 3.6
    volume_l = min(_round_up(max(high_l, for_resolution, for_duration), resolution_l), largest_l)
    result = expanded_uncertainty_pct(method, volume_l * M3_PER_L, q, resolution_l, readout=readout)
    largest = result.contributions[0].name if result.contributions else ""
    return PlannedVolume(point.name, q, volume_l, volume_l / q * 3.6, result.U, limit, largest, high_l, for_resolution,
                         for_duration)
