"""The finite-width prediction (issue #17) against the exact ReLU product law and against measurement.

``theory.finite_width_step`` gives the mean and variance of the log of one
layer's squared-gradient factor to order 1/n. For ReLU with He init the exact
law is known: the factor is (2/n) chi^2_K with K ~ Binomial(n, 1/2) active
units (Hanin & Nica 2019), so E and Var of its log follow from digamma and
trigamma. The measured checks use many seeds and compare with the seeds'
standard error.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import digamma, polygamma
from scipy.stats import binom

import gradatlas as ga
from gradatlas import theory


def _exact_relu_step(n: int) -> tuple[float, float]:
    """E and Var of ln((2/n) chi^2_K), K ~ Binomial(n, 1/2) given K >= 1 (K = 0 has probability 2^-n)."""
    k = np.arange(1, n + 1)
    p = binom.pmf(k, n, 0.5)
    p /= p.sum()
    logs = np.log(2.0 / n) + digamma(k / 2) + np.log(2.0)  # E[ln chi^2_k] = psi(k/2) + ln 2
    mean = float(np.sum(p * logs))
    return mean, float(np.sum(p * polygamma(1, k / 2)) + np.sum(p * (logs - mean) ** 2))


@pytest.mark.parametrize("n", [32, 64, 128, 256, 1024])
def test_relu_step_matches_the_exact_product_law_to_order_one_over_n(n):
    mean, var = theory.finite_width_step("relu", 1.0, np.sqrt(2.0), n)
    assert mean == pytest.approx(-2.5 / n) and var == pytest.approx(5.0 / n)
    exact_mean, exact_var = _exact_relu_step(n)
    # What is left is O(1/n^2): measured 4.5 / n^2 and 22 / n^2 at n = 32.
    assert abs(mean - exact_mean) < 6.0 / n**2
    assert abs(var - exact_var) < 30.0 / n**2
    # ... while mean field (0 and 0) is off by the whole 1/n term
    assert abs(exact_mean) > 2.0 / n


def test_linear_and_orthogonal_limits():
    # Gaussian: E ln(chi^2_n / n) = -1/n + O(1/n^2); orthogonal linear layers keep norms exactly.
    mean, var = theory.finite_width_step("linear", 3.0, 1.0, 200)
    assert mean == pytest.approx(-1 / 200) and var == pytest.approx(2 / 200)
    assert theory.finite_width_step("linear", 3.0, 1.0, 200, orthogonal=True) == (0.0, 0.0)
    # the same layer's mean factor (in the square) is mean field's chi1 whatever n: E = exp(mean + var/2)
    for act in ("tanh", "gelu", "relu"):
        m, v = theory.finite_width_step(act, 0.7, 1.3, 64)
        assert np.exp(m + v / 2) == pytest.approx(theory.chi1(act, 1.3, 0.0, q=0.7), rel=1e-12)


def test_relu_he_measured_over_seeds_follows_finite_width_not_mean_field():
    # Widths 32..256, depths 32..256, 32 seeds of batch 4. The finite-width prediction is within
    # 3 standard errors of the seeds' mean everywhere (measured: within 1.5); mean field (0 change)
    # is off by more than 5 standard errors wherever depth / width >= 1 (measured 7-14).
    ds = ga.sweep(ga.MLP(depth=32, width=32, activation="relu", init="he_normal"), width=[32, 64, 128, 256],
                  depth=[32, 64, 128, 256], batch=4, seeds=32, dtype="float64", progress=False)
    ratio = ds.total_log10_ratio
    measured = ratio.mean("seed")
    se = ratio.std("seed") / np.sqrt(ratio.sizes["seed"])
    finite = (ds.finite_width_log10_rate * (ds.depth - 1)).isel(seed=0)
    mean_field = (ds.predicted_log10_rate * (ds.depth - 1)).isel(seed=0)
    assert (np.abs(finite - measured) < 3 * se).all()
    deep = ds.depth >= ds.width
    assert (np.abs(mean_field - measured) > 5 * se).where(deep, True).all()
    # the band: a sample's spread about the prediction, larger than the seeds' mean spread
    sd = ds.finite_width_log10_grad_norm_sd.isel(layer=0, seed=0)
    assert (sd > ratio.std("seed") / 2).all()


@pytest.mark.parametrize("activation,sigma_b", [("tanh", 0.0), ("erf", 0.0)])
def test_near_the_critical_line_finite_width_errs_5x_less_than_mean_field(activation, sigma_b):
    # sigma_w = 1, sigma_b = 0: q decays towards 0 and the 1/n term is all there is. Over the grid
    # cells where the two predictions differ by more than 5 standard errors, the summed error of
    # the finite-width prediction is at least 5x smaller (measured 8-9x at depths 300 and 1000 with
    # 8 seeds; here depth 1000 and 6 seeds).
    ds = ga.sweep(ga.MLP(depth=1000, width=64, activation=activation, init=None, sigma_w=1.0, sigma_b=sigma_b),
                  width=[64, 256, 1024], batch=4, seeds=6, progress=False)
    ratio = ds.total_log10_ratio
    measured = ratio.mean("seed")
    se = ratio.std("seed") / np.sqrt(ratio.sizes["seed"])
    finite = (ds.finite_width_log10_rate * 999).isel(seed=0)
    mean_field = (ds.predicted_log10_rate * 999).isel(seed=0)
    differ = np.abs(finite - mean_field) > 5 * se
    assert int(differ.sum()) >= 2
    err_finite = float(np.abs(finite - measured).where(differ).sum())
    err_mean_field = float(np.abs(mean_field - measured).where(differ).sum())
    assert err_mean_field > 5 * err_finite


def test_finite_width_columns_are_nan_where_the_expansion_does_not_apply():
    for spec in (ga.MLP(depth=5, width=16, residual=True), ga.MLP(depth=5, width=16, norm="layer"),
                 ga.ConvNet(depth=3, channels=4, image_size=4)):
        ds = ga.simulate(spec, batch=2)
        assert np.isnan(ds.finite_width_log10_grad_norm).all() and np.isnan(ds.finite_width_log10_rate)
    ds = ga.simulate(ga.MLP(depth=5, width=16), batch=2)
    assert ds.finite_width_log10_grad_norm.values[-1] == ds.log10_grad_norm.values[-1]  # anchored at L
    assert ds.finite_width_log10_grad_norm_sd.values[-1] == 0.0
    assert "finite_width_log10_grad_norm" in ga.QUANTITIES
