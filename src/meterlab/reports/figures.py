"""The error-curve figure of a run: error against flowrate (log axis), MPE envelope, U as error bars.

Built from the points of `run_result` (the record alone) and returned as PNG bytes. The figure is
deterministic: Agg backend, fixed size, dpi, style and PNG metadata (no software string, no timestamp),
so the same record always gives the same image bytes (with the same matplotlib).
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

# One marker per role of a measurement, so a disturbance test shows intrinsic vs disturbed at a glance.
ROLE_MARKERS = {"intrinsic": "o", "before": "o", "influence": "D", "disturbed": "^", "after_disturbance": "s",
                "after": "s"}
ROLE_NAMES = {"intrinsic": "intrinsic", "before": "before", "influence": "under influence", "disturbed": "disturbed",
              "after_disturbance": "after disturbance", "after": "after"}
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f")
STYLE = {"font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 10, "svg.hashsalt": "meterlab",
         "path.simplify": False}
PNG_METADATA = {"Software": None}


@dataclass(frozen=True)
class Envelope:
    """The MPE of one zone: ±mpe_pct for flowrates from low_m3h to high_m3h."""

    low_m3h: float
    high_m3h: float
    mpe_pct: float


def envelope_of(meter: Any) -> list[Envelope]:
    """The MPE envelope of a declared meter: the lower zone up to Q2 (Qt), the upper zone above it."""
    if hasattr(meter, "q2_m3h"):  # water meter, R 49
        low, boundary, high = meter.q1_m3h, meter.q2_m3h, meter.q4_m3h
    else:  # gas meter, R 137
        low, boundary, high = meter.qmin_m3h, meter.qt_m3h, meter.qmax_m3h
    return [Envelope(low, boundary, meter.mpe_pct(low)), Envelope(boundary, high, meter.mpe_pct(boundary))]


def envelope_from_points(points: Sequence[dict]) -> list[Envelope]:
    """Without a declaration: one step per distinct MPE, spanning the flowrates where it was applied."""
    by_mpe: dict[float, list[float]] = {}
    for p in points:
        if _finite(p.get("mpe_pct")) and _finite(p.get("flowrate_m3h")):
            by_mpe.setdefault(float(p["mpe_pct"]), []).append(float(p["flowrate_m3h"]))
    steps = sorted((min(qs), max(qs), mpe) for mpe, qs in by_mpe.items())
    return [Envelope(lo, hi, mpe) for lo, hi, mpe in steps]


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


_DRAWING = threading.Lock()


def error_curve_png(points: Sequence[dict], *, envelope: Iterable[Envelope] = (), title: str = "",
                    boundary_name: str = "Q2", width_in: float = 7.0, height_in: float = 4.2, dpi: int = 120) -> bytes:
    """PNG bytes of the error curve: one series per meter, a marker per role, U as error bars."""
    import matplotlib as mpl

    envelope = list(envelope)
    # one figure at a time: rc_context changes global settings and matplotlib's text parser is not thread-safe
    # (the console draws a run's curve for several browsers at once)
    with _DRAWING, mpl.rc_context(STYLE):
        fig = Figure(figsize=(width_in, height_in), dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        ax.set_xscale("log")
        serials = list(dict.fromkeys(p["meter_serial"] for p in points))
        roles = list(dict.fromkeys(p.get("role") or "intrinsic" for p in points))
        several_roles = len(roles) > 1
        for i, serial in enumerate(serials):
            colour = COLOURS[i % len(COLOURS)]
            for role in roles:
                pts = [p for p in points if p["meter_serial"] == serial and (p.get("role") or "intrinsic") == role
                       and _finite(p.get("flowrate_m3h")) and _finite(p.get("error_pct"))]
                if not pts:
                    continue
                pts.sort(key=lambda p: p["flowrate_m3h"])
                label = f"{serial} ({ROLE_NAMES.get(role, role)})" if several_roles else serial
                filled = role in ("intrinsic", "before")
                ax.errorbar([p["flowrate_m3h"] for p in pts], [p["error_pct"] for p in pts],
                            yerr=[p["U_pct"] if _finite(p.get("U_pct")) else 0.0 for p in pts],
                            fmt=ROLE_MARKERS.get(role, "o"), color=colour, ecolor=colour, elinewidth=1.0, capsize=3,
                            markersize=5, markerfacecolor=colour if filled else "white", markeredgecolor=colour,
                            linestyle="none", label=label)
                if role in ("intrinsic", "before") and not several_roles:
                    # A thin line through the mean error at each test point (repeats are shown, not joined).
                    by_point: dict[str, list[dict]] = {}
                    for p in pts:
                        by_point.setdefault(str(p.get("point") or p["flowrate_m3h"]), []).append(p)
                    means = sorted((sum(q["flowrate_m3h"] for q in group) / len(group),
                                    sum(q["error_pct"] for q in group) / len(group)) for group in by_point.values())
                    ax.plot([q for q, _ in means], [e for _, e in means], color=colour, linewidth=0.8)
        for j, step in enumerate(envelope):
            kw = {"color": "black", "linewidth": 1.2}
            ax.plot([step.low_m3h, step.high_m3h], [step.mpe_pct, step.mpe_pct], label="MPE" if j == 0 else None, **kw)
            ax.plot([step.low_m3h, step.high_m3h], [-step.mpe_pct, -step.mpe_pct], **kw)
            if j > 0:  # the step at the zone boundary
                prev = envelope[j - 1]
                for sign in (1, -1):
                    ax.plot([step.low_m3h, step.low_m3h], [sign * prev.mpe_pct, sign * step.mpe_pct], **kw)
        if len(envelope) > 1:
            ax.axvline(envelope[1].low_m3h, color="grey", linewidth=0.6, linestyle=":")
            ax.annotate(boundary_name, (envelope[1].low_m3h, 0.0), xycoords=ax.get_xaxis_transform(),
                        xytext=(3, 3), textcoords="offset points", color="grey", fontsize=8)
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.set_xlabel("flowrate Q / (m³/h)")
        ax.set_ylabel("error of indication E / %")
        if title:
            ax.set_title(title, loc="left")
        ax.grid(True, which="both", linewidth=0.3, alpha=0.6)
        if serials or envelope:
            ax.legend(loc="best", fontsize=7, frameon=True)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, metadata=PNG_METADATA)
    return buffer.getvalue()


def control_chart_png(checks: Any, *, width_in: float = 7.0, height_in: float = 3.6, dpi: int = 120) -> bytes:
    """An intermediate-check control chart (calibration/checks.py): each check's deviation from the check
    standard's value by date, with the warning and action limits."""
    import matplotlib as mpl

    with _DRAWING, mpl.rc_context(STYLE):
        fig = Figure(figsize=(width_in, height_in), dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        dates = [c.date for c in checks.checks]
        deviations = [checks.deviation(c) for c in checks.checks]
        ax.plot(dates, deviations, marker="o", color=COLOURS[0], linewidth=0.8, label="check")
        for limit, style, name in ((checks.limits.warning, "--", "warning"), (checks.limits.action, "-", "action")):
            for sign in (1, -1):
                ax.axhline(sign * limit, color="#c62828" if name == "action" else "#e69500", linestyle=style,
                           linewidth=1.0, label=f"{name} limit" if sign > 0 else None)
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.set_ylabel(f"deviation / {checks.unit}")
        ax.set_title(f"{checks.standard}: {checks.check_standard}", loc="left", fontsize=9)
        ax.grid(True, linewidth=0.3, alpha=0.6)
        ax.legend(loc="best", fontsize=7)
        fig.autofmt_xdate()
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, metadata=PNG_METADATA)
    return buffer.getvalue()
