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
                "preCopy": [
                    {
                        "kind": "RUN",
                        "value": "curl -fsSL -o /opt/w.pt https://x/w.pt && echo 'ab  /opt/w.pt' | sha256sum -c -",
                    }
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
    "unpinned-download": (
        _set("spec.build.directives.preCopy", [{"kind": "RUN", "value": "wget https://x/w.pt"}]),
        "without a checksum",
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
