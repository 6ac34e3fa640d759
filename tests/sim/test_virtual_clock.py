"""The virtual clock (issue 11): simulated time moves only when every actor waits, jumps to the earliest wake-up,
and wakes one waiter at a time in a fixed order, so what happens at one simulated instant happens in the same
order on every run whatever the host's timing."""

import random
import threading
import time

import pytest

from meterlab.sim.clock import VIRTUAL, SimClock, VirtualClock, make_clock


def test_a_lone_actor_jumps_over_a_simulated_day():
    clock = VirtualClock()
    with clock.actor():
        clock.sleep(86400.0)
        clock.pause(0.5)
    assert clock.now() == 86400.5
    assert isinstance(make_clock(VIRTUAL), VirtualClock) and type(make_clock(2000.0)) is SimClock


def test_time_waits_for_an_actor_that_is_busy():
    clock = VirtualClock()
    woke_at: list[float] = []

    def sleeper() -> None:
        clock.sleep(10.0)
        woke_at.append(clock.now())

    with clock.actor():  # this thread is an actor and busy until it sleeps
        thread = clock.start_thread(sleeper, "sleeper")
        time.sleep(0.3)  # real time passes; simulated time must not
        assert clock.now() == 0.0 and woke_at == []
        clock.sleep(4.0)  # the sleeper is due later: this actor wakes first
        assert clock.now() == 4.0 and woke_at == []
        clock.sleep(20.0)
        assert clock.now() == 24.0
    thread.join(5)
    assert woke_at == [10.0]


def test_what_happens_at_one_instant_happens_in_the_same_order_on_every_run():
    """Three actors on the same 1 s grid, each pausing a random real time between steps: the log of who did what
    at which simulated time is the same on every run, ordered by who began to wait first."""

    def one_run(seed: int) -> list[tuple[float, str]]:
        rng = random.Random(seed)
        delays = {name: [rng.uniform(0, 0.003) for _ in range(5)] for name in "abc"}
        clock, log = VirtualClock(), []

        def actor(name: str) -> None:
            for step in range(5):
                time.sleep(delays[name][step])  # the host's timing, different on every run
                log.append((clock.now(), name))
                clock.sleep(1.0)

        with clock.actor():
            threads = [clock.start_thread(lambda n=n: actor(n), n) for n in "abc"]
            clock.sleep(10.0)
        for thread in threads:
            thread.join(5)
        return log

    first = one_run(1)
    assert first == [(float(t), name) for t in range(5) for name in "abc"]
    assert all(one_run(seed) == first for seed in range(2, 6))


def test_an_actor_waiting_on_another_thread_lets_time_move_for_it():
    clock = VirtualClock()
    with clock.actor():
        thread = clock.start_thread(lambda: clock.sleep(30.0), "sequence")
        with clock.idle():
            thread.join(5)
        assert not thread.is_alive() and clock.now() == 30.0


def test_a_stopped_clock_releases_its_waiters():
    clock = VirtualClock()
    done = threading.Event()

    def waiter() -> None:
        clock.sleep(5.0)
        done.set()

    with clock.actor():  # a busy actor: the waiter would wait for ever
        clock.start_thread(waiter, "waiter")
        clock.stop()
        assert done.wait(5)
    assert clock.now() == 0.0


def test_a_wait_that_cannot_be_is_refused():
    clock = VirtualClock()
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="cannot wait"):
            clock.sleep(bad)


def test_a_turn_taken_while_holding_time_returns_at_once():
    """A reply read with time held (a polled interface, rigs/transmission.py) ends in a turn on the clock: the
    holder has time already, so the turn must not wait for a quiet that its own hold prevents."""
    clock = VirtualClock()
    done = threading.Event()

    def holder() -> None:
        with clock.actor(), clock.hold():
            clock.sleep(0.0)
            done.set()

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    thread.join(2)
    assert done.is_set() and clock.now() == 0.0
