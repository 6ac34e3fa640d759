"""The data_transmission judgement on datasets written by hand (metrology/transmission.py): each rule can fail."""

import pytest

from meterlab.metrology.decision import Outcome
from meterlab.metrology.declarations import MeterDeclaration
from meterlab.metrology.profiles import load_profile
from meterlab.metrology.transmission import Rate, judge, lost_datasets

LIMITS = load_profile("r49-2013").data_transmission
RATE = Rate(indicated_l=50.0, collection_s=100.0)  # 0.5 L/s


def dataset(t_s: float, *, volume_l: float | None = None, number: int | None = None, integrity: str = "valid",
            disturbed: bool = True, ident: str = "12345678") -> dict:
    d = {"phase": "during", "t_request_s": t_s, "t_reply_s": t_s, "disturbed": disturbed, "integrity": integrity}
    if integrity == "valid":
        d.update(volume_l=volume_l if volume_l is not None else 100.0 + 0.5 * t_s, resolution_l=0.01,
                 access_number=number, identification=ident, software="SIM version 1")
    return d


def series(n: int = 6, **kw) -> list[dict]:
    out = [dataset(5.0 * i, number=i + 1, disturbed=0 < i < n - 1, **kw) for i in range(n)]
    out[0]["phase"], out[-1]["phase"] = "start", "end"
    return out


def test_a_faithful_interface_passes():
    judged = judge(series(), RATE, fault_pct=1.0, limits=LIMITS, disturbance="burst", scale_interval_l=0.05)
    assert judged.outcome is Outcome.PASS, judged.reasons
    assert judged.figures["lost"] == 0 and judged.figures["accepted_but_wrong"] == 0
    assert judged.figures["change_difference_pct"] == pytest.approx(0.0)


def test_a_wrong_volume_is_a_significant_fault():
    datasets = series()
    datasets[2]["volume_l"] += 1.0  # 1 L high after 10 s at 0.5 L/s: far beyond 1 % + 2 × 0.05 L
    judged = judge(datasets, RATE, fault_pct=1.0, limits=LIMITS, disturbance="burst", scale_interval_l=0.05)
    assert judged.outcome is Outcome.FAIL and judged.figures["accepted_but_wrong"] == 1
    assert "significant fault" in judged.reasons[0]


def test_within_the_resolution_is_not_wrong():
    datasets = series()
    datasets[2]["volume_l"] += 0.09  # less than twice the 0.05 L scale interval
    judged = judge(datasets, RATE, fault_pct=1.0, limits=LIMITS, disturbance="burst", scale_interval_l=0.05)
    assert judged.outcome is Outcome.PASS, judged.reasons


def test_a_standing_start_is_judged_over_the_time_the_flow_ran():
    # polls at 0, 10, ... 60 s; the flow (0.5 L/s, lag 2 s) ran from 10 s to 50 s: at rest before and after
    flow = {"from_s": 10.0, "to_s": 50.0, "lag_s": 2.0}

    def passed_l(t: float) -> float:  # the volume of the lagged flow, settled: a step 2 s later
        return 0.5 * max(0.0, min(t, 52.0) - 12.0)
    datasets = [dataset(t, volume_l=100.0 + passed_l(t), number=i + 1, disturbed=0 < i < 6)
                for i, t in enumerate([0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0])]
    rate = Rate(indicated_l=20.0, collection_s=40.0)  # the pulses over the standing start's run
    judged = judge(datasets, rate, fault_pct=1.0, limits=LIMITS, disturbance="voltage_variation", flow=flow)
    assert judged.outcome is Outcome.PASS, judged.reasons
    assert judged.figures["transmitted_change_l"] == judged.figures["pulses_change_l"] == pytest.approx(20.0)
    steady = judge(datasets, rate, fault_pct=1.0, limits=LIMITS, disturbance="voltage_variation")
    assert steady.outcome is Outcome.FAIL  # taken as a steady flow, the rest before and after looks like a fault
    datasets[3]["volume_l"] += 2.0  # a wrong value while the flow ran is still found
    judged = judge(datasets, rate, fault_pct=1.0, limits=LIMITS, disturbance="voltage_variation", flow=flow)
    assert judged.outcome is Outcome.FAIL and judged.figures["accepted_but_wrong"] == 1


def test_access_number_gaps_are_lost_datasets_across_the_roll_over():
    assert lost_datasets([{"access_number": n} for n in (254, 255, 0, 3, 3, 4)]) == 2
    assert lost_datasets([{"access_number": None}]) is None


def test_silence_is_allowed_during_dips_but_not_during_a_burst():
    datasets = series()
    datasets[2] = {**dataset(10.0, integrity="no_answer")}
    for n, d in enumerate(x for x in datasets if x["integrity"] == "valid"):
        d["access_number"] = n + 1  # buffered: no number skipped
    assert judge(datasets, RATE, fault_pct=1.0, limits=LIMITS, disturbance="dips").outcome is Outcome.PASS
    burst = judge(datasets, RATE, fault_pct=1.0, limits=LIMITS, disturbance="burst")
    assert burst.outcome is Outcome.FAIL and "unanswered" in burst.reasons[0]


def test_a_changed_identification_or_no_valid_end_fails():
    datasets = series()
    datasets[3]["identification"] = "87654321"
    assert "identification" in " ".join(judge(datasets, RATE, fault_pct=1.0, limits=LIMITS, disturbance="dips").reasons)
    datasets = series()
    datasets[-1] = dataset(25.0, integrity="rejected")
    reasons = judge(datasets, RATE, fault_pct=1.0, limits=LIMITS, disturbance="dips").reasons
    assert any("did not recover" in r for r in reasons)


def test_interfaces_in_a_declaration():
    base = dict(serial="WM-1", kind="water", q3_m3h=2.5, r=160, accuracy_class=2, scale_interval_l=0.05,
                pulse_value_l=0.01)
    declared = MeterDeclaration(**base, interfaces=["mbus", {"kind": "modbus", "transmits": ["volume"]}])
    assert [i.kind for i in declared.interfaces] == ["mbus", "modbus"]
    with pytest.raises(ValueError, match="each kind once"):
        MeterDeclaration(**base, interfaces=["mbus", "mbus"])
    with pytest.raises(ValueError):
        MeterDeclaration(**base, interfaces=["dlms"])
