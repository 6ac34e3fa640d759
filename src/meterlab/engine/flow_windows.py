"""Before a run: can the bench make every measured test point's flowrate inside its window?

A gas rig sets flows by opening sonic nozzles, so it can give only the flows of the nozzle combinations; a water
rig's pump gives up to its full-speed flow. A point whose window holds no flow the rig can give would be measured
outside its window (and stop the run there, engine/measurement.py): it is refused before the run is recorded,
naming the point, its window and the nearest flows the bench can give.
"""

from __future__ import annotations

from typing import Any

from meterlab.metrology.meters import TestPoint
from meterlab.procedures.plan import Plan
from meterlab.rigs.gas_line import wired_bank

# The nozzles' flows are judged at the standard atmosphere and 20 °C; the ambient of the day moves them by a few
# per mille per kPa and K, which the check during the run (the achieved flowrate in its window) then sees.
REFERENCE_PRESSURE_PA = 101325.0
REFERENCE_TEMPERATURE_C = 20.0
GAS_METHODS = ("bell_prover", "sonic_nozzle")


def measured_points(plan: Plan) -> list[TestPoint]:
    """The test points the plan measures, each once, in the plan's order."""
    points: dict[str, TestPoint] = {}
    for action in plan.measurements():
        points.setdefault(action.point.name, action.point)
    return list(points.values())


def unreachable_points(points: list[TestPoint], bench: Any, method: str, register: Any) -> list[str]:
    """One line per point whose window holds no flowrate this bench can give (empty: all can be measured)."""
    if method in GAS_METHODS:
        return _nozzle_problems(points, bench, register)
    return _pump_problems(points, bench)


def _nozzle_problems(points: list[TestPoint], bench: Any, register: Any) -> list[str]:
    names = bench.by_role("sonic_nozzle_bank")
    if not names:
        return []  # the rig refuses a gas bench without a nozzle bank when it is built
    entry = bench.instruments[names[0]]
    if entry.calibration is None or entry.calibration not in register:
        return []  # the reference method names the missing certificate
    diameters = [float(d) for d in entry.equipment.get("throat_diameters_m", [])]
    bank = wired_bank(entry.wiring, register.get(entry.calibration), diameters)
    flows = bank.flows(REFERENCE_PRESSURE_PA, REFERENCE_TEMPERATURE_C)
    problems = []
    for point in points:
        if any(point.contains(q) for _, q in flows):
            continue
        below = [cq for cq in flows if cq[1] < point.low_m3h][-1:]
        above = [cq for cq in flows if cq[1] > point.high_m3h][:1]
        nearest = " and ".join(f"{q:.4g} m³/h ({'+'.join(c)})" for c, q in below + above)
        problems.append(f"{point.name}: window {point.low_m3h:.4g} .. {point.high_m3h:.4g} m³/h holds no flow of the "
                        f"nozzle bank {names[0]} (certificate {entry.calibration}); the nearest combinations give "
                        f"{nearest} at {REFERENCE_PRESSURE_PA / 1000:g} kPa and {REFERENCE_TEMPERATURE_C:g} °C")
    return problems


def _pump_problems(points: list[TestPoint], bench: Any) -> list[str]:
    names = bench.by_role("pump")
    top = bench.instruments[names[0]].options.get("max_flowrate_m3h") if names else None
    if not top:
        return []  # the rig refuses a pump without its full-speed flow when it is built
    return [f"{point.name}: window {point.low_m3h:.4g} .. {point.high_m3h:.4g} m³/h is above the pump {names[0]}'s "
            f"{float(top):g} m³/h at full speed (bench options.max_flowrate_m3h)"
            for point in points if point.low_m3h > float(top)]
