"""An LRU cache of image embeddings keyed by image content, bounded by entries and bytes.

Interactors pay for the image encoder on the first click on a frame; every further click on the
same frame reuses the cached embedding. Hits and misses are counted and logged.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

T = TypeVar("T")


def image_key(pixels: np.ndarray) -> str:
    """A content key for an image array (its shape and bytes)."""
    array = np.ascontiguousarray(pixels)
    digest = hashlib.sha256(str(array.shape).encode())
    digest.update(array.data)
    return digest.hexdigest()


@dataclass
class EmbeddingCache(Generic[T]):
    """Keeps at most ``max_entries`` values and ``max_bytes`` of them (as ``size_of`` measures)."""

    max_entries: int = 16
    max_bytes: int = 512 * 1024 * 1024
    size_of: Callable[[T], int] = lambda value: 0
    hits: int = 0
    misses: int = 0
    _items: OrderedDict[str, tuple[T, int]] = field(default_factory=OrderedDict)
    _bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get_or_compute(self, key: str, compute: Callable[[], T], logger: Any = None) -> T:
        """The cached value for ``key``, or ``compute()`` stored (evicting least recently used)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                self._log(logger, "embedding cache hit")
                return self._items[key][0]
        value = compute()
        size = int(self.size_of(value))
        with self._lock:
            self.misses += 1
            if size <= self.max_bytes:
                self._items[key] = (value, size)
                self._bytes += size
                while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                    _, (_, evicted) = self._items.popitem(last=False)
                    self._bytes -= evicted
            self._log(logger, "embedding cache miss")
        return value

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def _log(self, logger: Any, message: str) -> None:
        if logger is not None:
            logger.info_with(message, hits=self.hits, misses=self.misses, entries=len(self._items), bytes=self._bytes)
