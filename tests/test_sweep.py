"""Sweeps: every point equals simulate bit for bit; grouping, threads and errors."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import xarray as xr

import gradatlas as ga

COMPARED = ["log10_grad_norm", "log10_grad_norm_rms", "log10_weight_grad_norm", "q", "c", "saturated_fraction",
            "dead_fraction", "predicted_log10_grad_norm", "predicted_q", "total_log10_ratio", "log10_rate",
            "depth_scale", "regime", "chi1", "predicted_log10_rate", "first_nonfinite_layer", "nonfinite_kind"]


def _assert_point_equals_simulate(point, spec, seed, **kw):
    ref = ga.simulate(spec, seed=seed, **kw)
    depth = spec.depth
    for name in COMPARED:
        a = point[name].values
        if "layer" in point[name].dims:
            a = a[:depth]
            assert np.isnan(point[name].values[depth:]).all(), name
        b = ref[name].values
        equal = np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        assert equal, f"{name}: sweep {a!r} != simulate {b!r} for {spec}"


def test_points_equal_simulate_bit_for_bit():
    ds = ga.sweep(activation=["tanh", "relu", "gelu"], sigma_w=[0.7, 1.4, 2.5], sigma_b=[0.0, 0.3],
                  depth=[5, 40], width=48, init=None, batch=4, seeds=2, progress=False)
    assert dict(ds.sizes) == {"depth": 2, "activation": 3, "sigma_b": 2, "sigma_w": 3, "seed": 2, "layer": 40}
    for depth in (5, 40):
        for act in ("tanh", "relu", "gelu"):
            for sw in (0.7, 2.5):
                for seed in (0, 1):
                    point = ds.sel(depth=depth, activation=act, sigma_w=sw, sigma_b=0.3, seed=seed)
                    spec = ga.MLP(depth=depth, width=48, activation=act, init=None, sigma_w=sw, sigma_b=0.3)
                    _assert_point_equals_simulate(point, spec, seed, batch=4)


def test_architecture_axes_and_batch_dtype_axes():
    ds = ga.sweep(residual=[False, True], norm=[None, "layer", "batch"], alpha=0.5, batch=[3, 5],
                  dtype=["float32", "float64"], depth=12, width=20, progress=False)
    assert list(ds.norm.values) == ["none", "layer", "batch"]
    point = ds.sel(residual=True, norm="batch", batch=5, dtype="float64", seed=0)
    spec = ga.MLP(depth=12, width=20, residual=True, norm="batch", alpha=0.5)
    _assert_point_equals_simulate(point, spec, 0, batch=5, dtype="float64")


@pytest.mark.skipif(not ga.has_openmp, reason="built without OpenMP")
def test_threads_do_not_change_results():
    kw = dict(activation=["tanh", "selu"], sigma_w=[0.9, 1.6], width=40, depth=[7, 30], batch=4, progress=False,
              seeds=[3, 4])
    one = ga.sweep(n_threads=1, **kw)
    two = ga.sweep(n_threads=2, **kw)
    assert one.identical(two)


def test_without_common_random_numbers_points_use_their_own_seed():
    ds = ga.sweep(sigma_w=[1.0, 1.5], init=None, depth=10, width=16, batch=3, common_random_numbers=False,
                  progress=False)
    seeds = ds.point_seed.values.ravel()
    assert len(set(seeds)) == 2 and 0 not in seeds
    for i, sw in enumerate([1.0, 1.5]):
        point = ds.isel(sigma_w=i, seed=0)
        spec = ga.MLP(depth=10, width=16, init=None, sigma_w=sw)
        _assert_point_equals_simulate(point, spec, int(point.point_seed), batch=3)
    crn = ga.sweep(sigma_w=[1.0, 1.5], init=None, depth=10, width=16, batch=3, progress=False)
    assert (crn.point_seed == 0).all()


def test_tanh_sweep_finds_the_critical_sigma_w():
    """The measured rate crosses zero where mean-field theory puts chi1 = 1.

    The rate is linear in sigma_w near the crossing with slope ~0.12 decades per
    layer per unit of sigma_w; at width 512 the measured rate differs from
    log10(chi1)/2 by up to ~1e-3 (finite width and sampling), so the crossing
    can move by ~0.01. A tolerance of 0.03 keeps a 3x margin and still rejects
    a wrong critical line (sigma_w* moves by 0.1 between sigma_b = 0.2 and 0.3).
    """
    sigma_w = np.round(np.linspace(1.1, 1.6, 11), 3)
    ds = ga.sweep(sigma_w=sigma_w, sigma_b=0.3, init=None, depth=120, width=512, batch=8, progress=False)
    rate = np.array([float(ds.sel(sigma_w=s, seed=0).log10_rate) for s in sigma_w])
    # Linear interpolation of the zero crossing (the rate increases with sigma_w).
    i = int(np.flatnonzero(np.diff(np.sign(rate)) > 0)[0])
    measured = sigma_w[i] - rate[i] * (sigma_w[i + 1] - sigma_w[i]) / (rate[i + 1] - rate[i])
    predicted = float(ga.theory.critical_line("tanh", 0.3))
    assert measured == pytest.approx(predicted, abs=0.03)


def test_mixed_normalizations_in_one_group_equal_simulate():
    # Batch norm and layer norm keep separate saved statistics inside one group.
    ds = ga.sweep(norm=["batch", "layer", None], depth=4, width=8, batch=4, dtype="float64", progress=False)
    for norm in ("batch", "layer"):
        spec = ga.MLP(depth=4, width=8, norm=norm)
        _assert_point_equals_simulate(ds.sel(norm=norm, seed=0), spec, 0, batch=4, dtype="float64")


def test_a_failing_group_stops_the_others_and_raises():
    calls = []

    def progress(done, total):
        calls.append(done)
        if len(calls) == 3:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        ga.sweep(seeds=4, depth=3000, width=64, batch=4, progress=progress, n_threads=2)


def test_plan_reports_points_groups_and_memory():
    plan = ga.plan_sweep(sigma_w=[1, 2, 3], sigma_b=[0.0, 0.1], depth=[10, 20], init=None, width=32, seeds=2)
    assert plan.points == 3 * 2 * 2 * 2
    assert plan.groups == 2  # one per seed: all configurations and depths share matrices
    assert plan.configurations == 12 and plan.memory_bytes > 0 and plan.seconds > 0
    assert "points" in str(plan)


def test_progress_callback_and_bar():
    seen = []
    ga.sweep(sigma_w=[1.0, 2.0], init=None, depth=30, width=16, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == seen[-1][1]
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    ga.sweep(sigma_w=[1.0, 2.0], init=None, depth=5, width=8, progress=True)  # a tqdm bar, no error


@pytest.mark.parametrize("kwargs,error,pattern", [
    (dict(sigma_w=[]), ValueError, r"sweep axis 'sigma_w' is empty"),
    (dict(sigma_w={1.0, 2.0}), TypeError, r"sweep axis 'sigma_w' must be a list"),
    (dict(activation=["tanh", "tnah"]), ValueError, r"activation must be one of .* got 'tnah'"),
    (dict(width=[16, -2]), ValueError, r"width must be >= 1, got -2"),
    (dict(depth=[0, 3]), ValueError, r"depth must be >= 1, got 0"),
    (dict(depth=[2.5]), TypeError, r"depth must be an integer"),
    (dict(sigma_b=[0.1, "x"]), TypeError, r"sigma_b must be a real number"),
    (dict(sigma_w=np.ones((2, 2))), ValueError, r"one-dimensional"),
    (dict(sigma_w=[1.0, 1.0]), ValueError, r"repeats values"),
    (dict(seeds=0), ValueError, r"seeds must be >= 1"),
    (dict(seeds=[-1]), ValueError, r"seeds\[i\] must be >= 0"),
    (dict(batch=[0]), ValueError, r"batch must be >= 1"),
    (dict(dtype=["float32", "int8"]), ValueError, r"dtype must be one of"),
    (dict(loss="l2"), ValueError, r"loss must be one of"),
    (dict(common_random_numbers="yes"), TypeError, r"common_random_numbers must be True or False"),
    (dict(progress="bar"), TypeError, r"progress must be True, False or a callable"),
    (dict(residual=[False, True], widths=None), TypeError, r"unknown settings \['widths'\]; accepted"),
    (dict(init=[None]), ValueError, r"sweep point .*give init"),
    (dict(norm="batch", batch=1), ValueError, r"batch must be >= 2 with norm='batch'"),
])
def test_bad_axes_are_refused_before_work(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        ga.sweep(**{"depth": 3, "width": 4, "progress": False, **kwargs})


def test_too_large_sweep_is_refused():
    with pytest.raises(ga.TooLargeError, match="needs about"):
        ga.sweep(depth=10, width=4000, sigma_w=list(np.linspace(0.5, 2, 40)), init=None, batch=2000, progress=False)


def test_ctrl_c_returns_what_finished():
    """SIGINT stops a sweep promptly; finished groups are kept and the rest are NaN."""
    code = textwrap.dedent("""
        import warnings, gradatlas as ga
        print("ready", flush=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = ga.sweep(depth=20000, width=128, seeds=[0, 1, 2, 3], batch=8, progress=False, n_threads=1)
        print("complete", ds.attrs["complete"], "finished", int(ds.regime.notnull().sum()),
              "warned", any("interrupted" in str(w.message) for w in caught), flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)  # a functional bound, not a benchmark
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "complete 0" in out and "warned True" in out


def test_a_template_spec_sweeps_its_own_settings():
    # The template form and the keyword shorthand describe the same grid: identical Datasets.
    template = ga.sweep(ga.MLP(depth=12, width=16, activation="relu", init="he_normal", residual=True, alpha=0.5),
                        sigma_b=[0.0, 0.1], batch=4, seeds=2, progress=False)
    shorthand = ga.sweep(depth=12, width=16, activation="relu", init="he_normal", residual=True, alpha=0.5,
                         sigma_b=[0.0, 0.1], batch=4, seeds=2, progress=False)
    xr.testing.assert_identical(template, shorthand)
    # A cell's template keeps its own init (lecun_normal), where the shorthand's default is xavier_normal.
    lstm = ga.sweep(ga.LSTM(steps=10, width=8, h0_std=0.2), forget_bias=[0.0, 2.0], batch=2, progress=False)
    one = ga.simulate(ga.LSTM(steps=10, width=8, h0_std=0.2, forget_bias=2.0), batch=2)
    np.testing.assert_array_equal(lstm.log10_grad_norm.sel(forget_bias=2.0, seed=0).values,
                                  one.log10_grad_norm.values)
    cells = ga.sweep(ga.RNN(steps=6, width=8), cell=["rnn", "gru"], batch=2, progress=False)
    assert list(cells.cell.values) == ["rnn", "gru"] and cells.attrs["network"] == "recurrent"
    plan = ga.plan_sweep(ga.MLP(depth=5, width=8), sigma_w=[1.0, 2.0], seeds=3)
    assert plan.points == 6


@pytest.mark.parametrize("spec,kwargs,error,match", [
    (ga.MLP(depth=3), dict(steps=[2, 3]), TypeError, r"sweep over a MLP takes axes or values of \['depth'"),
    (ga.LSTM(steps=3), dict(depth=[2, 3]), TypeError, r"sweep over a LSTM takes .*got \['depth'\]"),
    (ga.MLP(depth=2, widths=(3, 4, 5)), dict(sigma_w=[1, 2]), ValueError, r"explicit widths cannot be swept"),
    ({"depth": 3}, {}, TypeError, r"spec must be a gradatlas.MLP, RNN, LSTM, GRU, ConvNet or Transformer, got dict"),
    (ga.LSTM(steps=3), dict(activation=["tanh", "relu"]), TypeError, r"LSTM has no setting 'activation'"),
    (ga.GRU(steps=3), dict(forget_bias=2.0), TypeError, r"GRU has no setting 'forget_bias'"),
    (ga.MLP(depth=3), dict(sigma_w=[1.0, "x"]), TypeError, r"sigma_w"),
])
def test_bad_templates_are_refused_before_work(spec, kwargs, error, match):
    with pytest.raises(error, match=match):
        ga.sweep(spec, **kwargs, progress=False)

