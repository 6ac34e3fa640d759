"""What every EMC generator driver shares: properties whose commands come from the adapter table, the
common command set (remote, error register, arm/start/stop/disarm, state, safe state), configuring from
a severity profile's parameters, and the helpers the families use to expand a profile into runs."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from meterlab.errors import InputFileError
from meterlab.instruments.base import Control, MessageInstrument
from meterlab.instruments.emc.adapter import DRIVER_FAMILIES, AdapterTable, load_adapter
from meterlab.instruments.errors import InstrumentTimeout, InstrumentValueError
from meterlab.instruments.validators import strict_discrete_set, strict_integer_range, strict_range


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


def mapped_number(text: str) -> str:
    """`50`, `50.0`, `+50` all read as the table value `50`."""
    try:
        return f"{float(text):g}"
    except ValueError:
        return text


# the commands EmcGenerator itself sends: every table names them (null where its model lacks one)
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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "family" in vars(cls):  # a family's driver, not a subclass of one
            DRIVER_FAMILIES[cls.family] = cls

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

    @classmethod
    def table_problems(cls, table: AdapterTable, lines: dict) -> list[tuple[int | None, str, str]]:
        """What `table` lacks for this driver (line, field, text), in the order a reader fixes them."""
        problems = []
        missing = sorted(key for key in cls.required_commands() if key not in table.commands)
        if missing:
            problems.append((lines.get(("commands",)), "commands",
                             f"missing {', '.join(missing)} (write null for a command the model does not have)"))
        enumerations = cls.enumerations()
        for key, values_key in enumerations.items():
            used = table.commands.get(key) is not None or table.commands.get(f"{key}?") is not None
            if used and values_key not in table.values:
                problems.append((lines.get(("values",)), f"values.{values_key}",
                                 f"the values of {values_key} are not given"))
        for key in cls.numbers():
            if table.commands.get(key) is not None and key not in table.ranges:
                problems.append((lines.get(("ranges",)), f"ranges.{key}", f"the range of {key} is not given"))
        return problems + cls._template_problems(table, lines, enumerations)

    @classmethod
    def _template_problems(cls, table: AdapterTable, lines: dict,
                           enumerations: dict[str, str]) -> list[tuple[int | None, str, str]]:
        """Every setting's command must take its one value (a text for an enumeration, else a number)."""
        problems = []
        for key in cls.settings_keys():
            template = table.commands.get(key)
            if template is None:
                continue
            try:
                template % (("X" if key in enumerations else 1.5),)
            except (TypeError, ValueError) as exc:
                problems.append((lines.get(("commands", key)), f"commands.{key}",
                                 f"{template!r} is not a printf template for one value ({exc})"))
        return problems

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

    def wait_complete(self, timeout_s: float, *, guard: Callable[[], None] | None = None,
                      between_polls: Callable[[], None] | None = None) -> None:
        """Poll until the test ran to its end; bounded by `timeout_s` (real seconds).

        If the generator leaves RUN without completing (interlock opened, stopped at the front panel) the
        error register says why: InstrumentError. `guard()` is called between polls (pause/abort points);
        `between_polls` waits between them (default `poll_s` of real time; the simulated lab's virtual clock
        passes its own, for the test takes simulated time)."""
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
            between_polls() if between_polls is not None else time.sleep(self.poll_s)

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
            values[name] = _prepared(settings[name], value)
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


def _prepared(prop: TableProperty, value: Any) -> Any:
    """A profile gives a frequency as the number 50; the table maps the text "50" (`mapped_number`)."""
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    return f"{value:g}" if numeric and prop.cast is mapped_number else value


def pop_list(params: dict[str, Any], key: str, single: str, default: Iterable[Any] = (None,)) -> list[Any]:
    """`polarities: [positive, negative]` or `polarity: positive` -> a list; neither -> `default`."""
    if key in params:
        value = params.pop(key)
        return list(value) if isinstance(value, list | tuple) else [value]
    if single in params:
        return [params.pop(single)]
    return list(default)


def without_none(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if v is not None}
