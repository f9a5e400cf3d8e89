"""Reference tracker states in Redis (a real redis-server) and in-process: signing, TTL, namespaces, restarts."""

from __future__ import annotations

import time

import numpy as np
import pytest

from common.errors import InvalidTrackerState, PayloadTooLarge, StateStoreUnavailable
from common.state_store import InProcessStore, RedisStore, ReferenceStates, pack, states_from_env, unpack
from common.tracker_state import StateCodec
from cvat_serverless.harness.redis_server import RedisServer

SECRET = {"CVAT_FN_STATE_SECRET": "s3cret"}


def redis_env(server: RedisServer, **extra: str) -> dict[str, str]:
    return {"CVAT_FUNCTIONS_REDIS_HOST": "127.0.0.1", "CVAT_FUNCTIONS_REDIS_PORT": str(server.port), **SECRET, **extra}


def test_pack_round_trip_keeps_dtypes_and_shapes() -> None:
    arrays = {
        "mask": np.arange(12, dtype=np.uint8).reshape(3, 4),
        "features": np.linspace(0, 1, 24, dtype=np.float32).reshape(2, 3, 4),
        "ids": np.array([1, -2], dtype=np.int64),
    }
    data, back = unpack(pack({"frame": 3, "label": "car"}, arrays))
    assert data == {"frame": 3, "label": "car"}
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype and np.array_equal(back[name], array)
    with pytest.raises(TypeError):
        pack({}, {"objects": np.array([object()])})
    with pytest.raises(InvalidTrackerState, match="malformed"):
        unpack(b"\x00\x00\x00\x05{bad}")


def test_redis_round_trip_and_shared_between_workers(redis_server: RedisServer) -> None:
    first, second = states_from_env("fn-a", redis_env(redis_server)), states_from_env("fn-a", redis_env(redis_server))
    assert isinstance(first.store, RedisStore)
    token = first.save({"frame": 1}, {"memory": np.ones((2, 2), np.float32)})
    data, arrays = second.load(token)  # another worker process sees it
    assert data == {"frame": 1} and arrays["memory"].sum() == 4
    updated = second.save({"frame": 2}, {"memory": np.zeros((2, 2), np.float32)}, token=token)
    assert first.load(updated)[0] == {"frame": 2} and first.load(token)[0] == {"frame": 2}
    keys = [key.decode() for key in redis_server.client().keys("cvat-serverless:state:fn-a:*")]
    assert len(keys) == 1


def test_tampered_foreign_unknown_and_expired(redis_server: RedisServer) -> None:
    states = states_from_env("fn-a", redis_env(redis_server))
    token = states.save({"frame": 1})
    with pytest.raises(InvalidTrackerState, match="signature"):
        states.load(token[:-2] + ("00" if not token.endswith("00") else "11"))
    other = states_from_env("fn-b", redis_env(redis_server))
    with pytest.raises(InvalidTrackerState):
        other.load(token)  # one function cannot read another's states
    states.delete(token)
    with pytest.raises(InvalidTrackerState, match="unknown or expired"):
        states.load(token)
    short = states_from_env("fn-a", redis_env(redis_server, CVAT_FN_STATE_TTL_S="1"))
    expiring = short.save({"frame": 1})
    time.sleep(2.2)
    with pytest.raises(InvalidTrackerState):
        short.load(expiring)


def test_state_survives_a_redis_restart(redis_server: RedisServer) -> None:
    states = states_from_env("fn-restart", redis_env(redis_server))
    token = states.save({"frame": 7}, {"box": np.array([1.0, 2.0, 3.0, 4.0])})
    redis_server.restart()
    data, arrays = states.load(token)  # the client reconnects; the AOF kept the key
    assert data == {"frame": 7} and arrays["box"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_unreachable_redis_is_a_503() -> None:
    from cvat_serverless.harness.redis_server import free_port

    states = states_from_env(
        "fn", {"CVAT_FUNCTIONS_REDIS_HOST": "127.0.0.1", "CVAT_FUNCTIONS_REDIS_PORT": str(free_port()), **SECRET}
    )
    with pytest.raises(StateStoreUnavailable) as raised:
        states.save({"frame": 1})
    assert raised.value.status_code == 503


def test_in_process_store_ttl_lru_and_size_limit() -> None:
    store = InProcessStore(max_entries=2)
    states = ReferenceStates(StateCodec("fn", b"k"), store, ttl_s=0.2, max_bytes=1000)
    tokens = [states.save({"i": i}) for i in range(3)]
    with pytest.raises(InvalidTrackerState):
        states.load(tokens[0])  # evicted: least recently used
    assert states.load(tokens[2])[0] == {"i": 2}
    time.sleep(0.3)
    with pytest.raises(InvalidTrackerState, match="unknown or expired"):
        states.load(tokens[2])
    with pytest.raises(PayloadTooLarge):
        states.save({}, {"big": np.zeros(2000, np.uint8)})
    assert isinstance(states_from_env("fn", SECRET).store, InProcessStore)


def test_redis_without_a_shared_secret_is_refused(redis_server: RedisServer) -> None:
    from common.errors import InvalidFunctionConfig

    env = {"CVAT_FUNCTIONS_REDIS_HOST": "127.0.0.1", "CVAT_FUNCTIONS_REDIS_PORT": str(redis_server.port)}
    with pytest.raises(InvalidFunctionConfig, match="CVAT_FN_STATE_SECRET"):
        states_from_env("fn", env)
