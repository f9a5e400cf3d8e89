"""Segment Anything under CVAT's own id: always the embedding blob, which CVAT's SAM plugin decodes."""

from pathlib import Path
from typing import Any

from common.sam_model import SamInteractor, build_sam

__all__ = ["ModelHandler", "build_sam"]


class ModelHandler(SamInteractor):
    def __init__(self, logger: Any = None) -> None:
        super().__init__(Path(__file__).parent, answer="blob", logger=logger)
