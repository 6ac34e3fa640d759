"""Logins of the records' users: a server-side session per login (an unguessable token in an HttpOnly,
SameSite=Strict cookie) and a CSRF token every form must send back. Sessions live in the server's memory: a
restarted console asks everyone to log in again."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

COOKIE = "meterlab_session"
IDLE_TIMEOUT_S = 8 * 3600  # a working day


@dataclass
class Login:
    user: str
    roles: tuple[str, ...]
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    last_seen: float = field(default_factory=time.monotonic)


class Sessions:
    def __init__(self) -> None:
        self._logins: dict[str, Login] = {}
        self._lock = threading.Lock()

    def open(self, user: str, roles: tuple[str, ...]) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._logins[token] = Login(user, roles)
        return token

    def get(self, token: str | None) -> Login | None:
        with self._lock:
            login = self._logins.get(token or "")
            if login is None:
                return None
            if time.monotonic() - login.last_seen > IDLE_TIMEOUT_S:
                del self._logins[token]
                return None
            login.last_seen = time.monotonic()
            return login

    def close(self, token: str | None) -> None:
        with self._lock:
            self._logins.pop(token or "", None)


def csrf_ok(login: Login, sent: str | None) -> bool:
    return hmac.compare_digest(login.csrf, sent or "")
