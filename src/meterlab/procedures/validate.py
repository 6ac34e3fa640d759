"""`meterlab validate`: recognise a file's kind by its top-level keys and check it with its own schema, and
against what a run would hold it to: a bench's certificates against the calibration register, a scenario
against the bench that plays it. What passes here is not refused by `meterlab run` for its content."""

from __future__ import annotations

from pathlib import Path

from meterlab.calibration.register import Register
from meterlab.errors import InputFileError
from meterlab.instruments.bench import Bench, load_bench
from meterlab.yamlio import as_mapping, locate, read_yaml


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


def validate_file(path: Path, *, bench: Path | None = None, calibration_dir: Path | None = None) -> str:
    """Validate `path`; return its kind. Problems raise InputFileError naming file, line and field.

    A bench's certificate ids are checked against the register in `calibration_dir` (when given); a scenario
    against `bench`, or else against the bench it is the default scenario of (instruments/scenarios/x.yaml
    belongs to instruments/x.yaml)."""
    data, _ = read_yaml(path)
    kind = _kind(as_mapping(path, data))
    if kind is None:
        raise InputFileError(path, [(1, "", "not a procedure, bench, meter, scenario, certificate, laboratory or profile file "
                                            "(its top-level keys match none of them)")])
    if kind == "procedure":
        from meterlab.procedures.schema import load_procedure
        load_procedure(path)
    elif kind == "bench":
        bench_model = load_bench(path)
        if calibration_dir is not None:
            check_certificates(bench_model, path, Register.load(calibration_dir))
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
        _validate_scenario(path, bench or _bench_of_scenario(path))
    return kind


def _validate_scenario(path: Path, bench: Path | None) -> None:
    from meterlab.sim.lab import check_scenario
    from meterlab.sim.scenario import load_scenario

    check_scenario(load_scenario(path), load_bench(bench) if bench is not None else None)


def _bench_of_scenario(path: Path) -> Path | None:
    """The bench a default scenario belongs to (the inverse of sim.scenario.default_scenario), if any."""
    if Path(path).parent.name != "scenarios":
        return None
    candidate = Path(path).parent.parent / Path(path).name
    return candidate if candidate.is_file() else None


def check_certificates(bench: Bench, path: Path, register: Register) -> None:
    """Every `calibration:` id of the bench names a certificate of the register (else file, line, field)."""
    unknown = [name for name, entry in bench.instruments.items()
               if entry.calibration and entry.calibration not in register]
    if unknown:
        _, lines = read_yaml(path)
        known = ", ".join(c.id for c in register) or "none"
        raise InputFileError(path, [(*locate(lines, ("instruments", name, "calibration")),
                                     f"{bench.instruments[name].calibration!r} is not a certificate of the register "
                                     f"(known: {known})") for name in unknown])
