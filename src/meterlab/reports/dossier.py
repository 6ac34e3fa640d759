"""The type evaluation dossier: every programme of an evaluation's plan, on every sample, as one report in the
structure of R 49-3 / R 137-3 (4.1 general, 4.2 the type, 4.3 test equipment, 4.4 check list, then the
results of each test), built from the record alone: the evaluation's entries and the runs attached to it."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any

from meterlab.records import nonconformities
from meterlab.records.evaluations import Evaluation
from meterlab.records.people import missing_sign_offs
from meterlab.records.store import Store
from meterlab.reports.document import CSS, _kv, _table, _verdict, collect, esc, figure_for, num
from meterlab.reports.results import run_result

ACTIVE = {"idle", "running", "suspended", "paused", "created"}  # a run not ended


def item_status(store: Store, evaluation: Evaluation) -> list[dict[str, Any]]:
    """Each plan item with its latest attached run: status (to do, running, done), verdict, bench time."""
    results = [run_result(store, run_id) for run_id in evaluation.runs]
    rows = []
    for item in evaluation.items:
        runs = [r for r in results if r["procedure"]["id"] == item["procedure_id"]
                and set(item["samples"]) <= set(r["meters"])]
        latest = runs[-1] if runs else None
        status = ("to do" if latest is None else "running" if latest["state"] in ACTIVE
                  else "interrupted" if latest["state"] == "interrupted" else "done")
        rows.append({**item, "status": status, "run": latest, "runs": [r["id"] for r in runs],
                     "verdict": latest["verdict"] if latest and status == "done" else None,
                     "bench_time_s": sum(_bench_seconds(store, r["id"]) for r in runs)})
    return rows


def _bench_seconds(store: Store, run_id: str) -> float:
    """The rig time a run took: the simulated lab's clock at its last measurement on the simulated bench (which
    runs faster than the wall clock), the time between its first and last entries on a real one."""
    entries = list(store.entries(run_id))
    simulated = [e.payload["sim_time_s"]["stop_s"] for e in entries
                 if e.kind == "measurement" and isinstance(e.payload.get("sim_time_s"), dict)]
    if simulated:
        return max(simulated)
    first, last = (datetime.fromisoformat(e.created_at) for e in (entries[0], entries[-1]))
    return (last - first).total_seconds()


def summary(rows: list[dict[str, Any]]) -> str:
    """The evaluation's verdict: fail as soon as one test failed; pass only when every planned test passed."""
    verdicts = [r["verdict"] for r in rows]
    if any(v in ("fail", "conditional fail", "error", "aborted") for v in verdicts):
        return "fail"
    if all(v in ("pass", "conditional pass") for v in verdicts):
        return "pass"
    return "not complete"


def render_html(store: Store, evaluation: Evaluation, *, generated_at: datetime | None = None) -> str:
    rows = item_status(store, evaluation)
    done = [r for r in rows if r["run"] is not None]
    data = {r["run"]["id"]: collect(store, r["run"]["id"]) for r in done}
    when = (generated_at or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    t = evaluation.type
    title = f"Type evaluation dossier {evaluation.id} — {t['name']}"
    body = [f"<h1>{esc(title)}</h1>",
            f"<p>{esc(t['standard'])} · applicant {esc(t['applicant'])} · evaluation verdict "
            f"{_verdict(summary(rows))} ({sum(r['status'] == 'done' for r in rows)} of {len(rows)} tests done)</p>",
            _general(evaluation, data), _type(t), _equipment(data), _check_list(store, rows), _results(rows, data),
            _nonconformities(store, data), _heads(store, rows),
            f"<p class=\"generated\">Generated {esc(when)} from the record; everything else is regenerated identically "
            f"from the same record.</p>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n" + "\n".join(body)
            + "\n</body>\n</html>\n")


def _general(evaluation: Evaluation, data: dict[str, dict]) -> str:
    lab = next((d["header"].get("laboratory") for d in data.values() if d["header"].get("laboratory")), None)
    periods = [d["test_period"] for d in data.values() if d["test_period"]]
    rows = [("Laboratory", esc(lab["name"]) + (" (the shipped example, not a real one)" if lab.get("example") else "")
             if lab else "not recorded (no run yet)"),
            ("Evaluation", esc(evaluation.id)),
            ("Tests performed", f"{esc(min(p[0] for p in periods))} to {esc(max(p[1] for p in periods))} (UTC)"
             if periods else "none yet")]
    return "<h2>4.1 General</h2>\n" + _kv(rows)


def _type(t: dict[str, Any]) -> str:
    rows = [("Type", esc(t["name"])), ("Kind", esc(t["kind"])), ("Manufacturer", esc(t["manufacturer"])),
            ("Model", esc(t["model"])), ("Software identification", esc(t.get("software_id") or "none declared")),
            ("Type file", f"{esc(t['file'])} <span class=\"hash\">{esc(t['sha256'])}</span>")]
    samples = _table(["sample", "serial", "declaration", "received", "condition on receipt"],
                     [[str(s["number"]), esc(s["serial"]), esc(s["meter"]), esc(s["received"]), esc(s["condition"])]
                      for s in t["samples"]])
    return "<h2>4.2 Information concerning the type</h2>\n" + _kv(rows) + "\n<h3>Samples</h3>\n" + samples


def _equipment(data: dict[str, dict]) -> str:
    standards: dict[str, dict] = {}
    for d in data.values():
        for standard in d["header"].get("calibration", {}).values():
            standards.setdefault(standard["id"], standard)
    if not standards:
        return "<h2>4.3 Test equipment</h2>\n<p>No run yet.</p>"
    rows = [[esc(s["id"]), esc(s.get("certificate")), esc(s.get("laboratory")), esc(s.get("due_date")),
             "simulated laboratory" if s.get("simulated") else esc(s.get("status"))]
            for s in sorted(standards.values(), key=lambda s: s["id"])]
    return ("<h2>4.3 Test equipment</h2>\n<p>Every reference standard and severity-setting instrument the runs used, "
            "with its calibration status when the run started.</p>\n"
            + _table(["standard", "certificate", "issued by", "due", "status"], rows))


def _check_list(store: Store, rows: list[dict[str, Any]]) -> str:
    table = []
    for r in rows:
        run = r["run"]
        signed = "—" if run is None else (f"needs {', '.join(m)}" if (m := missing_sign_offs(store, run["id"]))
                                          else "released")
        table.append([str(r["number"]), esc(r["title"]), esc(r["procedure_id"]), esc(", ".join(r["samples"])),
                      esc(r["status"]), _verdict(r["verdict"]) if r["verdict"] else "—",
                      esc(run["id"]) if run else "—", signed])
    return ("<h2>4.4 Check list of the tests</h2>\n"
            + _table(["#", "test", "programme", "samples", "status", "verdict", "run", "sign-off"], table))


def _results(rows: list[dict[str, Any]], data: dict[str, dict]) -> str:
    out = ["<h2>5. Results</h2>"]
    for r in rows:
        out.append(f"<h3>{r['number']}. {esc(r['title'])}</h3>")
        if r["run"] is None:
            out.append("<p>Not yet performed.</p>")
            continue
        d = data[r["run"]["id"]]
        test = d["result"]["tests"][0]
        out.append(f"<p>Run {esc(r['run']['id'])}, {esc(d['result']['procedure']['clause'])}: "
                   f"{_verdict(r['run']['verdict'])}</p>")
        if len({p["point"] for p in test["points"]}) >= 3:
            png = base64.b64encode(figure_for(d, test)).decode("ascii")
            out.append(f'<img alt="error curve, run {esc(r["run"]["id"])}" src="data:image/png;base64,{png}">')
        if test["points"]:
            out.append(_table(["meter", "point", "Q (m³/h)", "E (%)", "U (%)", "MPE (%)", "decision rule", "verdict"],
                              [[esc(p["meter_serial"]), esc(p["label"]), num(p["flowrate_m3h"]),
                                num(p["error_pct"], 3, signed=True), num(p["U_pct"], 2), f"± {num(p['mpe_pct'])}",
                                esc(p["decision_rule"]), _verdict(p["verdict"], p.get("uncertainty_too_large"))]
                               for p in test["points"]], numeric=(2, 3, 4)))
        if test["checks"]:
            out.append(_table(["check", "meter", "outcome", "value", "U", "limit"],
                              [[esc(_check_name(c)), esc(c.get("meter_serial") or "—"), _verdict(c["outcome"]),
                                num(_detail(c, "value"), 3), num(_detail(c, "U_pct"), 2), num(_detail(c, "limit_pct"), 3)]
                               for c in test["checks"]]))
    return "\n".join(out)


def _nonconformities(store: Store, data: dict[str, dict]) -> str:
    """Those against the evaluation's runs and the standards they used."""
    standards = {s for d in data.values() for s in (d["header"].get("calibration") or {})}
    found = [n for n in nonconformities.listed(store) if n["run"] in data or n["standard"] in standards]
    if not found:
        return "<h2>5a. Nonconformities</h2>\n<p>None recorded against these runs or their standards.</p>"
    return "<h2>5a. Nonconformities</h2>\n" + _table(
        ["id", "found", "against", "finding", "by", "disposition"],
        [[esc(n["id"]), esc(n["at"][:19]), esc(f"run {n['run']}" if n["run"] else f"standard {n['standard']}"),
          esc(n["finding"]), esc(n["by"]),
          esc(f"{n['disposition']} ({n['disposed_by']})") if n["disposition"] else "<b>open</b>"] for n in found])


def _check_name(check: dict) -> str:
    """The check's name; a check in its own unit (the safety checks, several per run) with its point and unit."""
    unit = (check.get("details") or {}).get("unit")
    return check["check"] if unit is None else f"{check['check']}: {check.get('point') or ''} ({unit})"


def _detail(check: dict, key: str) -> Any:
    """A check's value, U or limit (`U_pct`, `limit_pct`: or the U and limit of a check in its own unit, the
    safety checks')."""
    details = check.get("details") or {}
    if "unit" in details and key in ("U_pct", "limit_pct"):
        return details.get(key[:-4] if key == "limit_pct" else "U")
    if key == "value":
        return next((details[k] for k in ("fault_pct", "wme_pct", "shift_pct", "spread_pct", "value") if k in details),
                    None)
    return details.get(key)


def _heads(store: Store, rows: list[dict[str, Any]]) -> str:
    seq, head = store.head()
    table = [[esc(r["run"]["id"]), esc(e.seq), f'<span class="hash">{esc(e.hash)}</span>']
             for r in rows if r["run"] for e in [list(store.entries(r["run"]["id"]))[-1]]]
    return ("<h2>6. Record</h2>\n" + _table(["run", "last entry", "hash"], table)
            + f"\n<p>Head of the chain at generation: entry {seq} <span class=\"hash\">{esc(head)}</span> "
              f"(<code>meterlab records verify --expect {seq}:{esc(head)}</code>).</p>")
