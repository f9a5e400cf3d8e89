"""Accounts in SQLite: an administrator and regular users, their password hashes and API tokens.

CVAT's rules (dj-rest-auth + allauth + Django's password validators as configured by CVAT 2.73):
usernames of 5-150 characters from ``[\\w.@+-]``, unique without regard to case; an optional unique
e-mail; passwords of 8-256 characters, not entirely numeric, not too similar to the username or
e-mail. One API token per user (DRF's ``Token``): login returns it, logout deletes it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from cvat_serverless.gateway.errors import ValidationFailed
from cvat_serverless.gateway.jobstore import now

ROLES = ("admin", "user", "worker")
USERNAME = re.compile(r"^[\w.@+-]+\Z")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")
PBKDF2_ITERATIONS = 120_000
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL UNIQUE COLLATE NOCASE, email TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '', last_name TEXT NOT NULL DEFAULT '', password TEXT NOT NULL,
    role TEXT NOT NULL, date_joined TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (key TEXT PRIMARY KEY, user_id INTEGER NOT NULL UNIQUE);
"""


@dataclass(frozen=True)
class User:
    """One account; ``role`` is CVAT's privilege group: admin, user or worker."""

    id: int
    username: str
    email: str
    first_name: str
    last_name: str
    role: str
    date_joined: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def basic(self, base_url: str = "") -> dict[str, Any]:
        """``BasicUserSerializer``: url, id, username, first_name, last_name."""
        return {
            "url": f"{base_url}/api/users/{self.id}",
            "id": self.id,
            "username": self.username,
            "first_name": self.first_name,
            "last_name": self.last_name,
        }


def hash_password(password: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(12)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), PBKDF2_ITERATIONS).hex()
    return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${salt}${digest}"


def _check_hash(password: str, encoded: str) -> bool:
    _, iterations, salt, digest = encoded.split("$")
    attempt = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations)).hex()
    return hmac.compare_digest(attempt, digest)


def _length_errors(value: str, low: int, high: int) -> list[str]:
    if len(value) < low:
        return [f"Ensure this field has at least {low} characters."]
    if len(value) > high:
        return [f"Ensure this field has no more than {high} characters."]
    return []


def similarity_errors(password: str, attributes: dict[str, str]) -> list[str]:
    """Django's ``UserAttributeSimilarityValidator`` (max similarity 0.7) over the user's attributes."""
    for verbose_name, value in attributes.items():
        if not value:
            continue
        for part in [*re.split(r"\W+", value), value]:
            if len(password) >= 10 * len(part) and len(part) < 0.7 / 2 * len(password):
                continue
            if SequenceMatcher(a=password.lower(), b=part.lower()).quick_ratio() >= 0.7:
                return [f"The password is too similar to the {verbose_name}."]
    return []


class UserStore:
    """Users and tokens in ``users.sqlite3`` (shared by the gateway and the ``users`` command)."""

    def __init__(self, directory: Path) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(Path(directory) / "users.sqlite3", check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            self._db.commit()

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def _user(row: sqlite3.Row) -> User:
        return User(
            row["id"],
            row["username"],
            row["email"],
            row["first_name"],
            row["last_name"],
            row["role"],
            row["date_joined"],
        )

    def get(self, user_id: int) -> User | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        return None if row is None else self._user(row)

    def find(self, login: str) -> User | None:
        """A user by username or e-mail (CVAT logs in with either), case-insensitively."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM users WHERE username = ? COLLATE NOCASE OR (email != '' AND email = ? COLLATE NOCASE)",
                (login, login),
            ).fetchone()
        return None if row is None else self._user(row)

    def _username_taken(self, username: str) -> bool:
        with self._lock:
            return (
                self._db.execute("SELECT 1 FROM users WHERE username = ? COLLATE NOCASE", (username,)).fetchone()
                is not None
            )

    def all(self) -> list[User]:
        with self._lock:
            return [self._user(row) for row in self._db.execute("SELECT * FROM users ORDER BY id")]

    def check_password(self, login: str | None, password: str | None) -> User | None:
        user = self.find(str(login or "")) if login else None
        if user is None or password is None:
            return None
        with self._lock:
            encoded = self._db.execute("SELECT password FROM users WHERE id = ?", (user.id,)).fetchone()["password"]
        return user if _check_hash(str(password), encoded) else None

    def validate_new(self, body: dict[str, Any]) -> dict[str, str]:
        """``RegisterSerializerEx`` field checks, then the passwords' match; the cleaned fields."""
        errors: dict[str, list[str]] = {}
        fields: dict[str, str] = {}
        for key in ("username", "password1", "password2", "email", "first_name", "last_name"):
            value = body.get(key)
            if value is None:
                if key in ("username", "password1", "password2"):
                    errors[key] = ["This field is required."]
                continue
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                errors[key] = ["Not a valid string."]
                continue
            fields[key] = str(value) if key.startswith("password") else str(value).strip()
        username = fields.get("username")
        if username is not None and "username" not in errors:
            problems = _length_errors(username, 5, 150)
            if not problems and not USERNAME.match(username):
                problems = [
                    "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
                ]
            if not problems and self._username_taken(username):
                problems = ["A user with that username already exists."]
            if problems:
                errors["username"] = problems
        email = fields.get("email", "")
        if email:
            if not EMAIL.match(email) or len(email) > 254:
                errors["email"] = ["Enter a valid email address."]
            elif any(u.email.lower() == email.lower() for u in self.all()):
                errors["email"] = ["A user is already registered with this e-mail address."]
        for key in ("password1", "password2"):
            if key in fields:
                problems = _length_errors(fields[key], 8, 256)
                if key == "password1" and not problems and fields[key].isdigit():
                    problems = ["This password is entirely numeric."]
                if problems:
                    errors[key] = problems
        if errors:
            raise ValidationFailed(errors)
        if fields["password1"] != fields["password2"]:
            raise ValidationFailed({"non_field_errors": ["The two password fields didn't match."]})
        attributes = {
            "username": fields["username"],
            "first name": fields.get("first_name", ""),
            "last name": fields.get("last_name", ""),
            "email address": email,
        }
        similar = similarity_errors(fields["password1"], attributes)
        if similar:
            raise ValidationFailed({"non_field_errors": similar})
        return fields

    def create(self, fields: dict[str, str], role: str = "user") -> User:
        """A new account from cleaned fields (``validate_new``) and a role."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO users (username, email, first_name, last_name, password, role, date_joined)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    fields["username"],
                    fields.get("email", ""),
                    fields.get("first_name", ""),
                    fields.get("last_name", ""),
                    hash_password(fields["password1"]),
                    role,
                    now(),
                ),
            )
            self._db.commit()
        user = self.get(int(cursor.lastrowid or 0))
        assert user is not None
        return user

    def ensure_admin(self, username: str, password: str) -> User:
        """The configured administrator exists with this password (``CVAT_USER`` / ``CVAT_PASSWORD``)."""
        existing = self.find(username)
        if existing is None:
            return self.create({"username": username, "password1": password}, role="admin")
        with self._lock:
            self._db.execute(
                "UPDATE users SET password = ?, role = 'admin' WHERE id = ?", (hash_password(password), existing.id)
            )
            self._db.commit()
        return self.find(username) or existing

    def delete(self, user_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,))
            self._db.execute("DELETE FROM users WHERE id = ?", (user_id,))
            self._db.commit()

    def token(self, user: User) -> str:
        """The user's API token, created on first use (DRF's ``Token.objects.get_or_create``)."""
        with self._lock:
            row = self._db.execute("SELECT key FROM tokens WHERE user_id = ?", (user.id,)).fetchone()
            if row is not None:
                return str(row["key"])
            key = secrets.token_hex(20)
            self._db.execute("INSERT INTO tokens (key, user_id) VALUES (?, ?)", (key, user.id))
            self._db.commit()
            return key

    def revoke_token(self, user_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,))
            self._db.commit()

    def by_token(self, key: str) -> User | None:
        with self._lock:
            row = self._db.execute("SELECT user_id FROM tokens WHERE key = ?", (key,)).fetchone()
        return None if row is None else self.get(int(row["user_id"]))
