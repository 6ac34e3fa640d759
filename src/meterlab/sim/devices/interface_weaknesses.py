"""Planted weaknesses of a simulated meter's communication interface, to test the interface fuzzer itself.

A fuzzer that finds nothing proves nothing unless it finds what is known to be there: each weakness is a
scenario setting of the simulated meter (`devices.<name>.weaknesses`), and a meter without any is the robust one.

    devices:
      modbus_meter:
        weaknesses: {crash_past_address: 40, crash_mode: hang, reboot_s: 5}

| setting | what the meter then does |
|---|---|
| `crash_past_address: N` | a read touching register N or above (any table) takes it down for `reboot_s` simulated seconds: `crash_mode: crash` drops the connection and ignores every request, `hang` keeps it and stays silent |
| `writable_protected: true` | a write (FC 6 / 16) to a protected, legally relevant register is executed instead of refused |
| `undocumented_function: true` | FC 22 (mask write register), which the meter does not document, writes any holding register, protected ones included |
| `accept_bad_crc: true` | (RTU framing) a frame with a wrong CRC is executed instead of ignored |
| `flood_requests: N` | more than N requests within `flood_window_s` take it down for `flood_recovery_s` (slow recovery after a flood) |

Times are simulated seconds on the world's clock, so a campaign on virtual time sees the same recovery times
on any host."""

from __future__ import annotations

from collections import deque
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MASK_WRITE = 22  # the function code the `undocumented_function` weakness executes


class Weaknesses(BaseModel):
    model_config = ConfigDict(extra="forbid")
    crash_past_address: int | None = Field(None, ge=0, le=0xFFFF, description="a read at or past it crashes the meter")
    crash_mode: Literal["crash", "hang"] = "crash"
    reboot_s: float = Field(5.0, gt=0, le=3600, description="simulated seconds down after a crash or hang")
    writable_protected: bool = False
    undocumented_function: bool = False
    accept_bad_crc: bool = Field(False, description="RTU framing: frames are taken whatever their CRC")
    flood_requests: int | None = Field(None, ge=1, description="requests within flood_window_s that take it down")
    flood_window_s: float = Field(1.0, gt=0)
    flood_recovery_s: float = Field(60.0, gt=0, le=3600)

    @property
    def any(self) -> bool:
        return (self.crash_past_address is not None or self.writable_protected or self.undocumented_function
                or self.accept_bad_crc or self.flood_requests is not None)


class InterfaceHealth:
    """Whether the meter's interface is up, on the world's clock: down until a reboot ends, how (crash or hang),
    and the recent requests a flood is counted from."""

    def __init__(self, weaknesses: Weaknesses):
        self.weaknesses = weaknesses
        self.down_until_s = float("-inf")
        self.down_mode: str = "crash"
        self._recent: deque[float] = deque()

    def state(self, now_s: float) -> str | None:
        """None when the interface answers; else `crash` or `hang`."""
        return self.down_mode if now_s < self.down_until_s else None

    def take_down(self, now_s: float, mode: str, for_s: float) -> None:
        self.down_mode = mode
        self.down_until_s = max(self.down_until_s, now_s + for_s)

    def on_request(self, now_s: float) -> None:
        """Count a request; a flood beyond the planted limit takes the interface down (a robust meter has none)."""
        limit = self.weaknesses.flood_requests
        if limit is None:
            return
        self._recent.append(now_s)
        while self._recent and self._recent[0] <= now_s - self.weaknesses.flood_window_s:
            self._recent.popleft()
        if len(self._recent) > limit:
            self._recent.clear()
            self.take_down(now_s, "hang", self.weaknesses.flood_recovery_s)

    def on_read(self, now_s: float, address: int, count: int) -> bool:
        """A read; True if it crashed the meter (it touched the planted address or past it)."""
        past = self.weaknesses.crash_past_address
        if past is None or address + count - 1 < past:
            return False
        self.take_down(now_s, self.weaknesses.crash_mode, self.weaknesses.reboot_s)
        return True
