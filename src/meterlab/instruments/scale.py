"""Weighing scale of a gravimetric rig: Mettler Toledo balances and terminals, MT-SICS level 0/1, CRLF.

Replies are `<command> <status> <value> <unit>`, e.g. `S S     100.00 kg`. The instrument answers its
errors in-line: `ES` (syntax), `ET` (transmission), `EL` (logical); status `I` (cannot execute now, e.g.
not stable), `L` (parameter refused), `+`/`-` (over/underload). `check_reply` turns them into
InstrumentError."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from meterlab.instruments.base import MessageInstrument
from meterlab.instruments.errors import InstrumentValueError

KG_PER_UNIT = {"mg": 1e-6, "g": 1e-3, "kg": 1.0, "t": 1000.0}
GENERAL_ERRORS = {
    "ES": "syntax error: the command was not understood",
    "ET": "transmission error",
    "EL": "logical error: the command cannot be executed",
}
STATUS_ERRORS = {
    "I": "cannot execute now (busy, or the weight is not stable)",
    "L": "parameter refused (out of range or not allowed)",
    "+": "overload: the load is above the weighing range",
    "-": "underload: the load is below the weighing range",
}


class ScaleOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capacity_kg: float | None = Field(None, gt=0, description="refuse tare presets above this")


class MettlerToledoSics(MessageInstrument):
    Options = ScaleOptions
    terminals = r"load"  # wiring: load = what stands on the scale (a tank)
    read_termination = "\r\n"
    write_termination = "\r\n"
    default_timeout_s = 15.0  # `S` waits for a stable weight

    def identify(self) -> str:
        model = self._quoted("I2")
        serial = self._quoted("I4")
        return f"Mettler Toledo {model}, S/N {serial}"

    def _quoted(self, command: str) -> str:
        reply = self.ask(command)
        head, _, text = reply.partition('"')
        if head.split()[:2] != [command, "A"]:
            raise self.reply_error(command, f"unexpected reply {reply!r}")
        return text.rstrip('"')

    # -- weighing -------------------------------------------------------------------------------------------
    def weight_kg(self, *, timeout_s: float | None = None) -> float:
        """The stable net weight (`S`). InstrumentError if it does not settle within the scale's own timeout."""
        value, _ = self._weight("S", timeout_s)
        return value

    def weight_immediate_kg(self) -> tuple[float, bool]:
        """The net weight now (`SI`) and whether it is stable."""
        return self._weight("SI", None)

    def zero(self) -> None:
        self._acknowledged("Z", "A")

    def tare(self) -> float:
        """Tare with the present (stable) load; returns the tare weight."""
        value, _ = self._weight("T", None, echo="T")
        return value

    def tare_kg(self) -> float:
        reply = self.ask("TA?")
        return self._parse_value("TA?", reply, "TA", {"A"})

    def preset_tare(self, tare_kg: float) -> None:
        capacity = self.options.capacity_kg  # type: ignore[attr-defined]
        if not (isinstance(tare_kg, int | float) and 0 <= tare_kg and (capacity is None or tare_kg <= capacity)):
            limit = f"0 .. {capacity:g} kg" if capacity else ">= 0 kg"
            raise InstrumentValueError(self.name, "tare_kg", tare_kg, limit)
        self._acknowledged(f"TA {tare_kg:.6g} kg", "A", echo="TA")

    def clear_tare(self) -> None:
        self._acknowledged("TAC", "A")

    def reset(self) -> str:
        """`@`: cancel everything, back to the power-on state; returns the serial number it reports."""
        reply = self.ask("@")
        return reply.partition('"')[2].rstrip('"')

    # -- replies --------------------------------------------------------------------------------------------
    def _weight(self, command: str, timeout_s: float | None, echo: str = "S") -> tuple[float, bool]:
        reply = self.ask(command, timeout_s=timeout_s)
        status = reply.split()[1] if len(reply.split()) > 1 else ""
        return self._parse_value(command, reply, echo, {"S", "D"}), status == "S"

    def _parse_value(self, command: str, reply: str, echo: str, statuses: set[str]) -> float:
        parts = reply.split()
        if len(parts) != 4 or parts[0] != echo or parts[1] not in statuses or parts[3] not in KG_PER_UNIT:
            raise self.reply_error(command, f"unexpected reply {reply!r}")
        try:
            return float(parts[2]) * KG_PER_UNIT[parts[3]]
        except ValueError:
            raise self.reply_error(command, f"not a weight: {reply!r}") from None

    def _acknowledged(self, command: str, status: str, echo: str | None = None) -> None:
        reply = self.ask(command)
        if reply.split()[:2] != [echo or command, status]:
            raise self.reply_error(command, f"unexpected reply {reply!r}")

    def check_reply(self, command: str, reply: str) -> str:
        text = reply.strip()
        if text in GENERAL_ERRORS:
            raise self.instrument_error(command, f"{text}: {GENERAL_ERRORS[text]}")
        parts = text.split()
        if len(parts) >= 2 and parts[1] in STATUS_ERRORS:
            raise self.instrument_error(command, f"{text}: {STATUS_ERRORS[parts[1]]}")
        return reply

    def safe_state(self) -> None:
        """A scale drives nothing: there is nothing to make safe."""
