"""The state machine and protocol every simulated EMC generator shares.

The command set is read from the driver's built-in `generic` tables (`meterlab.instruments.emc`, data in
its `tables/`): mnemonics, ranges, value spellings and error codes are stated there once, for the driver
and the simulator alike. What the simulator adds is behaviour: power-on values, the state machine, and
one `q_<name>` method per read-only query `<name>?` of the table."""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from meterlab.instruments.emc import COMMON_TABLE, AdapterTable, ErrorRegister, load_adapter
from meterlab.sim.devices.base import LineDevice
from meterlab.sim.world import Scheduled

# error codes and states as the common table (tables/common.yaml) spells them; a KeyError here means the
# table no longer has a code or state the simulator reports
_ERRORS = ErrorRegister.model_validate(COMMON_TABLE["errors"])
_CODE = {text: code for code, text in _ERRORS.messages.items()}
NO_ERROR = _ERRORS.ok[0]
NOT_REMOTE, UNKNOWN, BAD_ARGUMENT, NO_QUERY, NOT_STANDBY, OTHER = (
    _CODE[text] for text in ("only allowed in remote", "unknown command", "impermissible argument",
                             "no query allowed", "only allowed in standby", "other error"))
INTERLOCK_OPEN, NOT_ARMED = _CODE["interlock open"], _CODE["high voltage off (not armed)"]
STANDBY, ARMED, RUNNING = (COMMON_TABLE["values"]["state"][state] for state in ("standby", "armed", "running"))
_FLAG = COMMON_TABLE["values"]["flag"]
ACTIONS = ("arm", "disarm", "start", "stop")  # table keys; `<key>` runs the method `_<key>`
OUTPUT_TERMINAL = re.compile(r"out\d*")


class GeneratorFault(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Setting:
    """One settable parameter: mnemonic, attribute, default, parser (ValueError -> code 3), formatter."""

    mnemonic: str
    attr: str
    default: Any
    parse: Callable[[str], Any]
    show: Callable[[Any], str]


def number(mnemonic: str, attr: str, default: float, low: float, high: float, *, integer: bool = False) -> Setting:
    def parse(text: str) -> float | int:
        value = float(text)
        if integer and value != int(value):
            raise ValueError("not an integer")
        if not low <= value <= high:
            raise ValueError("out of range")
        return int(value) if integer else value

    return Setting(mnemonic, attr, default, parse, (lambda v: str(int(v))) if integer else (lambda v: f"{v:g}"))


def choice(mnemonic: str, attr: str, default: str, *options: str) -> Setting:
    def parse(text: str) -> str:
        for option in options:
            if text.upper() == option:
                return option
        raise ValueError("not an option")

    return Setting(mnemonic, attr, default, parse, str)


def mnemonic_of(command: str) -> str:
    """The word a table command starts with: `VSET %.2f` -> VSET, `ID?` -> ID?."""
    return command.split(" ", 1)[0].upper()


def table_setting(table: AdapterTable, key: str, command: str, default: Any) -> Setting:
    """The setting `key` (sent as `command`) as the table states it: an enumeration if the table spells its
    values (`default` is then a logical value, e.g. positive), else a number in its range, whole if sent
    with `%d`."""
    if key in table.values:
        spellings = table.values[key]
        return choice(mnemonic_of(command), key, spellings[default], *dict.fromkeys(spellings.values()))
    low, high = table.ranges[key]
    return number(mnemonic_of(command), key, default, low, high, integer="%d" in command)


class GeneratorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: str = "SIM-EMC 1.00"


class SimEmcGenerator(LineDevice):
    """Common protocol and run logic; a family names its `family` (its generic table), the power-on
    `DEFAULTS` of its settings, answers its read-only queries (`q_<name>`) and schedules its runs."""

    Params: ClassVar[type[BaseModel]] = GeneratorParams
    terminators = (b"\r\n", b"\n")
    reply_terminator = b"\r\n"
    family: ClassVar[str] = ""
    DEFAULTS: ClassVar[dict[str, Any]] = {}  # table key -> power-on value (logical for an enumeration)
    table: ClassVar[AdapterTable]
    KEYS: ClassVar[dict[str, str]]  # mnemonic (a query's with its ?) -> table key
    SETTINGS: ClassVar[tuple[Setting, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "family" not in vars(cls):
            return
        cls.table = load_adapter("generic", cls.family)
        commands = {key: command for key, command in cls.table.commands.items() if command is not None}
        cls.KEYS = {mnemonic_of(command): key for key, command in commands.items()}
        cls.SETTINGS = tuple(table_setting(cls.table, key, command, cls.DEFAULTS[key])
                             for key, command in commands.items() if "%" in command)
        cls._check_answers(commands)

    @classmethod
    def _check_answers(cls, commands: dict[str, str]) -> None:
        """Every query of the table is a setting's or has its `q_` method: a gap shows when the module is
        imported, not as "unknown command" at a client."""
        unanswered = [key for key in commands if key.endswith("?") and key[:-1] not in cls.DEFAULTS
                      and not hasattr(cls, f"q_{key[:-1]}")]
        if unanswered:
            raise TypeError(f"{cls.__name__} does not answer {', '.join(unanswered)} (q_<name> methods)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = {s.attr: s for s in self.SETTINGS}
        self.values: dict[str, Any] = {s.attr: s.default for s in self.SETTINGS}
        self.remote = False
        self.error = NO_ERROR
        self.state = STANDBY
        self.complete = False
        self.targets = [signal for terminal, signal in sorted(self.wiring.items())
                        if OUTPUT_TERMINAL.fullmatch(terminal)]
        self._events: list[Scheduled] = []
        self._coupled: str | None = None  # the disturbance kind applied now
        self.rng: np.random.Generator = self.world.rng()
        self.emc = self.world.component("emc")
        self.emc.register(self.name, self._interlock_changed)

    # -- protocol ---------------------------------------------------------------------------------------------
    def handle(self, text: str) -> str | None:
        mnemonic, _, argument = text.partition(" ")
        mnemonic, argument = mnemonic.upper(), argument.strip()
        with self.world.now():
            try:
                return self._dispatch(mnemonic, argument)
            except GeneratorFault as fault:
                self.error = fault.code
                return None  # errors are read from E?; an erroneous query gets no reply

    def _dispatch(self, mnemonic: str, argument: str) -> str | None:
        if mnemonic.endswith("?"):
            return self._query(mnemonic)
        key = self.KEYS.get(mnemonic)
        if key in ("remote", "local"):  # the only commands allowed in local
            self._no_argument(argument)
            self.remote = key == "remote"
            return None
        if key not in ACTIONS and key not in self.settings:
            raise GeneratorFault(UNKNOWN)
        if not self.remote:
            raise GeneratorFault(NOT_REMOTE)
        if key in ACTIONS:
            self._no_argument(argument)
            getattr(self, f"_{key}")()
            return None
        if self.state == RUNNING:
            raise GeneratorFault(NOT_STANDBY)
        try:
            self.values[key] = self.settings[key].parse(argument)
        except ValueError:
            raise GeneratorFault(BAD_ARGUMENT) from None
        return None

    @staticmethod
    def _no_argument(argument: str) -> None:
        if argument:
            raise GeneratorFault(BAD_ARGUMENT)

    def _query(self, mnemonic: str) -> str:
        key = self.KEYS.get(mnemonic)
        if key is None:
            refused = self.KEYS.get(mnemonic[:-1]) in (*ACTIONS, "remote", "local")
            raise GeneratorFault(NO_QUERY if refused else UNKNOWN)
        name = key[:-1]
        if name in self.settings:
            return self.settings[name].show(self.values[name])
        return getattr(self, f"q_{name}")()

    def error_reply(self, text: str, message: str | None) -> str | None:
        """An internal error (fault injection): latched in the register; E? reports it."""
        code = int(message) if message and message.isdigit() else OTHER
        if text.strip().upper() == self.table.commands["error?"]:
            return str(code)
        self.error = code
        return None

    # -- common queries -----------------------------------------------------------------------------------------
    def q_error(self) -> str:
        code, self.error = self.error, NO_ERROR  # reading the register clears it
        return str(code)

    def q_identify(self) -> str:
        return self.params.identity

    def q_state(self) -> str:
        return self.state

    def q_complete(self) -> str:
        return flag(self.complete)

    def q_high_voltage(self) -> str:
        return flag(self.state != STANDBY)

    def q_interlock(self) -> str:
        return flag(not self.emc.interlock_open.get(self.name))

    # -- state machine (all under the world lock) ----------------------------------------------------------
    def _arm(self) -> None:
        if self.emc.interlock_open.get(self.name):
            raise GeneratorFault(INTERLOCK_OPEN)
        if self.state == STANDBY:
            self.state = ARMED

    def _disarm(self) -> None:
        self._end(complete=False)
        self.state = STANDBY

    def _stop(self) -> None:
        self._end(complete=False)

    def _start(self) -> None:
        if self.state == STANDBY:
            raise GeneratorFault(NOT_ARMED)
        if self.state == RUNNING:
            raise GeneratorFault(NOT_STANDBY)
        self.state, self.complete = RUNNING, False
        self._coupled = self.kind()
        self.emc.couple(self.name, self._coupled, self.targets, True, dict(self.values))
        self.begin(self.world.t_s)

    def _end(self, *, complete: bool) -> None:
        """The test is over (completed, stopped, disarmed, interlock): cancel its events, uncouple it."""
        for event in self._events:
            event.cancel()
        self._events.clear()
        if self._coupled is not None:
            self.emc.couple(self.name, self._coupled, self.targets, False)
            self._coupled = None
        if self.state == RUNNING:
            self.state = ARMED
            self.complete = complete
        self.finished()

    def _interlock_changed(self, open_: bool) -> None:
        if open_ and self.state != STANDBY:
            self._end(complete=False)
            self.state = STANDBY
            self.error = INTERLOCK_OPEN

    def at(self, t_s: float, callback: Callable[[], None]) -> None:
        """Schedule a step of the running test at simulated time `t_s`."""
        self._events = [e for e in self._events if not e.cancelled and e.at_s >= self.world.t_s]
        self._events.append(self.world.schedule(t_s, callback))

    def complete_test(self) -> None:
        self._end(complete=True)

    # -- for subclasses ---------------------------------------------------------------------------------------
    @abstractmethod
    def kind(self) -> str:
        """The disturbance kind (meter susceptibility key) of the test about to run."""

    def begin(self, t0_s: float) -> None:
        """Schedule the test started at `t0_s` (call `complete_test()` at its end)."""

    def finished(self) -> None:
        """Hook: the test ended (reset transient outputs)."""

    def v(self, attr: str) -> Any:
        return self.values[attr]

    def is_set(self, attr: str, value: str) -> bool:
        """Whether the enumeration `attr` is at the logical `value` (as the table spells it)."""
        return self.values[attr] == self.table.values[attr][value]


def flag(value: bool) -> str:
    return _FLAG["true" if value else "false"]


def counted(device: SimEmcGenerator, t0_s: float, interval_s: float, count: int, event: Callable[[], None]) -> None:
    """`count` events `interval_s` apart from `t0_s`; the test completes with the last one."""

    def fire(index: int) -> None:
        event()
        if index + 1 >= count:
            device.complete_test()
        else:
            device.at(t0_s + (index + 1) * interval_s, lambda: fire(index + 1))

    fire(0)
