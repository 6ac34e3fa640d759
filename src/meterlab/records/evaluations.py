"""A type evaluation: the meter type under evaluation, its samples, the plan of programmes on them, and the runs
made for it. A type approval is not one programme but a plan of 20 to 40 tests over several samples, ending in
one R 49-3 / R 137-3 report (reports/dossier.py).

Three files state it. The type file names the samples by their meter declarations (each with its receipt date
and condition); the samples must agree on what makes the type (kind, manufacturer, model, software
identification). The plan template (procedures/plans/) lists the programmes and the samples each runs on, as
data a laboratory edits. Both are recorded, with their hashes, as entries of the store (no run), as is each
run attached to the evaluation; so the dossier is rebuilt from the record alone."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from meterlab.errors import InputFileError, MeterlabError
from meterlab.metrology.declarations import load_meter
from meterlab.records.store import Store
from meterlab.yamlio import load_model, locate, read_yaml

CREATED, PLANNED, ATTACHED = "evaluation_created", "evaluation_planned", "run_attached"
TYPE_FIELDS = ("kind", "manufacturer", "model", "software_id")  # what the samples of one type share


class EvaluationError(MeterlabError):
    """An evaluation that does not exist, or a run that does not belong to it."""


class SampleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    meter: str = Field(min_length=1, description="the sample's meter declaration file")
    received: date = Field(description="when the laboratory received the sample")
    condition: str = Field(min_length=1, description="its condition on receipt (seals, damage, accessories)")


class TypeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="the type as the applicant names it")
    standard: Literal["OIML R 49", "OIML R 137"]
    applicant: str = Field(min_length=1)
    plan: str = Field(min_length=1, description="the plan template (procedures/plans/...)")
    samples: list[SampleEntry] = Field(min_length=1)


class PlanItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    procedure: str = Field(min_length=1, description="programme file")
    samples: Literal["all"] | list[int] = Field(description="sample numbers (1 = the type file's first), or all")


class PlanTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    standard: Literal["OIML R 49", "OIML R 137"]
    note: str = ""
    items: list[PlanItem] = Field(min_length=1)


@dataclass(frozen=True)
class Evaluation:
    id: str
    type: dict[str, Any]  # the type file as recorded, with each sample's declaration
    items: list[dict[str, Any]]  # the plan: procedure id, title, file, sample serials
    runs: list[str]  # attached runs, oldest first


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_type(path: str | Path) -> dict[str, Any]:
    """The type file with each sample's declaration; samples that are not one type are refused (file, line)."""
    path = Path(path)
    data, lines = read_yaml(path)
    type_file = load_model(path, TypeFile, data=data, lines=lines)
    samples, first = [], None
    for number, sample in enumerate(type_file.samples):
        declaration, _ = load_meter(sample.meter)
        shared = {f: getattr(declaration, f) for f in TYPE_FIELDS}
        first = first or shared
        if differs := [f for f in TYPE_FIELDS if shared[f] != first[f]]:
            line, field = locate(lines, ("samples", number, "meter"))
            raise InputFileError(path, [(line, field, f"{sample.meter} is not the same type as the first sample: "
                                                      f"{', '.join(f'{f} {shared[f]!r} (first: {first[f]!r})' for f in differs)}")])
        samples.append({"number": number + 1, "serial": declaration.serial, "meter": sample.meter,
                        "sha256": _sha256(Path(sample.meter)), "received": sample.received.isoformat(),
                        "condition": sample.condition})
    serials = [s["serial"] for s in samples]
    if len(set(serials)) != len(serials):
        raise InputFileError(path, [(locate(lines, ("samples",))[0], "samples", f"a serial appears twice: {serials}")])
    return {"name": type_file.name, "standard": type_file.standard, "applicant": type_file.applicant,
            "plan": type_file.plan, "file": str(path), "sha256": _sha256(path), **first, "samples": samples}


def load_plan(path: str | Path, type_: dict[str, Any]) -> dict[str, Any]:
    """The plan template resolved against the type's samples: each item's procedure id and sample serials."""
    path = Path(path)
    data, lines = read_yaml(path)
    plan = load_model(path, PlanTemplate, data=data, lines=lines)
    if plan.standard != type_["standard"]:
        raise InputFileError(path, [(locate(lines, ("standard",))[0], "standard",
                                     f"the plan is for {plan.standard}, the type is evaluated to {type_['standard']}")])
    serials = [s["serial"] for s in type_["samples"]]
    items = []
    for number, item in enumerate(plan.items):
        numbers = range(1, len(serials) + 1) if item.samples == "all" else item.samples
        if bad := [n for n in numbers if not 1 <= n <= len(serials)]:
            line, field = locate(lines, ("items", number, "samples"))
            raise InputFileError(path, [(line, field, f"sample {bad[0]} does not exist: the type file has "
                                                      f"{len(serials)} sample(s)")])
        procedure, _ = read_yaml(item.procedure)
        items.append({"number": number + 1, "procedure": item.procedure, "procedure_id": procedure.get("id"),
                      "title": procedure.get("title"), "samples": [serials[n - 1] for n in numbers]})
    return {"id": plan.id, "title": plan.title, "file": str(path), "sha256": _sha256(path), "note": plan.note,
            "items": items}


def load(type_path: str | Path, plan_path: str | Path | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The type file and its plan (the type file's, unless given), checked before anything is recorded."""
    type_ = load_type(type_path)
    return type_, load_plan(plan_path or type_["plan"], type_)


def create(store: Store, type_: dict[str, Any], plan: dict[str, Any]) -> Evaluation:
    """Record a new evaluation of a type with its plan (both from `load`)."""
    evaluation_id = "TE-" + secrets.token_hex(4)
    store.append_many(None, [(CREATED, {"evaluation": evaluation_id, "type": type_}, None),
                             (PLANNED, {"evaluation": evaluation_id, "plan": plan}, None)])
    return get(store, evaluation_id)


def get(store: Store, evaluation_id: str) -> Evaluation:
    type_, plan, runs = None, None, []
    for entry in store.store_entries(kinds=[CREATED, PLANNED, ATTACHED]):
        if entry.payload.get("evaluation") != evaluation_id:
            continue
        if entry.kind == CREATED:
            type_ = entry.payload["type"]
        elif entry.kind == PLANNED:
            plan = entry.payload["plan"]  # the latest plan holds
        else:
            runs.append(entry.payload["run"])
    if type_ is None or plan is None:
        known = sorted({e.payload.get("evaluation") for e in store.store_entries(kinds=[CREATED])})
        raise EvaluationError(f"no evaluation {evaluation_id} in {store.url} (evaluations: {', '.join(known) or 'none'})")
    return Evaluation(evaluation_id, type_, plan["items"], runs)


def replan(store: Store, evaluation_id: str, plan_path: str | Path) -> Evaluation:
    """A new plan for the evaluation (the earlier one stays in the record)."""
    plan = load_plan(plan_path, get(store, evaluation_id).type)
    store.append(None, PLANNED, {"evaluation": evaluation_id, "plan": plan})
    return get(store, evaluation_id)


def check_run_fits(evaluation: Evaluation, procedure_id: str, serials: list[str]) -> dict[str, Any]:
    """The plan item a run of `procedure_id` on the meters `serials` makes, before the run is created."""
    samples = {s["serial"] for s in evaluation.type["samples"]}
    if strangers := [s for s in serials if s not in samples]:
        raise EvaluationError(f"{', '.join(strangers)}: not a sample of evaluation {evaluation.id} (samples: "
                              f"{', '.join(sorted(samples))})")
    for item in evaluation.items:
        if item["procedure_id"] == procedure_id and set(item["samples"]) <= set(serials):
            return item
    planned = [i["samples"] for i in evaluation.items if i["procedure_id"] == procedure_id]
    raise EvaluationError(f"evaluation {evaluation.id} plans no {procedure_id} on {', '.join(serials)}"
                          + (f" (it plans it on {'; '.join(', '.join(p) for p in planned)})" if planned else
                             " (not in its plan: `meterlab evaluation plan` to change the plan)"))


def attach(store: Store, evaluation_id: str, run_id: str) -> None:
    store.append(None, ATTACHED, {"evaluation": evaluation_id, "run": run_id})
