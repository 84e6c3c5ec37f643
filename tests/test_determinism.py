"""Bit-identical results whatever the memory plan, the buffer pool and concurrent callers (the
contract every kind keeps, group, threads and checkpoints, is in test_contracts.py)."""

from __future__ import annotations

import threading

import numpy as np

import gradatlas as ga
from gradatlas import _core
from gradatlas._assemble import PER_LAYER
from gradatlas.simulate import run_specs as run_group

BASE = ga.MLP(depth=30, width=130, activation="tanh")  # 130: a partial 128-column tile
VARIANTS = [
    BASE,
    BASE.replace(init=None, sigma_w=1.6, sigma_b=0.4),
    BASE.replace(activation="relu", residual=True, alpha=0.2),
    BASE.replace(norm="batch", activation="gelu"),
    BASE.replace(norm="layer", activation="sigmoid", sigma_w=3.0),
]


def _assert_same(a, b, i=0, j=0):
    for name in (*PER_LAYER, "first_nonfinite_layer", "nonfinite_kind"):
        np.testing.assert_array_equal(a[name][i], b[name][j], err_msg=name)


def test_drawing_weights_again_does_not_change_numbers(monkeypatch):
    # A budget that holds every layer's activations but not its random matrix:
    # the backward pass draws Z_l again instead of reading it.
    from gradatlas import _runner
    full = run_group(VARIANTS, batch=4, seed=2, dtype="float32")
    monkeypatch.setattr(_runner, "STORE_BUDGET", 1 << 20)
    group = _runner.Group(2, 4, "float32", BASE.layer_widths, BASE.weight_dist, BASE.q0, configs=VARIANTS,
                          depths=[BASE.depth])
    every, _, keep_weights = _core.plan_mlp_memory(group.core_group(1, "projection"), len(VARIANTS), 4, True)
    assert (every, keep_weights) == (BASE.depth, False)
    redrawn = run_group(VARIANTS, batch=4, seed=2, dtype="float32")
    for i in range(len(VARIANTS)):
        _assert_same(full, redrawn, i, i)


def test_groups_handed_pooled_buffers_give_the_same_numbers():
    # A sweep of several groups reuses a finished group's (uninitialized)
    # buffers; nothing of the previous group may leak into the next one's numbers.
    specs = [BASE.replace(width=w, activation=a) for w in (40, 33) for a in ("tanh", "relu")]
    alone = [run_group([s], batch=4, seed=3, dtype="float32") for s in specs]
    ds = ga.sweep(width=[40, 33], activation=["tanh", "relu"], depth=BASE.depth, batch=4, seeds=[3],
                  progress=False, n_threads=1)  # two groups (one per width), one after the other
    assert _core.memory_pool_bytes() == 0  # the last close freed what was kept
    for s, a in zip(specs, alone):
        point = ds.sel(width=s.width, activation=s.activation).squeeze()
        np.testing.assert_array_equal(point.log10_grad_norm.values, a["log10_grad_norm"][0])


def test_memory_pool_keeps_only_while_open():
    _core.open_memory_pool(1 << 30)
    try:
        run_group([BASE], batch=4, seed=1)
        kept = _core.memory_pool_bytes()
    finally:
        _core.close_memory_pool()
    assert kept > 0 and _core.memory_pool_bytes() == 0
    run_group([BASE], batch=4, seed=1)
    assert _core.memory_pool_bytes() == 0


def test_seeds_differ():
    a = ga.simulate(BASE, batch=4, seed=0)
    b = ga.simulate(BASE, batch=4, seed=1)
    assert not np.array_equal(a.log10_grad_norm.values, b.log10_grad_norm.values)


def test_concurrent_calls_from_python_threads():
    # The GIL is released during runs; concurrent runs must not interfere.
    specs = VARIANTS[:3]
    serial = [ga.simulate(s, batch=4, seed=3, n_threads=1) for s in specs]
    results: dict[int, object] = {}

    def work(i):
        results[i] = ga.simulate(specs[i % 3], batch=4, seed=3, n_threads=1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(6):
        assert results[i].identical(serial[i % 3])
