"""ESD simulators (IEC 61000-4-2)."""

from __future__ import annotations

from typing import Any, ClassVar

from meterlab.instruments.emc.base import EmcGenerator, GeneratorOptions, TableProperty, pop_list, without_none


class EsdSimulator(EmcGenerator):
    """ESD simulator (IEC 61000-4-2).

    configure(): discharge (contact|air), voltage_kv, polarity, count, interval_s. Measured:
    discharges_delivered."""

    class Options(GeneratorOptions):
        family: ClassVar[str] = "esd"

    family = "esd"
    disturbances = ("esd",)
    order = ("discharge",)
    discharge = TableProperty("contact | air", "enum")
    voltage_kv = TableProperty("Discharge voltage in kV.")
    polarity = TableProperty("positive | negative", "enum")
    count = TableProperty("Discharges per test.", "int")
    interval_s = TableProperty("Time between discharges, in seconds.")
    discharges_delivered = TableProperty("Discharges delivered since START.", "int", readonly=True)

    def _runs(self, kind: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Profile `esd`: contact_voltage_kv and air_voltage_kv -> contact runs then air runs, each for
        every polarity."""
        levels = [(mode, params.pop(f"{mode}_voltage_kv", None)) for mode in ("contact", "air")]
        levels = [(m, kv) for m, kv in levels if kv is not None] or [(params.pop("discharge", None), None)]
        voltage = params.pop("voltage_kv", None)
        polarities = pop_list(params, "polarities", "polarity")
        return [without_none({**params, "discharge": m, "voltage_kv": kv if kv is not None else voltage,
                               "polarity": p}) for m, kv in levels for p in polarities]
