"""RetinaNet R50-FPN v2: the shared torchvision handler with this architecture."""

from pathlib import Path

from common.torchvision_detection import TorchvisionDetector


class ModelHandler(TorchvisionDetector):
    architecture = "retinanet_resnet50_fpn_v2"
    num_classes = 91
    weights_file = "retinanet_resnet50_fpn_v2_coco-5905b1c5.pth"
    default_threshold = 0.5

    def __init__(self) -> None:
        super().__init__(Path(__file__).parent)
