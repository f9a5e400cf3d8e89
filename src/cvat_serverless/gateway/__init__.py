"""CVAT's lambda API and a small task API over any Nuclio dashboard (see docs/local-stack.md)."""

from cvat_serverless.gateway.app import GatewayConfig, build_gateway
from cvat_serverless.gateway.nuclio import NuclioClient, NuclioSettings

__all__ = ["GatewayConfig", "NuclioClient", "NuclioSettings", "build_gateway"]
