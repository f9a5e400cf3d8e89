"""The shared harness: every function folder's cases and the bad-input matrix, through every transport.

Select with environment variables when iterating locally:
``CVAT_HARNESS_TRANSPORTS=inprocess`` and ``CVAT_HARNESS_FUNCTIONS=mtcnn,grabcut`` (substrings).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from common.labels import load_function_config
from cvat_serverless.harness.bad_inputs import BadInput, bad_inputs, extra_fields_body
from cvat_serverless.harness.cases import Case
from cvat_serverless.harness.discovery import function_dirs, function_id, load_cases
from cvat_serverless.harness.lambda_transport import NotExpressible
from cvat_serverless.harness.runner import run_bad_input, run_case, send
from cvat_serverless.harness.transports import GATEWAY_TRANSPORTS, TRANSPORTS, FunctionClient
from cvat_serverless.runtime import read_function_spec


@dataclass(frozen=True)
class Item:
    function_dir: Path
    transport: str
    what: Case | BadInput | str
    skip: str | None = None


def _selected(env: str, values: list[str]) -> list[str]:
    wanted = [v for v in os.environ.get(env, "").split(",") if v]
    return [v for v in values if not wanted or any(w in v for w in wanted)]


def _items() -> Iterator[Any]:
    transports = _selected("CVAT_HARNESS_TRANSPORTS", list(TRANSPORTS))
    dirs = [d for d in function_dirs() if function_id(d) in _selected("CVAT_HARNESS_FUNCTIONS", [function_id(d)])]
    for function_dir in dirs:
        module = load_cases(function_dir)
        name = function_id(function_dir)
        if module is None:
            yield pytest.param(Item(function_dir, "-", "missing"), id=f"{name}-no-cases")
            continue
        skip = getattr(module, "SKIP_REASON", None)
        config = load_function_config(function_dir)
        base = getattr(module, "GOOD_BODY", None)
        for transport in transports:
            for case in module.CASES:
                if case.transports is None or transport in case.transports:
                    why = skip or getattr(TRANSPORTS[transport], "unavailable", lambda: None)()
                    yield pytest.param(Item(function_dir, transport, case, why), id=f"{name}-{transport}-{case.name}")
            if transport in GATEWAY_TRANSPORTS:
                continue
            prefix = f"{name}-{transport}"
            limit = read_function_spec(function_dir).max_request_body_size
            for bad in bad_inputs(config, base, limit):
                if bad.transports is None or transport in bad.transports:
                    yield pytest.param(Item(function_dir, transport, bad, skip), id=f"{prefix}-bad-{bad.name}")
            for check in ("extra-fields", "good-after-bad"):
                yield pytest.param(Item(function_dir, transport, check, skip), id=f"{prefix}-{check}")


class _Clients:
    """At most one open client per transport: items are ordered function by function."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._open: dict[str, tuple[Path, FunctionClient]] = {}
        self._envs: dict[Path, dict[str, str]] = {}

    def get(self, function_dir: Path, transport: str) -> FunctionClient:
        current = self._open.get(transport)
        if current is not None and current[0] == function_dir:
            return current[1]
        if current is not None:
            current[1].close()
            del self._open[transport]
        client = TRANSPORTS[transport].open(function_dir, self._env(function_dir))
        self._open[transport] = (function_dir, client)
        return client

    def _env(self, function_dir: Path) -> dict[str, str]:
        if function_dir not in self._envs:
            module = load_cases(function_dir)
            prepare = getattr(module, "environment", None)
            workdir = self._workdir / function_id(function_dir).replace("/", "_")
            workdir.mkdir(parents=True, exist_ok=True)
            self._envs[function_dir] = dict(prepare(workdir)) if prepare else {}
        return self._envs[function_dir]

    def close(self) -> None:
        for _, client in self._open.values():
            client.close()
        self._open.clear()


@pytest.fixture(scope="session")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Clients]:
    pool = _Clients(tmp_path_factory.mktemp("function-env"))
    yield pool
    pool.close()


@pytest.mark.parametrize("item", list(_items()))
def test_function(item: Item, clients: _Clients) -> None:
    if item.what == "missing":
        pytest.fail(f"{item.function_dir} has no cases.py: every function declares harness cases")
    if item.skip:
        pytest.skip(item.skip)
    client = clients.get(item.function_dir, item.transport)
    module = load_cases(item.function_dir)
    config = load_function_config(item.function_dir)
    base = getattr(module, "GOOD_BODY", None)
    if isinstance(item.what, Case):
        try:
            run_case(client, item.what, item.transport)
        except NotExpressible as reason:
            pytest.skip(f"not expressible through CVAT's API: {reason}")
    elif isinstance(item.what, BadInput):
        run_bad_input(client, item.what, item.transport)
    elif item.what == "extra-fields":
        status, raw = client.call(extra_fields_body(config.kind, base, config))
        assert status == 200, f"unknown fields must be ignored, got {status}: {raw[:300]!r}"
    else:
        first = next(iter(module.CASES))
        first_body = first.all_steps()[0].body
        result = send(client, first_body if isinstance(first_body, dict) else {}, item.transport)
        assert result.status == 200, f"a good request after the bad-input matrix failed: {result.payload!r:.300}"
