"""A Nuclio-dashboard-compatible API over local processors (what CVAT's lambda manager talks to)."""

from cvat_serverless.dashboard.app import build_dashboard
from cvat_serverless.dashboard.registry import FunctionRegistry, ManagedFunction, discover_functions

__all__ = ["FunctionRegistry", "ManagedFunction", "build_dashboard", "discover_functions"]
