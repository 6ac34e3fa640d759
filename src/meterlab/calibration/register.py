"""The register of reference standards: every certificate in `calibration/`, looked up by id or by the
bench instrument it backs, and the checks that keep an expired or out-of-range standard out of a run.

    register = Register.load("calibration")
    register.correction("thermometer", at=20.3)          # labelled ureal, refuses outside the range
    register.enforce([("master_meter", (0.5, 2.5)), ("thermometer", 20.3)], at=today,
                     override_reason=None)                # raises CalibrationRefused on any problem
    register.snapshot(["scale", "thermometer"], at=today)  # plain dict to store with the run

A certificate issued for the simulated laboratory (`simulated: true`) is accepted only by the register as a
bench sees it whose simulated instruments name it (`accepting_simulated`), whatever the date: the simulated
lab's standards do not age, so its demo and tests do not rot with the calendar. Anywhere else it is refused,
and no override lets a real bench use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from GTC.lib import UncertainReal

from meterlab.calibration.certificates import Certificate, Status, Used, as_date, load_certificate
from meterlab.calibration.checks import ControlState, IntermediateChecks, load_checks
from meterlab.errors import InputFileError, MeterlabError

__all__ = [
    "CalibrationRefused",
    "Problem",
    "ProblemKind",
    "Register",
    "UnknownStandard",
    "Use",
]

# (standard id or bench instrument name, what was used: value, (low, high), {variable: ...} or None)
Use = tuple[str, Used] | str


class ProblemKind(StrEnum):
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"
    OUT_OF_RANGE = "out of range"
    UNKNOWN_STANDARD = "unknown standard"
    SIMULATED = "simulated laboratory"   # never overridden: it is no calibration of a real instrument
    OUT_OF_CONTROL = "out of control"    # its latest intermediate check is beyond the action limit


@dataclass(frozen=True)
class Problem:
    """Why a standard may not be used: what, which standard and certificate, in words for people."""

    kind: ProblemKind
    standard: str                   # the certificate id, or the reference as given when unknown
    certificate: str | None         # certificate number (None for an unknown standard)
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kind": str(self.kind)}


class UnknownStandard(MeterlabError, LookupError):
    """No certificate has this id or backs this bench instrument."""

    def __init__(self, reference: str, known: Sequence[str]):
        self.reference = reference
        super().__init__(f"no certificate in the calibration register has the id or backs the instrument "
                         f"{reference!r}; known: {', '.join(known) or 'none'}")


class CalibrationRefused(MeterlabError):
    """A run or step was refused because a reference standard is expired, not yet valid or out of range."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        lines = [f"refused: {len(self.problems)} problem(s) with reference standards or severity-setting equipment"]
        lines += [f"  - {problem.message}" for problem in self.problems]
        if any(p.kind is ProblemKind.SIMULATED for p in self.problems):
            lines.append("A certificate of the simulated laboratory backs only a simulated instrument; give the "
                         "real instrument its own certificate (no override applies).")
        else:
            lines.append('Recalibrate or replace the standard, or override with --override-calibration "REASON" '
                         "(the reason is recorded with the run and printed on its report).")
        super().__init__("\n".join(lines))


class Register:
    """All certificates of a folder, indexed by id and by bench instrument name."""

    def __init__(self, certificates: Iterable[Certificate], checks: Mapping[str, IntermediateChecks] | None = None):
        self._by_id: dict[str, Certificate] = {}
        self._by_instrument: dict[str, Certificate] = {}
        self._simulated_accepted: frozenset[str] = frozenset()
        for certificate in certificates:
            self._add(certificate)
        self.checks: dict[str, IntermediateChecks] = dict(checks or {})
        if unknown := sorted(set(self.checks) - set(self._by_id)):
            raise UnknownStandard(unknown[0], list(self._by_id))

    def accepting_simulated(self, certificate_ids: Iterable[str]) -> Register:
        """This register as a bench sees it whose simulated instruments name `certificate_ids`: those of them
        issued for the simulated laboratory are accepted whatever the date (their ranges still apply)."""
        view = Register(self._by_id.values(), self.checks)
        view._simulated_accepted = frozenset(certificate_ids)
        return view

    @classmethod
    def load(cls, folder: str | Path = "calibration") -> Register:
        """Every `*.yaml`/`*.yml` directly in `folder` (sub-folders such as examples/ are not read)."""
        folder = Path(folder)
        if not folder.is_dir():
            raise InputFileError(folder, [(None, "", f"the calibration folder {folder} does not exist: run from the meterlab folder or give --calibration-dir")])
        files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        return cls((load_certificate(path) for path in files), load_checks(folder))

    def _add(self, certificate: Certificate) -> None:
        for key, index, field in ((certificate.id, self._by_id, "id"),
                                  (certificate.instrument, self._by_instrument, "instrument")):
            if key in index:
                raise _duplicate(certificate, index[key], field, key)
        clash = self._by_instrument.get(certificate.id) or self._by_id.get(certificate.instrument)
        if clash is not None:
            raise _duplicate(certificate, clash, "id", certificate.id)
        self._by_id[certificate.id] = certificate
        self._by_instrument[certificate.instrument] = certificate

    # -------------------------------------------------------------------------------------- look-up
    def __iter__(self) -> Iterator[Certificate]:
        return iter(sorted(self._by_id.values(), key=lambda c: c.id))

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, reference: object) -> bool:
        return reference in self._by_id or reference in self._by_instrument

    def get(self, reference: str) -> Certificate:
        """The certificate with this id, or the one backing this bench instrument."""
        found = self._by_id.get(reference) or self._by_instrument.get(reference)
        if found is None:
            raise UnknownStandard(reference, sorted(self._by_id) + sorted(self._by_instrument))
        return found

    def by_id(self, standard_id: str) -> Certificate:
        if standard_id not in self._by_id:
            raise UnknownStandard(standard_id, sorted(self._by_id))
        return self._by_id[standard_id]

    def for_instrument(self, instrument: str) -> Certificate:
        if instrument not in self._by_instrument:
            raise UnknownStandard(instrument, sorted(self._by_instrument))
        return self._by_instrument[instrument]

    # ---------------------------------------------------------------------------------- corrections
    def correction(self, reference: str, at: Used, *, element: str | None = None,
                   name: str | None = None) -> UncertainReal:
        """The certified correction at `at` as a labelled ureal; outside the range: OutOfCalibratedRange."""
        return self.get(reference).evaluate(at, element=element, name=name)

    def spans(self, reference: str, settings: Iterable[Mapping[str, Any]]) -> dict[str, tuple[float, float]]:
        """The span of each calibrated variable of `reference` among `settings` (a generator's runs, a chamber's
        climates), for the range check of a use; the settings' other keys are no business of the certificate."""
        calibrated = self.get(reference).calibrated_range
        values: dict[str, list[float]] = {}
        for setting in settings:
            for variable in calibrated.keys() & setting.keys():
                if isinstance(setting[variable], int | float):
                    values.setdefault(variable, []).append(float(setting[variable]))
        return {variable: (min(xs), max(xs)) for variable, xs in values.items()}

    # --------------------------------------------------------------------------------------- status
    def status(self, reference: str, at: date | datetime | None = None) -> Status:
        return self.get(reference).status(at)

    def check(self, uses: Iterable[Use], at: date | datetime | None = None) -> list[Problem]:
        """Every problem with the given uses at date `at` (today by default); empty when all is well."""
        day = as_date(at)
        problems: list[Problem] = []
        for reference, used in map(_as_use, uses):
            for problem in self._problems_of(reference, used, day):
                if problem not in problems:
                    problems.append(problem)
        return problems

    def enforce(self, uses: Iterable[Use], at: date | datetime | None = None,
                override_reason: str | None = None) -> list[Problem]:
        """Raise CalibrationRefused on any problem, unless a reason to override is given.

        With a reason, the problems are returned so the caller records them with the reason."""
        problems = self.check(uses, at)
        overridden = bool(override_reason and override_reason.strip())
        if problems and (not overridden or any(p.kind is ProblemKind.SIMULATED for p in problems)):
            raise CalibrationRefused(problems)
        return problems

    def _problems_of(self, reference: str, used: Used, day: date) -> list[Problem]:
        try:
            certificate = self.get(reference)
        except UnknownStandard as exc:
            return [Problem(ProblemKind.UNKNOWN_STANDARD, reference, None, str(exc))]
        problems = []
        if certificate.simulated and certificate.id not in self._simulated_accepted:
            problems.append(_simulated_problem(certificate))
        status = certificate.status(day)
        if status is not Status.VALID and not certificate.simulated:
            problems.append(_status_problem(certificate, status, day))
        problems += [Problem(ProblemKind.OUT_OF_RANGE, certificate.id, certificate.certificate.number,
                             f"{certificate.label}: {exc}") for exc in certificate.out_of_range(used)]
        checks = self.checks.get(certificate.id)
        if checks is not None and checks.state(day) is ControlState.ACTION:
            latest = checks.latest(day)
            problems.append(Problem(ProblemKind.OUT_OF_CONTROL, certificate.id, certificate.certificate.number,
                                    f"{certificate.label}: its intermediate check of {latest.date} read "
                                    f"{latest.value:g} {checks.unit} against {checks.reference_value:g} (deviation "
                                    f"{checks.deviation(latest):+g}, action limit ±{checks.limits.action:g}): out of "
                                    f"control until investigated and checked again"))
        return problems

    # ------------------------------------------------------------------------------------- snapshot
    def snapshot(self, references: Iterable[str], at: date | datetime | None = None) -> dict[str, dict[str, Any]]:
        """For each standard, keyed by id, what a record must keep: certificate, lab, dates, status at `at`."""
        day = as_date(at)
        snapshot: dict[str, dict[str, Any]] = {}
        for reference in references:
            certificate = self.get(reference)
            snapshot[certificate.id] = _snapshot_entry(certificate, day)
            checks = self.checks.get(certificate.id)
            if checks is not None and (latest := checks.latest(day)) is not None:
                snapshot[certificate.id]["intermediate_check"] = {
                    "date": latest.date.isoformat(), "value": latest.value, "unit": checks.unit,
                    "deviation": checks.deviation(latest), "state": str(checks.state_of(latest))}
        return snapshot


def _as_use(use: Use) -> tuple[str, Used]:
    if isinstance(use, str):
        return use, None
    reference, used = use
    return reference, used


def _status_problem(certificate: Certificate, status: Status, day: date) -> Problem:
    lab = certificate.certificate.issued_by
    if status is Status.EXPIRED:
        days = (day - certificate.due_date).days
        text = f"expired: due {certificate.due_date}, {days} day(s) before {day}"
        kind = ProblemKind.EXPIRED
    else:
        text = f"not yet valid on {day}: the certificate was issued on {certificate.valid_from}"
        kind = ProblemKind.NOT_YET_VALID
    return Problem(kind, certificate.id, certificate.certificate.number,
                   f"{certificate.label} ({lab}) is {text}")


def _simulated_problem(certificate: Certificate) -> Problem:
    return Problem(ProblemKind.SIMULATED, certificate.id, certificate.certificate.number,
                   f"{certificate.label} ({certificate.certificate.issued_by}) is issued for the simulated "
                   f"laboratory (simulated: true) and no simulated instrument of this bench names it")


def _snapshot_entry(certificate: Certificate, day: date) -> dict[str, Any]:
    cert = certificate.certificate
    return {
        "id": certificate.id,
        "instrument": certificate.instrument,
        "description": certificate.description,
        "serial": certificate.serial,
        "certificate": cert.number,
        "laboratory": cert.issued_by,
        "accreditation": cert.accreditation,
        "calibration_date": certificate.calibration_date.isoformat(),
        "due_date": certificate.due_date.isoformat(),
        "status": str(certificate.status(day)),
        "checked_on": day.isoformat(),
        "kind": str(certificate.kind),
        "simulated": certificate.simulated,
        "verified": [v.model_dump() for v in certificate.verified or ()],
        "conformity": certificate.conformity,
        "file": str(certificate.path) if certificate.path else None,
        "sha256": certificate.sha256,
    }


def _duplicate(certificate: Certificate, other: Certificate, field: str, key: str) -> MeterlabError:
    where = f"in {other.path}" if other.path else f"by {other.id}"
    message = f"{key!r} is already used {where}; each standard has one id and each instrument one certificate"
    if certificate.path is None:
        return MeterlabError(f"certificate {certificate.id}: field '{field}': {message}")
    return InputFileError(certificate.path, [(None, field, message)])
