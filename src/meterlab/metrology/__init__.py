"""The metrology core: pure functions and value objects, no I/O. Metrologists script against this API."""

from meterlab.metrology.combination import Combination, StoredError, combine
from meterlab.metrology.decision import Decision, Outcome, decide, get_rule, worst
from meterlab.metrology.indication import (
    durability_shift,
    error_of_indication,
    evaluate_fault,
    evaluate_wme,
    repeatability,
    same_sign_rule,
    weighted_mean_error,
    wme_limit_pct,
    wme_weights,
)
from meterlab.metrology.meters import GasMeter, TestPoint, WaterMeter
from meterlab.metrology.profiles import StandardProfile, load_profile

__all__ = [
    "Combination", "StoredError", "combine",
    "Decision", "Outcome", "decide", "get_rule", "worst",
    "durability_shift", "error_of_indication", "evaluate_fault", "evaluate_wme", "repeatability", "same_sign_rule",
    "weighted_mean_error", "wme_limit_pct", "wme_weights",
    "GasMeter", "TestPoint", "WaterMeter",
    "StandardProfile", "load_profile",
]
