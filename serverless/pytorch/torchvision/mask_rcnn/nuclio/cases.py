"""Harness cases on random weights of the real architecture (contract checks, not accuracy)."""

from cvat_serverless.harness.torchvision_weights import contract_cases

environment, CASES = contract_cases("maskrcnn_resnet50_fpn_v2", 91, "mask")
