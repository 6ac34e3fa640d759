"""Machine-readable results in PTB's Digital Calibration Certificate XML (the schema shipped with
`calibration/dcc.py`): one run's measurement results as a DCC, and a type
evaluation's dossier as a Digital Test Report (an ISO/IEC 17025 test report written with the same schema).

Both are built from the record alone, like the HTML report. Every error of indication is a `si:real` in percent
with its expanded uncertainty (U, k and the coverage probability of a normal distribution), beside the
flowrate, the volumes and the MPE; the decision rule's outcome of each point and each check is a
`dcc:conformity` in the quantity's metadata, the rule itself a `dcc:declaration`. Each file is validated
against the shipped XSDs before it is handed out (`validate`): a file that does not validate is an error,
never a silent export.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any

from meterlab.calibration.dcc import DCC_NS, SCHEMA_VERSION, SI_NS, validate
from meterlab.records.evaluations import TYPE_FIELDS, Evaluation
from meterlab.records.store import Store
from meterlab.reports.document import collect, report_number

LANG = "en"
UNKNOWN_COUNTRY = "ZZ"  # ISO 3166-1 user-assigned: the laboratory file states no country
# D-SI unit strings of the quantities a result states
FLOWRATE_UNIT, VOLUME_UNIT, PERCENT = r"\metre\tothe{3}\hour\tothe{-1}", r"\litre", r"\percent"
CONFORMITY = {"pass": "pass", "fail": "fail", "conditional pass": "conditionalPass",
              "conditional fail": "conditionalFail"}  # others (inconclusive, aborted, error) state none

ET.register_namespace("dcc", DCC_NS)
ET.register_namespace("si", SI_NS)


# ------------------------------------------------------------------------------------------- element helpers
def _el(parent: ET.Element, tag: str, text: str | None = None, ns: str = DCC_NS, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def _text(parent: ET.Element, tag: str, content: str) -> ET.Element:
    """A dcc:textType / richContentType element with one English content."""
    element = _el(parent, tag)
    _el(element, "content", content, lang=LANG)
    return element


def _number(value: float) -> str:
    return repr(float(value))


def _real(parent: ET.Element, value: float, unit: str, *, label: str | None = None, U: float | None = None,
          k: float | None = None) -> None:
    real = _el(parent, "real", ns=SI_NS)
    if label:
        _el(real, "label", label, ns=SI_NS)
    _el(real, "value", _number(value), ns=SI_NS)
    _el(real, "unit", unit, ns=SI_NS)
    if U is not None and k is not None:
        unc = _el(real, "expandedUnc", ns=SI_NS)
        _el(unc, "uncertainty", _number(U), ns=SI_NS)
        _el(unc, "coverageFactor", _number(k), ns=SI_NS)
        # the probability a normal distribution gives the interval ±k·u (the budgets' assumption)
        _el(unc, "coverageProbability", f"{math.erf(k / math.sqrt(2)):.4f}", ns=SI_NS)
        _el(unc, "distribution", "normal", ns=SI_NS)


def _quantity(parent: ET.Element, name: str, value: float | None, unit: str, *, ref: str | None = None,
              U: float | None = None, k: float | None = None) -> ET.Element:
    attrs = {"refType": ref} if ref else {}
    quantity = _el(parent, "quantity", **attrs)
    _text(quantity, "name", name)
    if value is None or not math.isfinite(value):
        _text(quantity, "noQuantity", "not measured")
    else:
        _real(quantity, value, unit, U=U if U is not None and math.isfinite(U) else None, k=k)
    return quantity


def _conformity(parent: ET.Element, verdict: str | None, declaration: str) -> None:
    """A metaData statement: the decision rule (declaration) and, for a binary or conditional verdict, its
    conformity; an inconclusive verdict states none and says so."""
    meta = _el(_el(parent, "measurementMetaData"), "metaData")
    state = CONFORMITY.get(verdict or "")
    _text(meta, "declaration", declaration if state else f"{declaration}; verdict {verdict}: no conformity stated")
    if state:
        _el(meta, "conformity", state)


def _contact(parent: ET.Element, tag: str, name: str, address: str | None, country: str) -> None:
    contact = _el(parent, tag)
    _text(contact, "name", name)
    _el(contact, "eMail", "")  # the laboratory file states none; the element is mandatory
    location = _el(contact, "location")
    _el(location, "countryCode", country)
    if address:
        _text(location, "further", address)


# ------------------------------------------------------------------------------------------- one run
def _laboratory(header: dict) -> dict[str, Any]:
    return header.get("laboratory") or {"name": "laboratory not recorded", "address": None}


def _core(admin: ET.Element, identifier: str, period: tuple[str, str], country: str, ids: list[tuple[str, str]]):
    core = _el(admin, "coreData")
    _el(core, "countryCodeISO3166_1", country)
    _el(core, "usedLangCodeISO639_1", LANG)
    _el(core, "mandatoryLangCodeISO639_1", LANG)
    _el(core, "uniqueIdentifier", identifier)
    identifications = _el(core, "identifications")
    for name, value in ids:
        identification = _el(identifications, "identification")
        _el(identification, "issuer", "calibrationLaboratory")
        _el(identification, "value", value)
        _text(identification, "name", name)
    _el(core, "beginPerformanceDate", period[0][:10])
    _el(core, "endPerformanceDate", period[1][:10])
    _el(core, "performanceLocation", "laboratory")


def _software(admin: ET.Element, version: str) -> None:
    software = _el(_el(admin, "dccSoftware"), "software")
    _text(software, "name", "meterlab")
    _el(software, "release", str(version))


def _items(admin: ET.Element, serials: list[str], declarations: dict[str, dict]) -> None:
    items = _el(admin, "items")
    for serial in serials:
        declaration = declarations.get(serial, {})
        item = _el(items, "item")
        kind = declaration.get("kind", "")
        _text(item, "name", f"{kind.capitalize()} meter {declaration.get('model', '')}".strip())
        described = ", ".join(f"{k} {declaration[k]}" for k in ("accuracy_class", "q3_m3h", "r", "qmin_m3h", "qt_m3h",
                                                                 "qmax_m3h", "software_id") if k in declaration)
        if described:
            _text(item, "description", described)
        _text(_el(item, "manufacturer"), "name", str(declaration.get("manufacturer", "not declared")))
        if declaration.get("model"):
            _el(item, "model", str(declaration["model"]))
        identification = _el(_el(item, "identifications"), "identification")
        _el(identification, "issuer", "manufacturer")
        _el(identification, "value", serial)
        _text(identification, "name", "serial number")


def _people(admin: ET.Element, operator: str, approvals: list[dict]) -> None:
    people = _el(admin, "respPersons")
    for name, role, main in [(operator, "test performed by", False)] + [
            (a["by"], f"signed off as {a['role']}", a["role"] == "qa") for a in approvals]:
        person = _el(people, "respPerson")
        _text(_el(person, "person"), "name", str(name))
        _el(person, "role", role)
        if main:
            _el(person, "mainSigner", "true")


def _rule_text(header: dict, points: list[dict]) -> str:
    rules = sorted({p["decision_rule"] for p in points if p.get("decision_rule")}) or [header.get("decision_rule")]
    return "decision rule: " + ", ".join(str(r) for r in rules) + " (ILAC-G8:09/2019, JCGM 106:2012)"


def _equipment(parent: ET.Element, header: dict) -> None:
    standards = [c for _, c in sorted((header.get("calibration") or {}).items())]
    if not standards:
        return
    equipments = _el(parent, "measuringEquipments")
    for c in standards:
        equipment = _el(equipments, "measuringEquipment")
        _text(equipment, "name", f"{c.get('id')}: {c.get('description')}")
        _text(equipment, "description", f"{c.get('kind', 'calibration')} certificate {c.get('certificate')} of "
                                        f"{c.get('laboratory')}, {c.get('calibration_date')}, due {c.get('due_date')}"
                                        + (" (simulated laboratory)" if c.get("simulated") else ""))
        if c.get("sha256"):
            certificate = _el(equipment, "certificate")
            _text(certificate, "referral", f"certificate {c.get('certificate')}")
            _el(certificate, "referralID", str(c.get("certificate")))
            _el(certificate, "procedure", "SHA-256 of the certificate file")
            _el(certificate, "value", c["sha256"])
        if c.get("serial"):
            identification = _el(_el(equipment, "identifications"), "identification")
            _el(identification, "issuer", "manufacturer")
            _el(identification, "value", str(c["serial"]))
            _text(identification, "name", "serial number")


def _points(result: ET.Element, points: list[dict], rule: str) -> None:
    data = _el(result, "data")
    for p in points:
        point = _el(data, "list")
        _text(point, "name", f"{p['label']}")
        _quantity(point, "flowrate", p["flowrate_m3h"], FLOWRATE_UNIT, ref="basic_measuredValue")
        _quantity(point, "reference volume at the meter", p["reference_volume_l"], VOLUME_UNIT,
                  ref="basic_referenceValue")
        _quantity(point, "indicated volume", p["indicated_volume_l"], VOLUME_UNIT, ref="basic_measuredValue")
        error = _quantity(point, "error of indication", p["error_pct"], PERCENT, ref="basic_measurementError",
                          U=p.get("U_pct"), k=p.get("k"))
        _conformity(error, p["verdict"], f"{rule}; |E| against the MPE ± {p['mpe_pct']:g} %")
        _quantity(point, "maximum permissible error", p["mpe_pct"], PERCENT, ref="basic_toleranceLimitUpper")


def _checks(result: ET.Element, checks: list[dict], rule: str) -> None:
    data = _el(result, "data")
    for c in checks:
        check = _el(data, "list")
        _text(check, "name", f"{c['check']}" + (f" at {c['point']}" if c.get("point") else ""))
        quantity = _el(check, "quantity")
        _text(quantity, "name", c["check"])
        details = c.get("details") or {}
        _text(quantity, "noQuantity", "; ".join(f"{k} {v}" for k, v in sorted(details.items())
                                                 if isinstance(v, (int, float, str)))[:2000] or c["check"])
        _conformity(quantity, c["outcome"], rule)


def _meter_results(results: ET.Element, data: dict, serial: str) -> None:
    header, test = data["header"], data["result"]["tests"][0]
    procedure = header["procedure"]
    points = [p for p in test["points"] if p["meter_serial"] == serial]
    checks = [c for c in test["checks"] if c.get("meter_serial") in (serial, None)]
    rule = _rule_text(header, points)
    measurement = _el(results, "measurementResult")
    _text(measurement, "name", f"{procedure['title']}: meter {serial} (run {data['run_id']})")
    method = _el(_el(measurement, "usedMethods"), "usedMethod")
    _text(method, "name", f"{procedure['id']} v{procedure.get('version')}")
    _el(method, "norm", f"{procedure.get('standard')}:{procedure.get('edition')}")
    _el(method, "reference", str(procedure.get("clause")))
    _equipment(measurement, header)
    result_list = _el(measurement, "results")
    if points:
        result = _el(result_list, "result")
        _text(result, "name", "error of indication")
        _points(result, points, rule)
    if checks:
        result = _el(result_list, "result")
        _text(result, "name", "checks")
        _checks(result, checks, rule)
    if not points and not checks:
        result = _el(result_list, "result")
        _text(result, "name", "no result")
        _text(_el(result, "data"), "text", f"run state {data['result']['state']}: nothing measured")
    _conformity(measurement, _meter_verdict(points, checks, data["result"]["verdict"]),
                f"{rule}; the meter's worst outcome in this test")


def _meter_verdict(points: list[dict], checks: list[dict], run_verdict: str) -> str:
    from meterlab.metrology.decision import Outcome
    from meterlab.reports.results import RUN_VERDICT

    outcomes = [Outcome.from_label(p["verdict"]) for p in points] + [Outcome.from_label(c["outcome"]) for c in checks]
    if run_verdict in ("aborted", "error") or not outcomes:
        return run_verdict
    return RUN_VERDICT[max(outcomes)]


def _period(data: dict) -> tuple[str, str]:
    return data["test_period"] or (str(data["result"]["created_at"]),) * 2


def _statement(statements: ET.Element, norm: str, clause: str, verdict: str, text: str) -> None:
    statement = _el(statements, "statement")
    _el(statement, "norm", norm)
    _el(statement, "reference", clause)
    _text(statement, "declaration", text)
    if verdict in CONFORMITY:
        _el(statement, "conformity", CONFORMITY[verdict])


def _document(build_admin, build_results) -> str:
    root = ET.Element(f"{{{DCC_NS}}}digitalCalibrationCertificate", {
        "schemaVersion": SCHEMA_VERSION,
        "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation":
            f"{DCC_NS} https://ptb.de/dcc/v{SCHEMA_VERSION}/dcc.xsd"})
    build_admin(_el(root, "administrativeData"))
    build_results(_el(root, "measurementResults"))
    ET.indent(root)
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    validate(text)
    return text


def run_dcc(store: Store, run_id: str) -> str:
    """The measurement results of one run (a test) as a DCC document, validated."""
    data = collect(store, run_id)
    header, result = data["header"], data["result"]
    lab = _laboratory(header)
    country = lab.get("country_code") or UNKNOWN_COUNTRY
    procedure = header["procedure"]

    def admin(element: ET.Element) -> None:
        _software(element, header["software_version"])
        _core(element, report_number(data), _period(data), country,
              [("meterlab run", run_id), ("procedure SHA-256", procedure["sha256"])])
        _items(element, result["meters"], data["declarations"])
        _contact(_el(element, "calibrationLaboratory"), "contact", lab["name"], lab.get("address"), country)
        _people(element, result["operator"], data["approvals"])
        _contact(element, "customer", "not recorded with the run (see the type evaluation)", None, UNKNOWN_COUNTRY)
        statements = _el(element, "statements")
        _statement(statements, f"{procedure.get('standard')}:{procedure.get('edition')}", str(procedure.get("clause")),
                   result["verdict"], f"{procedure['title']}: test verdict {result['verdict']}; "
                                      f"{_rule_text(header, result['tests'][0]['points'])}")
        if data["missing_sign_offs"]:
            _statement(statements, "ISO/IEC 17025:2017", "7.8", "", "DRAFT: sign-off missing: "
                       + ", ".join(str(m) for m in data["missing_sign_offs"]))

    def results(element: ET.Element) -> None:
        for serial in result["meters"]:
            _meter_results(element, data, serial)

    return _document(admin, results)


# ------------------------------------------------------------------------------------------- the dossier
def evaluation_dtr(store: Store, evaluation: Evaluation, *, generated_at: datetime | None = None) -> str:
    """A type evaluation's dossier as a Digital Test Report: every attached, ended run's results per sample,
    and one statement per plan item (the requirement) with its verdict, validated."""
    from meterlab.reports.dossier import item_status, summary

    rows = item_status(store, evaluation)
    runs = [collect(store, row["run"]["id"]) for row in rows if row["run"] is not None and row["status"] == "done"]
    when = (generated_at or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    lab = _laboratory(runs[-1]["header"]) if runs else {"name": "laboratory not recorded", "address": None}
    country = lab.get("country_code") or UNKNOWN_COUNTRY
    periods = sorted(p for d in runs for p in _period(d)) or [when, when]
    samples = [s["serial"] for s in evaluation.type["samples"]]
    shared = {field: evaluation.type.get(field) for field in TYPE_FIELDS}  # what every sample declares alike
    declarations = {serial: {**shared, **declared} for d in runs for serial, declared in d["declarations"].items()}
    declarations = {serial: declarations.get(serial, shared) for serial in samples}

    def admin(element: ET.Element) -> None:
        _software(element, runs[-1]["header"]["software_version"] if runs else "unknown")
        _core(element, f"{evaluation.id}-DTR", (periods[0], periods[-1]), country,
              [("type evaluation", evaluation.id), ("document", "Digital Test Report (ISO/IEC 17025 7.8)")])
        _items(element, samples, declarations)
        _contact(_el(element, "calibrationLaboratory"), "contact", lab["name"], lab.get("address"), country)
        _people(element, runs[-1]["result"]["operator"] if runs else "nobody", [])
        _contact(element, "customer", evaluation.type.get("applicant", "not stated"), None, UNKNOWN_COUNTRY)
        statements = _el(element, "statements")
        for row in rows:
            _statement(statements, evaluation.type.get("standard", ""), row.get("procedure_id", ""),
                       row["verdict"] or "", f"{row.get('title') or row['procedure_id']} on "
                       f"{', '.join(row['samples'])}: {row['status']}"
                       + (f", verdict {row['verdict']}" if row["verdict"] else ""))
        _statement(statements, evaluation.type.get("standard", ""), "type evaluation", summary(rows),
                   f"evaluation verdict: {summary(rows)} (generated {when} from the record)")

    def results(element: ET.Element) -> None:
        for data in runs:
            for serial in data["result"]["meters"]:
                _meter_results(element, data, serial)
        if not runs:
            measurement = _el(element, "measurementResult")
            _text(measurement, "name", "no test done yet")
            result = _el(_el(measurement, "results"), "result")
            _text(result, "name", "no result")
            _text(_el(result, "data"), "text", "no test of the plan is done")

    return _document(admin, results)
