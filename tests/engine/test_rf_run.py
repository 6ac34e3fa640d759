"""Conducted and radiated RF immunity end to end on the simulated lab: the R 49 programmes replay the bench's
stored level tables (instruments/rf-levels/) through the real drivers while the meters measure.

The simulated bench's amplifier feeds the CDN on meter 1's mains and an antenna aimed at meter 1 through a
splitter, so meter 1 of rf-susceptible.yaml is disturbed by both its conducted (+2.5 %) and radiated
(+2.0 %) susceptibility during either test; meter 2 is not wired to the RF chain.

Clock: virtual time, so the 633-step conducted sweep (1 s dwell) fits in the programme's 750 s measurement
and the 2 x 366 radiated steps in its 900 s whatever the host's load; the abort test runs at
CONTROL_CLOCK_SCALE (200x), for it acts on the run in real time."""

import threading
from pathlib import Path

import yaml

from meterlab.calibration.register import Register
from meterlab.engine.control import RunControl, RunState
from meterlab.engine.events import EventBus
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.runner import Runner
from meterlab.engine.session import bench_session, create_run, execute, inputs_from_header, load_inputs, register_for
from meterlab.instruments.rf_immunity import load_level_table
from meterlab.procedures.severities import load_severities
from meterlab.records.store import Store
from meterlab.reports.results import run_result
from meterlab.sim.testing import wait_for

from .test_end_to_end import BENCH, CONTROL_CLOCK_SCALE, EMC_CLOCK_SCALE, REPO, start

HERE = Path(__file__).parent
SCENARIO = "examples/scenarios/rf-susceptible.yaml"
SUSCEPTIBLE, IMMUNE = "examples/meters/dn15-class2-sample3.yaml", "examples/meters/dn15-class2.yaml"
BOTH_SHIFTS_PCT = 2.5 + 2.0  # the scenario's truth: conducted + radiated shift of meter 1 (splitter)


def checks_by_serial(store, run_id):
    return {c["meter_serial"]: c for c in run_result(store, run_id)["tests"][0]["checks"]}


def disturbed_measurement(store, run_id):
    return next(e.payload for e in store.entries(run_id, kinds=["measurement"]) if e.payload["during"])


def test_conducted_rf_shows_the_susceptible_meters_fault_at_the_declared_emf(tmp_path):
    store, register, run_id = start(tmp_path, "procedures/r49/conducted-rf.yaml", [SUSCEPTIBLE, IMMUNE], SCENARIO,
                                    clock_scale=EMC_CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    checks = checks_by_serial(store, run_id)
    susceptible, immune = checks["WM15-2026-0003"], checks["WM15-2026-0001"]
    assert susceptible["check"] == "significant_fault" and susceptible["outcome"] == "fail"
    assert abs(susceptible["details"]["fault_pct"] - BOTH_SHIFTS_PCT) < 0.3
    assert immune["outcome"] == "pass" and abs(immune["details"]["fault_pct"]) < 0.2
    disturbance = disturbed_measurement(store, run_id)["disturbance"]
    assert disturbance["kind"] == "conducted_rf"
    assert disturbance["parameters"]["emf_v"] == 3.0  # E1 meters: D 11 level 2
    states = [e.payload for e in store.entries(run_id, kinds=["state"])]
    assert states[-1]["state"] == "completed" and states[-1]["verdict"] == "fail"


def test_radiated_rf_shows_the_susceptible_meters_fault_with_both_polarisations(tmp_path):
    store, register, run_id = start(tmp_path, "procedures/r49/radiated-rf.yaml", [SUSCEPTIBLE, IMMUNE], SCENARIO,
                                    clock_scale=EMC_CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    checks = checks_by_serial(store, run_id)
    assert checks["WM15-2026-0003"]["outcome"] == "fail"
    assert abs(checks["WM15-2026-0003"]["details"]["fault_pct"] - BOTH_SHIFTS_PCT) < 0.3
    assert checks["WM15-2026-0001"]["outcome"] == "pass"
    parameters = disturbed_measurement(store, run_id)["disturbance"]["parameters"]
    assert parameters["field_v_per_m"] == 10.0 and parameters["antenna_polarisations"] == ["horizontal", "vertical"]


def test_an_immune_meter_on_the_rf_path_passes(tmp_path):
    store, register, run_id = start(tmp_path, "procedures/r49/conducted-rf.yaml", [IMMUNE],
                                    "examples/scenarios/good-meter.yaml", clock_scale=EMC_CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    (check,) = checks_by_serial(store, run_id).values()  # meter 1: the CDN and the antenna reach it
    assert check["outcome"] == "pass" and abs(check["details"]["fault_pct"]) < 0.2


def test_abort_during_the_sweep_leaves_the_rf_off(tmp_path):
    inputs = load_inputs(REPO / "procedures/r49/conducted-rf.yaml", [REPO / SUSCEPTIBLE], BENCH, REPO / SCENARIO)
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=CONTROL_CLOCK_SCALE)
    inputs = inputs_from_header(next(store.entries(run_id)).payload)
    control = RunControl()
    with bench_session(inputs, clock_scale=CONTROL_CLOCK_SCALE, register=register) as rig:
        runner = Runner(run_id=run_id, plan=inputs.plan(), declarations=inputs.declarations, rig=rig, store=store,
                        prompter=AutoPrompter(), procedure=inputs.procedure, bus=EventBus(), control=control,
                        severities=load_severities(inputs.procedure.severities),
                        register=register_for(inputs.bench, register))  # as execute() gives it
        worker = threading.Thread(target=runner.run)
        worker.start()
        world = rig.lab.world
        assert wait_for(lambda: world.read("rf.active"), timeout_real_s=120)  # the sweep drives the meter
        frequency_before = world.component("rf").generator.frequency_hz
        assert wait_for(lambda: world.component("rf").generator.frequency_hz != frequency_before, timeout_real_s=10)
        control.abort()
        worker.join(60)
        assert runner.state is RunState.ABORTED
        assert rig.bench["rf_generator"].rf_output is False  # asked from the instrument
        amplifier = world.component("rf").amplifier
        assert not amplifier.operate and not amplifier.rf_on
        assert not world.read("rf.active") and world.read("rf.forward_power_w") == 0
        assert not world.component("meters").meter(1).disturbances
    states = [e.payload["state"] for e in store.entries(run_id, kinds=["state"])]
    assert states == ["running", "aborted"]


def test_the_shipped_tables_of_the_simulated_bench_load():
    for name, kind in (("sim-conducted-3v", "conducted_rf"), ("sim-conducted-10v", "conducted_rf"),
                       ("sim-radiated-10vm", "radiated_rf")):
        table = load_level_table(REPO / "instruments" / "rf-levels" / f"{name}.yaml")
        assert table.kind == kind and table.bench == "sim-water-rig"


def test_r137_conducted_rf_on_the_gas_rig(tmp_path):
    scenario = yaml.safe_load((REPO / "examples/scenarios/g4-burst-susceptible.yaml").read_text(encoding="utf-8"))
    scenario["gas_meters"][0]["susceptibility"] = {"conducted_rf": {"effect": "error_shift", "error_shift_pct": 2.5}}
    scenario_path = tmp_path / "g4-rf-susceptible.yaml"
    scenario_path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
    meters = [REPO / "examples/meters/g4-diaphragm.yaml", REPO / "examples/meters/g4-diaphragm-sample2.yaml"]
    inputs = load_inputs(REPO / "procedures/r137/conducted-rf.yaml", meters, REPO / "instruments/sim-gas.yaml",
                         scenario_path)
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=EMC_CLOCK_SCALE)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    checks = checks_by_serial(store, run_id)
    susceptible, immune = checks["GM4-2026-0042"], checks["GM4-2026-0043"]
    assert susceptible["outcome"] == "fail" and abs(susceptible["details"]["fault_pct"] - 2.5) < 0.3
    assert immune["outcome"] == "pass" and abs(immune["details"]["fault_pct"]) < 0.3
    assert disturbed_measurement(store, run_id)["disturbance"]["parameters"]["emf_v"] == 3.0
