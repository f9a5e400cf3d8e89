"""Inside-Outside Guidance (shiyinzhang/Inside-Outside-Guidance, IOG_PASCAL_SBD); the library answers the
mask in CVAT 2.73's ``{"shapes": [{"type": "mask", "points": RLE + box}]}`` form; the network code is
cloned in the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from iog_geometry import network_input, paste_back

from common.devices import torch_device
from common.image import to_array
from common.interactor import InteractorRequest, InteractorRules
from common.labels import load_function_config
from common.weights import weights_path

DEFAULT_THRESHOLD = 0.8  # a probability (sigmoid of the network's logits), as CVAT's IOG function's default


class ModelHandler:
    """A box (required) plus optional inside/outside clicks → the object's mask as a CVAT mask shape."""

    def __init__(self) -> None:
        import torch
        from networks.mainnetwork import Network  # type: ignore[import-not-found]

        self.config = load_function_config(Path(__file__).parent)
        self.rules = InteractorRules.from_config(self.config)
        self.device = torch_device()
        net = Network(
            nInputChannels=5, num_classes=1, backbone="resnet101", output_stride=16, sync_bn=None, freeze_bn=False
        )
        path = weights_path("IOG_WEIGHTS", "/opt/nuclio/iog/IOG_PASCAL_SBD.pth")
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.net = net.to(self.device).eval()

    def infer(self, request: InteractorRequest) -> np.ndarray:
        import torch

        image = to_array(request.image)
        tensor, crop = network_input(image, request.obj_bbox, request.pos_points, request.neg_points)
        with torch.no_grad():
            logits = self.net(torch.from_numpy(tensor).to(self.device))[4][0, 0].cpu().numpy()
        threshold = request.threshold if request.threshold is not None else DEFAULT_THRESHOLD
        return paste_back(logits, crop, image.shape[0], image.shape[1], threshold)
