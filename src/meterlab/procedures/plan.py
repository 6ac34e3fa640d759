"""Expand a procedure into its actions: what the runner does, in order, each with a stable key.

Loops are unrolled (for_each_point binds $point) and a measurement of n repeats becomes n actions, so
the plan is at once the progress bar's total, the dry run's table, and the journal's index: a resumed
run skips every action whose key the journal holds and continues at the first one it does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meterlab.errors import DeclarationError
from meterlab.metrology.meters import GasMeter, TestPoint, WaterMeter
from meterlab.metrology.safety import load_safety_profile
from meterlab.procedures.schema import (
    MULTIPLE,
    OVERLOAD_POINT,
    POINT_VARIABLE,
    ForEachMeter,
    ForEachOrientation,
    ForEachPoint,
    MeasureError,
    Mount,
    Procedure,
    Prompt,
    RunFlow,
    SafetyTest,
    SetFlow,
    Step,
)

Meter = WaterMeter | GasMeter


@dataclass(frozen=True)
class Action:
    key: str                     # unique within the run, stable across restarts of the same procedure
    step: Step
    point: TestPoint | None = None
    repeat: int = 0              # 1..n for measurements, 0 otherwise
    repeats: int = 0
    meter_serial: str | None = None  # set inside for_each_meter and for per-meter prompts
    variant: str | None = None   # a safety_test's point of its profile table ("250 gal / 0.5 s")

    @property
    def kind(self) -> str:
        return self.step.kind

    @property
    def label(self) -> str:
        base = self.step.label or self.step.kind
        where = f" @ {self.point.name}" if self.point else f" @ {self.variant}" if self.variant else ""
        rep = f" #{self.repeat}/{self.repeats}" if self.repeats else ""
        who = f" [{self.meter_serial}]" if self.meter_serial else ""
        return f"{base}{where}{rep}{who}"


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)

    def measurements(self) -> list[Action]:
        return [a for a in self.actions if isinstance(a.step, MeasureError)]

    def first_unfinished(self, done: set[str]) -> int:
        """Index of the first action not in the journal (len(actions) when all are done)."""
        return next((i for i, a in enumerate(self.actions) if a.key not in done), len(self.actions))


def resolve_point(name: str | None, flowrate_m3h: float | None, current: TestPoint | None, meter: Meter) -> TestPoint:
    """The test point a step names: $point, a profile window name, or an explicit flowrate."""
    if flowrate_m3h is not None:
        return _set_point(f"{flowrate_m3h:g} m³/h", flowrate_m3h, meter)
    if name == POINT_VARIABLE:
        if current is None:
            raise DeclarationError("point", name, "$point only inside for_each_point")
        return current
    points = {p.name: p for p in meter.test_points()}
    if name in points:
        return points[name]
    if name == OVERLOAD_POINT:
        return _set_point(OVERLOAD_POINT, overload(meter).flow_factor_of_qmax.value * meter.qmax_m3h, meter)
    match = MULTIPLE.match(name or "")
    base = getattr(meter, f"{match.group(2).lower()}_m3h", None) if match else None
    if base is None:
        raise DeclarationError("point", name, f"a test point of {meter.profile.profile} ({', '.join(points)}) or a "
                                              f"multiple of a characteristic flowrate, e.g. 0.9 Q3")
    q = float(match.group(1)) * base
    return _set_point(f"{float(match.group(1)):g} {match.group(2)}", q, meter)


def overload(meter: Meter):
    """The profile's overload section; a profile without one (or a water meter) is refused, naming it."""
    section = getattr(meter.profile, "overload", None)
    if section is None or not hasattr(meter, "qmax_m3h"):
        raise DeclarationError("point", OVERLOAD_POINT, f"an overload flowrate: {meter.profile.profile} has no "
                                                        f"`overload:` section for a gas meter's Qr")
    return section


def _set_point(name: str, q: float, meter: Meter) -> TestPoint:
    """A set point the profile does not list: its window is ± the profile's set_point_window_pct around it."""
    tolerance = meter.profile.test_points.set_point_window_pct.value / 100
    return TestPoint(name, q * (1 - tolerance), q * (1 + tolerance), q)


def expand(procedure: Procedure, meters: list[tuple[str, Meter]]) -> Plan:
    """Unroll the procedure for these meters (serial, declaration). The first meter fixes the points."""
    if not meters:
        raise DeclarationError("meters", [], "at least one meter under test")
    reference_meter = meters[0][1]
    plan = Plan()

    def visit(steps, path: str, point: TestPoint | None, serial: str | None) -> None:
        for index, step in enumerate(steps):
            here = f"{path}{index}"
            if isinstance(step, ForEachPoint):
                names = [p.name for p in reference_meter.test_points()] if step.points == "all" else step.points
                for name in names:
                    tp = resolve_point(name, None, None, reference_meter)
                    visit(step.steps, f"{here}[{tp.name}]/", tp, serial)
            elif isinstance(step, ForEachMeter):
                for meter_serial, _ in meters:
                    visit(step.steps, f"{here}[{meter_serial}]/", point, meter_serial)
            elif isinstance(step, ForEachOrientation):
                for orientation in step.orientations:
                    suffix = orientation.replace("_", "-")
                    mount = Mount(label=f"{step.label or 'mounted'}-{suffix}", orientation=orientation, text=step.text)
                    plan.actions.append(Action(f"{here}[{orientation}]/mount", mount, point, 0, 0, serial))
                    visit(_relabelled(step.steps, suffix), f"{here}[{orientation}]/", point, serial)
            elif isinstance(step, MeasureError):
                tp = resolve_point(step.point, step.flowrate_m3h, point, reference_meter)
                n = step.repeats or reference_meter.repeats()
                for r in range(1, n + 1):
                    plan.actions.append(Action(f"{here}/r{r}", step, tp, r, n, serial))
            elif isinstance(step, SafetyTest) and step.table is not None:
                table = getattr(load_safety_profile(procedure.safety_profile).seismic, step.table)
                for number, table_point in enumerate(table.points, start=1):
                    plan.actions.append(Action(f"{here}/p{number}", step, point, 0, 0, serial, table_point.label))
            elif isinstance(step, SafetyTest) and step.function == "continuous_use":
                flows = load_safety_profile(procedure.safety_profile).continuous_use.points_m3h.values
                for number, flow in enumerate(flows, start=1):
                    plan.actions.append(Action(f"{here}/p{number}", step, point, 0, 0, serial, f"{flow:g} m³/h"))
            elif isinstance(step, Prompt) and step.per_meter and serial is None:
                for meter_serial, _ in meters:
                    plan.actions.append(Action(f"{here}/{meter_serial}", step, point, 0, 0, meter_serial))
            else:
                tp = point
                if isinstance(step, RunFlow) and step.duration_from == "overload":  # the run's time is the profile's
                    step = step.model_copy(update={"duration_s": overload(reference_meter).duration_s.value})
                if isinstance(step, SetFlow) or getattr(step, "point", None) is not None:
                    tp = resolve_point(step.point, step.flowrate_m3h, point, reference_meter)
                plan.actions.append(Action(here, step, tp, 0, 0, serial))

    visit(procedure.steps, "", None, None)
    return plan


def _relabelled(steps: list[Step], suffix: str) -> list[Step]:
    """The steps of one pass of a loop with their labels marked by it (`error` -> `error-flow-up`), so that the results
    of each pass stay apart; nested loops' steps too."""
    out = []
    for step in steps:
        update: dict = {"label": f"{step.label}-{suffix}"} if step.label else {}
        if hasattr(step, "steps"):
            update["steps"] = _relabelled(step.steps, suffix)
        out.append(step.model_copy(update=update) if update else step)
    return out
