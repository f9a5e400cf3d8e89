"""The function library every CVAT serverless function uses.

It is copied into each function image next to ``main.py`` (as ``/opt/nuclio/common``), so it
depends only on what the images install: numpy, Pillow, PyYAML, OpenCV and nuclio-sdk.

- :mod:`common.detector`, :mod:`common.interactor`, :mod:`common.tracker`, :mod:`common.reid`:
  one contract per kind (parse, validate, answer).
- :mod:`common.image`, :mod:`common.masks`: codecs; :mod:`common.labels`: the yaml label spec;
  :mod:`common.shapes`: output factories; :mod:`common.errors`: errors and their statuses.
"""

from common.errors import BadModelOutput, BadRequest, FunctionError, InvalidTrackerState, PayloadTooLarge

__all__ = ["BadModelOutput", "BadRequest", "FunctionError", "InvalidTrackerState", "PayloadTooLarge"]
