"""An interface fuzzing campaign with a metrological oracle (issue 16, part 2; docs/fuzzing.md).

The meter runs at constant flow on the rig for the whole campaign. Its error against the reference is measured
before the first case, after each group of cases and after the last (flying starts, pulses against the weighing
tank); each difference with the first must stay within the significant-fault limit of the meter's profile. Around every case the oracle reads the
meter's declared registers (software identification, legally relevant parameters, totaliser): a register may
change only where the case is a documented write to it; the meter must answer again within its stated recovery
time; a malformed frame must never get a normal reply. Every frame both ways is in the case's I/O log.

Classes: fail (undocumented state change, significant fault, corrupted frame accepted, no recovery in the stated
time), warning (a crash or hang that recovered in time with nothing changed), pass."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from meterlab.engine.session import DEFAULT_CLOCK_SCALE, RunInputs, bench_session, load_inputs, sha256_text
from meterlab.errors import MeterlabError
from meterlab.instruments.fuzz.cases import FuzzCase, framer_for, generate_cases, read_pdu
from meterlab.instruments import mbus
from meterlab.instruments.fuzz.link import LinkDown, ModbusTcpLink, decode_reply, mbus_normal
from meterlab.instruments.fuzz.mbus_cases import REQ_UD2_FRESH, generate_mbus_cases
from meterlab.metrology.declarations import MeterDeclaration
from meterlab.metrology.fluids import water_density
from meterlab.metrology.interface import MBusInterface, ModbusInterface, RegisterDecl
from meterlab.procedures.validate import check_interfaces_wired, interface_instrument, meter_position
from meterlab.records import leases
from meterlab.records.store import Store

PROCEDURE_ID = "interface-fuzz"
TITLE = "Interface fuzzing with a metrological oracle"
# The rig's part of the campaign is an intrinsic-error set-up: its procedure names the method and the bench's
# reference; only its flowrate window matters here.
RIG_PROCEDURE = Path(__file__).resolve().parents[3] / "procedures" / "r49" / "intrinsic-error.yaml"
FLOW_FRACTION_OF_Q3 = 0.5  # the constant flow of the campaign, a share of Q3 every meter measures at
MEASURE_S = 60.0            # one error measurement: about this long a collection at the campaign's flow
PROBE_STEP_S = 1.0          # simulated seconds between two probes of a meter that does not answer
RECOVERY_WATCH_FACTOR = 3   # how long past its stated recovery time a silent meter is watched (its figure)
QUICK_FAILURE_REAL_S = 0.05  # a probe that failed faster than this was refused, not left unanswered
# Simulated seconds between two cases: a campaign's pace on the wire, as a meter sees it. Without it a virtual
# clock would put every case at one instant and any meter that counts requests per second would see a flood.
CASE_PACE_S = 0.5
NO_GUARD: Callable[[], None] = lambda: None


class FuzzInputError(MeterlabError):
    """A campaign's input that cannot work, found before any record is made."""


@dataclass
class FuzzSetup:
    inputs: RunInputs
    declaration: MeterDeclaration
    interface: ModbusInterface | MBusInterface
    instrument: str  # the bench's instrument that is the meter's Modbus interface
    meter_file: str


def load_fuzz_inputs(meter: Path, bench: Path, scenario: Path | None) -> FuzzSetup:
    """Read and check everything a campaign needs; every problem names the file, the field and the fix."""
    if not Path(meter).is_file():
        raise FuzzInputError(f"{meter}: no such meter declaration file; give the path of a meter declaration "
                             f"(e.g. examples/meters/dn15-class2-modbus.yaml)")
    from meterlab.sim.scenario import default_scenario

    inputs = load_inputs(RIG_PROCEDURE, [meter], bench, scenario or default_scenario(bench),
                         follow_declarations=scenario is None)
    declaration = next(iter(inputs.declarations.values()))
    if declaration.interface is None:
        raise FuzzInputError(f"{meter}: field 'interface' is missing: a fuzz campaign is generated from the meter's "
                             f"declared interface. Add `interface: {{recovery_s: ..., modbus: {{unit: ..., functions: "
                             f"[...], registers: [...]}}}}` (or `mbus:`) from the maker's manual (docs/fuzzing.md, "
                             f"section 1)")
    interface = declaration.interface.modbus or declaration.interface.mbus  # a meter with both: its Modbus side
    # the bench must reach the declared interface of the meter at position 1 (what `meterlab validate` checks too)
    check_interfaces_wired([(declaration, Path(meter))], inputs.bench, Path(bench), fields=("interface",))
    kind = "mbus" if interface.transport == "mbus" else "modbus"
    instrument = interface_instrument(inputs.bench, meter_position(declaration.kind, 1), kind,
                                      getattr(interface, "primary_address", None) if kind == "mbus" else None)
    if interface.transport != "mbus":
        check_framing(inputs, instrument, interface.transport, meter)
    return FuzzSetup(inputs, declaration, interface, instrument, str(meter))


def check_framing(inputs: RunInputs, instrument: str, transport: str, meter: Path) -> None:
    """On a simulated bench, the simulated meter must speak the framing the declaration fuzzes (RTU is reached
    over TCP through a transparent gateway, so nothing else would tell the two apart until nothing answers)."""
    entry = inputs.bench.instruments[instrument]
    if not entry.sim or inputs.scenario is None:
        return
    from meterlab.instruments import registry

    params = inputs.scenario.device_params(instrument, registry.sim_device_class(entry.driver).Params)
    framing = getattr(params, "framing", "tcp")
    if framing != transport:
        raise FuzzInputError(f"{meter}: field 'interface.modbus.transport' is {transport}, but the simulated "
                             f"{instrument} speaks {framing}: declare transport: {framing}, or give a scenario whose "
                             f"devices.{instrument}.framing is {transport}")


def campaign_header(setup: FuzzSetup, *, seed: int, cases: int | None, budget_s: float | None) -> dict:
    import platform

    from meterlab import __version__

    texts = setup.inputs.texts
    generator = {"interface": setup.interface.model_dump(), "seed": seed, "max_cases": cases}
    return {
        # what every run's header says (records list, show, the console): the "procedure" is the case generator
        "software_version": __version__, "python": platform.python_version(), "platform": platform.platform(),
        "procedure": {"id": PROCEDURE_ID, "version": 1, "title": TITLE, "standard": "OIML D 31", "edition": "2023",
                      "clause": "6.2.3.3, 6.3.6.6 (protective interface); the campaign is meterlab's design [U]",
                      "sha256": sha256_text(json.dumps(generator, sort_keys=True))},
        "kind": PROCEDURE_ID, "seed": seed, "max_cases": cases, "budget_s": budget_s,
        "instrument": setup.instrument, "meter_file": setup.meter_file,
        "recovery_s": setup.declaration.interface.recovery_s,
        "interface": setup.interface.model_dump(),
        "inputs": {"meters": texts["meters"], "bench": texts["bench"], "scenario": texts["scenario"]},
        "sha256": {"meter": sha256_text(texts["meters"][0]["text"]), "bench": sha256_text(texts["bench"]["text"])},
    }


def create_campaign(store: Store, setup: FuzzSetup, *, operator: str, seed: int, cases: int | None,
                    budget_s: float | None, calibration_dir: Path | None = None) -> str:
    """Record a new campaign. The rig's reference standards must be in calibration, as for any run (the error is
    measured with them): a campaign that cannot start leaves no record behind."""
    import uuid

    register, used = check_standards(setup, calibration_dir)
    header = campaign_header(setup, seed=seed, cases=cases, budget_s=budget_s)
    header["calibration"] = register.snapshot([ref for ref in used if ref in register])
    header["calibration_dir"] = str(calibration_dir) if calibration_dir else None
    run_id = uuid.uuid4().hex[:12]
    store.create_run(run_id, procedure_id=PROCEDURE_ID, operator=operator, meters=[setup.declaration.serial],
                     header=header)
    return run_id


def check_standards(setup: FuzzSetup, calibration_dir: Path | None = None) -> tuple[Any, list[str]]:
    """Every certificate the bench names exists, and the rig's standards are in calibration (else it raises)."""
    from meterlab.engine.session import standards_of
    from meterlab.procedures.validate import check_certificates

    register = _register(setup, calibration_dir)
    check_certificates(setup.inputs.bench, Path(setup.inputs.texts["bench"]["file"]), register)
    used = standards_of(setup.inputs.bench)
    register.enforce(used)
    return register, used


# ------------------------------------------------------------------------------------------------ the oracle
@dataclass
class Oracle:
    """Reads the meter's declared state over fresh connections, and times its recovery on the rig's clock."""

    interface: Any  # ModbusInterface or MBusInterface
    link: Callable[[], ModbusTcpLink]
    rig: Any
    recovery_s: float
    state: dict[str, list[int]] = field(default_factory=dict)
    totaliser: list[int] | None = None

    def read(self, reg: RegisterDecl) -> list[int] | None:
        link = self.link()
        try:
            reply = link.exchange(_frame(self.interface, reg))
        except LinkDown:
            return None
        finally:
            link.close()
        pdu = decode_reply(reply, self.interface.transport) if reply else None
        registers = getattr(pdu, "registers", None)
        return list(registers) if registers and len(registers) == reg.count and pdu.function_code < 0x80 else None

    def answers(self) -> bool:
        watched = self.interface.watched() or self.interface.registers
        return self.read(watched[0]) is not None

    def recovery(self) -> float | None:
        """Simulated seconds until the meter answers again (0: it never stopped); None: not within the watch.
        A refused or dropped connection is probed again every second; a silent meter costs a reply timeout of real
        time per probe, so those probes thin out (1, 2, 4 ... s). The stated recovery time is always probed: the
        verdict turns there. The figure is an upper bound, to the probe that answered."""
        start = self.rig.clock.now()
        schedule = probe_offsets(self.recovery_s)
        at = 0.0
        while True:
            wait = start + at - self.rig.clock.now()
            if wait > 0:
                self.rig.wait(wait, guard=NO_GUARD)
            asked = time.monotonic()
            if self.answers():
                return self.rig.clock.now() - start
            if at >= schedule[-1]:
                return None
            later = min(o for o in schedule if o > at)
            at = min(at + PROBE_STEP_S, later) if time.monotonic() - asked < QUICK_FAILURE_REAL_S else later

    def snapshot(self) -> dict[str, list[int] | None]:
        return {reg.name: self.read(reg) for reg in self.interface.watched()}

    def read_totaliser(self) -> list[int] | None:
        regs = self.interface.by_role("totaliser")
        return self.read(regs[0]) if regs else None


@dataclass
class MBusOracle(Oracle):
    """The oracle of an M-Bus meter: each read is a REQ_UD2 without FCV (always a new telegram); the state is the
    telegram's header (identification, manufacturer, version: the software, medium) and the declared records."""

    def telegram(self) -> Any:
        link = self.link()
        try:
            reply = link.exchange(mbus.short_frame(REQ_UD2_FRESH, self.interface.primary_address))
        except LinkDown:
            return None
        finally:
            link.close()
        try:
            return mbus.decode_rsp_ud(reply, address=self.interface.primary_address) if reply else None
        except (mbus.MBusFrameError, mbus.MBusApplicationError):
            return None

    def answers(self) -> bool:
        return self.telegram() is not None

    def snapshot(self) -> dict[str, list | None]:
        telegram = self.telegram()
        if telegram is None:
            return {}
        state: dict[str, list | None] = {"identification": [telegram.identification],
                                         "manufacturer": [telegram.manufacturer], "version": [telegram.version],
                                         "medium": [telegram.medium]}
        for record in self.interface.watched():
            state[record.name] = _record_value(telegram, record)
        return state

    def read_totaliser(self) -> list | None:
        records = self.interface.by_role("totaliser")
        telegram = self.telegram() if records else None
        return _record_value(telegram, records[0]) if telegram is not None else None


def _record_value(telegram: Any, record: Any) -> list | None:
    found = next((r for r in telegram.records if r.vif == record.vif and r.storage_number == record.storage), None)
    return None if found is None else [found.value]


def baseline(oracle: Oracle, meter_file: str) -> None:
    """The meter's state before the first case. Everything declared must be read: a register or record that is not
    there would be left out of every comparison, and its changes never seen."""
    state = oracle.snapshot()
    totaliser = oracle.read_totaliser()
    declared = [item.name for item in oracle.interface.watched()]
    missing = [name for name in declared if state.get(name) is None]
    if oracle.interface.by_role("totaliser") and totaliser is None:
        missing += [item.name for item in oracle.interface.by_role("totaliser")]
    if not state or missing:
        raise FuzzInputError(f"{meter_file}: field 'interface': {', '.join(missing) or 'nothing'} declared but not "
                             f"read from the meter before the first case (not answered, or not where the declaration "
                             f"says): check the addresses, tables, VIFs and storage numbers against the meter")
    oracle.state, oracle.totaliser = state, totaliser


def probe_offsets(stated_s: float) -> list[float]:
    """When to probe a meter that may be down, from the case's end: 0, then doubling steps up to the stated
    recovery time, the stated time itself, and on to RECOVERY_WATCH_FACTOR times it (the figure reported)."""
    offsets, step = [0.0], PROBE_STEP_S
    while step < stated_s:
        offsets.append(step)
        step *= 2
    offsets.append(stated_s)
    offsets += [stated_s * k for k in range(2, RECOVERY_WATCH_FACTOR + 1)]
    return offsets


def _frame(interface: ModbusInterface, reg: RegisterDecl) -> bytes:
    pdu = read_pdu(reg.table, reg.address, reg.count)
    pdu.dev_id, pdu.transaction_id = interface.unit, 0xFFF0
    return framer_for(interface.transport).buildFrame(pdu)


# ------------------------------------------------------------------------------------------------ a case
def send_case(case: FuzzCase, link: ModbusTcpLink) -> list[dict]:
    """Send the case's frames; what came back for each (a flood is sent back to back, then drained)."""
    replies: list[dict] = []
    try:
        if case.flood:
            for frame in case.frames:
                link.send(frame)
            while (reply := link.receive(0.05)) is not None:
                replies.append(_reply(reply, link.framing))
            return replies
        for frame in case.frames:
            reply = link.exchange(frame)
            replies.append(_reply(reply, link.framing) if reply else {"reply": None, "normal": False})
    except LinkDown as exc:
        replies.append({"reply": None, "normal": False, "link": str(exc)})
    finally:
        link.close()
    return replies


def _reply(data: bytes, framing: str) -> dict:
    if framing == "mbus":
        return {"reply": data.hex(" "), "normal": mbus_normal(data)}
    pdu = decode_reply(data, framing)
    normal = pdu is not None and pdu.function_code < 0x80
    return {"reply": data.hex(" "), "normal": normal}


def judge_case(case: FuzzCase, replies: list[dict], recovery_s: float | None, stated_s: float,
               changes: dict[str, tuple], totaliser_back: bool) -> tuple[str, list[str]]:
    """The case's class and why."""
    fails, warnings = [], []
    if case.malformed and any(r["normal"] for r in replies):
        fails.append("corrupted frame accepted: a malformed frame got a normal reply")
    for name, (before, after) in changes.items():
        fails.append(f"undocumented state change: {name} {before} -> {after}")
    if totaliser_back:
        fails.append("undocumented state change: the totaliser went backwards or was reset")
    if recovery_s is None:
        fails.append(f"no answer within {RECOVERY_WATCH_FACTOR} x the stated recovery time ({stated_s:g} s)")
    elif recovery_s > stated_s:
        fails.append(f"recovered after {recovery_s:g} s, beyond the stated {stated_s:g} s")
    elif recovery_s > 0:
        warnings.append(f"stopped answering; recovered after {recovery_s:g} s (stated {stated_s:g} s), nothing changed")
    return ("fail", fails) if fails else ("warning", warnings) if warnings else ("pass", [])


def changed(case: FuzzCase, interface: Any, before: dict, after: dict) -> dict[str, tuple]:
    """What changed where the case does not document a change (or left a documented write's range)."""
    declared = {reg.name: reg for reg in interface.watched()}
    out = {}
    for name, old in before.items():
        new = after.get(name)
        if old is None or new is None or old == new:
            continue
        values = getattr(declared.get(name), "values", None)
        documented = name in case.allowed and values and all(values[0] <= w <= values[1] for w in new)
        if not documented:
            out[name] = (old, new)
    return out


def run_case(case: FuzzCase, oracle: Oracle, link: ModbusTcpLink) -> dict:
    before = dict(oracle.state)
    total_before = oracle.totaliser
    replies = send_case(case, link)
    recovery = oracle.recovery()
    after = oracle.snapshot() if recovery is not None else {}
    total_after = oracle.read_totaliser() if recovery is not None else None
    changes = changed(case, oracle.interface, before, after)
    back = total_before is not None and total_after is not None and _u32(total_after) < _u32(total_before)
    verdict, reasons = judge_case(case, replies, recovery, oracle.recovery_s, changes, back)
    oracle.state.update({k: v for k, v in after.items() if v is not None})
    oracle.totaliser = total_after or total_before
    return {**case.summary(), "replies": replies[:8], "replies_total": len(replies), "recovery_s": recovery,
            "verdict": verdict, "reasons": reasons}


def _u32(words: list) -> float:
    """A totaliser as one number: Modbus registers high word first, or an M-Bus record's value."""
    if len(words) == 1:
        return words[0]
    value = 0
    for word in words:
        value = value << 16 | word
    return value


# ------------------------------------------------------------------------------------------------ metrology
def error_pct(rig: Any, serial: str, pulse_value_l: float, flowrate_m3h: float) -> dict:
    """One flying-start measurement at the campaign's flow: the meter's pulses against the weighing tank. The
    buoyancy and the tank's corrections are left out: both measurements share them, and the oracle judges their
    difference."""
    volume_l = flowrate_m3h / 3.6 * MEASURE_S
    raw = rig.measure(volume_l, flowrate_m3h, [serial], start="flying", disturbance=None, criteria=None,
                      guard=NO_GUARD)
    reading = raw.reading
    reference_l = (reading.balance_end_kg - reading.balance_start_kg) / float(
        water_density(reading.tank_water_temperature_c)) * 1000.0
    indicated_l = raw.mut[serial]["pulses"] * pulse_value_l
    return {"reference_l": reference_l, "indicated_l": indicated_l,
            "error_pct": (indicated_l - reference_l) / reference_l * 100.0, "at_s": rig.clock.now()}


# ------------------------------------------------------------------------------------------------ the campaign
def selected(cases: list[FuzzCase], max_cases: int | None) -> list[FuzzCase]:
    return cases if max_cases is None else cases[:max_cases]


def execute_campaign(store: Store, run_id: str, *, on_case: Callable[[dict], None] | None = None) -> dict:
    """Run (or resume: cases already recorded are skipped) the campaign `run_id`; return its summary."""
    header = next(store.entries(run_id, kinds=["run_created"])).payload
    setup = _setup_from_header(header)
    done = {e.key for e in store.entries(run_id, kinds=["fuzz_case"])}
    cases = selected(cases_for(setup.interface, header["seed"]), header.get("max_cases"))
    with leases.hold(store, setup.inputs.bench.bench, run_id, header["operator"]), \
            bench_session(setup.inputs, clock_scale=DEFAULT_CLOCK_SCALE,
                          register=_register(setup, header.get("calibration_dir"))) as rig:
        oracle, link = _oracle(setup, rig)
        decl = setup.declaration
        flow = FLOW_FRACTION_OF_Q3 * decl.q3_m3h
        rig.set_flow(flow)
        rig.stabilise(flow, flow_within_pct=2.5, water_temperature_c=None, for_s=30, timeout_s=600, guard=NO_GUARD)
        def measure(phase: str, key: str) -> None:
            store.append(run_id, "fuzz_measurement",
                         {"phase": phase, **error_pct(rig, decl.serial, decl.pulse_value_l, flow)}, key=key)

        measure("before", f"measure:before:{len(done)}")
        try:
            baseline(oracle, setup.meter_file)
        except FuzzInputError as exc:
            store.append(run_id, "state", {"state": "failed", "reason": str(exc)})
            raise
        _run_cases(store, run_id, cases, done, oracle, link, header.get("budget_s"), on_case, measure)
        measure("after", "measure:after")
        rig.stop_flow()
    summary = summarise(store, run_id, decl)
    store.append(run_id, "state", {"state": "completed", "summary": summary}, key="state:completed")
    return summary


def _run_cases(store, run_id, cases, done, oracle, link, budget_s, on_case, measure) -> None:
    """The cases not yet recorded, in order; the error is measured after each group of cases (the meter keeps
    running at the campaign's flow), so a significant fault is placed within a group."""
    started = time.monotonic()
    for index, case in enumerate(cases):
        if f"case:{case.number}" in done:
            continue
        if budget_s is not None and index > 0 and time.monotonic() - started > budget_s:  # one case at least
            store.append(run_id, "fuzz_budget", {"stopped_before_case": case.number, "budget_s": budget_s})
            break
        oracle.rig.wait(CASE_PACE_S, guard=NO_GUARD)
        result = run_case(case, oracle, link())
        result["io"] = oracle.rig.drain_io()
        store.append(run_id, "fuzz_case", result, key=f"case:{case.number}")
        if on_case is not None:
            on_case(result)
        last_of_group = index + 1 == len(cases) or cases[index + 1].group != case.group
        if last_of_group and index + 1 < len(cases):
            measure(f"after {case.group}", f"measure:{case.group}:{case.number}")


def _oracle(setup: FuzzSetup, rig: Any) -> tuple[Oracle, Callable[[], ModbusTcpLink]]:
    host, port = _address(setup, getattr(rig, "lab", None))

    def link() -> ModbusTcpLink:
        return ModbusTcpLink(setup.instrument, host, int(port), rig.iolog, framing=setup.interface.transport)

    kind = MBusOracle if setup.interface.transport == "mbus" else Oracle
    return kind(setup.interface, link, rig, setup.declaration.interface.recovery_s), link


def _address(setup: FuzzSetup, lab: Any) -> tuple[str, int]:
    """Where the meter's interface listens: the simulated lab's server, or the bench entry's Modbus address or
    TCPIP socket resource (an M-Bus gateway)."""
    entry = setup.inputs.bench.instruments[setup.instrument]
    resource = lab.resources[setup.instrument] if lab is not None else entry.resource
    if resource and resource.upper().startswith("TCPIP"):  # TCPIP::host::port::SOCKET
        _, host, port, _ = resource.split("::")
        return host, int(port)
    if lab is not None:
        host, _, port = resource.rpartition(":")
        return host, int(port)
    if entry.modbus is None or entry.modbus.host is None:
        raise FuzzInputError(f"bench instrument {setup.instrument}: its interface is fuzzed over TCP; give "
                             f"modbus: {{host, port}} or a TCPIP::host::port::SOCKET resource")
    return entry.modbus.host, entry.modbus.port


def cases_for(interface: Any, seed: int) -> list[FuzzCase]:
    return generate_mbus_cases(interface, seed) if interface.transport == "mbus" else generate_cases(interface, seed)


def _setup_from_header(header: dict) -> FuzzSetup:
    """The campaign's inputs from its record alone (resume and replay read no file but the record)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="meterlab-fuzz-"))
    paths = {}
    for key, item in (("meter", header["inputs"]["meters"][0]), ("bench", header["inputs"]["bench"]),
                      ("scenario", header["inputs"]["scenario"])):
        if item is None:
            paths[key] = None
            continue
        path = folder / f"{key}.yaml"
        path.write_text(item["text"], encoding="utf-8")
        paths[key] = path
    setup = load_fuzz_inputs(paths["meter"], paths["bench"], paths["scenario"])
    setup.meter_file = header["meter_file"]
    return setup


def _register(setup: FuzzSetup, calibration_dir: Path | str | None = None):
    """The register of certificates as this bench sees it (default: the checkout's calibration/ folder)."""
    from meterlab.calibration.register import Register
    from meterlab.engine.session import register_for

    folder = Path(calibration_dir) if calibration_dir else Path(__file__).resolve().parents[3] / "calibration"
    return register_for(setup.inputs.bench, Register.load(folder))


# ------------------------------------------------------------------------------------------------ summary
def summarise(store: Store, run_id: str, decl: MeterDeclaration) -> dict:
    cases = [e.payload for e in store.entries(run_id, kinds=["fuzz_case"])]
    measures = {e.payload["phase"]: e.payload for e in store.entries(run_id, kinds=["fuzz_measurement"])}
    limit = decl.meter().significant_fault_pct()
    findings = [{"case": c["case"], "group": c["group"], "title": c["title"], "class": c["verdict"],
                 "reasons": c["reasons"]} for c in cases if c["verdict"] != "pass"]
    faults = {phase: m["error_pct"] - measures["before"]["error_pct"]
              for phase, m in measures.items() if phase != "before" and "before" in measures}
    fault = max(faults.values(), key=abs) if faults else None
    significant = [phase for phase, f in faults.items() if abs(f) > limit]
    if significant:
        phase = significant[0]
        changed_cases = [f["case"] for f in findings if any("state change" in r for r in f["reasons"])]
        findings.append({"case": changed_cases[0] if changed_cases else None, "group": "metrology",
                         "title": f"significant fault, measured {phase}", "class": "fail",
                         "reasons": [f"error {measures['before']['error_pct']:+.3f} % before, "
                                     f"{measures[phase]['error_pct']:+.3f} % {phase}: fault {faults[phase]:+.3f} % "
                                     f"beyond the significant-fault limit {limit:g} %"]})
    per_class = {k: sum(1 for c in cases if c["verdict"] == k) for k in ("pass", "warning", "fail")}
    per_group: dict[str, dict[str, int]] = {}
    for c in cases:
        per_group.setdefault(c["group"], {"pass": 0, "warning": 0, "fail": 0})[c["verdict"]] += 1
    verdict = "fail" if any(f["class"] == "fail" for f in findings) else "warning" if findings else "pass"
    return {"cases_run": len(cases), "per_class": per_class, "per_group": per_group, "findings": findings,
            "finding_kinds": finding_kinds(findings),
            "recovery_s": [[c["case"], c["recovery_s"]] for c in cases if c["recovery_s"]],
            "fault_pct": fault, "significant_fault_limit_pct": limit, "verdict": verdict,
            "measurements": measures}


def finding_kinds(findings: list[dict]) -> list[dict]:
    """The findings by kind (their reasons with the numbers left out): one weakness met by sixty cases is one line
    with its count and the first case to replay, not sixty lines."""
    import re

    kinds: dict[tuple[str, str], dict] = {}
    for finding in findings:
        for reason in finding["reasons"]:
            kind = re.sub(r"\[[^\]]*\]|[-+]?\d+(\.\d+)?", "#", reason)
            entry = kinds.setdefault((finding["class"], kind), {"class": finding["class"], "kind": kind, "count": 0,
                                                                 "first_case": finding["case"], "example": reason})
            entry["count"] += 1
    return sorted(kinds.values(), key=lambda k: (k["class"] != "fail", k["first_case"] is None, k["first_case"] or 0))


def replay_case(store: Store, run_id: str, number: int) -> dict:
    """Replay one case of a recorded campaign on a fresh bench: same seed, same case, same oracle."""
    header = next(store.entries(run_id, kinds=["run_created"])).payload
    if header.get("kind") != PROCEDURE_ID:
        raise FuzzInputError(f"run {run_id} is not an interface fuzz campaign")
    setup = _setup_from_header(header)
    cases = cases_for(setup.interface, header["seed"])
    if not 0 <= number < len(cases):
        raise FuzzInputError(f"case {number}: campaign {run_id} has cases 0..{len(cases) - 1}")
    with bench_session(setup.inputs, clock_scale=DEFAULT_CLOCK_SCALE,
                       register=_register(setup, header.get("calibration_dir"))) as rig:
        oracle, link = _oracle(setup, rig)
        baseline(oracle, setup.meter_file)
        result = run_case(cases[number], oracle, link())
        result["io"] = rig.drain_io()
    return result


