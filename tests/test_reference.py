"""The engine against an independent float64 NumPy implementation, and finite differences.

Tolerances:
* float64: relative 1e-10 on every norm and moment. The engine and the reference
  do the same arithmetic in different orders (BLAS blocking, renormalized
  backward vectors, Gram-matrix weight norms), each step adding a few units of
  1e-16; over 5 layers of width <= 16 the differences stay below ~1e-13, so
  1e-10 is tight enough to catch any wrong term (which shows up at 1e-3 or more)
  and loose enough never to flake.
* float32: relative 2e-4 on norms and moments. float32 rounding is 6e-8 per
  operation; a layer of width 12 accumulates about sqrt(12) * 6e-8 ~ 2e-7, and
  5 layers with normalization and saturating activations amplify it further
  (measured worst case over all 72 cases: 3.1e-6 relative; float64: 1.0e-13).
  2e-4 leaves a wide margin for other BLAS kernels and compilers while still
  catching any wrong term, which shows up at 1e-3 or more.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import reference

import gradatlas as ga
from gradatlas._assemble import PER_LAYER
from gradatlas.simulate import run_specs as run_group

ACTS = sorted(ga.ACTIVATIONS)
ARCHS = list(itertools.product([False, True], [None, "batch", "layer"]))


def _spec(activation: str, residual: bool, norm: str | None, **kw) -> ga.MLP:
    base = dict(depth=5, width=12, activation=activation, init=None, sigma_w=1.2, sigma_b=0.3,
                residual=residual, alpha=0.7, norm=norm, negative_slope=0.1)
    base.update(kw)
    return ga.MLP(**base)


def _compare(spec: ga.MLP, *, batch: int, seed: int, dtype: str, loss: str, rtol: float) -> None:
    raw = run_group([spec], batch=batch, seed=seed, dtype=dtype, loss=loss)
    ref = reference.backward(spec, ga.materialize(spec, batch=batch, seed=seed, dtype=dtype), loss=loss)
    for name in ("log10_grad_norm", "log10_grad_norm_rms", "log10_weight_grad_norm"):
        np.testing.assert_allclose(10 ** (raw[name][0] - ref[name]), 1.0, rtol=rtol, atol=0, err_msg=name)
    np.testing.assert_allclose(raw["q"][0], ref["q"], rtol=rtol, err_msg="q")
    np.testing.assert_allclose(raw["c"][0], ref["c"], rtol=rtol, atol=rtol, err_msg="c")
    if dtype == "float64":
        np.testing.assert_array_equal(raw["saturated_fraction"][0], ref["saturated_fraction"])
        np.testing.assert_array_equal(raw["dead_fraction"][0], ref["dead_fraction"])
    assert (raw["first_nonfinite_layer"] == 0).all()


@pytest.mark.parametrize("residual,norm", ARCHS)
@pytest.mark.parametrize("activation", ACTS)
def test_float64_matches_reference(activation, residual, norm):
    _compare(_spec(activation, residual, norm), batch=4, seed=11, dtype="float64", loss="projection", rtol=1e-10)


@pytest.mark.parametrize("residual,norm", ARCHS)
@pytest.mark.parametrize("activation", ACTS)
def test_float32_matches_reference(activation, residual, norm):
    _compare(_spec(activation, residual, norm), batch=4, seed=12, dtype="float32", loss="projection", rtol=2e-4)


@pytest.mark.parametrize("residual,norm", ARCHS)
def test_sum_squares_loss(residual, norm):
    _compare(_spec("tanh", residual, norm), batch=5, seed=13, dtype="float64", loss="sum_squares", rtol=1e-10)


@pytest.mark.parametrize("loss", ["projection", "sum_squares"])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("activation", ["linear", "relu", "leaky_relu"])
def test_exact_forward_scale_of_homogeneous_networks(activation, residual, loss):
    # No bias, no norm: the engine keeps the forward rows at unit norm with a log
    # scale; every reported number must still be the plain network's.
    spec = _spec(activation, residual, None, sigma_b=0.0, sigma_w=1.7)
    _compare(spec, batch=4, seed=15, dtype="float64", loss=loss, rtol=1e-10)


@pytest.mark.parametrize("init", sorted(ga.INITS))
def test_inits_and_unequal_widths(init):
    # Unequal widths exercise fan_in/fan_out rules and non-square orthogonal matrices.
    spec = ga.MLP(depth=5, widths=(9, 14, 6, 11, 11, 7), activation="silu", init=init, sigma_b=0.1)
    _compare(spec, batch=3, seed=14, dtype="float64", loss="projection", rtol=1e-10)


def test_checkpointed_backward_is_exact():
    # Many segments (checkpoint every 2 layers) must give the numbers of the stored run.
    spec = ga.MLP(depth=9, width=10, activation="tanh", sigma_w=1.5, init=None, sigma_b=0.2, norm="layer")
    full = run_group([spec], batch=3, seed=5, dtype="float64")
    for every in (1, 2, 4):
        seg = run_group([spec], batch=3, seed=5, dtype="float64", checkpoint_every=every)
        for name in PER_LAYER:
            np.testing.assert_array_equal(seg[name], full[name], err_msg=f"{name}, every={every}")


@pytest.mark.parametrize("spec", [
    _spec("tanh", False, None),
    _spec("gelu", True, "layer"),
    _spec("softplus", False, "batch"),
    ga.MLP(depth=4, widths=(6, 8, 5, 7, 4), activation="elu", init="orthogonal", sigma_b=0.2),
], ids=["tanh", "gelu-residual-layernorm", "softplus-batchnorm", "elu-orthogonal"])
def test_finite_differences(spec):
    """Per-sample gradient norms from central differences of the plain forward pass.

    Central differences with step 1e-6 in float64 have truncation error
    ~ (1e-6)^2 |l'''| and rounding ~ 1e-16 / 1e-6 = 1e-10 relative to the loss,
    so agreement to 1e-6 relative is expected and checked.
    """
    batch, seed, step = 3, 21, 1e-6
    arrays = ga.materialize(spec, batch=batch, seed=seed)
    raw = run_group([spec], batch=batch, seed=seed, dtype="float64")
    widths = spec.layer_widths
    for l in range(1, spec.depth + 1):
        grad = np.empty((batch, widths[l]))
        for b in range(batch):
            for i in range(widths[l]):
                def loss(delta, at=(l, b, i)):
                    out = reference.forward(spec, arrays, (*at, delta))["output"]
                    return reference.losses(out, arrays, "projection").sum()

                up, down = loss(step), loss(-step)
                grad[b, i] = (up - down) / (2 * step)
        fd = np.log10(np.linalg.norm(grad, axis=1)).mean()
        np.testing.assert_allclose(10 ** (raw["log10_grad_norm"][0, l - 1] - fd), 1.0, rtol=1e-6, err_msg=f"layer {l}")
