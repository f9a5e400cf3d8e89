"""Docker-free local stack for CVAT serverless functions: processor, dashboard, lambda gateway, CLI."""

__version__ = "0.1.0"
