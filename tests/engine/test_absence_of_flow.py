"""R 49 absence of flow: with the line full and at rest under pressure, a meter that creeps (scenario creep_l_h)
fails no_registration by its pulses or by its bus register; a meter that stands still passes."""

from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import execute
from meterlab.reports.results import run_result

from .test_end_to_end import start

PROGRAMME = "procedures/r49/absence-of-flow.yaml"


def _run(tmp_path, meters: list[str], scenario: str) -> tuple[dict, list[dict]]:
    store, register, run_id = start(tmp_path, PROGRAMME, meters, scenario)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    checks = [c for e in store.entries(run_id, kinds=["evaluation"]) for c in e.payload["checks"]]
    return run_result(store, run_id), checks


def _by_serial(checks: list[dict]) -> dict[str, dict]:
    assert all(c["check"] == "no_registration" for c in checks)
    return {c["meter_serial"]: c for c in checks}


def test_a_creeping_meter_fails_by_its_pulses_and_a_still_one_passes(tmp_path):
    result, checks = _run(tmp_path, ["examples/meters/dn15-class2.yaml", "examples/meters/dn15-class2-sample2.yaml"],
                          "tests/engine/data/creeping-and-still.yaml")
    by_serial = _by_serial(checks)
    creeping, still = by_serial["WM15-2026-0001"], by_serial["WM15-2026-0002"]
    assert creeping["outcome"] == "fail"
    # 0.5 L/h for the profile's 900 s at rest is 0.125 L: 12 or 13 pulses of 0.01 L
    assert creeping["details"]["duration_s"] == 900
    assert 12 <= creeping["details"]["pulses"] <= 13
    assert "registered at rest" in creeping["details"]["why"]
    assert still["outcome"] == "pass" and still["details"]["pulses"] == 0
    # the line stood under the supply's pressure (4 bar gauge in the scenario, read absolute) at both ends
    assert all(4.5e5 < p < 5.5e5 for p in still["details"]["line_pressure_abs_pa"])
    assert result["verdict"] == "fail"


def test_a_creeping_meter_read_over_modbus_fails_by_its_register(tmp_path):
    _, checks = _run(tmp_path, ["tests/engine/data/dn15-modbus.yaml"], "tests/engine/data/creeping-modbus.yaml")
    creeping = _by_serial(checks)["WM15-2026-0001"]
    assert creeping["outcome"] == "fail"
    assert "pulses" not in creeping["details"]  # read by its register only
    assert creeping["details"]["register_change_l"] >= 0.1 - 1e-9


def test_a_still_meter_read_over_modbus_passes(tmp_path):
    _, checks = _run(tmp_path, ["tests/engine/data/dn15-modbus.yaml"], "examples/scenarios/good-meter.yaml")
    still = _by_serial(checks)["WM15-2026-0001"]
    assert still["outcome"] == "pass"
    assert still["details"]["register_change_l"] == 0
