"""The one table of instrument families: bench `driver:` key -> driver class and simulated device class.

Adding a family = one `DriverEntry` line here (plus its modules). Classes are named by import path and
loaded on first use, so reading a bench file does not import every driver, and no simulator code is
imported on a real bench."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meterlab.instruments.base import Instrument


@dataclass(frozen=True)
class DriverEntry:
    key: str  # the bench file's `driver:` value
    driver: str  # "package.module:Class" of the Instrument subclass
    sim_device: str | None  # "package.module:Class" of the simulated device, None if not simulated
    summary: str


ENTRIES: tuple[DriverEntry, ...] = (
    DriverEntry("keysight_53230a", "meterlab.instruments.counter:Keysight53230A",
                "meterlab.sim.devices.counter:SimKeysight53230A",
                "Keysight 53220A/53230A universal counter: timed, gated and continuous totalize (SCPI)"),
    DriverEntry("mettler_toledo_sics", "meterlab.instruments.scale:MettlerToledoSics",
                "meterlab.sim.devices.scale:SimMettlerToledoSics",
                "Mettler Toledo balance or weighing terminal, MT-SICS level 0/1"),
    DriverEntry("sinamics_v20", "meterlab.instruments.pump:SinamicsV20",
                "meterlab.sim.devices.pump:SimSinamicsV20",
                "Siemens SINAMICS V20 pump frequency inverter (Modbus: STW1/HSW, ZSW/HIW)"),
    DriverEntry("keysight_daq970a_dio", "meterlab.instruments.digital_io:Daq970aDigitalIO",
                "meterlab.sim.devices.digital_io:SimDaq970aDigitalIO",
                "Keysight DAQ970A/34970A with a DAQM907A/34907A digital I/O module (SCPI)"),
    DriverEntry("adam_6050", "meterlab.instruments.digital_io:Adam6050",
                "meterlab.sim.devices.digital_io:SimAdam6050",
                "Advantech ADAM-6050, 12 DI / 6 DO over Modbus TCP"),
)
REGISTRY: dict[str, DriverEntry] = {entry.key: entry for entry in ENTRIES}


def driver_keys() -> list[str]:
    return sorted(REGISTRY)


def entry(key: str) -> DriverEntry:
    try:
        return REGISTRY[key]
    except KeyError:
        raise KeyError(f"unknown driver {key!r}; known drivers: {', '.join(driver_keys())}") from None


def load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def driver_class(key: str) -> type[Instrument]:
    return load(entry(key).driver)


def sim_device_class(key: str) -> type:
    sim_device = entry(key).sim_device
    if sim_device is None:
        raise KeyError(f"driver {key!r} has no simulated device")
    return load(sim_device)
