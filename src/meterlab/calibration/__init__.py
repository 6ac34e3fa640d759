"""Reference standards: their certificates (`calibration/*.yaml`), corrections with uncertainty and a
range guard, and the register that refuses expired or out-of-range standards.

Names are imported on first use, so `meterlab --help` does not pay for GTC and pydantic.
"""

from __future__ import annotations

import importlib
from typing import Any

DUE_WARNING_DAYS = 30  # a laboratory's usual notice to book a calibration: `calibration list`, a run's start

_EXPORTS = {
    "Certificate": "certificates", "Status": "certificates", "load_certificate": "certificates",
    "Correction": "corrections", "OutOfCalibratedRange": "corrections", "Range": "corrections",
    "CalibrationRefused": "register", "Problem": "register", "ProblemKind": "register",
    "Register": "register", "UnknownStandard": "register",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
