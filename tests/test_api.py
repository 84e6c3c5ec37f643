"""The public API: the Dataset contract, materialize, progress and interruption."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import gradatlas as ga

PER_LAYER = ["log10_grad_norm", "log10_grad_norm_rms", "log10_weight_grad_norm", "q", "c",
             "saturated_fraction", "dead_fraction", "predicted_log10_grad_norm", "predicted_q"]
SCALARS = ["total_log10_ratio", "log10_rate", "depth_scale", "regime", "first_nonfinite_layer",
           "nonfinite_kind", "chi1", "predicted_log10_rate"]


def test_dataset_contract():
    spec = ga.MLP(depth=12, width=32, activation="tanh", init="xavier_normal", sigma_b=0.1)
    ds = ga.simulate(spec, batch=4, seed=5)
    assert list(ds.layer.values) == list(range(1, 13))
    for name in PER_LAYER:
        assert ds[name].dims == ("layer",), name
    for name in SCALARS:
        assert ds[name].dims == (), name
    for name in (*PER_LAYER, *SCALARS):
        assert ds[name].attrs["description"] == ga.QUANTITIES[name]
    assert json.loads(ds.attrs["spec"])["activation"] == "tanh"
    assert ds.attrs["seed"] == 5 and ds.attrs["batch"] == 4 and ds.attrs["loss"] == "projection"
    assert ds.attrs["gradatlas_version"] == ga.__version__
    assert ds.attrs["loss_definition"] == ga.LOSSES["projection"]
    # The summary is consistent with the profile.
    g = ds.log10_grad_norm.values
    assert float(ds.total_log10_ratio) == pytest.approx(g[0] - g[-1])
    assert float(ds.predicted_log10_grad_norm[-1]) == pytest.approx(g[-1])
    assert float(ds.chi1) == pytest.approx(float(ga.theory.chi1("tanh", 1.0, 0.1)))


def test_dataset_round_trips_through_netcdf(tmp_path):
    pytest.importorskip("scipy")
    import xarray as xr

    ds = ga.simulate(ga.MLP(depth=5, width=8), batch=2)
    path = tmp_path / "run.nc"
    ds.to_netcdf(path, engine="scipy")
    back = xr.load_dataset(path, engine="scipy")
    np.testing.assert_array_equal(back.log10_grad_norm, ds.log10_grad_norm)


def test_materialize_reproduces_q_and_the_inits():
    spec = ga.MLP(depth=6, widths=(20, 30, 25, 25, 40, 10, 15), activation="relu", init="he_uniform", sigma_b=0.2)
    arrays = ga.materialize(spec, batch=5, seed=8)
    assert [w.shape for w in arrays["weights"]] == [(30, 20), (25, 30), (25, 25), (40, 25), (10, 40), (15, 10)]
    assert arrays["inputs"].shape == (5, 20) and arrays["projections"].shape == (5, 15)
    # He uniform: entries on [-sqrt(6 / fan_in), sqrt(6 / fan_in)].
    for w, fan_in in zip(arrays["weights"], spec.layer_widths[:-1]):
        assert np.abs(w).max() <= np.sqrt(6 / fan_in)
    a, q = arrays["inputs"], []
    for w, b in zip(arrays["weights"], arrays["biases"]):
        h = a @ w.T + b
        q.append(np.mean(h * h))
        a = np.maximum(h, 0)
    ds = ga.simulate(spec, batch=5, seed=8, dtype="float64")
    np.testing.assert_allclose(ds.q.values, q, rtol=1e-12)


def test_materialize_float32_weights_are_the_float32_draws():
    spec = ga.MLP(depth=2, width=6, init="lecun_normal")
    w32 = ga.materialize(spec, seed=1, dtype="float32")["weights"][0]
    w64 = ga.materialize(spec, seed=1, dtype="float64")["weights"][0]
    # float32 draws are within 6e-7 relative of the float64 ones (test_core.py)
    np.testing.assert_allclose(w32, w64, rtol=6e-7)
    assert not np.array_equal(w32, w64)


def test_orthogonal_gain():
    spec = ga.MLP(depth=2, width=16, init="orthogonal", sigma_w=1.7)
    w = ga.materialize(spec)["weights"][1]
    np.testing.assert_allclose(w @ w.T, 1.7**2 * np.eye(16), atol=1e-12)


def test_xavier_variance_with_unequal_widths():
    spec = ga.MLP(depth=1, widths=(300, 100), init="xavier_normal")
    w = ga.materialize(spec)["weights"][0]
    assert w.var() == pytest.approx(2 / 400, rel=0.05)  # 2 / (fan_in + fan_out), 3e4 entries


def test_progress_callback_sees_the_whole_run():
    seen = []
    ga.simulate(ga.MLP(depth=50, width=16), batch=2, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (100, 100)  # forward and backward through 50 layers


def test_exploding_network_reports_nonfinite():
    spec = ga.MLP(depth=200, width=64, activation="relu", init=None, sigma_w=4.0)
    ds = ga.simulate(spec, batch=4, dtype="float32")
    assert ds.regime == "nonfinite"
    assert ds.nonfinite_kind == "forward_overflow"
    layer = int(ds.first_nonfinite_layer)
    # q grows by sigma_w^2 / 2 = 8 per layer; h overflows float32 at |h| ~ 3e38,
    # q ~ 1e76, near layer log_8(1e76) = 84. relu without bias is positively
    # homogeneous, so gradatlas keeps the forward scale exactly (q stays finite,
    # in float64) and reports where the float32 network itself overflows.
    assert 80 <= layer <= 90
    assert 1e74 < float(ds.q.sel(layer=layer)) < 1e78
    assert np.isfinite(ds.q).all() and np.isfinite(ds.log10_grad_norm).all()
    assert float(ds.log10_rate) == pytest.approx(np.log10(4.0**2 / 2) / 2, abs=0.02)


def test_relu_with_lecun_init_vanishes_exactly_past_the_float_range():
    # sigma_w = 1 relu: the signal and the gradient shrink by sqrt(1/2) per layer; after
    # 2000 layers (q ~ 1e-602) both are far below float32 and float64, yet the report is exact.
    spec = ga.MLP(depth=2000, width=128, activation="relu", init="lecun_normal")
    ds = ga.simulate(spec, batch=8, dtype="float32")
    assert int(ds.first_nonfinite_layer) == -1 and ds.regime == "vanishing"
    expected = np.log10(0.5) / 2 * 1999  # chi1 = sigma_w^2 / 2
    assert float(ds.total_log10_ratio) == pytest.approx(expected, rel=0.05)
    assert (ds.dead_fraction < 0.7).all()  # units are not dead: the signal was never flushed to zero


def test_dead_relu_network_gradient_is_exactly_zero():
    spec = ga.MLP(depth=3, width=4, activation="relu", init=None, sigma_w=0.0, sigma_b=0.0)
    ds = ga.simulate(spec, batch=2)
    assert (ds.dead_fraction == 1).all()
    assert np.isneginf(ds.log10_grad_norm).all() and ds.regime == "vanishing"


def test_blas_and_threads_are_exposed():
    assert "OpenBLAS" in ga.blas_config()
    assert ga.max_threads() >= 1
    assert isinstance(ga.has_openmp, bool)


def test_ctrl_c_stops_a_long_run():
    """SIGINT during a run that would take minutes ends it with KeyboardInterrupt promptly."""
    code = textwrap.dedent("""
        import sys, gradatlas as ga
        print("ready", flush=True)
        try:
            ga.simulate(ga.MLP(depth=200_000, width=256), batch=16)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)  # generous: a functional check, not a benchmark
    finally:
        proc.kill()
    assert proc.returncode == 3 and "interrupted" in out


def test_numpy_booleans_are_booleans():
    spec = ga.MLP(depth=2, residual=np.bool_(True))
    assert spec.residual is True
    with pytest.raises(TypeError, match="residual must be True or False, got 1"):
        ga.MLP(depth=2, residual=1)
