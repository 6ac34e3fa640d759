"""What is on the wire between drivers and the simulated instruments served in the same process.

The simulated lab's virtual clock (`sim/clock.py`) may move time on only when nothing is happening: no command on
its way to a simulated instrument or being handled by it, no reply on its way back to a driver that waits for
it. Drivers and the line servers tell this registry what they send, receive and handle, byte by byte, so the
clock knows it exactly rather than guessing from the host's timing. Only connections to a server registered
here (`serve`) are counted: a real instrument's traffic is none of the clock's business.

A connection is keyed by (the server's address, the driver's end): a lab's clock looks at its own servers only,
so two simulated labs in one process (two benches in the console) never wait on each other."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator

Address = tuple[str, int]
Key = tuple[Address, Address]  # (server, driver)

_lock = threading.Lock()
_served: set[Address] = set()  # listening addresses of in-process simulated servers
_to_server: Counter[Key] = Counter()  # bytes a driver sent that its server has not taken yet
_to_driver: Counter[Key] = Counter()  # bytes a server sent that its driver has not read yet
_handling: dict[threading.Thread, tuple[Address, int]] = {}  # server threads handling what they received
_reading: dict[threading.Thread, Key] = {}  # driver threads blocked waiting for a reply
_listeners: list[Callable[[], None]] = []  # told whenever the wire may have gone quiet
_unanswered: Counter[Key] = Counter()  # requests a server took and will not answer (a silent simulated device)
_giving_up = threading.local()  # driver threads that end a wait for a reply that will not come (`give_up_silence`)
_sleeps: dict[Address, Callable[[float], None]] = {}  # by server: its virtual clock's sleep (simulated seconds)


def serve(address: Address) -> None:
    with _lock:
        _served.add(_normal(address))


def unserve(address: Address) -> None:
    with _lock:
        _served.discard(_normal(address))


def is_served(address: Address) -> bool:
    with _lock:
        return _normal(address) in _served


def _normal(address) -> Address:
    return str(address[0]), int(address[1])


def connection(server: Address, driver: Address) -> Key | None:
    """The key of a driver's connection to `server` if that is a simulated server of this process, else None."""
    return (_normal(server), _normal(driver)) if is_served(server) else None


def add_listener(listener: Callable[[], None]) -> None:
    with _lock:
        _listeners.append(listener)


def remove_listener(listener: Callable[[], None]) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def _notify() -> None:
    for listener in list(_listeners):
        listener()


def on_clock(server: Address, sleep: Callable[[float], None] | None) -> None:
    """`server` is on a virtual clock whose `sleep(sim_s)` is this (None: no more)."""
    with _lock:
        if sleep is None:
            _sleeps.pop(_normal(server), None)
        else:
            _sleeps[_normal(server)] = sleep


# -- the driver's side --------------------------------------------------------------------------------------
def clock_sleep(key: Key | None) -> Callable[[float], None] | None:
    """The virtual clock's sleep of the simulated instrument at the other end of `key` (None: it has none)."""
    if key is None:
        return None
    with _lock:
        return _sleeps.get(key[0])


def wait_turn(key: Key | None) -> None:
    """A driver thread whose reply from a simulated instrument came (at a simulated instant, after its latency)
    goes on only when the instrument's clock wakes it: one actor at a time, in the clock's order."""
    sleep = clock_sleep(key)
    if sleep is not None:
        sleep(0.0)


def driver_sent(key: Key | None, count: int) -> None:
    """Call before the bytes leave (the server may take them before send() returns)."""
    if key is not None and count:
        with _lock:
            _to_server[key] += count
            _unanswered.pop(key, None)  # a new request: what earlier ones got (or not) is past


def driver_received(key: Key | None, count: int) -> None:
    if key is not None and count:
        with _lock:
            _to_driver[key] = max(0, _to_driver[key] - count)


@contextlib.contextmanager
def reading(key: Key | None) -> Iterator[None]:
    """The calling driver thread waits for a reply from a simulated instrument: while nothing is on its way
    back, the thread waits on the instrument, not on itself."""
    if key is None:
        yield
        return
    me = threading.current_thread()
    with _lock:
        _reading[me] = key
    _notify()  # a server may be waiting on the clock for this thread to wait
    try:
        yield
    finally:
        with _lock:
            _reading.pop(me, None)


def forget(key: Key | None) -> None:
    """A connection closed: what was on its way will never arrive."""
    if key is None:
        return
    with _lock:
        _to_server.pop(key, None)
        _to_driver.pop(key, None)
        _unanswered.pop(key, None)
    _notify()


@contextlib.contextmanager
def give_up_silence() -> Iterator[None]:
    """In the block, the calling driver thread ends a wait for a reply as a timeout as soon as the simulated server
    has taken the whole request and said it will not answer (`unanswered`), instead of after the real timeout. For
    a caller that holds the virtual clock and accounts the timeout in simulated time itself (a polled interface):
    the real wait would only cost host time, the record is the same."""
    before = getattr(_giving_up, "on", False)
    _giving_up.on = True
    try:
        yield
    finally:
        _giving_up.on = before


def silent_aware(key: Key | None) -> bool:
    """True if the calling driver, waiting on `key`, is to end a wait that `silent` says is hopeless."""
    return key is not None and getattr(_giving_up, "on", False)


def silent(key: Key | None) -> bool:
    """True if the calling driver (inside `give_up_silence`) waits on `key` for a reply that will not come: the
    server took every byte sent and answered none of the request, and nothing is on its way back."""
    if key is None or not getattr(_giving_up, "on", False):
        return False
    with _lock:
        return _unanswered[key] > 0 and _to_server[key] <= 0 and _to_driver[key] <= 0


# -- the server's side --------------------------------------------------------------------------------------
@contextlib.contextmanager
def handling(key: Key, count: int) -> Iterator[None]:
    """The calling server thread took `count` bytes of connection `key` and handles them until the block ends."""
    me = threading.current_thread()
    with _lock:  # busy before the bytes stop counting as on their way: never a moment of false quiet
        server, depth = _handling.get(me, (key[0], 0))
        _handling[me] = (server, depth + 1)
        _to_server[key] = max(0, _to_server[key] - count)
    try:
        yield
    finally:
        with _lock:
            server, depth = _handling[me]
            if depth > 1:
                _handling[me] = (server, depth - 1)
            else:
                del _handling[me]
        _notify()


def unanswered(key: Key) -> None:
    """The server took a request and will not answer it (a silent device, a fault that swallows requests)."""
    with _lock:
        _unanswered[key] += 1
    _notify()


def server_sent(key: Key, count: int) -> None:
    """Call before the reply leaves."""
    if count:
        with _lock:
            _to_driver[key] += count


# -- what the clock asks -------------------------------------------------------------------------------------
def busy(servers: set[Address], sleeping: set[threading.Thread]) -> list[str]:
    """Why the wire to `servers` is not quiet (empty if it is): bytes on their way to one of them, one of them
    handling a request (unless its thread sleeps on the clock, in `sleeping`)."""
    with _lock:
        reasons = [f"{n} bytes on their way to {key[0]}" for key, n in _to_server.items() if n > 0 and key[0] in servers]
        reasons += [f"{t.name} handling a request" for t, (server, _) in _handling.items()
                    if server in servers and t not in sleeping and t.is_alive()]
        return reasons


def waiting_for_reply(thread: threading.Thread) -> bool:
    """True if `thread` waits for a reply that is not on its way yet (it waits on a simulated instrument)."""
    with _lock:
        key = _reading.get(thread)
        return key is not None and _to_driver[key] <= 0
