"""Anomalous data (issue 16): the smart-meter programmes (procedures/smart/) apply reverse flow, a continuous flow
and a magnet on the simulated lab, poll each meter's M-Bus / Modbus interface for its status flags, and the
transmitted_status check judges them against what the meter declares. The scenario knows each meter's truth: a
meter that flags correctly passes, one that never raises a flag, raises it late or raises it falsely fails."""

from pathlib import Path

from meterlab.calibration.register import Register
from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs
from meterlab.records.store import Store
from meterlab.reports.document import render_html
from meterlab.reports.readings import run_readings
from meterlab.reports.results import run_result

from .test_end_to_end import BENCH, EMC_CLOCK_SCALE, REPO, start

HERE = Path(__file__).parent
DATA = str((HERE / "data").relative_to(HERE.parents[1]))
MBUS = "examples/meters/dn15-class2-pulses-mbus.yaml"
MBUS_2 = f"{DATA}/dn15-pulses-mbus-2.yaml"
MODBUS = "examples/meters/dn15-class2-pulses-modbus.yaml"
NO_INTERFACE = "examples/meters/dn15-class2-sample3.yaml"
GAS_BENCH = REPO / "instruments" / "sim-gas.yaml"


def _run(tmp_path, procedure: str, meters: list[str], scenario: str):
    store, register, run_id = start(tmp_path, procedure, meters, scenario, clock_scale=EMC_CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    result = run_result(store, run_id)
    checks = [c for c in result["tests"][0]["checks"] if c["check"] == "transmitted_status"]
    by_meter: dict[str, dict[str, dict]] = {}
    for c in checks:
        by_meter.setdefault(c["meter_serial"], {})[c["point"].split(" (")[0]] = c
    return store, run_id, result, by_meter


def _outcomes(checks: dict[str, dict]) -> dict[str, str]:
    return {where: c["outcome"] for where, c in checks.items()}


def test_reverse_flow_on_mbus_a_good_meter_passes_one_that_never_flags_fails(tmp_path):
    store, run_id, result, checks = _run(tmp_path, "procedures/smart/reverse-flow-flagged.yaml",
                                         [MBUS, MBUS_2, NO_INTERFACE], f"{DATA}/status-mbus-never-and-good.yaml")
    good, bad = checks["WM15-2026-0103"], checks["WM15-2026-0101"]
    assert _outcomes(good) == {"forward-flow": "pass", "reverse-flow-on": "pass", "reverse-flow-ended": "pass"}
    raised = good["reverse-flow-on"]["details"]
    assert raised["raised_at_s"] is not None and raised["raised_at_s"] <= raised["limit_s"]
    assert raised["absent_until_s"] is not None  # seen absent first: the flag followed the condition
    assert bad["reverse-flow-on"]["outcome"] == "fail"
    assert "reverse_flow not raised within 60 s" in bad["reverse-flow-on"]["details"]["reasons"]
    # its magnet flag stands from the start: a false flag where no condition is applied
    assert bad["forward-flow"]["outcome"] == "fail" and "magnet" in bad["forward-flow"]["details"]["reasons"]
    skipped = result["tests"][0]["skipped_checks"]
    assert [(s["meter_serial"], s["check"]) for s in skipped] == [("WM15-2026-0003", "transmitted_status")]
    assert "WM15-2026-0003" not in checks
    html = render_html(store, run_id)
    assert "transmitted_status" in html and "Checks not applicable" in html
    assert store.verify() == []


def test_magnet_on_modbus_good_never_and_false(tmp_path):
    outcomes = {}
    for kind in ("good", "never", "false"):
        _, _, _, checks = _run(tmp_path / kind, "procedures/smart/magnet-flagged.yaml", [MODBUS],
                               f"{DATA}/status-modbus-{kind}.yaml")
        outcomes[kind] = checks["WM15-2026-0102"]
    good, never, false = outcomes["good"], outcomes["never"], outcomes["false"]
    assert _outcomes(good) == {"no-magnet": "pass", "magnet-on": "pass", "magnet-removed": "pass"}
    assert good["magnet-on"]["details"]["interface"] == "modbus"
    assert good["magnet-removed"]["details"]["clears"] == "latched"  # and it was still raised: declared latched
    assert _outcomes(never) == {"no-magnet": "pass", "magnet-on": "fail", "magnet-removed": "fail"}
    assert "magnet not raised within 30 s" in never["magnet-on"]["details"]["reasons"]
    assert false["no-magnet"]["outcome"] == "fail"
    assert "raised magnet, reverse_flow without the condition" in false["no-magnet"]["details"]["reasons"]


def test_leak_on_mbus_a_late_meter_fails_a_good_one_passes(tmp_path):
    _, _, _, checks = _run(tmp_path, "procedures/smart/leak-flagged.yaml", [MBUS, MBUS_2],
                           f"{DATA}/status-mbus-late.yaml")
    good, late = checks["WM15-2026-0103"], checks["WM15-2026-0101"]
    assert _outcomes(good) == {"at-rest": "pass", "flow-shorter-than-declared": "pass",
                               "continuous-flow-on": "pass", "flow-stopped": "pass"}
    raised_s = good["continuous-flow-on"]["details"]["raised_at_s"]
    # the simulated meter's 1 h of continuous flow (from the flow's start, with the watch), seen at the next poll
    assert 3600 <= raised_s <= 3630 and good["continuous-flow-on"]["details"]["absent_until_s"] < 3600
    assert late["continuous-flow-on"]["outcome"] == "fail"
    assert "raised late" in late["continuous-flow-on"]["details"]["reasons"]
    assert late["continuous-flow-on"]["details"]["raised_at_s"] >= 3600 + 600  # 10 min late, as the scenario says


def _roll_over_run(tmp_path, rolls_over: bool):
    bench_text = BENCH.read_text(encoding="utf-8")
    wired = "options: {primary_address: 1}"
    assert wired in bench_text
    bench = BENCH
    if rolls_over:  # the lab declares that its meters' registers roll over: a backward step that fits is unwrapped
        bench = BENCH.parent / f"sim-rolls-over-{tmp_path.name}.yaml"  # beside sim.yaml: its relative paths hold
        bench.write_text(bench_text.replace(wired, "options: {primary_address: 1, register_rolls_over: true}"))
    try:
        inputs = load_inputs(REPO / "procedures/smart/register-roll-over.yaml",
                             [REPO / "examples/meters/dn15-class2-mbus.yaml"], bench,
                             REPO / DATA / "status-roll-over.yaml")
        store = Store(str(tmp_path / "records.db"))
        register = Register.load(REPO / "calibration")
        run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=EMC_CLOCK_SCALE)
        return store, run_id, execute(store, run_id, prompter=AutoPrompter(), register=register)
    finally:
        if bench != BENCH:
            bench.unlink()


def test_a_register_rolling_over_mid_measurement_is_unwrapped_where_the_bench_declares_it(tmp_path):
    store, run_id, state = _roll_over_run(tmp_path, rolls_over=True)
    assert state is RunState.COMPLETED
    [measurement] = [e.payload for e in store.entries(run_id, kinds=["measurement"])]
    [row] = measurement["meters"]
    assert row["outcome"] == "pass" and abs(row["error_pct"] - 0.1) < 0.3  # the truth at Q3: +0.1 %
    readings = [r for _, r in run_readings(store, run_id)]
    assert readings[0]["value"] > 999_900 and readings[-1]["value"] > 1_000_000  # unwrapped, not ~0
    assert readings[-1]["source"]["raw_value"] < 100_000  # what the meter sent: its register past the roll-over
    # (the end reading kept is the repeat read that confirms the register at rest: the `rolled_over` flag marks only
    # the read that unwrapped, so it is not on the recorded reading)


def test_a_roll_over_the_bench_does_not_declare_is_refused_never_recorded(tmp_path):
    store, run_id, state = _roll_over_run(tmp_path, rolls_over=False)
    assert state is RunState.FAILED
    failed = [e.payload for e in store.entries(run_id, kinds=["state"])][-1]
    assert "implausible value refused" in failed["error"] and "backward" in failed["error"]
    assert [e.payload for e in store.entries(run_id, kinds=["measurement"])] == []


def test_a_flat_battery_is_transmitted_in_the_mbus_status_byte_and_flagged_where_nothing_is_applied(tmp_path):
    store, run_id, _, checks = _run(tmp_path, "procedures/smart/magnet-flagged.yaml", [MBUS, MBUS_2],
                                    f"{DATA}/status-mbus-low-battery.yaml")
    flat, good = checks["WM15-2026-0101"], checks["WM15-2026-0103"]
    # the bench's magnet is wired to meter1 (instruments/sim.yaml): meter2 is not judged on it, and says why
    assert _outcomes(good) == {"no-magnet": "pass", "magnet-on": "inconclusive", "magnet-removed": "inconclusive"}
    assert "not applied to this meter" in good["magnet-on"]["details"]["reasons"]
    # a meter under test with a flat battery: the lab sees it before the magnet (change the battery, test again)
    assert flat["no-magnet"]["outcome"] == "fail" and "power_low" in flat["no-magnet"]["details"]["reasons"]
    assert flat["magnet-on"]["outcome"] == "pass"  # its magnet flag is judged on its own
    [watch] = [e.payload for e in store.entries(run_id, kinds=["status_watch"]) if e.payload["phase"] == "without"]
    datasets = watch["meters"]["WM15-2026-0101"]["interfaces"][0]["datasets"]
    assert all(d["status"] & 0x04 and d["flags"] == ["power_low"] for d in datasets)  # EN 13757-3 status bit 2
    assert all("power_low" in d["reading"]["status"]["flags"] for d in datasets)  # and in the reading format
    good_datasets = watch["meters"]["WM15-2026-0103"]["interfaces"][0]["datasets"]
    assert all(d["status"] == 0 and d["flags"] == [] for d in good_datasets)


def test_valve_state_on_a_smart_gas_meter_flagged_and_not(tmp_path):
    results = {}
    for name, scenario in (("good", "examples/scenarios/g4-smart-safety.yaml"),
                           ("never", f"{DATA}/status-g4-valve-never.yaml")):
        inputs = load_inputs(REPO / "procedures/smart/valve-closed-flagged.yaml",
                             [REPO / "examples/meters/g4-smart-modbus.yaml"], GAS_BENCH, REPO / scenario)
        (tmp_path / name).mkdir()
        store = Store(str(tmp_path / name / "records.db"))
        register = Register.load(REPO / "calibration")
        run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=EMC_CLOCK_SCALE)
        assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
        checks = [c for c in run_result(store, run_id)["tests"][0]["checks"] if c["check"] == "transmitted_status"]
        results[name] = {c["point"].split(" (")[0]: c for c in checks}
    good, never = results["good"], results["never"]
    assert _outcomes(good) == {"valve-open": "pass", "valve-closing": "pass", "valve-left-closed": "pass"}
    # the excess flow's 30 s dwell and the valve's 1 s travel (the scenario's meter), seen at the next 5 s poll
    assert 31 <= good["valve-closing"]["details"]["raised_at_s"] <= 41
    assert never["valve-closing"]["outcome"] == "fail" and never["valve-left-closed"]["outcome"] == "fail"
    assert "valve_closed not raised within 41 s" in never["valve-closing"]["details"]["reasons"]
