"""A run's meter readings in the meter-reading format (instruments/readings/meter-reading-v1.json), from its
record alone: every register read over a bus (M-Bus, Modbus) at the start and end of each measurement, and every
dataset polled from a meter's M-Bus or Modbus interface while a disturbance was applied, during a measurement or
between two (phase `transmission:<start|during|end>`), as the rig kept it. Written as JSON lines (one reading a line, each validated against the schema) or CSV (the same
fields flattened, with the run, test point and meter they belong to)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from meterlab.instruments.readings.schema import validate_reading
from meterlab.records.store import Store

PHASES = ("start", "end")
CSV_FIELDS = (
    "run_id", "point", "repeat", "meter_serial", "phase",
    "schema", "meter.identification", "meter.kind", "meter.manufacturer", "meter.version", "meter.medium",
    "meter.model", "quantity", "value", "unit", "resolution", "timestamp", "meter_time", "consecutive_number",
    "status.raw", "status.flags", "source.interface", "source.instrument", "source.address", "source.register",
    "source.raw", "source.raw_value", "integrity.result", "integrity.reason",
)


def run_readings(store: Store, run_id: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(where: run, point, repeat, meter, phase; the reading) for every bus reading of the run, in record order;
    each reading validated (ReadingFormatError names the measurement it came from)."""
    store.run(run_id)  # a StoreError naming the run if there is none
    for entry in store.entries(run_id, kinds=["measurement", "action_done"]):
        m = entry.payload
        if entry.kind == "action_done":  # a disturbance applied between measurements (ESD, surges)
            for serial, watched in (m.get("transmission") or {}).items():
                yield from _transmitted(run_id, {"point": {"name": m["label"]}, "repeat": None},
                                        {"meter_serial": serial, "raw": watched})
            continue
        for row in m["meters"]:
            for phase in PHASES:
                reading = row.get("raw", {}).get(f"{phase}_reading")
                if reading is None:
                    continue
                where = {"run_id": run_id, "point": m["point"]["name"], "repeat": m["repeat"],
                         "meter_serial": row["meter_serial"], "phase": phase}
                what = f"the {phase} reading of {row['meter_serial']} at {where['point']} #{m['repeat']}"
                yield where, dict(validate_reading(reading, what))
            yield from _transmitted(run_id, m, row)


def _transmitted(run_id: str, m: dict, row: dict) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """The datasets polled from the meter's interfaces while a disturbance was applied that have a reading (all
    of them since the rig keeps one for every poll; a run recorded before that has them for M-Bus only)."""
    watched = (row.get("raw") or {}).get("transmission") or {}
    for interface in watched.get("interfaces", []):
        for n, dataset in enumerate(interface["datasets"]):
            if dataset.get("reading") is None:
                continue
            where = {"run_id": run_id, "point": m["point"]["name"], "repeat": m["repeat"],
                     "meter_serial": row["meter_serial"], "phase": f"transmission:{dataset['phase']}"}
            what = (f"dataset {n} polled from {row['meter_serial']} at {where['point']}"
                    + (f" #{m['repeat']}" if m["repeat"] is not None else ""))
            yield where, dict(validate_reading(dataset["reading"], what))


def write_jsonl(readings: Iterator[tuple[dict, dict]], out: TextIO) -> int:
    """One reading a line, exactly the format (no run context: a line validates against the schema as it is)."""
    count = 0
    for _, reading in readings:
        out.write(json.dumps(reading, allow_nan=False, ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(readings: Iterator[tuple[dict, dict]], out: TextIO) -> int:
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for where, reading in readings:
        writer.writerow({**where, **_flat(reading)})
        count += 1
    return count


def _flat(reading: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in reading.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = ";".join(str(v) for v in value)
        else:
            flat[name] = "" if value is None else value
    return flat
