"""Pump frequency inverter, Siemens SINAMICS V20 over Modbus: control word, speed setpoint, status, speed.

Register table (reference sheet 3.7; protocol address = register number - 40001):
STW1 40100 (control word), HSW 40101 (speed setpoint, 0x4000 = 100 % of the reference speed P2000),
ZSW 40110 (status word), HIW 40111 (actual speed, same scaling). [U] the status addresses, the scaling
and the status bits: check them on the drive (P2000, P2010..P2014) before the first run. Another make
of drive gets its own class with its own table."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from meterlab.instruments.base import ModbusInstrument, register_control, register_measurement
from meterlab.instruments.validators import strict_discrete_set, strict_range

STW1, HSW, ZSW, HIW = 99, 100, 109, 110
FULL_SCALE = 0x4000  # setpoint/actual value of 100 % of the reference speed
CONTROL_WORDS = {"run": 0x047F, "stop": 0x047E, "acknowledge": 0x04FE}  # run forward, OFF1, fault ack
STATUS_BITS = {0: "ready to switch on", 1: "ready", 2: "running", 3: "fault", 7: "warning"}
RUNNING, FAULT = 1 << 2, 1 << 3


def _pct_to_raw(pct: float) -> int:
    return round(pct * FULL_SCALE / 100)


def _raw_to_pct(raw: int) -> float:
    return raw * 100 / FULL_SCALE


class PumpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_flowrate_m3h: float | None = Field(
        None, gt=0, description="flow of this rig at 100 % speed (from commissioning): the first guess when "
                                "setting a flow; the rig then trims the speed on the measured flow")


class SinamicsV20(ModbusInstrument):
    Options = PumpOptions
    terminals = r"motor"  # wiring: motor = the pump it drives
    default_timeout_s = 2.0

    control_word = register_control(
        STW1, "STW1: 'run' (0x047F), 'stop' (0x047E, OFF1 ramp down) or 'acknowledge' (0x04FE, fault ack).",
        validator=strict_discrete_set, values=CONTROL_WORDS, map_values=True,
    )
    speed_setpoint_pct = register_control(
        HSW, "HSW: speed setpoint in % of the reference speed (0 .. 100).",
        validator=strict_range, values=(0.0, 100.0), set_process=_pct_to_raw, get_process=_raw_to_pct,
    )
    status_word = register_measurement(ZSW, "ZSW1 status word (see STATUS_BITS).")
    actual_speed_pct = register_measurement(
        HIW, "HIW: actual speed in % of the reference speed.", data_type="int16", get_process=_raw_to_pct
    )

    def identify(self) -> str:
        status = self.status_word
        flags = ", ".join(name for bit, name in STATUS_BITS.items() if status & (1 << bit)) or "no status bits"
        return f"SINAMICS V20 at {self.transport.endpoint} unit {self.transport.unit}: ZSW 0x{status:04X} ({flags})"

    def run(self, speed_pct: float) -> None:
        """Set the speed, then start (the setpoint is checked before anything is sent)."""
        self.speed_setpoint_pct = speed_pct
        self.control_word = "run"

    def stop(self) -> None:
        self.control_word = "stop"

    def acknowledge_fault(self) -> None:
        self.control_word = "acknowledge"
        self.control_word = "stop"  # the acknowledge acts on the edge; leave the drive in a defined state

    @property
    def running(self) -> bool:
        return bool(self.status_word & RUNNING)

    @property
    def fault(self) -> bool:
        return bool(self.status_word & FAULT)

    def safe_state(self) -> None:
        """Pump stopped, setpoint zero."""
        self.stop()
        self.speed_setpoint_pct = 0.0
