"""Tests for serverless/deploy_cpu.sh and deploy_gpu.sh with a fake nuctl that records its argv."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).parents[1]
FAKE_NUCTL = Path(__file__).parent / "fixtures" / "fake_nuctl"
FUNCTIONS = Path(__file__).parent / "fixtures" / "functions"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A serverless/ copy with the scripts, the library and two functions (one without a GPU yaml)."""
    root = tmp_path / "serverless"
    root.mkdir()
    for script in ("deploy_cpu.sh", "deploy_gpu.sh", "deploy_common.sh"):
        shutil.copy(REPO / "serverless" / script, root / script)
    shutil.copytree(REPO / "serverless" / "common", root / "common")
    shutil.copytree(REPO / "serverless" / "requirements", root / "requirements")
    for name, gpu in (("alpha", True), ("beta", False)):
        folder = root / "fw" / "org" / name / "nuclio"
        folder.mkdir(parents=True)
        shutil.copy(FUNCTIONS / "echo" / "main.py", folder / "main.py")
        shutil.copy(FUNCTIONS / "echo" / "function.yaml", folder / "function.yaml")
        if gpu:
            shutil.copy(FUNCTIONS / "echo" / "function.yaml", folder / "function-gpu.yaml")
    return root


def _run(tree: Path, script: str, *args: str, path: bool = True, **env: str) -> tuple[int, str, str, list[str]]:
    log = tree.parent / "nuctl.log"
    log.unlink(missing_ok=True)
    variables = {**os.environ, "FAKE_NUCTL_LOG": str(log), **env}
    variables["PATH"] = (f"{FAKE_NUCTL}:" if path else "") + "/usr/bin:/bin"
    result = subprocess.run(
        ["bash", str(tree / script), *args], capture_output=True, text=True, env=variables, check=False
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return result.returncode, result.stdout, result.stderr, calls


def _commands(calls: list[str]) -> list[str]:
    lines = [re.sub(r"/\S*cvat-fn\.\w+", "CTX", line) for line in calls if line.startswith("nuctl")]
    return [re.sub(r"CVAT_FN_STATE_SECRET=\w+", "CVAT_FN_STATE_SECRET=S", line) for line in lines]


REDIS = (
    "--env CVAT_FUNCTIONS_REDIS_HOST=cvat_redis_ondisk --env CVAT_FUNCTIONS_REDIS_PORT=6666"
    " --env CVAT_FN_STATE_SECRET=S"
)
NETWORK = '--platform-config {"attributes": {"network": "cvat_cvat"}}'


def test_cpu_local_deploys_every_function(tree: Path) -> None:
    code, _, _, calls = _run(tree, "deploy_cpu.sh")
    assert code == 0
    assert _commands(calls) == [
        "nuctl version",
        "nuctl get project cvat --platform local",
        "nuctl create project cvat --platform local",
        f"nuctl deploy --project-name cvat --path CTX --file CTX/function.yaml --platform local {REDIS} {NETWORK}",
        f"nuctl deploy --project-name cvat --path CTX --file CTX/function.yaml --platform local {REDIS} {NETWORK}",
        "nuctl get function --platform local",
    ]


def test_staged_context_holds_the_function_and_the_library(tree: Path) -> None:
    _, _, _, calls = _run(tree, "deploy_cpu.sh", str(tree / "fw/org/alpha/nuclio"), FAKE_NUCTL_PROJECT_EXISTS="1")
    files = {line.split("context: ")[1] for line in calls if "context: " in line}
    assert {"./main.py", "./function.yaml", "./common/__init__.py", "./common/detector.py"} <= files
    assert {"./common/fetch_weights.py", "./requirements/base.txt", "./requirements/tools/openvino-dev-mo.txt"} <= files
    assert "nuctl create project cvat --platform local" not in _commands(calls)


@pytest.mark.parametrize("script", ["deploy_cpu.sh", "deploy_gpu.sh"])
@pytest.mark.parametrize("platform", ["local", "kube"])
@pytest.mark.parametrize("registry", [False, True])
def test_command_sequence_for_every_combination(tree: Path, script: str, platform: str, registry: bool) -> None:
    extra = ["--registry", "reg.example/cvat", "--run-registry", "pull.example/cvat"] if registry else []
    code, _, err, calls = _run(
        tree,
        script,
        "--platform",
        platform,
        "--namespace",
        "cvat",
        "--env",
        "A=1",
        *extra,
        FAKE_NUCTL_PROJECT_EXISTS="1",
    )
    assert code == 0
    yaml_name = "function-gpu.yaml" if script == "deploy_gpu.sh" else "function.yaml"
    if platform == "local":
        tail = f" {NETWORK}"  # registries are a Kubernetes matter
    else:
        tail = " --registry reg.example/cvat --run-registry pull.example/cvat" if registry else ""
    deploy = (
        f"nuctl deploy --project-name cvat --path CTX --file CTX/{yaml_name} --platform {platform} "
        f"--namespace cvat {REDIS} --env A=1{tail}"
    )
    functions = 1 if script == "deploy_gpu.sh" else 2
    assert _commands(calls) == [
        "nuctl version",
        f"nuctl get project cvat --platform {platform} --namespace cvat",
        *[deploy] * functions,
        f"nuctl get function --platform {platform} --namespace cvat",
    ]
    assert ("skipping" in err and "beta" in err) == (script == "deploy_gpu.sh")


def test_explicit_folder_without_gpu_yaml_is_an_error(tree: Path) -> None:
    code, _, err, _ = _run(tree, "deploy_gpu.sh", str(tree / "fw/org/beta/nuclio"))
    assert code == 1 and "has no function-gpu.yaml" in err


def test_dry_run_prints_and_runs_nothing(tree: Path) -> None:
    code, out, _, calls = _run(tree, "deploy_cpu.sh", "--dry-run", path=False)
    assert code == 0 and calls == []
    assert out.count("+ nuctl deploy") == 2 and "+ cp -R" in out


def test_missing_nuctl_exits_2(tree: Path) -> None:
    code, _, err, _ = _run(tree, "deploy_cpu.sh", path=False)
    assert code == 2 and "nuctl is not on PATH" in err


def test_version_mismatch_warns_with_both_versions(tree: Path) -> None:
    code, _, err, _ = _run(tree, "deploy_cpu.sh", FAKE_NUCTL_VERSION="1.13.5")
    assert code == 0 and "1.13.5" in err and "1.16" in err


def test_environment_variables_set_options(tree: Path) -> None:
    _, _, _, calls = _run(tree, "deploy_cpu.sh", CVAT_NUCLIO_NETWORK="mynet", CVAT_FUNCTIONS_REDIS_PASSWORD="pw")
    deploy = next(line for line in calls if line.startswith("nuctl deploy"))
    assert "CVAT_FUNCTIONS_REDIS_PASSWORD=pw" in deploy and '"network": "mynet"' in deploy


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_scripts_are_shellcheck_clean() -> None:
    scripts = [str(REPO / "serverless" / name) for name in ("deploy_cpu.sh", "deploy_gpu.sh", "deploy_common.sh")]
    result = subprocess.run(["shellcheck", "-x", *scripts], capture_output=True, text=True, cwd=REPO, check=False)
    assert result.returncode == 0, result.stdout


def _real_function(tree: Path) -> Path:
    """A copy of a real function folder whose yaml fetches weights in postCopy."""
    folder = tree / "pytorch" / "torchvision" / "faster_rcnn" / "nuclio"
    shutil.copytree(REPO / "serverless" / "pytorch" / "torchvision" / "faster_rcnn" / "nuclio", folder)
    return folder


@pytest.mark.parametrize("script", ["deploy_cpu.sh", "deploy_gpu.sh"])
def test_require_checksum_reaches_the_build_as_the_first_postcopy_env(tree: Path, script: str) -> None:
    folder = _real_function(tree)
    keep = tree.parent / "kept"
    keep.mkdir()
    env = {"FAKE_NUCTL_PROJECT_EXISTS": "1", "FAKE_NUCTL_KEEP": str(keep), "CVAT_FN_REQUIRE_CHECKSUM": "1"}
    code, _, err, _ = _run(tree, script, str(folder), **env)
    assert code == 0, err
    (context,) = keep.iterdir()
    yaml_name = "function-gpu.yaml" if script == "deploy_gpu.sh" else "function.yaml"
    staged = yaml.safe_load((context / yaml_name).read_text())
    original = yaml.safe_load((folder / yaml_name).read_text())
    post = staged["spec"]["build"]["directives"]["postCopy"]
    assert post[0] == {"kind": "ENV", "value": "CVAT_FN_REQUIRE_CHECKSUM=1"}
    assert post[1:] == original["spec"]["build"]["directives"]["postCopy"]
    assert staged["metadata"] == original["metadata"]
    assert "common.fetch_weights" in " ".join(d["value"] for d in post[1:])


def test_without_require_checksum_the_staged_yaml_is_the_committed_one(tree: Path) -> None:
    folder = _real_function(tree)
    keep = tree.parent / "kept"
    keep.mkdir()
    _run(tree, "deploy_cpu.sh", str(folder), FAKE_NUCTL_PROJECT_EXISTS="1", FAKE_NUCTL_KEEP=str(keep))
    (context,) = keep.iterdir()
    assert (context / "function.yaml").read_text() == (folder / "function.yaml").read_text()


def test_dry_run_shows_the_require_checksum_step(tree: Path) -> None:
    folder = _real_function(tree)
    _, plain, _, _ = _run(tree, "deploy_cpu.sh", "--dry-run", str(folder), path=False)
    code, strict, _, _ = _run(tree, "deploy_cpu.sh", "--dry-run", str(folder), path=False, CVAT_FN_REQUIRE_CHECKSUM="1")
    assert code == 0
    assert "require_checksum_in" not in plain
    assert re.search(r"^\+ require_checksum_in \S+/function\.yaml$", strict, re.MULTILINE)
    assert "+ cp -R" in strict and "/requirements" in strict


def test_require_checksum_rejects_odd_values(tree: Path) -> None:
    code, _, err, _ = _run(tree, "deploy_cpu.sh", "--dry-run", path=False, CVAT_FN_REQUIRE_CHECKSUM="1; rm -rf /")
    assert code == 1 and "CVAT_FN_REQUIRE_CHECKSUM" in err
