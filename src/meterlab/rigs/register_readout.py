"""Reading the meters under test by their registers (M-Bus gateway, Modbus meter, the operator), for the
water rig's standing starts: where each register is read (from the bench wiring), and reading them at rest
(a bus register counts once it repeats; a meter's declared refresh time is waited for first). A bus read keeps
the reading in the meter-reading format (`<phase>_reading`, instruments/readings), which an export writes out.

`RegisterReadout` is a mixin for `rig.WaterRig` (it uses `bench`, `clock`, `wait` and the `_readouts` that
`WaterRig.set_meters` builds from the meter declarations); `bus_reader` reads one bus register, for the gas line's
watch at rest too (its meters' declared interfaces)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meterlab.errors import RigError
from meterlab.rigs.base import Guard


class RegisterReadout:
    """Where and how the register of each meter position is read."""

    bench: Any
    clock: Any
    wait: Callable[..., None]

    def _register_source(self, position: int, kind: str) -> dict:
        """Where the register of the meter at `position` is read: M-Bus gateway and address, Modbus meter, or
        the operator (manual; `register` is its older name)."""
        meter = f"meter{position}"
        if kind == "mbus":
            for name in self.bench.bench.by_role("mut_mbus_gateway"):
                gateway = self.bench[name]
                if any(w.split(".")[0] == meter for w in gateway.wired_addresses.values()):
                    return {"readout": "mbus", "driver": gateway, "address": gateway.address_of(meter)}
            raise RigError(f"meter position {position} is declared readout: mbus, but no M-Bus gateway of the bench "
                           f"(role mut_mbus_gateway) has it wired: add `addr<N>: {meter}` to the gateway's wiring")
        if kind == "modbus":
            for name in self.bench.bench.by_role("mut_modbus"):
                driver = self.bench[name]
                if driver.wiring.get("meter", "").split(".")[0] == meter:
                    return {"readout": "modbus", "driver": driver}
            raise RigError(f"meter position {position} is declared readout: modbus, but no Modbus meter of the bench "
                           f"(role mut_modbus) is wired to it: add an instrument with `wiring: {{meter: {meter}}}`")
        if kind in ("manual", "register"):
            return {"readout": "manual"}
        raise RigError(f"meter position {position}: readout {kind!r} is unknown (pulses, mbus, modbus or manual)")

    def _register_readers(self, serials: list[str], registers) -> dict[str, tuple[dict, Callable[[str], dict]]]:
        """serial -> (source, read(phase)) for every meter read by its register."""
        readers = {}
        for position, source in getattr(self, "_readouts", {}).items():
            if position > len(serials):
                continue
            serial = serials[position - 1]
            if source["readout"] == "manual" and registers is None:
                raise RigError(f"meter {serial} is read by hand (readout: manual) but this measurement has no "
                               f"operator to type its register")
            readers[serial] = source, self._reader(serial, source, registers)
        return readers

    def _reader(self, serial: str, source: dict, registers) -> Callable[[str], dict]:
        if source["readout"] == "manual":
            return lambda phase: {"readout": "manual", f"{phase}_l": registers(serial, phase),
                                  f"{phase}_s": self.clock.now()}
        return bus_reader(self.clock, source)

    def _read_registers(self, readers: dict[str, tuple[dict, Callable[[str], dict]]], phase: str,
                        guard: Guard) -> dict[str, dict]:
        """Every register at rest. A bus register is read once the meters have refreshed it (their declared
        register_update_s after rest) and counts once it repeats a moment later; the operator is asked once."""
        by_bus = [source["update_s"] for source, _ in readers.values() if source["readout"] != "manual"]
        if by_bus and max(by_bus) > 0:
            self.wait(max(by_bus), guard=guard)
        readings = {}
        for serial, (source, read) in readers.items():
            first = read(phase)
            if source["readout"] != "manual":
                first = self._settled(serial, read, first, phase, guard)
            readings[serial] = first
        return readings

    def _settled(self, serial: str, read: Callable[[str], dict], first: dict, phase: str, guard: Guard) -> dict:
        key, reads, recheck_s = f"{phase}_l", 5, 2.0  # a few seconds: a battery meter's register refresh
        for _ in range(reads):
            self.wait(recheck_s, guard=guard)
            again = read(phase)
            if again[key] == first[key]:
                return again
            first = again
        raise RigError(f"the register of {serial} still changes with the flow stopped ({first[key]:g} L after "
                       f"{reads} reads {recheck_s:g} s apart): a leak past the start valve?")


def bus_reader(clock: Any, source: dict) -> Callable[[str], dict]:
    """read(phase) of a register read over a bus: `source` names the `readout` (mbus or modbus), its `driver` and,
    for M-Bus, the meter's `address`. The reading keeps the meter-reading format (`<phase>_reading`)."""
    driver = source["driver"]
    if source["readout"] == "mbus":
        def read(phase: str) -> dict:
            reading = driver.read_meter_reading(source["address"])
            return {"readout": "mbus", "gateway": driver.name, "address": source["address"],
                    "identification": reading["meter"]["identification"], "resolution_l": reading["resolution"],
                    f"{phase}_l": reading["value"], f"{phase}_s": clock.now(), f"{phase}_reading": reading}
        return read

    def read_modbus(phase: str) -> dict:
        reading = driver.read_meter_reading()
        return {"readout": "modbus", "instrument": driver.name, "model": driver.options.model,
                "resolution_l": reading["resolution"], f"{phase}_l": reading["value"],
                f"{phase}_s": clock.now(), f"{phase}_reading": reading}
    return read_modbus
