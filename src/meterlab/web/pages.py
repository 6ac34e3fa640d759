"""The console's pages: server-rendered HTML (no framework, no script needed to read them), built from the same
record, results and report sections as the command line's reports."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from meterlab.reports.document import CSS, _kv, _table, _verdict, collect, esc, figure_for, num

NAV = [("/", "Runs"), ("/evaluations", "Evaluations"), ("/calibration", "Calibration"), ("/records", "Records")]
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
                                         ("verdict", "verdict")))
              + '<button type="submit">Search</button></form>')
    rows = [[f'<a href="/runs/{esc(r["id"])}">{esc(r["id"])}</a>', esc(str(r["created_at"])[:19]),
             esc(r["procedure"]["id"]), esc(", ".join(r["meters"])), esc(r["operator"]), esc(r["state"]),
             _verdict(r["verdict"])] for r in results]
    table = _table(["run", "created (UTC)", "procedure", "meters", "operator", "state", "verdict"], rows)
    return page("Runs", search + (table if rows else "<p>No run matches.</p>"), **who)


def run_page(store: Any, run_id: str, missing: list[str], message: str = "", **who: Any) -> str:
    data = collect(store, run_id)
    r, test = data["result"], data["result"]["tests"][0]
    facts = [("Procedure", f"{esc(r['procedure']['title'])} ({esc(r['procedure']['clause'])})"),
             ("Meters", esc(", ".join(r["meters"]))), ("Operator", esc(r["operator"])),
             ("State", esc(r["state"])), ("Verdict", _verdict(r["verdict"])),
             ("Sign-off", "released" if not missing else f"still needs {esc(' and '.join(missing))}")]
    body = [f'<p class="notice">{esc(message)}</p>' if message else "", _kv(facts),
            "<p>Report: " + " · ".join(f'<a href="/runs/{esc(run_id)}/report.{f}">{f.upper()}</a>'
                                       for f in ("html", "pdf", "json", "csv")) + "</p>"]
    if len({p["point"] for p in test["points"]}) >= 2:
        png = base64.b64encode(figure_for(data, test)).decode("ascii")
        body.append(f'<img alt="error curve" src="data:image/png;base64,{png}">')
    if test["points"]:
        body.append("<h2>Points</h2>" + _table(
            ["meter", "point", "Q (m³/h)", "E (%)", "U (%)", "MPE (%)", "rule", "verdict"],
            [[esc(p["meter_serial"]), esc(p["label"]), num(p["flowrate_m3h"]), num(p["error_pct"], 3, signed=True),
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
                f'<a href="/evaluations/{esc(evaluation_id)}/dossier.html">dossier</a></p>' + table, **who)


def as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
