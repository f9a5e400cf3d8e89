"""Keypoint R-CNN R50-FPN (person skeleton): the shared torchvision handler with this architecture."""

from pathlib import Path

from common.torchvision_detection import TorchvisionDetector


class ModelHandler(TorchvisionDetector):
    architecture = "keypointrcnn_resnet50_fpn"
    num_classes = 2
    weights_file = "keypointrcnn_resnet50_fpn_coco-fc266e95.pth"
    default_threshold = 0.55

    def __init__(self) -> None:
        super().__init__(Path(__file__).parent)
