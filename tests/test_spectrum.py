"""The input-output Jacobian spectrum against exact cases and free-probability theory."""

from __future__ import annotations

import numpy as np
import pytest
from reference import activation as act

import gradatlas as ga


@pytest.mark.parametrize(("depth", "method", "atol"), [(50, "svd", 1e-13), (50, "qr", 1e-13), (1500, "qr", 1e-11)])
def test_deep_linear_orthogonal_network_is_an_isometry(depth, method, atol):
    # A product of orthogonal matrices is orthogonal: every singular value is 1
    # (log10 = 0) up to the rounding of depth QR-orthonormalized float64 matrices.
    ds = ga.jacobian_spectrum(ga.MLP(depth=depth, width=48, activation="linear", init="orthogonal"), method=method)
    np.testing.assert_allclose(ds.log10_singular_values.values, 0.0, atol=atol)
    assert ds.attrs["method"] == method


def test_svd_matches_the_explicit_jacobian():
    spec = ga.MLP(depth=5, width=7, activation="tanh", init=None, sigma_w=1.5, sigma_b=0.3)
    w = ga.materialize(spec, batch=2, seed=4)
    a, jac = w["inputs"][1], np.eye(7)
    for W, b in zip(w["weights"], w["biases"]):
        phi, d = act("tanh", W @ a + b)
        jac, a = d[:, None] * (W @ jac), phi
    expected = np.log10(np.linalg.svd(jac, compute_uv=False))
    got = ga.jacobian_spectrum(spec, seed=4, sample=1)
    np.testing.assert_allclose(got.log10_singular_values.values, expected, atol=1e-13)
    qr = ga.jacobian_spectrum(spec, seed=4, sample=1, method="qr")
    # The QR diagonal carries the same determinant: the sums agree exactly.
    np.testing.assert_allclose(qr.log10_singular_values.sum(), expected.sum(), atol=1e-12)


def _average(spec_for_depth, depth, seeds=4):
    runs = [ga.jacobian_spectrum(spec_for_depth(depth), seed=s) for s in range(seeds)]
    mean_sq = np.mean([10 ** r.log10_mean_squared_singular_value.item() for r in runs])
    return mean_sq, np.mean([r.relative_variance.item() for r in runs]), runs[0]


@pytest.mark.parametrize("depth", [2, 8])
def test_critical_relu_mean_and_spread(depth):
    # He-init ReLU is critical: the mean squared singular value is chi1^L = 1. Free
    # probability (Pennington et al. 2017) gives the variance of sigma^2: 2 per layer
    # with Gaussian weights (1 from D^2, 1 from W^T W), 1 with orthogonal ones. At
    # width 512, 4 seeds: the mean was within 6% of 1 and the variances within 3% of
    # theory for depths 1-16; 15% and 12% leave room for other seeds.
    gaussian = lambda L: ga.MLP(depth=L, width=512, activation="relu", init="he_normal")
    orthogonal = lambda L: ga.MLP(depth=L, width=512, activation="relu", init="orthogonal", sigma_w=2**0.5)
    mean_sq, variance, one = _average(gaussian, depth)
    assert one.predicted_log10_mean_squared_singular_value.item() == pytest.approx(0.0, abs=1e-9)
    assert one.predicted_relative_variance.item() == pytest.approx(2 * depth, rel=1e-9)
    assert mean_sq == pytest.approx(1.0, rel=0.15)
    assert variance == pytest.approx(2 * depth, rel=0.12)
    _, variance_orth, one_orth = _average(orthogonal, depth)
    assert one_orth.predicted_relative_variance.item() == pytest.approx(depth, rel=1e-9)
    assert variance_orth == pytest.approx(depth, rel=0.12)


def test_bad_input():
    with pytest.raises(ValueError, match="norm"):
        ga.jacobian_spectrum(ga.MLP(depth=3, width=4, norm="layer"))
    with pytest.raises(ValueError, match="method"):
        ga.jacobian_spectrum(ga.MLP(depth=3, width=4), method="lanczos")
    with pytest.raises(TypeError, match="MLP"):
        ga.jacobian_spectrum(ga.LSTM(steps=3))
    with pytest.raises(ValueError, match="sample"):
        ga.jacobian_spectrum(ga.MLP(depth=3, width=4), sample=-1)
