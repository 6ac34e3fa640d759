"""`meterlab demo`: the metrology core at work on a DN15 class 2 water meter (Q3 = 2.5 m³/h, R160).

Everything shown is computed by the same code a run uses: the declaration and its profile, the MPE
table, the test windows, one gravimetric point with its GUM budget, a Monte Carlo check of that point,
the decision, and the planner's test volumes. The rig values are illustrative, and labelled so.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from meterlab.metrology import WaterMeter, decide
from meterlab.metrology.budget import evaluate
from meterlab.metrology.methods import GravimetricMethod, GravimetricReading
from meterlab.metrology.montecarlo import distributions_of, monte_carlo, validate_gum
from meterlab.metrology.planner import plan_volume
from meterlab.metrology.reference_volume import register_inputs
from meterlab.reports.console import budget_table, decision_line, flowrates_table, mpe_table, windows_table

DEMO_RIG = GravimetricMethod(
    balance_source="demo balance 60 kg (illustrative)",
    balance_u_rel=5e-5,
    balance_dof=50,
    balance_resolution_kg=0.001,
    thermometer_source="demo Pt100 thermometer (illustrative)",
    water_temperature_u_c=0.05,
    temperature_difference_half_width_c=0.1,
    pressure_source="demo pressure transmitter (illustrative)",
    meter_pressure_u_pa=2000.0,
    diverter_timing_u_s=0.005,
)
SCALE_INTERVAL_L = 0.05


def demo_point() -> tuple[GravimetricReading, float]:
    """An illustrative measurement at the Q3 window: 50.0 L through the meter, register read before/after."""
    reading = GravimetricReading(
        balance_start_kg=2.314, balance_end_kg=52.167, tank_water_temperature_c=19.62,
        meter_water_temperature_c=19.80, meter_pressure_pa=101325.0 + 2.8e5, fill_time_s=75.8)
    indicated_l = 50.05
    return reading, indicated_l


def run_demo(profile: str = "r49-2013", console: Console | None = None) -> None:
    # Piped output gets Rich's 80 columns, too narrow for a budget; a terminal keeps its own width.
    console = console or (Console() if sys.stdout.isatty() else Console(width=132))
    meter = WaterMeter(q3_m3h=2.5, r=160, accuracy_class=2, temperature_class="T30", serial="DEMO-DN15", profile=profile)
    console.rule("[bold]meterlab demo: DN15 water meter, Q3 = 2.5 m³/h, R160, class 2, T30")
    console.print(flowrates_table(meter))
    console.print(mpe_table(meter))
    console.print(windows_table(meter))

    reading, indicated_l = demo_point()
    point = meter.test_points()[4]  # the Q3 window
    flowrate = (indicated_l * 1e-3) / (reading.fill_time_s / 3600)
    mut = register_inputs(1.23405, 1.23405 + indicated_l * 1e-3, scale_interval_m3=SCALE_INTERVAL_L * 1e-3,
                          source="MUT DEMO-DN15 register")
    inputs = {**DEMO_RIG.inputs(reading), **mut}
    result = evaluate(DEMO_RIG.model(inputs))
    console.rule(f"[bold]One gravimetric point: {point.name} window, Q = {flowrate:.3f} m³/h")
    console.print(f"balance {reading.balance_start_kg} → {reading.balance_end_kg} kg, water {reading.tank_water_temperature_c} °C "
                  f"(tank) / {reading.meter_water_temperature_c} °C (meter), {reading.meter_pressure_pa / 1e5:.2f} bar abs; "
                  f"meter register advanced {indicated_l} L (scale interval {SCALE_INTERVAL_L} L)")
    console.print(budget_table(result, title="Uncertainty budget of the error of indication E"))
    mpe = meter.mpe_pct(flowrate, water_temperature_c=reading.meter_water_temperature_c)
    limit = meter.max_expanded_uncertainty_pct(flowrate)
    for rule in ("simple", "guarded"):
        console.print(decision_line(decide(result.value, result.U, mpe, rule=rule, k=result.k, max_uncertainty_pct=limit)))

    mc = monte_carlo(DEMO_RIG.model, distributions_of(inputs), trials=200_000, seed=1, coverage_pct=95.45)
    ok, delta, d_low, d_high = validate_gum(result, mc)
    console.print(f"Monte Carlo check (JCGM 101, {mc.trials} trials, seed {mc.seed}): E = {mc.value:+.4f} %, u = {mc.u:.4f} %, "
                  f"shortest {mc.coverage_pct:g} % interval [{mc.shortest_low:+.4f}, {mc.shortest_high:+.4f}] % "
                  f"vs GUM [{result.value - result.U:+.4f}, {result.value + result.U:+.4f}] %")
    verdict = "validated" if ok else ("not validated: GUM interval is wider (conservative)"
                                      if result.U > (mc.shortest_high - mc.shortest_low) / 2 else "NOT validated")
    console.print(f"  end-point differences {d_low:.4f} / {d_high:.4f} % against tolerance δ = {delta:.4f} % → {verdict}")

    shortest = meter.profile.test_points.min_collection_s.value
    console.rule(f"[bold]Planner: smallest test volumes (U ≤ profile fraction of MPE, R 49 reading-resolution rule, "
                 f"at least {shortest:g} s of flow)")
    table = Table()
    for col in ("point", "set point m³/h", "volume L", "duration", "U %", "U limit %", "for U, L", "for resolution, L",
                f"for {shortest:g} s, L", "largest input"):
        table.add_column(col, justify="left" if col in ("point", "largest input") else "right")
    for p in meter.test_points():
        plan = plan_volume(meter, p, DEMO_RIG, resolution_l=SCALE_INTERVAL_L)
        table.add_row(plan.point, f"{plan.flowrate_m3h:.4g}", f"{plan.volume_l:.4g}", _duration(plan.duration_s),
                      f"{plan.expanded_uncertainty_pct:.3f}", f"{plan.max_uncertainty_pct:.3g}",
                      f"{plan.volume_for_uncertainty_l:.3g}", f"{plan.volume_for_resolution_l:.3g}",
                      f"{plan.volume_for_duration_l:.3g}", plan.largest_input)
    console.print(table)
    unverified = ", ".join(meter.profile.unverified_values())
    console.print(f"[dim]Profile {meter.profile.profile}: values not verified against the primary text: {unverified}[/]")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
