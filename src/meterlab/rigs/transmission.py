"""Watching what meters transmit while a disturbance is applied (the data_transmission check reads it).

During a measurement that applies a disturbance, the interface of every meter that declares one (`interfaces:`
in its declaration) is polled at the start of the collection, every `poll_interval_s` of the rig clock during
it (the profile's data_transmission.poll_interval_s) and at its end, alongside the pulses and the reference.
Every dataset is kept with the times of its request and reply, its raw bytes, its decoded values and its
integrity (valid / rejected / no_answer / meter_error), in the measurement's record of that meter
(`raw.mut[serial]["transmission"]`). Nothing is judged here: the rig is asked, it does not decide.

`TransmissionWatch` is a mixin for a rig with `bench`, `clock` and the disturbance machinery of
`rigs.base.BenchRig`; `set_interfaces` says where each position's interfaces are wired."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from meterlab.errors import RigError
from meterlab.instruments import wire
from meterlab.procedures.validate import interface_instrument


def interface_source(bench: Any, meter: str, kind: str) -> dict:
    """Where the interface `kind` of the meter `meter` (`meter2`) is read on this bench: the M-Bus gateway and
    address wired to it, or the Modbus meter instrument wired to it (found as `meterlab run` and `validate`
    check it before any record, procedures.validate.interface_instrument). RigError names the fix otherwise."""
    name = interface_instrument(bench.bench, meter, kind)
    if name is None:
        raise RigError(f"{meter} declares an M-Bus interface, but no M-Bus gateway of the bench (role "
                       f"mut_mbus_gateway) has it wired: add `addr<N>: {meter}` to the gateway's wiring"
                       if kind == "mbus" else
                       f"{meter} declares a Modbus interface, but no Modbus meter of the bench (role mut_modbus) is "
                       f"wired to it: add an instrument with `wiring: {{meter: {meter}}}`")
    driver = bench[name]
    if kind == "mbus":
        return {"kind": "mbus", "driver": driver, "address": driver.address_of(meter)}
    return {"kind": "modbus", "driver": driver}


class _Watch:
    """One collection's polls: serial -> the interfaces and their datasets so far."""

    def __init__(self, kind: str, interval_s: float, sources: dict[str, list[dict]], now_s: float):
        self.kind, self.interval_s, self.next_s = kind, interval_s, now_s
        self.sources = sources
        self.datasets: dict[tuple[str, int], list[dict]] = {(s, i): [] for s, lst in sources.items()
                                                            for i in range(len(lst))}


class _Held:
    """A held disturbance, seen as a running one from before the first poll to after the last."""

    started_s = float("-inf")

    @staticmethod
    def ended() -> bool:
        return False


class _Sequence:
    """A disturbance sequence applied between measurements: running from its start until it returns."""

    def __init__(self, started_s: float):
        self.started_s, self.done = started_s, False

    def ended(self) -> bool:
        return self.done


class TransmissionWatch:
    """Polls the declared interfaces of the meters through a disturbed collection."""

    bench: Any
    clock: Any
    meter_prefix = "meter"  # the wiring's name of a meter position (a gas line: gas_meter)

    def set_interfaces(self, interfaces: dict[int, list[str]], poll_interval_s: float) -> None:
        """position -> the interface kinds its meter declares; checked against the bench wiring now."""
        self._interfaces = {p: [interface_source(self.bench, f"{self.meter_prefix}{p}", k) for k in kinds]
                            for p, kinds in interfaces.items() if kinds}
        self._poll_interval_s = poll_interval_s
        self._watch: _Watch | None = None

    def watch_status(self, serials: list[str], duration_s: float, interval_s: float,
                     guard: Callable[[], None]) -> dict[str, dict]:
        """The status flags the meters transmit (the watch_status step, issue 16 anomalous data): every declared
        interface polled now and every `interval_s` of the rig clock until `duration_s`, the rig left as it is
        (a flow runs on, a held field stays). serial -> {"t_start_s", "interfaces": [{..., "datasets": [...]}]}.
        A meter without an interface has no entry: nothing is judged here."""
        interfaces = getattr(self, "_interfaces", {})
        sources = {serials[p - 1]: lst for p, lst in interfaces.items() if p <= len(serials)}
        if not sources:
            return {}
        self._disturbed = None  # the polls of a status watch are not of a disturbance
        start = next_s = self.clock.now()
        datasets: dict[tuple[str, int], list[dict]] = {(s, i): [] for s, lst in sources.items()
                                                       for i in range(len(lst))}
        for source in (s for lst in sources.values() for s in lst):
            source.pop("failed_since_s", None)
        while True:
            for serial, lst in sources.items():
                for i, source in enumerate(lst):
                    datasets[(serial, i)].append(self._poll(source, "status"))
            while next_s <= self.clock.now():  # on a fixed grid, so a slow poll (a timeout) does not shift the rest
                next_s += interval_s
            if next_s > start + duration_s + 1e-9:
                break
            self.wait(next_s - self.clock.now(), guard=guard)
        left = start + duration_s - self.clock.now()
        if left > 0:
            self.wait(left, guard=guard)
        return {serial: {"t_start_s": start, "under": self._held_at(serials.index(serial) + 1),
                         "interfaces": [{**_described(source), "datasets": datasets[(serial, i)]}
                                        for i, source in enumerate(lst)]}
                for serial, lst in sources.items()}

    def _held_at(self, position: int) -> list[str]:
        """The kinds of the held disturbances whose generator is wired to the meter at `position` (a magnet is
        held at one meter, not at every meter of the line)."""
        meter = f"{self.meter_prefix}{position}"
        kinds = self.__dict__.get("_held_kinds", {})
        def wired(generator: Any) -> bool:
            return any(str(w).split(".")[0] == meter for w in (getattr(generator, "wiring", None) or {}).values())

        return sorted({kinds[label] for label, generator in self.held_disturbances().items()
                       if label in kinds and wired(generator)})

    def _watch_start(self, serials: list[str], disturbance: tuple[str, dict] | None) -> None:
        """Before a disturbed measurement's disturbance starts: the first poll of every interface. A measurement
        made under a held disturbance (a supply voltage at a limit, a static field) is watched too, every poll
        then made under it."""
        interfaces = getattr(self, "_interfaces", {})
        self._watch, self._disturbed = None, None
        held = sorted(set(self.__dict__.get("_held_kinds", {}).values()))
        if disturbance is None and held:
            disturbance, self._disturbed = (", ".join(held), {}), _Held()
        if disturbance is None or not interfaces:
            return
        sources = {serials[p - 1]: lst for p, lst in interfaces.items() if p <= len(serials)}
        for source in (s for lst in sources.values() for s in lst):
            source.pop("failed_since_s", None)  # a new watch: no failed request pending
        self._watch = _Watch(disturbance[0], self._poll_interval_s, sources, self.clock.now())
        self._poll_all("start")

    def _watch_disturbed(self, disturbed: Any) -> None:
        """The disturbance now runs: the polls from here on say whether it was applied when they were made."""
        if disturbed is not None:  # else a held one (or none) stays as _watch_start found it
            self._disturbed = disturbed

    def _watch_between(self, serials: list[str], kind: str, run: Callable[[Callable[[], None] | None], None]) -> dict | None:
        """A disturbance applied between measurements (NSAa: ESD, surges), watched like a disturbed collection:
        a poll before, polls between the generator's status polls, one after. serial -> {"transmission": ...}."""
        self._watch_start(serials, (kind, {}))
        if self._watch is None:
            run(None)
            return None
        sequence = self._disturbed = _Sequence(self.clock.now())
        try:
            run(self._watch_tick)
        except BaseException:
            self._watch = None
            raise
        finally:
            sequence.done = True
        watched: dict[str, dict] = {}
        self._watch_end(watched)
        return watched

    def _watch_tick(self) -> None:
        """During the collection: poll when the interval has passed (called from the collection's loop)."""
        watch = getattr(self, "_watch", None)
        if watch is not None and self.clock.now() >= watch.next_s:
            self._poll_all("during")

    def _watch_end(self, mut: dict[str, dict], flow: dict | None = None) -> None:
        """After the collection: the last poll, and every dataset into the meters' records. `flow` (a standing
        start): the flow ran only from `from_s` to `to_s`, started and stopped with a first-order lag of `lag_s`,
        so the volume the meters passed between two polls is not their rate times the time between them."""
        watch = getattr(self, "_watch", None)
        if watch is None:
            return
        self._poll_all("end")
        for serial, sources in watch.sources.items():
            mut.setdefault(serial, {})["transmission"] = {
                "disturbance": watch.kind, "poll_interval_s": watch.interval_s,
                **({"flow": flow} if flow is not None else {}),
                "interfaces": [{**_described(source), "datasets": watch.datasets[(serial, i)]}
                               for i, source in enumerate(sources)]}
        self._watch = None

    def _poll_all(self, phase: str) -> None:
        watch = self._watch
        for serial, sources in watch.sources.items():
            for i, source in enumerate(sources):
                watch.datasets[(serial, i)].append(self._poll(source, phase))
        # on a fixed grid from the first poll, so a slow round (a timeout) does not shift the later ones
        while watch.next_s <= self.clock.now():
            watch.next_s += watch.interval_s

    def _poll(self, source: dict, phase: str) -> dict:
        t_request = self.clock.now()
        driver = source["driver"]
        hold = getattr(self.clock, "hold", None) if self.clock.virtual else None
        with contextlib.ExitStack() as held:
            if hold is not None:  # time held, the timeout accounted below: a reply that will not come ends the wait
                held.enter_context(hold())
                held.enter_context(wire.give_up_silence())
            dataset = driver.poll_dataset(source["address"]) if source["kind"] == "mbus" else driver.poll_dataset()
        if hold is not None and dataset["integrity"] != "valid":
            # time stood still while the driver waited out its real-time timeout: the bus took that long
            self.clock.pause(driver.transport.timeout_s)
        disturbed = getattr(self, "_disturbed", None)
        active = (disturbed is not None and disturbed.started_s is not None and disturbed.started_s <= t_request
                  and not disturbed.ended())
        # After a failed poll the meter may answer with the telegram it made for the failed request (M-Bus: the
        # FCB was not toggled): the dataset dates from that request at the earliest.
        since_s = source.get("failed_since_s", t_request)
        source["failed_since_s"] = since_s
        if dataset["integrity"] == "valid":
            source.pop("failed_since_s")
        return {"phase": phase, "t_request_s": t_request, "t_first_request_s": since_s, "t_reply_s": self.clock.now(),
                "disturbed": active, **dataset}


def _described(source: dict) -> dict:
    driver = source["driver"]
    if source["kind"] == "mbus":
        return {"kind": "mbus", "gateway": driver.name, "address": source["address"]}
    return {"kind": "modbus", "instrument": driver.name, "model": driver.options.model}
