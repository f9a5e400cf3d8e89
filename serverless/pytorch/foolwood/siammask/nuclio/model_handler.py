"""SiamMask (foolwood/SiamMask, SiamMask_DAVIS weights) with a signed inline state instead of jsonpickle.

The network code is not on PyPI: the image clones it at a pinned commit into ``SIAMMASK_HOME``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from siammask_state import from_inline, to_inline, tracker_window

from common.devices import torch_device
from common.image import to_array
from common.labels import load_function_config
from common.tracker import TrackerRequest, bounding_box, box_center_size
from common.tracker_state import StateCodec
from common.weights import weights_path

HOME_ENV, WEIGHTS_ENV = "SIAMMASK_HOME", "SIAMMASK_WEIGHTS"
DEFAULT_HOME = "/opt/nuclio/SiamMask"


def import_siammask(home: str | None = None) -> Any:
    """Put the cloned repository on ``sys.path`` and import what tracking needs (ImportError if absent)."""
    root = Path(home or os.environ.get(HOME_ENV, DEFAULT_HOME))
    for path in (root, root / "experiments" / "siammask_sharp"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    import custom  # noqa: F401 - the SiamMask-sharp network
    from tools import test  # noqa: F401 - siamese_init / siamese_track

    return root


class ModelHandler:
    """Starts rectangles with ``siamese_init``; continues with ``siamese_track`` (mask + refine)."""

    def __init__(self) -> None:
        import torch

        root = import_siammask()
        from custom import Custom  # type: ignore[import-not-found]

        self.config = load_function_config(Path(__file__).parent)
        self.codec = StateCodec.from_env(self.config.name)
        self.settings = json.loads((root / "experiments/siammask_sharp/config_davis.json").read_text())
        self.device = torch_device()
        model = Custom(anchors=self.settings["anchors"])
        weights = torch.load(
            weights_path(WEIGHTS_ENV, root / "SiamMask_DAVIS.pth"), map_location="cpu", weights_only=True
        )
        weights = weights.get("state_dict", weights)
        # Like upstream's load_pretrain: keys the network lacks are ignored, but every parameter must be loaded.
        result = model.load_state_dict({k.removeprefix("module."): v for k, v in weights.items()}, strict=False)
        if missing := result.missing_keys:
            raise RuntimeError(f"SiamMask weights lack {len(missing)} tensors, e.g. {missing[0]}")
        self.model = model.eval().to(self.device)

    def _tracker_state(self, values: dict[str, Any]) -> dict[str, Any]:
        """Rebuild the shared parts of a SiamMask state around one object's values."""
        import torch
        from tools.test import TrackerConfig, generate_anchor  # type: ignore[import-not-found]

        config = TrackerConfig()
        config.update(self.settings["hp"], self.model.anchors)
        config.renew()
        config.scales, config.ratios = self.model.anchors["scales"], self.model.anchors["ratios"]
        config.anchor_num = self.model.anchor_num
        config.anchor = generate_anchor(self.model.anchors, config.score_size)
        self.model.zf = torch.from_numpy(values["zf"]).to(self.device)
        return {
            "im_h": values["im_h"],
            "im_w": values["im_w"],
            "p": config,
            "net": self.model,
            "avg_chans": values["avg_chans"],
            "window": tracker_window(config.score_size, config.anchor_num, config.windowing),
            "target_pos": values["target_pos"],
            "target_sz": values["target_sz"],
        }

    def infer(self, request: TrackerRequest) -> tuple[list[Any], list[Any]]:
        import torch
        from tools.test import siamese_init, siamese_track  # type: ignore[import-not-found]

        image = to_array(request.image)[:, :, ::-1].copy()  # SiamMask works on BGR frames
        height, width = image.shape[:2]
        shapes, states = [], []
        with torch.no_grad():
            for shape, token in zip(request.shapes, request.states, strict=True):
                if token is None:
                    center, size = box_center_size(shape.points)
                    state = siamese_init(
                        image, np.array(center), np.array(size), self.model, self.settings["hp"], device=self.device
                    )
                    shapes.append(list(shape.points[:4]))
                else:
                    state = self._tracker_state(from_inline(*self.codec.decode(token)))
                    state = siamese_track(state, image, mask_enable=True, refine_enable=True, device=self.device)
                    shapes.append(bounding_box(np.asarray(state["ploygon"]).flatten().tolist(), width, height))
                states.append(self.codec.encode(*to_inline(state)))
        return shapes, states
