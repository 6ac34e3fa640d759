"""Bench descriptions (`instruments/*.yaml`) and opening them: name -> connected driver.

    bench: water-rig-1
    instruments:
      counter:
        driver: keysight_53230a            # a key of meterlab.instruments.registry
        role: mut_pulse_counter
        resource: TCPIP::192.168.10.21::5025::SOCKET
        wiring: {ch1: meter1.pulse, gate: diverter}
      pump:
        driver: sinamics_v20
        role: pump
        modbus: {host: 192.168.10.30, port: 502, unit: 1}

A simulated bench marks entries `sim: true`; `meterlab.sim.SimLab` serves them and passes the resources
it assigned as `resources_override`."""

from __future__ import annotations

import difflib
import logging
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from meterlab.errors import InputFileError
from meterlab.instruments import registry
from meterlab.instruments.base import Instrument
from meterlab.instruments.errors import InstrumentConnectionError, InstrumentFailure
from meterlab.instruments.iolog import IOLogSink
from meterlab.instruments.transport import MAX_TIMEOUT_S, ModbusTransport, Transport, VisaTransport
from meterlab.quantities import SafeName, quantity
from meterlab.yamlio import load_model, locate, read_yaml

log = logging.getLogger(__name__)
SIMULATED_BENCH = Path("instruments/sim.yaml")  # the default bench, relative to the working directory
SIMULATED_GAS_BENCH = Path("instruments/sim-gas.yaml")
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
SIGNAL_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"
# What the rigs (meterlab.rigs) ask a bench for, by role: in a bench file, a role outside this list is a
# misspelling that would otherwise surface mid-run as a missing instrument or certificate (entries built in
# code, as the simulator's tests build them, may name others). A new kind of rig adds its roles here.
ROLES = (
    "reference_scale", "diverter", "pump", "tank_drain", "water_thermometer", "water_pressure",
    "water_pressure_controller", "water_circulator", "reference_master_meter", "pressure_loss_transmitter",
    "mut_pulse_counter", "mut_mbus_gateway", "mut_modbus",
    "bell_prover_encoder", "bell_pressure", "sonic_nozzle_bank", "nozzle_pressure", "collection_timer",
    "gas_rig_valves", "mut_gas_temperature", "mut_gas_pressure", "gas_humidity", "barometer", "reference_gas_master_meter",
    "climate_chamber", "surge_generator", "burst_generator", "esd_generator", "dips_generator",
    "magnetic_field_source", "rf_generator", "rf_amplifier", "rf_power_meter", "field_probe",
    "shaker_controller", "shock_tester", "gas_supply_pressure_controller", "valve_leak_tester",
)


def _instrument_name(name: str) -> str:
    if not re.fullmatch(NAME_PATTERN, name):
        raise ValueError(f"instrument name {name!r} must be lower case letters, digits and _")
    return name


# A key of `instruments:`, checked as a key so that a wrong one is reported at its own line.
InstrumentName = Annotated[str, AfterValidator(_instrument_name)]


class ModbusEndpoint(BaseModel):
    """Modbus TCP (`host`, `port`) or Modbus RTU (`serial_port`, `baudrate`, ...), and the unit id."""

    model_config = ConfigDict(extra="forbid")
    host: str | None = None
    port: int = Field(502, ge=1, le=65535)
    serial_port: str | None = None
    baudrate: int = Field(19200, gt=0)
    parity: Literal["N", "E", "O"] = "E"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    unit: int = Field(1, ge=0, le=247)

    @model_validator(mode="after")
    def _one_link(self) -> ModbusEndpoint:
        if (self.host is None) == (self.serial_port is None):
            raise ValueError("give either host (Modbus TCP) or serial_port (Modbus RTU), not both or neither")
        return self


class SerialSettings(BaseModel):
    """Line settings of an ASRL (RS-232/485) VISA resource."""

    model_config = ConfigDict(extra="forbid")
    baud_rate: int = Field(9600, gt=0)
    data_bits: Literal[7, 8] = 8
    parity: Literal["none", "even", "odd"] = "none"
    stop_bits: Literal[1, 2] = 1

    def visa_attributes(self) -> dict[str, Any]:
        from pyvisa import constants

        stop = constants.StopBits.one if self.stop_bits == 1 else constants.StopBits.two
        return {"baud_rate": self.baud_rate, "data_bits": self.data_bits,
                "parity": getattr(constants.Parity, self.parity), "stop_bits": stop}


class TransientFaults(BaseModel):
    """How a run rides out a communication glitch (for the bench, or one instrument): the action that met it (a
    measurement, a set flow, ...) is abandoned, the instrument reconnected, and the action done again after
    `wait_s` of rig time, up to `tries` faults of that instrument in all. `kinds` are the failures taken as
    transient; an instrument's own error report never is."""

    model_config = ConfigDict(extra="forbid")
    tries: int = Field(3, ge=1, le=10, description="attempts of one action, the first included")
    wait_s: float = Field(10.0, ge=0, le=600, description="rig time between two attempts (s)")
    kinds: list[Literal["timeout", "connection", "reply"]] = Field(
        default_factory=lambda: ["timeout", "connection", "reply"],
        description="timeout: no answer; connection: lost or refused; reply: garbage the driver cannot read")


class InstrumentEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    driver: str = Field(description="registry key of the driver, e.g. keysight_53230a")
    role: str = Field(pattern=NAME_PATTERN, description="what it does on the rig, e.g. reference_scale")
    resource: str | None = Field(None, description="VISA resource string, e.g. TCPIP::10.0.0.5::5025::SOCKET")
    modbus: ModbusEndpoint | None = None
    sim: bool = Field(False, description="served by the simulated lab, which assigns the resource at start")
    calibration: str | None = Field(None, description="certificate id in calibration/")
    timeout_s: quantity("s", 0, MAX_TIMEOUT_S, low_open=True) | None = None  # type: ignore[valid-type]
    read_termination: str | None = Field(None, description="overrides the driver's framing (e.g. a serial server)")
    write_termination: str | None = None
    serial: SerialSettings | None = None
    options: dict[str, Any] = Field(default_factory=dict, description="driver options, checked by the driver")
    transient_faults: TransientFaults | None = Field(None, description="this instrument's policy for transient "
                                                     "faults (default: the bench's)")
    equipment: dict[str, Any] = Field(default_factory=dict, description="construction data of the equipment this "
                                      "instrument serves, read by the rig (e.g. nozzle throat diameters)")
    wiring: dict[str, str] = Field(default_factory=dict, description="instrument terminal -> rig signal")
    description: str = ""

    @field_validator("driver")
    @classmethod
    def _known_driver(cls, key: str) -> str:
        if key not in registry.REGISTRY:
            raise ValueError(f"unknown driver {key!r}; known drivers: {', '.join(registry.driver_keys())}")
        return key

    @field_validator("options")
    @classmethod
    def _driver_options(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "driver" not in info.data:
            return options
        try:
            registry.driver_class(info.data["driver"]).Options.model_validate(options, strict=True)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<options>'}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"invalid for {info.data['driver']}: {problems}") from None
        return options

    @field_validator("wiring")
    @classmethod
    def _wiring(cls, wiring: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        terminals = registry.driver_class(info.data["driver"]).terminals if "driver" in info.data else None
        for terminal, signal in wiring.items():
            if terminals is not None and not re.fullmatch(terminals, terminal):
                raise ValueError(f"terminal {terminal!r} does not exist on this instrument (allowed: {terminals})")
            if not re.fullmatch(SIGNAL_PATTERN, signal):
                raise ValueError(f"signal {signal!r} must look like 'diverter' or 'meter1.pulse'")
        return wiring

    @model_validator(mode="after")
    def _address(self) -> InstrumentEntry:
        kind = registry.driver_class(self.driver).transport_kind
        if kind == "modbus" and self.resource is not None:
            raise ValueError(f"driver {self.driver} speaks Modbus: give `modbus:`, not `resource:`")
        if kind == "message" and self.modbus is not None:
            raise ValueError(f"driver {self.driver} uses a VISA resource: give `resource:`, not `modbus:`")
        if not self.sim and self.resource is None and self.modbus is None:
            needed = "modbus: {host: ..., unit: ...}" if kind == "modbus" else "resource: <VISA resource string>"
            raise ValueError(f"give `{needed}`, or `sim: true` for a simulated instrument")
        return self

    @property
    def driver_class(self) -> type[Instrument]:
        return registry.driver_class(self.driver)


class Bench(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bench: SafeName = Field(description="name of the bench, recorded with every run")
    description: str = ""
    instruments: dict[InstrumentName, InstrumentEntry] = Field(min_length=1)
    transient_faults: TransientFaults = Field(default_factory=TransientFaults)

    def by_role(self, role: str) -> list[str]:
        return [name for name, entry in self.instruments.items() if entry.role == role]

    @property
    def simulated(self) -> list[str]:
        return [name for name, entry in self.instruments.items() if entry.sim]


def load_bench(path: str | Path) -> Bench:
    """Read and validate a bench file; problems raise InputFileError naming file, line and field."""
    data, lines = read_yaml(path)
    bench = load_model(path, Bench, data=data, lines=lines)
    unknown = [(*locate(lines, ("instruments", name, "role")), _unknown_role(entry.role))
               for name, entry in bench.instruments.items() if entry.role not in ROLES]
    if unknown:
        raise InputFileError(path, unknown)
    return bench


def _unknown_role(role: str) -> str:
    close = difflib.get_close_matches(role, ROLES, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown role {role!r}: {hint}the rigs know {', '.join(ROLES)}"


# --------------------------------------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------------------------------------


def make_transport(name: str, entry: InstrumentEntry, iolog: IOLogSink, resource: str | None = None) -> Transport:
    """The transport for one bench entry; `resource` overrides the file's address (simulated lab)."""
    cls = entry.driver_class
    timeout_s = entry.timeout_s or cls.default_timeout_s
    if resource is None and entry.sim:
        raise InstrumentConnectionError(name, None, "is simulated: start the simulated lab and use its resources")
    if cls.transport_kind == "message":
        return VisaTransport(
            name, resource or entry.resource or "", iolog,
            read_termination=_pick(entry.read_termination, cls.read_termination),  # type: ignore[attr-defined]
            write_termination=_pick(entry.write_termination, cls.write_termination),  # type: ignore[attr-defined]
            encoding=cls.encoding, timeout_s=timeout_s,  # type: ignore[attr-defined]
            serial=entry.serial.visa_attributes() if entry.serial else None,
        )
    endpoint = entry.modbus.model_dump() if entry.modbus else {"unit": 1}
    if resource is not None:
        host, _, port = resource.rpartition(":")
        endpoint.update(host=host, port=int(port), serial_port=None)
    return ModbusTransport(name, iolog, timeout_s=timeout_s, **endpoint)


def _pick(override: str | None, default: str) -> str:
    return default if override is None else override


def open_instrument(name: str, entry: InstrumentEntry, iolog: IOLogSink, resource: str | None = None) -> Instrument:
    transport = make_transport(name, entry, iolog, resource)
    try:
        return entry.driver_class(name, transport, options=entry.options, wiring=entry.wiring)
    except BaseException:
        transport.close()
        raise


class ConnectedBench(dict[str, Instrument]):
    """The open instruments of a bench, by name. Close it (or use `with`) to release every connection."""

    def __init__(self, bench: Bench):
        super().__init__()
        self.bench = bench

    def by_role(self, role: str) -> Instrument:
        """The one instrument with `role`; KeyError if there is none or more than one."""
        names = [name for name in self.bench.by_role(role) if name in self]
        if len(names) != 1:
            raise KeyError(f"bench {self.bench.bench!r} has {len(names)} open instruments with role {role!r}")
        return self[names[0]]

    def safe_state(self) -> list[InstrumentFailure]:
        """Drive every instrument to its safe state; try all of them, return the failures."""
        failures = []
        for instrument in self.values():
            try:
                instrument.safe_state()
            except InstrumentFailure as exc:
                log.error("safe state of %s failed: %s", instrument.name, exc)
                failures.append(exc)
        return failures

    def close(self) -> None:
        for instrument in self.values():
            instrument.close()
        self.clear()

    def __enter__(self) -> ConnectedBench:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_bench(bench: Bench, iolog: IOLogSink, resources_override: dict[str, str] | None = None) -> ConnectedBench:
    """Open every instrument of `bench`; on any failure close those already open and raise it.

    `resources_override`: name -> VISA resource string, or "host:port" for Modbus TCP instruments."""
    overrides = resources_override or {}
    connected = ConnectedBench(bench)
    try:
        for name, entry in bench.instruments.items():
            connected[name] = open_instrument(name, entry, iolog, overrides.get(name))
    except BaseException:
        connected.close()
        raise
    return connected
