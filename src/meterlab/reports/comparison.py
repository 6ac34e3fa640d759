"""Two runs' error curves in one figure (e.g. before and after durability), for the command line
(`records compare`) and the console (/compare)."""

from __future__ import annotations

from meterlab.errors import MeterlabError
from meterlab.records.store import Store
from meterlab.reports.document import ReportError, _declarations, _meter_model
from meterlab.reports.figures import Envelope, envelope_from_points, envelope_of, error_curve_png
from meterlab.reports.results import run_result


def comparison_png(store: Store, first: str, second: str, meter: str | None = None) -> tuple[bytes, int]:
    """The figure (PNG) and how many points it shows; ReportError when neither run has a point to show."""
    points = []
    for run_id in (first, second):
        for p in run_result(store, run_id)["tests"][0]["points"]:
            if meter is None or p["meter_serial"] == meter:
                points.append({**p, "meter_serial": f"{p['meter_serial']} [{run_id}]"})
    if not points:
        raise ReportError(f"no measured points{f' of meter {meter}' if meter else ''} in runs {first} and {second}")
    envelope = _envelope(store, first, meter) or envelope_from_points(points)
    return error_curve_png(points, envelope=envelope, title=f"error curves: {first} vs {second}"), len(points)


def _envelope(store: Store, run_id: str, serial: str | None) -> list[Envelope]:
    """The MPE envelope of the meter declared in the run (the first meter unless `serial`); [] if unknown."""
    declarations = _declarations(next(store.entries(run_id)).payload)
    declaration = declarations.get(serial) if serial else next(iter(declarations.values()), None)
    model = _meter_model(declaration)
    try:
        return envelope_of(model) if model is not None else []
    except MeterlabError:
        return []
