"""Simulated Keysight 53230A totalizer: counts the pulses wired to its inputs from the physics model.

Timed gate: the gate closes as a world event at exactly start + gate time. External gate: the gate input
follows a rig signal (e.g. the diverter), and edges are handled as they happen in the world. FETC? blocks
until the measurement is complete, like the instrument."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from meterlab.sim.servers.scpi import (
    ILLEGAL_PARAMETER,
    ScpiCall,
    ScpiDevice,
    ScpiError,
    choice,
    number,
    parse_channels,
    scpi_float,
)
from meterlab.sim.world import Scheduled

GATE_RANGE_S = (1e-6, 1000.0)  # 53230A
INIT_IGNORED = (-213, "Init ignored")
DATA_STALE = (-230, "Data corrupt or stale")
MEASURING_BIT = 1 << 4


class CounterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: str = "Keysight Technologies,53230A,MY59000001,A.02.14-02.40-02.14-00.52-04-01"
    max_fetch_wait_real_s: float = Field(60.0, gt=0, description="FETC? gives up (9.91E+37) after this")


class SimKeysight53230A(ScpiDevice):
    Params = CounterParams

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.identity = self.params.identity
        self._state = "idle"  # idle | armed (waiting for the external gate) | counting | done
        self._start_count = 0
        self._result: int | None = None
        self._timer: Scheduled | None = None
        self.reset()
        gate = self.signal("gate")
        if gate:
            self.world.on(gate, self._gate_changed)
        self._add_commands()

    def reset(self) -> None:
        with self.world.lock:
            self.function = "TIM"  # TIM | CONT
            self.gate_time_s = 0.1
            self.gate_source = "TIME"
            self.gate_polarity = "NEG"  # the *RST value per the programming guide
            self.channel = 1
            self._abort()
            self._result = None

    def _add_commands(self) -> None:
        add = self.scpi.add
        add("CONFigure:TOTalize:TIMed", self._conf_timed)
        add("CONFigure:TOTalize:CONTinuous", self._conf_continuous)
        add("CONFigure?", lambda call: f'"TOT:{self.function} {scpi_float(self.gate_time_s)},(@{self.channel})"')
        add("[SENSe:]TOTalize:GATE:TIME", self._set_gate_time)
        add("[SENSe:]TOTalize:GATE:TIME?", lambda call: scpi_float(self.gate_time_s))
        add("[SENSe:]TOTalize:GATE:SOURce", self._set_gate_source)
        add("[SENSe:]TOTalize:GATE:SOURce?", lambda call: self.gate_source)
        add("[SENSe:]TOTalize:GATE:POLarity", self._set_polarity)
        add("[SENSe:]TOTalize:GATE:POLarity?", lambda call: self.gate_polarity)
        add("INITiate[:IMMediate]", self._init)
        add("FETCh?", self._fetch)
        add("READ?", self._read)
        add("ABORt", lambda call: self._locked_abort())
        add("DATA:LAST?", self._last)
        add("STATus:OPERation:CONDition?", lambda call: str(MEASURING_BIT if self._state in ("armed", "counting") else 0))

    # -- configuration --------------------------------------------------------------------------------------
    def _channel(self, call: ScpiCall, index: int) -> int:
        if len(call.args) <= index:
            return self.channel
        channels = parse_channels(call.args[index])
        if len(channels) != 1 or channels[0] not in (1, 2):
            raise ScpiError(*ILLEGAL_PARAMETER)
        return channels[0]

    def _conf_timed(self, call: ScpiCall) -> None:
        gate = number(call, 0, minimum=GATE_RANGE_S[0], maximum=GATE_RANGE_S[1]) if call.args else 0.1
        channel = self._channel(call, 1)
        with self.world.now():
            self._abort()
            self.function, self.gate_time_s, self.gate_source, self.channel = "TIM", gate, "TIME", channel

    def _conf_continuous(self, call: ScpiCall) -> None:
        channel = self._channel(call, 0)
        with self.world.now():
            self._abort()
            self.function, self.channel = "CONT", channel

    def _set_gate_time(self, call: ScpiCall) -> None:
        self.gate_time_s = number(call, minimum=GATE_RANGE_S[0], maximum=GATE_RANGE_S[1])

    def _set_gate_source(self, call: ScpiCall) -> None:
        self.gate_source = choice(call, {"TIME": "TIME", "EXTernal": "EXT"})

    def _set_polarity(self, call: ScpiCall) -> None:
        self.gate_polarity = choice(call, {"POSitive": "POS", "NEGative": "NEG"})

    # -- measuring ------------------------------------------------------------------------------------------
    def _pulses(self) -> int:
        """Pulses seen so far on the configured input (0 if nothing is wired to it)."""
        source = self.signal(f"ch{self.channel}")
        return int(self.world.signals[source].read()) if source in self.world.signals else 0

    def _gate_active(self, value: object) -> bool:
        return bool(value) == (self.gate_polarity == "POS")

    def _init(self, call: ScpiCall) -> None:
        with self.world.now() as world:
            if self._state in ("armed", "counting"):
                raise ScpiError(*INIT_IGNORED)
            self._result = None
            if self.function == "TIM" and self.gate_source == "EXT":
                self._state = "armed"  # counting starts at the next opening edge of the gate
                return
            world.emit("measurement_start")
            self._start_count, self._state = self._pulses(), "counting"
            if self.function == "TIM":
                self._timer = world.schedule(world.t_s + self.gate_time_s, self._close_gate)

    def _gate_changed(self, value: object = None, **_: object) -> None:
        """World listener on the gate signal (called under the world lock at the edge's simulated time)."""
        if self.function != "TIM" or self.gate_source != "EXT":
            return
        if self._state == "armed" and self._gate_active(value):
            self._start_count, self._state = self._pulses(), "counting"
        elif self._state == "counting" and not self._gate_active(value):
            self._close_gate()

    def _close_gate(self) -> None:
        self._result, self._state, self._timer = self._pulses() - self._start_count, "done", None

    def _abort(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.function == "CONT" and self._state == "counting":
            self._close_gate()  # a continuous totalize keeps its count when stopped
        elif self._state != "done":
            self._state = "idle"

    def _locked_abort(self) -> None:
        with self.world.now():
            self._abort()

    def _fetch(self, call: ScpiCall) -> str:
        if self.function == "CONT":
            return self._last(call)
        if self._state == "idle" and self._result is None:
            return self._stale()
        done = self.world.wait_until(lambda: self._state == "done", timeout_real_s=self.params.max_fetch_wait_real_s)
        return scpi_float(self._result) if done and self._result is not None else self.invalid_reply

    def _read(self, call: ScpiCall) -> str:
        self._init(call)
        return self._fetch(call)

    def _last(self, call: ScpiCall) -> str:
        with self.world.now():
            if self._state == "counting" and self.function == "CONT":
                return scpi_float(self._pulses() - self._start_count)
            return self._stale() if self._result is None else scpi_float(self._result)

    def _stale(self) -> str:
        """No measurement to return: the instrument queues -230 and answers 9.91E+37."""
        self.errors.push(*DATA_STALE)
        return self.invalid_reply
