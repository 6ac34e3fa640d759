"""The console's pages: server-rendered HTML (no framework, no script needed to read them), built from the same
record, results and report sections as the command line's reports."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from meterlab.reports.document import CSS, _kv, _table, _verdict, budget_table, collect, esc, figure_for, num
from meterlab.reports.fuzz import FUZZ_CAMPAIGN

REPORT_FORMATS = ("html", "pdf", "json", "csv", "dcc.xml")
FORMAT_LABELS = {"html": "HTML", "pdf": "PDF", "json": "JSON", "csv": "CSV", "dcc.xml": "DCC (XML)"}
CAMPAIGN_REPORT_FORMATS = ("html", "pdf", "json")  # a fuzz campaign has cases, not points: no CSV of points
NAV = [("/", "Runs"), ("/start", "Start a run"), ("/compare", "Compare"), ("/evaluations", "Evaluations"),
       ("/calibration", "Calibration"), ("/records", "Records")]
CONSOLE_CSS = CSS + """
nav { background: #1f3b57; padding: 0.5em 1em; margin: -1.5em -1.5em 1em; }
nav a, nav span { color: #fff; margin-right: 1.2em; text-decoration: none; font-weight: bold; }
nav form { display: inline; float: right; } nav button { font-size: 9pt; }
form.search input, form.search select { margin-right: 0.6em; }
.notice { padding: 0.4em 0.8em; border: 1px solid #1a7f37; color: #1a7f37; }
.error { padding: 0.4em 0.8em; border: 1px solid #c62828; color: #c62828; }
"""


def page(title: str, body: str, *, user: str | None = None, csrf: str = "") -> str:
    nav = "".join(f'<a href="{href}">{esc(text)}</a>' for href, text in NAV) if user else ""
    if user:
        nav += (f'<form method="post" action="/logout"><input type="hidden" name="csrf" value="{esc(csrf)}">'
                f'<span>{esc(user)}</span><button type="submit">Log out</button></form>')
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{esc(title)} — meterlab"
            f"</title>\n<style>{CONSOLE_CSS}</style>\n</head>\n<body>\n<nav>{nav}</nav>\n<h1>{esc(title)}</h1>\n{body}"
            f"\n</body>\n</html>\n")


def refused(title: str, why: str, back: str, **who: Any) -> str:
    """An action refused: why, and the way back."""
    return page(title, f'<p class="error">{esc(why)}</p><p><a href="{esc(back)}">back</a></p>', **who)


def login_form(message: str = "") -> str:
    note = f'<p class="error">{esc(message)}</p>' if message else ""
    return page("Log in", note + """<form method="post" action="/login">
<p><label>Name <input name="name" autocomplete="username" required></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Log in</button></p></form>""")


def runs_list(results: Iterable[dict[str, Any]], query: dict[str, str], **who: Any) -> str:
    search = ('<form class="search" method="get" action="/">'
              + "".join(f'<input name="{k}" placeholder="{label}" value="{esc(query.get(k, ""))}">'
                        for k, label in (("meter", "meter serial"), ("procedure", "procedure id"),
                                         ("verdict", "verdict"), ("since", "since YYYY-MM-DD"),
                                         ("evaluation", "evaluation TE-…")))
              + f'<label><input type="checkbox" name="pending" value="1"{" checked" if query.get("pending") else ""}>'
              f' awaiting sign-off</label> <button type="submit">Search</button></form>')
    rows = [[f'<a href="/runs/{esc(r["id"])}">{esc(r["id"])}</a>', esc(str(r["created_at"])[:19]),
             esc(r["procedure"]["id"]), esc(", ".join(r["meters"])), esc(r["operator"]), esc(r["state"]),
             _verdict(r["verdict"])] for r in results]
    table = _table(["run", "created (UTC)", "procedure", "meters", "operator", "state", "verdict"], rows)
    return page("Runs", search + (table if rows else "<p>No run matches.</p>"), **who)


def run_page(store: Any, run_id: str, missing: list[str], message: str = "", **who: Any) -> str:
    data = collect(store, run_id)
    r, test = data["result"], data["result"]["tests"][0]
    formats = CAMPAIGN_REPORT_FORMATS if r["procedure"]["id"] == FUZZ_CAMPAIGN else REPORT_FORMATS
    facts = [("Procedure", f"{esc(r['procedure']['title'])} ({esc(r['procedure']['clause'])})"),
             ("Meters", esc(", ".join(r["meters"]))), ("Operator", esc(r["operator"])),
             ("State", esc(r["state"])), ("Verdict", _verdict(r["verdict"])),
             ("Sign-off", "released" if not missing else f"still needs {esc(' and '.join(missing))}")]
    body = [f'<p class="notice">{esc(message)}</p>' if message else "", _kv(facts),
            "<p>Report: " + " · ".join(f'<a href="/runs/{esc(run_id)}/report.{f}">{FORMAT_LABELS[f]}</a>'
                                       for f in formats) + "</p>"]
    if len({p["point"] for p in test["points"]}) >= 2:
        png = base64.b64encode(figure_for(data, test)).decode("ascii")
        body.append(f'<img alt="error curve" src="data:image/png;base64,{png}">')
    if r["state"] == "interrupted":
        body.append(f'<form method="post" action="/runs/{esc(run_id)}/resume"><input type="hidden" name="csrf" '
                    f'value="{esc(who.get("csrf", ""))}"><p class="error">Interrupted: the process that ran it is gone. '
                    f'<button type="submit">Resume the run</button></p></form>')
    seqs = {(e.payload["point"]["name"], e.payload["repeat"], e.payload.get("step_label")): e.seq
            for e in data["measurements"]}
    if test["points"]:
        body.append("<h2>Points</h2><p>A point's label opens its uncertainty budget and instrument I/O.</p>" + _table(
            ["meter", "point", "Q (m³/h)", "E (%)", "U (%)", "MPE (%)", "rule", "verdict"],
            [[esc(p["meter_serial"]),
              f'<a href="/runs/{esc(run_id)}/points/{seqs.get((p["point"], p["repeat"], p["step_label"]), 0)}?meter='
              f'{esc(p["meter_serial"])}">{esc(p["label"])}</a>',
              num(p["flowrate_m3h"]), num(p["error_pct"], 3, signed=True),
              num(p["U_pct"], 2), f"± {num(p['mpe_pct'])}", esc(p["decision_rule"]), _verdict(p["verdict"])]
             for p in test["points"]], numeric=(2, 3, 4)))
    if test["checks"]:
        body.append("<h2>Checks</h2>" + _table(["check", "meter", "outcome"], [
            [esc(c["check"]), esc(c.get("meter_serial") or "—"), _verdict(c["outcome"])] for c in test["checks"]]))
    body.append("<h2>Sign-offs</h2>" + (_table(["by", "role", "when (UTC)", "comment"], [
        [esc(a["by"]), esc(a["role"]), esc(a["at"][:19]), esc(a.get("comment") or "")] for a in data["approvals"]])
        if data["approvals"] else "<p>None yet.</p>"))
    if missing:
        roles = "".join(f'<option value="{esc(role)}">{esc(role)}</option>' for role in missing)
        body.append(f'<form method="post" action="/runs/{esc(run_id)}/sign">'
                    f'<input type="hidden" name="csrf" value="{esc(who.get("csrf", ""))}">'
                    f'<label>Sign off as <select name="role">{roles}</select></label> '
                    f'<label>Comment <input name="comment" size="50"></label> '
                    f'<button type="submit">Sign off</button></form>')
    return page(f"Run {run_id}", "\n".join(body), **who)


def point_page(run_id: str, measurement: dict, meter: dict, io: list, seq: int, **who: Any) -> str:
    """One meter at one measured point: its budget (each input with the certificate that read it) and the
    instrument I/O recorded with the measurement."""
    point = measurement.get("point") or {}
    head = (f"<p>Meter {esc(meter['meter_serial'])}, point {esc(point.get('name'))} repeat "
            f"{esc(measurement.get('repeat'))}, Q = {num(measurement.get('flowrate_m3h'), 5)} m³/h, V_ref = "
            f"{num(measurement.get('reference_volume_l'), 6)} L, record entry {seq}, verdict "
            f"{_verdict(meter.get('outcome'))} ({esc(meter.get('decision_rule'))}). "
            f'<a href="/runs/{esc(run_id)}">back to the run</a></p>')
    log = _table(["time (s)", "instrument", "direction", "data"],
                 [[num(line[1], 6), esc(line[2]), esc(line[3]), f"<code>{esc(repr(line[4])[1:-1][:120])}</code>"]
                  for line in io[:400]]) if io else "<p>No instrument I/O recorded with this measurement.</p>"
    return page(f"Run {run_id}: {point.get('name')} #{measurement.get('repeat')}",
                head + "<h2>Uncertainty budget</h2>" + budget_table(meter) + "<h2>Instrument I/O</h2>" + log, **who)


def curve_png(store: Any, run_id: str) -> bytes:
    """The run's error curve as it is now (a run in progress: the points measured so far)."""
    data = collect(store, run_id)
    return figure_for(data, data["result"]["tests"][0])


def compare_page(first: str, second: str, meter: str, **who: Any) -> str:
    form = ('<form class="search" method="get" action="/compare">'
            + "".join(f'<input name="{k}" placeholder="{label}" value="{esc(v)}">'
                      for k, label, v in (("first", "first run", first), ("second", "second run", second),
                                          ("meter", "meter serial (all)", meter)))
            + '<button type="submit">Compare</button></form>')
    figure = (f'<img alt="error curves compared" src="/compare.png?first={esc(first)}&amp;second={esc(second)}'
              f'&amp;meter={esc(meter)}">') if first and second else "<p>Give two runs (e.g. before and after durability).</p>"
    return page("Compare two runs", form + figure, **who)


def records_page(url: str, problems: list[str], head: tuple[int, str], **who: Any) -> str:
    state = ('<p class="notice">Intact: every entry\'s hash, link and authentication checked.</p>' if not problems
             else '<p class="error">' + "<br>".join(esc(p) for p in problems) + "</p>")
    return page("Records", _kv([("Database", esc(url)), ("Head", f"{head[0]}:{esc(head[1])}")]) + state
                + f"<p>Anchor: <code>meterlab records verify --expect {head[0]}:{esc(head[1])}</code></p>", **who)


def calibration_page(rows: list[dict[str, Any]], **who: Any) -> str:
    return page("Calibration register", _table(
        ["id", "description", "certificate", "issued by", "due", "status"],
        [[esc(r["id"]), esc(r["description"]), esc(r["certificate"]), esc(r["issued_by"]), esc(r["due"]),
          esc(r["status"])] for r in rows]), **who)


def evaluations_page(rows: list[dict[str, Any]], **who: Any) -> str:
    return page("Type evaluations", _table(["evaluation", "type", "standard", "samples"], [
        [f'<a href="/evaluations/{esc(e["id"])}">{esc(e["id"])}</a>', esc(e["name"]), esc(e["standard"]),
         esc(", ".join(e["samples"]))] for e in rows]) if rows else "<p>None yet.</p>", **who)


def evaluation_page(evaluation_id: str, name: str, rows: list[dict[str, Any]], verdict: str, **who: Any) -> str:
    table = _table(["#", "programme", "samples", "status", "verdict", "run"], [
        [str(r["number"]), esc(r["procedure_id"]), esc(", ".join(r["samples"])), esc(r["status"]),
         _verdict(r["verdict"]) if r["verdict"] else "—",
         f'<a href="/runs/{esc(r["run"]["id"])}">{esc(r["run"]["id"])}</a>' if r["run"] else "—"] for r in rows])
    return page(f"{evaluation_id}: {name}", f"<p>Evaluation verdict: {_verdict(verdict)} · "
                f'<a href="/evaluations/{esc(evaluation_id)}/dossier.html">dossier</a> · '
                f'<a href="/evaluations/{esc(evaluation_id)}/dossier.dtr.xml">as Digital Test Report (XML)</a> · '
                f'<a href="/start?evaluation={esc(evaluation_id)}">start one of its tests</a></p>' + table, **who)


def as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def start_form(procedures: list[str], meters: list[str], benches: list[str], message: str = "", evaluation: str = "",
               **who: Any) -> str:
    def options(values: list[str]) -> str:
        return "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)

    note = f'<p class="error">{esc(message)}</p>' if message else ""
    return page("Start a run", note + f"""<form method="post" action="/start">
<input type="hidden" name="csrf" value="{esc(who.get("csrf", ""))}">
<p><label>Programme <select name="procedure">{options(procedures)}</select></label></p>
<p><label>Meters (in series; several with Ctrl) <select name="meter" multiple size="8">{options(meters)}</select></label></p>
<p><label>Bench <select name="bench">{options(benches)}</select></label></p>
<p><label>Type evaluation (optional) <input name="evaluation" placeholder="TE-…" value="{esc(evaluation)}"></label>
{'(its samples, and the programmes of its plan still to do)' if evaluation else ''}</p>
<p><label>Clock scale <small>(simulated lab only; empty: virtual time, as fast as the host computes; 1 to watch
in real time)</small>
<input name="clock_scale" size="8"></label></p>
<p><button type="submit">Start</button></p></form>""", **who)


LIVE_SCRIPT = """
<script>
const run = document.body.dataset.run;
const source = new EventSource(`/runs/${run}/events`);
let shown = 0;
async function refresh() {
  const live = await (await fetch(`/api/runs/${run}/live`)).json();
  document.getElementById('state').textContent = live.state + (live.error ? ` — ${live.error}` : '');
  const q = live.question;
  document.getElementById('question').hidden = !q;
  if (q) {
    document.getElementById('question-text').textContent = q.text + (q.meter_serial ? ` [${q.meter_serial}]` : '');
    document.getElementById('confirm').hidden = q.value_name !== null;
    document.getElementById('value').hidden = q.value_name === null;
    document.getElementById('value-name').textContent = q.value_name ? `${q.value_name} (${q.unit || ''})` : '';
  }
  const now = live.now, action = now.action_started, got = now.collected, c = now.conditions;
  document.getElementById('doing').textContent = action ? `${action.index + 1} of ${action.total}: ${action.label}` : '—';
  document.getElementById('collected').textContent = got ?
    `${got.collected.toFixed(2)} of ${got.target.toFixed(2)} ${got.unit} (${(100 * got.collected / got.target).toFixed(0)} %)` : '—';
  document.getElementById('conditions').textContent = c ? [
    c.flowrate_m3h != null ? `Q ${c.flowrate_m3h.toFixed(4)} m³/h` : null,
    c.water_temperature_c != null ? `water ${c.water_temperature_c.toFixed(2)} °C` : null,
    c.chamber_alarm ? `chamber alarm: ${c.chamber_alarm}` : null].filter(x => x).join(' · ') || '—' : '—';
  document.getElementById('log').innerHTML = live.last.map(e =>
    `<li>${e.kind}: ${JSON.stringify(e.data).slice(0, 160).replace(/</g, '&lt;')}</li>`).join('');
  const curve = document.getElementById('curve');
  if (curve.complete && live.n !== shown) {  // one image at a time, the latest
    shown = live.n;
    curve.src = `/runs/${run}/curve.png?n=${live.n}`;
  }
  const ended = ['completed', 'aborted', 'failed'].includes(live.state);
  document.querySelectorAll('.control button').forEach(b => b.disabled = ended);
  if (ended) {
    source.close();
    document.getElementById('done').hidden = false;
    curve.src = `/runs/${run}/curve.png?n=${live.n}&final=1`;
  }
}
source.onmessage = refresh;
refresh();
</script>"""


def live_page(run_id: str, **who: Any) -> str:
    csrf = esc(who.get("csrf", ""))
    control = "".join(f'<form method="post" action="/runs/{esc(run_id)}/control" style="display:inline">'
                      f'<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="action" '
                      f'value="{a}"><button type="submit"{onclick}>{a.capitalize()}</button></form> '
                      for a, onclick in (("pause", ""), ("resume", ""),
                                         ("abort", ' onclick="return confirm(\'Abort the run? The rig goes to its '
                                                   'safe state.\')"')))
    body = f"""<p>State: <b id="state">…</b></p>
<table><tr><th>Doing</th><td id="doing">—</td></tr><tr><th>Reference collected</th><td id="collected">—</td></tr>
<tr><th>Conditions</th><td id="conditions">—</td></tr></table>
<div id="question" class="notice" hidden><p><b>The run asks:</b> <span id="question-text"></span></p>
<form method="post" action="/runs/{esc(run_id)}/answer"><input type="hidden" name="csrf" value="{csrf}">
<span id="confirm"><button name="confirmed" value="yes" type="submit">Done / yes</button>
<button name="confirmed" value="no" type="submit">No</button></span>
<span id="value" hidden><label><span id="value-name"></span> <input name="value" size="10"></label>
<button type="submit">Enter</button></span></form></div>
<p class="control">{control}</p>
<p id="done" hidden><a href="/runs/{esc(run_id)}">Results and sign-off</a></p>
<img id="curve" alt="error curve so far" src="/runs/{esc(run_id)}/curve.png?n=0">
<h2>Latest events</h2><ul id="log"></ul>{LIVE_SCRIPT}"""
    html_text = page(f"Run {run_id} (live)", body, **who)
    return html_text.replace("<body>", f'<body data-run="{esc(run_id)}">', 1)
