"""Where a function finds its weights: an environment variable, defaulting to the image path.

function.yaml downloads the published weights at build time to a fixed container path; tests
point the same variable at tiny generated weights of the real architecture.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from common.errors import InvalidFunctionConfig


def weights_path(variable: str, default: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Path:
    """Return the weights file named by ``variable`` (or ``default``); it must exist.

    Raises :class:`InvalidFunctionConfig` naming both the variable and the path, so a missing
    file fails ``init_context`` with a message that says how to fix it.
    """
    env = os.environ if environ is None else environ
    path = Path(env.get(variable) or default)
    if not path.exists():
        raise InvalidFunctionConfig(
            f"weights not found at {str(path)!r}; build the image with function.yaml (it downloads them) "
            f"or set {variable} to a local file"
        )
    return path
