"""What smart meters transmit while a disturbance is applied (the data_transmission check), on the simulated lab:
the rig polls the meters' M-Bus / Modbus interfaces through real sockets with the real drivers before, during
and after each disturbed collection, and the scenario knows what each interface does while disturbed."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meterlab.cli import app

from meterlab.calibration.register import Register
from meterlab.engine.control import RunState
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs
from meterlab.errors import InputFileError
from meterlab.instruments.readings.schema import validate_reading
from meterlab.records.store import Store
from meterlab.reports.document import render_html
from meterlab.reports.readings import run_readings
from meterlab.reports.results import run_result

from .test_end_to_end import BENCH, EMC_CLOCK_SCALE, REPO, start

HERE = Path(__file__).parent
DATA = str((HERE / "data").relative_to(HERE.parents[1]))
MBUS = "examples/meters/dn15-class2-pulses-mbus.yaml"
MODBUS = "examples/meters/dn15-class2-pulses-modbus.yaml"
GAS_BENCH = REPO / "instruments" / "sim-gas.yaml"


def _run(tmp_path, procedure: str, meters: list[str], scenario: str):
    store, register, run_id = start(tmp_path, procedure, meters, scenario, clock_scale=EMC_CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    result = run_result(store, run_id)
    checks = [c for c in result["tests"][0]["checks"] if c["check"] == "data_transmission"]
    fault = {c["meter_serial"]: c for c in result["tests"][0]["checks"] if c["check"] == "significant_fault"}
    return store, run_id, {c["meter_serial"]: c for c in checks}, fault


def _datasets(store, run_id, serial: str) -> list[dict]:
    disturbed = [e.payload for e in store.entries(run_id, kinds=["measurement"]) if e.payload["during"]]
    row = next(r for r in disturbed[0]["meters"] if r["meter_serial"] == serial)
    return row["raw"]["transmission"]["interfaces"][0]["datasets"]


def test_a_burst_susceptible_mbus_meter_fails_and_an_immune_one_passes_in_one_run(tmp_path):
    meters = [MBUS, f"{DATA}/dn15-pulses-mbus-2.yaml"]
    store, run_id, checks, fault = _run(tmp_path, "procedures/r49/burst-mains.yaml", meters,
                                        f"{DATA}/transmission-burst.yaml")
    bad, good = checks["WM15-2026-0101"], checks["WM15-2026-0103"]
    assert fault["WM15-2026-0101"]["outcome"] == "pass"  # its pulses are right: only its interface is at fault
    assert bad["outcome"] == "fail", bad
    assert bad["details"]["rejected"] > 0 and isinstance(bad["details"]["lost"], int) and bad["details"]["lost"] > 0
    assert good["outcome"] == "pass", good
    d = good["details"]
    assert d["rejected"] == 0 and d["lost"] == 0 and d["accepted_but_wrong"] == 0 and d["unanswered"] == 0
    assert d["expected"] == d["valid"] >= 10
    # every 5 s (the profile's poll interval), give or take the collection loop's step and a neighbour's timeout
    polls = [x["t_request_s"] for x in _datasets(store, run_id, "WM15-2026-0103")]
    assert all(1.9 < b - a < 8.1 for a, b in zip(polls[:-2], polls[1:-1])), polls
    assert 4.5 < (polls[-2] - polls[0]) / (len(polls) - 2) < 5.5, polls  # on the 5 s grid on average
    assert abs(d["change_difference_pct"]) < 0.5  # the transmitted volume follows the pulses
    datasets = _datasets(store, run_id, "WM15-2026-0101")
    assert {x["phase"] for x in datasets} == {"start", "during", "end"}
    assert not datasets[0]["disturbed"] and any(x["disturbed"] for x in datasets)
    rejected = [x for x in datasets if x["integrity"] == "rejected"]
    assert rejected and all(x["raw"] and x["why"] for x in rejected)  # the bytes as they came, and why
    exported = [(where, r) for where, r in run_readings(store, run_id) if where["phase"].startswith("transmission:")]
    assert {r["integrity"]["result"] for _, r in exported} == {"ok", "rejected"}  # in the one reading format
    html = render_html(store, run_id)  # the figures on the report
    assert "data_transmission" in html and "accepted_but_wrong" in html and "lost" in html
    assert store.verify() == []


def test_a_meter_without_interface_is_skipped_saying_so(tmp_path):
    meters = ["examples/meters/dn15-class2-sample3.yaml", MBUS]
    store, run_id, checks, _ = _run(tmp_path, "procedures/r49/burst-mains.yaml", meters, f"{DATA}/transmission-burst.yaml")
    result = run_result(store, run_id)
    assert set(checks) == {"WM15-2026-0101"}  # judged only where an interface is declared
    skipped = result["tests"][0]["skipped_checks"]
    assert [(s["meter_serial"], s["check"]) for s in skipped] == [("WM15-2026-0003", "data_transmission")]
    assert "declares no communication interface" in skipped[0]["why"]
    assert "Checks not applicable" in render_html(store, run_id)


def test_a_modbus_meter_transmitting_a_wrong_value_during_dips_fails_while_its_pulses_are_right(tmp_path):
    store, run_id, checks, fault = _run(tmp_path, "procedures/r49/short-time-power-reductions.yaml", [MODBUS],
                                        f"{DATA}/transmission-dips-modbus.yaml")
    check = checks["WM15-2026-0102"]
    assert fault["WM15-2026-0102"]["outcome"] == "pass"  # the pulses: no significant fault
    assert check["outcome"] == "fail" and check["details"]["interface"] == "modbus"
    d = check["details"]
    assert d["accepted_but_wrong"] > 0 and d["rejected"] == 0 and d["unanswered"] == 0
    assert d["lost"] == "not counted (no consecutive number)"
    assert d["largest_difference_l"] > d["its_tolerance_l"] > 0
    assert "significant fault" in d["reasons"]
    datasets = _datasets(store, run_id, "WM15-2026-0102")
    assert datasets[0]["integrity"] == "valid" and not datasets[0]["disturbed"]
    assert datasets[-1]["identification"] == "20260102"  # the serial number register (uint32: its digits), each poll


def _exported(store, run_id: str, out: Path) -> list[dict]:
    """`meterlab readings export RUN --format jsonl`, each line validated against the shipped schema."""
    result = CliRunner().invoke(app, ["readings", "export", run_id, "--format", "jsonl", "--out", str(out),
                                      "--db", store.url])
    assert result.exit_code == 0, result.output
    return [validate_reading(json.loads(line), what=f"line {n}")
            for n, line in enumerate(out.read_text().splitlines(), 1)]


def test_every_polled_modbus_dataset_is_exported_in_the_reading_format(tmp_path):
    # a Modbus meter that answers with an exception while its supply dips: valid datasets before and after,
    # meter errors in between; every one of them is a reading, the failed ones without a value
    scenario = tmp_path / "silent-modbus.yaml"
    scenario.write_text((HERE / "data/transmission-dips-modbus.yaml").read_text()
                        .replace("dips: {wrong_value_pct: 5.0}", "dips: {silent: true}"), "utf-8")
    store, register, run_id = start(tmp_path, "procedures/r49/short-time-power-reductions.yaml", [MODBUS],
                                    str(scenario), clock_scale=EMC_CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    datasets = [d for e in store.entries(run_id, kinds=["measurement"]) for row in e.payload["meters"]
                for i in ((row.get("raw") or {}).get("transmission") or {}).get("interfaces", []) for d in i["datasets"]]
    assert {d["integrity"] for d in datasets} == {"valid", "meter_error"}
    readings = [r for r in _exported(store, run_id, tmp_path / "r.jsonl") if r["source"]["interface"] == "modbus"]
    assert len(readings) == len(datasets)  # every poll, in record order
    for dataset, reading in zip(datasets, readings):
        if dataset["integrity"] == "valid":
            assert reading["integrity"] == {"result": "ok"} and reading["value"] == dataset["volume_l"]
            assert reading["meter"]["identification"] == "20260102" and reading["source"]["raw"]
        else:
            assert reading["value"] is None and reading["integrity"]["result"] == "rejected"
            assert reading["integrity"]["reason"].startswith("meter_error: ")
            assert reading["meter"]["identification"] == "meter1"  # the wiring's: the serial was not read
    phases = [where["phase"] for where, r in run_readings(store, run_id) if r["source"]["interface"] == "modbus"]
    assert {"transmission:start", "transmission:during", "transmission:end"} <= set(phases)


def test_dips_with_buffered_datasets_delivered_pass_and_lost_datasets_fail(tmp_path):
    meters = [MBUS, f"{DATA}/dn15-pulses-mbus-2.yaml"]
    store, run_id, checks, _ = _run(tmp_path, "procedures/r49/short-time-power-reductions.yaml", meters,
                                    f"{DATA}/transmission-dips-buffered.yaml")
    buffered, losing = checks["WM15-2026-0101"]["details"], checks["WM15-2026-0103"]["details"]
    assert checks["WM15-2026-0101"]["outcome"] == "pass", buffered
    assert buffered["unanswered"] > 0 and buffered["lost"] == 0  # silent while its supply dipped, nothing lost
    assert checks["WM15-2026-0103"]["outcome"] == "fail" and losing["lost"] > 0, losing
    numbers = [x["access_number"] for x in _datasets(store, run_id, "WM15-2026-0101") if x["integrity"] == "valid"]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


def test_an_interface_the_bench_cannot_read_is_refused_before_any_record(tmp_path):
    # the simulated bench wires its Modbus meter to position 1 only: a Modbus meter at position 2 has none
    meters = [REPO / "examples/meters/dn15-class2.yaml", REPO / MODBUS]
    with pytest.raises(InputFileError) as info:
        load_inputs(REPO / "procedures/r49/burst-mains.yaml", meters, BENCH, None)
    text = str(info.value)
    assert "dn15-class2-pulses-modbus.yaml" in text and "interfaces" in text and "meter2" in text
    assert "wiring: {meter: meter2}" in text and str(BENCH) in text  # the fix, in the bench file named
    store = Store(str(tmp_path / "records.db"))
    assert store.runs() == []


def test_the_same_seed_gives_the_same_datasets(tmp_path):
    # virtual time: the polls, their timeouts (corrupt and unanswered telegrams included) and what the meters send
    # fall at the same simulated instants in two runs of one seed, whatever the host's load
    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        store, run_id, _, _ = _run(tmp_path / name, "procedures/r49/burst-mains.yaml",
                                   [MBUS, f"{DATA}/dn15-pulses-mbus-2.yaml"], f"{DATA}/transmission-burst.yaml")
        # the readings' timestamps are the host's wall clock (as every bus reading's): all else must agree
        runs.append([{k: v for k, v in d.items() if k != "reading"} for d in _datasets(store, run_id, "WM15-2026-0101")])
    assert runs[0] == runs[1]
    assert {d["integrity"] for d in runs[0]} == {"valid", "rejected", "no_answer"}


def test_a_frozen_transmitted_register_fails(tmp_path):
    store, run_id, checks, _ = _run(tmp_path, "procedures/r49/burst-mains.yaml", [MODBUS],
                                    f"{DATA}/transmission-burst-freeze.yaml")
    datasets, check = _datasets(store, run_id, "WM15-2026-0102"), checks["WM15-2026-0102"]
    assert check["outcome"] == "fail" and check["details"]["accepted_but_wrong"] > 0
    frozen = [d["volume_l"] for d in datasets if d["disturbed"]]
    assert len(set(frozen)) == 1 and datasets[-1]["volume_l"] > frozen[0]  # stuck while disturbed, moving after


def test_gas_meters_with_mbus_on_the_sonic_nozzle_rig(tmp_path):
    # R 137 burst on the gas rig: errors by the pulses against the nozzles, the M-Bus interfaces polled alongside
    meters = [REPO / "examples/meters/g4-diaphragm-pulses-mbus.yaml", HERE / "data" / "g4-pulses-mbus-2.yaml"]
    inputs = load_inputs(REPO / "procedures/r137/burst-mains.yaml", meters, GAS_BENCH,
                         HERE / "data" / "transmission-g4-burst.yaml")
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=EMC_CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    checks = run_result(store, run_id)["tests"][0]["checks"]
    judged = {c["meter_serial"]: c for c in checks if c["check"] == "data_transmission"}
    fault = {c["meter_serial"]: c for c in checks if c["check"] == "significant_fault"}
    assert fault["GM4-2026-0101"]["outcome"] == "pass" and fault["GM4-2026-0102"]["outcome"] == "pass"
    losing, immune = judged["GM4-2026-0101"], judged["GM4-2026-0102"]
    assert losing["outcome"] == "fail" and losing["details"]["lost"] > 0, losing
    assert immune["outcome"] == "pass" and immune["details"]["valid"] == immune["details"]["expected"] > 2, immune
    assert abs(immune["details"]["change_difference_pct"]) < 1.0


def test_gas_meters_with_mbus_on_the_bell_prover_under_a_magnet(tmp_path):
    # R 137 static magnetic field on the bell prover: the magnet is held while the bell runs (fills included);
    # the first meter's transmitted volume freezes under it (its pulses count on), the second is immune
    scenario = tmp_path / "magnet.yaml"
    scenario.write_text((HERE / "data/transmission-g4-burst.yaml").read_text()
                        .replace("burst: {drop_fraction: 0.5}", "magnetic_field: {freeze: true}"), "utf-8")
    meters = [REPO / "examples/meters/g4-diaphragm-pulses-mbus.yaml", HERE / "data" / "g4-pulses-mbus-2.yaml"]
    inputs = load_inputs(REPO / "procedures/r137/static-magnetic-field.yaml", meters, GAS_BENCH, scenario)
    assert inputs.procedure.method == "bell_prover"
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=EMC_CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    checks = run_result(store, run_id)["tests"][0]["checks"]
    fault = [c for c in checks if c["check"] == "significant_fault"]
    assert fault and all(c["outcome"] == "pass" for c in fault)  # the pulses are right under the magnet
    judged = [c for c in checks if c["check"] == "data_transmission"]
    frozen = [c for c in judged if c["meter_serial"] == "GM4-2026-0101"]
    immune = [c for c in judged if c["meter_serial"] == "GM4-2026-0102"]
    assert len(frozen) == len(immune) == 2  # one per point measured under the magnet (Qmin, 0.7Qmax)
    assert all(c["outcome"] == "fail" and c["details"]["accepted_but_wrong"] > 0 for c in frozen), frozen
    assert all(c["details"]["disturbance"] == "magnetic_field" for c in judged)
    for c in immune:  # polled through the bell's fills and runs, the volume following the pulses' rate
        d = c["details"]
        assert c["outcome"] == "pass" and d["valid"] == d["expected"] > 10, c
        assert abs(d["change_difference_pct"]) < 1.0, c


@pytest.mark.parametrize("method", ["gravimetric", "master_meter"])
def test_standing_start_measurements_are_watched(tmp_path, method):
    # voltage variation measured with standing starts (the way meters read by their register are measured), on
    # the gravimetric and the master-meter rig: the first meter's transmitted volume freezes while its supply is
    # held at a limit, the second is immune; the polls run from rest to rest, the flow only in between
    procedure = tmp_path / "standing-voltage.yaml"
    text = (REPO / "procedures/r49/power-voltage-variation.yaml").read_text()
    procedure.write_text(text.replace("repeats: 1, role:", "repeats: 1, start: standing, role:")
                         .replace("method: gravimetric", f"method: {method}"), "utf-8")
    scenario = tmp_path / "freeze.yaml"
    scenario.write_text((HERE / "data/transmission-surge.yaml").read_text().replace(
        "surge: {effect: corrupt_telegrams, corrupt_fraction: 0.1, drop_fraction: 0.1}",
        "voltage_variation: {freeze: true}"), "utf-8")
    meters = [REPO / MBUS, HERE / "data" / "dn15-pulses-mbus-2.yaml"]
    inputs = load_inputs(procedure, meters, BENCH, scenario)
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=EMC_CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    measured = [e.payload for e in store.entries(run_id, kinds=["measurement"])]
    judged = [c for c in run_result(store, run_id)["tests"][0]["checks"] if c["check"] == "data_transmission"]
    frozen = [c for c in judged if c["meter_serial"] == "WM15-2026-0101"]
    immune = [c for c in judged if c["meter_serial"] == "WM15-2026-0103"]
    assert len(frozen) == len(immune) == 2  # at the upper and the lower voltage
    assert all(c["outcome"] == "fail" and c["details"]["accepted_but_wrong"] > 0 for c in frozen), frozen
    for c in immune:
        d = c["details"]
        assert c["outcome"] == "pass" and d["valid"] == d["expected"] > 10, c
        assert abs(d["change_difference_pct"]) < 0.5, c
    watched = [row["raw"]["transmission"] for m in measured for row in m["meters"]
               if (row.get("raw") or {}).get("transmission")]
    flows = [w.get("flow") for w in watched]  # only a standing start says when the flow ran
    assert len(flows) == 4 and all(f["to_s"] > f["from_s"] and f["lag_s"] > 0 for f in flows)
    for w in watched:  # the first poll at rest before the flow started, the last at rest after it stopped
        datasets = w["interfaces"][0]["datasets"]
        assert datasets[0]["t_reply_s"] <= w["flow"]["from_s"] and datasets[-1]["t_request_s"] >= w["flow"]["to_s"]


def test_a_held_disturbance_is_watched_over_the_measurement_made_under_it(tmp_path):
    # voltage variation: the supply is held at each limit while the error is measured; the meter's Modbus
    # register freezes meanwhile (its pulses count on)
    store, run_id, checks, _ = _run(tmp_path, "procedures/r49/power-voltage-variation.yaml", [MODBUS],
                                    f"{DATA}/transmission-voltage-freeze.yaml")
    check = checks["WM15-2026-0102"]
    assert check["outcome"] == "fail" and check["details"]["disturbance"] == "voltage_variation"
    assert check["details"]["accepted_but_wrong"] > 0
    watched = [e.payload for e in store.entries(run_id, kinds=["measurement"])
               if (e.payload["meters"][0].get("raw") or {}).get("transmission")]
    assert [m["step_label"] for m in watched] == ["at-upper-voltage", "at-lower-voltage"]  # not the rated one


def test_a_disturbance_applied_between_measurements_is_watched_while_it_runs(tmp_path):
    # surges (NSAa): applied between the intrinsic and the after-disturbance measurement, the flow running on;
    # the interfaces are polled while the generator runs and judged against the intrinsic measurement's rate
    meters = [MBUS, f"{DATA}/dn15-pulses-mbus-2.yaml"]
    store, run_id, checks, _ = _run(tmp_path, "procedures/r49/surge-mains.yaml", meters,
                                    f"{DATA}/transmission-surge.yaml")
    bad, good = checks["WM15-2026-0101"], checks["WM15-2026-0103"]
    assert bad["outcome"] == "fail" and bad["details"]["rejected"] + bad["details"]["unanswered"] > 0, bad
    assert good["outcome"] == "pass" and good["details"]["valid"] == good["details"]["expected"] > 2, good
    assert good["point"].startswith("between measurements, rate of intrinsic")
    assert abs(good["details"]["change_difference_pct"]) < 1.0  # the volume sent follows the intrinsic rate
    done = [e.payload for e in store.entries(run_id, kinds=["action_done"]) if e.payload.get("transmission")]
    assert len(done) == 1 and done[0]["disturbance"] == "surge"
    polled = [d for watched in done[0]["transmission"].values() for i in watched["transmission"]["interfaces"]
              for d in i["datasets"]]
    assert {d["integrity"] for d in polled} >= {"valid", "rejected"}
    between = [(where, r) for where, r in run_readings(store, run_id) if where["repeat"] is None]
    assert len(between) == len(polled)  # every dataset polled between the measurements, in the reading format
    assert {where["point"] for where, _ in between} == {done[0]["label"]}
    assert {r["integrity"]["result"] for _, r in between} == {"ok", "rejected"}
    exported = _exported(store, run_id, tmp_path / "r.jsonl")  # and validated against the schema as written
    assert sum(r["integrity"]["result"] == "rejected" for r in exported) >= sum(
        d["integrity"] != "valid" for d in polled)
