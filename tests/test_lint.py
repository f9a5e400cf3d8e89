"""Tests for ``cvat-serverless lint``: a folder of broken yaml files, one per rule, each reported."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cvat_serverless.cli import main
from cvat_serverless.lint import lint_paths

REPO = Path(__file__).parents[1]
URL, DEST = "https://x/w.pt", "/opt/nuclio/w.pt"
POST = "spec.build.directives.postCopy"
GOOD: dict[str, Any] = {
    "metadata": {
        "name": "good-fn",
        "namespace": "cvat",
        "annotations": {
            "name": "Good",
            "type": "interactor",
            "version": "2",
            "min_pos_points": "1",
            "spec": json.dumps([{"id": 0, "name": "car", "type": "rectangle"}]),
        },
    },
    "spec": {
        "description": "d",
        "runtime": "python:3.11",
        "handler": "main:handler",
        "eventTimeout": "30s",
        "build": {
            "directives": {
                "postCopy": [
                    {
                        "kind": "RUN",
                        "value": "pip install --no-cache-dir -r /opt/nuclio/requirements/base.txt"
                        " && pip install -c /opt/nuclio/requirements/addons.txt scipy==1.17.1",
                    },
                    {
                        "kind": "RUN",
                        "value": f"cd /opt/nuclio && python -m common.fetch_weights {URL} {DEST} --sha256 ab12cd34",
                    },
                ]
            }
        },
        "triggers": {"http": {"kind": "http", "numWorkers": 2, "attributes": {"maxRequestBodySize": 33554432}}},
    },
}
MAIN = "def init_context(context):\n    pass\n\n\ndef handler(context, event):\n    pass\n"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = document
        for key in parents:
            target = target[key]
        if value is None:
            del target[last]
        else:
            target[last] = value

    return change


A = "metadata.annotations."
BROKEN = {
    "bad-name": (_set("metadata.name", "Bad_Name"), "DNS-safe"),
    "int-annotation": (_set(A + "version", 2), "must be a string"),
    "unknown-type": (_set(A + "type", "classifier"), "'type'"),
    "spec-not-list": (_set(A + "spec", '{"name": "car"}'), "JSON list"),
    "duplicate-labels": (_set(A + "spec", '[{"name": "a"}, {"name": "a"}]'), "declared twice"),
    "duplicate-attributes": (
        _set(
            A + "spec",
            '[{"name": "a", "attributes": [{"name": "x", "input_type": "text", '
            '"values": []}, {"name": "x", "input_type": "text", "values": []}]}]',
        ),
        "attribute 'x' is declared twice",
    ),
    "incomplete-attribute": (_set(A + "spec", '[{"name": "a", "attributes": [{"name": "x"}]}]'), "lacks"),
    "skeleton-without-svg": (
        _set(A + "spec", '[{"name": "a", "type": "skeleton", "sublabels": [{"name": "p"}]}]'),
        "sublabels' and 'svg'",
    ),
    "startswith-box-false": (_set(A + "startswith_box", "false"), "non-empty string as true"),
    "interactor-version-1": (_set(A + "version", "1"), "'version' >= 2"),
    "tracker-bad-shape-type": (
        lambda d: d["metadata"]["annotations"].update(type="tracker", supported_shape_types="mask,blob"),
        "unknown type 'blob'",
    ),
    "no-description": (_set("spec.description", None), "description"),
    "old-runtime": (_set("spec.runtime", "python:3.6"), "python:3.9"),
    "no-event-timeout": (_set("spec.eventTimeout", None), "eventTimeout is not set"),
    "bad-event-timeout": (_set("spec.eventTimeout", "30 seconds"), "duration"),
    "huge-event-timeout": (_set("spec.eventTimeout", "2h"), "over 10 minutes"),
    "no-body-size": (_set("spec.triggers.http.attributes", {}), "maxRequestBodySize"),
    "zero-workers": (_set("spec.triggers.http.numWorkers", 0), "numWorkers"),
    "raw-wget": (_set(POST, [{"kind": "RUN", "value": "wget https://x/w.pt"}]), "downloads with wget"),
    "raw-curl-in-substitution": (
        _set(POST, [{"kind": "RUN", "value": 'x="$(curl -fsSL -o /opt/w.pt https://x/w.pt)"'}]),
        "downloads with curl",
    ),
    "add-url": (_set(POST, [{"kind": "RUN", "value": "ADD https://x/w.pt /opt/w.pt"}]), "ADDs a URL"),
    "range-pin": (_set(POST, [{"kind": "RUN", "value": 'pip install "numpy<3"'}]), "base.txt pins numpy==2.4.6"),
    "bare-name": (_set(POST, [{"kind": "RUN", "value": "python -m pip install pillow"}]), "not an exact pin"),
    "pin-differs-from-lock": (
        _set(POST, [{"kind": "RUN", "value": "pip install --no-cache-dir onnxruntime==1.20.1"}]),
        "onnxruntime.txt pins onnxruntime==1.31.1",
    ),
    "pin-in-no-lock": (_set(POST, [{"kind": "RUN", "value": "pip3 install gdown==5.2.0"}]), "in no lock file"),
    "missing-lock": (
        _set(POST, [{"kind": "RUN", "value": "pip install -r /opt/nuclio/requirements/nope.txt"}]),
        "no such lock",
    ),
    "fetcher-in-precopy": (
        _set(
            "spec.build.directives",
            {"preCopy": [{"kind": "RUN", "value": f"python -m common.fetch_weights {URL} {DEST}"}]},
        ),
        "only in postCopy",
    ),
    "bad-handler": (_set("spec.handler", "nope:handler"), "does not resolve"),
}


def _write(folder: Path, document: dict[str, Any], name: str = "function.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text(MAIN)
    path = folder / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_good_yaml_is_clean(tmp_path: Path) -> None:
    assert lint_paths([_write(tmp_path, GOOD)]) == []


@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_each_broken_yaml_is_reported(rule: str, tmp_path: Path) -> None:
    change, message = BROKEN[rule]
    document = copy.deepcopy(GOOD)
    change(document)
    problems = [p for p in lint_paths([_write(tmp_path / rule, document)]) if p.error]
    assert any(message in p.message for p in problems), [str(p) for p in problems]


def test_gpu_yaml_rules_and_pair_names(tmp_path: Path) -> None:
    _write(tmp_path, GOOD)
    gpu = copy.deepcopy(GOOD)
    gpu["metadata"]["name"] = "other-fn"
    _write(tmp_path, gpu, "function-gpu.yaml")
    messages = [p.message for p in lint_paths([tmp_path])]
    assert any("nvidia.com/gpu" in m for m in messages)
    assert any("1 worker" in m for m in messages)
    assert any("differs from function.yaml" in m for m in messages)


def test_deprecated_max_workers_is_a_warning(tmp_path: Path) -> None:
    document = copy.deepcopy(GOOD)
    document["spec"]["triggers"]["http"] = {
        "kind": "http",
        "maxWorkers": 2,
        "attributes": {"maxRequestBodySize": 33554432},
    }
    problems = lint_paths([_write(tmp_path, document)])
    assert [p.error for p in problems] == [False] and "maxWorkers" in problems[0].message


def test_cli_exit_codes_and_the_real_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(REPO / "serverless")]) == 0
    broken = copy.deepcopy(GOOD)
    broken["metadata"]["name"] = "Bad_Name"
    path = _write(tmp_path, broken)
    assert main(["lint", str(path)]) == 1
    assert f"{path}: metadata.name" in capsys.readouterr().out


def _tree(
    tmp_path: Path, locks: dict[str, str], document: dict[str, Any], folder_files: dict[str, str] | None = None
) -> Path:
    """A serverless/ tree: common/, requirements/<locks>, and one function folder with the yaml."""
    root = tmp_path / "serverless"
    (root / "common").mkdir(parents=True)
    (root / "requirements").mkdir()
    for name, text in locks.items():
        (root / "requirements" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "requirements" / name).write_text(text)
    folder = root / "fw" / "org" / "fn" / "nuclio"
    _write(folder, document)
    for name, text in (folder_files or {}).items():
        (folder / name).write_text(text)
    return root


def _with_step(value: str) -> dict[str, Any]:
    document = copy.deepcopy(GOOD)
    document["spec"]["build"]["directives"] = {"postCopy": [{"kind": "RUN", "value": value}]}
    return document


LOCKS = {"base.txt": "numpy==2.4.6\n", "torch.txt": "-r base.txt\ntorch==2.14.1\n"}


def test_lock_files_must_hold_exact_pins(tmp_path: Path) -> None:
    locks = {**LOCKS, "addons.txt": "scipy>=1.14\n# a comment\nredis==8.1.0  # inline comment\n"}
    root = _tree(tmp_path, locks, _with_step("pip install -r /opt/nuclio/requirements/torch.txt"))
    messages = [str(p) for p in lint_paths([root])]
    assert len(messages) == 1, messages
    assert "addons.txt: line 1: 'scipy>=1.14' is not an exact pin; write name==version" in messages[0]


def test_runtime_locks_must_agree(tmp_path: Path) -> None:
    locks = {**LOCKS, "openvino.txt": "-r base.txt\nnumpy==1.26.4\n"}
    root = _tree(tmp_path, locks, _with_step("pip install -r /opt/nuclio/requirements/base.txt"))
    messages = [str(p) for p in lint_paths([root])]
    assert any("openvino.txt: pins numpy==1.26.4 but base.txt pins 2.4.6" in m for m in messages), messages


def test_build_locks_may_differ_but_must_be_exact(tmp_path: Path) -> None:
    locks = {**LOCKS, "tools/tool.txt": "numpy==1.26.4\nopenvino-dev[tensorflow2]==2024.6.0\n"}
    step = "python -m venv /opt/t && /opt/t/bin/pip install -r /opt/nuclio/requirements/tools/tool.txt"
    root = _tree(tmp_path, locks, _with_step(step))
    assert lint_paths([root]) == []
    (root / "requirements" / "tools" / "tool.txt").write_text("numpy<2\n")
    assert any("tool.txt: line 1: 'numpy<2' is not an exact pin" in str(p) for p in lint_paths([root]))


def test_cpu_builds_share_the_version(tmp_path: Path) -> None:
    locks = {**LOCKS, "torch-cpu.txt": "--index-url=https://download.pytorch.org/whl/cpu\ntorch==2.14.1+cpu\n"}
    step = "pip install --no-deps -r /opt/nuclio/requirements/torch-cpu.txt && pip install torch==2.14.1"
    assert lint_paths([_tree(tmp_path, locks, _with_step(step))]) == []


def test_folder_lock_overrides_the_runtime_pins(tmp_path: Path) -> None:
    step = "pip install -r /opt/nuclio/requirements.lock && pip install numpy==1.23.5 cython==3.0.11"
    lock = "numpy==1.23.5\ncython==3.0.11\n"
    root = _tree(tmp_path, LOCKS, _with_step(step), {"requirements.lock": lock})
    assert lint_paths([root]) == []
    (root / "fw/org/fn/nuclio/requirements.lock").write_text("numpy<2\ncython==3.0.11\n")
    messages = [str(p) for p in lint_paths([root])]
    assert any("requirements.lock: line 1: 'numpy<2' is not an exact pin" in m for m in messages), messages


def test_unpinned_fetch_is_a_warning_and_dynamic_pins_are_not(tmp_path: Path) -> None:
    plain = _tree(tmp_path / "a", LOCKS, _with_step(f"cd /opt/nuclio && python -m common.fetch_weights {URL} {DEST}"))
    problems = lint_paths([plain])
    assert [p.error for p in problems] == [False] and "without a pinned checksum" in problems[0].message
    lookup = (
        'expected="$(curl -fsSL https://api.github.com/repos/o/r/releases/tags/v1 | jq -r .digest)"'
        f' ; python -m common.fetch_weights {URL} {DEST} ${{expected:+--sha256 "$expected"}}'
        f' && x="$(curl -fsSLI {URL} | awk -F\': \' \'{{gsub(/"/,"",$2); print $2}}\')"'
    )
    assert lint_paths([_tree(tmp_path / "b", LOCKS, _with_step(lookup))]) == []


def test_commit_pinned_vcs_and_local_code(tmp_path: Path) -> None:
    sha = "02b5c4e295e990042a714712c21dc79b731e8833"
    good = (
        f"pip install --no-build-isolation git+https://github.com/facebookresearch/detectron2@{sha}"
        " && pip install --no-deps /opt/src/upstream"
    )
    lock = f"detectron2 @ git+https://github.com/facebookresearch/detectron2@{sha}\n"
    root = _tree(tmp_path / "a", LOCKS, _with_step(good), {"requirements.lock": lock})
    assert lint_paths([root]) == []
    bad = "pip install git+https://github.com/facebookresearch/detectron2@main && pip install /opt/src/upstream"
    messages = [p.message for p in lint_paths([_tree(tmp_path / "b", LOCKS, _with_step(bad))])]
    assert any("'git+https://github.com/facebookresearch/detectron2@main', not an exact pin" in m for m in messages)
    assert any("add --no-deps" in m for m in messages), messages


def test_relative_lock_after_cd_and_its_pins_rule_the_yaml(tmp_path: Path) -> None:
    step = "cd /opt/nuclio && pip install -r requirements-gpu.lock && pip install numpy==1.23.5"
    files = {"requirements-gpu.lock": "numpy==1.23.5\n", "requirements.lock": "numpy==1.24.4\n"}
    assert lint_paths([_tree(tmp_path / "a", LOCKS, _with_step(step), files)]) == []
    no_cd = "pip install -r requirements-gpu.lock"
    messages = [p.message for p in lint_paths([_tree(tmp_path / "b", LOCKS, _with_step(no_cd), files)])]
    assert any("'/requirements-gpu.lock': no such lock" in m for m in messages), messages
