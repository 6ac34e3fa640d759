"""`meterlab validate`: recognise a file's kind by its top-level keys and check it with its own schema, and
against what a run would hold it to: a bench's certificates against the calibration register, a scenario
against the bench that plays it. What passes here is not refused by `meterlab run` for its content."""

from __future__ import annotations

from pathlib import Path

from meterlab.calibration.register import Register
from meterlab.errors import InputFileError
from meterlab.instruments.bench import Bench, load_bench
from meterlab.metrology.declarations import MeterDeclaration, load_meter
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


def meter_position(kind: str, position: int) -> str:
    """The bench wiring's name of the meter at `position` (1-based, the order of --meter): meterN on a water
    line, gas_meterN on a gas line."""
    return f"{'gas_meter' if kind == 'gas' else 'meter'}{position}"


def interface_instrument(bench: Bench, meter: str, kind: str, address: int | None = None) -> str | None:
    """The bench instrument that reads the interface `kind` of the meter at `meter` (meter2): an M-Bus gateway with
    an address wired to it (that primary `address`, if given), or a Modbus meter instrument wired to it; None if
    the bench has none."""
    if kind == "mbus":
        from meterlab.instruments.meter_readout import ADDRESS_TERMINAL  # the gateway driver's own reading of it

        return next((name for name in bench.by_role("mut_mbus_gateway")
                     for terminal, wired in bench.instruments[name].wiring.items()
                     if (match := ADDRESS_TERMINAL.fullmatch(terminal)) and wired.split(".")[0] == meter
                     and (address is None or int(match.group(1)) == address)), None)
    return next((name for name in bench.by_role("mut_modbus")
                 if bench.instruments[name].wiring.get("meter", "").split(".")[0] == meter), None)


def _unwired(kind: str, meter: str, bench_file: Path, purpose: str, address: int | None = None) -> str:
    fix = (f"add `addr{address if address is not None else '<N>'}: {meter}` to the wiring of an M-Bus gateway "
           f"(role mut_mbus_gateway)" if kind == "mbus" else
           f"add a Modbus meter (role mut_modbus) with `wiring: {{meter: {meter}}}`")
    what = "gateway" if kind == "mbus" else "instrument"
    at = f" at primary address {address}" if address is not None else ""
    return (f"{kind}: bench {bench_file} has no {what} wired to {meter}{at} ({purpose}): {fix} in {bench_file}, "
            f"or remove the interface from the declaration")


def interface_wiring_problems(decl: MeterDeclaration, path: Path, position: int, bench: Bench, bench_file: Path,
                              fields: tuple[str, ...] = ("interfaces",)) -> list[tuple[int | None, str, str]]:
    """What of the meter's declared interfaces the bench cannot read with the meter at `position` (line, field,
    message with the fix). `interfaces`: what the disturbance tests poll (the data_transmission check would have
    nothing to poll); `interface`: the documented interface a fuzz campaign reaches, always with the meter at
    position 1 (the campaign's only meter), M-Bus at the declared primary address."""
    problems: list[tuple[int | None, str, str]] = []
    lines = None
    if "interfaces" in fields:
        meter = meter_position(decl.kind, position)
        for index, interface in enumerate(decl.interfaces):
            if interface_instrument(bench, meter, interface.kind) is None:
                lines = lines or read_yaml(path)[1]
                problems.append((*locate(lines, ("interfaces", index)), _unwired(
                    interface.kind, meter, bench_file, "this meter's position; the disturbance tests poll it there")))
    if "interface" in fields and decl.interface is not None:
        side = decl.interface.modbus or decl.interface.mbus  # a meter with both is fuzzed on its Modbus side
        kind = "mbus" if side.transport == "mbus" else "modbus"
        address = side.primary_address if kind == "mbus" else None
        meter = meter_position(decl.kind, 1)
        if interface_instrument(bench, meter, kind, address) is None:
            lines = lines or read_yaml(path)[1]
            problems.append((*locate(lines, ("interface", kind)), _unwired(
                kind, meter, bench_file, "`meterlab fuzz` puts the meter there", address)))
    return problems


def check_interfaces_wired(meters: list[tuple[MeterDeclaration, Path]], bench: Bench, bench_file: Path,
                           fields: tuple[str, ...] = ("interfaces",)) -> None:
    """Refuse, before any record, a meter declaring an interface the bench cannot read at its position (the
    meters in the order given: positions 1, 2, ...), naming the meter file, its field and the fix. One check for
    `meterlab run`, `meterlab fuzz` and `meterlab validate`, so they refuse alike."""
    for position, (decl, path) in enumerate(meters, start=1):
        problems = interface_wiring_problems(decl, path, position, bench, bench_file, fields)
        if problems:
            raise InputFileError(path, problems)


def check_meters_on_bench(meters: list[Path], bench: Path) -> list[InputFileError]:
    """`meterlab validate`'s cross-check of meter declarations with a bench: each meter's `interfaces:` at its
    position (the meters in the order given, as `meterlab run --meter` places them) and its `interface:` where a
    fuzz campaign puts it; one error per meter file with problems, the same errors run and fuzz refuse with."""
    bench_model = load_bench(bench)
    errors, positions = [], {"water": 0, "gas": 0}
    for path in meters:
        decl, _ = load_meter(path)
        positions[decl.kind] += 1
        problems = interface_wiring_problems(decl, path, positions[decl.kind], bench_model, bench,
                                             ("interfaces", "interface"))
        if problems:
            errors.append(InputFileError(path, problems))
    return errors
