"""The simulated clock and the world: time scale, bounded waits, exact event times, signals, events."""

import math
import threading
import time

import pytest

from meterlab.sim.clock import ManualClock, SimClock
from meterlab.sim.world import Component, World


def test_clock_runs_scale_times_faster_and_refuses_unbounded_sleeps():
    clock = SimClock(1000)
    start = clock.now()
    time.sleep(0.02)
    assert 15 < clock.now() - start < 200  # 20 ms real = 20 simulated s, with scheduling slack
    with pytest.raises(ValueError, match="takes 86.4 real s at 1000x"):
        clock.sleep(86400, max_real_s=5)
    with pytest.raises(ValueError, match="must be > 0"):
        SimClock(0)


def test_wait_until_is_bounded_and_returns_the_predicate():
    clock = SimClock(1000)
    start = time.monotonic()
    assert clock.wait_until(lambda: False, timeout_sim_s=50) is False
    assert time.monotonic() - start < 1.0
    assert ManualClock().wait_until(lambda: False, timeout_sim_s=10) is False


class Tank(Component):
    name = "tank"

    def __init__(self):
        self.level = 0.0
        self.inflow = 1.0
        self.steps = []

    def attach(self, world):
        super().attach(world)
        world.define_signal("tank.level", lambda: self.level)
        world.define_signal("tank.inflow", lambda: self.inflow, self._set_inflow)

    def _set_inflow(self, value):
        self.inflow = float(value)

    def step(self, t_s, dt_s):
        self.steps.append((t_s, dt_s))
        self.level += self.inflow * dt_s


def test_world_steps_are_bounded_and_split_exactly_at_events():
    clock = ManualClock()
    world = World(clock, max_step_s=1.0)
    tank = world.add(Tank())
    seen = []
    world.schedule(2.25, lambda: seen.append((world.t_s, tank.level)))
    clock.advance(3.5)
    world.advance()
    assert seen == [(2.25, 2.25)]
    assert max(dt for _, dt in tank.steps) <= 1.0
    assert world.t_s == 3.5 and tank.level == pytest.approx(3.5)


class SteadyTank(Tank):
    """A tank whose constant inflow it integrates exactly over any step: it lets the world take long ones."""

    def step_limit_s(self):
        return math.inf


class Stepper(Component):
    """Physics of its own, integrated only in steps of max_step_s (it does not say otherwise)."""

    name = "stepper"

    def __init__(self):
        self.steps = []

    def step(self, t_s, dt_s):
        self.steps.append((t_s, dt_s))


def test_a_quiet_world_takes_one_step_to_the_next_event_and_any_component_can_hold_it_to_max_step():
    clock = ManualClock()
    world = World(clock, max_step_s=1.0)
    tank = world.add(SteadyTank())
    world.write("tank.inflow", 2.0)
    world.schedule(5000.0, lambda: None)
    clock.advance(36000.0)
    world.advance()
    assert tank.steps == [(0.0, 5000.0), (5000.0, 31000.0)]  # split at the event, else one step
    assert tank.level == pytest.approx(72000.0)
    held = world.add(Stepper())
    clock.advance(10.0)
    world.advance()
    assert [dt for _, dt in tank.steps[2:]] == [1.0] * 10
    assert len(held.steps) == 10


def test_signals_and_events():
    clock = ManualClock()
    world = World(clock)
    tank = world.add(Tank())
    heard = []
    world.on("tank.inflow", lambda value: heard.append((world.t_s, value)))
    clock.advance(2)
    world.write("tank.inflow", 3)
    assert heard == [(2.0, 3)] and tank.inflow == 3.0
    clock.advance(1)
    assert world.read("tank.level") == pytest.approx(2 + 3)
    with pytest.raises(ValueError, match="read-only"):
        world.write("tank.level", 1)
    with pytest.raises(KeyError, match="known signals: tank.inflow, tank.level"):
        world.read("tank.volume")
    with pytest.raises(ValueError, match="defined twice"):
        world.define_signal("tank.level", lambda: 0)


def test_a_failing_listener_does_not_stop_time():
    clock = ManualClock()
    world = World(clock)
    world.add(Tank())
    world.on("boom", lambda: 1 / 0)
    world.emit("boom")
    clock.advance(1)
    assert world.read("tank.level") == pytest.approx(1)


def test_waiters_are_released_by_stop():
    world = World(SimClock(1000))
    world.start_ticker(0.005)
    released = threading.Event()

    def wait():
        world.wait_until(lambda: False, timeout_real_s=30)
        released.set()

    threading.Thread(target=wait, daemon=True).start()
    time.sleep(0.05)
    world.stop()
    assert released.wait(2)
