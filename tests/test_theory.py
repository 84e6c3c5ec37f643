"""Mean-field theory: closed forms, self-consistency, and wide networks measured against it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

import gradatlas as ga
from gradatlas import theory
from gradatlas.simulate import run_specs as run_group
from gradatlas.summary import fitted_log10_rate


def test_relu_he_is_critical():
    assert theory.chi1("relu", np.sqrt(2.0), 0.0) == pytest.approx(1.0, abs=1e-12)
    assert theory.chi1("relu", 1.7, 0.4) == pytest.approx(1.7**2 / 2, rel=1e-12)  # chi1 = sigma_w^2 / 2
    assert theory.q_star("relu", np.sqrt(2.0), 0.0, q0=1.5) == pytest.approx(3.0, rel=1e-12)


def test_linear_chi1_is_sigma_w_squared():
    assert theory.chi1("linear", 0.7, 0.0) == pytest.approx(0.49, rel=1e-12)


def test_erf_length_map_closed_form():
    # E[erf(sqrt(q) z)^2] = (2/pi) arcsin(2q / (1 + 2q)) (Williams 1997).
    q = np.array([0.01, 0.5, 2.0, 30.0])
    expected = 1.3**2 * (2 / np.pi) * np.arcsin(2 * q / (1 + 2 * q)) + 0.1**2
    np.testing.assert_allclose(theory.length_map("erf", q, 1.3, 0.1), expected, rtol=1e-10)


def test_quadrature_against_adaptive_integration():
    q = 2.0
    dens = lambda z: np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
    target, _ = integrate.quad(lambda z: (1 / np.cosh(np.sqrt(q) * z)) ** 4 * dens(z), -40, 40, epsabs=1e-14)
    assert theory.chi1("tanh", 1.0, 0.0, q=q) == pytest.approx(target, rel=1e-10)


def test_tanh_critical_point_without_bias():
    # At sigma_b = 0 the ordered phase has q* = 0, reached only like 1/iterations,
    # so chi1 is evaluated at q ~ 1e-3 after the iteration cap: sigma_w = 1 to 5e-3.
    assert theory.critical_line("tanh", 0.0) == pytest.approx(1.0, abs=5e-3)


# Not gelu/silu/elu: there chi1 jumps across 1 where q* becomes infinite (see critical_line).
@pytest.mark.parametrize("activation", ["tanh", "erf", "relu", "selu"])
def test_critical_line_is_chi1_equal_one(activation):
    sb = np.array([0.05, 0.3, 0.8])
    sw = theory.critical_line(activation, sb)
    assert np.all(np.isfinite(sw))
    np.testing.assert_allclose(theory.chi1(activation, sw, sb), 1.0, atol=1e-6)


def test_sigmoid_has_no_critical_line_in_range():
    # sigma_w^2 E[sigmoid'^2] <= sigma_w^2 / 16, and q* grows with sigma_w: chi1 = 1 needs sigma_w > 4.
    assert np.isnan(theory.critical_line("sigmoid", 0.1, sigma_w_range=(0.1, 3.0)))


def test_correlation_fixed_point_and_depth_scales():
    # Ordered phase: c* = 1 and chi_c = chi1 there.
    assert theory.c_star("tanh", 0.8, 0.3) == pytest.approx(1.0, abs=1e-6)
    assert theory.chi_c("tanh", 0.8, 0.3) == pytest.approx(theory.chi1("tanh", 0.8, 0.3), rel=1e-4)
    # Chaotic phase: c* < 1.
    assert theory.c_star("tanh", 2.5, 0.1) < 0.9
    # The gradient depth scale diverges at the critical line.
    sw_crit = float(theory.critical_line("tanh", 0.3))
    near = theory.depth_scales("tanh", sw_crit * 1.001, 0.3)["xi_grad"]
    far = theory.depth_scales("tanh", sw_crit * 0.7, 0.3)["xi_grad"]
    assert abs(near) > 100 * abs(far)


def test_wide_tanh_rate_matches_mean_field_both_sides():
    """Width 1024: measured per-layer rate vs log10(chi1)/2 on both sides of chi1 = 1.

    The fit uses layers 30..100, after q has reached q*. Finite width shifts chi1
    by O(1/n) ~ 1e-3 (5e-4 decades/layer) and the fit over 70 layers x 8 samples
    has a standard error of ~3e-4 decades/layer; the largest deviation measured
    was 1.0e-3. A tolerance of 3e-3 decades/layer still separates every pair of
    neighbouring points of the grid (which differ by >= 1.2e-2).
    """
    sws, sbs = [0.8, 1.0, 1.3, 1.6, 2.0], [0.05, 0.3]
    specs = [ga.MLP(depth=100, width=1024, activation="tanh", init=None, sigma_w=w, sigma_b=b)
             for w in sws for b in sbs]
    raw = run_group(specs, batch=8, seed=0)
    signs = set()
    for spec, g in zip(specs, raw["log10_grad_norm"]):
        measured = fitted_log10_rate(g[29:])
        predicted = theory.predicted_log10_rate("tanh", spec.sigma_w, spec.sigma_b)
        assert measured == pytest.approx(predicted, abs=3e-3), spec
        signs.add(np.sign(predicted))
    assert signs == {-1.0, 1.0}


def test_he_relu_network_is_stable():
    # Critical: the measured rate is ~0 (finite width 1024 gives a drift ~ -1/n per layer
    # in the log of the squared norm, 2e-4 decades), against -0.07 at sigma_w = 1.2.
    ds = ga.simulate(ga.MLP(depth=100, width=1024, activation="relu", init="he_normal"), batch=8)
    assert abs(float(ds.log10_rate)) < 2e-3
    assert ds.regime == "stable"
    off = ga.simulate(ga.MLP(depth=100, width=1024, activation="relu", init=None, sigma_w=1.2), batch=8)
    assert float(off.log10_rate) == pytest.approx(np.log10(1.2**2 / 2) / 2, abs=3e-3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_underflow_is_exact(dtype):
    """1000 sigmoid layers lose over 1100 decades; float32 alone would give 0 or -inf.

    Mean field predicts -1126.2 decades for this network; the measured total agrees
    to 1% (measured 0.14%: finite width 256 adds ~1/n per layer to chi1), and float32
    agrees with float64 to 1e-3 decades.
    """
    spec = ga.MLP(depth=1000, width=256, activation="sigmoid", init=None, sigma_w=0.3)
    ds = ga.simulate(spec, batch=16, seed=0, dtype=dtype)
    total = float(ds.total_log10_ratio)
    predicted = float(ds.predicted_log10_rate) * 999
    assert np.isfinite(total) and total < -1000
    assert total == pytest.approx(predicted, rel=1e-2)
    assert ds.regime == "vanishing" and int(ds.first_nonfinite_layer) == -1
    if dtype == "float32":
        ref = ga.simulate(spec, batch=16, seed=0, dtype="float64")
        assert total == pytest.approx(float(ref.total_log10_ratio), abs=1e-3)


def test_residual_profile_prediction():
    # Residual tanh net with small branches: the profile predicts the measured total.
    spec = ga.MLP(depth=200, width=512, activation="tanh", residual=True, alpha=0.2, init=None, sigma_w=1.0)
    ds = ga.simulate(spec, batch=8, seed=1)
    assert float(ds.total_log10_ratio) == pytest.approx(float(ds.predicted_log10_rate) * 199, abs=0.1)
    assert float(ds.total_log10_ratio) > 0.5  # gradients grow towards the input through the skips


def test_predicted_q_matches_measured_q():
    spec = ga.MLP(depth=20, width=1024, activation="tanh", init=None, sigma_w=1.5, sigma_b=0.2)
    ds = ga.simulate(spec, batch=8, seed=2, dtype="float64")
    np.testing.assert_allclose(ds.q, ds.predicted_q, rtol=0.05)  # O(1/sqrt(n B)) sampling noise


@pytest.mark.parametrize("activation", sorted(ga.ACTIVATIONS))
def test_tabulated_moments_follow_the_quadrature(activation):
    """V(q) = E[phi^2] and D(q) = E[phi'^2] read from the table agree with the quadrature
    they interpolate to 1e-10 relative (cubic Hermite in ln q: h^4/384 |F''''|, measured
    worst 1.1e-10 for selu), from q = 1e-300 up; and with independent adaptive
    integration at large q, where the extra cuts at |sqrt(q) z| = 1, 12 keep the rule good."""
    q = np.geomspace(1e-300, 1e2, 1501)
    v, _, d, _, k, _ = theory._moments(activation, 0.2, q)
    tv, td = theory._table(activation, 0.2)(q)
    np.testing.assert_allclose(tv, v, rtol=2e-10, atol=1e-300)
    np.testing.assert_allclose(td, d, rtol=2e-10, atol=1e-300)
    # K = E[phi'^4] only enters a 1/width correction; selu's jump in phi' makes it the roughest (2.2e-10)
    np.testing.assert_allclose(theory._table(activation, 0.2).fourth(q), k, rtol=5e-10, atol=1e-300)
    from gradatlas.activations import evaluate

    dens = lambda z: np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
    for big in (1e4, 1e9):
        cuts = sorted({0.0, *(c / np.sqrt(big) for c in (-12.0, -1.0, 1.0, 12.0))})
        for k, got in enumerate(theory._table(activation, 0.2)(big)):
            f = lambda z, q=big, k=k: evaluate(activation, np.array([np.sqrt(q) * z]), 0.2)[k][0] ** 2 * dens(z)
            want = integrate.quad(f, -40, 40, points=cuts, limit=500, epsabs=1e-300, epsrel=1e-12)[0]
            assert got == pytest.approx(want, rel=1e-6, abs=1e-300), (big, k)


def test_chi1_at_vanishing_q_is_the_limit():
    # relu at sigma_b = 0, sigma_w = 0.5: q -> 0 geometrically and underflows; chi1 stays sigma_w^2 / 2.
    assert theory.chi1("relu", 0.5, 0.0) == pytest.approx(0.125, rel=1e-12)


def test_table_ends_are_exact():
    # q = 0 is a fixed point of odd activations without bias: a zero network stays zero
    # (an RNN with h0_std = 0 and no input), and V(0) is exactly phi(0)^2.
    assert theory.q_star("tanh", 1.5, 0.0, q0=0.0) == 0.0
    assert theory.chi1("tanh", 1.5, 0.0, q0=0.0) == pytest.approx(2.25, rel=1e-12)
    assert theory.length_map("linear", 0.0, 1.0, 0.0) == 0.0
    assert theory.length_map("sigmoid", 0.0, 1.0, 0.0) == pytest.approx(0.25, rel=1e-12)
    # past the table (q > 1e30) the quadrature itself: relu's V = q/2, tanh's V -> 1
    assert theory.length_map("relu", 1e40, 1.0, 0.0) == pytest.approx(5e39, rel=1e-12)
    assert theory.length_map("tanh", 1e40, 1.0, 0.0) == pytest.approx(1.0, rel=1e-12)


def test_one_table_per_activation_whatever_the_slope():
    assert theory._table("tanh", 0.01) is theory._table("tanh", 0.3)
    assert theory._table("leaky_relu", 0.01) is not theory._table("leaky_relu", 0.3)
