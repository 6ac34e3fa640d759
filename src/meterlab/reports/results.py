"""The machine-readable result of a run, built from its record alone (`meterlab report --format json`).

Field names are stable: id, verdict (pass / conditional pass / conditional fail / fail / inconclusive /
aborted / error), procedure {id, sha256}, tests[] with id, verdict, points[] (meter_serial, label,
flowrate_m3h, reference_volume_l, indicated_volume_l, error_pct, u_pct, k, U_pct, mpe_pct, verdict,
uncertainty_too_large, guard_band_pct, specific_risk) and checks[].

A test's verdict is the worst outcome of its points and checks. "Uncertainty too large" makes it
inconclusive; a conditional pass or fail (guarded acceptance) stays conditional, never a plain pass.
Records made before these fields existed give None for them.
"""

from __future__ import annotations

from typing import Any

from meterlab.metrology.decision import Outcome
from meterlab.records import leases
from meterlab.records.store import Store

RUN_VERDICT = {Outcome.PASS: "pass", Outcome.CONDITIONAL_PASS: "conditional pass", Outcome.INCONCLUSIVE: "inconclusive",
               Outcome.UNCERTAINTY_TOO_LARGE: "inconclusive", Outcome.CONDITIONAL_FAIL: "conditional fail",
               Outcome.FAIL: "fail"}


def run_result(store: Store, run_id: str) -> dict[str, Any]:
    run = store.run(run_id)
    entries = list(store.entries(run_id))
    header = entries[0].payload
    states = [e.payload for e in entries if e.kind == "state"]
    last_state = states[-1]["state"] if states else "idle"
    if last_state in ("running", "paused") and leases.interrupted(store, run_id):
        last_state = "interrupted"  # its process died: resume it (`meterlab resume`)
    points, outcomes = [], []
    for e in entries:
        if e.kind != "measurement":
            continue
        m = e.payload
        for r in m["meters"]:
            points.append({
                "meter_serial": r["meter_serial"],
                "label": f"{m['point']['name']} #{m['repeat']}" + (f" ({m['step_label']})" if m.get("step_label") else ""),
                "point": m["point"]["name"], "repeat": m["repeat"], "step_label": m.get("step_label"),
                "role": m.get("role"), "flowrate_m3h": m["flowrate_m3h"],
                "reference_volume_l": r.get("reference_volume_l", m["reference_volume_l"]),  # at the meter
                "indicated_volume_l": r["indicated_volume_l"],
                "error_pct": r["error_pct"], "u_pct": r["u_pct"], "k": r["k"], "U_pct": r["U_pct"],
                "mpe_pct": r["mpe_pct"], "verdict": r["outcome"], "decision_rule": r["decision_rule"],
                "uncertainty_too_large": r.get("uncertainty_too_large"), "guard_band_pct": r.get("guard_band_pct"),
                "specific_risk": r.get("specific_risk"),
            })
            outcomes.append(Outcome.from_label(r["outcome"]))
    checks = [c for e in entries if e.kind == "evaluation" for c in e.payload["checks"]]
    skipped = [s for e in entries if e.kind == "evaluation" for s in e.payload.get("skipped", [])]
    outcomes += [Outcome.from_label(c["outcome"]) for c in checks]
    test_verdict = RUN_VERDICT[max(outcomes)] if outcomes else "inconclusive"
    summary = states[-1].get("summary") if states else None
    if summary is not None:  # an interface fuzz campaign: its verdict is its findings' (reports/fuzz.py)
        test_verdict = summary["verdict"]
    verdict = {"completed": test_verdict, "aborted": "aborted", "failed": "error"}.get(last_state, last_state)
    return {
        "id": run_id,
        "verdict": verdict,
        "state": last_state,
        "procedure": {"id": header["procedure"]["id"], "sha256": header["procedure"]["sha256"],
                      "title": header["procedure"]["title"], "clause": header["procedure"]["clause"]},
        "operator": run.operator,
        "created_at": run.created_at,
        "software_version": header["software_version"],
        "meters": [m for m in _json_list(run.meters)],
        "tests": [{"id": header["procedure"]["id"], "verdict": test_verdict, "points": points, "checks": checks,
                   "skipped_checks": skipped}],
        "calibration_override": header.get("calibration_override"),
    }


def _json_list(text: str) -> list:
    import json

    return json.loads(text)
