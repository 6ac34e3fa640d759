"""The type-evaluation report of a run (HTML, PDF, CSV), regenerated from its record alone.

The HTML follows the structure of the test report format of OIML R 49-3 / R 137-3: identification of the
type and the samples, test equipment (certificates and due dates), environmental conditions, for each test
its table of points and error-curve figure, the uncertainty budget of a representative point, disturbance
tests (error before / during / after, fault against its limit), the decision rule, calibration overrides,
sign-offs and the record's integrity (chain head, the run's last entry, the result of `verify()`).

Everything comes from the stored entries (through `run_result` and the entries themselves), so the same
record always yields the same report; the one exception is the line marked `class="generated"` that
states when the report was produced. The PDF is rendered from the same HTML by WeasyPrint.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import yaml

from meterlab.errors import MeterlabError
from meterlab.metrology.rounding import rounded
from meterlab.records.keys import Keyring, RecordsKeyError
from meterlab.records.people import missing_sign_offs
from meterlab.records.store import Entry, Store
from meterlab.reports.figures import envelope_from_points, envelope_of, error_curve_png
from meterlab.reports.results import run_result
from meterlab.sim.clock import VIRTUAL

GENERATED_CLASS = "generated"
CSV_COLUMNS = ("run_id", "test_id", "meter_serial", "point", "repeat", "step_label", "role", "flowrate_m3h",
               "reference_volume_l", "indicated_volume_l", "error_pct", "u_pct", "k", "U_pct", "mpe_pct", "verdict",
               "decision_rule")
RULE_TEXT = {
    "simple": "Simple acceptance (shared risk, ILAC-G8:09/2019, OIML G 1-106): a quantity passes when its "
              "measured value is within its limit (|E| ≤ MPE; a fault below the significant-fault limit), no "
              "guard band (w = 0). It is used only while U does not exceed the fraction of the MPE the standard "
              "allows; a point whose U exceeds it is reported as 'uncertainty too large', unless |E| − U > MPE: "
              "a demonstrated failure is a fail, with 'uncertainty too large' stated beside it.",
    "guarded": "Guarded acceptance with guard band w = U (ILAC-G8:09/2019 4.2, non-binary statement): a quantity "
               "passes when |E| + U is within the limit, fails when |E| − U is beyond it; in between it is a "
               "conditional pass when the measured value is within the limit and a conditional fail when it is "
               "beyond. A point whose U exceeds the allowed fraction of the MPE is reported as 'uncertainty too "
               "large', unless the failure is demonstrated (then fail, with 'uncertainty too large' beside it).",
}
RISK_TEXT = ("Specific risk (JCGM 106:2012 = OIML G 1-106): for an accepted quantity the probability that "
             "its true value is beyond the limit (false acceptance), for a rejected one the probability that it "
             "is within (false rejection), assuming a normal distribution with the stated u = U/k; for "
             "repeatability, from the χ² distribution of the standard deviation of n results.")
BEFORE_ROLES = ("intrinsic", "before")
DURING_ROLES = ("disturbed", "influence")
AFTER_ROLES = ("after_disturbance", "after")

CSS = """
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 9.5pt; color: #111; margin: 1.5em; }
h1 { font-size: 15pt; margin-bottom: 0.2em; } h2 { font-size: 12pt; border-bottom: 1px solid #888;
margin-top: 1.4em; } h3 { font-size: 10.5pt; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 8.5pt; max-width: 100%; }
th, td { border: 1px solid #aaa; padding: 2px 4px; text-align: left; vertical-align: top; }
td .note { font-size: inherit; }
@media print { body { margin: 0; } table { font-size: 7pt; } }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th { background: #eee; } .pass { color: #1a7f37; font-weight: bold; } .fail { color: #c62828; font-weight: bold; }
.draft { border: 2px solid #c62828; color: #c62828; padding: 0.4em 0.8em; font-size: 11pt; }
.inconclusive, .uncertainty-too-large { color: #b26a00; font-weight: bold; }
.conditional-pass { color: #4d7f1a; font-weight: bold; } .conditional-fail { color: #d84315; font-weight: bold; }
.hash { font-family: 'DejaVu Sans Mono', monospace; font-size: 8pt; word-break: break-all; }
.note { color: #444; font-size: 8.5pt; } .generated { color: #555; font-style: italic; border-top: 1px solid #888;
padding-top: 0.4em; } img.figure { width: 100%; max-width: 17cm; }
@page { size: A4; margin: 1.5cm; @bottom-right { content: "page " counter(page) " of " counter(pages);
font-size: 8pt; } }
"""


class ReportError(MeterlabError):
    """A report cannot be produced (unknown format, missing PDF renderer)."""


# ------------------------------------------------------------------------------------------- formatting
def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def num(x: Any, digits: int = 4, signed: bool = False) -> str:
    if x is None:
        return "—"
    if isinstance(x, str):
        return {"inf": "∞", "-inf": "−∞", "nan": "—"}.get(x, x)
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, (int, float)):
        if isinstance(x, float) and math.isinf(x):
            return "∞" if x > 0 else "−∞"
        if isinstance(x, float) and math.isnan(x):
            return "—"
        return f"{x:+.{digits}f}" if signed else f"{x:.{digits}g}"
    return str(x)


def _cell(value: Any, *, numeric: bool = False, cls: str = "") -> str:
    classes = " ".join(c for c in ("num" if numeric else "", cls) if c)
    attr = f' class="{classes}"' if classes else ""
    return f"<td{attr}>{value}</td>"


def _verdict(outcome: str | None, too_large: bool | None = None) -> str:
    """An outcome label in its colour; 'uncertainty too large' beside a fail it did not replace."""
    text = outcome or "—"
    beside = " " + _verdict("uncertainty too large") if too_large and text != "uncertainty too large" else ""
    return f'<span class="{esc(text.replace(" ", "-"))}">{esc(text)}</span>{beside}'


def _risk(risk: dict | None) -> str:
    return f"{esc(risk['kind'])} {risk['probability']:.2%}" if risk else "—"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric_from: int | None = None,
           numeric: Iterable[int] = ()) -> str:
    numeric = set(numeric)
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr></thead>", "<tbody>"]
    for row in rows:
        cells = [_cell(v, numeric=(numeric_from is not None and i >= numeric_from) or i in numeric)
                 for i, v in enumerate(row)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _kv(rows: Iterable[tuple[str, str]]) -> str:
    return "<table>\n" + "\n".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows) + "\n</table>"


# -------------------------------------------------------------------------------------------- the data
def _declarations(header: dict) -> dict[str, dict]:
    """The meter declarations as stored in the header, keyed by serial (raw YAML values)."""
    out: dict[str, dict] = {}
    for item in (header.get("inputs") or {}).get("meters") or []:
        try:
            data = yaml.safe_load(item.get("text") or "") or {}
        except yaml.YAMLError:
            continue
        if isinstance(data, dict) and data.get("serial"):
            out[str(data["serial"])] = {**data, "_file": item.get("file")}
    return out


def _meter_model(declaration: dict | None) -> Any | None:
    """The metrology core's meter for a stored declaration (None when it no longer validates)."""
    if not declaration:
        return None
    from meterlab.metrology.declarations import MeterDeclaration

    try:
        return MeterDeclaration.model_validate({k: v for k, v in declaration.items() if not k.startswith("_")}).meter()
    except Exception:  # noqa: BLE001 - the figure falls back to the MPE recorded with the points
        return None


def collect(store: Store, run_id: str) -> dict[str, Any]:
    """Everything the report states, from the record of one run."""
    result = run_result(store, run_id)
    entries: list[Entry] = list(store.entries(run_id))
    header = entries[0].payload
    measurements = [e for e in entries if e.kind == "measurement"]
    approvals = [{"by": e.payload.get("by"), "role": e.payload.get("role"), "comment": e.payload.get("comment"),
                  "at": e.created_at, "seq": e.seq, "hash": e.hash} for e in entries if e.kind == "approval"]
    head_seq, head_hash = store.head()
    try:
        keyring, unauthenticated = Keyring.load(), None
    except RecordsKeyError as exc:  # a report printed where the lab's key is not: say what was not checked
        keyring, unauthenticated = None, str(exc)
    return {
        "run_id": run_id, "result": result, "header": header, "measurements": measurements, "entries": entries,
        "approvals": approvals, "declarations": _declarations(header),
        "missing_sign_offs": missing_sign_offs(store, run_id),
        "integrity": {"head_seq": head_seq, "head_hash": head_hash, "last_seq": entries[-1].seq,
                      "last_hash": entries[-1].hash, "last_kind": entries[-1].kind, "entries": len(entries),
                      "problems": store.verify(keyring=keyring, authenticate=keyring is not None),
                      "unauthenticated": unauthenticated},
        "operator_actions": [{"at": e.created_at, **e.payload} for e in entries if e.kind == "operator"],
        "test_period": _test_period(entries),
    }


def _test_period(entries: list[Entry]) -> tuple[str, str] | None:
    """When the first and the last action of the run were done (None before any action)."""
    done = [e.created_at for e in entries if e.kind in ("action_done", "measurement")]
    return (done[0], done[-1]) if done else None


def report_number(data: dict) -> str:
    """The report's unique number: the laboratory's prefix, the year the run was created, the run id."""
    prefix = (data["header"].get("laboratory") or {}).get("report_prefix") or "RUN"
    return f"{prefix}-{str(data['result']['created_at'])[:4]}-{data['run_id']}"


def figure_for(data: dict, test: dict) -> bytes:
    """The error-curve PNG of one test of the report data."""
    models = [m for m in (_meter_model(data["declarations"].get(s)) for s in data["result"]["meters"]) if m]
    try:
        envelope = envelope_of(models[0]) if models else envelope_from_points(test["points"])
    except MeterlabError:  # a declaration the profile no longer accepts: the MPE recorded with the points
        envelope = envelope_from_points(test["points"])
    boundary = "Qt" if models and hasattr(models[0], "qt_m3h") else "Q2"
    return error_curve_png(test["points"], envelope=envelope, boundary_name=boundary,
                           title=f"{data['result']['procedure']['id']}: error of indication")


# ------------------------------------------------------------------------------------------- sections
def _laboratory(data: dict) -> list[tuple[str, str]]:
    lab = data["header"].get("laboratory")
    if not lab:
        return [("Laboratory", "<b>not recorded</b> (the run was created without a laboratory file)")]
    name = esc(lab["name"]) + (" — <b>the shipped example laboratory, not a real one</b>" if lab.get("example") else "")
    return [("Laboratory", name), ("Address", esc(lab["address"])),
            ("Accreditation", f"{esc(lab['accreditation_body'])}, {esc(lab['accreditation_number'])}")]


def _general(data: dict) -> str:
    r, h = data["result"], data["header"]
    proc = h.get("procedure", {})
    period = data["test_period"]
    rows = _laboratory(data) + [
        ("Report number", f"<b>{esc(report_number(data))}</b> (issue date: at the end of the report)"),
        ("Test started / ended (UTC)", f"{esc(period[0])} / {esc(period[1])}" if period else "no action done"),
        ("Run", esc(r["id"])),
        ("Procedure", f"{esc(proc.get('id'))} v{esc(proc.get('version'))}: {esc(proc.get('title'))}"),
        ("Standard / clause", f"{esc(proc.get('standard'))}:{esc(proc.get('edition'))}, {esc(proc.get('clause'))}"),
        ("Procedure SHA-256", f'<span class="hash">{esc(proc.get("sha256"))}</span>'),
        ("Standard profile", f"{esc(h.get('profile', {}).get('name'))} "
                             f'(<span class="hash">{esc(h.get("profile", {}).get("sha256"))}</span>)'),
        ("Bench", f"{esc(h.get('bench', {}).get('name'))} "
                  f'(<span class="hash">{esc(h.get("bench", {}).get("sha256"))}</span>)'),
        ("Software", f"meterlab {esc(h.get('software_version'))}, Python {esc(h.get('python'))}"),
        ("Operator (test performed by)", esc(r["operator"])),
        ("Run created", esc(r["created_at"])),
        ("Run state", esc(r["state"])),
        ("Overall verdict", _verdict(r["verdict"])),
    ]
    scale = h.get("clock_scale", 1.0)
    if scale != 1.0:
        clock = "virtual time" if scale == VIRTUAL else f"clock scale {num(scale)}"
        rows.append(("Simulated lab", f"yes ({clock}): results are not from a physical rig"))
    return "<h2>1. General information</h2>\n" + _kv(rows)


WATER_FIELDS = (("Q3 (m³/h)", "q3_m3h"), ("R = Q3/Q1", "r"), ("Q2/Q1", "q2_over_q1"),
                ("temperature class", "temperature_class"))
GAS_FIELDS = (("Qmin (m³/h)", "qmin_m3h"), ("Qt (m³/h)", "qt_m3h"), ("Qmax (m³/h)", "qmax_m3h"))


def _samples(data: dict) -> str:
    serials = data["result"]["meters"]
    decls = data["declarations"]
    kinds = {decls.get(s, {}).get("kind") for s in serials}
    fields = [("manufacturer", "manufacturer"), ("model (type)", "model"), ("software identification", "software_id"),
              ("kind", "kind"), ("accuracy class", "accuracy_class")]
    fields += list(WATER_FIELDS if "water" in kinds else ()) + list(GAS_FIELDS if "gas" in kinds else ())
    fields += [("verification scale interval (L)", "scale_interval_l"), ("pulse value (L)", "pulse_value_l"),
               ("readout", "readout"), ("electronic", "electronic"), ("environment classes", "environment"),
               ("declaration file", "_file")]
    rows = []
    for label, key in fields:
        row = [esc(label)]
        for s in serials:
            value = decls.get(s, {}).get(key)
            if isinstance(value, dict):
                value = ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
            row.append(esc(value) if value is not None else "—")
        rows.append(row)
    models = {s: _meter_model(decls.get(s)) for s in serials}
    derived = []
    for s, m in models.items():
        if m is None:
            continue
        if hasattr(m, "q2_m3h"):
            derived.append(f"{esc(s)}: Q1 = {num(m.q1_m3h)} m³/h, Q2 = {num(m.q2_m3h)} m³/h, "
                           f"Q3 = {num(m.q3_m3h)} m³/h, Q4 = {num(m.q4_m3h)} m³/h")
        else:
            derived.append(f"{esc(s)}: Qmin = {num(m.qmin_m3h)} m³/h, Qt = {num(m.qt_m3h)} m³/h, "
                           f"Qmax = {num(m.qmax_m3h)} m³/h")
    return ("<h2>2. Identification of the type and the samples</h2>\n"
            + _table(["declared"] + [f"sample {s}" for s in serials], rows)
            + ("<p class=\"note\">Flowrates from the declarations: " + "; ".join(derived) + "</p>" if derived else ""))


def _equipment(data: dict) -> str:
    snapshot = data["header"].get("calibration") or {}
    entries = [snapshot[key] for key in sorted(snapshot)]
    standards = [c for c in entries if c.get("kind", "calibration") == "calibration"]
    severity = [c for c in entries if c.get("kind") == "verification"]
    out = ["<h2>3. Test equipment (reference standards)</h2>",
           "<p class=\"note\">Calibration status as recorded when the run was created.</p>"]
    if any(c.get("simulated") for c in entries):
        out.append("<p><b>Simulated laboratory.</b> The certificates marked “simulated laboratory” are issued for "
                   "the simulated laboratory's standards: their values are those the simulation is built on, they are "
                   "no calibration of a real instrument, their dates are not enforced, and a real bench refuses them.</p>")
    out.append(_table(["standard", "description", "bench instrument", "serial", "certificate", "laboratory",
                       "accreditation", "calibrated", "due", "status"], [_standard_row(c) for c in standards])
               if standards else "<p>No reference standard.</p>")
    if severity:
        out += ["<h3>Equipment setting the severity of the tests (verification)</h3>",
                _table(["equipment", "description", "bench instrument", "serial", "certificate", "laboratory",
                        "verified", "due", "status", "quantities verified"], [_severity_row(c) for c in severity])]
    return "\n".join(out)


def _status_cell(c: dict) -> str:
    if c.get("simulated"):
        return f"simulated laboratory (dates not enforced), checked on {esc(c.get('checked_on'))}"
    return f"{esc(c.get('status'))} on {esc(c.get('checked_on'))}"


def _standard_row(c: dict) -> list[str]:
    return [esc(c.get("id")), esc(c.get("description")), esc(c.get("instrument")), esc(c.get("serial")),
            f"<b>{esc(c.get('certificate'))}</b>", esc(c.get("laboratory")), esc(c.get("accreditation")),
            esc(c.get("calibration_date")), f"<b>{esc(c.get('due_date'))}</b>", _status_cell(c)]


def _severity_row(c: dict) -> list[str]:
    verified = "<br>".join(f"{esc(v['quantity'])}: {esc(v['requirement'])}"
                           + (f" (found {esc(v['result'])})" if v.get("result") else "")
                           + f" [{esc(v['clause'])}{'' if v['status'] == 'verified' else ', ' + esc(v['status'])}]"
                           for v in c.get("verified") or [])
    return [esc(c.get("id")), esc(c.get("description")), esc(c.get("instrument")), esc(c.get("serial")),
            f"<b>{esc(c.get('certificate'))}</b>", esc(c.get("laboratory")), esc(c.get("calibration_date")),
            f"<b>{esc(c.get('due_date'))}</b>", _status_cell(c), f"{verified}<br><i>{esc(c.get('conformity'))}</i>"]


CONDITIONS = (("water_temperature_c", "water temperature", "°C", 1.0),
              ("water_pressure_pa", "water pressure (absolute)", "kPa", 1e-3),
              ("gas_temperature_c", "gas temperature", "°C", 1.0),
              ("gas_pressure_pa", "gas pressure (absolute)", "kPa", 1e-3),
              ("chamber_temperature_c", "ambient / chamber temperature", "°C", 1.0),
              ("chamber_humidity_pct", "ambient / chamber relative humidity", "%", 1.0))


def _conditions(data: dict) -> str:
    values: dict[str, list[float]] = {}
    for e in data["measurements"]:
        for k, v in (e.payload.get("conditions") or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                values.setdefault(k, []).append(float(v))
    known = {k for k, *_ in CONDITIONS}
    rows = []
    for key, label, unit, scale in CONDITIONS + tuple((k, k, "", 1.0) for k in sorted(values) if k not in known):
        vs = values.get(key)
        if not vs:
            continue
        rows.append([esc(label), esc(unit), num(min(vs) * scale, 5), num(sum(vs) / len(vs) * scale, 5),
                     num(max(vs) * scale, 5), str(len(vs))])
    body = _table(["quantity", "unit", "min", "mean", "max", "measurements"], rows, numeric_from=2) if rows \
        else "<p>No conditions recorded.</p>"
    return "<h2>4. Environmental and test conditions</h2>\n" + body


def _points_table(points: Sequence[dict]) -> str:
    rows = []
    for p in points:
        error, expanded = rounded(p["error_pct"], p["U_pct"], signed=True)
        rows.append([esc(p["meter_serial"]), esc(p["point"]), esc(p["repeat"]), esc(p.get("step_label") or p.get("role")),
                     num(p["flowrate_m3h"], 5), num(p["reference_volume_l"], 6), num(p["indicated_volume_l"], 6),
                     error, expanded, num(p["k"], 3), f"± {num(p['mpe_pct'])}",
                     _verdict(p["verdict"], p.get("uncertainty_too_large"))])
    return (_table(["meter", "point", "repeat", "step", "Q (m³/h)", "V_ref (L)", "V_i (L)", "E (%)", "U (%)", "k",
                    "MPE (%)", "verdict"], rows, numeric=range(4, 11))
            + "<p class=\"note\">E and U rounded per GUM 7.2.6: U up to two significant digits, E to the same "
              "place; the verdicts were decided on the unrounded values (JSON and CSV keep them).</p>")


def _checks_table(checks: Sequence[dict]) -> str:
    if not checks:
        return ""
    rows = []
    for c in checks:
        details = ", ".join(f"{esc(k)} = {esc(num(v) if isinstance(v, float) else v)}"
                            for k, v in sorted((c.get("details") or {}).items()) if not isinstance(v, (dict, list)))
        rows.append([esc(c.get("meter_serial")), esc(c.get("check")), esc(c.get("point") or ""), _verdict(c.get("outcome")),
                     details])
    return "<h3>Checks</h3>\n" + _table(["meter", "check", "point", "outcome", "details"], rows)


def _tests(data: dict, figures: dict[int, bytes]) -> str:
    out = ["<h2>5. Tests and results</h2>"]
    proc = data["header"].get("procedure", {})
    for i, test in enumerate(data["result"]["tests"]):
        png = figures[i]
        out.append(f"<h3>5.{i + 1} {esc(proc.get('title') or test['id'])}</h3>")
        out.append(f"<p>Test {esc(test['id'])} ({esc(proc.get('clause'))}): verdict {_verdict(test['verdict'])}; "
                   f"{len(test['points'])} results (meter × point × repeat).</p>")
        if test["points"]:  # a test of other quantities (pressure loss) has no error curve
            out.append(f'<p><img class="figure" alt="error curve of {esc(test["id"])}" '
                       f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"></p>')
            out.append("<p class=\"note\">Figure: error of indication against flowrate (log axis), one series per "
                       "meter; error bars are the expanded uncertainty U; the black steps are the MPE envelope.</p>")
            out.append(_points_table(test["points"]))
        out.append(_checks_table(test["checks"]))
        out.append(_skipped(test.get("skipped_checks") or []))
    return "\n".join(out)


def _skipped(skipped: Sequence[dict]) -> str:
    """Checks of the programme that did not apply to a meter, and why (no verdict: nothing was judged)."""
    if not skipped:
        return ""
    rows = [[esc(s.get("meter_serial")), esc(s.get("check")), esc(s.get("why"))] for s in skipped]
    return "<p class=\"note\">Checks not applicable to a meter (no verdict):</p>\n" + _table(["meter", "check", "why"], rows)


def _indication(raw: dict) -> str:
    """The meter's raw readings, written as the indicated volume follows from them."""
    if "pulses" in raw:
        return f"{raw['pulses']} pulses × {num(raw.get('pulse_value_l'), 6)} L"
    if "start_l" in raw and "end_l" in raw:
        return f"register {num(raw['end_l'], 9)} − {num(raw['start_l'], 9)} L"
    return "—"


def _corrections(payload: dict) -> str:
    """The certificate corrections applied to the reference readings: certificate: reading → correction."""
    corrections = (payload.get("conditions") or {}).get("corrections") or {}
    return "<br>".join(f"{esc(cert)}: " + ", ".join(f"{num(c['reading'], 9)} ({num(c['correction'], 3, signed=True)})"
                                                     for c in items)
                       for cert, items in sorted(corrections.items())) or "—"


def _meter_readings_table(data: dict) -> str:
    rows = []
    for e in data["measurements"]:
        m = e.payload
        times = m.get("sim_time_s") or {}
        duration = (times["stop_s"] - times["start_s"]) if {"start_s", "stop_s"} <= set(times) else None
        for r in m.get("meters") or []:
            v_ref = r.get("reference_volume_l", m.get("reference_volume_l"))
            rows.append([esc(e.seq), esc(r["meter_serial"]), esc((m.get("point") or {}).get("name")), esc(m.get("repeat")),
                         num(duration, 6), _indication(r.get("raw") or {}), num(r.get("indicated_volume_l"), 9),
                         num(v_ref, 9), num(r.get("error_pct"), 6, signed=True)])
    return _table(["entry", "meter", "point", "repeat", "duration (s)", "meter readings", "V_i (L)", "V_ref (L)",
                   "E (%)"], rows, numeric=range(4, 9))


def _during(payload: dict) -> str:
    """The water temperature while the reference collected: mean, range and number of readings."""
    d = (payload.get("conditions") or {}).get("water_temperature_c_during")
    return f"{num(d['mean'], 6)} ({num(d['min'], 6)} … {num(d['max'], 6)}, n = {d['n']})" if d else "—"


def _reference_readings_table(data: dict) -> str:
    keys = sorted({k for e in data["measurements"] for k in (e.payload.get("reading") or {})})
    rows = [[esc(e.seq)] + [num((e.payload.get("reading") or {}).get(k), 9) for k in keys]
            + [_during(e.payload), _corrections(e.payload)] for e in data["measurements"]]
    return _table(["entry"] + [k.replace("_", " ") for k in keys]
                  + ["water temperature during collection °C: mean (range, n)",
                     "certificate corrections: reading (correction)"], rows, numeric=range(1, len(keys) + 1))


def _raw_readings(data: dict) -> str:
    """Per measurement, the readings E is computed from, so a reviewer can recompute it by hand."""
    if not data["measurements"]:
        return ""
    return ("<h2>A. Raw readings</h2>\n<p class=\"note\">E = (V_i − V_ref) / V_ref × 100 %. V_i from the meter's "
            "readings (A.1); V_ref from the reference standard's readings (A.2, same record entry), corrected by its "
            "certificates and converted to the meter's conditions by the method's model (its inputs are in the "
            "budget, section 6).</p>\n<h3>A.1 Meters</h3>\n" + _meter_readings_table(data)
            + "\n<h3>A.2 Reference standard</h3>\n" + _reference_readings_table(data))


def representative(data: dict) -> tuple[Entry, dict] | None:
    """The point whose U takes the largest share of its MPE (the most demanding for the decision)."""
    best, best_ratio = None, -1.0
    for e in data["measurements"]:
        for m in e.payload.get("meters") or []:
            if not m.get("budget"):
                continue
            ratio = (m.get("U_pct") or 0.0) / m["mpe_pct"] if m.get("mpe_pct") else 0.0
            if isinstance(ratio, float) and ratio > best_ratio:
                best, best_ratio = (e, m), ratio
    return best


def _budget(data: dict) -> str:
    found = representative(data)
    out = ["<h2>6. Uncertainty budget of a representative point</h2>"]
    if found is None:
        return "\n".join(out + ["<p>No budget recorded.</p>"])
    e, m = found
    point = e.payload.get("point") or {}
    out.append(f"<p>Meter {esc(m['meter_serial'])}, point {esc(point.get('name'))} repeat {esc(e.payload.get('repeat'))}"
               f"{' (' + esc(e.payload['step_label']) + ')' if e.payload.get('step_label') else ''}, "
               f"Q = {num(e.payload.get('flowrate_m3h'), 5)} m³/h, V_ref = {num(e.payload.get('reference_volume_l'), 6)} L "
               f"(record entry {e.seq}). Chosen as the point where U is the largest fraction of the MPE.</p>")
    out.append(budget_table(m))
    return "\n".join(out)


def budget_table(m: dict) -> str:
    """One meter's budget at one point (a measurement's `meters` item): every input with its source (the
    certificate that read it), and the result."""
    rows = []
    for b in m["budget"]:
        rows.append([esc(b.get("name")), esc(b.get("source")), num(b.get("value"), 8), num(b.get("u"), 3),
                     num(b.get("dof"), 3), num(b.get("sensitivity"), 4),
                     f"{b['contribution']:+.2e}" if isinstance(b.get("contribution"), float) else esc(b.get("contribution")),
                     f"{b['variance_pct']:.1f} %" if isinstance(b.get("variance_pct"), float) else "—"])
    return (_table(["input", "source", "estimate", "u(xᵢ)", "νᵢ", "cᵢ", "cᵢ·u(xᵢ) / %", "share"], rows, numeric_from=2)
            + f"\n<p>E = {num(m.get('error_pct'), 4, signed=True)} %, u = {num(m.get('u_pct'), 4)} %, "
              f"ν_eff = {num(m.get('dof'), 3)}, k = {num(m.get('k'), 3)}, U = {num(m.get('U_pct'), 4)} % "
              f"(limit {num(m.get('max_U_pct'), 3)} %), MPE ± {num(m.get('mpe_pct'))} %.</p>")


def disturbance_rows(data: dict) -> list[dict]:
    """Per meter and point of a disturbance test: error before, during and after, fault and its limit."""
    measurements = [e.payload for e in data["measurements"]]
    if not any(m.get("disturbance") or m.get("role") in DURING_ROLES + AFTER_ROLES for m in measurements):
        return []
    faults = {(c.get("meter_serial"), c.get("point")): c for t in data["result"]["tests"] for c in t["checks"]
              if c.get("check") == "significant_fault"}
    table: dict[tuple[str, str], dict] = {}
    for m in measurements:
        for r in m.get("meters") or []:
            key = (r["meter_serial"], (m.get("point") or {}).get("name"))
            row = table.setdefault(key, {"meter_serial": key[0], "point": key[1], "before": [], "during": [],
                                         "after": [], "disturbance": None})
            role = m.get("role") or "intrinsic"
            slot = "before" if role in BEFORE_ROLES else "during" if role in DURING_ROLES else "after"
            row[slot].append(r["error_pct"])
            if m.get("disturbance"):
                row["disturbance"] = m["disturbance"]
    rows = []
    for key, row in table.items():
        check = faults.get(key) or faults.get((key[0], None))
        details = (check or {}).get("details") or {}
        rows.append({**row, "fault_pct": details.get("fault_pct"), "U_pct": details.get("U_pct"),
                     "limit_pct": details.get("limit_pct"), "outcome": (check or {}).get("outcome")})
    return rows


def _disturbances(data: dict) -> str:
    rows = disturbance_rows(data)
    out = ["<h2>7. Disturbance tests</h2>"]
    if not rows:
        return "\n".join(out + ["<p>This test applies no disturbance.</p>"])

    def errors(values: list[float]) -> str:
        return ", ".join(num(v, 3, signed=True) for v in values) if values else "—"

    kinds = {}
    for row in rows:
        if row["disturbance"]:
            kinds[row["disturbance"]["kind"]] = row["disturbance"].get("parameters") or {}
    for kind, params in kinds.items():
        out.append(f"<p>Disturbance <b>{esc(kind)}</b>: "
                   + "; ".join(f"{esc(k)} = {esc(v)}" for k, v in sorted(params.items())) + "</p>")
    out.append(_table(["meter", "point", "E before (%)", "E during (%)", "E after (%)", "fault (%)", "U (%)",
                       "limit (%)", "outcome"],
                      [[esc(r["meter_serial"]), esc(r["point"]), errors(r["before"]), errors(r["during"]),
                        errors(r["after"]), num(r["fault_pct"], 3), num(r["U_pct"], 3), num(r["limit_pct"], 3),
                        _verdict(r["outcome"])] for r in rows], numeric=range(2, 8)))
    out.append("<p class=\"note\">Fault = the difference between the error during (or after) the disturbance and "
               "the intrinsic error before it, decided with its expanded uncertainty U against the significant-fault "
               "limit under the run's decision rule. U combines the budgets of both errors; the correlation between "
               "them is not recorded, so it is taken as 0 (the larger U).</p>")
    return "\n".join(out)


def decisions(data: dict) -> list[list[str]]:
    """One row per decided quantity (point or check): what, its unit, value, U, limit, guard band, outcome, specific
    risk. Errors and the checks on them are in %; a check stating its own `unit` (the safety checks: s, L/h) gives
    its `value`, `U` and `limit` in it."""
    rows = []
    for test in data["result"]["tests"]:
        for p in test["points"]:
            rows.append([esc(p["meter_serial"]), esc(p["label"]), "error", "%", num(p["error_pct"], 3, signed=True),
                         num(p["U_pct"], 3), f"± {num(p['mpe_pct'])}", num(p.get("guard_band_pct"), 3),
                         _verdict(p["verdict"], p.get("uncertainty_too_large")), _risk(p.get("specific_risk"))])
        for c in test["checks"]:
            d = c.get("details") or {}
            if "unit" in d:
                value, expanded, limit, unit = d.get("value"), d.get("U"), d.get("limit"), d["unit"]
            else:
                value = next((d[k] for k in ("fault_pct", "wme_pct", "shift_pct", "std_dev_pct") if k in d), None)
                expanded, limit, unit = d.get("U_pct"), d.get("limit_pct") or d.get("max_shift_pct"), "%"
            rows.append([esc(c.get("meter_serial")), esc(c.get("point") or ""), esc(c.get("check")), esc(unit),
                         num(value, 3), num(expanded, 3), num(limit), num(d.get("guard_band_pct"), 3),
                         _verdict(c.get("outcome"), d.get("uncertainty_too_large")), _risk(d.get("specific_risk"))])
    return rows


def _decision(data: dict) -> str:
    rule = data["header"].get("decision_rule") or "simple"
    applied = sorted({p.get("decision_rule") for t in data["result"]["tests"] for p in t["points"] if p.get("decision_rule")})
    return ("<h2>8. Decision rule and specific risk</h2>\n"
            f"<p>Decision rule <b>{esc(rule)}</b> (as applied: {esc(', '.join(applied) or rule)}). "
            f"{esc(RULE_TEXT.get(rule, ''))}</p>\n<p>{esc(RISK_TEXT)}</p>\n"
            + _table(["meter", "point", "quantity", "unit", "value", "U", "limit", "guard band w", "outcome",
                      "specific risk"], decisions(data), numeric=range(4, 8))
            + "<p class=\"note\">— : not recorded (a record made before guard bands and risks were stored), or no "
              "decision (inconclusive, uncertainty too large).</p>")


def _override(data: dict) -> str:
    override = data["header"].get("calibration_override")
    out = ["<h2>9. Calibration overrides</h2>"]
    if not override:
        return "\n".join(out + ["<p>None: every standard was within its due date and range when the run was created.</p>"])
    out.append(f"<p><b>The run was performed although a standard was not usable. Reason recorded: "
               f"“{esc(override.get('reason'))}”.</b></p>")
    rows = [[esc(p.get("kind")), esc(p.get("standard")), esc(p.get("certificate")), esc(p.get("message"))]
            for p in override.get("problems") or []]
    if rows:
        out.append(_table(["problem", "standard", "certificate", "details"], rows))
    return "\n".join(out)


def _unverified(data: dict) -> str:
    profile = data["header"].get("profile") or {}
    values = profile.get("unverified") or []
    out = ["<h2>10. Values of the standard profile not verified against the published text</h2>"]
    if not values:
        return "\n".join(out + [f"<p>None: every value of profile {esc(profile.get('name'))} is verified.</p>"])
    out.append(f"<p>The profile {esc(profile.get('name'))} marks these values as not yet verified against the "
               f"published standard; results that depend on them must be confirmed:</p>")
    out.append("<ul>" + "".join(f"<li>{esc(v)}</li>" for v in values) + "</ul>")
    return "\n".join(out)


def _signoffs(data: dict) -> str:
    out = ["<h2>11. Sign-offs</h2>"]
    authenticated = data["header"].get("operator_authenticated")
    how = "authenticated user" if authenticated else "name as given (not a user of the records)"
    rows = [["performed", esc(data["result"]["operator"]), f"operator ({how})", esc(data["result"]["created_at"]),
             "", ""]]
    for a in data["operator_actions"]:
        rows.append([esc(a.get("action")), esc(a.get("operator")), "operator", esc(a.get("at")), "", ""])
    for a in data["approvals"]:
        what = "reviewed" if a["role"] == "metrologist" else "approved"
        rows.append([what, esc(a["by"]), esc(a["role"]), esc(a["at"]), esc(a.get("comment") or ""),
                     f'entry {a["seq"]} <span class="hash">{esc(a["hash"])}</span>'])
    out.append(_table(["action", "by", "role", "when (UTC)", "comment", "record entry"], rows))
    if not data["approvals"]:
        out.append("<p><b>Not yet reviewed or approved</b> (no sign-off entry in the record).</p>")
    elif data["missing_sign_offs"]:
        out.append(f"<p><b>Not yet released</b>: still needs {esc(' and '.join(data['missing_sign_offs']))}.</p>")
    return "\n".join(out)


def _integrity(data: dict) -> str:
    i = data["integrity"]
    checked = ("every entry's hash and link recomputed, each authenticated by the laboratory's records key"
               if not i.get("unauthenticated") else
               f"every entry's hash and link recomputed; not authenticated here ({esc(i['unauthenticated'])})")
    verdict = (f"<span class=\"pass\">intact</span>: {checked}" if not i["problems"]
               else "<span class=\"fail\">BROKEN</span>: " + "; ".join(esc(p) for p in i["problems"]))
    rows = [("Entries of this run", str(i["entries"])),
            ("Last entry of this run", f'{i["last_seq"]} ({esc(i["last_kind"])}) '
                                       f'<span class="hash">{esc(i["last_hash"])}</span>'),
            ("Head of the chain (store)", f'{i["head_seq"]} <span class="hash">{esc(i["head_hash"])}</span>'),
            ("Chain verification", verdict)]
    return ("<h2>12. Record integrity</h2>\n" + _kv(rows)
            + "\n<p class=\"note\">Re-check with <code>meterlab records verify --expect SEQ:HASH</code> given the head "
              "above: a database put back from an older copy no longer holds it (docs/records.md).</p>")


# ------------------------------------------------------------------------------------------- renderers
def render_html(store: Store, run_id: str, *, generated_at: datetime | None = None) -> str:
    """The type-evaluation report as one self-contained HTML page (figures embedded as PNG data URIs)."""
    data = collect(store, run_id)
    figures = {i: figure_for(data, t) for i, t in enumerate(data["result"]["tests"])}
    r = data["result"]
    when = (generated_at or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="seconds")
    missing = data["missing_sign_offs"]
    title = ("DRAFT — " if missing else "") + f"Type evaluation report — {r['procedure']['title']}"
    draft = (f'<p class="draft"><b>DRAFT</b>: not released. The laboratory\'s sign-off policy still needs '
             f'{esc(" and ".join(missing))} (<code>meterlab records approve</code>); these results may not be '
             f"reported as released.</p>") if missing else ""
    body = "\n".join([
        f"<h1>{esc(title)}</h1>", draft,
        f"<p>Report <b>{esc(report_number(data))}</b> · run {esc(r['id'])} · {esc(r['procedure']['id'])} · "
        f"{esc(r['procedure']['clause'])} · "
        f"verdict {_verdict(r['verdict'])}</p>",
        _general(data), _samples(data), _equipment(data), _conditions(data), _tests(data, figures), _budget(data),
        _disturbances(data), _decision(data), _override(data), _unverified(data), _signoffs(data), _integrity(data),
        _raw_readings(data),
        f'<p class="{GENERATED_CLASS}">Report {esc(report_number(data))} issued {esc(when[:10])} (generated {esc(when)} '
        f"from the record); everything else is regenerated identically from the same record.</p>",
    ])
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{esc(title)} ({esc(r['id'])})</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def render_pdf(store: Store, run_id: str, *, generated_at: datetime | None = None) -> bytes:
    """The report as PDF, rendered from the HTML by WeasyPrint (needs Pango: see the README of reports)."""
    return html_to_pdf(render_html(store, run_id, generated_at=generated_at))


def html_to_pdf(html_text: str) -> bytes:
    """A report's HTML as PDF, by WeasyPrint (needs Pango: see the README of reports)."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:
        raise ReportError(f"PDF needs WeasyPrint and the Pango libraries (Debian: apt-get install libpango-1.0-0 "
                          f"libpangoft2-1.0-0 fonts-dejavu-core): {exc}") from exc
    return HTML(string=html_text).write_pdf()


def render_csv(store: Store, run_id: str) -> str:
    """The points as CSV: one row per meter and point (full precision, as stored)."""
    result = run_result(store, run_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for test in result["tests"]:
        for p in test["points"]:
            row = {**p, "run_id": result["id"], "test_id": test["id"]}
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])
    return buffer.getvalue()
