"""R 137 on the simulated gas rig measured against its sonic nozzles (instruments/sim-gas.yaml): errors of
indication of two meters in series, burst (NSAd), dry heat in the chamber, and abort to the safe state. The
scenarios' true errors are known, so the tests check that the lab recovers them."""

import threading
from pathlib import Path

import pytest
import yaml

from meterlab.calibration.register import Register
from meterlab.engine.control import RunControl, RunState
from meterlab.engine.events import EventBus
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.runner import Runner
from meterlab.engine.session import (
    _severities,
    bench_session,
    create_run,
    execute,
    inputs_from_header,
    load_inputs,
)
from meterlab.records.store import Store
from meterlab.reports.results import run_result
from meterlab.rigs.water_gravimetric import RigError
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.scenario import load_scenario

from .test_gas_run import truth

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "instruments" / "sim-gas.yaml"
METERS = [REPO / "examples" / "meters" / "g4-diaphragm.yaml",
          REPO / "examples" / "meters" / "g4-diaphragm-sample2.yaml"]
TWO_METERS = REPO / "examples" / "scenarios" / "g4-two-gas-meters.yaml"
BURST = REPO / "examples" / "scenarios" / "g4-burst-susceptible.yaml"
CLOCK_SCALE = EMC_CLOCK_SCALE = VIRTUAL
CONTROL_CLOCK_SCALE = 200.0  # aborting a run in flight needs real time to act in


def start(tmp_path, procedure: Path, meters: list[Path], scenario: Path, clock_scale: float = CLOCK_SCALE):
    inputs = load_inputs(procedure, meters, BENCH, scenario)
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=clock_scale)
    return store, register, run_id


def sonic_error_of_indication(tmp_path, points: list[str]) -> Path:
    """The R 137 error-of-indication programme measured against the nozzles, at the given points."""
    procedure = yaml.safe_load((REPO / "procedures" / "r137" / "error-of-indication.yaml").read_text(encoding="utf-8"))
    procedure["method"] = "sonic_nozzle"
    procedure["steps"][1]["for_each_point"]["points"] = points
    path = tmp_path / "sonic-error-of-indication.yaml"
    path.write_text(yaml.safe_dump(procedure), encoding="utf-8")
    return path


def test_two_meters_in_series_recover_their_own_true_curves_against_the_nozzles(tmp_path):
    procedure = sonic_error_of_indication(tmp_path, ["0.2Qmax", "0.4Qmax", "0.7Qmax", "Qmax"])
    store, register, run_id = start(tmp_path, procedure, METERS, TWO_METERS)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    specs = {s.serial: s for s in load_scenario(TWO_METERS).gas_meters}
    measurements = [e.payload for e in store.entries(run_id, kinds=["measurement"])]
    assert len(measurements) == 4 * 3
    rows = [(m, row) for m in measurements for row in m["meters"]]
    assert {row["meter_serial"] for _, row in rows} == set(specs)  # one result set per meter
    within = [abs(row["error_pct"] - truth(specs[row["meter_serial"]].error_curve, m["flowrate_m3h"]))
              <= row["U_pct"] + 3 * specs[row["meter_serial"]].repeatability_pct for m, row in rows]
    assert sum(within) >= 0.9 * len(rows), [r for (_, r), ok in zip(rows, within) if not ok][:3]
    # the two curves differ by more than U at Qmax: each meter's result is its own
    at_qmax = {row["meter_serial"]: row["error_pct"] for m, row in rows if m["point"]["name"] == "Qmax"}
    assert at_qmax["GM4-2026-0043"] - at_qmax["GM4-2026-0042"] > 0.8
    first = measurements[0]
    assert set(first["reading"]) == {"nozzles", "nozzle_pressure_pa", "nozzle_temperature_c", "meter_pressure_pa",
                                     "meter_temperature_c", "timebase_count", "humidity_pct"}
    assert set(first["standards"]) == {"cfv-bank-01", "prt-01", "ptx-g-01", "ptx-g-02", "ptx-g-03", "ctr-02", "hyg-01"}
    # the moist air's humidity, read by the hygrometer and corrected by its certificate, enters the budget
    humidity = first["conditions"]["corrections"]["hyg-01"][0]
    assert first["reading"]["humidity_pct"] == pytest.approx(humidity["reading"] + humidity["correction"])
    assert 40 < first["reading"]["humidity_pct"] < 50  # the scenario's laboratory air: 45 %RH
    line = next(line for line in first["meters"][0]["budget"] if line["name"] == "gas relative humidity")
    assert line["source"].startswith("hyg-01")
    # the second meter sees a lower pressure than the first: its reference volume is moved to its own pressure
    for m in measurements:
        first_row, second_row = m["meters"]
        p1, p2 = m["reading"]["meter_pressure_pa"], m["at_meter"]["GM4-2026-0043"]["meter_pressure_pa"]
        assert p2 < p1
        assert second_row["reference_volume_l"] / m["reference_volume_l"] == pytest.approx(p1 / p2, rel=1e-6)
        assert any(line["name"] == "gas pressure at meter GM4-2026-0043" for line in second_row["budget"])
        assert "reference_volume_l" not in first_row
    budget = first["meters"][0]["budget"]
    assert any("cfv-bank-01" in str(line) for line in budget)
    # the collection is as long as planned (volume ÷ the nozzles' flow), timed by the certified timer
    for m in measurements:
        assert m["reference_volume_l"] >= m["planned_volume_l"] * 0.99
        assert m["conditions"]["collection_time_s"] >= m["conditions"]["planned_time_s"]
    # the gas temperature is corrected by its certificate, as on the water rig, and the correction recorded
    applied = first["conditions"]["corrections"]["prt-01"][0]
    assert applied["correction"] == pytest.approx(register.correction("prt-01", at=applied["reading"]).x)
    assert first["reading"]["meter_temperature_c"] == pytest.approx(applied["reading"] + applied["correction"])
    assert store.verify() == []


def test_burst_susceptible_gas_meter_shows_a_significant_fault_and_the_immune_one_passes(tmp_path):
    procedure = REPO / "procedures" / "r137" / "burst-mains.yaml"
    store, register, run_id = start(tmp_path, procedure, METERS, BURST, clock_scale=EMC_CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    checks = {c["meter_serial"]: c for c in run_result(store, run_id)["tests"][0]["checks"]}
    susceptible, immune = checks["GM4-2026-0042"], checks["GM4-2026-0043"]
    assert susceptible["check"] == "significant_fault" and susceptible["outcome"] == "fail"
    assert susceptible["details"]["fault_pct"] > susceptible["details"]["limit_pct"]
    assert immune["outcome"] == "pass" and abs(immune["details"]["fault_pct"]) < 0.3
    disturbed = [e.payload for e in store.entries(run_id, kinds=["measurement"]) if e.payload["during"]]
    assert disturbed[0]["disturbance"]["kind"] == "burst"
    assert disturbed[0]["disturbance"]["parameters"]["voltage_kv"] == 1.0  # E1 meter: D 11 level for E1
    # NSAd: the collection (timed by the timer) ends with the disturbance, which covers all of it
    conditions = disturbed[0]["conditions"]
    cover = conditions["disturbance"]
    assert cover["kind"] == "burst" and cover["disturbed_fraction"] >= 0.98
    assert cover["ended_s"] is not None and conditions["collection_time_s"] < conditions["planned_time_s"]
    assert run_result(store, run_id)["verdict"] == "fail"


def test_a_disturbance_that_cannot_cover_the_bells_measurement_is_not_a_disturbed_result(tmp_path):
    """A bell pass cannot be cut short when the burst ends: the measurement is mostly undisturbed, and the run
    stops there instead of reporting it as the error under the disturbance."""
    procedure = yaml.safe_load((REPO / "procedures" / "r137" / "burst-mains.yaml").read_text(encoding="utf-8"))
    procedure["method"] = "bell_prover"
    path = tmp_path / "burst-on-the-bell.yaml"
    path.write_text(yaml.safe_dump(procedure), encoding="utf-8")
    store, register, run_id = start(tmp_path, path, METERS[:1], BURST, clock_scale=EMC_CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.FAILED
    error = [e.payload for e in store.entries(run_id, kinds=["state"])][-1]["error"]
    assert "the burst disturbance ran over" in error and "needs 98%" in error
    assert not [e for e in store.entries(run_id, kinds=["measurement"]) if e.payload.get("during")]


def test_dry_heat_measures_while_the_chamber_holds_the_severity_temperature(tmp_path):
    procedure = REPO / "procedures" / "r137" / "dry-heat.yaml"
    scenario = REPO / "examples" / "scenarios" / "g4-gas-meter.yaml"
    store, register, run_id = start(tmp_path, procedure, METERS[:1], scenario)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    climate = [e.payload["climate"] for e in store.entries(run_id, kinds=["action_done"]) if "climate" in e.payload]
    assert 55.0 in [c["temperature_c"] for c in climate]  # D 11 dry heat for climatic class B, from the profile
    reference, exposed = [e.payload for e in store.entries(run_id, kinds=["measurement"])]
    assert abs(reference["conditions"]["chamber_temperature_c"] - 20.0) <= 1.0
    assert abs(exposed["conditions"]["chamber_temperature_c"] - 55.0) <= 1.0
    assert run_result(store, run_id)["verdict"] == "pass"


def test_abort_leaves_the_generators_disarmed_and_the_flow_stopped(tmp_path):
    inputs = load_inputs(REPO / "procedures" / "r137" / "burst-mains.yaml", METERS, BENCH, BURST)
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=CONTROL_CLOCK_SCALE)
    inputs = inputs_from_header(next(store.entries(run_id)).payload)
    control, bus = RunControl(), EventBus()
    measured = threading.Event()
    bus.subscribe(lambda e: measured.set() if e.kind == "action_done" and e.data.get("kind") == "measurement" else None)
    with bench_session(inputs, clock_scale=CONTROL_CLOCK_SCALE, register=register) as rig:
        burst = rig.bench["burst"]
        runner = Runner(run_id=run_id, plan=inputs.plan(), declarations=inputs.declarations, rig=rig, store=store,
                        prompter=AutoPrompter(), procedure=inputs.procedure, bus=bus, control=control,
                        severities=_severities(inputs.procedure))  # the D 11 levels, as execute() gives them
        worker = threading.Thread(target=runner.run)
        worker.start()
        assert measured.wait(120)  # the intrinsic measurement is in; the disturbed one starts
        generator = rig.lab.devices["burst"]
        assert rig.lab.world.wait_until(lambda: generator.state == "RUN", timeout_real_s=60)
        control.abort()  # while the burst runs and the meters' gate is open
        worker.join(60)
        assert runner.state is RunState.ABORTED
        world = rig.lab.world
        assert not world.read("vacuum_pump") and not world.read("collect") and not world.read("gas.gate")
        assert not any(world.read(f"nozzle{k}") for k in range(1, 6))
        assert world.read("gas.flowrate_m3h") == 0
        assert not burst.high_voltage_on and burst.state == "standby"
        assert not rig.lab.world.component("emc").active(("gas_meters", 1))  # nothing disturbs the meter any more
    states = [e.payload["state"] for e in store.entries(run_id, kinds=["state"])]
    assert states == ["running", "aborted"]


def test_a_gas_temperature_excursion_suspends_the_collection_and_the_point_is_measured_again(tmp_path):
    """The line's air jumps to 28 °C (band 15..25 °C) in the middle of a 600 s collection: the attempt is
    discarded, the point waits for the temperature and is measured again, nothing doubled."""
    procedure = yaml.safe_load((REPO / "procedures" / "r137" / "error-of-indication.yaml").read_text(encoding="utf-8"))
    procedure["method"] = "sonic_nozzle"
    loop = procedure["steps"][1]["for_each_point"]
    loop["points"] = ["0.2Qmax"]
    loop["steps"][1]["stabilise"]["water_temperature_c"] = [15.0, 25.0]
    loop["steps"][2]["measure_error"] = {"point": "$point", "duration_s": 600, "start": "flying", "repeats": 2}
    procedure["steps"][2]["evaluate"]["checks"] = ["within_mpe"]
    procedure_path = tmp_path / "excursion.yaml"
    procedure_path.write_text(yaml.safe_dump(procedure), encoding="utf-8")
    scenario = yaml.safe_load(TWO_METERS.read_text(encoding="utf-8"))
    scenario["faults"] = [{"kind": "gas_temperature_excursion", "at_s": 400, "duration_s": 300, "message": "28.0"}]
    scenario_path = tmp_path / "excursion-scenario.yaml"
    scenario_path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
    # a slower clock: the set-up before the first collection must stay well short of the excursion's end
    store, register, run_id = start(tmp_path, procedure_path, METERS, scenario_path, clock_scale=VIRTUAL)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    suspended = [e.payload for e in store.entries(run_id, kinds=["event"]) if e.payload.get("event") == "suspended"]
    assert suspended and "temperature" in suspended[0]["reason"]
    measurements = [e.payload for e in store.entries(run_id, kinds=["measurement"])]
    assert len(measurements) == 2  # nothing lost, nothing doubled
    assert measurements[0]["sim_time_s"]["start_s"] >= 400 + 300  # the disturbed attempt was discarded
    assert all(15 <= m["conditions"]["gas_temperature_c"] <= 25 for m in measurements)


def test_a_bench_without_a_collection_gate_is_refused_naming_the_fix(tmp_path):
    bench = yaml.safe_load(BENCH.read_text(encoding="utf-8"))
    del bench["instruments"]["gas_valves"]["wiring"]["DO4"]
    bench_path = tmp_path / "no-collect.yaml"
    bench_path.write_text(yaml.safe_dump(bench), encoding="utf-8")
    inputs = load_inputs(REPO / "procedures" / "r137" / "esd.yaml", METERS[:1], bench_path, BURST)
    register = Register.load(REPO / "calibration")
    with pytest.raises(RigError, match="DO4: collect"), bench_session(inputs, clock_scale=CLOCK_SCALE,
                                                                      register=register):
        pass
