"""RITM HRNet-18 (itermask) click segmentation: RITM's predictor without refinement."""

from pathlib import Path

from common.ritm_model import RitmInteractor


class ModelHandler(RitmInteractor):
    def __init__(self) -> None:
        super().__init__(Path(__file__).parent, brs_mode="NoBRS")
