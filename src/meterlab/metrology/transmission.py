"""Judging what a meter transmitted while a disturbance was applied (the data_transmission check), from the
datasets the rig polled before, during and after one disturbed collection (rigs/transmission.py).

Figures: datasets expected (polls made), received (something came back), valid, rejected as corrupt,
unanswered (no answer or the meter's error reply), accepted but wrong, lost (gaps in the access number),
the largest difference between a transmitted volume and the volume the pulses say the meter indicated by then,
and the transmitted volume change over the whole watch against the pulses'.

A valid dataset is wrong when its volume differs from the one expected from the pulses by more than the
significant fault plus what the reading itself cannot resolve: the register's resolution at both ends and the
volume that flows while the request is answered. A wrong value the meter transmits as a measurement result is a
significant fault (OIML D 31 / the smart-meter sheet §1): the check fails. The other limits come from the
profile's data_transmission section (metrology.profiles.DataTransmission).

In a standing start the flow runs only from the pump's start to the valve's closing, with a first-order lag τ
at each end (`flow`: from_s, to_s, lag_s): the volume passed between two polls is then the rate times the part
of the time between them that falls in that window shifted by τ (a lagged step passes, once settled, what a
step τ later would), and a poll on a ramp may be off that model by up to about Q·τ, added to its tolerance."""

from __future__ import annotations

from dataclasses import dataclass, field

from meterlab.metrology.decision import Outcome

ACCESS_NUMBER_MODULUS = 256  # EN 13757-3: the access number is one byte and rolls over


@dataclass(frozen=True)
class Rate:
    """The meter's indication rate over the pulses' collection: indicated volume (L) over its time (s)."""

    indicated_l: float
    collection_s: float

    @property
    def l_per_s(self) -> float:
        return self.indicated_l / self.collection_s if self.collection_s > 0 else 0.0


@dataclass
class Judgement:
    outcome: Outcome
    figures: dict
    reasons: list[str] = field(default_factory=list)


def _since(d: dict) -> float:
    """The earliest time the dataset may date from: the first request since the last valid dataset."""
    return d.get("t_first_request_s", d["t_request_s"])


def _time(d: dict) -> float:
    return (_since(d) + d["t_reply_s"]) / 2


def _flowing_s(a: float, b: float, flow: dict | None) -> float:
    """How long the flow ran between times a and b (negative if b is before a): all of it under a steady flow;
    in a standing start, the overlap with the flow's window shifted by its lag."""
    if flow is None:
        return b - a
    if b < a:
        return -_flowing_s(b, a, flow)
    lo, hi = flow["from_s"] + flow["lag_s"], flow["to_s"] + flow["lag_s"]
    return max(0.0, min(b, hi) - max(a, lo))


def lost_datasets(valid: list[dict]) -> int | None:
    """Access-number gaps between consecutive valid datasets (a repeat has the same number); None without one."""
    numbers = [d.get("access_number") for d in valid]
    if not numbers or any(n is None for n in numbers):
        return None
    return sum(((b - a) % ACCESS_NUMBER_MODULUS) - 1 for a, b in zip(numbers, numbers[1:]) if b != a)


def deviations(valid: list[dict], rate: Rate | None, fault_pct: float, scale_interval_l: float = 0.0,
               flow: dict | None = None) -> list[dict]:
    """Each valid dataset's volume against the anchor (the first valid one before the disturbance, else the
    first valid) advanced by the pulses' rate: difference, tolerance, and whether it is wrong. The resolution is
    the coarser of the transmitted unit and the declared scale interval (the register behind the interface)."""
    if not valid or rate is None:  # no pulses' rate to judge the volumes by
        return []
    anchor = next((d for d in valid if not d["disturbed"] and d.get("volume_l") is not None), valid[0])
    out = []
    for d in valid:
        if d.get("volume_l") is None or anchor.get("volume_l") is None:
            continue
        expected_l = rate.l_per_s * _flowing_s(_time(anchor), _time(d), flow)
        got_l = d["volume_l"] - anchor["volume_l"]
        resolution_l = max(d.get("resolution_l") or 0.0, anchor.get("resolution_l") or 0.0, scale_interval_l)
        # what flows while the dataset may have been made (half its window either side of its time), both ends
        timing_l = rate.l_per_s * ((d["t_reply_s"] - _since(d)) + (anchor["t_reply_s"] - _since(anchor))) / 2
        ramp_l = rate.l_per_s * flow["lag_s"] if flow is not None else 0.0  # a poll while the flow starts or stops
        tolerance_l = abs(expected_l) * fault_pct / 100 + 2 * resolution_l + timing_l + ramp_l
        out.append({"t_s": _time(d), "phase": d["phase"], "difference_l": got_l - expected_l,
                    "tolerance_l": tolerance_l, "wrong": abs(got_l - expected_l) > tolerance_l})
    return out


def judge(datasets: list[dict], rate: Rate | None, *, fault_pct: float, limits, disturbance: str,
          scale_interval_l: float = 0.0, flow: dict | None = None) -> Judgement:
    """The data_transmission outcome of one interface over one disturbed collection. `limits` is the profile's
    DataTransmission section; `rate` None: no pulses' rate (the volumes are not judged, and the figures say so);
    `flow`: the window a standing start's flow ran in (None: it ran throughout)."""
    valid = [d for d in datasets if d["integrity"] == "valid"]
    rejected = sum(d["integrity"] == "rejected" for d in datasets)
    unanswered = sum(d["integrity"] in ("no_answer", "meter_error") for d in datasets)
    checked = deviations(valid, rate, fault_pct, scale_interval_l, flow)
    wrong = [c for c in checked if c["wrong"]]
    lost = lost_datasets(valid)
    identities = sorted({str(d.get("identification")) for d in valid if d.get("identification") is not None})
    software = sorted({str(d.get("software")) for d in valid if d.get("software") is not None})
    expected = len(datasets)
    worst = max(checked, key=lambda c: abs(c["difference_l"]), default=None)
    figures = {"disturbance": disturbance, "expected": expected, "received": expected - sum(
                   d["integrity"] == "no_answer" for d in datasets), "valid": len(valid), "rejected": rejected,
               "unanswered": unanswered, "accepted_but_wrong": len(wrong),
               "lost": lost if lost is not None else "not counted (no consecutive number)",
               "largest_difference_l": worst["difference_l"] if worst else None,
               "its_tolerance_l": worst["tolerance_l"] if worst else None,
               "significant_fault_pct": fault_pct, "identification": ", ".join(identities) or None,
               "software": ", ".join(software) or None}
    figures.update(_volume_change(valid, rate, flow))
    reasons = _reasons(figures, datasets, valid, limits, disturbance, lost, identities, software)
    return Judgement(Outcome.FAIL if reasons else Outcome.PASS, figures, reasons)


def _volume_change(valid: list[dict], rate: Rate | None, flow: dict | None = None) -> dict:
    """The transmitted volume change from the first to the last valid dataset, and the pulses' over that time."""
    with_volume = [d for d in valid if d.get("volume_l") is not None]
    if rate is None:
        return {"transmitted_change_l": None, "pulses_change_l": "not judged (no pulses' rate)"}
    if len(with_volume) < 2:
        return {"transmitted_change_l": None, "pulses_change_l": None}
    first, last = with_volume[0], with_volume[-1]
    pulses_l = rate.l_per_s * _flowing_s(_time(first), _time(last), flow)
    change_l = last["volume_l"] - first["volume_l"]
    return {"transmitted_change_l": change_l, "pulses_change_l": pulses_l,
            "change_difference_pct": (change_l - pulses_l) / pulses_l * 100 if pulses_l else None}


def _reasons(figures: dict, datasets: list[dict], valid: list[dict], limits, disturbance: str, lost: int | None,
             identities: list[str], software: list[str]) -> list[str]:
    expected = figures["expected"] or 1
    reasons = []
    if figures["accepted_but_wrong"]:
        reasons.append(f"{figures['accepted_but_wrong']} valid dataset(s) transmitted a wrong volume (a significant "
                       f"fault): largest difference {figures['largest_difference_l']:.3f} L")
    if lost is not None and lost > limits.max_lost_datasets.value:
        reasons.append(f"{lost} dataset(s) lost (access-number gaps)")
    if figures["rejected"] / expected > limits.max_rejected_fraction.value:
        reasons.append(f"{figures['rejected']} of {figures['expected']} telegrams rejected as corrupt")
    silence_ok = disturbance in limits.silence_allowed_during
    if not silence_ok and figures["unanswered"] / expected > limits.max_unanswered_fraction.value:
        reasons.append(f"{figures['unanswered']} of {figures['expected']} polls unanswered")
    if not datasets or datasets[-1]["integrity"] != "valid":
        reasons.append("no valid dataset after the disturbance (the interface did not recover)")
    if len(identities) > 1 or len(software) > 1:
        reasons.append(f"identification or software changed: {identities} {software}")
    if not valid:
        reasons.append("no valid dataset at all")
    return reasons
