"""PTB's Digital Calibration Certificate (DCC) XML: the shipped schema (3.1.2 with D-SI 2.1.0; see
`schemas/dcc-3.1.2/README.md`), validation, and the import of a reference standard's DCC into the calibration
register as a certificate file beside the YAML ones.

A DCC states its results as quantities; which quantity is the calibration point and which the correction (or
error) is said by their `refType` (the DCC good practice's `basic_referenceValue`, `basic_measurementError` ...).
The import takes both, with their units and expanded uncertainties, from the first result that has them, and
writes the register's certificate: the DCC's unique identifier as the certificate number, its laboratory, its
dates, the item's manufacturer, model and serial, and the calibrated range spanned by the points. What a DCC does
not state (the bench instrument it backs, the due date) is given by the person importing it.
"""

from __future__ import annotations

import hashlib
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from meterlab.calibration.certificates import DEFAULT_VARIABLE
from meterlab.errors import MeterlabError

SCHEMA_VERSION = "3.1.2"
SCHEMA_DIR = Path(__file__).parent / "schemas" / "dcc-3.1.2"
DCC_NS, SI_NS = "https://ptb.de/dcc", "https://ptb.de/si"
NS = {"dcc": DCC_NS, "si": SI_NS}
# D-SI unit strings <-> the units certificates and reports use (only those of a flow laboratory)
DSI_UNITS = {
    r"\kilogram": "kg", r"\gram": "g", r"\milli\gram": "mg",
    r"\pascal": "Pa", r"\hecto\pascal": "hPa", r"\kilo\pascal": "kPa", r"\mega\pascal": "MPa",
    r"\milli\bar": "mbar", r"\bar": "bar",
    r"\degreecelsius": "°C", r"\kelvin": "K", r"\milli\kelvin": "mK",
    r"\second": "s", r"\milli\second": "ms", r"\hertz": "Hz", r"\kilo\hertz": "kHz", r"\mega\hertz": "MHz",
    r"\litre": "L", r"\metre\tothe{3}": "m³", r"\metre\tothe{3}\hour\tothe{-1}": "m³/h", r"\percent": "%",
}
X_REF, Y_REF = "basic_referenceValue", "basic_measurementError"
MEANINGS = ("correction", "error", "value")


class DccError(MeterlabError):
    """A DCC that does not validate, or does not state what the register needs."""


@lru_cache(maxsize=1)
def _schema():
    import xmlschema

    return xmlschema.XMLSchema(SCHEMA_DIR / "dcc.xsd", locations={SI_NS: str(SCHEMA_DIR / "SI_Format.xsd")})


def validate(xml_text: str, source: str = "document") -> None:
    """Raise DccError naming the first place where the document breaks the DCC schema."""
    errors = list(_schema().iter_errors(xml_text))
    if errors:
        first = errors[0]
        raise DccError(f"{source}: not a valid DCC {SCHEMA_VERSION} document ({len(errors)} problem(s)); first at "
                       f"{first.path}: {first.reason}")


# ------------------------------------------------------------------------------------------- import
@dataclass(frozen=True)
class Series:
    """One quantity of a result: its values, unit and expanded uncertainties (None where not stated)."""

    values: list[float]
    unit: str
    U: list[float | None]
    k: list[float | None]


def _floats(text: str | None) -> list[float]:
    return [float(v) for v in (text or "").split()]


def _spread(values: list, n: int) -> list:
    """An XMLList states one entry for all points or one per point."""
    return values * n if len(values) == 1 else values


def _series(quantity: ET.Element, where: str) -> Series:
    """The values of one dcc:quantity: an si:realListXMLList or an si:real."""
    listed = quantity.find("si:realListXMLList", NS)
    if listed is not None:
        values = _floats(listed.findtext("si:valueXMLList", namespaces=NS))
        units = _spread((listed.findtext("si:unitXMLList", namespaces=NS) or "").split(), len(values))
        unc = listed.find("si:expandedUncXMLList", NS)
        U = _spread(_floats(unc.findtext("si:uncertaintyXMLList", namespaces=NS)), len(values)) if unc is not None \
            else [None] * len(values)
        k = _spread(_floats(unc.findtext("si:coverageFactorXMLList", namespaces=NS)), len(values)) \
            if unc is not None else [None] * len(values)
        if len(set(units)) != 1 or len(U) != len(values) or len(k) != len(values):
            raise DccError(f"{where}: one unit and as many uncertainties as values are needed")
        return Series(values, units[0], U, k)
    real = quantity.find("si:real", NS)
    if real is None:
        raise DccError(f"{where}: neither si:realListXMLList nor si:real")
    unc = real.find("si:expandedUnc", NS)
    return Series([float(real.findtext("si:value", namespaces=NS))], real.findtext("si:unit", namespaces=NS) or "",
                  [float(unc.findtext("si:uncertainty", namespaces=NS)) if unc is not None else None],
                  [float(unc.findtext("si:coverageFactor", namespaces=NS)) if unc is not None else None])


def _has_ref(element: ET.Element, ref: str) -> bool:
    return ref in (element.get("refType") or "").split()


def _points(root: ET.Element, x_ref: str, y_ref: str, source: str) -> tuple[Series, Series]:
    """The calibration points of the first result that states both quantities, side by side or one point per list."""
    for result in root.iterfind(".//dcc:results/dcc:result", NS):
        quantities = list(result.iterfind(".//dcc:quantity", NS))
        xs = [q for q in quantities if _has_ref(q, x_ref)]
        ys = [q for q in quantities if _has_ref(q, y_ref)]
        if not xs or not ys:
            continue
        name = result.findtext("dcc:name/dcc:content", namespaces=NS) or "result"
        x, y = (_merge([_series(q, f"{source}: {name}: {ref}") for q in found], f"{source}: {name}: {ref}")
                for found, ref in ((xs, x_ref), (ys, y_ref)))
        if len(x.values) != len(y.values):
            raise DccError(f"{source}: {name}: {len(x.values)} {x_ref} values but {len(y.values)} {y_ref} values")
        return x, y
    raise DccError(f"{source}: no result states quantities with refType {x_ref} and {y_ref}; name the ones this "
                   f"DCC uses with --x-ref and --y-ref")


def _merge(series: list[Series], where: str) -> Series:
    if len({s.unit for s in series}) != 1:
        raise DccError(f"{where}: the points are in different units {sorted({s.unit for s in series})}")
    return Series([v for s in series for v in s.values], series[0].unit, [u for s in series for u in s.U],
                  [k for s in series for k in s.k])


def _unit(dsi: str, where: str) -> str:
    unit = DSI_UNITS.get(dsi.strip())
    if unit is None:
        raise DccError(f"{where}: D-SI unit {dsi!r} is not one the register knows ({', '.join(DSI_UNITS)})")
    return unit


def _text(root: ET.Element, path: str) -> str | None:
    return root.findtext(path, namespaces=NS)


def certificate_from_dcc(path: Path, *, standard_id: str, instrument: str, quantity: str, due_date: date,
                         meaning: str = "error", x_ref: str = X_REF, y_ref: str = Y_REF,
                         variable: str | None = None) -> dict[str, Any]:
    """The register's certificate (as the data of a YAML file) for a reference standard's DCC; the DCC is
    validated first, and everything the register needs that the DCC does not state is refused by name."""
    if meaning not in MEANINGS:
        raise DccError(f"meaning {meaning!r}: use one of {', '.join(MEANINGS)}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DccError(f"{path}: cannot read it: {exc.strerror}") from None
    validate(raw.decode("utf-8"), str(path))
    root = ET.fromstring(raw)
    admin = root.find("dcc:administrativeData", NS)
    item = admin.find("dcc:items/dcc:item", NS)
    x, y = _points(root, x_ref, y_ref, str(path))
    x_unit, y_unit = _unit(x.unit, f"{path}: {x_ref}"), _unit(y.unit, f"{path}: {y_ref}")
    missing = [i + 1 for i, (U, k) in enumerate(zip(y.U, y.k)) if U is None or k is None or not math.isfinite(U)]
    if missing:
        raise DccError(f"{path}: {y_ref} point(s) {missing} state no expanded uncertainty; the register needs U and k")
    performed = _text(admin, "dcc:coreData/dcc:endPerformanceDate")
    serials = [i.findtext("dcc:value", namespaces=NS)
               for i in item.iterfind("dcc:identifications/dcc:identification", NS)]
    laboratory = admin.find("dcc:calibrationLaboratory", NS)
    number = _text(admin, "dcc:coreData/dcc:uniqueIdentifier")
    digest = hashlib.sha256(raw).hexdigest()
    name = variable or DEFAULT_VARIABLE
    rows = sorted(zip(x.values, y.values, y.U, y.k))
    return {
        "id": standard_id,
        "description": _text(item, "dcc:name/dcc:content") or f"{quantity} standard",
        "manufacturer": _text(item, "dcc:manufacturer/dcc:name/dcc:content") or "not stated in the DCC",
        "model": _text(item, "dcc:model") or "not stated in the DCC",
        "serial": serials[0] if serials else "not stated in the DCC",
        "instrument": instrument,
        "quantity": quantity,
        "unit": y_unit,
        "certificate": {"number": number, "issued_by": _text(laboratory, "dcc:contact/dcc:name/dcc:content"),
                        "accreditation": _text(laboratory, "dcc:calibrationLaboratoryCode"),
                        "date": date.fromisoformat(performed)},
        "calibration_date": date.fromisoformat(performed),
        "due_date": due_date,
        "calibrated_range": {name: {"min": rows[0][0], "max": rows[-1][0], "unit": x_unit}},
        "correction": {"variable": name, "meaning": meaning,
                       "table": [{"x": xv, "correction": yv, "U": U, "k": k}
                                 for xv, yv, U, k in rows]},
        "notes": f"imported from the DCC {path.name} (uniqueIdentifier {number}, SHA-256 {digest}); "
                 f"points: {x_ref} -> {y_ref}",
    }
