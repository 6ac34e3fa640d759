"""`meterlab validate`: recognise a file's kind by its top-level keys and check it with its own schema."""

from __future__ import annotations

from pathlib import Path

from meterlab.errors import InputFileError
from meterlab.yamlio import read_yaml


def _kind(data: dict) -> str | None:
    keys = set(data)
    if {"steps", "meter_kind"} <= keys:
        return "procedure"
    if "instruments" in keys and "bench" in keys:
        return "bench"
    if {"certificate", "due_date"} <= keys:  # before meters: a verification certificate has serial and kind too
        return "certificate"
    if {"serial", "kind"} <= keys:
        return "meter"
    if {"accreditation_number", "report_prefix"} <= keys:
        return "laboratory"
    if {"profile", "mpe"} <= keys:
        return "standard profile"
    if "tests" in keys and "levels" in str(data):
        return "severity profile"
    if keys & {"meters", "water_rig", "faults", "devices", "seed"}:
        return "scenario"
    return None


def validate_file(path: Path) -> str:
    """Validate `path`; return its kind. Problems raise InputFileError naming file, line and field."""
    data, _ = read_yaml(path)
    kind = _kind(data) if isinstance(data, dict) else None
    if kind is None:
        raise InputFileError(path, [(1, "", "not a procedure, bench, meter, scenario, certificate, laboratory or profile file "
                                            "(its top-level keys match none of them)")])
    if kind == "procedure":
        from meterlab.procedures.schema import load_procedure
        load_procedure(path)
    elif kind == "bench":
        from meterlab.instruments.bench import load_bench
        load_bench(path)
    elif kind == "meter":
        from meterlab.metrology.declarations import load_meter
        load_meter(path)
    elif kind == "certificate":
        from meterlab.calibration.certificates import load_certificate
        load_certificate(path)
    elif kind == "standard profile":
        from meterlab.metrology.profiles import load_profile
        load_profile(path)
    elif kind == "laboratory":
        from meterlab.records.laboratory import load_laboratory
        load_laboratory(path)
    elif kind == "severity profile":
        from meterlab.procedures.severities import load_severities
        load_severities(path)
    else:
        from meterlab.sim.scenario import load_scenario
        load_scenario(path)
    return kind
