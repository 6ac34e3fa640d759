"""A meter's declared communication interface, as data: what an interface fuzzing campaign is generated from and
judged against (`interface:` in a meter declaration; docs/fuzzing.md).

    interface:
      recovery_s: 10                 # the manufacturer's stated time to answer again after a fault
      modbus:
        unit: 1
        functions: [3, 4, 6, 16]     # every function code the manual documents
        registers:
          - {name: volume, table: input, address: 0, count: 2, role: totaliser}
          - {name: software_id, table: input, address: 4, count: 2, role: software_id}
          - {name: meter_factor, table: holding, address: 0, count: 2, legally_relevant: true}
          - {name: display_mode, table: holding, address: 2, access: read_write, values: [0, 3]}

Pure data and its consistency checks; nothing here talks to a meter."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

READ_FUNCTIONS = {"coils": 1, "discrete_inputs": 2, "holding": 3, "input": 4}
WRITE_FUNCTIONS = {"coils": (5, 15), "holding": (6, 16)}
MODBUS_FUNCTIONS = range(1, 128)  # 128 and above are exception responses


class RegisterDecl(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    table: Literal["coils", "discrete_inputs", "holding", "input"]
    address: int = Field(ge=0, le=0xFFFF, description="protocol address of the first register (40101 -> 100)")
    count: int = Field(1, ge=1, le=125)
    access: Literal["read", "read_write"] = "read"
    legally_relevant: bool = Field(False, description="a legally relevant parameter: must never change over the "
                                                       "interface unless documented as writable")
    role: Literal["totaliser", "identification", "software_id", "parameter", "status"] = "parameter"
    values: list[int] | None = Field(None, min_length=2, max_length=2,
                                     description="writable range [min, max] of each register")

    @property
    def span(self) -> range:
        return range(self.address, self.address + self.count)

    @model_validator(mode="after")
    def _writable(self) -> RegisterDecl:
        if self.access == "read_write" and self.table in ("discrete_inputs", "input"):
            raise ValueError(f"register {self.name}: {self.table} registers cannot be written (access: read)")
        if self.access == "read_write" and self.values is None:
            raise ValueError(f"register {self.name}: a writable register needs `values: [min, max]`")
        return self


class ModbusInterface(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    transport: Literal["tcp", "rtu"] = "tcp"
    unit: int = Field(1, ge=1, le=247)
    functions: list[int] = Field(min_length=1, description="the documented function codes")
    registers: list[RegisterDecl] = Field(min_length=1)
    max_quantity: int = Field(125, ge=1, le=125, description="the most registers one read may ask")

    @model_validator(mode="after")
    def _consistent(self) -> ModbusInterface:
        unknown = [f for f in self.functions if f not in MODBUS_FUNCTIONS]
        if unknown:
            raise ValueError(f"functions: {unknown} are not Modbus function codes (1..127)")
        names = [r.name for r in self.registers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"registers: {', '.join(twice)} declared twice")
        for reg in self.registers:
            if READ_FUNCTIONS[reg.table] not in self.functions:
                raise ValueError(f"register {reg.name} is in table {reg.table}, but function "
                                 f"{READ_FUNCTIONS[reg.table]} (its read) is not among the documented functions")
        return self

    def by_role(self, role: str) -> list[RegisterDecl]:
        return [r for r in self.registers if r.role == role]

    def watched(self) -> list[RegisterDecl]:
        """What the oracle reads before and after each case: every readable register but the totaliser (it moves
        with the flow and is judged on its own)."""
        return [r for r in self.registers if r.role != "totaliser"]


MBUS_COMMANDS = {"SND_NKE": (0x40,), "REQ_UD2": (0x5B, 0x7B, 0x4B), "REQ_UD1": (0x5A, 0x7A, 0x4A),
                 "SND_UD": (0x53, 0x73)}  # the C fields of each command (FCB set / clear, FCV clear)


class MBusRecordDecl(BaseModel):
    """A data record of the meter's RSP_UD, found by its VIF and storage number."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    vif: int = Field(ge=0, le=0xFF)
    storage: int = Field(0, ge=0)
    legally_relevant: bool = False
    role: Literal["totaliser", "identification", "software_id", "parameter", "status"] = "parameter"


class MBusInterface(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    primary_address: int = Field(ge=1, le=250)
    commands: list[Literal["SND_NKE", "REQ_UD2", "REQ_UD1", "SND_UD"]] = Field(min_length=1)
    snd_ud_ci: list[int] = Field(default_factory=list, description="CI fields a SND_UD may carry, documented")
    records: list[MBusRecordDecl] = Field(min_length=1)

    transport: ClassVar[str] = "mbus"

    @model_validator(mode="after")
    def _consistent(self) -> MBusInterface:
        if "REQ_UD2" not in self.commands:
            raise ValueError("commands: REQ_UD2 (reading the meter) must be among the documented commands")
        if self.snd_ud_ci and "SND_UD" not in self.commands:
            raise ValueError("snd_ud_ci is given but SND_UD is not among the documented commands")
        return self

    def documented_c(self) -> set[int]:
        return {c for command in self.commands for c in MBUS_COMMANDS[command]}

    def by_role(self, role: str) -> list[MBusRecordDecl]:
        return [r for r in self.records if r.role == role]

    def watched(self) -> list[MBusRecordDecl]:
        return [r for r in self.records if r.role != "totaliser"]


class MeterInterface(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    recovery_s: float = Field(10.0, gt=0, le=3600, description="stated time within which the meter answers again")
    modbus: ModbusInterface | None = None
    mbus: MBusInterface | None = None

    @model_validator(mode="after")
    def _something(self) -> MeterInterface:
        if self.modbus is None and self.mbus is None:
            raise ValueError("declare at least one interface (modbus: or mbus:)")
        return self
