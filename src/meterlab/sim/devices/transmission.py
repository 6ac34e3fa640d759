"""What a simulated meter's communication interface does while a disturbance is applied to the meter: the
interface settings of its susceptibilities (scenario `susceptibility.<kind>`: drop_fraction, silent,
freeze, wrong_value_pct; corrupt_telegrams is the older `effect`, handled by the M-Bus gateway). The M-Bus
gateway and the Modbus meter ask `effects(meter)` for each reply and keep one `TransmittedVolume` per meter,
so a frozen register stays at the value it had when the disturbance began. An immune meter has none of the
settings: every function here then leaves the reply as it is."""

from __future__ import annotations

from dataclasses import dataclass

from meterlab.sim.physics.meters import SimulatedMeter


@dataclass(frozen=True)
class Effects:
    drop_fraction: float = 0.0
    silent: bool = False
    freeze: bool = False
    wrong_value_pct: float = 0.0


def effects(meter: SimulatedMeter) -> Effects:
    """The interface effects of every disturbance active on the meter now (the strongest of each)."""
    active = list(meter.disturbances.values())
    if not active:
        return Effects()
    return Effects(drop_fraction=max(d.drop_fraction for d in active), silent=any(d.silent for d in active),
                   freeze=any(d.freeze for d in active),
                   wrong_value_pct=sum(d.wrong_value_pct for d in active))


class TransmittedVolume:
    """The volume a meter's interface sends: its register, frozen or off while disturbed."""

    def __init__(self) -> None:
        self._frozen_l: float | None = None

    def value_l(self, meter: SimulatedMeter, register_l: float) -> float:
        now = effects(meter)
        if not now.freeze:
            self._frozen_l = None
        elif self._frozen_l is None:
            self._frozen_l = register_l  # the value when the disturbance began, sent until it ends
        value_l = self._frozen_l if self._frozen_l is not None else register_l
        return value_l * (1 + now.wrong_value_pct / 100)
