"""f-BRS (feature backpropagating refinement, variant B) on the RITM HRNet-18 model."""

from pathlib import Path

from common.ritm_model import RitmInteractor


class ModelHandler(RitmInteractor):
    def __init__(self) -> None:
        super().__init__(Path(__file__).parent, brs_mode="f-BRS-B")
