"""``cvat-serverless new onnx/<org>/<model> --from-yolo best.onnx``: a function folder from an ultralytics export.

The export's metadata (``names``, ``task``, ``kpt_shape``...) gives the labels and the CVAT shape;
the yamls start from the bring-your-own folder's (same image, same pins), the code is that folder's
too (``common.yolo.OnnxYolo`` decodes every task and head), and the model is copied in as
``model.onnx`` next to the handler, where it looks first (``/opt/nuclio/model.onnx`` in the image).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from common.errors import InvalidFunctionConfig
from common.labels import parse_spec
from cvat_serverless.scaffold.generate import function_id, target_folder
from cvat_serverless.scaffold.yolo_templates import CASES_PY, HEADER, skeleton_label

BYO = Path(__file__).resolve().parents[3] / "serverless/onnx/ultralytics/yolo/nuclio"
SHAPES = {"detect": "rectangle", "segment": "mask", "pose": "skeleton", "obb": "rectangle"}
SHOWN = {"detect": "rectangles", "segment": "masks", "pose": "skeletons", "obb": "rotated rectangles"}


def read_export(model: Path) -> tuple[Any, bool]:
    """The export's :class:`common.yolo.YoloExport` and whether its head is end-to-end (NMS-free)."""
    from common.yolo import YoloExport, is_end2end

    if not model.is_file():
        raise ValueError(f"{model} is not a file")
    try:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except ImportError:
        raise ValueError("onnxruntime is needed to read the export (pip install onnxruntime)") from None
    except Exception as error:  # onnxruntime raises its own untyped errors for a bad file
        raise ValueError(f"{model} is not an ONNX model onnxruntime can load: {str(error)[:200]}") from None
    metadata = session.get_modelmeta().custom_metadata_map
    if "task" not in metadata or "names" not in metadata:
        raise ValueError(
            f"{model} has no ultralytics metadata (task, names): export it with ultralytics "
            "(yolo export model=best.pt format=onnx), or use serverless/onnx/ultralytics/yolo and edit its labels"
        )
    export = YoloExport.from_metadata(metadata)
    if not export.names:
        raise ValueError(f"{model}: metadata 'names' lists no class")
    outputs = session.get_outputs()
    channels = int(outputs[1].shape[1]) if len(outputs) > 1 and len(outputs[1].shape) == 4 else 0
    if export.task == "segment" and not channels:
        raise ValueError(f"{model}: a segment export needs a second (1, 32, mh, mw) prototype output")
    shape = [d if isinstance(d, int) else 0 for d in outputs[0].shape]
    return export, is_end2end(shape, export.extra_channels(channels), export)


def labels(export: Any) -> list[dict[str, Any]]:
    """The spec: one label per class (``id`` = class index), typed by the task."""
    if export.task == "pose":
        count = export.kpt_shape[0]
        return [skeleton_label(index, name, count, export.kpt_names) for index, name in export.names.items()]
    return [{"id": index, "name": name, "type": SHAPES[export.task]} for index, name in export.names.items()]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the label spec, long RUN lines) as literal blocks, so they stay editable."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def _yaml(source: Path, parts: list[str], export: Any, end2end: bool, spec: list[dict[str, Any]]) -> str:
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    head = "end-to-end (NMS-free)" if end2end else "classic (NMS in the handler)"
    annotations = document["metadata"]["annotations"]
    annotations["name"] = f"{parts[2]} (ultralytics YOLO {export.task})"
    annotations["spec"] = "[\n" + ",\n".join(json.dumps(label) for label in spec) + "\n]\n"
    document["metadata"]["name"] = function_id(*parts)
    body = document["spec"]
    body["description"] = f"{parts[2]}: ultralytics YOLO {export.task} export, {head} head, {SHOWN[export.task]}"
    body.pop("env", None)  # model.onnx sits next to the handler (/opt/nuclio); the input size is the export's
    tag = body["build"]["image"].partition(":")[2]
    body["build"]["image"] = "cvat." + ".".join(parts).lower() + (f":{tag}" if tag else "")
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)
    return HEADER.format(task=export.task, head=head) + text


def generate_from_yolo(target: str, model: Path, root: Path) -> tuple[Path, Any, bool]:
    """Create ``root/<framework>/<org>/<model>/nuclio`` from an ultralytics ONNX export.

    Returns the folder, the export's metadata and whether its head is end-to-end.
    """
    parts, folder = target_folder(target, root)
    export, end2end = read_export(model)
    spec = labels(export)
    try:
        parse_spec(json.dumps(spec))  # CVAT's label rules, as lint and init_context apply them
    except InvalidFunctionConfig as error:
        raise ValueError(f"{model}: its labels break CVAT's rules: {error.message}") from None
    folder.mkdir(parents=True)
    for name in ("function.yaml", "function-gpu.yaml"):
        (folder / name).write_text(_yaml(BYO / name, parts, export, end2end, spec), encoding="utf-8")
    for name in ("main.py", "model_handler.py"):
        shutil.copyfile(BYO / name, folder / name)
    (folder / "cases.py").write_text(CASES_PY.format(task=export.task, shape=SHAPES[export.task]), encoding="utf-8")
    shutil.copyfile(model, folder / "model.onnx")
    return folder, export, end2end
