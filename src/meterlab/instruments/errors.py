"""Exceptions raised while talking to instruments: each names the instrument, the command and the cause."""

from __future__ import annotations

from meterlab.errors import DeclarationError, MeterlabError


class InstrumentFailure(MeterlabError):
    """Talking to an instrument failed. Catch this to drive the bench to its safe state."""

    def __init__(self, instrument: str, command: str | None, message: str):
        self.instrument, self.command, self.message = instrument, command, message
        during = f" during {command!r}" if command else ""
        super().__init__(f"{instrument}{during}: {self.describe()}: {message}")

    def describe(self) -> str:
        return "failure"


class InstrumentError(InstrumentFailure):
    """The instrument itself reported an error (SCPI error queue, Modbus exception, MT-SICS ES/EL/I, ...)."""

    def describe(self) -> str:
        return "the instrument reported an error"


class InstrumentReplyError(InstrumentFailure):
    """The instrument answered something the driver cannot understand (wrong format, garbage)."""

    def describe(self) -> str:
        return "reply not understood"


class ImplausibleValue(InstrumentReplyError):
    """A well-formed reply whose value cannot be a measurement: NaN or infinite, outside the range the
    register map declares, or a totaliser that went backwards (not a roll-over). Never recorded.

    Not a transient fault for the run (the engine retries only the exact kinds it lists): a meter that sends
    implausible values is a finding, not a glitch to ride out."""

    def __init__(self, instrument: str, command: str | None, got: str, expected: str):
        self.got, self.expected = got, expected
        super().__init__(instrument, command, f"got {got}; expected {expected}")

    def describe(self) -> str:
        return "implausible value refused"


class InstrumentTimeout(InstrumentFailure):
    """The instrument did not answer within the timeout."""

    def __init__(self, instrument: str, command: str | None, timeout_s: float, message: str = ""):
        self.timeout_s = timeout_s
        text = f"no answer within {timeout_s:g} s" + (f" ({message})" if message else "")
        super().__init__(instrument, command, text)

    def describe(self) -> str:
        return "timeout"


class InstrumentConnectionError(InstrumentFailure):
    """The connection could not be opened, or was lost."""

    def describe(self) -> str:
        return "connection problem"


class InstrumentValueError(DeclarationError):
    """A value given to a driver is outside what the instrument accepts; nothing was sent."""

    def __init__(self, instrument: str, name: str, value: object, allowed: str):
        self.instrument = instrument
        super().__init__(f"{instrument}.{name}", value, f"{allowed} (nothing was sent)")
