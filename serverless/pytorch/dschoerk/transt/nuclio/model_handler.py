"""TransT (dschoerk/TransT v1.0, the pysot_toolkit tracker) with a signed inline state instead of jsonpickle.

The code is not on PyPI: the image clones it and puts it on ``PYTHONPATH``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transt_state import decode, encode

from common.devices import torch_device
from common.image import to_array
from common.labels import load_function_config
from common.tracker import TrackerRequest, bounding_box, box_center_size
from common.tracker_state import StateCodec
from common.weights import weights_path

WEIGHTS_ENV = "TRANST_WEIGHTS"


class ModelHandler:
    """One shared network and tracker; each object's state is put back on them before it is tracked."""

    def __init__(self) -> None:
        import torch
        from pysot_toolkit.trackers.net_wrappers import NetWithBackbone  # type: ignore[import-not-found]
        from pysot_toolkit.trackers.tracker import Tracker  # type: ignore[import-not-found]
        from util.misc import NestedTensor  # type: ignore[import-not-found]

        self.config = load_function_config(Path(__file__).parent)
        self.codec = StateCodec.from_env(self.config.name)
        self.device = torch_device()
        weights = weights_path(WEIGHTS_ENV, "/opt/nuclio/transt.pth")
        net = NetWithBackbone(net_path=str(weights), use_gpu=self.device.type == "cuda")
        self.tracker = Tracker(name="transt", net=net, window_penalty=0.49, exemplar_size=128, instance_size=256)
        self.nested = NestedTensor
        self._to_tensor = lambda array: torch.from_numpy(array).to(self.device)

    def infer(self, request: TrackerRequest) -> tuple[list[Any], list[Any]]:
        image = to_array(request.image)[:, :, ::-1].copy()  # TransT's toolkit works on BGR frames
        height, width = image.shape[:2]
        network = self.tracker.net.net
        shapes, states = [], []
        for shape, token in zip(request.shapes, request.states, strict=True):
            if token is None:
                (cx, cy), (w, h) = box_center_size(shape.points)
                self.tracker.initialize(image, {"init_bbox": [cx - w / 2, cy - h / 2, w, h]})
                shapes.append(list(shape.points[:4]))
            else:
                data, arrays = self.codec.decode(token)
                decode(data, arrays, network, self.tracker, self._to_tensor, self.nested)
                left, top, w, h = self.tracker.track(image)["target_bbox"]
                shapes.append(bounding_box([left, top, left + w, top + h], width, height))
            states.append(self.codec.encode(*encode(network, self.tracker)))
        return shapes, states
