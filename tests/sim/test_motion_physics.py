"""The meter's mounting on a manual clock: the shaker's sine, sweep and random vibration, half-sine shocks, the
acceleration at the meter, the interlock fault."""

import math

import numpy as np
import pytest

from meterlab.instruments.vibration import asd_at, asd_rms_m_s2, check_asd_profile, sine_displacement_m
from meterlab.sim.clock import ManualClock
from meterlab.sim.faults import schedule_physical_fault
from meterlab.sim.physics import build_world
from meterlab.sim.physics.motion import Sweep
from meterlab.sim.scenario import FaultSpec, Scenario, ShakerParams, ShockParams


def world_of(**sections):
    clock = ManualClock()
    return build_world(Scenario(**sections), clock), clock


def run(world, clock, seconds):
    clock.advance(seconds)
    world.advance()


def samples(component, start_s, stop_s, rate_hz=2000.0):
    times = np.arange(start_s, stop_s, 1.0 / rate_hz)
    return np.array([component.acceleration_at(float(t)) for t in times])


# -- ASD profiles ----------------------------------------------------------------------------------------------
def test_the_rms_of_a_profile_is_the_area_under_its_log_log_segments():
    flat = [(10.0, 0.05), (150.0, 0.05)]
    assert asd_rms_m_s2(flat) == pytest.approx(math.sqrt(0.05 * 140))
    sloped = [(10.0, 1.0), (20.0, 1.0), (150.0, 1.0 * (20 / 150))]  # -3 dB/oct above 20 Hz (ASD ∝ 1/f)
    grid = np.geomspace(10.0, 150.0, 200001)
    numeric = np.trapezoid([asd_at(sloped, f) for f in grid], grid)
    assert asd_rms_m_s2(sloped) == pytest.approx(math.sqrt(numeric), rel=1e-6)
    assert asd_at(sloped, 40.0) == pytest.approx(0.5)  # halved per octave
    assert asd_at(sloped, 5.0) == 0.0


@pytest.mark.parametrize("profile, words", [
    ([(10.0, 0.05)], "at least 2"),
    ([(20.0, 0.05), (10.0, 0.05)], "increase strictly"),
    ([(10.0, 0.05), (150.0, -1.0)], "> 0"),
    ([(10.0, "a"), (150.0, 1.0)], "breakpoints"),
])
def test_a_bad_profile_is_refused_with_the_reason(profile, words):
    with pytest.raises(ValueError, match=words):
        check_asd_profile(profile)


# -- the shaker ------------------------------------------------------------------------------------------------
def test_a_sine_at_250_gal_and_0_5_s_reaches_the_meter_on_its_axis_only():
    world, clock = world_of(shaker=ShakerParams(startup_s=1.0, level_error_pct=2.0))
    shaker, motion = world.component("shaker"), world.component("motion")
    with world.now():
        shaker.start_sine("X", 2.5, 2.0, 30.0)
    run(world, clock, 0.5)
    assert world.read("shaker.level_m_s2") == pytest.approx(2.5 * 1.02 * 0.5)  # half-way up the start-up ramp
    run(world, clock, 4.5)
    a = samples(motion, 5.0, 7.0)
    assert np.max(np.abs(a[:, 0])) == pytest.approx(2.55, rel=1e-3)  # the loop's +2 % at the meter
    assert np.all(a[:, 1:] == 0.0)
    crossings = np.count_nonzero(np.diff(np.sign(a[:, 0])) > 0)
    assert crossings == 4  # 2 Hz over 2 s
    assert sine_displacement_m(2.5, 2.0) == pytest.approx(0.01583, rel=1e-3)


def test_a_test_with_a_duration_ends_at_its_exact_time_and_the_table_rests():
    world, clock = world_of()
    shaker = world.component("shaker")
    with world.now():
        shaker.start_sine("Z", 1.0, 5.0, 10.0)
    run(world, clock, 9.99)
    assert world.read("shaker.state") == "RUNNING"
    run(world, clock, 0.02)
    assert world.read("shaker.state") == "DONE" and world.read("meter.acceleration_m_s2") == (0.0, 0.0, 0.0)


def test_an_abort_stops_the_table_at_once():
    world, clock = world_of()
    shaker = world.component("shaker")
    with world.now():
        shaker.start_sine("Y", 3.0, 2.0, None)
    run(world, clock, 100.0)
    with world.now():
        shaker.stop("ABORTED")
    assert world.read("shaker.state") == "ABORTED" and not world.read("shaker.running")
    assert world.read("shaker.level_m_s2") == 0.0 and not np.any(samples(shaker, 100.0, 101.0))


def test_a_sweep_goes_up_and_down_at_its_rate_with_a_continuous_phase():
    sweep = Sweep(10.0, 160.0, 1.0, 2)  # 4 octaves at 1 oct/min: 240 s a leg
    assert sweep.leg_s == pytest.approx(240.0) and sweep.duration_s == pytest.approx(960.0)
    assert [sweep.frequency_hz(t) for t in (0.0, 60.0, 240.0 - 1e-9, 300.0, 480.0 - 1e-9, 540.0)] == \
        pytest.approx([10.0, 20.0, 160.0, 80.0, 10.0, 20.0])
    step = 1e-5
    for t in (120.0, 239.99, 240.0, 360.0, 479.99, 480.0, 700.0):  # dphase/dt = 2πf everywhere, across the turns
        rate = (sweep.phase_rad(t + step) - sweep.phase_rad(t)) / step
        assert rate == pytest.approx(2 * math.pi * sweep.frequency_hz(t), rel=1e-3)


def test_a_random_vibration_has_the_profiles_rms_at_the_meter():
    profile = [(10.0, 0.05), (20.0, 0.05), (150.0, 0.05 * 20 / 150)]
    world, clock = world_of(shaker=ShakerParams(startup_s=0.0))
    shaker = world.component("shaker")
    with world.now():
        shaker.start_random("Z", profile, 120.0)
    target = asd_rms_m_s2(profile)
    assert world.read("shaker.level_m_s2") == pytest.approx(target, rel=0.01)  # the lines discretise the band
    a = samples(shaker, 0.0, 20.0)[:, 2]
    assert float(np.sqrt(np.mean(a ** 2))) == pytest.approx(target, rel=0.05)
    assert float(np.max(np.abs(a))) > 2.5 * target  # Gaussian-like: peaks well above the RMS


# -- the shock machine -----------------------------------------------------------------------------------------
def test_a_shock_is_a_half_sine_after_the_release_delay_with_the_scenarios_errors():
    world, clock = world_of(shock=ShockParams(peak_error_pct=-5.0, peak_scatter_pct=0.0, duration_error_pct=10.0,
                                              release_delay_s=2.0))
    shock, motion = world.component("shock"), world.component("motion")
    seen = []
    world.on("shock", lambda **data: seen.append(data))
    with world.now():
        shock.fire("X", 500.0, 0.011)
    run(world, clock, 1.9)
    assert world.read("shock.firing") and world.read("shock.count") == 0 and not seen
    run(world, clock, 0.2)
    assert world.read("shock.count") == 1 and not world.read("shock.firing")
    assert seen == [{"peak_m_s2": pytest.approx(475.0), "duration_s": pytest.approx(0.0121), "axis": "X"}]
    pulse = shock.last
    assert motion.acceleration_at(pulse.at_s + pulse.duration_s / 2) == pytest.approx((475.0, 0.0, 0.0))
    assert motion.acceleration_at(pulse.at_s + pulse.duration_s + 1e-4) == (0.0, 0.0, 0.0)


def test_shaker_and_shock_add_up_at_the_meter():
    world, clock = world_of(shaker=ShakerParams(startup_s=0.0), shock=ShockParams(peak_scatter_pct=0.0,
                                                                                   release_delay_s=0.0))
    with world.now():
        world.component("shaker").start_sine("Z", 2.0, 1.0, None)
        world.component("shock").fire("Z", 100.0, 0.01)
    run(world, clock, 0.5)
    pulse = world.component("shock").last
    t = pulse.at_s + 0.005
    expected = 2.0 * math.sin(2 * math.pi * 1.0 * t) + 100.0
    assert world.component("motion").acceleration_at(t)[2] == pytest.approx(expected)


def test_the_interlock_fault_opens_the_guard_for_its_duration():
    world, clock = world_of()
    schedule_physical_fault(FaultSpec(kind="shock_interlock_open", at_s=10.0, duration_s=5.0), world)
    run(world, clock, 11.0)
    assert world.read("shock.interlock_closed") is False
    run(world, clock, 5.0)
    assert world.read("shock.interlock_closed") is True
