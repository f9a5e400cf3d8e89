"""Who sent a request: CVAT's session cookies (+ CSRF), ``Token`` keys and HTTP basic auth over :class:`UserStore`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field

from starlette.requests import Request

from cvat_serverless.gateway.errors import Forbidden
from cvat_serverless.gateway.users import User, UserStore

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NOT_PROVIDED = "Authentication credentials were not provided."


@dataclass
class Accounts:
    """The users plus the sessions they opened (kept in memory: a restart logs sessions out, tokens stay)."""

    users: UserStore
    username: str = "admin"
    password: str = "admin"
    _sessions: dict[str, tuple[int, str]] = field(default_factory=dict)
    _basic: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.users.ensure_admin(self.username, self.password)

    def check_password(self, login: str | None, password: str | None) -> User | None:
        return self.users.check_password(login, password)

    def login(self, user: User) -> tuple[str, str, str]:
        """A new session: ``(key, sessionid, csrftoken)``; the key is the user's one API token."""
        session, csrf = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[session] = (user.id, csrf)
        return self.users.token(user), session, csrf

    def logout(self, request: Request, user: User | None) -> None:
        """CVAT's logout: the session ends and the user's token is deleted (every client using it is out)."""
        with self._lock:
            self._sessions.pop(request.cookies.get("sessionid", ""), None)
            if user is not None:
                self._basic = {k: v for k, v in self._basic.items() if v != user.id}
        if user is not None:
            self.users.revoke_token(user.id)

    def forget(self, user_id: int) -> None:
        """Drop the sessions and cached credentials of a deleted account."""
        with self._lock:
            self._sessions = {k: v for k, v in self._sessions.items() if v[0] != user_id}
            self._basic = {k: v for k, v in self._basic.items() if v != user_id}

    def authenticate(self, request: Request) -> User | str | Forbidden:
        """The request's user, or why it has none (a :class:`Forbidden` for a session without its CSRF token).

        Sessions live only in this process's own table under random ids; API keys are looked up only
        from an ``Authorization`` header, so neither can stand in for the other."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("bearer", "token") and value:
            user = self.users.by_token(value.strip())
            return user if user is not None else "Invalid token."
        if scheme.lower() == "basic" and value:
            return self._basic_user(value.strip())
        session = request.cookies.get("sessionid")
        if session and session in self._sessions:
            user_id, csrf = self._sessions[session]
            if request.method not in SAFE_METHODS:
                given = request.headers.get("x-csrftoken", "")
                # DRF's SessionAuthentication answers a CSRF failure with PermissionDenied (403), Django's reasons
                if not given:
                    return Forbidden("CSRF Failed: CSRF token missing.")
                if not hmac.compare_digest(given.encode(), csrf.encode()):
                    return Forbidden("CSRF Failed: CSRF token incorrect.")
            found = self.users.get(user_id)
            return found if found is not None else NOT_PROVIDED
        return NOT_PROVIDED

    def _basic_user(self, value: str) -> User | str:
        # Password hashing is slow on purpose; remember credentials that already passed once.
        cache_key = hashlib.sha256(value.encode()).hexdigest()
        cached = self._basic.get(cache_key)
        if cached is not None and (user := self.users.get(cached)) is not None:
            return user
        try:
            login, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "Invalid basic header. Credentials not correctly base64 encoded."
        found = self.users.check_password(login, password)
        if found is None:
            return "Invalid username/password."
        with self._lock:
            self._basic[cache_key] = found.id
        return found
