"""R 49 errors in reverse (meters designed for reverse flow) and R 137 flow direction (bidirectional meters) on the
simulated benches, on virtual time, the real drivers talking to the simulated instruments. The rigs measure their
reference one way only, so the meters are turned round on the line: a meter whose reverse error the scenario puts
outside the MPE fails, one that measures reverse flow as well as forward passes, one declared bidirectional that
does not count reverse flow at all fails; a meter that declares one direction only is refused with the reason."""

from pathlib import Path

import pytest
import yaml

from meterlab.calibration.register import Register
from meterlab.engine.control import RunControl, RunState
from meterlab.engine.events import EventBus
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs
from meterlab.errors import DeclarationError
from meterlab.instruments.bench import SIMULATED_BENCH, SIMULATED_GAS_BENCH
from meterlab.records.store import Store
from meterlab.sim.clock import VIRTUAL

from .test_end_to_end import truth

REPO = Path(__file__).resolve().parents[2]
# programme, bench, bidirectional declaration, one-direction declaration, scenario, its meters' list
KINDS = {
    "water": ("procedures/r49/reverse-flow-designed.yaml", SIMULATED_BENCH,
              "examples/meters/dn15-class2-bidirectional.yaml", "examples/meters/dn15-class2.yaml",
              "examples/scenarios/good-meter.yaml", "meters"),
    "gas": ("procedures/r137/flow-direction.yaml", SIMULATED_GAS_BENCH, "examples/meters/g4-bidirectional.yaml",
            "examples/meters/g4-diaphragm.yaml", "examples/scenarios/g4-gas-meter.yaml", "gas_meters"),
}
DESIGNED = {"measures_reverse_flow": True}
# 4 % beyond the forward curve: outside every MPE of the two meters (class 2 water: 5 % at Q1 with a true +1.8 %;
# class 1.5 gas: 3 % in the lower zone with a true +1.2 % at Qmin)
SUSCEPTIBLE = {"measures_reverse_flow": True, "reverse_error_shift_pct": 4.0}


def scenario(tmp_path, kind: str, **meter_settings) -> Path:
    """The example scenario of `kind` with its first meter given these settings."""
    _, _, _, _, base, key = KINDS[kind]
    data = yaml.safe_load((REPO / base).read_text(encoding="utf-8"))
    data[key][0].update(meter_settings)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def inputs(tmp_path, kind: str, meter: str | None = None, **meter_settings):
    programme, bench, bidirectional, _, _, _ = KINDS[kind]
    return load_inputs(REPO / programme, [REPO / (meter or bidirectional)], REPO / bench,
                       scenario(tmp_path, kind, **meter_settings))


def start(tmp_path, kind: str, **meter_settings):
    store = Store(str(tmp_path / "records.db"))
    register = Register.load(REPO / "calibration")
    run_id = create_run(store, inputs(tmp_path, kind, **meter_settings), operator="pytest", register=register,
                        clock_scale=VIRTUAL)
    return store, register, run_id


def errors(store, run_id) -> list[dict]:
    return [{"point": e.payload["point"]["name"], "flowrate_m3h": e.payload["flowrate_m3h"], **e.payload["meters"][0]}
            for e in store.entries(run_id, kinds=["measurement"]) if e.payload.get("step_label") == "reverse"]


def within_mpe(store, run_id) -> set[str]:
    return {c["outcome"] for e in store.entries(run_id, kinds=["evaluation"]) for c in e.payload["checks"]
            if c["check"] == "within_mpe"}


@pytest.mark.parametrize("kind", ["water", "gas"])
@pytest.mark.parametrize("settings, outcome", [(DESIGNED, "pass"), (SUSCEPTIBLE, "fail")])
def test_a_meter_whose_reverse_error_is_outside_mpe_fails_and_a_good_one_passes(tmp_path, kind, settings, outcome):
    store, register, run_id = start(tmp_path, kind, **settings)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    assert within_mpe(store, run_id) == {outcome}
    measured = errors(store, run_id)
    assert {m["point"] for m in measured} == ({"Q1", "Q2", "Q3"} if kind == "water" else
                                             {"Qmin", "3Qmin", "0.1Qmax", "0.2Qmax", "0.4Qmax", "0.7Qmax", "Qmax"})
    # the meter really was measured backwards: its reverse error is its curve plus the planted shift
    base = KINDS[kind][4]
    shift = settings.get("reverse_error_shift_pct", 0.0)
    for m in measured:
        assert m["error_pct"] == pytest.approx(truth(base, 1, m["flowrate_m3h"], kind) + shift,
                                               abs=m["U_pct"] + 0.3), m
        assert (m["outcome"] == "fail") == (outcome == "fail")
    mounts = [(e.payload["orientation"], e.payload["direction"]) for e in store.entries(run_id, kinds=["action_done"])
              if "direction" in e.payload]
    assert mounts == [("normal", "reverse"), ("normal", "forward")]  # turned round, and back for the next test


@pytest.mark.parametrize("kind", ["water", "gas"])
def test_a_meter_declared_bidirectional_that_does_not_count_reverse_flow_fails(tmp_path, kind):
    """The declaration says bidirectional, the simulated truth does not count a reverse flow: every error -100 %."""
    store, register, run_id = start(tmp_path, kind, measures_reverse_flow=False)
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    assert within_mpe(store, run_id) == {"fail"}
    assert all(m["error_pct"] == pytest.approx(-100.0) for m in errors(store, run_id))


@pytest.mark.parametrize("kind", ["water", "gas"])
def test_a_meter_not_declared_for_reverse_flow_is_refused_with_the_reason(tmp_path, kind):
    one_direction = KINDS[kind][3]
    with pytest.raises(DeclarationError) as error:
        inputs(tmp_path, kind, meter=one_direction)
    message = str(error.value)
    assert one_direction in message and "reverse_flow: true" in message and "one direction only" in message


def test_a_meter_designed_for_reverse_flow_is_refused_by_the_test_for_the_others(tmp_path):
    """R 49 tests the two designs differently: a designed meter's errors in reverse, not a reverse flow then forward."""
    bidirectional = KINDS["water"][2]
    with pytest.raises(DeclarationError, match="not designed to measure reverse flow"):
        load_inputs(REPO / "procedures/r49/reverse-flow.yaml", [REPO / bidirectional], REPO / SIMULATED_BENCH,
                    scenario(tmp_path, "water", **DESIGNED))


def test_a_water_meter_with_a_separate_reverse_r_is_refused_not_tested_at_the_forward_points(tmp_path):
    meter = tmp_path / "meter.yaml"
    meter.write_text((REPO / KINDS["water"][2]).read_text().replace("reverse_flow: true", "reverse_flow: {r: 80}"))
    with pytest.raises(DeclarationError, match="separate R for reverse flow is not supported"):
        inputs(tmp_path, "water", meter=str(meter))


def test_a_resumed_run_turns_the_meters_round_again(tmp_path):
    """Aborted after the first reverse error: the resumed run (a new simulated lab, its meters forward) tells the rig
    the reverse mounting again, or the remaining errors would be forward ones without the planted shift."""
    store, register, run_id = start(tmp_path, "water", **SUSCEPTIBLE)
    control, bus = RunControl(), EventBus()

    def abort_at(event):
        if event.kind == "action_done" and event.data.get("kind") == "measurement":
            control.abort()
    bus.subscribe(abort_at)
    assert execute(store, run_id, prompter=AutoPrompter(), bus=bus, control=control, register=register) \
        is RunState.ABORTED
    assert len(errors(store, run_id)) == 1
    assert execute(store, run_id, prompter=AutoPrompter(), register=register) is RunState.COMPLETED
    after = [m for m in errors(store, run_id)[1:] if m["point"] == "Q3"]
    assert after and all(m["error_pct"] == pytest.approx(-0.2 + 4.0, abs=0.3) for m in after)
