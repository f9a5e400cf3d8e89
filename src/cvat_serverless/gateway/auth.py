"""One account (``CVAT_USER``/``CVAT_PASSWORD``, default admin/admin): session cookies, tokens, basic auth."""

from __future__ import annotations

import base64
import hmac
import secrets
import threading
from dataclasses import dataclass, field

from starlette.requests import Request

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Accounts:
    """The single account and the sessions it opened (kept in memory: a restart logs everyone out)."""

    username: str = "admin"
    password: str = "admin"
    _sessions: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check_password(self, username: str | None, password: str | None) -> bool:
        return hmac.compare_digest(str(username or ""), self.username) and hmac.compare_digest(
            str(password or ""), self.password
        )

    def login(self) -> tuple[str, str, str]:
        """A new session: ``(key, sessionid, csrftoken)``; the key also works as a bearer/Token header."""
        key, session, csrf = secrets.token_hex(20), secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[session] = csrf
            self._sessions[f"key:{key}"] = ""
        return key, session, csrf

    def logout(self, request: Request) -> None:
        with self._lock:
            self._sessions.pop(request.cookies.get("sessionid", ""), None)

    def authenticated(self, request: Request) -> str | None:
        """None when the request is authenticated, else why not."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("bearer", "token") and value:
            return None if f"key:{value.strip()}" in self._sessions else "invalid token"
        if scheme.lower() == "basic" and value:
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return "malformed basic credentials"
            return None if self.check_password(user, password) else "invalid username or password"
        session = request.cookies.get("sessionid")
        if session and session in self._sessions:
            if request.method not in SAFE_METHODS:
                csrf = self._sessions[session]
                if not hmac.compare_digest(request.headers.get("x-csrftoken", ""), csrf):
                    return "CSRF token missing or incorrect"
            return None
        return "Authentication credentials were not provided."
