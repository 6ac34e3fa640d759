"""R 49 DC supply voltage variation (influence factor): the programmable source's DC output held at the upper and
the lower limit of d11-2013 `dc_voltage_variation` around the rated DC voltage, the error measured at each. A meter
whose error follows its DC supply fails; a meter that reacts only to an AC mains variation passes (the source really
switched to DC: the simulated meter sees the kind the source's output gives)."""

from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import execute
from meterlab.reports.results import run_result

from .test_end_to_end import start

PROGRAMME = "procedures/r49/dc-voltage-variation.yaml"
METERS = ["examples/meters/dn15-class2.yaml", "examples/meters/dn15-class2-sample2.yaml"]


def test_a_meter_following_its_dc_supply_fails_and_an_ac_only_one_passes(tmp_path):
    store, register, run_id = start(tmp_path, PROGRAMME, METERS, "tests/engine/data/dc-supply-sensitive.yaml")
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    held = [e.payload["setting"] for e in store.entries(run_id, kinds=["action_done"]) if e.payload.get("setting")]
    # the DC output at +10 % and -15 % of the programme's rated 3.6 V, no mains frequency sent
    assert [(s["output"], s["variation_pct"], s["nominal_voltage_v"]) for s in held] == [
        ("dc", 10, 3.6), ("dc", -15, 3.6)]
    assert all("mains_frequency_hz" not in s for s in held)
    result = run_result(store, run_id)
    by_meter: dict[str, dict[str, str]] = {}
    for test in result["tests"]:
        for point in test["points"]:
            by_meter.setdefault(point["meter_serial"], {})[point["step_label"]] = point["verdict"]
    assert by_meter["WM15-2026-0001"] == {"rated-voltage": "pass", "at-upper-voltage": "fail",
                                         "at-lower-voltage": "fail"}
    assert set(by_meter["WM15-2026-0002"].values()) == {"pass"}
    assert result["verdict"] == "fail"
