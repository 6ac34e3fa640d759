"""R 137 DC and battery supply programmes on the simulated gas bench (issue 14): the gas bench's programmable source
gives its DC output to the gas meters, as the water bench's does (r49/dc-*.yaml, battery-*.yaml). A gas meter whose
error follows its DC supply fails, one that reacts only to AC mains passes: the source really switched to DC (the
simulated meter sees the kind the source's output gives)."""

import pytest

from meterlab.engine.control import RunState

from .test_r137_influence_programmes import outcomes, run

SHIFTED = {"effect": "error_shift", "error_shift_pct": -2.5}  # beyond the upper-zone MPE of 1.5 % at 0.7Qmax
DROPS_PULSES = {"effect": "lost_pulses", "lost_pulse_fraction": 0.2}


def _held(store, run_id) -> list[tuple]:
    """What the source was told to hold: (output, nominal voltage, variation)."""
    return [(s["output"], s["nominal_voltage_v"], s["variation_pct"]) for s in
            (e.payload["setting"] for e in store.entries(run_id, kinds=["action_done"]) if e.payload.get("setting"))]


@pytest.mark.parametrize("susceptibility, outcome", [
    ({}, "pass"),
    ({"dc_voltage_variation": SHIFTED}, "fail"),
    ({"voltage_variation": SHIFTED}, "pass"),  # an AC mains variation only: immune on DC
])
def test_a_gas_meter_following_its_dc_supply_fails_and_an_immune_one_passes(tmp_path, susceptibility, outcome):
    state, store, run_id, checks = run(tmp_path, "dc-voltage-variation", susceptibility=susceptibility)
    assert state is RunState.COMPLETED
    # at the rated voltage the meter is undisturbed; the two held limits decide
    assert outcomes(checks, "within_mpe") == [outcome]
    assert _held(store, run_id) == [("dc", 3.6, 10), ("dc", 3.6, -15)]  # d11-2013 dc_voltage_variation, on DC


@pytest.mark.parametrize("susceptibility, outcome", [
    ({}, "pass"),
    ({"dc_voltage_variation": SHIFTED}, "fail"),
    ({"voltage_variation": SHIFTED}, "pass"),
])
def test_a_gas_meter_following_its_battery_voltage_fails_and_an_immune_one_passes(tmp_path, susceptibility,
                                                                                  outcome):
    state, store, run_id, checks = run(tmp_path, "battery-voltage", susceptibility=susceptibility)
    assert state is RunState.COMPLETED
    assert outcomes(checks, "within_mpe") == [outcome]
    # exactly the lowest (3.0 V) and highest (3.7 V) battery voltages, on the DC output
    assert _held(store, run_id) == [("dc", 3.0, 0), ("dc", 3.7, 0)]


@pytest.mark.parametrize("susceptibility, outcome", [
    ({}, "pass"),
    ({"dc_dips": DROPS_PULSES}, "fail"),
    ({"dips": DROPS_PULSES}, "pass"),  # upset only by AC mains dips
])
def test_a_gas_meter_upset_by_dc_dips_fails_and_an_immune_one_passes(tmp_path, susceptibility, outcome):
    state, store, run_id, checks = run(tmp_path, "dc-dips-interruptions", susceptibility=susceptibility)
    assert state is RunState.COMPLETED
    assert outcomes(checks, "significant_fault") == [outcome]
    applied = [e.payload for e in store.entries(run_id, kinds=["action_done"]) if e.payload.get("disturbance")]
    assert [a["disturbance"] for a in applied] == ["dc_dips"]
