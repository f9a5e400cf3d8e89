"""The four functions that build upstream code cloned at a commit keep their own exact locks; their yamls use them.

What an image installs is what docs/verification.md ran the harness on: every spec in the folder's
requirements.lock is ``name==version``, every yaml installs from it (and nothing else from PyPI),
clones at full commit hashes and fetches weights through the library's fetcher. Whether the pins
resolve on PyPI for Python 3.11 was checked by hand (docs/verification.md), not here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]
FOLDERS = {
    "siammask": ROOT / "serverless/pytorch/foolwood/siammask/nuclio",
    "transt": ROOT / "serverless/pytorch/dschoerk/transt/nuclio",
    "iog": ROOT / "serverless/pytorch/shiyinzhang/iog/nuclio",
    "detectron2": ROOT / "serverless/pytorch/facebookresearch/detectron2/retinanet_r101/nuclio",
}
EXACT = re.compile(r"^([a-z0-9][a-z0-9._-]*)==([0-9][0-9a-z.+!-]*)$")


def pins(path: Path) -> dict[str, str]:
    result = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = EXACT.match(line)
        assert match, f"{path.name}: {line!r} is not an exact pin (name==version)"
        assert match[1] not in result, f"{path.name}: {match[1]} pinned twice"
        result[match[1]] = match[2]
    return result


def commands(yaml_path: Path) -> list[str]:
    directives = yaml.safe_load(yaml_path.read_text())["spec"]["build"]["directives"]
    return [" ".join(d["value"].split()) for stage in ("preCopy", "postCopy") for d in directives.get(stage) or []]


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("+")[0].split(".")[:3])


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_lock_is_exact_and_shares_torch_with_the_test_environment(name: str) -> None:
    locked = pins(FOLDERS[name] / "requirements.lock")
    assert {"torch", "numpy", "nuclio-sdk"} <= set(locked)
    tests = pins_of_requirements(ROOT / "requirements.txt")
    for package in ("torch", "torchvision"):
        if package in locked and package in tests:
            assert locked[package] == tests[package], f"{name}: {package} differs from requirements.txt"
    gpu = FOLDERS[name] / "requirements-gpu.lock"
    if gpu.exists():
        assert all(re.match(r"(nvidia-|cuda-|triton$)", package) for package in pins(gpu))


def pins_of_requirements(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = EXACT.match(line.strip().lower())
        if match:
            found[match[1]] = match[2]
    return found


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_yamls_install_the_lock_clone_at_commits_and_fetch_weights_through_the_library(name: str) -> None:
    for yaml_path in sorted(FOLDERS[name].glob("function*.yaml")):
        runs = commands(yaml_path)
        installs = [c for c in runs if "pip install" in c]
        locks = "-r requirements.lock -r requirements-gpu.lock" if "gpu" in yaml_path.name else "-r requirements.lock"
        assert any(c.startswith("cd /opt/nuclio && pip install") and c.endswith(locks) for c in installs), yaml_path
        for command in installs:  # nothing else from PyPI: only the lock, or detectron2 at a commit without deps
            assert command.endswith(locks) or re.search(r"--no-deps \S*git\+https://\S+@[0-9a-f]{40}", command)
        for clone in (c for c in runs if "git clone" in c):
            assert re.search(r"&& git checkout [0-9a-f]{40}\b", clone), f"{yaml_path.name}: clone not at a commit"
        assert not any(re.search(r"\b(curl|wget|gdown)\b", c) for c in runs), yaml_path
        fetches = [c for c in runs if "python -m common.fetch_weights" in c]
        assert len(fetches) == 1 and re.search(r"common\.fetch_weights '?https://", fetches[0]), yaml_path


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_cases_declare_a_skip_reason_and_their_random_weights(name: str) -> None:
    """Without SKIP_REASON the harness would run the cases where the upstream code is absent (CI) and fail."""
    from cvat_serverless.harness.discovery import load_cases

    cases = load_cases(FOLDERS[name])
    assert cases is not None and callable(getattr(cases, "environment", None))
    assert cases.SKIP_REASON is None or (isinstance(cases.SKIP_REASON, str) and cases.SKIP_REASON)


def test_siammask_lock_keeps_what_its_upstream_code_needs() -> None:
    locked = pins(FOLDERS["siammask"] / "requirements.lock")
    assert version(locked["numpy"]) < (1, 24), "tools/test.py calls astype(np.float), removed in numpy 1.24"
    cv2_version = ".".join(locked["opencv-python-headless"].split(".")[:3])
    assert cv2_version[-5] == "4", "siamese_track picks findContours' signature with cv2.__version__[-5] == '4'"
    assert "cython" in locked and "setuptools" in locked  # make.sh builds the Cython helpers


def test_detectron2_lock_has_its_build_tools() -> None:
    locked = pins(FOLDERS["detectron2"] / "requirements.lock")
    assert "wheel" in locked and "ninja" in locked  # pip install --no-build-isolation needs them present
    assert version(locked["setuptools"]) < (81,), "detectron2.model_zoo imports pkg_resources"
    assert locked["fvcore"].startswith("0.1.5") and version(locked["iopath"]) < (0, 1, 10)
