"""TransT (dschoerk/TransT v1.0, the pysot_toolkit tracker) with a signed inline state instead of jsonpickle.

The code is not on PyPI: the image clones it and puts it on ``PYTHONPATH``; transt_compat.py makes
it import on the locked stack and loads the network once, in ``init_context``, without downloads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transt_compat import install_shims, load_network
from transt_state import decode, encode, tracker_constants

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

        install_shims()  # before any TransT import: util.misc fails to import on torchvision >= 0.10 without them
        from pysot_toolkit.trackers.net_wrappers import NetWithBackbone  # type: ignore[import-not-found]
        from pysot_toolkit.trackers.tracker import Tracker  # type: ignore[import-not-found]
        from util.misc import NestedTensor  # type: ignore[import-not-found]

        self.config = load_function_config(Path(__file__).parent)
        self.codec = StateCodec.from_env(self.config.name)
        self.device = torch_device()
        weights = weights_path(WEIGHTS_ENV, "/opt/nuclio/transt.pth")
        # The wrapper would load the network lazily through ltr's unpickling loader; it gets ours now.
        wrapper = NetWithBackbone(net_path=str(weights), use_gpu=self.device.type == "cuda")
        wrapper.net = load_network(weights, self.device)
        self.network = wrapper.net
        self.tracker = Tracker(name="transt", net=wrapper, window_penalty=0.49, exemplar_size=128, instance_size=256)
        self.tracker.features_initialized = True
        tracker_constants(self.tracker)
        self.nested = NestedTensor
        self.no_grad = torch.no_grad
        self._to_tensor = lambda array: torch.from_numpy(array).to(self.device)

    def infer(self, request: TrackerRequest) -> tuple[list[Any], list[Any]]:
        # RGB, as TransT's own pysot_toolkit/test.py feeds it (cvtColor BGR2RGB; ImageNet mean/std in RGB order)
        image = to_array(request.image)
        height, width = image.shape[:2]
        position = self.network.backbone[1]
        shapes, states = [], []
        with self.no_grad():
            for shape, token in zip(request.shapes, request.states, strict=True):
                if token is None:
                    (cx, cy), (w, h) = box_center_size(shape.points)
                    self.tracker.initialize(image, {"init_bbox": [cx - w / 2, cy - h / 2, w, h]})
                    shapes.append(list(shape.points[:4]))
                else:
                    data, arrays = self.codec.decode(token)
                    decode(data, arrays, self.network, self.tracker, self._to_tensor, self.nested, position)
                    left, top, w, h = self.tracker.track(image)["target_bbox"]
                    shapes.append(bounding_box([left, top, left + w, top + h], width, height))
                states.append(self.codec.encode(*encode(self.network, self.tracker)))
        return shapes, states
