"""R 49 overload water temperature: the water at MAT + 10 °C (a T50 meter: 60 °C) for the profile's hour, then the
errors after recovery within MPE. A meter harmed by the hot water (scenario overheat_above_c) fails, its immune twin
passes; and a meter whose error follows the water's temperature fails the water-temperature test (T50)."""

from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import execute
from meterlab.reports.results import run_result

from .test_end_to_end import start

OVERLOAD = "procedures/r49/water-temperature-overload.yaml"
METER = ["examples/meters/dn25-class1.yaml"]


def _run(tmp_path, programme: str, scenario: str):
    store, register, run_id = start(tmp_path, programme, METER, scenario)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    return store, run_id, run_result(store, run_id)


def _overload(store, run_id) -> dict:
    done = [e.payload for e in store.entries(run_id, kinds=["action_done"]) if e.payload.get("overload")]
    assert len(done) == 1
    return done[0]["overload"]


def _after(result: dict) -> list[dict]:
    return [p for t in result["tests"] for p in t["points"] if p["role"] == "after"]


def test_a_meter_harmed_by_the_overload_fails_after_it(tmp_path):
    store, run_id, result = _run(tmp_path, OVERLOAD, "tests/engine/data/dn25-overheat.yaml")
    overload = _overload(store, run_id)
    # T50: MAT 50 °C + 10 °C, for 3600 s, both from the r49-2013 profile; the water held it through the hour
    assert overload["mat_c"] == 50 and overload["temperature_c"] == 60 and overload["duration_s"] == 3600
    assert abs(overload["water_temperature_c_start"] - 60) <= 2 and abs(overload["water_temperature_c_end"] - 60) <= 2
    after = _after(result)
    assert after and all(p["verdict"] == "fail" for p in after)
    # measured back at the reference temperature: the +3 % is the lasting harm, not the hot water's own effect
    assert all(abs(p["error_pct"] - 3.0) < 1.0 for p in after)
    assert result["verdict"] == "fail"


def test_an_immune_meter_passes_after_the_overload(tmp_path):
    store, run_id, result = _run(tmp_path, OVERLOAD, "tests/engine/data/dn25-hot-immune.yaml")
    assert _overload(store, run_id)["temperature_c"] == 60
    after = _after(result)
    assert len(after) == 6 and all(p["verdict"] == "pass" for p in after)
    assert result["verdict"] == "pass"


def test_a_meter_whose_error_follows_the_water_temperature_fails_the_t50_water_temperature_test(tmp_path):
    _, _, result = _run(tmp_path, "procedures/r49/water-temperature-t50.yaml",
                        "tests/engine/data/dn25-temperature-coefficient.yaml")
    points = [p for t in result["tests"] for p in t["points"]]
    verdicts = {label: {p["verdict"] for p in points if p["step_label"] == label}
                for label in ("low-temperature", "high-temperature")}
    # 0.1 %/°C: -1 % at 10 °C stays inside the class 1 MPE, +2.75 % at 47.5 °C is beyond the hot-water 2 %
    assert verdicts == {"low-temperature": {"pass"}, "high-temperature": {"fail"}}
    assert result["verdict"] == "fail"
