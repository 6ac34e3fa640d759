"""The status flags a simulated smart meter raises from the physics (sim/physics/meter_status.py): each follows
its condition as the scenario (or the unverified defaults file) says, and the faulty meters do what they say."""

from types import SimpleNamespace

import pytest

from meterlab.sim.physics.meter_status import MeterStatus, status_defaults
from meterlab.sim.scenario import MeterStatusSpec


def _meter(field_mt: float | None = None):
    if field_mt is None:
        return SimpleNamespace(disturbances={}, disturbance_params={})
    return SimpleNamespace(disturbances={"magnetic_field": object()},
                           disturbance_params={"magnetic_field": {"flux_density_mt": field_mt}})


def _run(status: MeterStatus, seconds: float, litres_per_s: float, meter=None, t0: float = 0.0, dt: float = 1.0):
    t = t0
    seen = []
    while t < t0 + seconds - 1e-9:
        status.observe(t, dt, litres_per_s * dt, meter or _meter())
        t += dt
        seen.append((t, status.raised()))
    return t, seen


def test_defaults_are_data_marked_unverified():
    defaults = status_defaults()
    assert defaults.confidence == "U"
    assert set(defaults.flags) == {"reverse_flow", "leak", "magnet", "power_low", "valve_closed"}


def test_reverse_flow_raised_after_its_delay_and_cleared_when_forward_again():
    status = MeterStatus(MeterStatusSpec.model_validate({"reverse_after_l": 0.5, "flags": {
        "reverse_flow": {"raise_after_s": 3, "latched": False}}}))
    t, seen = _run(status, 10, -0.25)
    first = next(t for t, flags in seen if "reverse_flow" in flags)
    assert first == pytest.approx(3 + 3)  # 0.5 L passed after 2 s, counted at the end of the 3rd second; + 3 s
    _, seen = _run(status, 5, 0.25, t0=t)
    assert "reverse_flow" not in seen[-1][1]


def test_leak_only_after_continuous_flow_and_a_stop_restarts_the_count():
    status = MeterStatus(MeterStatusSpec.model_validate({"leak_after_s": 100}))
    t, seen = _run(status, 90, 0.01)
    assert not any("leak" in f for _, f in seen)
    t, _ = _run(status, 5, 0.0, t0=t)  # the flow stopped: no leak
    t, seen = _run(status, 99, 0.01, t0=t)
    assert not any("leak" in f for _, f in seen)
    _, seen = _run(status, 3, 0.01, t0=t)
    assert "leak" in seen[-1][1]


def test_magnet_above_its_threshold_latched_and_not_below():
    status = MeterStatus(MeterStatusSpec.model_validate({"magnet_threshold_mt": 40}))
    t, seen = _run(status, 10, 0.1, meter=_meter(30))
    assert not any("magnet" in f for _, f in seen)
    t, seen = _run(status, 10, 0.1, meter=_meter(100), t0=t)
    assert "magnet" in seen[-1][1]
    _, seen = _run(status, 10, 0.1, t0=t)
    assert "magnet" in seen[-1][1]  # latched by default (tamper evidence)


def test_low_battery_from_the_scenario():
    assert "power_low" in _run(MeterStatus(MeterStatusSpec(battery_pct=5)), 2, 0.0)[1][-1][1]
    assert "power_low" not in _run(MeterStatus(MeterStatusSpec()), 2, 0.0)[1][-1][1]


@pytest.mark.parametrize("fault, raised_by_s, raised_at_start", [
    ("never", None, False), ("false", 0, True), ("late", 2 + 30, False)])
def test_faulty_meters(fault, raised_by_s, raised_at_start):
    flags = {"magnet": {"fault": fault, **({"late_by_s": 30} if fault == "late" else {})}}
    status = MeterStatus(MeterStatusSpec.model_validate({"flags": flags}))
    assert ("magnet" in status.raised()) is raised_at_start
    _, seen = _run(status, 60, 0.1, meter=_meter(100))
    raised = [t for t, f in seen if "magnet" in f]
    if raised_by_s is None:
        assert not raised
    else:
        assert raised[0] == pytest.approx(max(raised_by_s, 1))


def test_late_needs_its_delay():
    with pytest.raises(ValueError, match="late_by_s"):
        MeterStatusSpec.model_validate({"flags": {"leak": {"fault": "late"}}})
