"""Judging the status flags a smart meter transmitted while an anomalous condition was applied (the
transmitted_status check, docs/anomalous-data.md), from the polls of one watch_status step and the meter's
declaration (declarations.DeclaredFlag). Pure: datasets in, an outcome with its figures and reasons out.

A watch's phase says what the meter must show:
- `without` (no condition applied): no flag at all, except one the meter raised earlier in the run and declares
  latched; anything else is a false flag (fail).
- `during` (the condition applied from the watch's start): the condition's flag transmitted within the declared
  condition_s + raise_within_s of the start, and kept while the condition lasts. A flag still absent at a poll at
  or after that limit fails; one never seen before the watch ended short of the limit is inconclusive. The flag
  rose between the last poll without it and the first with it: if that interval straddles the limit, the polls
  cannot tell (inconclusive, poll more often).
- `after` (the condition removed at the watch's start): a latched flag still raised at every poll; one that clears
  on the condition's end absent from the first poll after clear_within_s on, and from then on.
Only valid datasets count (frame and checksum right); a watch with none is inconclusive."""

from __future__ import annotations

from dataclasses import dataclass, field

from meterlab.metrology.decision import Outcome
from meterlab.metrology.declarations import DeclaredFlag


@dataclass
class StatusJudged:
    outcome: Outcome
    figures: dict = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def _polls(datasets: list[dict], t_start_s: float) -> list[tuple[float, frozenset[str]]]:
    return [(d["t_request_s"] - t_start_s, frozenset(d["flags"])) for d in datasets
            if d.get("integrity") == "valid" and d.get("flags") is not None]


def judge_watch(datasets: list[dict], t_start_s: float, phase: str, condition: str | None,
                declared: DeclaredFlag | None, latched_earlier: frozenset[str] = frozenset()) -> StatusJudged:
    """One interface over one watch. `latched_earlier`: flags raised earlier in the run that the meter declares
    latched (they may stand in a later watch without a condition)."""
    polls = _polls(datasets, t_start_s)
    seen = sorted(set().union(*(flags for _, flags in polls))) if polls else []
    figures = {"phase": phase, "condition": condition, "polls": len(datasets), "valid": len(polls),
               "flags_seen": ", ".join(seen) or "none"}
    if not polls:
        why = ("no valid dataset with status flags (is there a status register in the interface's map?)"
               if datasets else "no poll was made")
        return StatusJudged(Outcome.INCONCLUSIVE, figures, [why])
    if phase == "without":
        false = sorted(set(seen) - latched_earlier)
        figures["false_flags"] = ", ".join(false) or "none"
        if false:
            first = min(t for t, flags in polls if flags & set(false))
            return StatusJudged(Outcome.FAIL, figures, [f"raised {', '.join(false)} without the condition (first at "
                                                        f"{first:.0f} s of the watch)"])
        return StatusJudged(Outcome.PASS, figures)
    if declared is None:
        return StatusJudged(Outcome.INCONCLUSIVE, figures, [f"the meter declares no {condition} flag (status_flags: "
                                                            f"in its declaration): nothing to hold it to"])
    if phase == "during":
        return _during(polls, condition, declared, figures)
    return _after(polls, condition, declared, figures)


def _during(polls, condition: str, declared: DeclaredFlag, figures: dict) -> StatusJudged:
    limit_s = declared.condition_s + declared.raise_within_s
    figures["limit_s"] = limit_s
    first = next((i for i, (_, flags) in enumerate(polls) if condition in flags), None)
    if first is None:
        last_s = polls[-1][0]
        figures["raised_at_s"] = None
        if last_s >= limit_s:
            return StatusJudged(Outcome.FAIL, figures, [f"{condition} not raised within {limit_s:g} s (still absent "
                                                        f"at {last_s:.0f} s)"])
        return StatusJudged(Outcome.INCONCLUSIVE, figures, [f"{condition} not raised by the last poll at {last_s:.0f} "
                                                            f"s, before the declared {limit_s:g} s: watch longer"])
    raised_s = polls[first][0]
    before_s = polls[first - 1][0] if first > 0 else None
    figures["raised_at_s"] = round(raised_s, 3)
    figures["absent_until_s"] = None if before_s is None else round(before_s, 3)
    reasons = []
    if before_s is not None and before_s >= limit_s:  # absent at the limit itself: not raised within it
        reasons.append(f"{condition} raised late: still absent at {before_s:.0f} s, declared within {limit_s:g} s")
    dropped = [t for t, flags in polls[first:] if condition not in flags]
    if dropped:
        reasons.append(f"{condition} cleared at {dropped[0]:.0f} s while the condition was still applied")
    if reasons:
        return StatusJudged(Outcome.FAIL, figures, reasons)
    if raised_s > limit_s:
        return StatusJudged(Outcome.INCONCLUSIVE, figures, [
            f"{condition} raised between {before_s:.0f} s and {raised_s:.0f} s, the declared limit {limit_s:g} s "
            f"between them: poll more often"])
    return StatusJudged(Outcome.PASS, figures)


def _after(polls, condition: str, declared: DeclaredFlag, figures: dict) -> StatusJudged:
    figures["clears"] = declared.clears
    if declared.clears == "latched":
        cleared = [t for t, flags in polls if condition not in flags]
        if cleared:
            return StatusJudged(Outcome.FAIL, figures, [f"{condition} cleared at {cleared[0]:.0f} s after the "
                                                        f"condition ended, though declared latched"])
        return StatusJudged(Outcome.PASS, figures)
    limit_s = declared.clear_within_s
    figures["limit_s"] = limit_s
    late = [t for t, flags in polls if condition in flags and t > limit_s]
    if late:
        return StatusJudged(Outcome.FAIL, figures, [f"{condition} still raised at {late[0]:.0f} s after the condition "
                                                    f"ended, declared to clear within {limit_s:g} s"])
    if polls[-1][0] < limit_s:
        return StatusJudged(Outcome.INCONCLUSIVE, figures, [f"the watch ended at {polls[-1][0]:.0f} s, before the "
                                                            f"declared {limit_s:g} s to clear: watch longer"])
    return StatusJudged(Outcome.PASS, figures)
