"""One harness for every function: cases as data, run in-process, over HTTP and via CVAT's API.

Function folders declare cases in ``cases.py`` with :class:`Case`, image sources and the
checks in :mod:`cvat_serverless.harness.expect`; ``tests/test_functions.py`` runs them all.
"""

from cvat_serverless.harness import expect
from cvat_serverless.harness.cases import (
    Case,
    ImageSource,
    Result,
    Step,
    file_image,
    generated_image,
    sample_image,
)

__all__ = ["Case", "ImageSource", "Result", "Step", "expect", "file_image", "generated_image", "sample_image"]
