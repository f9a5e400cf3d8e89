"""Shared pytest configuration."""

from __future__ import annotations

import os

import pytest

# Keep torch/OpenCV from oversubscribing the 2-core CI machine when several processes run.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server on loopback (skipped with the reason when the Debian package is missing)."""
    from cvat_serverless.harness.redis_server import RedisServer, redis_server_binary

    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed; run scripts/bootstrap.sh --with-system")
    server = RedisServer().start()
    yield server
    server.close()
