"""Dry run: the rig time a plan needs, action by action (volumes from the planner)."""

from __future__ import annotations

from meterlab.metrology.planner import plan_volume
from meterlab.procedures.schema import MeasureError, RunFlow, Soak, Stabilise, Wait


def _hms(seconds: float) -> str:
    h, rest = divmod(round(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def action_seconds(action, meter, method, resolution_l: float, readout: str) -> tuple[float, dict]:
    """Physical minimum rig time of one action, and what to show for it."""
    step = action.step
    row: dict = {}
    if isinstance(step, MeasureError):
        q = action.point.nominal_m3h
        if step.duration_s is not None:
            volume_l = q * step.duration_s / 3.6
        elif step.volume == "auto":
            volume_l = plan_volume(meter, action.point, method, resolution_l=resolution_l, readout=readout).volume_l
        else:
            volume_l = float(step.volume)
        row = {"flowrate": f"{q:.4g}", "volume": f"{volume_l:.4g}"}
        return volume_l / q * 3.6, row
    if isinstance(step, Stabilise):
        return step.for_s, row
    if isinstance(step, (Soak, Wait)):
        return step.duration_s or 0.0, row
    if isinstance(step, RunFlow):
        seconds = step.duration_s if step.duration_s is not None else step.cycles * (step.on_s + step.off_s)
        return seconds, {"flowrate": f"{action.point.nominal_m3h:.4g}"}
    return 0.0, row


def estimate(inputs, method) -> tuple[list[dict], float]:
    """Rows (label, flowrate, volume, time) of every action, and the total physical minimum in seconds."""
    decl = next(iter(inputs.declarations.values()))
    meter = decl.meter()
    resolution_l = decl.pulse_value_l if decl.readout == "pulses" else decl.scale_interval_l
    readout = "pulses" if decl.readout == "pulses" else "register"
    rows, total = [], 0.0
    for action in inputs.plan().actions:
        seconds, row = action_seconds(action, meter, method, resolution_l, readout)
        total += seconds
        rows.append({"label": action.label, "time": _hms(seconds), "seconds": seconds, **row})
    return rows, total
