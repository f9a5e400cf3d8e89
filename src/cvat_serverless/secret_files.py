"""Secrets kept in the platform's data folder, so they survive restarts (and are never logged)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def persistent_secret(path: Path) -> str:
    """The secret stored at ``path``; a new random one is written there (mode 0600) the first time."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()
