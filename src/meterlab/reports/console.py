"""Rich tables for the console: meter declarations, MPE, test windows, uncertainty budgets, decisions."""

from __future__ import annotations

import math

from rich.table import Table

from meterlab.metrology.budget import UncertaintyResult
from meterlab.metrology.decision import Decision, Outcome
from meterlab.metrology.meters import GasMeter, WaterMeter

OUTCOME_STYLE = {
    Outcome.PASS: "bold green",
    Outcome.CONDITIONAL_PASS: "bold cyan",
    Outcome.INCONCLUSIVE: "bold yellow",
    Outcome.UNCERTAINTY_TOO_LARGE: "bold magenta",
    Outcome.CONDITIONAL_FAIL: "bold dark_orange",
    Outcome.FAIL: "bold red",
}


def fmt(x: float, digits: int = 4) -> str:
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    if isinstance(x, float) and math.isnan(x):
        return "—"
    return f"{x:.{digits}g}"


def outcome_text(outcome: Outcome) -> str:
    return f"[{OUTCOME_STYLE[outcome]}]{outcome.label}[/]"


def flowrates_table(meter: WaterMeter | GasMeter) -> Table:
    table = Table(title=f"Flowrates of {meter!r}", title_justify="left", min_width=90)
    table.add_column("flowrate")
    table.add_column("m³/h", justify="right")
    table.add_column("L/h", justify="right")
    names = (("Q1", meter.q1_m3h), ("Q2", meter.q2_m3h), ("Q3", meter.q3_m3h), ("Q4", meter.q4_m3h)) \
        if isinstance(meter, WaterMeter) else (("Qmin", meter.qmin_m3h), ("Qt", meter.qt_m3h), ("Qmax", meter.qmax_m3h))
    for name, q in names:
        table.add_row(name, f"{q:.6g}", f"{q * 1000:.5g}")
    return table


def mpe_table(meter: WaterMeter) -> Table:
    """MPE per zone and water temperature for a water meter, with the profile clause."""
    profile = meter.profile
    hot_from = profile.mpe.hot_water_above_c.value
    low_t, high_t = meter.rated_temperature_c
    table = Table(title=f"MPE, {profile.standard}:{profile.edition} class {meter.accuracy_class:g} "
                        f"({profile.mpe.clause}; {profile.mpe.status})", title_justify="left")
    table.add_column("zone")
    table.add_column("flowrates")
    table.add_column("water temperature")
    table.add_column("MPE", justify="right")
    row = profile.mpe_for(meter.accuracy_class)
    table.add_row("lower", "Q1 ≤ Q < Q2", f"{low_t:g} .. {high_t:g} °C", f"± {row.lower:g} %")
    table.add_row("upper", "Q2 ≤ Q ≤ Q4", f"{low_t:g} .. {min(high_t, hot_from):g} °C", f"± {row.upper:g} %")
    if high_t > hot_from:
        table.add_row("upper", "Q2 ≤ Q ≤ Q4", f"> {hot_from:g} .. {high_t:g} °C", f"± {row.upper_hot:g} %")
    return table


def windows_table(meter: WaterMeter | GasMeter) -> Table:
    tp = meter.profile.test_points
    table = Table(title=f"Test flow windows ({tp.clause}; {tp.status})", title_justify="left")
    for col in ("point", "from m³/h", "to m³/h", "set point m³/h", "zone", "MPE"):
        table.add_column(col, justify="left" if col in ("point", "zone") else "right")
    for p in meter.test_points():
        table.add_row(p.name, f"{p.low_m3h:.5g}", f"{p.high_m3h:.5g}", f"{p.nominal_m3h:.5g}",
                      meter.zone(p.nominal_m3h), f"± {meter.mpe_pct(p.nominal_m3h):g} %")
    return table


def budget_table(result: UncertaintyResult, *, title: str, unit: str = "%") -> Table:
    """The per-input contribution table of a GUM result, largest first."""
    table = Table(title=title, title_justify="left")
    for col in ("input", "source", "estimate", "u(xᵢ)", "νᵢ", "cᵢ", f"cᵢ·u(xᵢ) / {unit}", "share"):
        table.add_column(col, justify="left" if col in ("input", "source") else "right")
    for row in result.table():
        table.add_row(row["name"], row["source"], fmt(row["value"], 8), fmt(row["u"], 3), fmt(row["dof"], 3),
                      fmt(row["sensitivity"], 4), f"{row['contribution']:+.2e}", f"{row['variance_pct']:.1f} %")
    table.caption = (f"y = {result.value:+.4f} {unit}   u = {result.u:.4f} {unit}   ν_eff = {fmt(result.dof, 3)}   "
                     f"k = {result.k:.2f} ({result.k_method}, {result.coverage_pct:g} %)   U = {result.U:.4f} {unit}")
    return table


def decision_line(decision: Decision) -> str:
    limit = "" if decision.max_uncertainty_pct is None else f", U limit {decision.max_uncertainty_pct:.3g} %"
    beside = f" ({outcome_text(Outcome.UNCERTAINTY_TOO_LARGE)})" if decision.uncertainty_too_large \
        and decision.outcome is not Outcome.UNCERTAINTY_TOO_LARGE else ""
    risk = decision.specific_risk
    risk_text = f", probability of {risk['kind']} {risk['probability']:.2%}" if risk else ""
    return (f"{decision.rule}: E = {decision.error_pct:+.3f} %, U = {decision.expanded_uncertainty_pct:.3f} %, "
            f"MPE ± {decision.mpe_pct:g} %{limit} → {outcome_text(decision.outcome)}{beside}{risk_text}")
