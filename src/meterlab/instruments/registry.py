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
    DriverEntry("fluke_1524", "meterlab.instruments.thermometer:Fluke1524",
                "meterlab.sim.devices.thermometer:SimFluke1524",
                "Fluke/Hart 1524 (2 ch) or 1529 Chub-E4 (4 ch) reference thermometer readout (SCPI-like)"),
    DriverEntry("druck_pace", "meterlab.instruments.pressure:DruckPace", "meterlab.sim.devices.pressure:SimDruckPace",
                "Druck (GE) PACE 1000/5000/6000 pressure indicator/controller (SCPI with header echo)"),
    DriverEntry("julabo_circulator", "meterlab.instruments.circulator:JulaboCirculator",
                "meterlab.sim.devices.circulator:SimJulaboCirculator",
                "JULABO heater/chiller circulator, water temperature conditioning (JULABO interface commands)"),
    DriverEntry("promass_modbus", "meterlab.instruments.master_meter:PromassMasterMeter",
                "meterlab.sim.devices.master_meter:SimPromassMasterMeter",
                "E+H Promass 83/84 master meter over Modbus (flow, density, temperature, totalizer, condition)"),
    DriverEntry("gas_master_meter_modbus", "meterlab.instruments.master_meter:GasMasterMeter",
                "meterlab.sim.devices.master_meter:SimGasMasterMeter",
                "Gas master meter behind a Modbus flow computer (flow, p, T, totalizer; table per model)"),
    DriverEntry("modbus_transmitter", "meterlab.instruments.transmitter:ModbusTransmitter",
                "meterlab.sim.devices.transmitter:SimModbusTransmitter",
                "Pressure/temperature transmitter or barometer with a Modbus float register (layout in options)"),
    DriverEntry("espec", "meterlab.instruments.chamber:EspecChamber", "meterlab.sim.devices.chamber:SimEspecChamber",
                "ESPEC climate chamber controller (P-300/SCP-220/PR-3J), ASCII over TCP port 57732"),
    DriverEntry("watlow_f4", "meterlab.instruments.chamber:WatlowF4Chamber", "meterlab.sim.devices.chamber:SimWatlowF4",
                "Climate chamber with a Watlow F4 ramp/soak controller (Modbus, scaled 16-bit registers)"),
    DriverEntry("rs_smb100a", "meterlab.instruments.rf:RohdeSchwarzSmb100a", "meterlab.sim.devices.rf:SimSmb100a",
                "R&S SMB100A/SMC100A RF signal generator: frequency, level, AM, RF output (SCPI)"),
    DriverEntry("rs_nrp", "meterlab.instruments.rf:RohdeSchwarzNrp", "meterlab.sim.devices.rf:SimNrp",
                "R&S NRP power sensor (NRPxxS(N)): average power, W read, dBm returned (SCPI)"),
    DriverEntry("rf_amplifier", "meterlab.instruments.rf:RfAmplifier", "meterlab.sim.devices.rf:SimCbaAmplifier",
                "RF power amplifier, mnemonics from a table per model (built-in: Teseq/AMETEK CBA RFON/RFOF)"),
    DriverEntry("ets_hi6100", "meterlab.instruments.rf:EtsLindgrenHi6100", "meterlab.sim.devices.rf:SimHi6100Probe",
                "ETS-Lindgren HI-61xx isotropic field probe (x/y/z/composite V/m, battery) via its fibre link"),
    DriverEntry("emc_surge", "meterlab.instruments.emc.surge:SurgeGenerator",
                "meterlab.sim.devices.emc.surge:SimSurgeGenerator",
                "Surge generator, IEC 61000-4-5 (model syntax from an adapter table; built-in: generic TRA3000-style)"),
    DriverEntry("emc_burst", "meterlab.instruments.emc.burst:BurstGenerator",
                "meterlab.sim.devices.emc.burst:SimBurstGenerator",
                "Burst/EFT generator, IEC 61000-4-4 (adapter table; built-in: generic TRA3000-style)"),
    DriverEntry("emc_esd", "meterlab.instruments.emc.esd:EsdSimulator",
                "meterlab.sim.devices.emc.esd:SimEsdSimulator",
                "ESD simulator, IEC 61000-4-2 (adapter table; built-in: generic TRA3000-style)"),
    DriverEntry("emc_dips", "meterlab.instruments.emc.dips:DipsGenerator",
                "meterlab.sim.devices.emc.dips:SimDipsGenerator",
                "Voltage dips/interruptions (61000-4-11) and variation source (adapter table; built-in: generic)"),
    DriverEntry("emc_magnetic_field", "meterlab.instruments.emc.magnetic:MagneticFieldSource",
                "meterlab.sim.devices.emc.magnetic:SimMagneticFieldSource",
                "Magnetic field source, static and power frequency (adapter table; built-in: generic)"),
    DriverEntry("shaker_controller", "meterlab.instruments.vibration:ShakerController",
                "meterlab.sim.devices.vibration:SimShakerController",
                "Vibration test system (shaker controller): sine, sweep, random by ASD, per axis (meterlab's own set)"),
    DriverEntry("shock_tester", "meterlab.instruments.shock:ShockTester",
                "meterlab.sim.devices.shock:SimShockTester",
                "Mechanical shock / pendulum impact tester: half-sine impulse, interlock (meterlab's own set)"),
    DriverEntry("mbus_gateway", "meterlab.instruments.meter_readout:MBusMeter",
                "meterlab.sim.devices.meter_readout:SimMBusGateway",
                "Meters under test on wired M-Bus (EN 13757-2/-3) behind a transparent TCP or serial gateway"),
    DriverEntry("modbus_meter", "meterlab.instruments.meter_readout:ModbusMeter",
                "meterlab.sim.devices.meter_readout:SimModbusMeter",
                "Meter under test with a Modbus interface (register and serial number, table per model)"),
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
