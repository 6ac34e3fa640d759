"""People and sign-off: who may review and release a run's results, in which order (ISO/IEC 17025 7.8.1.2 asks
that results be reviewed and authorized before release; 6.2.6 that the laboratory authorize its personnel).

People are entries of the store itself (kind `user_added`, authenticated by the records key like every entry):
a name, the roles it holds and a salted scrypt hash of its password, never the password. A sign-off is an
`approval` entry of the run naming the authenticated user and role, bound to the chain's head at that moment.
The order and the separation of duties are the laboratory's policy (`sign_off` in the laboratory file, recorded
with each run): by default a metrologist reviews, then QA releases; whoever ran the test signs nothing; nobody
signs twice. A run's report is a DRAFT until the policy is satisfied."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from meterlab.errors import MeterlabError
from meterlab.records.laboratory import SignOffPolicy
from meterlab.records.store import Entry, Store

ROLES = ("technician", "metrologist", "qa")
USER_ADDED = "user_added"
APPROVAL = "approval"
# scrypt's cost (RFC 7914: N = 2^14, r = 8, p = 1 is the interactive-login setting)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
MIN_PASSWORD_LENGTH = 10


class SignOffError(MeterlabError):
    """A person or a sign-off the laboratory's rules refuse."""


@dataclass(frozen=True)
class User:
    name: str
    roles: tuple[str, ...]
    credential: str


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def password_matches(password: str, credential: str) -> bool:
    scheme, n, r, p, salt, digest = credential.split("$")
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(candidate.hex(), digest)


def users(store: Store) -> dict[str, User]:
    return {e.payload["name"]: User(e.payload["name"], tuple(e.payload["roles"]), e.payload["credential"])
            for e in store.store_entries(kinds=[USER_ADDED])}


def add_user(store: Store, name: str, roles: list[str], password: str) -> Entry:
    name = name.strip()
    if not name:
        raise SignOffError("a user needs a name (as it is to appear on reports)")
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise SignOffError(f"roles {unknown or roles}: give one or more of {', '.join(ROLES)}")
    if name in users(store):
        raise SignOffError(f"{name!r} is a user already")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise SignOffError(f"the password is too short: at least {MIN_PASSWORD_LENGTH} characters")
    return store.append(None, USER_ADDED, {"name": name, "roles": sorted(set(roles)),
                                           "credential": hash_password(password)})


def authenticate(store: Store, name: str, password: str) -> User:
    user = users(store).get(name)
    # the same words for an unknown name and a wrong password: the message does not tell which names exist
    if user is None or not password_matches(password, user.credential):
        raise SignOffError(f"{name!r}: unknown user or wrong password (users: `meterlab users list`)")
    return user


OPERATOR_ROLES = ("technician", "metrologist")  # who may run a test


def authenticated_operator(store: Store, name: str, read_password) -> bool:
    """Whether the operator of a new run (or resume) is an authenticated user. Records without users (a lone
    bench, the simulated lab) take the name as typed: False, and the record says so. Once the laboratory has
    users, the operator must be one of them, with a role that runs tests, and give their password."""
    known = users(store)
    if not known:
        return False
    user = known.get(name)
    if user is None or not set(user.roles) & set(OPERATOR_ROLES):
        runners = [n for n, u in known.items() if set(u.roles) & set(OPERATOR_ROLES)]
        raise SignOffError(f"--operator {name!r}: the records have users, and the operator must be one who runs "
                           f"tests ({', '.join(runners) or 'none yet: meterlab users add NAME --role technician'})")
    authenticate(store, name, read_password())
    return True


def _policy(header: dict[str, Any]) -> SignOffPolicy:
    return SignOffPolicy.model_validate((header.get("laboratory") or {}).get("sign_off") or {})


def missing_sign_offs(store: Store, run_id: str) -> list[str]:
    """The roles the run's policy still needs, in order ([] = the results may be released)."""
    header = next(store.entries(run_id)).payload
    signed = {e.payload.get("role") for e in store.entries(run_id, kinds=[APPROVAL])}
    return [role for role in _policy(header).order if role not in signed]


def sign_off(store: Store, run_id: str, user: User, role: str, comment: str = "") -> Entry:
    """Record `user`'s sign-off of the run as `role`, if the laboratory's policy allows it now."""
    if role not in user.roles:
        raise SignOffError(f"{user.name} does not hold the role {role} (holds: {', '.join(user.roles)})")
    entries = list(store.entries(run_id))
    header, approvals = entries[0].payload, [e.payload for e in entries if e.kind == APPROVAL]
    policy = _policy(header)
    if role not in policy.order:
        raise SignOffError(f"the laboratory's sign-off policy has no {role} step (its order: "
                           f"{' then '.join(policy.order)})")
    signed = {a.get("role"): a.get("by") for a in approvals}
    if role in signed:
        raise SignOffError(f"run {run_id} was signed off as {role} already, by {signed[role]}")
    before = policy.order[:policy.order.index(role)]
    if missing := [r for r in before if r not in signed]:
        raise SignOffError(f"run {run_id}: the {role} sign-off comes after the {' and '.join(missing)} sign-off "
                           f"(the laboratory's order: {' then '.join(policy.order)})")
    if not policy.operator_may_sign and user.name == header.get("operator"):
        raise SignOffError(f"{user.name} ran this test (operator of run {run_id}) and may not sign it off: "
                           f"separation of duties")
    if policy.one_role_per_person and user.name in signed.values():
        raise SignOffError(f"{user.name} signed run {run_id} off already; the laboratory's policy asks for a "
                           f"different person at each step")
    seq, head = store.head()
    return store.append(run_id, APPROVAL, {"by": user.name, "role": role, "comment": comment, "authenticated": True,
                                           "policy": policy.model_dump(), "head": [seq, head]})
