"""Long steps through quiet stretches (Component.step_limit_s): the world crosses a steady flow, a rest, a ramp's tail
in one step each, and counts what steps of max_step_s count, flags raised at the same times included."""

import math

import pytest

from meterlab.sim.clock import ManualClock
from meterlab.sim.physics import build_world
from meterlab.sim.physics.water_rig import RAMP_TAIL_SHARE
from meterlab.sim.scenario import MeterSpec, MeterStatusSpec, Scenario, WaterRigParams

RIG = WaterRigParams(max_flowrate_m3h=6.0, pump_time_constant_s=2.0, water_temperature_c=20.0,
                     water_temperature_drift_c_per_h=0.0, static_pressure_bar=4.0, pressure_drop_bar_at_max_flow=1.6)
CURVE = [[0.02, -3.0], [0.05, 1.5], [2.5, 0.4], [6.0, -0.2]]  # steep at low flows: a ramp's tail shows


def meter(serial, **extra):
    return MeterSpec(serial=serial, error_curve=CURVE, repeatability_pct=0.1, pulse_value_l=0.01,
                     register_resolution_l=0.001, **extra)


def make_world(rig=RIG):
    spec = MeterStatusSpec(leak_after_s=900)  # meter A: a leak flag due after 900 s of unbroken flow
    built = build_world(Scenario(seed=7, water_rig=rig, meters=[meter("A", status=spec), meter("B")]), ManualClock())
    steps = []
    rig_component = built.component("water_rig")
    step = rig_component.step

    def counted(t_s, dt_s):
        steps.append((t_s, dt_s))
        step(t_s, dt_s)

    rig_component.step = counted
    return built, steps


def go(world, seconds, *, in_one=True):
    """Advance `seconds`: in one advance (the world chooses its steps), or second by second (steps of 1 s)."""
    if in_one:
        world.clock.advance(seconds)
        world.advance()
        return
    for _ in range(round(seconds)):
        world.clock.advance(1.0)
        world.advance()


def state(world):
    meters = world.component("meters").meters
    return ([m.indicated_volume_l for m in meters], [m.pulse_count for m in meters],
            [sorted(m.status.raised()) for m in meters], world.component("water_rig").total_volume_l)


def start(world, speed=2.5 / 6):
    world.write("pump.speed_setpoint", speed)
    world.write("pump.run", 1)
    world.write("start_valve", 1)


@pytest.mark.parametrize("seconds", [600, 7200])
def test_a_steady_flow_takes_one_step_and_counts_as_steps_of_one_second_do(seconds):
    (long_world, long_steps), (short_world, _) = make_world(), make_world()
    for w in (long_world, short_world):
        start(w)
        go(w, 60, in_one=False)  # the same ramp in both
    del long_steps[:]
    go(long_world, seconds)
    go(short_world, seconds, in_one=False)
    (long_l, long_pulses, long_flags, long_total), (short_l, short_pulses, short_flags, short_total) = \
        state(long_world), state(short_world)
    assert long_total == pytest.approx(short_total, rel=1e-12)
    assert long_l == pytest.approx(short_l, rel=1e-12)
    assert long_pulses == short_pulses
    assert long_flags == short_flags
    # within 2 h each meter's leak flag falls due (flow unbroken for 900 s for A, the default 3600 s for B): a long
    # step ends there, so the flag is raised when steps of 1 s raise it
    ends = [t_s + dt_s for t_s, dt_s in long_steps]
    assert ends == ([660.0] if seconds < 900 else [900.0, 3600.0, 7260.0])
    if seconds > 900:
        assert long_flags == [["leak"], ["leak"]]


def test_a_ramps_tail_is_one_step_and_counts_within_a_hundred_millionth():
    long_world, long_steps = make_world()
    short_world, _ = make_world()
    for w in (long_world, short_world):
        start(w)
    go(long_world, 120)
    go(short_world, 120, in_one=False)
    tail_s = 2.0 * -math.log(RAMP_TAIL_SHARE)  # tau ln(1/share): the rest of the ramp is the tail
    assert len(long_steps) == pytest.approx(tail_s + 1, abs=1.5)  # steps of 1 s up to the tail, then one
    long_l, short_l = state(long_world)[0], state(short_world)[0]
    assert long_l == pytest.approx(short_l, rel=1e-8)  # a tail share of 0.1 would be off by 7e-8
    # the rig is exact in both but for the short steps' snap to the target (1e-7 of max flow, after ~30 s)
    assert state(long_world)[3] == pytest.approx(state(short_world)[3], rel=1e-8)


def test_a_stop_and_a_rest_count_as_steps_of_one_second_do_the_tail_to_rest_within_a_hundred_millionth():
    long_world, long_steps = make_world()
    short_world, _ = make_world()
    for w in (long_world, short_world):
        start(w)
        go(w, 120, in_one=False)
        w.write("start_valve", 0)
    del long_steps[:]
    go(long_world, 3600)
    go(short_world, 3600, in_one=False)
    assert len(long_steps) < 15  # the ramp down in steps of 1 s, its tail and the hour at rest in one
    long_l, short_l = state(long_world)[0], state(short_world)[0]
    # the tail to rest passes the last 1 % of the flow through the steep low end of the curve, counted at the step's
    # mean flowrate: 4e-10 off here (a tail share of 0.1 would be 5e-5 off)
    assert long_l == pytest.approx(short_l, rel=1e-8)
    assert state(long_world)[3] == pytest.approx(state(short_world)[3], rel=1e-8)


def test_a_draining_tank_or_a_drifting_water_temperature_keeps_steps_short():
    drifting, steps = make_world(RIG.model_copy(update={"water_temperature_drift_c_per_h": 0.6}))
    go(drifting, 600)
    assert len(steps) == 10  # 0.01 °C per step at 0.6 °C/h: 60 s
    draining, steps = make_world(RIG.model_copy(update={"initial_tank_mass_kg": 50.0, "tank_drain_rate_kg_s": 1.0}))
    draining.write("drain_valve", 1)
    go(draining, 100)
    assert len(steps) == 51  # 50 s of draining in steps of 1 s, then the empty tank at rest in one
