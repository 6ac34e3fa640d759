"""Simulated EMC generators speaking meterlab's generic TRA3000-style command set (see
`meterlab.instruments.emc` for the command list and the error codes).

State machine of every generator: STBY (high voltage off) -ARM-> ARMED -START-> RUN -(count done,
duration elapsed: test complete | STOP)-> ARMED -DISARM-> STBY. The interlock (physics component `emc`,
fault `interlock_open`) refuses ARM and, when it opens, drops a generator to STBY with error 128.

While a generator runs, its disturbance is coupled to the meters its wiring names (`out`, `out1`, ...)
through `EmcCoupling.couple` -> the meters' `disturb(kind, active, params)`; every end of a test (its own
end on the simulated clock, STOP, DISARM, the interlock) uncouples it. Events (surges, discharges, dip
events, the end of a burst) are world events at their exact simulated times."""

from __future__ import annotations

from abc import abstractmethod

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from meterlab.sim.devices.base import LineDevice
from meterlab.sim.world import Scheduled

NO_ERROR, NOT_REMOTE, UNKNOWN, BAD_ARGUMENT, NO_QUERY, NOT_STANDBY, OTHER = 0, 1, 2, 3, 4, 5, 64
INTERLOCK_OPEN, NOT_ARMED = 128, 129
STANDBY, ARMED, RUNNING = "STBY", "ARMED", "RUN"
ACTIONS = ("ARM", "DISARM", "START", "STOP")
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


class GeneratorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: str = "SIM-EMC 1.00"


class SimEmcGenerator(LineDevice):
    """Common protocol and run logic; subclasses list their SETTINGS and QUERIES and schedule their runs."""

    Params: ClassVar[type[BaseModel]] = GeneratorParams
    terminators = (b"\r\n", b"\n")
    reply_terminator = b"\r\n"
    SETTINGS: ClassVar[tuple[Setting, ...]] = ()
    QUERIES: ClassVar[dict[str, str]] = {}  # read-only query mnemonic -> method name (q_...)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = {s.mnemonic: s for s in self.SETTINGS}
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
        if mnemonic == "E?":
            code, self.error = self.error, NO_ERROR
            return str(code)
        if mnemonic.endswith("?"):
            return self._query(mnemonic[:-1])
        if mnemonic in ("REN", "GTL"):
            self._no_argument(argument)
            self.remote = mnemonic == "REN"
            return None
        if mnemonic not in ACTIONS and mnemonic not in self.settings:
            raise GeneratorFault(UNKNOWN)
        if not self.remote:
            raise GeneratorFault(NOT_REMOTE)
        if mnemonic in ACTIONS:
            self._no_argument(argument)
            getattr(self, f"_{mnemonic.lower()}")()
            return None
        if self.state == RUNNING:
            raise GeneratorFault(NOT_STANDBY)
        setting = self.settings[mnemonic]
        try:
            self.values[setting.attr] = setting.parse(argument)
        except ValueError:
            raise GeneratorFault(BAD_ARGUMENT) from None
        return None

    @staticmethod
    def _no_argument(argument: str) -> None:
        if argument:
            raise GeneratorFault(BAD_ARGUMENT)

    def _query(self, base: str) -> str:
        if base == "ID":
            return self.params.identity
        if base == "ST":
            return self.state
        if base == "TC":
            return "1" if self.complete else "0"
        if base == "HV":
            return "0" if self.state == STANDBY else "1"
        if base == "IL":
            return "0" if self.emc.interlock_open.get(self.name) else "1"
        if base in self.settings:
            setting = self.settings[base]
            return setting.show(self.values[setting.attr])
        if base in self.QUERIES:
            return getattr(self, self.QUERIES[base])()
        if base in ACTIONS or base in ("REN", "GTL", "E"):
            raise GeneratorFault(NO_QUERY)
        raise GeneratorFault(UNKNOWN)

    def error_reply(self, text: str, message: str | None) -> str | None:
        """An internal error (fault injection): latched in the register; E? reports it."""
        code = int(message) if message and message.isdigit() else OTHER
        if text.strip().upper() == "E?":
            return str(code)
        self.error = code
        return None

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


def _counted(device: SimEmcGenerator, t0_s: float, interval_s: float, count: int, event: Callable[[], None]) -> None:
    """`count` events `interval_s` apart from `t0_s`; the test completes with the last one."""

    def fire(index: int) -> None:
        event()
        if index + 1 >= count:
            device.complete_test()
        else:
            device.at(t0_s + (index + 1) * interval_s, lambda: fire(index + 1))

    fire(0)


class SurgeParams(GeneratorParams):
    identity: str = "SIM-SURGE 1.00"
    peak_deviation_pct: float = Field(1.0, ge=0, description="1-sigma scatter of the measured VPK/IPK")
    line_line_impedance_ohm: float = Field(2.0, gt=0, description="source impedance L-N (and IMP-OUT)")
    line_earth_impedance_ohm: float = Field(12.0, gt=0, description="source impedance L-PE, N-PE")


class SimSurgeGenerator(SimEmcGenerator):
    Params = SurgeParams
    SETTINGS = (
        number("VSET", "voltage_kv", 0.5, 0.1, 5.0),
        choice("POL", "polarity", "POS", "POS", "NEG"),
        choice("CPL", "coupling", "L-N", "L-N", "L-PE", "N-PE", "IMP-OUT"),
        number("PHA", "phase_angle_deg", 0, 0, 359),
        number("CNT", "count", 1, 1, 9999, integer=True),
        number("REP", "interval_s", 60, 1, 3600),
    )
    QUERIES = {"LC": "q_last_coupling", "VPK": "q_vpk", "IPK": "q_ipk", "PC": "q_pulses"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pulses = 0
        self.last: tuple[str, int, int] | None = None  # coupling, VPK, IPK of the last surge

    def kind(self) -> str:
        return "surge"

    def begin(self, t0_s: float) -> None:
        self.pulses = 0
        _counted(self, t0_s, self.v("interval_s"), self.v("count"), self._surge)

    def _surge(self) -> None:
        sign = 1 if self.v("polarity") == "POS" else -1
        coupling = self.v("coupling")
        scatter = 1 + float(self.rng.normal(0, self.params.peak_deviation_pct / 100))
        peak_v = sign * self.v("voltage_kv") * 1000 * scatter
        impedance = self.params.line_line_impedance_ohm if coupling in ("L-N", "IMP-OUT") \
            else self.params.line_earth_impedance_ohm
        self.pulses += 1
        self.last = (coupling, round(peak_v), round(peak_v / impedance))

    def q_last_coupling(self) -> str:
        return self.last[0] if self.last else self.v("coupling")

    def q_vpk(self) -> str:
        return str(self.last[1] if self.last else 0)

    def q_ipk(self) -> str:
        return str(self.last[2] if self.last else 0)

    def q_pulses(self) -> str:
        return str(self.pulses)


class BurstParams(GeneratorParams):
    identity: str = "SIM-BURST 1.00"


class SimBurstGenerator(SimEmcGenerator):
    Params = BurstParams
    SETTINGS = (
        number("VSET", "voltage_kv", 0.5, 0.1, 5.0),
        choice("POL", "polarity", "POS", "POS", "NEG"),
        number("FREQ", "repetition_khz", 5, 0.1, 1000),
        number("BLEN", "burst_length_ms", 15, 0.01, 1000),
        number("BPER", "burst_period_ms", 300, 1, 10000),
        choice("CPL", "coupling", "LNPE", "L", "N", "PE", "LN", "LPE", "NPE", "LNPE", "CLAMP"),
        number("TDUR", "duration_s", 60, 1, 86400),
    )

    def kind(self) -> str:
        return "burst"

    def begin(self, t0_s: float) -> None:
        self.at(t0_s + self.v("duration_s"), self.complete_test)


class EsdParams(GeneratorParams):
    identity: str = "SIM-ESD 1.00"


class SimEsdSimulator(SimEmcGenerator):
    Params = EsdParams
    SETTINGS = (
        choice("MODE", "discharge", "CONT", "CONT", "AIR"),
        number("VSET", "voltage_kv", 2.0, 0.2, 30.0),
        choice("POL", "polarity", "POS", "POS", "NEG"),
        number("CNT", "count", 10, 1, 9999, integer=True),
        number("INT", "interval_s", 1, 0.05, 60),
    )
    QUERIES = {"DC": "q_discharges"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.discharges = 0

    def kind(self) -> str:
        return "esd"

    def begin(self, t0_s: float) -> None:
        self.discharges = 0
        _counted(self, t0_s, self.v("interval_s"), self.v("count"), self._discharge)

    def _discharge(self) -> None:
        self.discharges += 1

    def q_discharges(self) -> str:
        return str(self.discharges)


class DipsParams(GeneratorParams):
    identity: str = "SIM-DIPS 1.00"


class SimDipsGenerator(SimEmcGenerator):
    Params = DipsParams
    SETTINGS = (
        choice("MODE", "mode", "DIP", "DIP", "VAR"),
        number("VNOM", "nominal_voltage_v", 230, 1, 300),
        choice("FNOM", "mains_frequency_hz", "50", "50", "60"),
        number("RES", "residual_pct", 0, 0, 100),
        number("DUR", "duration_cycles", 1, 0.5, 5000),
        number("PHA", "phase_angle_deg", 0, 0, 359),
        number("CNT", "count", 3, 1, 9999, integer=True),
        number("INT", "interval_s", 10, 0.1, 3600),
        number("VVAR", "variation_pct", 0, -20, 20),
    )
    QUERIES = {"VRMS": "q_vrms", "EC": "q_events"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events = 0
        self.in_dip = False

    def kind(self) -> str:
        return "voltage_variation" if self.v("mode") == "VAR" else "dips"

    def begin(self, t0_s: float) -> None:
        self.events, self.in_dip = 0, False
        if self.v("mode") == "VAR":
            return  # a steady variation lasts until STOP
        self._dip(t0_s, 0)

    def _dip(self, start_s: float, index: int) -> None:
        self.in_dip = True
        dip_s = self.v("duration_cycles") / float(self.v("mains_frequency_hz"))
        self.at(start_s + dip_s, lambda: self._dip_over(start_s, index))

    def _dip_over(self, start_s: float, index: int) -> None:
        self.in_dip = False
        self.events += 1
        if self.events >= self.v("count"):
            self.complete_test()
            return
        next_s = max(start_s + self.v("interval_s"), self.world.t_s)
        self.at(next_s, lambda: self._dip(next_s, index + 1))

    def finished(self) -> None:
        self.in_dip = False

    def q_vrms(self) -> str:
        nominal = self.v("nominal_voltage_v")
        if self.state == STANDBY:
            volts = 0.0
        elif self.state == RUNNING and self.v("mode") == "VAR":
            volts = nominal * (1 + self.v("variation_pct") / 100)
        elif self.in_dip:
            volts = nominal * self.v("residual_pct") / 100
        else:
            volts = nominal
        return f"{volts:.1f}"

    def q_events(self) -> str:
        return str(self.events)


class MagneticParams(GeneratorParams):
    identity: str = "SIM-MAGFIELD 1.00"


class SimMagneticFieldSource(SimEmcGenerator):
    Params = MagneticParams
    SETTINGS = (
        choice("MODE", "field", "STAT", "STAT", "AC"),
        number("BSET", "flux_density_mt", 0, 0, 500),
        number("HSET", "field_a_per_m", 0, 0, 1200),
        choice("FREQ", "frequency_hz", "50", "50", "60"),
        number("TDUR", "duration_s", 0, 0, 86400),
    )
    QUERIES = {"FLD": "q_field"}

    def kind(self) -> str:
        return "magnetic_field" if self.v("field") == "STAT" else "power_frequency_magnetic_field"

    def begin(self, t0_s: float) -> None:
        if self.v("duration_s") > 0:
            self.at(t0_s + self.v("duration_s"), self.complete_test)

    def q_field(self) -> str:
        if self.state != RUNNING:
            return "0"
        return f"{self.v('flux_density_mt') if self.v('field') == 'STAT' else self.v('field_a_per_m'):g}"
