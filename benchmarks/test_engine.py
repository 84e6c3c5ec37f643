"""pytest-benchmark suite for the engine (not part of the test suite).

    python -m pytest benchmarks/test_engine.py --benchmark-json=benchmarks/results/engine.json

Compare two saved runs with ``pytest-benchmark compare``.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradatlas as ga
from gradatlas import _core
from gradatlas.simulate import run_specs as run_group

pytest.importorskip("pytest_benchmark")

W1 = [ga.MLP(depth=1000, width=256, activation="tanh", init=None, sigma_w=sw, sigma_b=sb)
      for sw in (0.8, 1.0, 1.3, 1.6) for sb in (0.0, 0.05, 0.1, 0.2)]


@pytest.mark.parametrize("n_threads", [1, 2])
def test_w1_group(benchmark, n_threads):
    """W1: 16 tanh configurations, width 256, depth 1000, batch 16, one group."""
    benchmark.pedantic(run_group, args=(W1,), kwargs=dict(batch=16, seed=0, n_threads=n_threads),
                       rounds=3, iterations=1)


def test_single_config(benchmark):
    benchmark.pedantic(ga.simulate, args=(W1[5],), kwargs=dict(batch=16), rounds=3, iterations=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_draw_standard_matrix(benchmark, dtype):
    """One 1024 x 1024 Gaussian matrix from the counter-based generator."""
    benchmark(_core.standard_weights, dtype, 0, 0, 1, 1024, 1024)


def test_orthogonal_matrix(benchmark):
    benchmark(_core.standard_weights, "float32", 0, 2, 1, 256, 256)


def test_numpy_sgemm_reference(benchmark):
    """numpy's float32 matmul of the W1 layer product, for ratios within one run."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 256), dtype=np.float32)
    z = rng.standard_normal((256, 256), dtype=np.float32)
    benchmark(np.matmul, x, z.T)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_unroll(benchmark, cell):
    """One LSTM or GRU, width 256, batch 16, T = 1000 (every step kept)."""
    spec = (ga.LSTM if cell == "lstm" else ga.GRU)(steps=1000, width=256)
    benchmark.pedantic(run_group, args=([spec],), kwargs=dict(batch=16, seed=0), rounds=3, iterations=1)
