"""``POST /api/lambda/requests`` bodies checked as CVAT 2.73's ``FunctionCallRequestSerializer`` checks them.

DRF validates every field and answers all the failures at once as ``{field: [message]}`` (a list
field's items as ``{field: {index: [message]}}``), with its own texts; CVAT's view only runs after
that. Integers go through the gateway's one parser (:mod:`cvat_serverless.gateway.numbers`), so an id
past SQLite's int64 is refused like any other invalid integer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from cvat_serverless.gateway.errors import ValidationFailed
from cvat_serverless.gateway.numbers import INVALID, to_int

REQUIRED = "This field is required."
NOT_NULL = "This field may not be null."
TRUE = frozenset({"t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1"})
FALSE = frozenset({"f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0"})
ROI_LENGTH = 4


class _Invalid(Exception):
    def __init__(self, detail: Any) -> None:
        self.detail = detail


def _char(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _Invalid(["Not a valid string."])
    text = str(value).strip()
    if not text:
        raise _Invalid(["This field may not be blank."])
    return text


def _integer(value: Any) -> int:
    number = to_int(value)
    if number is None:
        raise _Invalid([INVALID])
    return number


def _float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise _Invalid(["A valid number is required."]) from None
    if not math.isfinite(number) or isinstance(value, bool):  # "nan" and true are no thresholds
        raise _Invalid(["A valid number is required."])
    return number


def _boolean(value: Any) -> bool:
    if value is True or value is False:
        return value
    if value in (1, 0) and isinstance(value, int):
        return bool(value)
    if isinstance(value, str) and value in TRUE | FALSE:
        return value in TRUE
    raise _Invalid(["Must be a valid boolean."])


def _roi(value: Any) -> list[int]:
    if isinstance(value, (str, Mapping)) or not isinstance(value, list):
        raise _Invalid([f'Expected a list of items but got type "{type(value).__name__}".'])
    items: list[int] = []
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(value):  # DRF checks the items before the length
        if item is None:
            errors[str(index)] = [NOT_NULL]
            continue
        try:
            items.append(_integer(item))
        except _Invalid as error:
            errors[str(index)] = error.detail
    if errors:
        raise _Invalid(errors)
    if len(items) < ROI_LENGTH:
        raise _Invalid([f"Ensure this field has at least {ROI_LENGTH} elements."])
    if len(items) > ROI_LENGTH:
        raise _Invalid([f"Ensure this field has no more than {ROI_LENGTH} elements."])
    return items


FIELDS: dict[str, tuple[Callable[[Any], Any], bool]] = {
    "function": (_char, True),
    "task": (_integer, True),
    "job": (_integer, False),
    "max_distance": (_integer, False),
    "threshold": (_float, False),
    "cleanup": (_boolean, False),
    "convMaskToPoly": (_boolean, False),
    "conv_mask_to_poly": (_boolean, False),
    "roi": (_roi, False),
}


def validate_request(data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a request body, converted; a :class:`ValidationFailed` with DRF's body otherwise.

    ``mapping`` is passed on as sent (the gateway's mapping checks give CVAT's own messages);
    ``convMaskToPoly`` (deprecated) becomes ``conv_mask_to_poly`` unless that is given too.
    """
    values: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for name, (parse, required) in FIELDS.items():
        if name not in data:
            if required:
                errors[name] = [REQUIRED]
            continue
        if data[name] is None:
            errors[name] = [NOT_NULL]
            continue
        try:
            values[name] = parse(data[name])
        except _Invalid as error:
            errors[name] = error.detail
    if errors:
        raise ValidationFailed(errors)
    deprecated = values.pop("convMaskToPoly", False)
    values["conv_mask_to_poly"] = values.get("conv_mask_to_poly", deprecated)
    values["cleanup"] = values.get("cleanup", False)
    if data.get("mapping") is not None:
        values["mapping"] = data["mapping"]
    return values
