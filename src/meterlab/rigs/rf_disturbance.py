"""Conducted (IEC 61000-4-6) and radiated (61000-4-3) RF immunity as a disturbance of the procedure engine:
the RF chain of a bench (generator, optional amplifier) replays a stored level calibration with the
severity's AM and dwell, behind the interface the rig uses for every EMC generator
(runs / configure / arm / start / wait_complete / stop / disarm / running / safe_state).

The bench's rf_generator entry names the stored level calibrations, per kind (one file, or a list: one
table per test level, the one that fits the severity is used):

    rf_generator:
      driver: rs_smb100a
      role: rf_generator
      equipment:
        level_tables:
          conducted_rf: [instruments/rf-levels/sim-conducted-3v.yaml, instruments/rf-levels/sim-conducted-10v.yaml]
          radiated_rf: instruments/rf-levels/sim-radiated-10vm.yaml

A relative path is taken from the working directory (where meterlab is started: the lab's checkout, as
for procedure and bench files), then from the meterlab source checkout (the tables shipped for the
simulated bench). Not from the bench file's folder: a resumed run reads its bench from the record.
Tables are made with `meterlab instruments rf-levels` (rf_immunity.calibrate_levels / calibrate_field_levels).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meterlab.errors import InputFileError
from meterlab.instruments.errors import InstrumentValueError
from meterlab.instruments.rf import RfAmplifier, RohdeSchwarzSmb100a
from meterlab.instruments.rf_immunity import (
    Clock,
    LevelCalibration,
    RfImmunityError,
    SweepResult,
    WallClock,
    _rf_off,
    load_level_table,
    run_sweep,
    table_problems,
)
from meterlab.yamlio import input_roots, referenced_file

log = logging.getLogger(__name__)

KINDS = ("conducted_rf", "radiated_rf")
LEVEL_NAME = {"conducted_rf": "emf_v", "radiated_rf": "field_v_per_m"}
UNIT = {"conducted_rf": "V e.m.f.", "radiated_rf": "V/m"}
REQUIRED = ("frequency_start_hz", "frequency_stop_hz", "step_pct", "dwell_s", "am_depth_pct", "am_frequency_hz")
INFORMATIONAL = ("coupling", "d11_level", "max_duration_s")  # recorded with the run, not sent
SLICE_REAL_S = 0.05  # wait_complete looks at the guard this often


class LevelTableError(RfImmunityError):
    """The bench names no usable level calibration for an RF test (missing, wrong kind, does not fit)."""


@dataclass(frozen=True)
class TableRef:
    """A level table as the bench names it: the bench field, the text given there, the file, the table."""

    field: str
    given: str
    path: Path
    table: LevelCalibration


def _fix(kind: str, level: float | str = "LEVEL") -> str:
    return (f"make one with `meterlab instruments rf-levels --bench BENCH_FILE --kind {kind} --level-v {level} "
            f"--out FILE` and name it in that field")


def table_entries(bench: Any, kind: str) -> list[tuple[str, str]]:
    """(bench field, path text) of every level table the bench names for `kind` (a bench.Bench)."""
    names = bench.by_role("rf_generator")
    if len(names) != 1:
        raise LevelTableError(f"bench {bench.bench!r}: {kind} needs exactly one instrument with role rf_generator "
                              f"(found {len(names)})")
    base = f"instruments.{names[0]}.equipment.level_tables"
    tables = bench.instruments[names[0]].equipment.get("level_tables")
    if not isinstance(tables, Mapping) or tables.get(kind) in (None, "", []):
        raise LevelTableError(f"bench {bench.bench!r}: {base}.{kind} is not given: the bench names no level "
                              f"calibration for {kind}; {_fix(kind)}")
    value = tables[kind]
    if isinstance(value, str):
        return [(f"{base}.{kind}", value)]
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return [(f"{base}.{kind}[{i}]", v) for i, v in enumerate(value)]
    raise LevelTableError(f"bench {bench.bench!r}: {base}.{kind} = {value!r}: give a file path or a list of them")


def load_tables(bench: Any, kind: str) -> list[TableRef]:
    """Every level table the bench names for `kind`, loaded and checked to be a `kind` table of this bench."""
    if kind not in KINDS:
        raise LevelTableError(f"{kind!r} is not an RF disturbance ({', '.join(KINDS)})")
    refs = []
    for field, given in table_entries(bench, kind):
        where = f"bench {bench.bench!r}: {field} = {given}"
        try:
            path = referenced_file(given)
        except ValueError as exc:
            raise LevelTableError(f"{where}: {exc}") from None
        if path is None:
            raise LevelTableError(f"{where}: no such file (looked in {', '.join(map(str, input_roots()))}); "
                                  f"{_fix(kind)}")
        try:
            table = load_level_table(path)
        except InputFileError as exc:
            raise LevelTableError(f"{where}: not a valid level table:\n{exc}") from None
        if table.kind != kind:
            raise LevelTableError(f"{where}: {path} is a {table.kind} calibration (its field `kind`), not "
                                  f"{kind}; {_fix(kind)}")
        if table.bench is not None and table.bench != bench.bench:
            raise LevelTableError(f"{where}: {path} was calibrated on bench {table.bench!r} (its field `bench`), "
                                  f"not on {bench.bench!r}; {_fix(kind)}")
        _check_age(table, max_age_days(bench), where, path, kind)
        refs.append(TableRef(field, given, path, table))
    return refs


def max_age_days(bench: Any) -> float | None:
    """The rf_generator's `equipment.level_table_max_age_days`: how old a level calibration may be (the lab's
    rule; None: not limited)."""
    names = bench.by_role("rf_generator")
    value = bench.instruments[names[0]].equipment.get("level_table_max_age_days") if names else None
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0):
        raise LevelTableError(f"bench {bench.bench!r}: instruments.{names[0]}.equipment.level_table_max_age_days "
                              f"= {value!r}: give a number of days > 0")
    return value


def _check_age(table: LevelCalibration, max_days: float | None, where: str, path: Path, kind: str) -> None:
    if max_days is None:
        return
    age_days = (dt.datetime.now(dt.timezone.utc) - table.calibrated_at).total_seconds() / 86400
    if age_days > max_days:
        raise LevelTableError(f"{where}: {path} was made on {table.calibrated_at:%Y-%m-%d}, {age_days:.0f} days ago, "
                              f"more than the bench's level_table_max_age_days = {max_days:g}; {_fix(kind)}")


def select_table(refs: list[TableRef], kind: str, params: Mapping[str, Any], bench_name: str) -> TableRef:
    """The first table made for the test's frequencies, step and level; else an error listing why each
    does not fit and how to make one that does."""
    reasons = []
    for ref in refs:
        problems = table_problems(ref.table, **params)
        if not problems:
            return ref
        reasons.append(f"{ref.field} = {ref.given}: " + "; ".join(problems))
    level = params.get(LEVEL_NAME[kind])
    need = (f"{level:g} {UNIT[kind]}, {params['frequency_start_hz']:g} Hz to {params['frequency_stop_hz']:g} Hz "
            f"in {params['step_pct']:g} % steps")
    raise LevelTableError(f"bench {bench_name!r}: no level table covers this {kind} test ({need}):\n  "
                          + "\n  ".join(reasons) + f"\n{_fix(kind, f'{level:g}')}")


def _number(kind: str, name: str, value: Any, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or (positive and value <= 0):
        raise RfImmunityError(f"{kind} severity parameter {name} = {value!r}: a finite number"
                              + (" > 0" if positive else ""))
    return float(value)


class RfImmunityGenerator:
    """The RF chain as the rig's disturbance generator. runs() expands the severity into one sweep per
    antenna polarisation (radiated) or one (conducted), checking every parameter and choosing the level
    table first; start() runs the levelled sweep in a thread; stop()/disarm()/safe_state() leave the
    generator's RF off and the amplifier in standby. While a sweep runs its instruments belong to the sweep
    thread (the transport serialises exchanges, so a safe_state from another thread still gets through)."""

    disturbances = KINDS

    def __init__(self, kind: str, generator: RohdeSchwarzSmb100a, tables: list[TableRef], *,
                 amplifier: RfAmplifier | None = None, clock: Clock | None = None, bench_name: str = "",
                 stop_timeout_real_s: float = 10.0):
        self.kind, self.generator, self.tables, self.amplifier = kind, generator, tables, amplifier
        self.clock, self.bench_name, self.stop_timeout_real_s = clock, bench_name, stop_timeout_real_s
        self.results: list[SweepResult] = []
        self._run: dict[str, Any] | None = None
        self._table: LevelCalibration | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._applied = threading.Event()
        self._error: BaseException | None = None

    # -- from the severity to runs ----------------------------------------------------------------------
    def runs(self, kind: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One configure() set per sweep; raises (before anything is sent) on a missing, unknown or bad
        parameter, or when no level table of the bench covers the test."""
        if kind != self.kind:
            raise RfImmunityError(f"this RF chain was set up for {self.kind}, not {kind}")
        params = dict(params)
        level_name = LEVEL_NAME[kind]
        known = set(REQUIRED) | set(INFORMATIONAL) | {level_name, "antenna_polarisations"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise RfImmunityError(f"{kind}: parameter(s) {', '.join(unknown)} do not apply (known: "
                                  f"{', '.join(sorted(known))}); check the severity profile's test {kind}")
        missing = [name for name in (*REQUIRED, level_name) if params.get(name) is None]
        if missing:
            raise RfImmunityError(f"{kind}: the severity gives no {', '.join(missing)} (severity profile, test "
                                  f"{kind}: `common` or the level)")
        for name in (*REQUIRED, level_name):
            _number(kind, name, params[name], positive=name != "am_depth_pct")
        self._check_am(params["am_depth_pct"], params["am_frequency_hz"])
        ref = select_table(self.tables, kind, params, self.bench_name)
        polarisations = params.get("antenna_polarisations") or [None]
        base = {"level_table": str(ref.path), "dwell_s": float(params["dwell_s"]),
                "am_depth_pct": float(params["am_depth_pct"]), "am_frequency_hz": float(params["am_frequency_hz"]),
                "steps": len(ref.table.points)}
        return [{**base, **({"antenna_polarisation": p} if p else {})} for p in polarisations]

    def _check_am(self, depth_pct: float, frequency_hz: float) -> None:
        cls = type(self.generator)
        try:  # the driver's own range checks, nothing sent
            cls.am_depth_pct.to_instrument(self.generator, depth_pct)
            cls.lfo_frequency_hz.to_instrument(self.generator, frequency_hz)
        except InstrumentValueError as exc:
            raise RfImmunityError(f"{self.kind}: the generator cannot apply this AM: {exc}") from None

    # -- the generator interface -----------------------------------------------------------------------
    def configure(self, *, level_table: str, dwell_s: float, am_depth_pct: float, am_frequency_hz: float,
                  steps: int | None = None, antenna_polarisation: str | None = None) -> dict[str, Any]:
        """Take one run of runs(); sends nothing (the sweep sets the generator up when it starts)."""
        if self.running:
            raise RfImmunityError("the RF sweep is running: stop it before configuring another")
        table = next((ref.table for ref in self.tables if str(ref.path) == level_table), None)
        if table is None:
            raise RfImmunityError(f"level table {level_table} is not one of this bench's (use the runs() of "
                                  "this generator)")
        self._table = table
        self._run = {"dwell_s": dwell_s, "am_depth_pct": am_depth_pct, "am_frequency_hz": am_frequency_hz}
        if antenna_polarisation:
            log.info("%s: antenna %s (turned by the mast or the operator before this sweep)", self.kind,
                     antenna_polarisation)
        return dict(self._run)

    def arm(self) -> None:
        """Nothing to arm: the sweep switches the amplifier to operate with the RF (and off again)."""
        if self._run is None:
            raise RfImmunityError("configure the RF sweep before arming it")

    def start(self) -> None:
        if self._run is None or self._table is None:
            raise RfImmunityError("configure the RF sweep before starting it")
        if self._thread is not None and self._thread.is_alive():
            raise RfImmunityError("the RF sweep is already running")
        self._stop.clear()
        self._applied.clear()
        self._error = None
        table, run = self._table, dict(self._run)
        # on a virtual clock, time waits for the sweep's steps too
        self._thread = (self.clock or WallClock()).start_thread(lambda: self._sweep(table, run), f"{self.kind}-sweep")

    def _sweep(self, table: LevelCalibration, run: dict[str, Any]) -> None:
        try:
            result = run_sweep(self.generator, table, amplifier=self.amplifier, clock=self.clock,
                               should_stop=self._stop.is_set, on_applied=lambda *_: self._applied.set(), **run)
            self.results.append(result)
            if result.stopped:
                log.warning("%s: the sweep was stopped after %d of %d frequencies (last %.6g Hz): the measurement "
                            "it served ended first", self.kind, len(result.steps), len(table.points),
                            result.steps[-1].frequency_hz if result.steps else table.points[0].frequency_hz)
        except BaseException as exc:  # noqa: BLE001 - handed to the rig by wait_complete/stop
            self._error = exc

    @property
    def running(self) -> bool:
        """True from the first applied level until the sweep ends."""
        return self._thread is not None and self._thread.is_alive() and self._applied.is_set()

    def wait_complete(self, timeout_s: float, *, guard: Callable[[], None] | None = None,
                      between_polls: Callable[[], None] | None = None) -> None:
        """Until the sweep has covered every frequency (real seconds bound), calling `guard` between short
        slices (it raises to pause/abort: the rig then calls stop()). A failed sweep raises its error."""
        deadline = time.monotonic() + timeout_s
        while self._thread is not None and self._thread.is_alive():
            if guard is not None:
                guard()
            if time.monotonic() > deadline:
                self.stop()
                raise RfImmunityError(f"the {self.kind} sweep did not complete within {timeout_s:g} s (real)")
            between_polls() if between_polls is not None else self._thread.join(SLICE_REAL_S)
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def stop(self) -> None:
        """End the sweep; returns with the RF off and the amplifier in standby, or raises why not (a sweep
        that does not stop is switched off from here). A failure of the sweep is raised once."""
        self._stop.set()
        if self._thread is not None:
            with (self.clock or WallClock()).idle():
                self._thread.join(self.stop_timeout_real_s)
            if self._thread.is_alive():
                _rf_off(self.generator, self.amplifier)
                raise RfImmunityError(f"the {self.kind} sweep did not stop within {self.stop_timeout_real_s:g} s; "
                                      "the RF was switched off from outside it")
        self._raise_error()

    def disarm(self) -> None:
        """RF off (read back) and the amplifier in standby."""
        if self._thread is not None and self._thread.is_alive():
            self.stop()
        _rf_off(self.generator, self.amplifier)

    def safe_state(self) -> None:
        try:
            self.stop()
        finally:
            _rf_off(self.generator, self.amplifier)


def rf_generator_for(connected: Any, kind: str, *, clock: Clock | None = None) -> RfImmunityGenerator:
    """The RF disturbance generator of an open bench (instruments.bench.ConnectedBench): its rf_generator,
    its rf_amplifier if it has one, and the level tables its rf_generator entry names for `kind`."""
    bench = connected.bench
    try:
        generator = connected.by_role("rf_generator")
    except KeyError as exc:
        raise LevelTableError(f"{exc.args[0]}: a {kind} test needs the RF signal generator") from None
    amplifiers = [name for name in bench.by_role("rf_amplifier") if name in connected]
    if len(amplifiers) > 1:
        raise LevelTableError(f"bench {bench.bench!r}: {len(amplifiers)} instruments with role rf_amplifier; "
                              "one RF chain has one amplifier")
    amplifier = connected[amplifiers[0]] if amplifiers else None
    return RfImmunityGenerator(kind, generator, load_tables(bench, kind), amplifier=amplifier, clock=clock,
                               bench_name=bench.bench)
