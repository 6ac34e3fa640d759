"""Plausibility checks of a meter's totaliser register as it is read over an interface (Modbus, M-Bus).

A register reading is refused, never recorded, when it cannot be the meter's register: the map's no-value
marker (0xFFFFFFFF in many maps), not a finite number, outside the range its register map declares, lower than the previous reading of the same register (unless
that is a roll-over), or further ahead of it than the map allows between two reads. The limits come from the
register maps (`tables/modbus-meters.yaml`, `tables/mbus-records.yaml`), never from code.

Roll-over: a counter of modulus M (2^32 counts for a uint32, 10^8 for an 8-digit BCD) goes from M - 1 to 0.
A reading below the previous one is taken as one roll-over when the step it implies, reading + M - previous,
is no larger than the map's `max_step`; the value is then unwrapped (reading + M x roll-overs so far), so
differences of readings stay right across the roll-over. Only one roll-over between two reads can be told
apart: read the register at least once per `max_step` of volume (for a uint32 in mL, 2147 m³). The first
reading after a driver is opened has nothing to compare with: it is range-checked only."""

from __future__ import annotations

import math
from dataclasses import dataclass


class Implausible(Exception):
    """A reading refused: what came back and what was expected (the driver adds instrument and request)."""

    def __init__(self, got: str, expected: str):
        self.got, self.expected = got, expected
        super().__init__(f"got {got}; expected {expected}")


@dataclass(frozen=True)
class CounterLimits:
    """What a totaliser register may read, in the register's own unit (counts, or the float's unit)."""

    low: float
    high: float
    modulus: float | None = None  # where the register rolls over (None: it does not)
    max_step: float | None = None  # largest forward step between two reads (None: not checked)
    unit: str = "counts"
    no_value: tuple[float, ...] = ()  # raw values the meter sends for "no value" (0xFFFFFFFF in many maps)


def check_finite(value: float, what: str = "the totaliser register") -> float:
    if isinstance(value, float) and not math.isfinite(value):
        raise Implausible(f"{what} = {value!r}", "a finite number")
    return value


def check_range(value: float, limits: CounterLimits, what: str = "the totaliser register") -> float:
    check_finite(value, what)
    if not limits.low <= value <= limits.high:
        raise Implausible(f"{what} = {value:.10g} {limits.unit}",
                          f"a value in the declared range {limits.low:.10g} .. {limits.high:.10g} {limits.unit}")
    return value


class CounterTrack:
    """The readings of one totaliser register so far: refuses implausible ones, unwraps a roll-over once.

    `accept(raw)` returns the unwrapped reading (raw + modulus x roll-overs seen); a refused reading leaves
    the track as it was."""

    def __init__(self, limits: CounterLimits):
        self.limits = limits
        self.previous_raw: float | None = None
        self.rollovers = 0

    def accept(self, raw: float) -> float:
        limits = self.limits
        if raw in limits.no_value:
            raise Implausible(f"{raw:.10g} {limits.unit}, the register map's no-value marker",
                              "a value (the meter has none to send)")
        check_range(raw, limits)
        rolled = False
        if self.previous_raw is not None:
            step = raw - self.previous_raw
            if step < 0:
                step = self._rollover_step(raw)
                rolled = True
            if limits.max_step is not None and step > limits.max_step:
                raise Implausible(f"a step of {step:.10g} {limits.unit} since the previous reading "
                                  f"{self.previous_raw:.10g}", f"at most {limits.max_step:.10g} {limits.unit} "
                                  f"between two reads (max_step of the register map)")
        self.previous_raw = raw
        self.rollovers += rolled
        return raw + (limits.modulus or 0) * self.rollovers

    def _rollover_step(self, raw: float) -> float:
        """The step a reading below the previous one implies if the counter rolled over; refused if it cannot."""
        limits, previous = self.limits, self.previous_raw
        assert previous is not None
        backwards = f"{raw:.10g} {limits.unit}, lower than the previous reading {previous:.10g}"
        if limits.modulus is None:
            raise Implausible(backwards, "a totaliser that does not go backwards (this register does not roll over)")
        step = raw + limits.modulus - previous
        if limits.max_step is not None and step > limits.max_step:
            raise Implausible(backwards, f"a roll-over at {limits.modulus:.10g} {limits.unit} implying a step of at "
                                         f"most {limits.max_step:.10g} (it would imply {step:.10g}): the register "
                                         f"went backwards")
        return step
