"""U neither too small nor inflated on the gas rig's bell prover (issue 10): for each seed the simulated bell's
true effective area and its transmitters' and thermometer's errors are drawn from their own certificates
(bell-01, ptx-g-04 at the bell, ptx-g-01 at the meter, prt-01), and what the budget takes from the bench file
is made real too: the bell's gas warmer or cooler than the line's (within the stated half-width, which the one
thermometer cannot see) and each bell pass's scatter (the rig's reproducibility). The truth lies within U for
at least 90 % of the points across seeds, U is not inflated (median |E - truth| / U near the 0.337 of a budget
that fits), and a meter truly just outside its MPE fails."""

import numpy as np
import yaml

from meterlab.calibration.register import Register
from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs
from meterlab.records.store import Store
from meterlab.reports.results import run_result

from .test_gas_run import BENCH, CLOCK_SCALE, METER, PROCEDURE, REPO, SERIAL, truth

CURVE = [[0.04, 1.0], [0.12, 0.6], [0.6, 0.2], [2.4, -0.2], [6.0, -0.4]]
SEEDS = 5  # 7 points x 3 repeats each: 105 points
AMBIENT_PA, BELL_OVERPRESSURE_PA, GAS_TEMPERATURE_C = 100800.0, 800.0, 21.0
# instruments/sim-gas.yaml, bell_prover equipment: temperature_difference_half_width_c, reproducibility_u_pct
TEMPERATURE_DIFFERENCE_HALF_WIDTH_C, REPRODUCIBILITY_U_PCT = 0.1, 0.02
MID_SECTION_M = 0.85  # between the scenario's detectors (0.95, 0.75): where the certificate's area is taken
# the simulated devices err by minus their certificate's correction plus a draw from its standard uncertainty
READS = {"gas_temperature": ("prt-01", GAS_TEMPERATURE_C),
         "bell_pressure": ("ptx-g-04", AMBIENT_PA + BELL_OVERPRESSURE_PA),
         "gas_pressure": ("ptx-g-01", AMBIENT_PA + BELL_OVERPRESSURE_PA)}


def _scenario(tmp_path, seed: int, curve) -> str:
    rng = np.random.default_rng(seed)
    register = Register.load(REPO / "calibration")
    devices = {}
    for device, (certificate, at) in READS.items():
        correction = register.correction(certificate, at=at)
        devices[device] = {"offset": float(-correction.x + rng.normal(0.0, correction.u))}
    area = register.correction("bell-01", at=MID_SECTION_M)
    path = tmp_path / f"bell-seed-{seed}.yaml"
    path.write_text(yaml.safe_dump({
        "seed": 4000 + seed,
        "gas_rig": {"ambient_pressure_pa": AMBIENT_PA, "bell_overpressure_pa": BELL_OVERPRESSURE_PA,
                    "gas_temperature_c": GAS_TEMPERATURE_C, "meter_pressure_drop_pa": 80.0,
                    "pressure_drop_flowrate_m3h": 6.0, "bell_area_m2": float(area.x + rng.normal(0.0, area.u)),
                    "bell_start_detector_m": 0.95, "bell_stop_detector_m": 0.75, "bell_top_m": 0.97,
                    "bell_initial_position_m": 0.97, "bell_pass_scatter_pct": REPRODUCIBILITY_U_PCT,
                    "bell_gas_temperature_offset_c": float(rng.uniform(-TEMPERATURE_DIFFERENCE_HALF_WIDTH_C,
                                                                       TEMPERATURE_DIFFERENCE_HALF_WIDTH_C))},
        "gas_meters": [{"serial": SERIAL, "error_curve": curve, "repeatability_pct": 0.0, "pulse_value_l": 0.1,
                        "register_resolution_l": 0.2}],
        "devices": devices,
    }), encoding="utf-8")
    return str(path)


def _points(tmp_path, seed: int, curve) -> list[dict]:
    run_dir = tmp_path / str(seed)
    run_dir.mkdir()
    inputs = load_inputs(PROCEDURE, [METER], BENCH, _scenario(tmp_path, seed, curve))
    store = Store(str(run_dir / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    return [p for t in run_result(store, run_id)["tests"] for p in t["points"]]


def test_the_truth_lies_within_u_on_the_bell_prover(tmp_path):
    points = [p for seed in range(SEEDS) for p in _points(tmp_path, seed, CURVE)]
    assert len(points) >= 100
    ratios = sorted(abs(p["error_pct"] - truth(CURVE, p["flowrate_m3h"])) / p["U_pct"] for p in points)
    within, median = sum(r <= 1 for r in ratios) / len(ratios), ratios[len(ratios) // 2]
    print(f"bell: truth within U for {within:.1%} of {len(ratios)} points, median |E - truth| = {median:.2f} U")
    # Not "at most 99.5 % within": over 105 points that demands at least one miss, and the bell's realized errors
    # are light-tailed (rectangular terms, the temperature difference and the resolutions, weigh as much as the
    # normal ones), so no miss at all is a common outcome (CI: 105 of 105, median 0.31 U). U is shown not
    # inflated by the median instead: 0.337 for a normal |E - truth| / U at k = 2, 0.17 for a doubled U.
    assert within >= 0.90 and 0.22 <= median <= 0.5, (within, median)


def test_a_gas_meter_just_outside_its_mpe_at_qmax_fails_on_the_bell(tmp_path):
    curve = [[0.04, 1.0], [0.6, 0.2], [2.4, -0.2], [4.0, 0.0], [5.5, 1.8], [6.0, 1.8]]  # +1.8 % at Qmax (MPE 1.5 %)
    points = _points(tmp_path, 2, curve)
    at_qmax = [p for p in points if p["point"] == "Qmax"]
    assert len(at_qmax) == 3 and all(p["verdict"] == "fail" for p in at_qmax), at_qmax
    assert all(p["verdict"] == "pass" for p in points if p["point"] in ("Qmin", "0.1Qmax", "0.4Qmax"))
