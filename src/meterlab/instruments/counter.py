"""Universal counter / totalizer, Keysight 53220A/53230A: counts the pulses of meters under test.

Three ways to totalize: timed (`CONF:TOT:TIM <gate>,(@ch)`, then INIT + FETC? or READ?), externally gated
(gate source EXT, the gate input wired to the diverter or start/stop signal: counts while the gate is
active, for flying start/stop), continuous (`CONF:TOT:CONT`, INIT starts, ABOR stops, DATA:LAST? reads).
Replies look like `+1.21510000000000E+004`; 9.91E+37 means no valid measurement, and the error queue
says why. [U] the exact continuous-mode semantics (reference sheet 3.1)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from meterlab.instruments.base import ScpiInstrument, control, measurement
from meterlab.instruments.validators import strict_discrete_set, strict_range

INVALID_READING = 9.9e37  # the 53230A answers 9.91E+37 when it has no valid result
OPERATION_MEASURING = 1 << 4  # STAT:OPER:COND? bit 4


class CounterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: int = Field(1, ge=1, le=2, description="input that counts the meter's pulses")


class Keysight53230A(ScpiInstrument):
    Options = CounterOptions
    terminals = r"ch[12]|gate"  # wiring: ch1/ch2 pulse inputs, gate = the external gate input
    read_termination = "\n"
    write_termination = "\n"

    gate_time_s = control(
        "SENS:TOT:GATE:TIME?", "SENS:TOT:GATE:TIME %.12g",
        "Gate time of a timed totalize, in seconds (1 us .. 1000 s on a 53230A).",
        validator=strict_range, values=(1e-6, 1000.0),
    )
    gate_source = control(
        "SENS:TOT:GATE:SOUR?", "SENS:TOT:GATE:SOUR %s",
        "What opens the gate: 'time' (gate time) or 'external' (the gate input).",
        validator=strict_discrete_set, values={"time": "TIME", "external": "EXT"}, map_values=True, cast=str,
    )
    gate_polarity = control(
        "SENS:TOT:GATE:POL?", "SENS:TOT:GATE:POL %s",
        "Level of the external gate input that counts: 'positive' (high) or 'negative' (low).",
        validator=strict_discrete_set, values={"positive": "POS", "negative": "NEG"}, map_values=True, cast=str,
    )
    measuring = measurement(
        "STAT:OPER:COND?", "True while a measurement is armed or running.",
        cast=lambda text: int(float(text)), get_process=lambda bits: bool(bits & OPERATION_MEASURING),
    )

    @property
    def channel(self) -> int:
        return self.options.channel  # type: ignore[attr-defined]

    # -- configuration --------------------------------------------------------------------------------------
    def configure_timed_totalize(self, gate_time_s: float) -> None:
        value = type(self).gate_time_s.to_instrument(self, gate_time_s)
        self.write(f"CONF:TOT:TIM {value:.12g},(@{self.channel})")

    def configure_gated_totalize(self, polarity: str = "positive") -> None:
        """Count while the external gate input is active (flying start/stop on the diverter)."""
        level = type(self).gate_polarity.to_instrument(self, polarity)
        self.write(f"CONF:TOT:TIM 1,(@{self.channel})")
        self.write("SENS:TOT:GATE:SOUR EXT")
        self.write(f"SENS:TOT:GATE:POL {level}")

    def configure_continuous_totalize(self) -> None:
        self.write(f"CONF:TOT:CONT (@{self.channel})")

    # -- measuring ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Arm the configured totalize (INIT:IMM); return once the counter has taken the command.

        INIT has no reply, and the next step (switching the diverter) goes through another instrument:
        the status query makes sure the counter is armed before the gate can open."""
        self.write("INIT:IMM")
        self.ask("STAT:OPER:COND?")

    def fetch_count(self, *, timeout_s: float | None = None) -> int:
        """The count of the measurement started by `start()`; blocks until its gate closes."""
        return self._count("FETC?", timeout_s)

    def read_count(self, *, timeout_s: float | None = None) -> int:
        """Start a measurement and return its count (READ? = INIT + FETC?)."""
        return self._count("READ?", timeout_s)

    def running_count(self) -> int:
        """The count so far of a continuous totalize."""
        return self._count("DATA:LAST?", None)

    def abort(self) -> None:
        self.write("ABOR")

    def _count(self, command: str, timeout_s: float | None) -> int:
        reply = self.ask(command, timeout_s=timeout_s)
        try:
            value = float(reply)
        except ValueError:
            raise self.reply_error(command, f"not a count: {reply!r}") from None
        if value >= INVALID_READING:
            errors = self.read_error_queue()
            why = "; ".join(f'{code},"{message}"' for code, message in errors) or "no error queued"
            raise self.instrument_error(command, f"no valid measurement (9.91E+37): {why}")
        return round(value)

    def safe_state(self) -> None:
        """A counter drives nothing: stop any measurement so a stale count cannot be fetched later."""
        self.abort()
