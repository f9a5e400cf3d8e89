"""Tests for common.embedding_cache."""

from __future__ import annotations

import numpy as np

from common.embedding_cache import EmbeddingCache, image_key


def test_hits_skip_compute_and_lru_evicts_by_entries_and_bytes() -> None:
    calls: list[str] = []
    cache: EmbeddingCache[bytes] = EmbeddingCache(max_entries=2, max_bytes=10, size_of=len)

    def compute(key: str, size: int):
        return lambda: calls.append(key) or b"x" * size

    cache.get_or_compute("a", compute("a", 4))
    cache.get_or_compute("a", compute("a", 4))
    assert calls == ["a"] and (cache.hits, cache.misses) == (1, 1)
    cache.get_or_compute("b", compute("b", 4))
    cache.get_or_compute("a", compute("a", 4))  # a becomes most recent
    cache.get_or_compute("c", compute("c", 4))  # evicts b (entries)
    assert len(cache) == 2 and cache.bytes == 8
    cache.get_or_compute("b", compute("b", 4))
    assert calls == ["a", "b", "c", "b"]
    cache.get_or_compute("d", compute("d", 9))  # evicts by bytes
    assert cache.bytes <= 10
    cache.get_or_compute("huge", compute("huge", 50))  # too big to keep
    assert "huge" not in cache._items


def test_image_key_depends_on_content_and_shape() -> None:
    image = np.zeros((4, 6, 3), np.uint8)
    assert image_key(image) == image_key(image.copy())
    assert image_key(image) != image_key(image.reshape(6, 4, 3))
    changed = image.copy()
    changed[0, 0, 0] = 1
    assert image_key(image) != image_key(changed)
