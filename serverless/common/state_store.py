"""Reference tracker states: an opaque signed id whose data lives in a store (Redis, or this process).

For trackers whose state is too large to carry through the client (SAM2's memory of each object),
the function returns a small signed token and keeps the data server-side:

- Redis when ``CVAT_FUNCTIONS_REDIS_HOST`` (``_PORT``, ``_PASSWORD``) is set — the variables CVAT's
  deploy scripts pass to every function; keys ``cvat-serverless:state:<function>:<id>``, with a TTL
  (``CVAT_FN_STATE_TTL_S``, default 8 h like CVAT's signed states) refreshed on every read;
- otherwise a bounded in-process store — then the function's yaml must say ``numWorkers: 1``, or
  consecutive frames landing on another worker would not find their state.

A token is signed with the function's :class:`~common.tracker_state.StateCodec` (so a forged id is
refused before any lookup); an unknown or expired id is an ``InvalidTrackerState`` (400); an
unreachable Redis is a ``StateStoreUnavailable`` (503). Stored data is JSON plus raw array bytes
of declared dtypes — never pickle.
"""

from __future__ import annotations

import json
import os
import secrets
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from common.errors import InvalidFunctionConfig, InvalidTrackerState, PayloadTooLarge, StateStoreUnavailable
from common.tracker_state import DTYPES, SECRET_ENV, StateCodec

TTL_ENV, MAX_BYTES_ENV = "CVAT_FN_STATE_TTL_S", "CVAT_FN_STATE_MAX_BYTES"
REDIS_HOST_ENV, REDIS_PORT_ENV, REDIS_PASSWORD_ENV = (
    "CVAT_FUNCTIONS_REDIS_HOST",
    "CVAT_FUNCTIONS_REDIS_PORT",
    "CVAT_FUNCTIONS_REDIS_PASSWORD",
)
DEFAULT_TTL_S = 8 * 3600
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
KEY_PREFIX = "cvat-serverless:state"
_HEADER = struct.Struct(">I")


def pack(data: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> bytes:
    """``<u32 header length><JSON header><array bytes...>``: JSON data and arrays of declared dtypes."""
    specs, chunks = {}, []
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        if str(array.dtype) not in DTYPES:
            raise TypeError(f"array {name!r} has dtype {array.dtype}; allowed: {sorted(DTYPES)}")
        specs[name] = {"dtype": str(array.dtype), "shape": list(array.shape), "nbytes": array.nbytes}
        chunks.append(array.tobytes())
    header = json.dumps({"data": dict(data), "arrays": specs}, separators=(",", ":")).encode()
    return b"".join([_HEADER.pack(len(header)), header, *chunks])


def unpack(blob: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The inverse of :func:`pack`; malformed content is an ``InvalidTrackerState``."""
    try:
        (size,) = _HEADER.unpack_from(blob)
        header = json.loads(blob[_HEADER.size : _HEADER.size + size])
        data, specs = dict(header["data"]), dict(header["arrays"])
        offset, arrays = _HEADER.size + size, {}
        for name, spec in specs.items():
            dtype, shape, nbytes = str(spec["dtype"]), tuple(int(v) for v in spec["shape"]), int(spec["nbytes"])
            if dtype not in DTYPES or int(np.prod(shape)) * np.dtype(dtype).itemsize != nbytes:
                raise ValueError(name)
            arrays[name] = np.frombuffer(blob[offset : offset + nbytes], dtype=dtype).reshape(shape).copy()
            offset += nbytes
    except (struct.error, ValueError, KeyError, TypeError) as error:
        raise InvalidTrackerState(f"invalid tracker state: stored data is malformed ({error})") from None
    return data, arrays


class Store(Protocol):
    """Bytes by key with a time to live."""

    def put(self, key: str, blob: bytes, ttl_s: float) -> None: ...

    def get(self, key: str, ttl_s: float) -> bytes | None: ...

    def delete(self, key: str) -> None: ...


class InProcessStore:
    """A bounded LRU dict with expiry (one worker only: other processes cannot see it)."""

    def __init__(self, max_entries: int = 1024, max_bytes: int = 1024 * 1024 * 1024) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, key: str, blob: bytes, ttl_s: float) -> None:
        with self._lock:
            self._drop(key)
            self._items[key] = (time.monotonic() + ttl_s, blob)
            self._bytes += len(blob)
            while self._items and (len(self._items) > self.max_entries or self._bytes > self.max_bytes):
                self._drop(next(iter(self._items)))

    def get(self, key: str, ttl_s: float) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                self._drop(key)
                return None
            self._items[key] = (time.monotonic() + ttl_s, item[1])
            self._items.move_to_end(key)
            return item[1]

    def delete(self, key: str) -> None:
        with self._lock:
            self._drop(key)

    def _drop(self, key: str) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self._bytes -= len(item[1])


class RedisStore:
    """Redis ``SET ... EX`` / ``GETEX ... EX``; connection problems become ``StateStoreUnavailable``."""

    def __init__(self, host: str, port: int = 6379, password: str | None = None) -> None:
        import redis

        self._errors = (redis.RedisError, OSError)
        self._client = redis.Redis(host=host, port=port, password=password or None, socket_timeout=10)
        self.where = f"{host}:{port}"

    def _unavailable(self, error: Exception) -> StateStoreUnavailable:
        return StateStoreUnavailable(f"tracker state store (Redis at {self.where}) is unavailable: {error}")

    def _call(self, what: str, *args: Any) -> Any:
        try:
            return getattr(self._client, what)(*args)
        except self._errors as error:
            raise self._unavailable(error) from None

    def put(self, key: str, blob: bytes, ttl_s: float) -> None:
        self._call("set", key, blob, max(1, int(ttl_s)))

    def get(self, key: str, ttl_s: float) -> bytes | None:
        # GET + EXPIRE in one transaction rather than GETEX, which older Redis-compatible stores lack.
        pipeline = self._client.pipeline(transaction=True)
        pipeline.get(key)
        pipeline.expire(key, max(1, int(ttl_s)))
        try:
            blob, _ = pipeline.execute()
        except self._errors as error:
            raise self._unavailable(error) from None
        return blob

    def delete(self, key: str) -> None:
        self._call("delete", key)


class ReferenceStates:
    """Save and load one function's states by signed reference."""

    def __init__(
        self, codec: StateCodec, store: Store, ttl_s: float = DEFAULT_TTL_S, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.codec, self.store, self.ttl_s, self.max_bytes = codec, store, ttl_s, max_bytes

    def _key(self, state_id: str) -> str:
        return f"{KEY_PREFIX}:{self.codec.function}:{state_id}"

    def _id(self, token: Any) -> str:
        data, _ = self.codec.decode(token)
        state_id = data.get("ref")
        if not isinstance(state_id, str) or not state_id:
            raise InvalidTrackerState("invalid tracker state: not a reference state")
        return state_id

    def save(
        self, data: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None, token: str | None = None
    ) -> str:
        """Store a state; returns a fresh token (for the same id when ``token`` is given)."""
        blob = pack(data, arrays or {})
        if len(blob) > self.max_bytes:
            raise PayloadTooLarge(f"tracker state of {len(blob)} bytes is over the {self.max_bytes}-byte limit")
        state_id = self._id(token) if token is not None else secrets.token_urlsafe(18)
        self.store.put(self._key(state_id), blob, self.ttl_s)
        return self.codec.encode({"ref": state_id})

    def load(self, token: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The state behind a token; forged, unknown or expired → ``InvalidTrackerState``."""
        blob = self.store.get(self._key(self._id(token)), self.ttl_s)
        if blob is None:
            raise InvalidTrackerState("invalid tracker state: unknown or expired (start tracking again)")
        return unpack(blob)

    def delete(self, token: Any) -> None:
        self.store.delete(self._key(self._id(token)))


def states_from_env(function: str, environ: Mapping[str, str] | None = None) -> ReferenceStates:
    """Redis when ``CVAT_FUNCTIONS_REDIS_HOST`` is set (then ``CVAT_FN_STATE_SECRET`` too), else in-process."""
    env = os.environ if environ is None else environ
    host = env.get(REDIS_HOST_ENV)
    store: Store = InProcessStore()
    if host:
        if not env.get(SECRET_ENV):
            # Each worker would sign with its own random secret and reject the others' references.
            raise InvalidFunctionConfig(f"{REDIS_HOST_ENV} is set but {SECRET_ENV} is not: set one shared secret")
        store = RedisStore(host, int(env.get(REDIS_PORT_ENV) or 6379), env.get(REDIS_PASSWORD_ENV))
    ttl_s = float(env.get(TTL_ENV) or DEFAULT_TTL_S)
    signing = StateCodec.from_env(function, env)
    codec = StateCodec(function=signing.function, secret=signing.secret, max_age_s=ttl_s)
    return ReferenceStates(codec, store, ttl_s=ttl_s, max_bytes=int(env.get(MAX_BYTES_ENV) or DEFAULT_MAX_BYTES))
