"""The R 137 programmes of issue 14 §3 on the simulated gas bench, on virtual time, the real drivers talking to the
simulated instruments: a meter the scenario makes susceptible fails, an immune one passes, and the rig really
applied the condition (the overload run at Qr for the profile's time)."""

from pathlib import Path

import pytest
import yaml

from meterlab.calibration.register import Register
from meterlab.engine.control import RunControl, RunState
from meterlab.engine.events import EventBus
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs
from meterlab.metrology.profiles import load_profile
from meterlab.records.store import Store
from meterlab.sim.clock import VIRTUAL

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "instruments/sim-gas.yaml"
METER = REPO / "examples/meters/g4-diaphragm.yaml"  # G4, class 1.5, Qmax 6 m³/h
BASE = REPO / "examples/scenarios/g4-gas-meter.yaml"


def scenario(tmp_path, **meter_settings) -> Path:
    """The example G4 scenario with its first meter given these settings (its susceptibility)."""
    data = yaml.safe_load(BASE.read_text(encoding="utf-8"))
    data["gas_meters"][0].update(meter_settings)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def run(tmp_path, programme: str, **meter_settings):
    inputs = load_inputs(REPO / "procedures/r137" / f"{programme}.yaml", [METER], BENCH,
                         scenario(tmp_path, **meter_settings))
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=VIRTUAL)
    state = execute(store, run_id, prompter=AutoPrompter(), register=register)
    checks = [c for e in store.entries(run_id, kinds=["evaluation"]) for c in e.payload["checks"]]
    return state, store, run_id, checks


def outcomes(checks, check: str) -> list[str]:
    return [c["outcome"] for c in checks if c["check"] == check]


# A meter harmed above 6.5 m³/h (between Qmax and Qr) keeps a -2 % shift: more than the significant fault (0.75 %)
# and, at 0.7Qmax (true error about -0.3 %), outside the upper-zone MPE of 1.5 %.
@pytest.mark.parametrize("settings, outcome", [
    ({}, "pass"),
    ({"overload_harm_m3h": 6.5, "overload_shift_pct": -2.0}, "fail"),
    ({"overload_harm_m3h": 7.6, "overload_shift_pct": -2.0}, "pass"),  # robust up to above Qr: never harmed
])
def test_a_meter_damaged_by_overload_fails_and_a_robust_one_passes(tmp_path, settings, outcome):
    state, store, run_id, checks = run(tmp_path, "overload-flow", **settings)
    assert state is RunState.COMPLETED
    faults = [c for c in checks if c["check"] == "significant_fault"]
    assert {c["outcome"] for c in faults} == {outcome} and len(faults) == 2  # Qmin and 0.7Qmax
    shift = settings.get("overload_shift_pct", 0.0) if outcome == "fail" else 0.0
    assert all(abs(c["details"]["fault_pct"] - shift) <= c["details"]["U_pct"] + 0.2 for c in faults)
    if outcome == "fail":  # at 0.7Qmax the shifted error leaves the MPE too
        assert "fail" in outcomes(checks, "within_mpe")


def test_the_overload_run_is_at_qr_for_the_profile_s_time(tmp_path):
    """What the runner asked for; that the rig delivered it (above 6.5 m³/h, not above 7.6) the test above shows."""
    overload = load_profile("r137-2012").overload
    _, store, run_id, _ = run(tmp_path, "overload-flow")
    done = [e.payload for e in store.entries(run_id, kinds=["action_done"])
            if e.payload["label"].startswith("overload-run")]
    assert len(done) == 1
    payload = done[0]
    assert payload["flowrate_m3h"] == pytest.approx(overload.flow_factor_of_qmax.value * 6.0)
    assert payload["duration_s"] == overload.duration_s.value


def _errors(store, run_id, label: str) -> dict[str, float]:
    """Meter 1's error at each point of the measurements labelled `label`."""
    rows = [e.payload for e in store.entries(run_id, kinds=["measurement"]) if e.payload.get("step_label") == label]
    return {r["point"]["name"]: r["meters"][0]["error_pct"] for r in rows}


@pytest.mark.parametrize("shift_pct_per_kpa, outcome", [(0.0, "pass"), (2.5, "fail")])
def test_a_pressure_dependent_meter_fails_the_working_pressure_range_and_an_insensitive_one_passes(
        tmp_path, shift_pct_per_kpa, outcome):
    state, store, run_id, checks = run(tmp_path, "working-pressure", pressure_shift_pct_per_kpa=shift_pct_per_kpa)
    assert state is RunState.COMPLETED
    assert {o for o in outcomes(checks, "within_mpe")} == {outcome}
    # the controller held each pressure: the errors at 1 kPa and 2 kPa differ by the planted 1 kPa x coefficient
    low, high = _errors(store, run_id, "at-lowest-pressure"), _errors(store, run_id, "at-highest-pressure")
    assert set(low) == set(high) == {"Qmin", "0.1Qmax", "Qmax"}
    for point in ("0.1Qmax", "Qmax"):  # (Qmin's 0.1 L pulses scatter more than this bound)
        assert high[point] - low[point] == pytest.approx(shift_pct_per_kpa, abs=0.3)
    released = [e.payload for e in store.entries(run_id, kinds=["action_done"])
                if e.payload["label"].startswith("supply-pressure-again")]
    assert released and released[0]["released"] is True


@pytest.mark.parametrize("shifts, outcome", [({}, "pass"), ({"flow_down": 2.5}, "fail"),
                                             ({"on_its_side": 5.0}, "pass")])  # a position the programme never uses
def test_an_orientation_sensitive_meter_fails_and_an_insensitive_one_passes(tmp_path, shifts, outcome):
    state, store, run_id, checks = run(tmp_path, "orientation", orientation_shift_pct=shifts)
    assert state is RunState.COMPLETED
    assert {o for o in outcomes(checks, "within_mpe")} == {outcome}
    # the mount step remounted the simulated meters: flow-down errors carry the planted shift, flow-up ones do not
    up, down = _errors(store, run_id, "error-flow-up"), _errors(store, run_id, "error-flow-down")
    for point in ("0.1Qmax", "Qmax"):
        assert down[point] - up[point] == pytest.approx(shifts.get("flow_down", 0.0), abs=0.3)
    mounts = [e.payload["orientation"] for e in store.entries(run_id, kinds=["action_done"]) if "orientation" in
              e.payload]
    assert mounts == ["flow_up", "flow_down", "normal"]


def test_an_operator_who_does_not_confirm_the_remount_aborts_the_run(tmp_path):
    class Refuses(AutoPrompter):
        def ask(self, question):
            answer = super().ask(question)
            return type(answer)(not question.text.startswith("Remount"), answer.value, "pytest")

    inputs = load_inputs(REPO / "procedures/r137/orientation.yaml", [METER], BENCH, scenario(tmp_path))
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=VIRTUAL)
    assert execute(store, run_id, prompter=Refuses(), register=register) is RunState.ABORTED
    assert not [e for e in store.entries(run_id, kinds=["measurement"])]


# The example G4 declares climatic class B: 85 % RH for 2 days at 30 °C (d11-2013 damp_heat_steady, level 1).
@pytest.mark.parametrize("settings, outcome", [
    ({}, "pass"),
    ({"humidity_harm_pct": 80.0, "humidity_harm_after_s": 86400.0, "humidity_shift_pct": -2.5}, "fail"),
    ({"humidity_harm_pct": 90.0, "humidity_harm_after_s": 86400.0, "humidity_shift_pct": -2.5}, "pass"),  # B is 85 %
    ({"humidity_harm_pct": 80.0, "humidity_harm_after_s": 259200.0, "humidity_shift_pct": -2.5}, "pass"),  # > 2 days
])
def test_a_meter_not_sealed_against_damp_heat_fails_and_a_sealed_one_passes(tmp_path, settings, outcome):
    state, store, run_id, checks = run(tmp_path, "damp-heat-steady", **settings)
    assert state is RunState.COMPLETED
    assert {o for o in outcomes(checks, "within_mpe")} == {outcome}
    done = {e.payload["label"].split(" @")[0]: e.payload for e in store.entries(run_id, kinds=["action_done"])}
    assert done["exposure"]["climate"]["temperature_c"] == 30 and done["exposure"]["climate"]["humidity_pct"] == 85
    soaked = [e.payload["soaked_s"] for e in store.entries(run_id, kinds=["action_done"]) if "soaked_s" in e.payload]
    assert soaked == [3600, 172800]


@pytest.mark.parametrize("susceptibility, outcomes", [
    ({}, ["pass", "pass"]),
    ({"power_frequency_magnetic_field": {"effect": "error_shift", "error_shift_pct": -2.0}}, ["fail", "pass"]),
    # misreads only under the short-duration field (on 3 s of every 10 s: about -3 % over the measurement)
    ({"power_frequency_magnetic_field_short": {"effect": "error_shift", "error_shift_pct": -10.0}}, ["pass", "fail"]),
    ({"magnetic_field": {"effect": "error_shift", "error_shift_pct": -2.0}}, ["pass", "pass"]),  # a static magnet only
])
def test_a_meter_disturbed_by_a_power_frequency_field_fails_and_an_immune_one_passes(tmp_path, susceptibility,
                                                                                     outcomes):
    state, store, run_id, checks = run(tmp_path, "power-frequency-magnetic-field", susceptibility=susceptibility)
    assert state is RunState.COMPLETED
    faults = [c for c in checks if c["check"] == "significant_fault"]
    assert [(c["details"]["measurement"], c["outcome"]) for c in faults] == list(zip(["disturbed", "short-disturbed"],
                                                                                      outcomes))
    # the example G4 declares E1: the continuous field of d11-2013 level 4, 30 A/m, through the second measurement,
    # the short-duration field, 300 A/m for 3 s every 10 s, through the third
    applied = [e.payload for e in store.entries(run_id, kinds=["action_done"]) if e.payload.get("disturbance")]
    assert [a["disturbance"] for a in applied] == ["power_frequency_magnetic_field",
                                                   "power_frequency_magnetic_field_short"]
    assert applied[0]["parameters"]["field_a_per_m"] == 30
    short = applied[1]["parameters"]
    assert (short["short_duration_field_a_per_m"], short["short_duration_max_s"]) == (300, 3)
    sent = "\n".join(str(e.payload) for e in store.entries(run_id, kinds=["io"]))
    assert all(command in sent for command in ("HSET 300", "TPUL 3", f"TREP {short['short_duration_interval_s']:g}"))


@pytest.mark.parametrize("programme, settings, abort_after, label, shift", [
    # aborted after the first flow-down error: a resumed run (a new simulated lab, meters back in normal) must be
    # told the orientation again, or the remaining flow-down errors would lose the shift
    ("orientation", {"orientation_shift_pct": {"flow_down": 2.5}}, 4, "error-flow-down", 2.5),
    # aborted after the first error at the lowest pressure: the resumed run sets the inlet to it again
    ("working-pressure", {"pressure_shift_pct_per_kpa": 2.5}, 1, "at-lowest-pressure", -2.5),
])
def test_a_resumed_run_restores_the_orientation_and_the_inlet_pressure(tmp_path, programme, settings, abort_after,
                                                                       label, shift):
    inputs = load_inputs(REPO / "procedures/r137" / f"{programme}.yaml", [METER], BENCH,
                         scenario(tmp_path, **settings))
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs, operator="pytest", register=register, clock_scale=VIRTUAL)
    control, bus, measured = RunControl(), EventBus(), []

    def abort_at(event):
        if event.kind == "action_done" and event.data.get("kind") == "measurement":
            measured.append(event)
            if len(measured) == abort_after:
                control.abort()
    bus.subscribe(abort_at)
    assert execute(store, run_id, prompter=AutoPrompter(), bus=bus, control=control, register=register) \
        is RunState.ABORTED
    assert len(list(store.entries(run_id, kinds=["measurement"]))) == abort_after
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    errors = _errors(store, run_id, label)
    truth = {"0.1Qmax": 0.3, "Qmax": -0.4}  # the scenario's curve near those points (0.6: +0.3, 6.0: -0.4)
    for point, true_pct in truth.items():  # measured after the resume
        assert errors[point] == pytest.approx(true_pct + shift, abs=0.4)
