"""A run from files to results: load and check the inputs, record them, bring up the bench (and the
simulated lab when the bench is simulated), and run or resume the plan.

Everything a run needs is stored, as text, in its first record entry (procedure, meters, bench,
scenario): `resume` rebuilds the run from the record alone, so a crash of the PC loses nothing.
"""

from __future__ import annotations

import hashlib
import platform
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Iterator

from meterlab import __version__
from meterlab.calibration.register import Register
from meterlab.engine.control import RunControl, RunState
from meterlab.engine.events import EventBus
from meterlab.engine.flow_windows import measured_points, unreachable_points
from meterlab.engine.measurement import readout_problems
from meterlab.engine.prompts import Prompter
from meterlab.engine.runner import Runner
from meterlab.errors import DeclarationError, MeterlabError
from meterlab.instruments.bench import Bench, load_bench, open_bench
from meterlab.metrology.declarations import DECLARED_VALUES, MeterDeclaration, load_meter
from meterlab.metrology.methods import GravimetricMethod, MasterMeterMethod
from meterlab.metrology.profiles import load_profile, profile_path
from meterlab.metrology.safety import load_safety_profile
from meterlab.procedures.plan import Plan, expand
from meterlab.procedures.schema import ApplyDisturbance, ClimateCycle, Procedure, SafetyTest, SetClimate, load_procedure
from meterlab.procedures.validate import check_certificates, check_interfaces_wired
from meterlab.records import leases
from meterlab.records.laboratory import Laboratory
from meterlab.records.store import Store
from meterlab.rigs.base import CLIMATE_ROLE, MECHANICAL_ROLES, SEVERITY_ROLES, RealClock, RunIOLog
from meterlab.rigs.water_gravimetric import WaterRig
from meterlab.sim.clock import VIRTUAL
from meterlab.yamlio import read_text

# The simulated lab runs on virtual time unless a run asks for a scaled real-time clock (a demonstration at 1x):
# the same seed gives the same record on any host at any load (sim/clock.py).
DEFAULT_CLOCK_SCALE = VIRTUAL
# A plausibility bound of the software for a scaled clock: far beyond it a typing slip is likelier.
MAX_CLOCK_SCALE = 1e5


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class RunInputs:
    """The parsed inputs of a run and the texts they came from."""

    procedure: Procedure
    declarations: dict[str, MeterDeclaration]
    bench: Bench
    scenario: Any | None
    texts: dict[str, Any]
    # each parameter of the programme's from_declaration: its value and whether the meters declared it
    declared_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)

    def plan(self) -> Plan:
        return expand(self.procedure, [(s, d.meter()) for s, d in self.declarations.items()])


def load_inputs(procedure: Path, meters: list[Path], bench: Path, scenario: Path | None, *,
                follow_declarations: bool = False) -> RunInputs:
    """Read and validate every input file; errors name file, line and field. The scenario's simulated meters
    must agree with the declarations (pulse value, one per declared meter); with `follow_declarations` (a
    bench's default scenario, no --scenario given) they are made to: each keeps the scenario's good error
    curve and takes the serial, pulse value and register resolution its declaration states."""
    from meterlab.sim.lab import check_scenario
    from meterlab.sim.scenario import load_scenario

    proc = load_procedure(procedure)
    declarations: dict[str, MeterDeclaration] = {}
    for path in meters:
        decl, meter = load_meter(path)
        if decl.serial in declarations:
            raise DeclarationError("meter", str(path), f"meters with distinct serials ({decl.serial} is given twice)")
        if decl.kind != proc.meter_kind:
            raise DeclarationError("meter", str(path), f"a {proc.meter_kind} meter for procedure {proc.id}")
        if proc.electronic_only and not decl.electronic:
            raise DeclarationError("meter", str(path), f"an electronic meter: {proc.id} tests electronic devices only")
        classes = proc.temperature_classes
        if classes and decl.kind == "water" and decl.temperature_class not in classes:
            raise DeclarationError("meter", str(path), f"a meter of temperature class {' or '.join(classes)}: "
                                                      f"{proc.id} is written for it (this one is {decl.temperature_class})")
        refusal = reverse_flow_refusal(proc, decl)
        if refusal:
            raise DeclarationError("meter", str(path), refusal)
        declarations[decl.serial] = decl
    proc, used = _declared_values(proc, procedure, declarations, dict(zip(declarations, map(str, meters))))
    problems = readout_problems(proc, declarations)
    if problems:
        raise MeterlabError("the meters cannot be read as the procedure measures them:\n  " + "\n  ".join(problems))
    bench_model = load_bench(bench)
    check_interfaces_wired(list(zip(declarations.values(), meters)), bench_model, bench)
    scenario_model = load_scenario(scenario) if scenario else None
    scenario_text = {"file": str(scenario), "text": read_text(scenario)} if scenario else None
    if scenario_model is not None and bench_model.simulated:
        if follow_declarations:
            scenario_model, scenario_text = _following(scenario_model, scenario, declarations, proc.meter_kind)
        check_meters_agree(scenario_model, str(scenario), declarations, [str(p) for p in meters], proc.meter_kind)
        check_scenario(scenario_model, bench_model)
    texts = {
        "procedure": {"file": str(procedure), "text": read_text(procedure)},
        "meters": [{"file": str(p), "text": read_text(p)} for p in meters],
        "bench": {"file": str(bench), "text": read_text(bench)},
        "scenario": scenario_text,
    }
    return RunInputs(proc, declarations, bench_model, scenario_model, texts, used)


def _declared_values(proc: Procedure, path: Path, declarations: dict[str, MeterDeclaration],
                     files: dict[str, str]) -> tuple[Procedure, dict[str, dict[str, Any]]]:
    """The programme with the meters' declared values in place of its `from_declaration:` parameters, and what was
    used for each (for the record). The meters of a run share one supply, line and mounting: they must agree."""
    used, declared_values = {}, {}
    for name, field_path in proc.from_declaration.items():
        declared = {serial: d.declared(field_path) for serial, d in declarations.items()
                    if d.declared(field_path) is not None}
        if len({repr(v) for v in declared.values()}) > 1:
            raise MeterlabError(
                f"procedure {proc.id} applies {DECLARED_VALUES[field_path]} to every meter at once, but the meters "
                f"declare different ones ({field_path}): "
                + "; ".join(f"{files[serial]}: {value}" for serial, value in declared.items())
                + "\nrun them separately, or correct the declaration that is wrong")
        if declared:
            declared_values[name] = next(iter(declared.values()))
        used[name] = {"value": declared_values.get(name, proc.parameters[name]), "field": field_path,
                      "source": "declaration" if declared else "programme parameter (no meter declares it)",
                      "declared_by": sorted(declared)}
    return (load_procedure(path, declared_values) if declared_values else proc), used


def reverse_flow_refusal(proc: Any, decl: MeterDeclaration) -> str | None:
    """Why the programme does not apply to the meter by its reverse-flow design (None: it applies): R 49 measures a
    meter designed for reverse flow in reverse and puts the others through a reverse flow; R 137's flow-direction
    test is for bidirectional meters. Worded as what the meter should be (DeclarationError's "expected")."""
    designed = decl.reverse_flow is not None
    if proc.for_reverse_flow == "designed" and not designed:
        return (f"a meter designed to measure reverse flow (declaration `reverse_flow: true`): {proc.id} measures "
                f"errors in reverse, and this meter declares one direction only")
    if proc.for_reverse_flow == "not_designed" and designed:
        return (f"a meter not designed to measure reverse flow: {proc.id} is for those; this one declares "
                f"reverse_flow (its errors in reverse are measured instead)")
    separate_r = designed and decl.reverse_flow.r is not None and decl.reverse_flow.r != decl.r
    if proc.for_reverse_flow == "designed" and separate_r:
        return (f"a meter with one R for both directions: this one declares reverse_flow.r {decl.reverse_flow.r:g} "
                f"(R {decl.r:g} forward), and {proc.id} measures at the forward Q1 and Q2 (a separate R for reverse "
                f"flow is not supported yet)")
    return None


def _simulated_meters(scenario: Any, kind: str) -> list:
    return scenario.meters if kind == "water" else scenario.gas_meters


def check_meters_agree(scenario: Any, scenario_file: str, declarations: dict[str, MeterDeclaration],
                       meter_files: list[str], kind: str) -> None:
    """Refuse a scenario whose simulated meters contradict the declared ones: fewer meters than declared, or a
    pulse value other than the one the declaration reads the meter by."""
    simulated = _simulated_meters(scenario, kind)
    problems = []
    if len(simulated) < len(declarations):
        problems.append(f"{scenario_file} simulates {len(simulated)} {kind} meter(s) "
                        f"({'gas_meters' if kind == 'gas' else 'meters'}:), the run declares {len(declarations)}")
    for position, (decl, spec, file) in enumerate(zip(declarations.values(), simulated, meter_files), start=1):
        if decl.readout == "pulses" and decl.pulse_value_l != spec.pulse_value_l:
            problems.append(f"meter position {position}: {file} declares pulse_value_l: {decl.pulse_value_l:g} L, "
                            f"{scenario_file} simulates {spec.serial} with pulse_value_l: {spec.pulse_value_l:g} L")
    if problems:
        raise MeterlabError("the scenario contradicts the meter declarations (every error would be off by the "
                            "difference):\n  " + "\n  ".join(problems)
                            + "\nmake them agree, or run without --scenario: the simulated meters then follow the "
                              "declarations")


def _following(scenario: Any, path: Path, declarations: dict[str, MeterDeclaration], kind: str) -> tuple[Any, dict]:
    """The scenario with one simulated meter per declaration: the scenario's meters' error curves and behaviour
    (in turn), each with the declared serial, pulse value, register resolution and reverse-flow design; and its
    text for the record."""
    import yaml

    simulated = _simulated_meters(scenario, kind)
    if not simulated:
        return scenario, {"file": str(path), "text": read_text(path)}
    following = [simulated[i % len(simulated)].model_copy(update={
        "serial": serial, "register_resolution_l": decl.scale_interval_l,
        "measures_reverse_flow": decl.reverse_flow is not None,  # as designed: a bidirectional one counts reverse
        **({"pulse_value_l": decl.pulse_value_l} if decl.pulse_value_l else {})})
        for i, (serial, decl) in enumerate(declarations.items())]
    adapted = scenario.model_copy(update={"meters" if kind == "water" else "gas_meters": following})
    dumped = yaml.safe_dump(adapted.model_dump(mode="json", exclude_defaults=True), sort_keys=False, allow_unicode=True)
    text = (f"# {path}, its simulated meters following the run's declarations (serial, pulse value, register "
            f"resolution, reverse-flow design)\n" + dumped)
    return adapted, {"file": f"{path} (meters following the declarations)", "text": text}


def inputs_from_header(header: dict) -> RunInputs:
    """Rebuild the inputs from the texts stored in a run's first entry."""
    texts = header["inputs"]
    with tempfile.TemporaryDirectory(prefix="meterlab-resume-") as tmp:
        def copy(item: dict, index: int) -> Path:
            path = Path(tmp) / f"{index}-{Path(item['file']).name}"
            path.write_text(item["text"], encoding="utf-8")
            return path

        procedure = copy(texts["procedure"], 0)
        meters = [copy(m, i + 1) for i, m in enumerate(texts["meters"])]
        bench = copy(texts["bench"], 90)
        scenario = copy(texts["scenario"], 91) if texts.get("scenario") else None
        inputs = load_inputs(procedure, meters, bench, scenario)
    inputs.texts = texts
    return inputs


def standards_of(bench: Bench) -> list[str]:
    """Certificate ids of the reference standards the bench names (not the severity-setting equipment)."""
    severity = set(SEVERITY_ROLES.values()) | {CLIMATE_ROLE, *MECHANICAL_ROLES}
    return sorted({entry.calibration for entry in bench.instruments.values()
                   if entry.calibration and entry.role not in severity})


def severity_equipment(procedure: Procedure, bench: Bench) -> list[str]:
    """The certificates of the equipment that sets the severity of the procedure's disturbances and climates.

    An instrument that names no certificate is given by its name: the register finds the certificate that
    backs it, or reports it unknown, so a generator outside the register cannot set a test's severity."""
    roles = set()
    for step, _, _ in procedure.walk():
        if isinstance(step, ApplyDisturbance):
            roles.add(SEVERITY_ROLES[step.disturbance])
        elif isinstance(step, (SetClimate, ClimateCycle)):
            roles.add(CLIMATE_ROLE)
        elif isinstance(step, SafetyTest) and step.function == "low_battery":  # the DC source sets its voltage
            roles.add(SEVERITY_ROLES["dc_voltage_variation"])
    return sorted({entry.calibration or name for name, entry in bench.instruments.items() if entry.role in roles})


def register_for(bench: Bench, register: Register) -> Register:
    """The register as this bench sees it: the simulated lab's certificates only for its simulated instruments."""
    return register.accepting_simulated(entry.calibration for entry in bench.instruments.values()
                                        if entry.sim and entry.calibration)


def create_run(store: Store, inputs: RunInputs, *, operator: str, register: Register, clock_scale: float,
               override_calibration: str | None = None, today: date | None = None,
               laboratory: Laboratory | None = None, operator_authenticated: bool = False) -> str:
    """Check the standards and the severity-setting equipment, and record a new run with everything needed
    to repeat or resume it.

    Whatever the inputs can be refused for is checked first (see `check_runnable`), so a run that cannot
    start leaves no record behind."""
    check_certificates(inputs.bench, Path(inputs.texts["bench"]["file"]), register)  # every id is in the register
    register = register_for(inputs.bench, register)
    used = standards_of(inputs.bench) + severity_equipment(inputs.procedure, inputs.bench)
    problems = register.enforce(used, at=today, override_reason=override_calibration)
    check_runnable(inputs, register)
    profile = profile_path(inputs.procedure.profile)
    run_id = uuid.uuid4().hex[:12]
    header = {
        "software_version": __version__, "python": platform.python_version(), "platform": platform.platform(),
        "procedure": {"id": inputs.procedure.id, "version": inputs.procedure.version, "title": inputs.procedure.title,
                      "standard": inputs.procedure.standard, "edition": inputs.procedure.edition,
                      "clause": inputs.procedure.clause, "sha256": sha256_text(inputs.texts["procedure"]["text"])},
        "profile": {"name": inputs.procedure.profile, "sha256": sha256_text(read_text(profile)),
                    "unverified": load_profile(inputs.procedure.profile).unverified_values()},
        "severities": _severities_record(inputs.procedure),
        "safety_profile": _safety_profile_record(inputs.procedure),
        "decision_rule": inputs.procedure.decision_rule,
        "bench": {"name": inputs.bench.bench, "sha256": sha256_text(inputs.texts["bench"]["text"])},
        "clock_scale": clock_scale if inputs.bench.simulated else 1.0,
        "calibration": register.snapshot([ref for ref in used if ref in register], at=today),
        "calibration_override": {"reason": override_calibration, "problems": [p.to_dict() for p in problems]}
        if problems else None,
        "inputs": inputs.texts,
        "declared_parameters": inputs.declared_parameters,  # declared values used in place of parameters, or not
        "laboratory": laboratory.model_dump() if laboratory else None,  # who issues the report, as it was
        "operator_authenticated": operator_authenticated,  # a user of the records who gave their password
    }
    store.create_run(run_id, procedure_id=inputs.procedure.id, operator=operator,
                     meters=list(inputs.declarations), header=header)
    return run_id


def check_runnable(inputs: RunInputs, register: Register) -> None:
    """Raise what a run of these inputs would stop on before its first measurement, once its standards are
    known and in calibration: the plan (test points of these meters), the reference method (the roles,
    certificates and equipment data it needs on this bench), the severity profile, and a flow the bench can give
    inside every measured test point's window."""
    plan = inputs.plan()
    reference_method(inputs, register)
    _severities(inputs.procedure)
    check_reachable(inputs, plan, register)


def check_reachable(inputs: RunInputs, plan: Plan, register: Register) -> None:
    """Refuse a run with a test point whose window holds no flowrate this bench can give."""
    problems = unreachable_points(measured_points(plan), inputs.bench, inputs.procedure.method, register)
    if problems:
        raise MeterlabError(f"procedure {inputs.procedure.id} on bench {inputs.bench.bench!r}: "
                            f"{len(problems)} test point(s) cannot be set inside their window:\n  "
                            + "\n  ".join(problems)
                            + "\nUse a bench that can give these flows (another nozzle combination, a larger pump), "
                              "or a programme without these points.")


@contextmanager
def bench_session(inputs: RunInputs, *, clock_scale: float, register: Register) -> Iterator[Any]:
    """Open the bench (starting the simulated lab for simulated instruments) and build the rig on it."""
    lab = None
    iolog = RunIOLog()
    try:
        resources, clock = {}, RealClock()
        if inputs.bench.simulated:
            from meterlab.sim.lab import SimLab
            from meterlab.sim.scenario import Scenario

            lab = SimLab(inputs.bench, inputs.scenario or Scenario(), clock_scale=clock_scale).start()
            resources, clock = lab.resources, lab.clock
        connected = open_bench(inputs.bench, iolog, resources)
        try:
            if inputs.procedure.method in ("bell_prover", "sonic_nozzle"):  # a gas rig (rigs/gas_bell.py, rigs/gas_sonic_nozzle.py)
                rig = _gas_rig(inputs, connected, clock, iolog, register)
            elif inputs.procedure.method == "master_meter":
                from meterlab.rigs.water_master_meter import MasterMeterRig

                roles = ("reference_master_meter", "water_thermometer", "water_pressure")
                rig = MasterMeterRig(connected, clock=clock, iolog=iolog, method=reference_method(inputs, register),
                                     standards=sorted({_cert(inputs.bench, r) for r in roles}), register=register)
            else:
                rig = WaterRig(connected, clock=clock, iolog=iolog, method=reference_method(inputs, register),
                               standards=standards_of(inputs.bench), register=register)
            by_position = dict(enumerate(inputs.declarations.values(), start=1))
            if isinstance(rig, WaterRig):  # reads registers too (M-Bus, Modbus, manual) with a standing start
                rig.set_meters({i: d.pulse_value_l for i, d in by_position.items() if d.readout == "pulses"},
                               readouts={i: d.readout for i, d in by_position.items()},
                               update_s={i: d.register_update_s for i, d in by_position.items()})
            else:
                rig.set_meters({i: d.pulse_value_l for i, d in by_position.items()})
            _watch_interfaces(rig, inputs, by_position)
            rig.lab = lab
            with clock.actor():  # on a virtual clock, simulated time waits for the run's thread
                yield rig
        finally:
            connected.safe_state()
            connected.close()
    finally:
        if lab is not None:
            lab.stop()


def _watch_interfaces(rig: Any, inputs: RunInputs, by_position: dict[int, MeterDeclaration]) -> None:
    """The interfaces the rig polls through every disturbed collection (rigs/transmission.py), as often as the
    profile says."""
    interfaces = {i: [f.kind for f in d.interfaces] for i, d in by_position.items() if d.interfaces}
    if not interfaces or not hasattr(rig, "set_interfaces"):
        return
    limits = load_profile(inputs.procedure.profile).data_transmission
    if limits is None:
        raise MeterlabError(f"profile {inputs.procedure.profile} has no data_transmission section: the meters' "
                            f"interfaces cannot be polled (add it as procedures/standards/r49-2013.yaml has it)")
    rig.set_interfaces(interfaces, limits.poll_interval_s.value)


def _cert(bench: Bench, role: str) -> str:
    names = bench.by_role(role)
    ids = [bench.instruments[n].calibration for n in names if bench.instruments[n].calibration]
    if not ids:
        raise MeterlabError(f"bench {bench.bench!r}: the {role} has no calibration certificate (calibration: id)")
    return ids[0]


# the instrument whose bench entry states each method's rig data (equipment:), the rig's validation among them
REFERENCE_ROLE = {"gravimetric": "reference_scale", "master_meter": "reference_master_meter",
                  "bell_prover": "bell_prover_encoder", "sonic_nozzle": "sonic_nozzle_bank"}


def reference_method(inputs: RunInputs, register: Register):
    """The reference method of the procedure on this bench, with its standards' certificates and the rig's
    reproducibility from its validation."""
    method = _method_of_certificates(inputs, register)
    return replace(method, **_reproducibility(inputs.bench, REFERENCE_ROLE[inputs.procedure.method]))


def _reproducibility(bench: Bench, role: str) -> dict[str, Any]:
    """The rig's reproducibility (equipment `reproducibility_u_pct`, a relative standard deviation in %, with the
    validation's `reproducibility_dof`), if the bench states it."""
    name = bench.by_role(role)[0]
    equipment = bench.instruments[name].equipment
    if equipment.get("reproducibility_u_pct") is None:
        return {}
    u_pct, dof = equipment["reproducibility_u_pct"], equipment.get("reproducibility_dof")
    if isinstance(u_pct, bool) or not isinstance(u_pct, (int, float)) or not 0 <= u_pct < 5:
        raise MeterlabError(f"bench {bench.bench!r}: {name}: equipment.reproducibility_u_pct = {u_pct!r}: give the "
                            f"rig's relative standard deviation from its validation in %, 0 to 5")
    if isinstance(dof, bool) or not isinstance(dof, (int, float)) or not dof >= 1:
        raise MeterlabError(f"bench {bench.bench!r}: {name}: equipment.reproducibility_dof = {dof!r}: give the degrees "
                            f"of freedom of the validation that gave reproducibility_u_pct (n - 1 runs), at least 1")
    return {"reproducibility_u_pct": float(u_pct), "reproducibility_dof": float(dof),
            "reproducibility_source": f"rig validation ({name}, bench file {bench.bench})"}


def _method_of_certificates(inputs: RunInputs, register: Register):
    """The reference method with its standards' uncertainties from their certificates."""
    bench = inputs.bench
    if inputs.procedure.method == "bell_prover":
        from meterlab.metrology.methods import BellProverMethod

        return BellProverMethod.from_register(
            register, bell=_cert(bench, "bell_prover_encoder"), thermometer=_cert(bench, "mut_gas_temperature"),
            bell_pressure=_cert(bench, "bell_pressure"), meter_pressure=_cert(bench, "mut_gas_pressure"),
            encoder_resolution_m=float(_equipment(bench, "bell_prover_encoder", "encoder_m_per_pulse")),
            temperature_difference_half_width_c=float(
                _equipment(bench, "bell_prover_encoder", "temperature_difference_half_width_c")))
    if inputs.procedure.method == "sonic_nozzle":
        from meterlab.metrology.methods import SonicNozzleMethod

        diameters = _equipment(bench, "sonic_nozzle_bank", "throat_diameters_m")
        return SonicNozzleMethod.from_register(
            register, nozzles=_cert(bench, "sonic_nozzle_bank"),
            throat_diameters_m={f"N{k}": float(d) for k, d in enumerate(diameters, start=1)},
            thermometer=_cert(bench, "mut_gas_temperature"), nozzle_pressure=_cert(bench, "nozzle_pressure"),
            meter_pressure=_cert(bench, "mut_gas_pressure"), timer=_cert(bench, "collection_timer"),
            hygrometer=_cert(bench, "gas_humidity") if bench.by_role("gas_humidity") else None,
            temperature_difference_half_width_c=float(
                _equipment(bench, "sonic_nozzle_bank", "temperature_difference_half_width_c")))
    if inputs.procedure.method == "master_meter":
        return MasterMeterMethod.from_register(
            register, master_meter=_cert(bench, "reference_master_meter"),
            thermometer=_cert(bench, "water_thermometer"), pressure=_cert(bench, "water_pressure"),
            resolution_l=float(_equipment(bench, "reference_master_meter", "totalizer_resolution_l")),
            reproducibility_half_width_pct=float(_equipment(bench, "reference_master_meter",
                                                            "reproducibility_half_width_pct")),
            temperature_difference_half_width_c=float(_equipment(bench, "reference_master_meter",
                                                                 "temperature_difference_half_width_c")))
    if inputs.procedure.method != "gravimetric":
        raise MeterlabError(f"procedure {inputs.procedure.id}: method {inputs.procedure.method} is not built into "
                            f"a rig yet (gravimetric, master_meter, bell_prover and sonic_nozzle are)")
    return GravimetricMethod.from_register(register, balance=_cert(bench, "reference_scale"),
                                           thermometer=_cert(bench, "water_thermometer"),
                                           pressure=_cert(bench, "water_pressure"),
                                           diverter_timing_u_s=float(_equipment(bench, "diverter", "diverter_timing_u_s")),
                                           temperature_difference_half_width_c=float(
                                               _equipment(bench, "reference_scale", "temperature_difference_half_width_c")),
                                           timer=_cert(bench, "collection_timer") if bench.by_role("collection_timer") else None)


def _equipment(bench: Bench, role: str, key: str) -> Any:
    """Construction data the rig needs from the bench file (`equipment:` of the instrument with `role`)."""
    names = bench.by_role(role)
    value = bench.instruments[names[0]].equipment.get(key) if names else None
    if value is None:
        raise MeterlabError(f"bench {bench.bench!r}: the instrument with role {role} must state equipment.{key}")
    return value


def _gas_rig(inputs: RunInputs, connected: Any, clock: Any, iolog: RunIOLog, register: Register) -> Any:
    """A gas rig: against the bell (bell_prover: the bell's area and the p/T uncertainties from the certificates)
    or against the nozzles (sonic_nozzle: each nozzle's Cd, the transmitters and the timer from theirs; the
    standards of a measurement are then those the method uses). The nozzles' Cd and throat diameters (bench
    file) choose the flows in both."""
    from meterlab.rigs.gas_bell import BellProverRig
    from meterlab.rigs.gas_sonic_nozzle import SonicNozzleRig

    bench = inputs.bench
    method = reference_method(inputs, register)
    diameters = [float(d) for d in _equipment(bench, "sonic_nozzle_bank", "throat_diameters_m")]
    standards = standards_of(bench)
    rig_class = BellProverRig
    if inputs.procedure.method == "sonic_nozzle":
        rig_class = SonicNozzleRig
        roles = ("sonic_nozzle_bank", "mut_gas_temperature", "nozzle_pressure", "mut_gas_pressure", "collection_timer",
                 "gas_humidity")
        standards = sorted({bench.instruments[name].calibration for role in roles for name in bench.by_role(role)
                            if bench.instruments[name].calibration})
    return rig_class(connected, clock=clock, iolog=iolog, method=method,
                     nozzle_certificate=register.get(_cert(bench, "sonic_nozzle_bank")),
                     throat_diameters_m=diameters, standards=standards, register=register)


def execute(store: Store, run_id: str, *, prompter: Prompter, bus: EventBus | None = None,
            control: RunControl | None = None, register: Register, accept_changed_inputs: str | None = None) -> RunState:
    """Run (or resume) the run `run_id` to its end: completed, aborted or failed. A file the run reads from disk
    (profiles, certificates) that changed since the run was created stops it, unless `accept_changed_inputs`
    gives the reason to go on (recorded with the changes)."""
    header = next(store.entries(run_id, kinds=["run_created"])).payload
    states = [e.payload["state"] for e in store.entries(run_id, kinds=["state"])]
    if states and states[-1] == "completed":
        raise MeterlabError(f"run {run_id} is completed; a completed run is not run again")
    check_unchanged(store, run_id, header, register, accept_changed_inputs)
    inputs = inputs_from_header(header)
    register = register_for(inputs.bench, register)
    with leases.hold(store, inputs.bench.bench, run_id, header["operator"]), \
            bench_session(inputs, clock_scale=header["clock_scale"], register=register) as rig:
        runner = Runner(run_id=run_id, plan=inputs.plan(), declarations=inputs.declarations, rig=rig, store=store,
                        prompter=prompter, procedure=inputs.procedure, bus=bus, control=control,
                        operator=header["operator"], severities=_severities(inputs.procedure), register=register,
                        calibration_override=(header.get("calibration_override") or {}).get("reason"))
        return runner.run()


class InputsChanged(MeterlabError):
    """A file the run reads from disk is not what it was when the run was created."""


def changed_inputs(header: dict, register: Register) -> list[str]:
    """The profiles and certificates whose content differs from the hashes the run recorded (the procedure,
    meters, bench and scenario are read from the record itself, so they cannot differ)."""
    changes = []
    recorded = [(f"standard profile {header['profile']['name']}", header["profile"]["name"], header["profile"]["sha256"])]
    if header.get("severities"):
        recorded.append((f"severity profile {header['severities']['name']}", header["severities"]["name"],
                         header["severities"]["sha256"]))
    if header.get("safety_profile"):
        recorded.append((f"safety profile {header['safety_profile']['name']}", header["safety_profile"]["name"],
                         header["safety_profile"]["sha256"]))
    for label, name, sha in recorded:
        path = profile_path(name)
        now = sha256_text(read_text(path))
        if now != sha:
            changes.append(f"{label} ({path}): recorded {sha[:16]}…, now {now[:16]}…")
    for standard, entry in (header.get("calibration") or {}).items():
        try:
            now = register.get(standard).sha256
        except MeterlabError:
            now = None
        if now != entry.get("sha256"):
            changes.append(f"certificate {standard} ({entry.get('file')}): recorded {str(entry.get('sha256'))[:16]}…, "
                           f"now {str(now)[:16] + '…' if now else 'missing from the register'}")
    return changes


def check_unchanged(store: Store, run_id: str, header: dict, register: Register, reason: str | None) -> None:
    changes = changed_inputs(header, register)
    if not changes:
        return
    if not reason:
        raise InputsChanged(f"run {run_id} was created with other versions of these files; going on would mix "
                            "results judged by both:\n  " + "\n  ".join(changes)
                            + "\nrestore them, or accept the change with a reason (resume --accept-changed-inputs "
                              "\"REASON\"), which is recorded")
    store.append(run_id, "operator", {"action": "accept_changed_inputs", "reason": reason, "changes": changes})


def _severities_record(procedure: Procedure) -> dict | None:
    if procedure.severities is None:
        return None
    return {"name": procedure.severities, "sha256": sha256_text(read_text(profile_path(procedure.severities)))}


def _safety_profile_record(procedure: Procedure) -> dict | None:
    """The safety profile a run judges by: its hash (a change stops a resume) and its values not yet verified."""
    if procedure.safety_profile is None:
        return None
    return {"name": procedure.safety_profile, "sha256": sha256_text(read_text(profile_path(procedure.safety_profile))),
            "unverified": load_safety_profile(procedure.safety_profile).unverified_values()}


def _severities(procedure: Procedure):
    if procedure.severities is None:
        return None
    from meterlab.procedures.severities import load_severities

    return load_severities(procedure.severities)
