"""Timing helpers shared by the benchmark scripts (run them as python benchmarks/NAME.py)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of `repeats` calls: robust to a noisy shared machine."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def numpy_sgemm_gflops(rows: int, n: int, repeats: int, cols: int | None = None) -> float:
    """numpy's float32 matmul throughput for (rows x n) @ (n x cols), cols = n by default, in GFLOP/s."""
    cols = n if cols is None else cols
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, n), dtype=np.float32)
    z = rng.standard_normal((cols, n), dtype=np.float32)
    reps = max(1, int(2e9 / (2 * rows * n * cols)))
    return 2 * rows * n * cols * reps / median_time(lambda: [np.matmul(x, z.T) for _ in range(reps)], repeats) / 1e9
