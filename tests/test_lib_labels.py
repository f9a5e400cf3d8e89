"""Tests for common.labels: the spec in function.yaml, validated with CVAT's rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from common.errors import InvalidFunctionConfig
from common.labels import find_function_yaml, load_function_config, parse_function_config, parse_spec

SKELETON = {
    "name": "person",
    "type": "skeleton",
    "svg": '<line data-node-from="1" data-node-to="2"></line>',
    "sublabels": [{"id": 0, "name": "nose", "type": "points"}, {"id": 1, "name": "eye", "type": "points"}],
}


def _document(spec: object, **annotations: str) -> dict:
    return {
        "metadata": {"name": "fn", "annotations": {"type": "detector", "spec": json.dumps(spec), **annotations}},
        "spec": {"description": "d"},
    }


def test_spec_with_attributes_and_skeleton_parses() -> None:
    labels = parse_spec(
        json.dumps(
            [
                {
                    "id": 0,
                    "name": "face",
                    "type": "rectangle",
                    "attributes": [{"name": "age", "input_type": "number", "values": ["0", "150", "1"]}],
                },
                SKELETON,
            ]
        )
    )
    assert [label.name for label in labels] == ["face", "person"]
    assert labels[0].attributes[0].values == ("0", "150", "1")
    assert [sub.name for sub in labels[1].sublabels] == ["nose", "eye"]


@pytest.mark.parametrize("text", [None, "", "   ", "[]"])
def test_empty_spec_means_no_labels(text: str | None) -> None:
    assert parse_spec(text) == ()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"name": "a"}', "must be a JSON list"),
        ('[{"name": "a"}, {"name": "a"}]', "declared twice"),
        ('[{"name": "a", "type": "blob"}]', "unknown type"),
        ('[{"type": "rectangle"}]', "non-empty string 'name'"),
        ('[{"name": "a", "attributes": [{"name": "x", "input_type": "text"}]}]', "lacks values"),
        (
            '[{"name": "a", "attributes": [{"name": "x", "input_type": "text", "values": []},'
            ' {"name": "x", "input_type": "text", "values": []}]}]',
            "attribute 'x' is declared twice",
        ),
        ('[{"name": "a", "type": "skeleton"}]', "needs 'sublabels' and 'svg'"),
        ('[{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]', "ids"),
    ],
)
def test_bad_specs_fail_like_cvat(spec: str, message: str) -> None:
    with pytest.raises(InvalidFunctionConfig, match=message):
        parse_spec(spec)


def test_function_kind_is_required() -> None:
    document = _document([])
    document["metadata"]["annotations"]["type"] = "classifier"
    with pytest.raises(InvalidFunctionConfig, match="'type'"):
        parse_function_config(document)


def test_annotations_become_strings_and_ids_map_to_names() -> None:
    config = parse_function_config(_document([{"id": 3, "name": "car"}], version=2))  # type: ignore[arg-type]
    assert config.annotations["version"] == "2"
    assert config.names_by_id() == {3: "car"}
    assert config.label("car").type == "any"


def test_load_from_folder_and_from_environment(tmp_path: Path) -> None:
    (tmp_path / "function.yaml").write_text(yaml.safe_dump(_document([{"name": "x"}])))
    assert load_function_config(tmp_path, environ={}).labels[0].name == "x"
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(_document([{"name": "y"}])))
    config = load_function_config(tmp_path, environ={"CVAT_FUNCTION_YAML": str(other)})
    assert config.labels[0].name == "y"
    with pytest.raises(InvalidFunctionConfig, match="not found"):
        find_function_yaml(tmp_path / "missing", environ={})
