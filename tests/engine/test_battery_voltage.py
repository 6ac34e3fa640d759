"""R 49 battery voltage (influence factor): the battery replaced by the programmable source's DC output, held at the
lowest and at the highest declared battery voltage (d11-2013 `battery_voltage`: 0 % around the voltage named) while
the error is measured. A meter whose error follows its DC supply fails; one that reacts only to AC mains passes."""

from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import execute
from meterlab.reports.results import run_result

from .test_end_to_end import start

PROGRAMME = "procedures/r49/battery-voltage.yaml"
METERS = ["examples/meters/dn15-class2.yaml", "examples/meters/dn15-class2-sample2.yaml"]


def test_a_meter_following_its_battery_voltage_fails_and_an_immune_one_passes(tmp_path):
    store, register, run_id = start(tmp_path, PROGRAMME, METERS, "tests/engine/data/dc-supply-sensitive.yaml")
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    held = [e.payload["setting"] for e in store.entries(run_id, kinds=["action_done"]) if e.payload.get("setting")]
    # exactly the programme's declared lowest (3.0 V) and highest (3.7 V) battery voltages, on the DC output
    assert [(s["output"], s["nominal_voltage_v"], s["variation_pct"]) for s in held] == [("dc", 3.0, 0), ("dc", 3.7, 0)]
    verdicts: dict[str, dict[str, str]] = {}
    for test in run_result(store, run_id)["tests"]:
        for point in test["points"]:
            verdicts.setdefault(point["meter_serial"], {})[point["step_label"]] = point["verdict"]
    assert verdicts["WM15-2026-0001"] == {"rated-battery-voltage": "pass", "at-lowest-battery-voltage": "fail",
                                         "at-highest-battery-voltage": "fail"}
    assert set(verdicts["WM15-2026-0002"].values()) == {"pass"}
