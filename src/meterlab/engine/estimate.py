"""Dry run: the rig time a plan needs, action by action (volumes from the planner)."""

from __future__ import annotations

from typing import Any, Callable

from meterlab.metrology.planner import plan_volume
from meterlab.metrology.safety import load_safety_profile
from meterlab.procedures.schema import (
    ApplyDisturbance,
    ClimateCycle,
    MeasureError,
    MeasurePressureLoss,
    RunFlow,
    SafetyTest,
    SetGasPressure,
    SetWaterConditions,
    Soak,
    Stabilise,
    StopFlow,
    Wait,
    WatchAtRest,
    WatchStatus,
)
from meterlab.procedures.severities import cycle_segments, load_severities, resolve
from meterlab.rigs.water_gravimetric import standing_start_of

Severity = Callable[[Any], dict]  # a step with `test:` -> its parameters at the meter's level


def _hms(seconds: float) -> str:
    h, rest = divmod(round(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def action_seconds(action, meter, method, resolution_l: float, readout: str,
                   severity: Severity | None = None, standing: Any = None,
                   safety_profile: str | None = None) -> tuple[float, dict]:
    """Physical minimum rig time of one action, and what to show for it. `severity` gives the numbers of
    the steps that take them from the severity profile (soaks, climate cycles); `standing` the rig's
    shortest standing start."""
    step = action.step
    row: dict = {}
    if isinstance(step, MeasureError):
        q = action.point.nominal_m3h
        if step.duration_s is not None:
            volume_l = q * step.duration_s / 3.6
        elif step.volume == "auto":
            volume_l = plan_volume(meter, action.point, method, resolution_l=resolution_l, readout=readout).volume_l
            if step.start == "standing" and standing is not None:
                volume_l = max(volume_l, standing.min_volume_l(q))
        else:
            volume_l = float(step.volume)
        row = {"flowrate": f"{q:.4g}", "volume": f"{volume_l:.4g}"}
        return volume_l / q * 3.6, row
    if isinstance(step, SetWaterConditions) and step.overload:
        overload = getattr(meter.profile, "water_temperature_overload", None)
        return step.for_s + (overload.duration_s.value if overload is not None else 0.0), row
    if isinstance(step, (Stabilise, SetWaterConditions, SetGasPressure)):
        return step.for_s, row
    if isinstance(step, (Wait, MeasurePressureLoss, WatchStatus)):
        return step.duration_s, row
    if isinstance(step, WatchAtRest):
        rest = getattr(meter.profile, "absence_of_flow", None)
        return step.duration_s or (rest.duration_s.value if rest is not None else 0.0), row
    if isinstance(step, StopFlow):
        return step.settle_s, row
    if isinstance(step, Soak):
        if step.duration_s is None and severity is not None:
            return severity(step).get("duration_s", 0.0), row
        return step.duration_s or 0.0, row
    if isinstance(step, ClimateCycle) and severity is not None:
        params = {**severity(step), **({"cycles": step.cycles} if step.cycles else {})}
        return sum(s.duration_s for s in cycle_segments(params, fall_duration_s=step.fall_duration_s)), row
    if isinstance(step, RunFlow):
        seconds = step.duration_s if step.duration_s is not None else step.cycles * (step.on_s + step.off_s)
        return seconds, {"flowrate": f"{action.point.nominal_m3h:.4g}"}
    if isinstance(step, ApplyDisturbance) and step.disturbance in ("vibration", "mechanical_shock") \
            and severity is not None:  # the table's own time: each axis's vibration, each impulse's interval
        params = {**severity(step), **step.parameters}
        per_axis = params.get("duration_per_axis_s") or params.get("count", 1) * params.get("interval_s", 0.0)
        return per_axis * len(params.get("axes") or [None]), row
    if isinstance(step, SafetyTest) and safety_profile is not None:
        return safety_seconds(step, load_safety_profile(safety_profile), action.variant), row
    return 0.0, row


def safety_seconds(step: SafetyTest, profile, variant: str | None = None) -> float:
    """The longest a safety test takes: its stimulus and watch until the profile's limits (a good meter closes
    sooner), the leak tester's settling after a shut-off; a pressure ramp's own time is not known here."""
    if step.function == "seismic":
        window = 0.0 if step.gas_in_use else 2 * profile.seismic.flow_window_s.value
        seconds = profile.seismic.shaking_s.value + window
    elif step.function == "continuous_use":  # the point's band time, watched past its tolerance
        use = profile.continuous_use
        flows = [f for f in use.points_m3h.values if f"{f:g} m³/h" == variant] or use.points_m3h.values
        seconds = max(use.band_time_s(f) or 0.0 for f in flows) * (1 + use.tolerance_fraction.value)
    elif step.function == "restore":  # the trip by excess flow, the hold without restore, the restore check
        excess, restore = profile.excess_flow, profile.restore
        seconds = excess.max_shut_off_s.value + excess.observe_s.value + restore.hold_s.value \
            + restore.max_check_s.value
    else:
        seconds = getattr(profile, step.function).observe_s.value
    return seconds + (profile.valve.leak_settle_s.value if step.tightness else 0.0)


def estimate(inputs, method) -> tuple[list[dict], float]:
    """Rows (label, flowrate, volume, time) of every action, and the total physical minimum in seconds."""
    decl = next(iter(inputs.declarations.values()))
    meter = decl.meter()
    resolution_l = decl.pulse_value_l if decl.readout == "pulses" else decl.scale_interval_l
    readout = "pulses" if decl.readout == "pulses" else "register"
    profile = load_severities(inputs.procedure.severities) if inputs.procedure.severities else None

    def severity(step) -> dict:
        return resolve(profile, step.test, step.severity, decl.environment) if profile and step.test else {}

    rows, total = [], 0.0
    for action in inputs.plan().actions:
        seconds, row = action_seconds(action, meter, method, resolution_l, readout, severity,
                                      standing_start_of(inputs.bench), inputs.procedure.safety_profile)
        total += seconds
        rows.append({"label": action.label, "time": _hms(seconds), "seconds": seconds, **row})
    return rows, total
