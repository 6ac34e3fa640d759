"""Watching the meters under test with the line at rest: their pulses and bus registers read at both ends of a
while with no flow, optionally with a supply interruption between the readings (R 49 absence of flow, the battery
interruption of R 49 and R 137). Nothing is judged here: the no_registration check reads what the watch saw.

`AtRestWatch` is a mixin for a rig with `clock`, `counters` (pulse counters by meter position), `target_m3h`
(None once the flow is stopped) and the disturbance machinery of `rigs.base.BenchRig`. The rig says which
registers it reads (`_at_rest_readers`) and what its line's absolute pressure is (`_line_pressure_abs_pa`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meterlab.errors import RigError
from meterlab.instruments.errors import ImplausibleValue
from meterlab.rigs.base import Guard

Reader = Callable[[str], dict]
DISTURBANCE_TIMEOUT_S = 3600.0  # a supply interruption lasts seconds; an hour means the generator is stuck


class AtRestWatch:
    """Pulses and bus registers read at both ends of a watch with the line at rest."""

    clock: Any
    counters: dict[int, Any]
    target_m3h: float | None

    def _at_rest_readers(self, serials: list[str]) -> dict[str, Reader]:
        """serial -> read(phase) of every meter whose register is read over a bus (none by default)."""
        return {}

    def _line_pressure_abs_pa(self) -> float | None:
        """The line's absolute pressure now (None without a transmitter): it shows the line stood under pressure."""
        return None

    def watch_at_rest(self, serials: list[str], duration_s: float, *, guard: Guard,
                      disturbance: tuple[str, dict] | None = None) -> dict:
        """With the flow stopped, each pulse-read meter's pulses counted over `duration_s` at rest (a continuous
        totalize, read at both ends) and each bus register (M-Bus, Modbus) read at both ends, once each: a register
        that moves is what is looked for, so it is not waited on to settle as a measurement's is. A register read by
        hand is not asked for (its meter is judged by its pulses or not at all). A `disturbance` (a supply
        interruption) runs between the readings; the watch lasts at least until it ended."""
        if self.target_m3h is not None:
            raise RigError("the line must be at rest: put a stop_flow before the watch at rest")
        counters = {serials[p - 1]: c for p, c in self.counters.items() if p <= len(serials)}
        readers = self._at_rest_readers(serials)
        for counter in counters.values():
            counter.configure_continuous_totalize()
            counter.start()
        start = self._at_rest_reading(counters, {s: read("start") for s, read in readers.items()})
        disturbed = self._watch_across(duration_s, disturbance, guard)
        end = self._at_rest_reading(counters, {s: _read_at_rest(read) for s, read in readers.items()})
        for counter in counters.values():
            counter.abort()
        meters = {serial: _seen(serial, start, end, counters) for serial in serials}
        applied = {} if disturbed is None else {"disturbance": {
            "kind": disturbed.kind, "started_s": disturbed.started_s, "ended_s": disturbed.ended_s}}
        return {**applied, "start_s": start["time_s"], "end_s": end["time_s"],
                "line_pressure_abs_pa": [start["pressure_pa"], end["pressure_pa"]], "meters": meters}

    def _at_rest_reading(self, counters: dict[str, Any], registers: dict[str, dict]) -> dict:
        return {"time_s": self.clock.now(), "pressure_pa": self._line_pressure_abs_pa(),
                "pulses": {s: c.running_count() for s, c in counters.items()}, "registers": registers}

    def _watch_across(self, duration_s: float, disturbance: tuple[str, dict] | None, guard: Guard) -> Any:
        """Wait `duration_s` with the disturbance (if any) running from its start; the run of it, or None."""
        disturbed = self._start_disturbance(disturbance, guard)
        try:
            self.wait(duration_s, guard=guard)
            if disturbed is not None:
                self._wait_for(disturbed.ended, timeout_s=DISTURBANCE_TIMEOUT_S, guard=guard,
                               what="the disturbance to end")
        finally:
            self._stop_disturbance(disturbed)
        return disturbed


def _read_at_rest(read: Reader) -> dict:
    """The end reading of a register watched at rest; one the driver refuses as implausible (it went backwards:
    lost or reset by a supply interruption) is what the watch looks for, so it is kept as such, not raised."""
    try:
        return read("end")
    except ImplausibleValue as exc:
        return {"refused": str(exc)}


def _seen(serial: str, start: dict, end: dict, counters: dict[str, Any]) -> dict:
    """What one meter did between the two readings: its pulses (if counted) and its register (if read)."""
    row: dict = {}
    if serial in counters:
        row["pulses"] = end["pulses"][serial] - start["pulses"][serial]
        row["counter"] = counters[serial].name
    if serial in start["registers"]:
        first, last = start["registers"][serial], end["registers"][serial]
        row["register"] = {"readout": first["readout"], "start_l": first["start_l"], "end_l": last.get("end_l"),
                           "resolution_l": first.get("resolution_l")}
        if "refused" in last:
            row["register"]["refused"] = last["refused"]
    return row
