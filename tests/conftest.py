"""Shared pytest configuration."""

from __future__ import annotations

import os

# Keep torch/OpenCV from oversubscribing the 2-core CI machine when several processes run.
os.environ.setdefault("OMP_NUM_THREADS", "2")
