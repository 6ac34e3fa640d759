"""A flying start's last collection at a point: the gravimetric rig sends the pump towards the programme's next flow
once the diverter is back on the bypass, while its tank settles for the weighing (the weighing is off the flow's
critical path); a result outside its window brings the flow back to its point before it is repeated."""

import math

import yaml

from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import execute
from meterlab.sim.scenario import load_scenario

from .test_end_to_end import REPO, start

HOLD_S, BAND_PCT = 30.0, 2.0


def _procedure(tmp_path, points: list[str], repeats: int):
    text = {"id": "next-flow", "title": "two windows, flying starts", "standard": "OIML R 49", "edition": "2013",
            "clause": "R 49-2:2013 7.4 (a test's own selection)", "version": 1, "meter_kind": "water",
            "profile": "r49-2013", "method": "gravimetric", "decision_rule": "simple",
            "steps": [{"for_each_point": {"points": points, "steps": [
                {"set_flow": {"point": "$point"}},
                {"stabilise": {"flow_within_pct": BAND_PCT, "for_s": HOLD_S}},
                {"measure_error": {"point": "$point", "volume": "auto", "start": "flying", "repeats": repeats}}]}}]}
    path = tmp_path / "next-flow.yaml"
    path.write_text(yaml.safe_dump(text, sort_keys=False), encoding="utf-8")
    return str(path)


def test_the_pump_heads_for_the_next_window_while_the_tank_settles(tmp_path):
    scenario = "instruments/scenarios/sim.yaml"
    store, register, run_id = start(tmp_path, _procedure(tmp_path, ["Q3", "Q4"], 2),
                                    ["examples/meters/dn15-class2.yaml"], scenario)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    measured = [e.payload for e in store.entries(run_id, kinds=["measurement"])]
    assert [m["point"]["name"] for m in measured] == ["Q3", "Q3", "Q4", "Q4"]
    assert all(m["point"]["low_m3h"] <= m["flowrate_m3h"] <= m["point"]["high_m3h"] for m in measured)
    rig = load_scenario(REPO / scenario).water_rig
    q3, q4 = (m["point"]["nominal_m3h"] for m in (measured[0], measured[2]))
    ramp_s = rig.pump_time_constant_s * math.log(abs(q4 - q3) / (q4 * BAND_PCT / 100))  # into the band
    times = [m["sim_time_s"] for m in measured]
    within = times[1]["start_s"] - times[0]["stop_s"]  # at one flow: the tank settles before the next collection
    change = times[2]["start_s"] - times[1]["stop_s"]  # Q3 to Q4: the ramp, the hold, and no settling on top
    assert within >= rig.scale_settle_time_s
    assert ramp_s + HOLD_S <= change < ramp_s + HOLD_S + rig.scale_settle_time_s


def test_a_result_outside_its_window_after_the_pump_moved_on_is_repeated_at_its_own_flow(tmp_path):
    """The master meter the rig trims on reads 10 % high: Q1 (its only measurement, so the pump heads for Q2 during
    its weighing) comes out below its window each time, and each repeat is at Q1's flow again, not at Q2's."""
    scenario = tmp_path / "trims-low.yaml"
    scenario.write_text(yaml.safe_dump({"seed": 5, "master_meter": {"error_curve": [[0.01, 10.0], [10.0, 10.0]]},
                                        "meters": [{"serial": "WM15-2026-0001", "error_curve": [[0.01, 0.2], [5.0, 0.2]],
                                                    "pulse_value_l": 0.01, "register_resolution_l": 0.05}]}),
                        encoding="utf-8")
    store, register, run_id = start(tmp_path, _procedure(tmp_path, ["Q1", "Q2"], 1),
                                    ["examples/meters/dn15-class2.yaml"], str(scenario))
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.FAILED
    outside = [e.payload for e in store.entries(run_id, kinds=["event"]) if e.payload["event"] == "outside_window"]
    assert [o["attempt"] for o in outside] == [1, 2, 3]
    for o in outside:  # about 0.9 Q1 (= 1.05 Q1 trimmed 10 % low), far from Q2 = 1.6 Q1
        assert o["point"] == "Q1" and 0.8 * o["low_m3h"] < o["flowrate_m3h"] < o["low_m3h"]
