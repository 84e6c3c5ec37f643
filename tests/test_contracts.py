"""The contract every kind of network keeps, tested once over every kind.

For each kind (MLP, ConvNet, RNN, LSTM, GRU, Transformer; each new
architecture adds one entry to KINDS):

* a point alone equals the same point inside a group and inside a sweep, bit
  for bit, and repeats itself;
* the thread count and checkpointing change no bit;
* a sweep stored chunk by chunk and read back equals the sweep in memory
  (``open_results`` once put values on other coordinates when the axes' order
  was not alphabetical);
* ``materialize`` gives arrays from which an independent float64 NumPy
  implementation reproduces the per-layer (per-step) gradient norms.

Reference tolerance: float64 agrees to rounding. The engine keeps backward
vectors at unit norm with a log10 scale and sums in its own order, the
reference multiplies plain matrices: ~1e-16 relative per layer or step over at
most 9 of them (worst seen 2e-15 in decades), so 1e-12 decades is tight enough
to catch any wrong term (1e-3 or more) and never flakes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import reference
import reference_recurrent
import reference_transformer
import xarray as xr

import gradatlas as ga
from gradatlas.simulate import run_specs

pytestmark = pytest.mark.skipif(not ga.has_openmp, reason="built without OpenMP")


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    make: Callable[..., Any]       # spec from keyword settings (sigma_w, width, length)
    variants: Callable[..., list[Any]]  # specs of one group (width, length)
    length: str                    # the spec field of the profile's length
    profile: str                   # the profile dimension of the Dataset
    reference: Callable[[Any, dict[str, np.ndarray], str], np.ndarray]  # log10 grad norm per layer or step
    size_axis: tuple[str, list[int]] = ("width", [12, 8])  # a sweep axis over the network's size
    last_position: Callable[[int], int] = lambda length: length  # of a spec whose length field is `length`


def _mlp_reference(spec: Any, arrays: dict[str, Any], loss: str) -> np.ndarray:
    return reference.backward(spec, arrays, loss=loss)["log10_grad_norm"]


def _recurrent_reference(spec: Any, arrays: dict[str, Any], loss: str) -> np.ndarray:
    extra = {"activation": spec.activation, "negative_slope": spec.negative_slope} if spec.cell == "rnn" else {}
    grads = reference_recurrent.bptt(spec.cell, arrays, loss=loss, every_step=spec.loss_at == "every", **extra)
    return reference_recurrent.per_step_log10_norms(grads["grad_h"])


def _mlp(*, sigma_w: float, width: int, length: int) -> ga.MLP:
    return ga.MLP(depth=length, width=width, activation="tanh", init=None, sigma_w=sigma_w, sigma_b=0.2,
                  residual=True, alpha=0.6, norm="layer")


def _mlp_variants(*, width: int, length: int) -> list[ga.MLP]:
    """Architectures that share one group's random matrices (each takes other code paths)."""
    base = _mlp(sigma_w=1.0, width=width, length=length)
    return [base, base.replace(sigma_w=1.6, residual=False, norm=None),
            base.replace(activation="relu", norm=None, sigma_b=0.0),  # homogeneous: forward in log space
            base.replace(norm="batch", activation="gelu", residual=False),
            base.replace(norm="layer", activation="sigmoid", sigma_w=3.0, residual=False)]


def _cell(cls: type) -> Callable[..., Any]:
    def make(*, sigma_w: float, width: int, length: int) -> Any:
        return cls(steps=length, width=width, input_width=5, sigma_w=sigma_w, sigma_b=0.3, sigma_u=0.8,
                   h0_std=0.5, loss_at="every")
    return make


SIGMAS = (0.7, 1.4)


def _cell_variants(cls: type) -> Callable[..., list[Any]]:
    def variants(*, width: int, length: int) -> list[Any]:
        return [_cell(cls)(sigma_w=s, width=width, length=length) for s in SIGMAS]
    return variants


def _conv(*, sigma_w: float, width: int, length: int) -> ga.ConvNet:
    # `width` sets the channels (the rows hold 4 x 4 pixels of them).
    return ga.ConvNet(depth=length, channels=max(1, width // 8), image_size=4, activation="tanh", init=None,
                      sigma_w=sigma_w, sigma_b=0.2, residual=True, alpha=0.6, norm="layer", padding="circular")


def _conv_variants(*, width: int, length: int) -> list[ga.ConvNet]:
    base = _conv(sigma_w=1.0, width=width, length=length)
    return [base, base.replace(sigma_w=1.6, residual=False, norm=None),
            base.replace(activation="relu", norm=None, sigma_b=0.0),
            base.replace(norm="batch", activation="gelu", residual=False)]


def _conv_reference(spec: Any, arrays: dict[str, Any], loss: str) -> np.ndarray:
    from test_convnet import dense_arrays

    return reference.backward(spec, dense_arrays(spec, arrays), loss=loss, channels=spec.channels)["log10_grad_norm"]


def _transformer(*, sigma_w: float, width: int, length: int) -> ga.Transformer:
    return ga.Transformer(depth=length, width=width, heads=2, seq_len=3, init=None, sigma_w=sigma_w, sigma_b=0.2,
                          norm="pre", alpha=0.6, mlp_ratio=1.5)


def _transformer_variants(*, width: int, length: int) -> list[ga.Transformer]:
    base = _transformer(sigma_w=1.0, width=width, length=length)
    return [base, base.replace(norm="post", norm_kind="rms", causal=True, sigma_w=1.6),
            base.replace(norm="deepnorm", activation="relu", sigma_b=0.0),
            base.replace(norm="none", activation="tanh", alpha=0.3, q0=2.0)]


def _transformer_reference(spec: Any, arrays: dict[str, Any], loss: str) -> np.ndarray:
    return reference_transformer.run(arrays, spec, loss)["log10_grad_norm"]


KINDS = [
    Kind("mlp", _mlp, _mlp_variants, "depth", "layer", _mlp_reference),
    Kind("conv", _conv, _conv_variants, "depth", "layer", _conv_reference, ("channels", [2, 1])),
    *(Kind(cell, _cell(cls), _cell_variants(cls), "steps", "step", _recurrent_reference)
      for cell, cls in (("rnn", ga.RNN), ("lstm", ga.LSTM), ("gru", ga.GRU))),
    Kind("transformer", _transformer, _transformer_variants, "depth", "sublayer", _transformer_reference,
         last_position=lambda depth: 2 * depth),
]


def _profiles(raw: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    return {k: a[i] for k, a in raw.items()}


def _assert_identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_point_alone_equals_it_in_a_group_and_in_a_sweep(kind, dtype):
    variants = kind.variants(width=20, length=9)
    for batch in (2, 5, 16):
        group = run_specs(variants, batch=batch, seed=4, dtype=dtype, n_threads=2)
        for i, spec in enumerate(variants):
            alone = run_specs([spec], batch=batch, seed=4, dtype=dtype, n_threads=1)
            _assert_identical(_profiles(group, i), _profiles(alone, 0))
    specs = [kind.make(sigma_w=s, width=20, length=9) for s in SIGMAS]
    group = run_specs(specs, batch=3, seed=4, dtype=dtype, n_threads=2)
    simulated = ga.simulate(specs[1], batch=3, seed=4, dtype=dtype)
    assert simulated.identical(ga.simulate(specs[1], batch=3, seed=4, dtype=dtype))
    np.testing.assert_array_equal(simulated.log10_grad_norm.values, group["log10_grad_norm"][1])
    ds = ga.sweep(specs[0], sigma_w=list(SIGMAS), batch=3, seeds=[4], dtype=dtype, progress=False)
    assert kind.profile in ds.dims
    point = ds.sel(sigma_w=SIGMAS[1], seed=4)
    for name, values in simulated.data_vars.items():
        if kind.profile in values.dims:
            np.testing.assert_array_equal(point[name].values, values.values, err_msg=name)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threads_and_checkpointing_change_no_bit(kind, dtype):
    # Width 130 (a partial tile), 16 rows: 2^18 multiply-adds per layer or step
    # or more, where the engines do use a second thread (cpp/src/thread_count.hpp).
    specs = kind.variants(width=130, length=23)
    whole = run_specs(specs, batch=8, seed=1, dtype=dtype, n_threads=2)
    _assert_identical(whole, run_specs(specs, batch=8, seed=1, dtype=dtype, n_threads=1))
    for every in (1, 6, 22):  # 22: a last segment of one position
        _assert_identical(whole, run_specs(specs, batch=8, seed=1, dtype=dtype, n_threads=2,
                                           checkpoint_every=every))


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_store_round_trips(kind, tmp_path):
    pytest.importorskip("zarr")
    spec = kind.make(sigma_w=1.0, width=12, length=6)
    # Axes whose canonical order is not alphabetical: the stored description sorts its keys.
    size, sizes = kind.size_axis
    settings = {size: sizes, kind.length: [4, 6], "sigma_w": list(SIGMAS), "batch": 2, "seeds": 2,
                "progress": False}
    in_memory = ga.sweep(spec, **settings)
    path = tmp_path / f"{kind.name}.zarr"
    stored = ga.sweep(spec, **settings, store=path, chunk_size=3)
    assert stored.attrs.pop("store") == str(path)
    xr.testing.assert_identical(in_memory, stored)
    shorter = in_memory.log10_grad_norm.sel({kind.length: 4})
    last = kind.last_position(4)
    assert np.isnan(shorter.sel({kind.profile: slice(last + 1, None)})).all()
    assert not np.isnan(shorter.sel({kind.profile: slice(1, last)})).any()
    reopened = ga.open_results(path)
    for name in ("store", "damaged_chunks"):
        reopened.attrs.pop(name)
    xr.testing.assert_identical(in_memory, reopened)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize("loss", ["projection", "sum_squares"])
def test_materialized_arrays_reproduce_the_gradients(kind, loss):
    spec = kind.make(sigma_w=1.2, width=10, length=9)
    ds = ga.simulate(spec, batch=3, seed=5, dtype="float64", loss=loss)
    expected = kind.reference(spec, ga.materialize(spec, batch=3, seed=5, dtype="float64"), loss)
    got = ds.log10_grad_norm.values
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
