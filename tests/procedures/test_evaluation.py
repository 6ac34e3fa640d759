"""The evaluate step over stored measurement rows: checks decided with their uncertainty, numbers stored."""

import math

import pytest

from meterlab.metrology import GasMeter, WaterMeter
from meterlab.procedures.evaluation import evaluate_checks

WATER = WaterMeter(2.5, 160)  # class 2: significant-fault limit 1.0 %, MPE 2 % upper zone


def row(serial: str, error_pct: float, u_pct: float, *, budget: bool = True, mpe_pct: float = 2.0) -> dict:
    stored = {"meter_serial": serial, "error_pct": error_pct, "u_pct": u_pct, "dof": "inf", "k": 2.0,
              "U_pct": 2 * u_pct, "mpe_pct": mpe_pct, "outcome": "pass"}
    if budget:  # as the store keeps it: infinite degrees of freedom as text
        stored["budget"] = [{"name": "balance calibration", "source": "cert", "value": 1.0, "u": 1e-4, "dof": "inf",
                             "sensitivity": u_pct / 1e-4, "contribution": u_pct}]
    return stored


def measurement(label: str, point: str, flowrate: float, rows: list[dict]) -> dict:
    return {"step_label": label, "role": label, "point": {"name": point}, "flowrate_m3h": flowrate, "meters": rows}


def test_significant_fault_is_decided_with_its_U_and_stores_its_numbers():
    stored = [measurement("intrinsic", "Q3", 2.4, [row("A", 0.1, 0.1), row("B", 0.1, 0.01)]),
              measurement("disturbed", "Q3", 2.4, [row("A", 1.05, 0.1), row("B", 1.15, 0.01)])]
    checks = {c.meter_serial: c for c in evaluate_checks(["significant_fault"], stored, [("A", WATER), ("B", WATER)],
                                                         "intrinsic", rule="guarded")}
    near, clear = checks["A"], checks["B"]  # faults 0.95 % (U 0.28 %) and 1.05 % (U 0.028 %), limit 1 %
    assert near.outcome.label == "conditional pass" and clear.outcome.label == "fail"
    details = near.to_dict()["details"]
    assert details["fault_pct"] == pytest.approx(0.95) and details["u_pct"] == pytest.approx(math.sqrt(2) * 0.1)
    assert details["U_pct"] == pytest.approx(details["k"] * details["u_pct"]) and details["limit_pct"] == 1.0
    assert details["decision_rule"].startswith("guarded") and details["guard_band_pct"] == details["U_pct"]
    assert details["correlation"] == "assumed 0, conservative"
    assert details["specific_risk"]["kind"] == "false acceptance" and 0 < details["specific_risk"]["probability"] < 0.5


def test_rows_stored_without_a_budget_still_give_a_fault_with_U():
    stored = [measurement("intrinsic", "Q3", 2.4, [row("A", 0.1, 0.05, budget=False)]),
              measurement("disturbed", "Q3", 2.4, [row("A", 0.2, 0.05, budget=False)])]
    (check,) = evaluate_checks(["significant_fault"], stored, [("A", WATER)], "intrinsic", rule="simple")
    assert check.outcome.label == "pass" and check.details["u_pct"] == pytest.approx(math.sqrt(2) * 0.05)


def test_wme_and_repeatability_are_decided_under_the_run_rule():
    gas = GasMeter(0.04, 0.6, 6.0, accuracy_class=1)  # WME limit 0.4 %, MPE 1 % upper zone
    stored = [measurement("curve", name, q, [row("G", e, 0.05, mpe_pct=1.0)])
              for name, q, errors in (("Qt", 0.6, (0.3, 0.35, 0.4)), ("Qmax", 6.0, (0.3, 0.32, 0.34)))
              for e in errors]
    results = evaluate_checks(["wme", "repeatability"], stored, [("G", gas)], None, rule="guarded")
    wme = next(c for c in results if c.check == "wme").to_dict()
    assert wme["details"]["U_pct"] > 0 and wme["outcome"] == "conditional pass"  # WME ≈ 0.34 %, U ≈ 0.1 %
    repeatability = [c for c in results if c.check == "repeatability"]
    assert {c.point for c in repeatability} == {"Qt", "Qmax"}
    for check in repeatability:  # s = 0.05 % and 0.02 % against 1/3 of 1 %: the χ² upper bound decides
        low, high = check.details["sigma_interval_pct"]
        assert low < check.details["std_dev_pct"] < high
        assert check.outcome.label == ("pass" if high <= check.details["limit_pct"] else "conditional pass")
