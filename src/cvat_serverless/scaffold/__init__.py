"""``cvat-serverless new``: generate a function folder that passes lint and the harness out of the box."""

from cvat_serverless.scaffold.generate import KINDS, generate

__all__ = ["KINDS", "generate"]
