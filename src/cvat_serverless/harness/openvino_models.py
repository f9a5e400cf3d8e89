"""Synthetic OpenVINO models for harness cases: the published I/O names and shapes, known outputs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np


def constant_model(path: Path, input_name: str, input_shape: list[int], outputs: Mapping[str, np.ndarray]) -> Path:
    """Save an IR whose named outputs are the given constants, whatever the input.

    The input still feeds the graph (multiplied by zero), so the real loading, preprocessing and
    decoding code of a function runs against exactly the outputs a test chose.
    """
    import openvino as ov
    import openvino.opset13 as ops

    data = ops.parameter(input_shape, np.float32, name=input_name)
    zero = ops.multiply(ops.reduce_mean(data, np.arange(len(input_shape)), keep_dims=True), np.float32(0))
    nodes = []
    for name, value in outputs.items():
        constant = np.asarray(value, dtype=np.float32)
        node = ops.add(ops.constant(constant), ops.reshape(zero, [1] * max(1, constant.ndim), False))
        node.output(0).get_tensor().set_names({name})
        nodes.append(node)
    ov.save_model(ov.Model(nodes, [data], path.stem), path)
    return path


def probed_constant_model(
    path: Path,
    input_name: str,
    input_shape: list[int],
    outputs: Mapping[str, np.ndarray],
    *,
    probe: tuple[str, tuple[int, ...], int, int, float],
) -> Path:
    """Like ``constant_model``, but one output element also reads the input.

    ``probe = (output, index, channel, channel_axis, gain)``: ``outputs[output][index]`` gets
    ``gain × mean(input channel)`` added, so a case can tell whether a function feeds the channel
    order and the value scale the real model expects (e.g. a red image detected, a blue one not).
    """
    import openvino as ov
    import openvino.opset13 as ops

    output, index, channel, channel_axis, gain = probe
    data = ops.parameter(input_shape, np.float32, name=input_name)
    picked = ops.gather(data, ops.constant(np.asarray([channel], np.int64)), ops.constant(np.int64(channel_axis)))
    level = ops.multiply(ops.reduce_mean(picked, np.arange(len(input_shape)), keep_dims=False), np.float32(gain))
    nodes = []
    for name, value in outputs.items():
        constant = np.asarray(value, dtype=np.float32)
        hot = np.zeros_like(constant)
        if name == output:
            hot[index] = 1.0
        node = ops.add(ops.constant(constant), ops.multiply(ops.constant(hot), level))
        node.output(0).get_tensor().set_names({name})
        nodes.append(node)
    ov.save_model(ov.Model(nodes, [data], path.stem), path)
    return path


def detection_output_model(path: Path, image_shape: list[int], outputs: Mapping[str, np.ndarray]) -> Path:
    """An IR like the converted TF Object Detection API models: inputs ``image_tensor`` (NHWC) and
    ``image_info`` (1×3), and the given constant outputs (e.g. DetectionOutput rows, masks)."""
    import openvino as ov
    import openvino.opset13 as ops

    image = ops.parameter(image_shape, np.float32, name="image_tensor")
    info = ops.parameter([1, 3], np.float32, name="image_info")
    zero = ops.multiply(
        ops.add(
            ops.reduce_mean(image, np.arange(4), keep_dims=False), ops.reduce_mean(info, np.arange(2), keep_dims=False)
        ),
        np.float32(0),
    )
    nodes = []
    for name, value in outputs.items():
        constant = np.asarray(value, dtype=np.float32)
        node = ops.add(ops.constant(constant), ops.reshape(zero, [1] * constant.ndim, False))
        node.output(0).get_tensor().set_names({name})
        nodes.append(node)
    ov.save_model(ov.Model(nodes, [image, info], path.stem), path)
    return path


def channel_max_model(
    path: Path, input_name: str, input_shape: list[int], output_name: str, channels: list[int], scale: float
) -> Path:
    """Save an IR answering ``clamp(scale × max over the given input channels, 0, 1)`` per pixel, 1×1×H×W.

    A stand-in for a segmentation network that reads its input: e.g. "the red pixels and the click
    heatmap are the object", so a function's channel order, crop and paste-back show in the mask.
    """
    import openvino as ov
    import openvino.opset13 as ops

    data = ops.parameter(input_shape, np.float32, name=input_name)
    picked = ops.gather(data, ops.constant(np.asarray(channels, np.int64)), ops.constant(np.int64(1)))
    peak = ops.reduce_max(picked, ops.constant(np.asarray([1], np.int64)), keep_dims=True)
    node = ops.clamp(ops.multiply(peak, ops.constant(np.float32(scale))), 0.0, 1.0)
    node.output(0).get_tensor().set_names({output_name})
    ov.save_model(ov.Model([node], [data], path.stem), path)
    return path
