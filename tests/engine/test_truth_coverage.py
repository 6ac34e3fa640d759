"""U neither too small nor inflated (issue 10): on the simulated lab whose instruments carry errors drawn from their
own certificates (the balance's span and scatter, the thermometer's offset, the diverter's timing from the bench's
diverter test), the truth lies within U for at least 90 % and at most 99.5 % of the gravimetric points across
seeds; and a meter truly just outside its MPE fails.

324 points (18 seeds), on virtual time: the same points on every host (8 outside U; on the scaled clock, which
varied with the host's timing, 3 to 9 of 216 fell outside in three runs; U is a little conservative where the
rectangular reading resolutions dominate), so "at most 99.5 % within" (at least 2 outside) does not hang on one
point."""

import numpy as np
import yaml

from meterlab.calibration.register import Register
from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import execute
from meterlab.reports.results import run_result

from .test_end_to_end import REPO, start, truth
from .test_step_runs import master_meter_programme

CURVE = [[0.0156, 1.2], [0.025, 0.6], [0.25, 0.2], [2.5, -0.1], [3.125, -0.3]]
OUTSIDE_AT_Q4 = [[0.0156, 1.2], [0.25, 0.2], [2.5, -0.1], [2.9, 2.3], [3.4, 2.3]]  # +2.3 % around Q4 (MPE 2 %)
STANDING_SEEDS = 9  # 108 points
# the standard uncertainties the budget takes from the certificates and the bench file (calibration/prt-01,
# bal-600: about 3 g at no load and 2e-5 of the load; instruments/sim.yaml: diverter_timing_u_s)
THERMOMETER_U_C, BALANCE_SCATTER_KG, BALANCE_SPAN_U, DIVERTER_U_S = 0.0175, 0.003 / 2 ** 0.5, 2e-5, 0.005


def _scenario(tmp_path, seed: int, curve) -> str:
    """A meter without scatter of its own (its truth is its curve), on instruments with errors drawn for this seed."""
    rng = np.random.default_rng(seed)
    path = tmp_path / f"seed-{seed}.yaml"
    path.write_text(yaml.safe_dump({
        "seed": 1000 + seed,
        "meters": [{"serial": "WM15-TRUTH", "error_curve": curve, "repeatability_pct": 0.0, "pulse_value_l": 0.01,
                    "register_resolution_l": 0.05}],
        "water_rig": {"diverter_timing_sd_s": DIVERTER_U_S},
        "devices": {"scale": {"span_error_rel": float(rng.normal(0.0, BALANCE_SPAN_U)),
                              "repeatability_kg": BALANCE_SCATTER_KG},
                    "thermometer": {"offset_c": float(rng.normal(0.0, THERMOMETER_U_C))}},
    }), encoding="utf-8")
    return str(path)


def _completed(store, run_id: str, register) -> None:
    """Run it; a run that does not complete says why (its last state entry's error)."""
    state = execute(store, run_id, prompter=AutoPrompter(), register=register)
    last = [e.payload for e in store.entries(run_id, kinds=["state"])][-1]
    assert state is RunState.COMPLETED, last.get("error")


def _points(tmp_path, seed: int, curve) -> list[tuple[dict, str]]:
    scenario = _scenario(tmp_path, seed, curve)
    store, register, run_id = start(tmp_path / str(seed), "procedures/r49/intrinsic-error.yaml",
                                    ["examples/meters/dn15-class2.yaml"], scenario)
    _completed(store, run_id, register)
    return [(p, scenario) for t in run_result(store, run_id)["tests"] for p in t["points"]]


def test_the_truth_lies_within_u_about_as_often_as_u_says(tmp_path):
    points = [item for seed in range(18) for item in _points(tmp_path, seed, CURVE)]
    assert len(points) == 18 * 18
    ratios = [abs(p["error_pct"] - truth(scenario, 1, p["flowrate_m3h"])) / p["U_pct"] for p, scenario in points]
    within = sum(r <= 1 for r in ratios) / len(ratios)
    print(f"truth within U for {within:.1%} of {len(ratios)} points, median |E - truth| = "
          f"{sorted(ratios)[len(ratios) // 2]:.2f} U")
    assert 0.90 <= within <= 0.995, (within, sorted(ratios)[len(ratios) // 2])


def test_a_meter_just_outside_its_mpe_at_q3_fails_there(tmp_path):
    curve = [[0.0156, 1.2], [0.25, 0.2], [1.5, 0.2], [2.2, 2.3], [2.6, 2.3], [3.125, 0.0]]  # +2.3 % around Q3
    points = [p for p, _ in _points(tmp_path, 7, curve)]
    at_q3 = [p for p in points if p["point"] == "Q3"]
    assert len(at_q3) == 3 and all(p["verdict"] == "fail" and p["U_pct"] < 0.3 for p in at_q3)
    assert all(p["verdict"] == "pass" for p in points if p["point"] in ("Q1", "Q2", "0.35(Q2+Q3)"))


# -- the weighing tank with standing starts --------------------------------------------------------------------
def _standing_points(tmp_path, seed: int, curve) -> list[tuple[dict, str]]:
    scenario = _scenario(tmp_path, seed, curve)
    procedure = master_meter_programme(tmp_path, ["Q1", "Q2", "0.35(Q2+Q3)", "0.7(Q2+Q3)", "Q3", "Q4"], repeats=2,
                                       method="gravimetric")
    # a standing start at Q4 puts 520 kg in the 600 kg tank: on virtual time no host's lag stops the pump late
    store, register, run_id = start(tmp_path / f"standing-{seed}", procedure, ["examples/meters/dn15-class2.yaml"],
                                    scenario)
    _completed(store, run_id, register)
    return [(p, scenario) for t in run_result(store, run_id)["tests"] for p in t["points"]]


def test_the_truth_lies_within_u_on_the_weighing_tank_with_standing_starts(tmp_path):
    """The ramps pass part of the volume at lower flows, where this meter's error differs (up to 1.5 % between
    Q1 and Q3): E must still recover the truth at the point within U.

    Only the lower bound is asserted. Above Q2 the ramps' term is two thirds of the budget and it is a bound for
    any meter conforming at the ramps' flows (the MPEs there), not this meter's curve, which is nearly flat:
    U is conservative by design there (median |E - truth| about 0.1 U against 0.337 for a budget that fits).
    A tighter term would need the meter's own error at the ramps' flows."""
    points = [item for seed in range(STANDING_SEEDS) for item in _standing_points(tmp_path, seed, CURVE)]
    assert len(points) == STANDING_SEEDS * 12
    ratios = sorted(abs(p["error_pct"] - truth(scenario, 1, p["flowrate_m3h"])) / p["U_pct"] for p, scenario in points)
    within, median = sum(r <= 1 for r in ratios) / len(ratios), ratios[len(ratios) // 2]
    print(f"standing starts: truth within U for {within:.1%} of {len(ratios)} points, median |E - truth| = "
          f"{median:.2f} U")
    assert within >= 0.90, (within, median)


def test_a_meter_just_outside_its_mpe_at_q4_fails_on_the_weighing_tank_with_standing_starts(tmp_path):
    points = [p for p, _ in _standing_points(tmp_path, 7, OUTSIDE_AT_Q4)]
    at_q4 = [p for p in points if p["point"] == "Q4"]
    assert len(at_q4) == 2 and all(p["verdict"] == "fail" for p in at_q4), at_q4
    assert all(p["verdict"] == "pass" for p in points if p["point"] in ("0.35(Q2+Q3)", "Q3"))


# -- the master meter (standing starts) ---------------------------------------------------------------------
MASTER_METER_POINTS = ["0.35(Q2+Q3)", "Q3", "Q4"]  # where mm-w-01 is calibrated (0.1 to 10 m³/h)
# 108 points; the master meter's error is drawn once per seed and point (54 draws). Its budget is dominated by
# the certificate (normal) and the master meter's reproducibility (rectangular, drawn uniform): light tails, so
# none of 180 points fell outside U with 30 seeds while the median |E - truth| / U was 0.31 (0.337 fits)
MASTER_METER_SEEDS = 18


def _master_meter_scenario(tmp_path, seed: int, curve) -> str:
    """The master meter's true curve drawn from its certificate (each point's error N(correction, U/k), and the
    bench's reproducibility half-width as a uniform shift), the thermometer's offset from its own."""
    rng = np.random.default_rng(seed)
    register = Register.load(REPO / "calibration")
    shift = rng.uniform(-0.05, 0.05)  # instruments/sim.yaml: reproducibility_half_width_pct
    master_curve = [[q, float(e + rng.normal(0.0, u_k2 / 2) + shift)]
                    for q, e, u_k2 in register.get("mm-w-01").calibration_points()]
    path = tmp_path / f"mm-seed-{seed}.yaml"
    path.write_text(yaml.safe_dump({
        "seed": 3000 + seed,
        "water_rig": {"max_flowrate_m3h": 6.0, "pump_time_constant_s": 2.0, "water_temperature_c": 19.5},
        "meters": [{"serial": "WM15-TRUTH", "error_curve": curve, "repeatability_pct": 0.0, "pulse_value_l": 0.01,
                    "register_resolution_l": 0.05}],
        "master_meter": {"error_curve": master_curve},
        "devices": {"thermometer": {"offset_c": float(rng.normal(0.0, THERMOMETER_U_C))}},
    }), encoding="utf-8")
    return str(path)


def _master_meter_points(tmp_path, seed: int, curve) -> list[tuple[dict, str]]:
    scenario = _master_meter_scenario(tmp_path, seed, curve)
    procedure = master_meter_programme(tmp_path, MASTER_METER_POINTS, repeats=2)
    store, register, run_id = start(tmp_path / f"mm-{seed}", procedure, ["examples/meters/dn15-class2.yaml"], scenario)
    _completed(store, run_id, register)
    return [(p, scenario) for t in run_result(store, run_id)["tests"] for p in t["points"]]


def test_the_truth_lies_within_u_on_the_master_meter_with_standing_starts(tmp_path):
    points = [item for seed in range(MASTER_METER_SEEDS) for item in _master_meter_points(tmp_path, seed, CURVE)]
    assert len(points) == MASTER_METER_SEEDS * 6
    ratios = [abs(p["error_pct"] - truth(scenario, 1, p["flowrate_m3h"])) / p["U_pct"] for p, scenario in points]
    within = sum(r <= 1 for r in ratios) / len(ratios)
    print(f"master meter: truth within U for {within:.1%} of {len(ratios)} points, median |E - truth| = "
          f"{sorted(ratios)[len(ratios) // 2]:.2f} U")
    # The realized errors are light-tailed: bounded contributions (the master meter's reproducibility, the ramps'
    # rectangular bound) weigh as much as the normal one, and such a sum lies within k = 2 times its standard
    # deviation more often than 95 %. So U is proved not too small by the coverage and not inflated by the median,
    # which for a normal |E - truth| / U at k = 2 is 0.337 (a doubled U would show 0.17).
    median = sorted(ratios)[len(ratios) // 2]
    assert within >= 0.90 and 0.22 <= median <= 0.5, (within, median)


def test_a_meter_just_outside_its_mpe_at_q4_fails_on_the_master_meter(tmp_path):
    points = [p for p, _ in _master_meter_points(tmp_path, 5, OUTSIDE_AT_Q4)]
    at_q4 = [p for p in points if p["point"] == "Q4"]
    assert len(at_q4) == 2 and all(p["verdict"] == "fail" for p in at_q4), at_q4
    assert all(p["verdict"] == "pass" for p in points if p["point"] in ("0.35(Q2+Q3)", "Q3"))
