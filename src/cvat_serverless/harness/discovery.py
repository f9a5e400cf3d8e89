"""Find function folders and load their ``cases.py``."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVERLESS_ROOT = REPO_ROOT / "serverless"


def function_dirs(root: Path = SERVERLESS_ROOT) -> list[Path]:
    """Every folder under ``root`` holding a function.yaml and a main.py, sorted."""
    return sorted(path.parent for path in root.rglob("function.yaml") if (path.parent / "main.py").is_file())


def function_id(function_dir: Path) -> str:
    """A short readable id for test names: the folder path below serverless/, without /nuclio."""
    try:
        relative = function_dir.resolve().relative_to(SERVERLESS_ROOT)
    except ValueError:
        relative = Path(function_dir.name)
    parts = [part for part in relative.parts if part != "nuclio"]
    return "/".join(parts)


def load_module(path: Path, name: str) -> ModuleType:
    """Import one file as module ``name`` without touching ``sys.path`` or ``sys.modules``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_cases(function_dir: Path) -> ModuleType | None:
    """Import the folder's ``cases.py`` under a unique module name (None when it has none)."""
    path = function_dir / "cases.py"
    if not path.is_file():
        return None
    return load_module(path, "harness_cases_" + re.sub(r"\W", "_", function_id(function_dir)))
