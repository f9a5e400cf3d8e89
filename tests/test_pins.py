"""One pin set: the test environment, the package and the images install the same exact versions."""

from __future__ import annotations

import tomllib
from pathlib import Path

from cvat_serverless.pins import EXACT, normalize, public, read_lock, runtime_pins

REPO = Path(__file__).parents[1]
LOCKS = REPO / "serverless" / "requirements"


def test_runtime_locks_are_exact_and_agree() -> None:
    pins, problems = runtime_pins(LOCKS)
    assert problems == []
    assert public(pins["torch"].version) == "2.14.1" and public(pins["torchvision"].version) == "0.29.1"
    cpu, _ = read_lock(LOCKS / "torch-cpu.txt")
    assert {name: pin.version for name, pin in cpu.items()} == {"torch": "2.14.1+cpu", "torchvision": "0.29.1+cpu"}
    gpu, _ = read_lock(LOCKS / "onnxruntime-gpu.txt")
    assert gpu["onnxruntime-gpu"].version == pins["onnxruntime"].version


def test_test_environment_installs_the_locks_exactly() -> None:
    pins, _ = runtime_pins(LOCKS)
    environment = {}
    for name in ("requirements.txt", "requirements-nodeps.txt"):
        found, problems = read_lock(REPO / name)
        assert problems == []
        environment.update(found)
    for lock in ("torch-cuda.txt", "onnxruntime.txt", "openvino.txt", "addons.txt", "nodeps.txt"):
        for name, pin in read_lock(LOCKS / lock)[0].items():
            assert environment[name].version == pin.version, (lock, name)
    for name, pin in environment.items():
        assert name not in pins or public(pins[name].version) == public(pin.version), name


def test_package_dependencies_are_the_same_pins() -> None:
    pins, _ = runtime_pins(LOCKS)
    environment = {**read_lock(REPO / "requirements.txt")[0]}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    for spec in project["project"]["dependencies"]:
        match = EXACT.match(spec)
        assert match, f"pyproject.toml dependency {spec!r} is not an exact pin"
        name = normalize(match.group(1))
        assert (pins.get(name) or environment[name]).version == match.group(3), spec
    assert project["build-system"]["requires"] == [f"setuptools=={pins['setuptools'].version}"]
