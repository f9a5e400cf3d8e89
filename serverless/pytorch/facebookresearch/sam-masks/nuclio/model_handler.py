"""Segment Anything with masks decoded on the server, under its own id (CVAT's SAM plugin keeps the other)."""

from pathlib import Path
from typing import Any

from common.sam_model import SamInteractor


class ModelHandler(SamInteractor):
    def __init__(self, logger: Any = None) -> None:
        super().__init__(Path(__file__).parent, answer="masks", logger=logger)
