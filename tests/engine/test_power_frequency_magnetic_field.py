"""R 49 power-frequency magnetic field (IEC 61000-4-8, NSAd): the continuous field of the meter's class (E1: 30 A/m,
from d11-2013) applied through the whole disturbed measurement. A meter whose electronics misread under it fails;
a meter susceptible only to a static magnet (another disturbance kind) passes."""

from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import execute
from meterlab.reports.results import run_result

from .test_end_to_end import start

PROGRAMME = "procedures/r49/power-frequency-magnetic-field.yaml"
METER = ["examples/meters/dn15-class2.yaml"]  # electromagnetic class E1


def _run(tmp_path, scenario: str):
    store, register, run_id = start(tmp_path, PROGRAMME, METER, scenario)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    result = run_result(store, run_id)
    (applied,) = [e.payload for e in store.entries(run_id, kinds=["action_done"]) if e.payload.get("disturbance")]
    # E1 -> D 11 level 4: 30 A/m continuous at 50 Hz, from the severity profile
    assert applied["disturbance"] == "power_frequency_magnetic_field"
    assert applied["parameters"]["field_a_per_m"] == 30 and applied["parameters"]["mains_frequency_hz"] == 50
    fault = next(c for t in result["tests"] for c in t["checks"] if c["check"] == "significant_fault")
    disturbed = [e.payload for e in store.entries(run_id, kinds=["measurement"])
                 if e.payload.get("step_label") == "disturbed"]
    return result, fault, disturbed


def test_a_meter_misreading_under_the_field_fails(tmp_path):
    result, fault, disturbed = _run(tmp_path, "tests/engine/data/power-frequency-field-susceptible.yaml")
    assert fault["outcome"] == "fail"
    assert abs(fault["details"]["fault_pct"] + 3.0) <= fault["details"]["U_pct"] + 0.1
    assert result["verdict"] == "fail"
    # the field covered the disturbed collection (the profile's min_disturbed_fraction is 0.98)
    (measurement,) = disturbed
    assert measurement["conditions"]["disturbance"]["disturbed_fraction"] >= 0.98


def test_a_meter_immune_to_the_field_passes_though_a_magnet_would_fail_it(tmp_path):
    result, fault, _ = _run(tmp_path, "examples/scenarios/magnet-susceptible.yaml")
    assert fault["outcome"] == "pass" and abs(fault["details"]["fault_pct"]) < 0.2
    assert result["verdict"] == "pass"
