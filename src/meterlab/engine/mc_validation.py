"""Monte Carlo validation (JCGM 101:2008 §8) of a recorded point's GUM result.

The point's model is rebuilt from the record alone: its readings, the run's bench and programme (recorded as
text), and the certificates, which must be those the run used (the same check as a resume). The same model code
then runs on GTC ureals (the GUM result) and on arrays of draws (the Monte Carlo result), so what is compared is
the propagation, not two implementations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from meterlab.engine.measurement import meter_inputs, method_for_start, point_model, ramp_input
from meterlab.engine.session import check_unchanged, inputs_from_header, reference_method, register_for
from meterlab.errors import MeterlabError
from meterlab.metrology.budget import UncertaintyResult, evaluate
from meterlab.metrology.montecarlo import McResult, distributions_of, monte_carlo, validate_gum
from meterlab.records.store import Store
from meterlab.rigs.water_gravimetric import standing_start_of


@dataclass(frozen=True)
class PointValidation:
    action: str
    point: str
    repeat: int
    meter_serial: str
    recorded_error_pct: float
    recorded_U_pct: float
    gum: UncertaintyResult
    mc: McResult
    agree: bool
    delta: float
    d_low: float
    d_high: float


def find_measurement(store: Store, run_id: str, point: str) -> dict:
    """The measurement `point` names: its action key (1[Q3]/2/r2), or NAME#REPEAT (Q3#2), or NAME if measured once."""
    measured = [e.payload for e in store.entries(run_id, kinds=["measurement"]) if "meters" in e.payload]
    if not measured:
        raise MeterlabError(f"run {run_id} has no measured point")
    name, _, repeat = point.partition("#")
    found = [m for m in measured if m["action"] == point or (
        m["point"]["name"] == name and (not repeat or str(m["repeat"]) == repeat))]
    if len(found) != 1:
        listed = ", ".join(f"{m['point']['name']}#{m['repeat']} ({m['action']})" for m in measured[:12])
        why = "matches no measured point" if not found else f"matches {len(found)} measurements"
        raise MeterlabError(f"run {run_id}: {point!r} {why}; name one by NAME#REPEAT or by its action key: {listed}"
                            + (" ..." if len(measured) > 12 else ""))
    return found[0]


def validate_point(store: Store, run_id: str, point: str, *, register: Any, serial: str | None = None,
                   trials: int = 200_000, seed: int = 1, significant_digits: int = 2) -> PointValidation:
    """GUM and Monte Carlo results of a recorded point's error, and whether their intervals (at the record's
    coverage probability) agree within the numerical tolerance of the GUM standard uncertainty (two significant
    digits)."""
    header = next(store.entries(run_id, kinds=["run_created"])).payload
    inputs = inputs_from_header(header)
    register = register_for(inputs.bench, register)
    check_unchanged(store, run_id, header, register, None)  # the certificates the run used, or nothing
    payload = find_measurement(store, run_id, point)
    action = next(a for a in inputs.plan().actions if a.key == payload["action"])
    serials = [row["meter_serial"] for row in payload["meters"]]
    serial = serial or serials[0]
    if serial not in serials:
        raise MeterlabError(f"meter {serial} was not measured at {point}; measured: {', '.join(serials)}")
    row = next(r for r in payload["meters"] if r["meter_serial"] == serial)
    method = method_for_start(reference_method(inputs, register), action.step.start)
    reading = _reading(method, payload["reading"])
    decl = inputs.declarations[serial]
    ramp = None
    if action.step.start == "standing":
        run_s = payload["sim_time_s"]["stop_s"] - payload["sim_time_s"]["start_s"]
        ramp = ramp_input(standing_start_of(inputs.bench), decl.meter(), run_s, action.point)
    x = meter_inputs(method.inputs(reading), row["raw"], payload["at_meter"].get(serial), decl, serial, ramp)
    gum = evaluate(point_model(method, x))  # at the coverage the record states U for (k = 2 for ν = ∞)
    mc = monte_carlo(lambda draws: point_model(method, draws), distributions_of(x), trials=trials, seed=seed,
                     coverage_pct=gum.coverage_pct)
    agree, delta, d_low, d_high = validate_gum(gum, mc, significant_digits=significant_digits)
    return PointValidation(payload["action"], payload["point"]["name"], payload["repeat"], serial, row["error_pct"],
                           row["U_pct"], gum, mc, agree, delta, d_low, d_high)


def _reading(method: Any, recorded: dict) -> Any:
    """The method's reading from its recorded fields (JSON gives lists where the reading holds tuples)."""
    kind = type(method.reading_for(1e-3, 1.0))
    fields = {f.name for f in dataclasses.fields(kind)}
    return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items() if k in fields})
