"""Run cases and bad inputs through an open :class:`FunctionClient`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cvat_serverless.harness.bad_inputs import BadInput
from cvat_serverless.harness.cases import Case, Result, resolve
from cvat_serverless.harness.expect import error
from cvat_serverless.harness.transports import FunctionClient


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def send(client: FunctionClient, body: Mapping[str, Any], transport: str) -> Result:
    """Resolve images in ``body``, send it as JSON and wrap the answer in a :class:`Result`."""
    resolved, images = resolve(body)
    status, raw = client.call(json.dumps(resolved).encode(), "application/json")
    return Result(status=status, payload=_decode(raw), body=resolved, images=images, transport=transport)


def run_case(client: FunctionClient, case: Case, transport: str) -> list[Result]:
    """Run every step of ``case``; each step's check runs on its result. Returns all results."""
    results: list[Result] = []
    for step in case.all_steps():
        body = step.body(results) if callable(step.body) else step.body
        result = send(client, body, transport)
        step.check(result)
        results.append(result)
    return results


def run_bad_input(client: FunctionClient, bad: BadInput, transport: str) -> Result:
    """Send one bad input and assert the 4xx JSON error it must give."""
    body = bad.body() if callable(bad.body) else bad.body
    status, raw = client.call(body, bad.content_type)
    result = Result(status=status, payload=_decode(raw), body={}, images={}, transport=transport)
    error(bad.status, mentions=bad.mentions)(result)
    return result
