"""What of a SiamMask tracking state travels to the client, and how the rest is rebuilt.

SiamMask's ``siamese_init`` returns a dict holding the network itself, a ``TrackerConfig`` and
numpy arrays; upstream shipped it with jsonpickle, which the server then had to trust. Here the
per-object part — the template features ``zf``, the target position and size, the average
colour and the image size — goes into a signed inline state (JSON + float32 arrays); the
config, anchors and window are the same for every object and are rebuilt from the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from common.errors import InvalidTrackerState


def to_inline(state: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The per-object part of a SiamMask state as ``(data, arrays)`` for a StateCodec."""
    zf = state["net"].zf
    arrays = {
        "zf": np.ascontiguousarray(zf.detach().float().cpu().numpy(), dtype=np.float32),
        "target_pos": np.asarray(state["target_pos"], dtype=np.float64),
        "target_sz": np.asarray(state["target_sz"], dtype=np.float64),
        "avg_chans": np.asarray(state["avg_chans"], dtype=np.float64),
    }
    return {"im_h": int(state["im_h"]), "im_w": int(state["im_w"])}, arrays


def from_inline(data: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Validate a decoded inline state; returns the per-object values (``zf`` still a numpy array)."""
    try:
        values = {
            "im_h": int(data["im_h"]),
            "im_w": int(data["im_w"]),
            "zf": arrays["zf"],
            "target_pos": arrays["target_pos"].reshape(2),
            "target_sz": arrays["target_sz"].reshape(2),
            "avg_chans": arrays["avg_chans"].reshape(3),
        }
    except (KeyError, TypeError, ValueError):
        raise InvalidTrackerState("invalid tracker state: not a SiamMask state") from None
    if values["zf"].ndim != 4 or (values["target_sz"] <= 0).any():
        raise InvalidTrackerState("invalid tracker state: SiamMask template or target size is malformed")
    return values


def tracker_window(score_size: int, anchor_num: int, windowing: str = "cosine") -> np.ndarray:
    """The displacement penalty window SiamMask uses: a Hann window (or uniform) per anchor."""
    if windowing == "cosine":
        window = np.outer(np.hanning(score_size), np.hanning(score_size))
    else:
        window = np.ones((score_size, score_size))
    return np.tile(window.flatten(), anchor_num)
