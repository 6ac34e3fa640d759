"""The static magnetic field test holds the magnet over the whole disturbed measurement: a meter whose coupling
slips under it fails, an immune one passes (before, the magnet's 60 s ended early in a 229 s collection at Q1
and a -4 % meter passed)."""

from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import execute
from meterlab.reports.results import run_result

from .test_end_to_end import start

PROGRAMME = "procedures/r49/static-magnetic-field.yaml"
METER = ["examples/meters/dn15-class2.yaml"]


def _run(tmp_path, scenario: str) -> dict:
    store, register, run_id = start(tmp_path, PROGRAMME, METER, scenario)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    return run_result(store, run_id)


def _fault_at(result: dict, point: str) -> dict:
    return next(c for t in result["tests"] for c in t["checks"]
                if c["check"] == "significant_fault" and c["point"] == point)


def test_a_meter_slipping_under_the_magnet_fails_at_q1(tmp_path):
    result = _run(tmp_path, "examples/scenarios/magnet-susceptible.yaml")
    q1 = _fault_at(result, "Q1")
    assert q1["outcome"] == "fail"
    # the whole -4 % shift within the fault's own U (plus the meter's scatter), not a diluted part of it
    assert abs(q1["details"]["fault_pct"] + 4.0) <= q1["details"]["U_pct"] + 0.1
    assert result["verdict"] == "fail"


def test_an_immune_meter_passes_with_every_point_measured_under_the_magnet(tmp_path):
    result = _run(tmp_path, "examples/scenarios/good-meter.yaml")
    assert all(_fault_at(result, p)["outcome"] == "pass" for p in ("Q1", "Q3"))
    disturbed = [p for t in result["tests"] for p in t["points"] if p["role"] == "disturbed"]
    assert len(disturbed) == 2 and all(p["verdict"] == "pass" for p in disturbed)
