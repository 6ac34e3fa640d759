"""`meterlab demo` shows what a metrologist needs, computed by the real code."""

from rich.console import Console

from meterlab.cli.demo import run_demo


def test_demo_prints_flowrates_mpe_windows_budget_verdict_and_volumes():
    console = Console(record=True, width=160)
    run_demo(console=console)
    text = console.export_text()
    for expected in ("15.625", "± 5 %", "± 2 %", "0.35(Q2+Q3)", "balance calibration", "demo balance 60 kg",
                     "simple acceptance", "guarded acceptance", "→ pass", "Monte Carlo", "Planner", "36 min 34 s"):
        assert expected in text, expected
    assert text.count("MUT register end") >= 6  # budget line + a planner row per window
