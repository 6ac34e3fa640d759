"""The report of an interface fuzz campaign, made from its record alone: JSON (the figures and every finding),
HTML with two figures (cases per group and class; recovery time of each case that stopped the meter) and the same
HTML as PDF (rendered by the type-evaluation report's `html_to_pdf`, so both kinds of report print alike)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from meterlab.records.store import Store  # noqa: E402
from meterlab.reports.document import ReportError, html_to_pdf  # noqa: E402

FUZZ_CAMPAIGN = "interface-fuzz"  # the procedure id a campaign is recorded under (engine.fuzz.PROCEDURE_ID)
CLASS_COLOURS = {"pass": "#2ca02c", "warning": "#ff7f0e", "fail": "#d62728"}
PNG_METADATA = {"Software": None}  # the same record gives the same image bytes


def fuzz_report(store: Store, run_id: str) -> dict[str, Any]:
    entries = list(store.entries(run_id))
    header = entries[0].payload
    if header.get("kind") != FUZZ_CAMPAIGN:
        raise ValueError(f"run {run_id} is not an interface fuzz campaign")
    states = [e.payload for e in entries if e.kind == "state"]
    summary = states[-1]["summary"] if states else None
    row = store.run(run_id)
    return {"run": run_id, "operator": row.operator, "meters": json.loads(row.meters), "seed": header["seed"],
            "max_cases": header["max_cases"], "budget_s": header["budget_s"], "recovery_s_stated": header["recovery_s"],
            "instrument": header["instrument"], "meter_file": header["meter_file"],
            "completed": summary is not None, "summary": summary,
            "replay": f"meterlab fuzz --replay {run_id} CASE --db URL"}


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer, metadata=PNG_METADATA)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def classes_figure(summary: dict) -> str:
    fig = Figure(figsize=(6.4, 3.2), dpi=100)
    ax = fig.add_subplot()
    groups = list(summary["per_group"])
    bottom = [0] * len(groups)
    for verdict, colour in CLASS_COLOURS.items():
        counts = [summary["per_group"][g][verdict] for g in groups]
        ax.bar(groups, counts, bottom=bottom, color=colour, label=verdict)
        bottom = [b + c for b, c in zip(bottom, counts)]
    ax.set_ylabel("cases")
    ax.set_yscale("symlog")
    ax.set_title(f"{summary['cases_run']} cases by group and class")
    ax.legend()
    fig.tight_layout()
    return _png(fig)


def recovery_figure(summary: dict, stated_s: float) -> str:
    fig = Figure(figsize=(6.4, 3.0), dpi=100)
    ax = fig.add_subplot()
    points = summary["recovery_s"]
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], "o", color="#1f77b4", label="recovery time")
    ax.axhline(stated_s, color="#d62728", linestyle="--", label=f"stated {stated_s:g} s")
    ax.set_xlabel("case")
    ax.set_ylabel("s (simulated / rig clock)")
    ax.set_title("time until the meter answered again")
    ax.legend()
    fig.tight_layout()
    return _png(fig)


def render_html(report: dict) -> str:
    summary = report["summary"]
    esc = html.escape
    if summary is None:
        return f"<html><body><h1>Interface fuzz campaign {esc(report['run'])}</h1><p>Not completed.</p></body></html>"
    rows = "".join(f"<tr><td>{f['case']}</td><td>{esc(f['class'])}</td><td>{esc(f['group'])}</td>"
                   f"<td>{esc(f['title'])}</td><td>{esc('; '.join(f['reasons']))}</td></tr>" for f in summary["findings"])
    kinds = "".join(f"<tr><td>{esc(k['class'])}</td><td>{k['count']}</td><td>{k['first_case']}</td>"
                    f"<td>{esc(k['example'])}</td></tr>" for k in summary.get("finding_kinds", []))
    fault = summary["fault_pct"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Fuzz campaign {esc(report['run'])}</title></head>
<body><h1>Interface fuzz campaign {esc(report['run'])}: {esc(summary['verdict'].upper())}</h1>
<h2>Cases run: {summary['cases_run']} (pass {summary['per_class']['pass']}, warning {summary['per_class']['warning']},
fail {summary['per_class']['fail']})</h2>
<p>Meter {esc(', '.join(report['meters']))} ({esc(report['meter_file'])}), interface {esc(report['instrument'])},
seed {report['seed']}, operator {esc(report['operator'])}.</p>
<p>Cases run: {summary['cases_run']} (pass {summary['per_class']['pass']}, warning {summary['per_class']['warning']},
fail {summary['per_class']['fail']}). Largest change of the error since the first measurement:
{'n/a' if fault is None else f'{fault:+.3f} %'} (significant-fault limit {summary['significant_fault_limit_pct']:g} %).
Stated recovery time {report['recovery_s_stated']:g} s.</p>
<img alt="cases by group and class" src="data:image/png;base64,{classes_figure(summary)}">
<img alt="recovery times" src="data:image/png;base64,{recovery_figure(summary, report['recovery_s_stated'])}">
<h2>Findings by kind</h2><table border="1"><tr><th>class</th><th>cases</th><th>first case</th><th>example</th></tr>
{kinds}</table>
<h2>Findings</h2><table border="1"><tr><th>case</th><th>class</th><th>group</th><th>case title</th><th>why</th></tr>
{rows}</table><p>Replay a finding: <code>{esc(report['replay'])}</code></p></body></html>"""


def render_pdf(report: dict) -> bytes:
    """The HTML report as PDF (WeasyPrint): the verdict and the case counts are headings, so they are also the
    PDF's bookmarks, which a reader lists without searching the pages."""
    return html_to_pdf(render_html(report))


def write_fuzz_report(store: Store, run_id: str, out_dir: Path) -> tuple[list[Path], str | None]:
    """fuzz-RUN.json, .html and .pdf in `out_dir`; and why the PDF is missing, if it is (no WeasyPrint or Pango
    on this PC): the JSON and HTML are written first so a missing PDF library never costs the campaign's report."""
    report = fuzz_report(store, run_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / f"fuzz-{run_id}.json", out_dir / f"fuzz-{run_id}.html"
    json_path.write_text(json.dumps(report, indent=1, sort_keys=True, default=str), encoding="utf-8")
    html_text = render_html(report)
    html_path.write_text(html_text, encoding="utf-8")
    try:
        pdf = html_to_pdf(html_text)
    except ReportError as exc:
        return [json_path, html_path], str(exc)
    pdf_path = out_dir / f"fuzz-{run_id}.pdf"
    pdf_path.write_bytes(pdf)
    return [json_path, html_path, pdf_path], None
