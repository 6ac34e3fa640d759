"""Meter declaration files (`examples/meters/*.yaml`): what the manufacturer declares about a sample.

    serial: WM-2026-0001
    kind: water
    q3_m3h: 2.5
    r: 160
    accuracy_class: 2
    scale_interval_l: 0.05
    pulse_value_l: 0.1
    electronic: true
    environment: {electromagnetic: E1, climatic: B}

A wrong value is reported with the file, the line and the field, whether the schema or the metrology
core (e.g. Q2 above Q3) finds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from meterlab.errors import DeclarationError, InputFileError
from meterlab.metrology.interface import MeterInterface
from meterlab.metrology.meters import GasMeter, WaterMeter
from meterlab.metrology.profiles import ProfileName
from meterlab.quantities import FLOW_RATIO, FLOWRATE_M3H, PRESSURE_LOSS_PA, RESOLUTION_L, SafeName
from meterlab.yamlio import load_model, locate, read_yaml

WATER_FIELDS = ("q3_m3h", "r")
GAS_FIELDS = ("qmin_m3h", "qt_m3h", "qmax_m3h")


class Environment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    electromagnetic: Literal["E1", "E2", "E3"] = "E1"
    climatic: Literal["B", "O", "M"] = "B"
    # OIML D 11 / MID mechanical classes (M1 low, M2 significant, M3 high vibration and shock): the vibration and
    # mechanical shock programmes take their level from it. M1, the default, has no level there (EN 1359 meters
    # are M1); which class R 49:2013 / R 137:2012 expect for which meter is unverified.
    mechanical: Literal["M1", "M2", "M3"] = "M1"


TRANSMITTED = ("volume", "flow", "status", "software_id", "access_number", "timestamp")


class Interface(BaseModel):
    """A communication interface of the meter whose transmitted data a disturbance test checks (the data_transmission
    check): the bus (where it is read is the bench's wiring: an M-Bus gateway address or a Modbus meter instrument
    wired to the meter's position; the Modbus register map is the bench instrument's `model`) and what it
    transmits. A meter keeps being measured by its `readout` (pulses, usually)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["mbus", "modbus"]
    transmits: list[Literal[TRANSMITTED]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["volume", "software_id", "access_number"],
        description="what the interface transmits; access_number: lost telegrams are counted from its gaps")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data):
        return {"kind": data} if isinstance(data, str) else data


# How meters under test can be mounted on a line (the orientation programme's `mount` step): `normal` is the
# position every other test uses.
ORIENTATIONS = ("normal", "flow_up", "flow_down", "on_its_side", "upside_down")
# Which way round they are mounted (`mount` step's direction): `reverse` turns the meter against the line's flow,
# so a rig that measures its reference one way only still passes the meter a reverse flow.
DIRECTIONS = ("forward", "reverse")
# The anomalous conditions a smart meter flags over its interface (docs/anomalous-data.md); the names are those of
# the reading format's status flags (instruments/readings/meter-reading-v1.json).
STATUS_FLAGS = ("reverse_flow", "leak", "magnet", "tamper", "power_low", "valve_closed")


class DeclaredFlag(BaseModel):
    """How the manufacturer declares the meter flags one condition: what the transmitted_status check holds it to."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    condition_s: float = Field(0.0, ge=0, description="how long the condition lasts before the meter calls it one "
                                                       "(leak: the continuous-flow time it declares)")
    raise_within_s: float = Field(ge=0, description="from then, the flag is transmitted within this many seconds")
    clears: Literal["latched", "on_condition_end"] = Field(
        description="latched: the flag stays raised after the condition ended (until a reset); on_condition_end: it "
                    "clears within clear_within_s")
    clear_within_s: float | None = Field(None, ge=0, description="on_condition_end: seconds to clear")

    @model_validator(mode="after")
    def _clearing(self) -> DeclaredFlag:
        if (self.clears == "on_condition_end") != (self.clear_within_s is not None):
            raise ValueError("clears: on_condition_end goes with clear_within_s (and clear_within_s with it)")
        return self


class ReverseFlow(BaseModel):
    """The manufacturer declares the meter designed to measure reverse flow (R 49) / bidirectional (R 137, MID):
    the programmes for such meters measure its errors in reverse; those for the others do not apply to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # R 49-1:2024 6.6.2 c (verified in the fact sheet): the marking may give a separate R for reverse flow. Its Q1
    # and Q2 would differ from the forward ones: the reverse programmes refuse such a meter rather than test it at
    # the forward points (not supported yet).
    r: FLOW_RATIO | None = Field(None, description="water: R = Q3/Q1 for reverse flow, if marked separately")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data):
        return {} if data is True else data


class Supply(BaseModel):
    """The power supply the manufacturer declares: what the DC supply and battery programmes apply (the lab's DC
    source in place of the battery)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rated_dc_v: float | None = Field(None, gt=0, le=1000, description="rated DC supply voltage, V (DC mains or the "
                                                                      "battery's nominal)")
    rated_battery_v: float | None = Field(None, gt=0, le=100, description="the battery's rated voltage, V")
    lowest_battery_v: float | None = Field(None, gt=0, le=100, description="lowest battery voltage at which the "
                                                                          "meter is declared to measure (U_min), V")
    highest_battery_v: float | None = Field(None, gt=0, le=100, description="highest battery voltage, V")

    @model_validator(mode="after")
    def _ordered(self) -> Supply:
        given = [(name, getattr(self, name)) for name in ("lowest_battery_v", "rated_battery_v", "highest_battery_v")
                 if getattr(self, name) is not None]
        for (low_name, low), (high_name, high) in zip(given, given[1:]):
            if low > high:
                raise ValueError(f"{low_name} ({low:g} V) is above {high_name} ({high:g} V): the battery voltages go "
                                 f"lowest <= rated <= highest")
        return self


class WorkingPressure(BaseModel):
    """A gas meter's declared working-pressure range at its inlet, gauge (R 137 working-pressure test)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_gauge_pa: float = Field(ge=0, le=1e6, description="lowest working pressure, Pa gauge")
    max_gauge_pa: float = Field(gt=0, le=1e6, description="highest working pressure, Pa gauge")

    @model_validator(mode="after")
    def _range(self) -> WorkingPressure:
        if self.min_gauge_pa >= self.max_gauge_pa:
            raise ValueError(f"min_gauge_pa ({self.min_gauge_pa:g} Pa) must be below max_gauge_pa "
                             f"({self.max_gauge_pa:g} Pa)")
        return self


# The declared values a programme may take in place of one of its parameters (its `from_declaration:` names the
# path): when the meters declare the value, the programme uses theirs; else its own parameter (the record says which).
DECLARED_VALUES = {
    "supply.rated_dc_v": "the rated DC supply voltage (V)",
    "supply.rated_battery_v": "the rated battery voltage (V)",
    "supply.lowest_battery_v": "the lowest battery voltage, U_min (V)",
    "supply.highest_battery_v": "the highest battery voltage (V)",
    "working_pressure.min_gauge_pa": "the lowest working pressure (Pa gauge)",
    "working_pressure.max_gauge_pa": "the highest working pressure (Pa gauge)",
    "orientations": "the mounting positions besides normal",
}


class MeterDeclaration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    serial: SafeName
    kind: Literal["water", "gas"]
    manufacturer: str = ""
    model: str = ""
    software_id: str | None = None
    profile: ProfileName | None = Field(None, description="standard profile; default r49-2013 (water), r137-2012 (gas)")
    accuracy_class: float
    q3_m3h: FLOWRATE_M3H | None = None
    r: FLOW_RATIO | None = None
    q2_over_q1: FLOW_RATIO | None = None
    temperature_class: str = "T30"
    pressure_loss_class: str | None = Field(
        None, description="water: pressure-loss class of the profile (dp63, dp40, dp25, dp16, dp10); default dp63")
    qmin_m3h: FLOWRATE_M3H | None = None
    qt_m3h: FLOWRATE_M3H | None = None
    qmax_m3h: FLOWRATE_M3H | None = None
    max_pressure_loss_pa: PRESSURE_LOSS_PA | None = Field(
        None, description="gas: the pressure loss at Qmax the manufacturer declares (R 137 judges against it)")
    scale_interval_l: RESOLUTION_L = Field(description="verification scale interval of the register")
    pulse_value_l: RESOLUTION_L | None = Field(None, description="volume per pulse of the test output")
    readout: Literal["pulses", "register", "mbus", "modbus", "manual"] = Field(
        "pulses", description="pulses: the test output, counted; mbus / modbus: the register through the bench's "
                              "gateway / Modbus meter wired to the meter's position; manual (register: older name): "
                              "the operator reads the display. Registers need standing starts")
    register_update_s: float = Field(0.0, ge=0, le=3600, description="how often the meter refreshes the register "
                                                                      "its bus interface reports (battery meters: "
                                                                      "a few seconds); read that long after rest")
    electronic: bool = False
    environment: Environment = Environment()
    interface: MeterInterface | None = Field(None, description="the communication interface as documented: "
                                                                "register map, functions (docs/fuzzing.md)")
    safety_inputs: list[Literal["gas_alarm"]] = Field(
        default_factory=list, description="inputs of a smart gas meter's shut-off functions the manufacturer "
                                          "declares: gas_alarm (a gas alarm's contact linked to the shut-off); a "
                                          "safety test of an input the meter does not declare does not apply")
    interfaces: list[Interface] = Field(
        default_factory=list, description="communication interfaces whose transmitted data the disturbance tests "
                                          "check: [mbus], [modbus] or [{kind: mbus, transmits: [...]}]")

    reverse_flow: ReverseFlow | None = Field(
        None, description="designed to measure reverse flow (water) / bidirectional (gas): `reverse_flow: true`, or "
                          "{r: 80} for a water meter marked with a separate R for reverse flow; absent: one direction")
    supply: Supply | None = Field(None, description="the declared DC / battery supply: {rated_dc_v, rated_battery_v, "
                                                     "lowest_battery_v, highest_battery_v} (V)")
    working_pressure: WorkingPressure | None = Field(
        None, description="gas: the declared working-pressure range at the inlet, {min_gauge_pa, max_gauge_pa}")
    orientations: list[Literal[ORIENTATIONS]] | None = Field(  # type: ignore[valid-type]
        None, min_length=1, description="the mounting positions the manufacturer permits besides normal, e.g. "
                                        "[flow_up, flow_down] (the orientation programme tests each)")

    status_flags: dict[Literal[STATUS_FLAGS], DeclaredFlag] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="the status flags the meter transmits over its interfaces and how "
                                          "(docs/anomalous-data.md): {reverse_flow: {raise_within_s, clears}, ...}")

    @field_validator("reverse_flow", mode="before")
    @classmethod
    def _one_direction(cls, value):
        return None if value is False else value  # `reverse_flow: false` says it plainly: one direction only

    @model_validator(mode="after")
    def _fields_of_kind(self) -> MeterDeclaration:
        needed, foreign = (WATER_FIELDS, GAS_FIELDS) if self.kind == "water" else (GAS_FIELDS, WATER_FIELDS)
        missing = [f for f in needed if getattr(self, f) is None]
        stray = [f for f in foreign if getattr(self, f) is not None]
        if missing:
            raise ValueError(f"a {self.kind} meter needs {', '.join(missing)}")
        if self.kind == "gas" and self.pressure_loss_class is not None:
            stray.append("pressure_loss_class")
        if self.kind == "water" and self.max_pressure_loss_pa is not None:
            stray.append("max_pressure_loss_pa")
        if self.kind == "water" and self.working_pressure is not None:
            stray.append("working_pressure")
        if stray:
            raise ValueError(f"{', '.join(stray)} belong to the other kind of meter, not a {self.kind} meter")
        if self.kind == "gas" and self.reverse_flow is not None and self.reverse_flow.r is not None:
            raise ValueError("reverse_flow.r is a water meter's R for reverse flow: a gas meter declares reverse_flow: "
                             "true")
        if self.readout == "pulses" and self.pulse_value_l is None:
            raise ValueError("readout: pulses needs pulse_value_l")
        if self.status_flags and not self.interfaces:
            raise ValueError("status_flags are transmitted over an interface: declare it under interfaces:")
        kinds = [i.kind for i in self.interfaces]
        if len(set(kinds)) != len(kinds):
            raise ValueError("interfaces: each kind once (a meter has one M-Bus and one Modbus interface at most)")
        return self

    @field_validator("orientations")
    @classmethod
    def _orientations(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and ("normal" in value or len(set(value)) != len(value)):
            raise ValueError("the positions besides normal (every test mounts normal), each once: e.g. "
                             "[flow_up, flow_down]")
        return value

    def declared(self, path: str) -> Any:
        """The value at `path` (a key of DECLARED_VALUES), None when the meter does not declare it."""
        value: Any = self
        for part in path.split("."):
            value = getattr(value, part, None) if value is not None else None
        return value

    def meter(self) -> WaterMeter | GasMeter:
        """The metrology core's declaration object (validated against the standard profile)."""
        if self.kind == "water":
            meter = WaterMeter(self.q3_m3h, self.r, self.accuracy_class, self.temperature_class,
                               q2_over_q1=self.q2_over_q1, serial=self.serial, profile=self.profile or "r49-2013")
            meter.profile.pressure_loss_class(self.pressure_loss_class)  # refuses a class the profile lacks
            return meter
        return GasMeter(self.qmin_m3h, self.qt_m3h, self.qmax_m3h, self.accuracy_class, serial=self.serial,
                        profile=self.profile or "r137-2012")


def max_pressure_loss_kpa(declaration: MeterDeclaration) -> float:
    """The largest pressure loss (kPa) the water meter's declared class allows between Q1 and Q3."""
    meter = declaration.meter()
    return meter.profile.max_pressure_loss_kpa(declaration.pressure_loss_class)


def load_meter(path: str | Path) -> tuple[MeterDeclaration, WaterMeter | GasMeter]:
    """Read a meter declaration file; any problem raises InputFileError naming file, line and field."""
    data, lines = read_yaml(path)
    declaration = load_model(path, MeterDeclaration, data=data, lines=lines)
    try:
        return declaration, declaration.meter()
    except DeclarationError as exc:
        line, field = locate(lines, (exc.field,))
        raise InputFileError(path, [(line, field, f"{exc.value!r} is not allowed: {exc.allowed}")]) from exc
