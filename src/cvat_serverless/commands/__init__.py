"""One module per ``cvat-serverless`` sub-command; each exposes ``register(subparsers)``."""
