"""The laboratory's records keys: what authenticates each entry of the chain, kept outside the database.

A SHA-256 chain alone proves nothing against an insider who can write to the database: he can edit an entry
and recompute every later hash with the project's own function. So each entry (and the chain's head) also
carries an HMAC-SHA256 under a secret key that is not in the database. The key file holds one hex secret per
line ('#' comments allowed); the last line is the key new entries are authenticated with, the earlier ones
stay for verifying older entries (a key rotation appends a line, and the chain records it). Each entry names
its key by id (a hash of the secret, never the secret).

Where the file is: $METERLAB_RECORDS_KEY_FILE, else $XDG_CONFIG_HOME/meterlab/records.key (~/.config/...). A
writer creates it (mode 0600) on first use; a verifier never creates one. Keep a copy with QA: without the
key, entries cannot be authenticated, only their hash chain checked."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from meterlab.errors import MeterlabError

KEY_FILE_ENV = "METERLAB_RECORDS_KEY_FILE"
SECRET_BYTES = 32


class RecordsKeyError(MeterlabError):
    """The records key file is missing, unreadable or malformed."""


def default_key_file() -> Path:
    if os.environ.get(KEY_FILE_ENV):
        return Path(os.environ[KEY_FILE_ENV]).expanduser()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "meterlab" / "records.key"


def key_id(secret: bytes) -> str:
    """A public name for a secret (16 hex digits), recorded with every entry it authenticates."""
    return hashlib.sha256(b"meterlab records key id\0" + secret).hexdigest()[:16]


@dataclass(frozen=True)
class Keyring:
    path: Path
    secrets: tuple[bytes, ...]  # oldest first; the last signs

    @property
    def current_id(self) -> str:
        return key_id(self.secrets[-1])

    def holds(self, kid: str) -> bool:
        return any(key_id(s) == kid for s in self.secrets)

    def mac(self, message: str, kid: str | None = None) -> str:
        """HMAC-SHA256 of `message` under the key `kid` (the current key by default)."""
        kid = kid or self.current_id
        secret = next((s for s in self.secrets if key_id(s) == kid), None)
        if secret is None:
            raise RecordsKeyError(f"the records key {kid} is not in {self.path}")
        return hmac.new(secret, message.encode("utf-8"), hashlib.sha256).hexdigest()

    def check(self, message: str, kid: str, mac: str) -> bool:
        return hmac.compare_digest(self.mac(message, kid), mac or "")

    @classmethod
    def load(cls, path: Path | None = None, *, create: bool = False) -> Keyring:
        """The key file's keys; with `create`, a new file with one fresh key if there is none."""
        path = path or default_key_file()
        if not path.exists():
            if not create:
                raise RecordsKeyError(f"no records key file at {path}: entries cannot be authenticated without the "
                                f"laboratory's key (set {KEY_FILE_ENV} to its file)")
            _write_new(path, [secrets.token_bytes(SECRET_BYTES)])
        return cls(path, _read(path))

    def rotated(self, secret: bytes | None = None) -> Keyring:
        """`secret` (default a fresh one) appended to the file: it signs from now on, the older ones still verify."""
        keys = self.secrets + (secret or secrets.token_bytes(SECRET_BYTES),)
        _write_new(self.path, list(keys))
        return Keyring(self.path, keys)


def _read(path: Path) -> tuple[bytes, ...]:
    keys = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            secret = bytes.fromhex(line)
        except ValueError:
            raise RecordsKeyError(f"{path}, line {number}: not a hex key; each line holds one key of "
                            f"{2 * SECRET_BYTES} hex digits") from None
        if len(secret) < 16:
            raise RecordsKeyError(f"{path}, line {number}: a key of {len(secret)} bytes is too short (at least 16)")
        keys.append(secret)
    if not keys:
        raise RecordsKeyError(f"{path} holds no key")
    return tuple(keys)


def _write_new(path: Path, keys: list[bytes]) -> None:
    """Write the key file readable by its owner only, atomically (a rotation never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("# meterlab records keys, oldest first; the last one authenticates new entries. Keep secret.\n")
        handle.writelines(f"{k.hex()}\n" for k in keys)
    os.replace(temporary, path)
