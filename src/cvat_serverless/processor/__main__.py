"""``python -m cvat_serverless.processor DIR --port N`` (same as ``cvat-serverless serve``)."""

from __future__ import annotations

import sys

from cvat_serverless.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
