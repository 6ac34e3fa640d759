"""R 49 DC supply dips and short interruptions (IEC 61000-4-29, NSAd): the programmable source's DC output dips
through the d11-2013 `dc_dips_interruptions` sequence during the disturbed measurement. A meter that loses pulses
when its DC supply dips fails; one that loses them only on AC mains dips passes (the source dipped its DC output)."""

from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import execute
from meterlab.reports.results import run_result

from .test_end_to_end import start

PROGRAMME = "procedures/r49/dc-dips-interruptions.yaml"
METERS = ["examples/meters/dn15-class2.yaml", "examples/meters/dn15-class2-sample2.yaml"]


def test_a_meter_upset_by_dc_dips_fails_and_an_ac_only_one_passes(tmp_path):
    store, register, run_id = start(tmp_path, PROGRAMME, METERS, "tests/engine/data/dc-dips-sensitive.yaml")
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    (applied,) = [e.payload for e in store.entries(run_id, kinds=["action_done"]) if e.payload.get("disturbance")]
    assert applied["disturbance"] == "dc_dips" and applied["parameters"]["nominal_voltage_v"] == 12.0
    assert [r["duration_ms"] for r in applied["parameters"]["reductions"]] == [10, 100, 1000, 1, 100, 1000]
    (disturbed,) = [e.payload for e in store.entries(run_id, kinds=["measurement"])
                    if e.payload.get("step_label") == "disturbed"]
    assert disturbed["conditions"]["disturbance"]["disturbed_fraction"] >= 0.98
    faults = {c["meter_serial"]: c for t in run_result(store, run_id)["tests"] for c in t["checks"]
              if c["check"] == "significant_fault"}
    # a fifth of the pulses lost: about -20 % against the intrinsic error
    assert faults["WM15-2026-0001"]["outcome"] == "fail"
    assert faults["WM15-2026-0001"]["details"]["fault_pct"] < -15
    assert faults["WM15-2026-0002"]["outcome"] == "pass"
    assert abs(faults["WM15-2026-0002"]["details"]["fault_pct"]) < 0.3
