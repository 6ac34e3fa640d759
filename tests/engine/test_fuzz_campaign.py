"""Interface fuzz campaigns on the simulated lab (issue 16, part 2): real rig, real sockets, the real link and
oracle; no mocks. Each planted weakness is found by a full campaign (the default budget: every case) with the class
it deserves, the robust meter gets no fail, a finding replays to the same verdict, every frame is in the record's
I/O log, and the record verifies."""

from __future__ import annotations

from pathlib import Path

import pytest

from meterlab.engine.fuzz import create_campaign, execute_campaign, load_fuzz_inputs, replay_case
from meterlab.records.store import Store

ROOT = Path(__file__).resolve().parents[2]
METER = ROOT / "examples" / "meters" / "dn15-class2-modbus.yaml"
BENCH = ROOT / "instruments" / "sim.yaml"
SCENARIOS = ROOT / "examples" / "scenarios"
# A hung meter costs a reply timeout of real time per probe: its test runs the cases up to the boundaries (where the
# first hang is), not the whole campaign; the crash scenario, whose dropped connections cost nothing, runs it all.
HANG_CASES = 45


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}")
    yield store
    store.close()


@pytest.fixture(scope="module")
def campaigns(store):
    """name -> (run id, summary); a campaign is run the first time a test asks for it."""
    done: dict[str, tuple[str, dict]] = {}

    def run(name: str, cases: int | None = None) -> tuple[str, dict]:
        if name not in done:
            setup = load_fuzz_inputs(METER, BENCH, SCENARIOS / f"modbus-{name}.yaml")
            run_id = create_campaign(store, setup, operator="tester", seed=1, cases=cases, budget_s=None)
            done[name] = run_id, execute_campaign(store, run_id)
        return done[name]

    return run


def fails(summary: dict) -> list[dict]:
    return [f for f in summary["findings"] if f["class"] == "fail"]


def test_the_robust_meter_gets_no_fail(campaigns, store):
    run_id, summary = campaigns("robust")
    assert summary["cases_run"] > 300
    assert fails(summary) == []
    assert summary["per_class"]["fail"] == 0
    assert abs(summary["fault_pct"]) < summary["significant_fault_limit_pct"]
    # the error measured before, after each group of cases (the meter runs at flow all along) and after the last
    assert set(summary["measurements"]) == {"before", "after conformance", "after boundaries", "after grammar",
                                            "after sweep", "after protected", "after"}
    assert store.verify() == []  # the chain, its authentication, the registration of the campaign


def test_a_crash_that_recovers_in_time_is_a_warning_with_its_recovery_time(campaigns):
    _, summary = campaigns("crash")
    assert fails(summary) == []
    warnings = [f for f in summary["findings"] if f["class"] == "warning"]
    assert warnings and all("recovered after" in f["reasons"][0] for f in warnings)
    assert all(0 < seconds <= 10 for _, seconds in summary["recovery_s"])  # reboot 5 s, stated 10 s
    assert any("quantity 125" in f["title"] for f in warnings)  # a boundary read past register 40
    (kind,) = summary["finding_kinds"]  # one weakness: one kind of finding, with its count and first case
    assert kind["count"] == len(warnings) and kind["first_case"] == warnings[0]["case"]


def test_a_hang_beyond_the_stated_recovery_time_fails(campaigns):
    _, summary = campaigns("hang", HANG_CASES)
    found = fails(summary)
    assert found and all("beyond the stated 10 s" in f["reasons"][0] for f in found)
    assert found[0]["group"] == "boundaries"


def test_a_writable_protected_register_is_an_undocumented_change_and_a_significant_fault(campaigns):
    _, summary = campaigns("writable-protected")
    found = fails(summary)
    changed = [f for f in found if f["group"] == "protected"]
    assert changed and "undocumented state change: meter_factor" in changed[0]["reasons"][0]
    assert changed[0]["title"].startswith("write legally relevant meter_factor")
    metrology = [f for f in found if f["group"] == "metrology"]
    assert metrology and metrology[0]["case"] == changed[0]["case"]
    assert abs(summary["fault_pct"]) > summary["significant_fault_limit_pct"]


def test_a_parameter_changed_by_an_undocumented_function_code_fails(campaigns):
    _, summary = campaigns("undocumented-function")
    found = [f for f in fails(summary) if f["group"] == "sweep"]
    assert [f["title"] for f in found] == ["undocumented function 22 at meter_factor"]
    assert "undocumented state change: meter_factor" in found[0]["reasons"][0]


def test_slow_recovery_after_a_flood_fails(campaigns):
    _, summary = campaigns("flood")
    (found,) = fails(summary)
    assert found["group"] == "flood" and "no answer within" in found["reasons"][0]


def test_a_finding_replays_deterministically(campaigns, store):
    run_id, summary = campaigns("undocumented-function")
    (finding,) = [f for f in fails(summary) if f["group"] == "sweep"]
    replayed = replay_case(store, run_id, finding["case"])
    assert (replayed["verdict"], replayed["reasons"], replayed["title"]) == ("fail", finding["reasons"], finding["title"])


def test_every_frame_of_a_case_is_in_its_io_log(campaigns, store):
    run_id, _ = campaigns("robust")
    for entry in store.entries(run_id, kinds=["fuzz_case"]):
        written = [row[4].encode("latin-1").hex(" ") for row in entry.payload["io"] if row[3] == "write"]
        for frame in entry.payload["frames"]:
            assert frame in written, (entry.payload["case"], frame)


# An RTU meter behind a transparent serial gateway: the simulated (pymodbus) RTU server stays silent on an unknown
# function code instead of answering an exception, so each of the ~250 sweep cases costs a reply timeout; the
# robust meter's test runs the cases up to the grammar group, where the RTU-specific (CRC) cases are.
RTU_METER = ROOT / "examples" / "meters" / "dn15-class2-modbus-rtu.yaml"
RTU_ROBUST_CASES = 60


@pytest.mark.parametrize("name, cases", [("rtu-robust", RTU_ROBUST_CASES), ("rtu-bad-crc", None)])
def test_rtu_a_bad_crc_accepted_fails_and_the_robust_meter_does_not(store, name, cases):
    setup = load_fuzz_inputs(RTU_METER, BENCH, SCENARIOS / f"modbus-{name}.yaml")
    run_id = create_campaign(store, setup, operator="tester", seed=1, cases=cases, budget_s=None)
    summary = execute_campaign(store, run_id)
    found = fails(summary)
    if name == "rtu-robust":
        assert found == [] and summary["cases_run"] == RTU_ROBUST_CASES
        return
    assert {f["title"].split(": ", 1)[-1] for f in found} >= {"bad CRC (low byte)", "bad CRC (high byte)"}
    assert all("corrupted frame accepted" in f["reasons"][0] for f in found)
    write = [f for f in found if f["title"].startswith("write display_mode")]
    assert write and "undocumented state change: display_mode" in write[0]["reasons"][1]


# M-Bus: the simulated gateway stays silent on what it does not take (as a bus does), so each of the ~500 sweep
# cases costs a reply timeout; the tests run the cases up to the grammar group and a part of the sweep.
MBUS_METER = ROOT / "examples" / "meters" / "dn15-class2-mbus-fuzz.yaml"
MBUS_CASES = 60


def test_mbus_a_bad_checksum_accepted_fails_the_robust_meter_does_not_and_the_finding_replays(store):
    summaries = {}
    for name in ("robust", "bad-checksum"):
        setup = load_fuzz_inputs(MBUS_METER, BENCH, SCENARIOS / f"mbus-{name}.yaml")
        run_id = create_campaign(store, setup, operator="tester", seed=1, cases=MBUS_CASES, budget_s=None)
        summaries[name] = run_id, execute_campaign(store, run_id)
    assert fails(summaries["robust"][1]) == [] and summaries["robust"][1]["cases_run"] == MBUS_CASES
    run_id, summary = summaries["bad-checksum"]
    found = fails(summary)
    assert {f["title"] for f in found} == {"REQ_UD2 with a bad checksum", "SND_NKE with a bad checksum",
                                           "SND_UD with a bad checksum"}
    assert all("corrupted frame accepted" in f["reasons"][0] for f in found)
    replayed = replay_case(store, run_id, found[0]["case"])
    assert (replayed["verdict"], replayed["reasons"]) == ("fail", found[0]["reasons"])


def test_a_declared_record_the_meter_does_not_send_stops_the_campaign_naming_it(store, tmp_path):
    from meterlab.engine.fuzz import FuzzInputError

    meter = tmp_path / "meter.yaml"
    meter.write_text(MBUS_METER.read_text().replace("{name: volume, vif: 0x11", "{name: volume, vif: 0x12"))
    setup = load_fuzz_inputs(meter, BENCH, SCENARIOS / "mbus-robust.yaml")
    run_id = create_campaign(store, setup, operator="tester", seed=1, cases=5, budget_s=None)
    with pytest.raises(FuzzInputError, match="field 'interface': volume declared but not read from the meter"):
        execute_campaign(store, run_id)
    states = [e.payload for e in store.entries(run_id, kinds=["state"])]
    assert states[-1]["state"] == "failed" and "volume" in states[-1]["reason"]
