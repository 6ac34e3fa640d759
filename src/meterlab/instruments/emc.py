"""EMC immunity generators applied while the meter measures: surge (IEC 61000-4-5), burst/EFT (61000-4-4),
ESD (61000-4-2), voltage dips, interruptions and variations (61000-4-11 / 61000-4-1) and magnetic fields
(static; power frequency, 61000-4-8).

The command sets of most of these generators are not public (reference sheet 1.2-1.4). meterlab therefore
defines ONE mnemonic command set in the style of the EMC Partner TRA3000 [V for the style: REN/GTL, `E?`,
`ID?`, `LC?`, `VPK?`/`IPK?`; the rest is meterlab's own], and keeps every vendor's syntax in an **adapter
table** per model. A driver class takes its table: a lab adds its generator by writing a table (a YAML file
named in the bench's `options: {adapter: path/to/table.yaml}`), not a driver. The built-in `generic` tables
(`GENERIC_TABLES`) describe the meterlab set, which the simulated lab speaks.

The generic (TRA3000-style) command set, CR LF framing, `?` for queries:

    common      REN / GTL          remote / local; every setting and action needs remote, queries do not
                ID?                identity, e.g. `SIM-SURGE 1.00`
                E?                 error register, read and cleared: 0 no error, 1 only allowed in remote,
                                   2 unknown command, 3 impermissible argument, 4 no query allowed, 5 only
                                   allowed in standby (a setting changed while a test runs), 64 other
                                   [TRA3000 codes, V]; 128 interlock open, 129 high voltage off (START when
                                   not armed) [meterlab extensions]
                ST?                STBY (high voltage off) | ARMED (high voltage on, ready) | RUN (test running)
                TC?                1 when the last test ran to its end (count done, duration elapsed), else 0
                HV?                1 high voltage (the output) on, 0 off
                IL?                1 interlock closed, 0 open
                ARM / DISARM       high voltage on (refused with 128 while the interlock is open) / off
                START / STOP       start a test (129 unless armed) / stop it (stays armed)
    surge       VSET <kV>          0.1 .. 5.0        POL POS|NEG       CPL L-N|L-PE|N-PE|IMP-OUT
                PHA <deg>          0 .. 359          CNT <n> 1..9999   REP <s> 1 .. 3600 (repetition)
                LC?  VPK?  IPK?    last coupling, measured peak voltage (V) and current (A) of the last
                                   surge as signed integers [TRA3000, V];  PC? surges delivered
    burst       VSET <kV> 0.1..5.0 POL POS|NEG       FREQ <kHz> 0.1 .. 1000
                BLEN <ms> 0.01..1000 (burst length)  BPER <ms> 1 .. 10000 (burst period)
                CPL L|N|PE|LN|LPE|NPE|LNPE|CLAMP     TDUR <s> 1 .. 86400 (test duration)
    esd         MODE CONT|AIR      VSET <kV> 0.2 .. 30   POL POS|NEG   CNT <n> 1..9999   INT <s> 0.05 .. 60
                DC?                discharges delivered
    dips        MODE DIP|VAR       VNOM <V> 1 .. 300     FNOM 50|60    RES <%> 0 .. 100 (residual voltage)
                DUR <cycles> 0.5 .. 5000   PHA <deg> 0 .. 359   CNT <n> 1..9999   INT <s> 0.1 .. 3600
                VVAR <%> -20 .. 20 (steady variation, MODE VAR: runs until STOP)
                VRMS? output voltage now (V); EC? dip events delivered
    magnetic    MODE STAT|AC       BSET <mT> 0 .. 500 (static)   HSET <A/m> 0 .. 1200 (power frequency)
                FREQ 50|60         TDUR <s> 0 .. 86400 (0: until STOP)   FLD? field now (mT or A/m)

Settings have no reply: the driver reads `E?` after every setting and action (that is also the
confirmation the generator took it). A query the generator cannot answer gets no reply (the error is in
`E?`). The ranges above are those of the generic set [U for any real model: put the model's own in its
table]; the test levels themselves (D 11 severities) are procedure data, never in a driver.

The engine drives every generator the same way (parameter names as in procedures/standards/d11-2013.yaml):

    for run in generator.runs(kind, severity_parameters):   # e.g. both polarities x four phase angles
        generator.configure(**run)       # validated completely before anything is sent; REN first
                                         # (generator.check_parameters(**run) validates without sending)
        generator.arm()
        generator.start()
        generator.wait_complete(timeout_s=...)   # or measure meanwhile (NSAd), then stop()
        generator.stop()
    generator.disarm()                   # safe_state() = stopped, disarmed, high voltage off
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from meterlab.errors import InputFileError
from meterlab.instruments.base import Control, MessageInstrument
from meterlab.instruments.errors import InstrumentTimeout, InstrumentValueError
from meterlab.instruments.validators import strict_discrete_set, strict_integer_range, strict_range
from meterlab.yamlio import read_yaml, validation_problems

Family = Literal["surge", "burst", "esd", "dips", "magnetic_field"]

# ------------------------------------------------------------------------------------------------------------
# Adapter tables
# ------------------------------------------------------------------------------------------------------------


class ErrorRegister(BaseModel):
    """How the model reports errors: the reply of the `error?` query, matched by `pattern` (group `code`)."""

    model_config = ConfigDict(extra="forbid")
    pattern: str = Field(r"^\s*(?P<code>[+-]?\d+)\s*$", description="regex with a `code` group (and `message`)")
    ok: list[int] = Field(default_factory=lambda: [0], description="codes that mean no error")
    messages: dict[int, str] = Field(default_factory=dict, description="code -> text as the manual gives it")

    @field_validator("pattern")
    @classmethod
    def _has_code_group(cls, pattern: str) -> str:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if "code" not in compiled.groupindex:
            raise ValueError("the pattern needs a named group (?P<code>...)")
        return pattern


class AdapterTable(BaseModel):
    """One model's command syntax. `commands`: logical name -> command; a setting `x` has the template
    `x` (printf style, e.g. `VSET %.2f`) and the query `x?`; actions have no `?`. A command set to null does
    not exist on that model (e.g. `remote: null` for a generator without a remote/local mode).
    `values`: logical value -> what the model sends and understands (`polarity: {positive: POS}`).
    `ranges`: what the model accepts, [low, high], checked before sending."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="maker and model this table is for, and its source")
    family: Family
    extends: str | None = Field(None, description="a built-in table this file changes (e.g. generic)")
    commands: dict[str, str | None]
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)
    errors: ErrorRegister = Field(default_factory=ErrorRegister)

    def command(self, key: str) -> str | None:
        return self.commands.get(key)


_COMMON: dict[str, Any] = {
    "commands": {
        "remote": "REN", "local": "GTL", "identify?": "ID?", "error?": "E?",
        "state?": "ST?", "complete?": "TC?", "high_voltage?": "HV?", "interlock?": "IL?",
        "arm": "ARM", "disarm": "DISARM", "start": "START", "stop": "STOP",
    },
    "values": {
        "state": {"standby": "STBY", "armed": "ARMED", "running": "RUN"},
        "flag": {"true": "1", "false": "0"},
        "polarity": {"positive": "POS", "negative": "NEG"},
    },
    "errors": {
        "messages": {
            1: "only allowed in remote", 2: "unknown command", 3: "impermissible argument",
            4: "no query allowed", 5: "only allowed in standby", 8: "timeout", 16: "parity error",
            32: "input overflow", 64: "other error", 128: "interlock open",
            129: "high voltage off (not armed)",
        },
    },
}

_FAMILIES: dict[str, dict[str, Any]] = {
    "surge": {
        "model": "meterlab generic surge generator (TRA3000-style mnemonics)",
        "commands": {
            "voltage_kv": "VSET %.2f", "voltage_kv?": "VSET?", "polarity": "POL %s", "polarity?": "POL?",
            "coupling": "CPL %s", "coupling?": "CPL?", "phase_angle_deg": "PHA %g", "phase_angle_deg?": "PHA?",
            "count": "CNT %d", "count?": "CNT?", "interval_s": "REP %g", "interval_s?": "REP?",
            "last_coupling?": "LC?", "peak_voltage_v?": "VPK?", "peak_current_a?": "IPK?",
            "pulses_delivered?": "PC?",
        },
        "values": {"coupling": {"L-N": "L-N", "L-PE": "L-PE", "N-PE": "N-PE", "IMP-OUT": "IMP-OUT"}},
        "ranges": {"voltage_kv": (0.1, 5.0), "phase_angle_deg": (0, 359), "count": (1, 9999),
                   "interval_s": (1, 3600)},
    },
    "burst": {
        "model": "meterlab generic burst/EFT generator (TRA3000-style mnemonics)",
        "commands": {
            "voltage_kv": "VSET %.2f", "voltage_kv?": "VSET?", "polarity": "POL %s", "polarity?": "POL?",
            "repetition_khz": "FREQ %g", "repetition_khz?": "FREQ?",
            "burst_length_ms": "BLEN %g", "burst_length_ms?": "BLEN?",
            "burst_period_ms": "BPER %g", "burst_period_ms?": "BPER?",
            "coupling": "CPL %s", "coupling?": "CPL?", "duration_s": "TDUR %g", "duration_s?": "TDUR?",
        },
        "values": {"coupling": {"L": "L", "N": "N", "PE": "PE", "L+N": "LN", "L+PE": "LPE", "N+PE": "NPE",
                                "L+N+PE": "LNPE", "lines": "LNPE", "clamp": "CLAMP"}},
        "ranges": {"voltage_kv": (0.1, 5.0), "repetition_khz": (0.1, 1000), "burst_length_ms": (0.01, 1000),
                   "burst_period_ms": (1, 10000), "duration_s": (1, 86400)},
    },
    "esd": {
        "model": "meterlab generic ESD simulator (TRA3000-style mnemonics)",
        "commands": {
            "discharge": "MODE %s", "discharge?": "MODE?", "voltage_kv": "VSET %.2f", "voltage_kv?": "VSET?",
            "polarity": "POL %s", "polarity?": "POL?", "count": "CNT %d", "count?": "CNT?",
            "interval_s": "INT %g", "interval_s?": "INT?", "discharges_delivered?": "DC?",
        },
        "values": {"discharge": {"contact": "CONT", "air": "AIR"}},
        "ranges": {"voltage_kv": (0.2, 30.0), "count": (1, 9999), "interval_s": (0.05, 60)},
    },
    "dips": {
        "model": "meterlab generic dips/interruptions/variation AC source (TRA3000-style mnemonics)",
        "commands": {
            "mode": "MODE %s", "mode?": "MODE?", "nominal_voltage_v": "VNOM %g", "nominal_voltage_v?": "VNOM?",
            "mains_frequency_hz": "FNOM %s", "mains_frequency_hz?": "FNOM?",
            "residual_pct": "RES %g", "residual_pct?": "RES?", "duration_cycles": "DUR %g",
            "duration_cycles?": "DUR?", "phase_angle_deg": "PHA %g", "phase_angle_deg?": "PHA?",
            "count": "CNT %d", "count?": "CNT?", "interval_s": "INT %g", "interval_s?": "INT?",
            "variation_pct": "VVAR %g", "variation_pct?": "VVAR?",
            "output_voltage_v?": "VRMS?", "events_delivered?": "EC?",
        },
        "values": {"mode": {"dips": "DIP", "variation": "VAR"}, "mains_frequency_hz": {"50": "50", "60": "60"}},
        "ranges": {"nominal_voltage_v": (1, 300), "residual_pct": (0, 100), "duration_cycles": (0.5, 5000),
                   "phase_angle_deg": (0, 359), "count": (1, 9999), "interval_s": (0.1, 3600),
                   "variation_pct": (-20, 20)},
    },
    "magnetic_field": {
        "model": "meterlab generic magnetic field source, static and power frequency (TRA3000-style mnemonics)",
        "commands": {
            "field": "MODE %s", "field?": "MODE?", "flux_density_mt": "BSET %g", "flux_density_mt?": "BSET?",
            "field_a_per_m": "HSET %g", "field_a_per_m?": "HSET?", "frequency_hz": "FREQ %s",
            "frequency_hz?": "FREQ?", "duration_s": "TDUR %g", "duration_s?": "TDUR?", "field_now?": "FLD?",
        },
        "values": {"field": {"static": "STAT", "power_frequency": "AC"}, "frequency_hz": {"50": "50", "60": "60"}},
        "ranges": {"flux_density_mt": (0, 500), "field_a_per_m": (0, 1200), "duration_s": (0, 86400)},
    },
}


def _merge(base: dict[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """`change` over `base`, dictionaries merged key by key (a table file lists only what differs)."""
    merged = copy.deepcopy(base)
    for key, value in change.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


GENERIC_TABLES: dict[str, dict[str, Any]] = {
    family: _merge(_COMMON, {"family": family, **table}) for family, table in _FAMILIES.items()
}
BUILTIN_TABLES: dict[str, dict[str, dict[str, Any]]] = {"generic": GENERIC_TABLES}  # name -> family -> table


def load_adapter(ref: str | Path | Mapping[str, Any], family: str) -> AdapterTable:
    """A built-in table by name (`generic`), a YAML file, or a mapping; checked for `family`.

    A file may say `extends: generic` and list only what differs. Problems raise InputFileError (file)
    or ValueError (mapping, unknown name)."""
    if isinstance(ref, Mapping):
        return _validated(dict(ref), family, "<adapter table>", {})
    if isinstance(ref, str) and ref in BUILTIN_TABLES:
        return _validated(BUILTIN_TABLES[ref][family], family, f"<built-in table {ref}>", {})
    path = Path(ref)
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise ValueError(f"adapter {str(ref)!r} is neither a built-in table ({', '.join(BUILTIN_TABLES)}) "
                         "nor a .yaml file")
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise InputFileError(path, [(None, "", "an adapter table is a mapping (model, family, commands, ...)")])
    return _validated(data, family, path, lines)


def _validated(data: dict[str, Any], family: str, source: str | Path, lines: dict) -> AdapterTable:
    base = data.get("extends")
    if base is not None:
        if base not in BUILTIN_TABLES:
            raise InputFileError(source, [(lines.get(("extends",)), "extends",
                                           f"unknown built-in table {base!r}; known: {', '.join(BUILTIN_TABLES)}")])
        data = _merge(BUILTIN_TABLES[base].get(data.get("family", family), {}), data)
    try:
        table = AdapterTable.model_validate(data)
    except ValidationError as exc:
        raise InputFileError(source, validation_problems(exc, lines)) from exc
    problems = []
    if table.family != family:
        problems.append((lines.get(("family",)), "family", f"this table is for {table.family}, not {family}"))
    needed = DRIVER_FAMILIES[family].required_commands()
    missing = sorted(key for key in needed if key not in table.commands)
    if missing:
        problems.append((lines.get(("commands",)), "commands",
                         f"missing {', '.join(missing)} (write null for a command the model does not have)"))
    for key, values_key in DRIVER_FAMILIES[family].enumerations().items():
        used = table.commands.get(key) is not None or table.commands.get(f"{key}?") is not None
        if used and values_key not in table.values:
            problems.append((lines.get(("values",)), f"values.{values_key}",
                             f"the values of {values_key} are not given"))
    for key in DRIVER_FAMILIES[family].numbers():
        if table.commands.get(key) is not None and key not in table.ranges:
            problems.append((lines.get(("ranges",)), f"ranges.{key}", f"the range of {key} is not given"))
    enumerations = DRIVER_FAMILIES[family].enumerations()
    for key in DRIVER_FAMILIES[family].settings_keys():
        template = table.commands.get(key)
        if template is None:
            continue
        try:
            template % (("X" if key in enumerations else 1.5),)
        except (TypeError, ValueError) as exc:
            problems.append((lines.get(("commands", key)), f"commands.{key}",
                             f"{template!r} is not a printf template for one value ({exc})"))
    if problems:
        raise InputFileError(source, problems)
    return table


# ------------------------------------------------------------------------------------------------------------
# Properties that take their command from the instance's table
# ------------------------------------------------------------------------------------------------------------


class TableProperty:
    """A range-checked property whose commands, values and range come from the driver's adapter table.

    kind: "float" / "int" (range from `ranges[key]`), "enum" (`values[key]`), "flag" (`values.flag`, read
    only). The value is validated before anything is sent (InstrumentValueError) and every setting is
    followed by the error register (`check_errors`)."""

    def __init__(self, doc: str, kind: Literal["float", "int", "enum", "flag"] = "float", *, readonly: bool = False,
                 key: str | None = None, values_key: str | None = None, cast: Callable[[str], Any] | None = None):
        self.__doc__ = doc
        self.kind, self.readonly, self.key, self.cast = kind, readonly or kind == "flag", key, cast
        self.values_key = values_key  # enum: the `values` entry, if not `key` (LC? answers coupling names)

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = self.key or name

    def control(self, obj: EmcGenerator) -> Control:
        cached = obj._controls.get(self.key)  # type: ignore[arg-type]
        if cached is not None:
            return cached
        table, key = obj.table, self.key
        assert key is not None
        get_cmd = table.command(f"{key}?")
        set_cmd = None if self.readonly else table.command(key)
        declared: dict[str, Any] = {}
        if self.kind in ("float", "int"):
            if set_cmd is not None:
                low, high = table.ranges[key]  # a settable number has its range (checked when loading)
                declared = ({"validator": strict_integer_range, "values": (int(low), int(high))} if self.kind == "int"
                            else {"validator": strict_range, "values": (low, high)})
            cast = self.cast or (_int if self.kind == "int" else float)
        else:
            values = table.values["flag" if self.kind == "flag" else self.values_key or key]
            declared = {"validator": strict_discrete_set, "values": values, "map_values": True}
            if self.kind == "flag":
                declared["get_process"] = lambda v: v == "true"
            cast = self.cast or str
        control = Control(get_cmd, set_cmd, self.__doc__ or key, cast=cast, check_set_errors=True, **declared)
        control.name = key
        obj._controls[key] = control
        return control

    def validate(self, obj: EmcGenerator, value: Any) -> Any:
        """The instrument value for `value`, or InstrumentValueError (nothing sent)."""
        return self.control(obj).to_instrument(obj, value)

    def __get__(self, obj: EmcGenerator | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        control = self.control(obj)
        if control.get_cmd is None:
            raise AttributeError(f"{obj.name}.{self.key}: the {obj.table.model} table has no query for it")
        return control.__get__(obj, objtype)

    def __set__(self, obj: EmcGenerator, value: Any) -> None:
        control = self.control(obj)
        if control.set_cmd is None:
            raise AttributeError(f"{obj.name}.{self.key} cannot be set on {obj.table.model}")
        control.to_instrument(obj, value)  # refused before anything (REN included) is sent
        obj._remote()
        control.__set__(obj, value)


def _int(text: str) -> int:
    return round(float(text))


def _mapped_number(text: str) -> str:
    """`50`, `50.0`, `+50` all read as the table value `50`."""
    try:
        return f"{float(text):g}"
    except ValueError:
        return text


# ------------------------------------------------------------------------------------------------------------
# Drivers
# ------------------------------------------------------------------------------------------------------------

COMMON_COMMANDS = ("remote", "local", "identify?", "error?", "state?", "complete?", "high_voltage?",
                   "interlock?", "arm", "disarm", "start", "stop")
INFORMATIONAL = frozenset({"d11_level", "status", "note", "waveform", "capacitance_pf", "resistance_ohm"})


class GeneratorOptions(BaseModel):
    """`options:` of every EMC generator in a bench file."""

    model_config = ConfigDict(extra="forbid")
    family: ClassVar[str] = ""
    adapter: str = Field("generic", description="built-in table name (generic) or a YAML adapter table file")

    @field_validator("adapter")
    @classmethod
    def _loadable(cls, adapter: str) -> str:
        if cls.family:
            try:
                load_adapter(adapter, cls.family)
            except InputFileError as exc:
                raise ValueError(str(exc)) from None
        return adapter


class EmcGenerator(MessageInstrument):
    """Common to every EMC generator: remote, error register, arm/start/stop/disarm, status, safe state.

    Subclasses declare their settings as `TableProperty`s and their family; the commands come from
    `self.table` (the adapter table named by `options.adapter`, or given as `table=`)."""

    Options: ClassVar[type[BaseModel]] = GeneratorOptions
    family: ClassVar[str] = ""
    disturbances: ClassVar[tuple[str, ...]] = ()  # apply_disturbance kinds this generator applies
    terminals = r"out\d*"  # wiring: out / out1, out2 ... -> the meter ports it is coupled to
    read_termination = "\r\n"
    write_termination = "\r\n"
    default_timeout_s = 2.0
    poll_s: ClassVar[float] = 0.05  # status polling in wait_complete (real seconds)

    state = TableProperty("standby (high voltage off) | armed | running", "enum", readonly=True)
    test_complete = TableProperty("True once the last test ran to its end", "flag", key="complete")
    high_voltage_on = TableProperty("True while the high voltage (the output) is on", "flag", key="high_voltage")
    interlock_closed = TableProperty("True while the test-area interlock is closed", "flag", key="interlock")

    def __init__(self, name: str, transport: Any, *, table: AdapterTable | Mapping[str, Any] | None = None,
                 **kwargs: Any):
        super().__init__(name, transport, **kwargs)
        if isinstance(table, AdapterTable):
            self.table = table
        else:
            adapter = table if table is not None else self.options.adapter  # type: ignore[attr-defined]
            self.table = load_adapter(adapter, self.family)
        self._controls: dict[str, Control] = {}
        self._error = re.compile(self.table.errors.pattern)

    # -- what a table must give ------------------------------------------------------------------------------
    @classmethod
    def _properties(cls) -> dict[str, TableProperty]:
        found: dict[str, TableProperty] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if isinstance(value, TableProperty):
                    found[attr] = value
        return found

    @classmethod
    def settings(cls) -> dict[str, TableProperty]:
        """The settable parameters, by the name `configure()` takes."""
        return {name: prop for name, prop in cls._properties().items() if not prop.readonly}

    @classmethod
    def required_commands(cls) -> set[str]:
        needed = set(COMMON_COMMANDS)
        for prop in cls._properties().values():
            needed.add(f"{prop.key}?")
            if not prop.readonly:
                needed.add(prop.key)  # type: ignore[arg-type]
        return needed

    @classmethod
    def enumerations(cls) -> dict[str, str]:
        """Command key -> the `values` entry that maps it (flags share `flag`)."""
        return {p.key: "flag" if p.kind == "flag" else p.values_key or p.key  # type: ignore[misc]
                for p in cls._properties().values() if p.kind in ("enum", "flag")}

    @classmethod
    def settings_keys(cls) -> set[str]:
        return {p.key for p in cls.settings().values()}  # type: ignore[misc]

    @classmethod
    def numbers(cls) -> set[str]:
        return {p.key for p in cls._properties().values()  # type: ignore[misc]
                if p.kind in ("float", "int") and not p.readonly}

    # -- protocol -------------------------------------------------------------------------------------------
    def identify(self) -> str:
        return self.ask(self._command("identify?")).strip()

    def error_code(self) -> tuple[int, str]:
        """Read (and so clear) the error register: (code, text)."""
        command = self._command("error?")
        reply = self.transport.query(command)
        match = self._error.match(reply)
        if not match:
            raise self.reply_error(command, f"not an error register reply: {reply!r}")
        code = int(match.group("code"))
        text = match.groupdict().get("message") or self.table.errors.messages.get(code, "unknown error code")
        return code, text.strip()

    def check_errors(self) -> None:
        command = self.transport.last_command
        code, text = self.error_code()
        if code not in self.table.errors.ok:
            raise self.instrument_error(command, f"error {code}: {text}")

    def _command(self, key: str) -> str:
        command = self.table.command(key)
        if command is None:
            raise AttributeError(f"{self.name}: the {self.table.model} table has no {key!r} command")
        return command

    def _action(self, key: str, *, optional: bool = False) -> None:
        command = self.table.command(key)
        if command is None and optional:
            return
        self.write(self._command(key))
        self.check_errors()

    def _remote(self) -> None:
        """REN, if the model has a remote mode (idempotent; settings and actions need it)."""
        self._action("remote", optional=True)

    # -- actions --------------------------------------------------------------------------------------------
    def remote(self) -> None:
        self._remote()

    def local(self) -> None:
        self._action("local", optional=True)

    def arm(self) -> None:
        """High voltage on. InstrumentError `interlock open` while the test-area interlock is open.

        arm() and start() do not take remote control themselves (configure() does): a generator an
        operator has put to local at its front panel refuses them (`only allowed in remote`)."""
        self._action("arm")

    def start(self) -> None:
        """Start the configured test (confirmed through the error register: `not armed` is an error)."""
        self._action("start")

    def stop(self) -> None:
        """Stop a running test; the generator stays armed. Takes remote control first (a safety action)."""
        self._remote()
        self._action("stop")

    def disarm(self) -> None:
        """High voltage off (stops any test). Takes remote control first (a safety action)."""
        self._remote()
        self._action("disarm")

    @property
    def running(self) -> bool:
        return self.state == "running"

    def wait_complete(self, timeout_s: float, *, guard: Callable[[], None] | None = None) -> None:
        """Poll until the test ran to its end; bounded by `timeout_s` (real seconds).

        If the generator leaves RUN without completing (interlock opened, stopped at the front panel) the
        error register says why: InstrumentError. `guard()` is called between polls (pause/abort points)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.test_complete:
                return
            if self.state != "running":
                if self.test_complete:  # finished between the two queries
                    return
                self.check_errors()
                raise self.instrument_error(self._command("state?"), "the test stopped before it was complete")
            if time.monotonic() >= deadline:
                raise self.transport.fail(InstrumentTimeout(self.name, self._command("complete?"), timeout_s,
                                                            "the test is still running"))
            if guard is not None:
                guard()
            time.sleep(self.poll_s)

    def safe_state(self) -> None:
        """Stopped, disarmed, high voltage off; confirmed by querying the high voltage.

        Does not depend on the register being clear: REN, STOP, DISARM are sent unconditionally, the error
        register is then read (and cleared: an error latched earlier, e.g. an interlock trip, must not
        prevent the safe state), and only a high voltage still on is a failure."""
        remote = self.table.command("remote")
        if remote is not None:
            self.write(remote)
        self.write(self._command("stop"))
        self.write(self._command("disarm"))
        code, text = self.error_code()
        if self.high_voltage_on:
            why = f" (error register: {code}: {text})" if code not in self.table.errors.ok else ""
            raise self.instrument_error(self._command("disarm"), f"the high voltage is still on after DISARM{why}")

    # -- configuring ----------------------------------------------------------------------------------------
    order: ClassVar[tuple[str, ...]] = ()  # settings sent first (a mode before its values)
    aliases: ClassVar[dict[str, str]] = {}  # profile name -> configure() name

    def check_parameters(self, **params: Any) -> dict[str, Any]:
        """What `configure(**params)` would set, in sending order; sends nothing. Names as `settings()`,
        profile aliases (e.g. duration_per_polarity_s) are translated, informational profile keys (d11_level,
        waveform, ...) and None values are skipped; anything else unknown or out of range raises
        InstrumentValueError."""
        params = self._complete(dict(params))
        settings = self.settings()
        values: dict[str, Any] = {}
        for key, value in params.items():
            name = self.aliases.get(key, key)
            if name in INFORMATIONAL or value is None:
                continue
            if name not in settings:
                raise InstrumentValueError(self.name, key, value,
                                           f"not a parameter of a {self.family} generator; "
                                           f"parameters: {', '.join(sorted(settings))}")
            values[name] = self._prepare(name, value)
        for name, value in values.items():
            settings[name].validate(self, value)
            if settings[name].control(self).set_cmd is None:
                raise InstrumentValueError(self.name, name, value, f"{self.table.model} cannot set it (no command)")
        ordered = sorted(values, key=lambda n: (self.order.index(n) if n in self.order else len(self.order)))
        return {name: values[name] for name in ordered}

    def configure(self, **params: Any) -> dict[str, Any]:
        """Set the given parameters (see `check_parameters`): every value is checked before the first byte
        is sent; REN first, then each setting confirmed through the error register. Returns what was set."""
        values = self.check_parameters(**params)
        if values:
            self._remote()
            settings = self.settings()
            for name, value in values.items():
                settings[name].control(self).__set__(self, value)
        return values

    def _complete(self, params: dict[str, Any]) -> dict[str, Any]:
        """Hook: parameters implied by others (a mode from the values given)."""
        return params

    def _prepare(self, name: str, value: Any) -> Any:
        """Hook: adjust a profile value to the driver's form (e.g. 50 -> "50" for a mapped frequency)."""
        return value

    # -- from a severity profile to runs --------------------------------------------------------------------
    def runs(self, kind: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Expand profile parameters (lists such as `polarities`, `phase_angles_deg`, `reductions`) into
        one `configure()` parameter set per run, in the order a lab applies them."""
        if kind not in self.disturbances:
            raise InstrumentValueError(self.name, "kind", kind,
                                       f"this generator applies {', '.join(self.disturbances)}")
        return self._runs(kind, dict(params))

    def _runs(self, kind: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [params]


def _pop_list(params: dict[str, Any], key: str, single: str, default: Iterable[Any] = (None,)) -> list[Any]:
    """`polarities: [positive, negative]` or `polarity: positive` -> a list; neither -> `default`."""
    if key in params:
        value = params.pop(key)
        return list(value) if isinstance(value, list | tuple) else [value]
    if single in params:
        return [params.pop(single)]
    return list(default)


def _without_none(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if v is not None}


class SurgeGenerator(EmcGenerator):
    """Combination-wave surge generator (IEC 61000-4-5).

    configure(): voltage_kv, polarity (positive|negative), coupling (L-N|L-PE|N-PE|IMP-OUT), phase_angle_deg,
    count, interval_s (repetition). Measured: peak_voltage_v, peak_current_a (last surge), last_coupling,
    pulses_delivered."""

    class Options(GeneratorOptions):
        family: ClassVar[str] = "surge"

    family = "surge"
    disturbances = ("surge",)
    voltage_kv = TableProperty("Open-circuit peak voltage in kV.")
    polarity = TableProperty("positive | negative", "enum")
    coupling = TableProperty("Coupling path: L-N, L-PE, N-PE, or IMP-OUT (impulse output to an external CDN).",
                             "enum")
    phase_angle_deg = TableProperty("Mains phase angle the surge is synchronised to, in degrees.")
    count = TableProperty("Surges per test.", "int")
    interval_s = TableProperty("Time between surges (repetition), in seconds.")
    last_coupling = TableProperty("Coupling path of the last surge (LC?).", "enum", readonly=True,
                                  values_key="coupling")
    peak_voltage_v = TableProperty("Measured peak voltage of the last surge, signed, in V.", "int", readonly=True)
    peak_current_a = TableProperty("Measured peak current of the last surge, signed, in A.", "int", readonly=True)
    pulses_delivered = TableProperty("Surges delivered since START.", "int", readonly=True)

    def _runs(self, kind: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Profile `surge_mains`: line_to_line_kv on L-N, line_to_earth_kv on L-PE and N-PE (or explicit
        `couplings`/`coupling` with `voltage_kv`), x polarities x phase_angles_deg."""
        line_kv, earth_kv = params.pop("line_to_line_kv", None), params.pop("line_to_earth_kv", None)
        for key in ("symmetrical_line_to_earth_kv", "shielded_line_kv"):
            params.pop(key, None)  # signal-line levels: chosen by the procedure with explicit parameters
        couplings = _pop_list(params, "couplings", "coupling", ())
        voltage = params.pop("voltage_kv", None)
        if not couplings:
            couplings = ([c for c, kv in (("L-N", line_kv), ("L-PE", earth_kv), ("N-PE", earth_kv)) if kv is not None]
                         or [None])
        levels = {"L-N": line_kv, "L-PE": earth_kv, "N-PE": earth_kv}
        polarities = _pop_list(params, "polarities", "polarity")
        angles = _pop_list(params, "phase_angles_deg", "phase_angle_deg")
        return [_without_none({**params, "voltage_kv": voltage if voltage is not None else levels.get(c),
                               "coupling": c, "polarity": p, "phase_angle_deg": a})
                for c in couplings for p in polarities for a in angles]


class BurstGenerator(EmcGenerator):
    """Electrical fast transient / burst generator (IEC 61000-4-4).

    configure(): voltage_kv, polarity, repetition_khz, burst_length_ms, burst_period_ms, coupling
    (L, N, PE, L+N, L+PE, N+PE, L+N+PE or `lines`, `clamp`), duration_s (profile: duration_per_polarity_s)."""

    class Options(GeneratorOptions):
        family: ClassVar[str] = "burst"

    family = "burst"
    disturbances = ("burst",)
    aliases = {"duration_per_polarity_s": "duration_s"}
    voltage_kv = TableProperty("Peak voltage of the pulses (open circuit), in kV.")
    polarity = TableProperty("positive | negative", "enum")
    repetition_khz = TableProperty("Repetition frequency of the spikes within a burst, in kHz.")
    burst_length_ms = TableProperty("Burst duration, in ms.")
    burst_period_ms = TableProperty("Burst period, in ms.")
    coupling = TableProperty("Lines the burst is coupled to, or the capacitive clamp.", "enum")
    duration_s = TableProperty("Test duration, in seconds.")

    def _runs(self, kind: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Profile `burst_mains`/`burst_signal`: one run per polarity; the profile's descriptive `coupling`
        text becomes `clamp` if it names the clamp, `lines` otherwise (explicit values are kept)."""
        coupling = params.get("coupling")
        if isinstance(coupling, str) and coupling not in self.table.values.get("coupling", {}):
            params["coupling"] = "clamp" if "clamp" in coupling.lower() else "lines"
        polarities = _pop_list(params, "polarities", "polarity")
        return [_without_none({**params, "polarity": p}) for p in polarities]


class EsdSimulator(EmcGenerator):
    """ESD simulator (IEC 61000-4-2).

    configure(): discharge (contact|air), voltage_kv, polarity, count, interval_s. Measured:
    discharges_delivered."""

    class Options(GeneratorOptions):
        family: ClassVar[str] = "esd"

    family = "esd"
    disturbances = ("esd",)
    order = ("discharge",)
    discharge = TableProperty("contact | air", "enum")
    voltage_kv = TableProperty("Discharge voltage in kV.")
    polarity = TableProperty("positive | negative", "enum")
    count = TableProperty("Discharges per test.", "int")
    interval_s = TableProperty("Time between discharges, in seconds.")
    discharges_delivered = TableProperty("Discharges delivered since START.", "int", readonly=True)

    def _runs(self, kind: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Profile `esd`: contact_voltage_kv and air_voltage_kv -> contact runs then air runs, each for
        every polarity."""
        levels = [(mode, params.pop(f"{mode}_voltage_kv", None)) for mode in ("contact", "air")]
        levels = [(m, kv) for m, kv in levels if kv is not None] or [(params.pop("discharge", None), None)]
        voltage = params.pop("voltage_kv", None)
        polarities = _pop_list(params, "polarities", "polarity")
        return [_without_none({**params, "discharge": m, "voltage_kv": kv if kv is not None else voltage,
                               "polarity": p}) for m, kv in levels for p in polarities]


class DipsGenerator(EmcGenerator):
    """Voltage dips, short interruptions (IEC 61000-4-11) and steady voltage variation (power voltage
    variation test) from a programmable AC source.

    configure(): mode (dips|variation; set from the other parameters if not given), nominal_voltage_v,
    mains_frequency_hz (50|60), residual_pct, duration_cycles, phase_angle_deg, count, interval_s,
    variation_pct. Measured: output_voltage_v, events_delivered. Dips complete after `count` events;
    a variation runs until stop()."""

    class Options(GeneratorOptions):
        family: ClassVar[str] = "dips"

    family = "dips"
    disturbances = ("dips", "voltage_variation")
    order = ("mode", "nominal_voltage_v", "mains_frequency_hz")
    mode = TableProperty("dips (dips and interruptions) | variation (steady variation until stop)", "enum")
    nominal_voltage_v = TableProperty("Nominal (rated) output voltage, rms, in V.")
    mains_frequency_hz = TableProperty("Output frequency, 50 or 60 Hz (as the strings '50', '60').", "enum",
                                       cast=_mapped_number)
    residual_pct = TableProperty("Residual voltage during a dip, % of nominal (0 = interruption).")
    duration_cycles = TableProperty("Duration of a dip in mains cycles.")
    phase_angle_deg = TableProperty("Start phase of a dip, in degrees.")
    count = TableProperty("Dip events per test.", "int")
    interval_s = TableProperty("Time between dip events, in seconds.")
    variation_pct = TableProperty("Steady variation of the output from nominal, in %.")
    output_voltage_v = TableProperty("Output voltage now, rms, in V.", readonly=True)
    events_delivered = TableProperty("Dip events delivered since START.", "int", readonly=True)

    def _prepare(self, name: str, value: Any) -> Any:
        if name == "mains_frequency_hz" and isinstance(value, int | float) and not isinstance(value, bool):
            return f"{value:g}"
        return value

    def _complete(self, params: dict[str, Any]) -> dict[str, Any]:
        if "mode" not in params:
            if params.get("variation_pct") is not None:
                params["mode"] = "variation"
            elif any(params.get(k) is not None for k in ("residual_pct", "duration_cycles")):
                params["mode"] = "dips"
        return params

    def _runs(self, kind: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """`dips_interruptions`: one run per entry of `reductions` (residual_pct, duration_cycles, the
        60 Hz duration when mains_frequency_hz is 60), each `count` times `interval_s` apart, for every
        start phase in `phase_angles_deg` if given. `voltage_variation`: `limit: upper|lower` picks
        upper_voltage_pct / lower_voltage_pct (both in turn if no limit)."""
        if kind == "voltage_variation":
            upper, lower = params.pop("upper_voltage_pct", None), params.pop("lower_voltage_pct", None)
            params.pop("frequency_variation_pct", None)  # a frequency change is not applied by this source
            limit = params.pop("limit", None)
            if limit is not None:
                chosen = {"upper": upper, "lower": lower}.get(limit)
                if chosen is None:
                    raise InstrumentValueError(self.name, "limit", limit,
                                               "upper or lower, with upper_voltage_pct / lower_voltage_pct given")
                return [_without_none({**params, "mode": "variation", "variation_pct": chosen})]
            variations = [pct for pct in (upper, lower) if pct is not None] or [params.pop("variation_pct", None)]
            return [_without_none({**params, "mode": "variation", "variation_pct": pct}) for pct in variations]
        sixty = str(params.get("mains_frequency_hz", "")).startswith("60")
        reductions = params.pop("reductions", None) or [{}]
        angles = _pop_list(params, "phase_angles_deg", "phase_angle_deg")
        runs = []
        for reduction in reductions:
            reduction = dict(reduction)
            duration_60 = reduction.pop("duration_cycles_60hz", None)
            if sixty and duration_60 is not None:
                reduction["duration_cycles"] = duration_60
            runs += [_without_none({**params, **reduction, "mode": "dips", "phase_angle_deg": a}) for a in angles]
        return runs


class MagneticFieldSource(EmcGenerator):
    """Magnetic field source: static (permanent-magnet substitute, electromagnet) or power frequency
    (IEC 61000-4-8 coil).

    configure(): field (static|power_frequency; set from the other parameters if not given),
    flux_density_mt, field_a_per_m, frequency_hz (50|60), duration_s (0 = until stop(); profile: dwell_s).
    Measured: field_now (mT or A/m)."""

    class Options(GeneratorOptions):
        family: ClassVar[str] = "magnetic_field"

    family = "magnetic_field"
    disturbances = ("magnetic_field", "power_frequency_magnetic_field")
    order = ("field",)
    aliases = {"dwell_s": "duration_s", "mains_frequency_hz": "frequency_hz"}
    field = TableProperty("static | power_frequency", "enum")
    flux_density_mt = TableProperty("Static flux density, in mT.")
    field_a_per_m = TableProperty("Power-frequency field strength, rms, in A/m.")
    frequency_hz = TableProperty("Power frequency, 50 or 60 Hz (as the strings '50', '60').", "enum",
                                 cast=_mapped_number)
    duration_s = TableProperty("How long the field is applied, in seconds (0: until stop).")
    field_now = TableProperty("Field applied now (mT static, A/m power frequency; 0 when off).", readonly=True)

    def _prepare(self, name: str, value: Any) -> Any:
        if name == "frequency_hz" and isinstance(value, int | float) and not isinstance(value, bool):
            return f"{value:g}"
        return value

    def _complete(self, params: dict[str, Any]) -> dict[str, Any]:
        if "field" not in params:
            if params.get("flux_density_mt") is not None:
                params["field"] = "static"
            elif params.get("field_a_per_m") is not None:
                params["field"] = "power_frequency"
        return params

    def _runs(self, kind: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """`static_magnetic_field`: one run (flux_density_mt for dwell_s). `power_frequency_magnetic_field`:
        the continuous field (field_a_per_m, until stop: applied during the measurement), then the
        short-duration field (short_duration_field_a_per_m for short_duration_max_s) if the profile gives it."""
        if kind == "magnetic_field":
            return [_without_none({**params, "field": "static"})]
        short = params.pop("short_duration_field_a_per_m", None)
        short_s = params.pop("short_duration_max_s", None)
        params.pop("short_duration_min_s", None)
        runs = [_without_none({**params, "field": "power_frequency"})]
        if short is not None and short_s is not None:
            runs.append(_without_none({**params, "field": "power_frequency", "field_a_per_m": short,
                                       "duration_s": short_s}))
        return runs


DRIVER_FAMILIES: dict[str, type[EmcGenerator]] = {
    cls.family: cls for cls in (SurgeGenerator, BurstGenerator, EsdSimulator, DipsGenerator, MagneticFieldSource)
}
