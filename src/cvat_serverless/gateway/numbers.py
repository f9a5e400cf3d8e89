"""The gateway's one integer parser: path ids, query parameters, headers and body fields all go through it.

Only ASCII digits count (``str.isdigit`` also accepts ``²`` and other Unicode digits, which ``int`` then
refuses) and every value must fit SQLite's signed 64-bit INTEGER, so nothing past this point can raise
``ValueError`` or ``OverflowError``. Answers follow DRF's ``IntegerField`` messages, as CVAT's do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cvat_serverless.gateway.errors import BadRequest, NotFound, ValidationFailed

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
_DIGITS = re.compile(r"-?[0-9]{1,19}", re.ASCII)
INVALID = "A valid integer is required."


def to_int(
    value: Any, *, strings: bool = True, floats: bool = True, minimum: int = INT64_MIN, maximum: int = INT64_MAX
) -> int | None:
    """``value`` as an int within ``[minimum, maximum]`` (and int64), or None.

    Accepts ints (never bools), integral floats (``floats``) and ASCII-digit strings (``strings``)."""
    number: int
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif floats and isinstance(value, float) and value.is_integer() and abs(value) < 2.0**63:
        number = int(value)
    elif strings and isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        return None
    return number if max(minimum, INT64_MIN) <= number <= min(maximum, INT64_MAX) else None


def id_or_404(value: Any, what: str = "object") -> int:
    """An object id (path or body); anything that cannot be one names an object that does not exist."""
    number = to_int(value, minimum=0)
    if number is None:
        raise NotFound(f"{what} {value!r} not found")
    return number


def field_int(value: Any, key: str, *, minimum: int | None = 0, maximum: int = INT64_MAX, strings: bool = True) -> int:
    """A body or query field as DRF's ``IntegerField`` reads it: a 400 ``{key: [message]}`` otherwise."""
    number = to_int(value, strings=strings, maximum=INT64_MAX)
    if number is None:
        raise ValidationFailed({key: [INVALID]})
    if minimum is not None and number < minimum:
        raise ValidationFailed({key: [f"Ensure this value is greater than or equal to {minimum}."]})
    if number > maximum:
        raise ValidationFailed({key: [f"Ensure this value is less than or equal to {maximum}."]})
    return number


def query_int(query: Mapping[str, str], key: str) -> int:
    return field_int(query[key], key)


def header_int(value: str, name: str) -> int:
    """A non-negative integer header (TUS's Upload-Length / Upload-Offset): a 400 when it is not one."""
    number = to_int(value, floats=False, minimum=0)
    if number is None:
        raise BadRequest(f"{name} must be a non-negative integer")
    return number
