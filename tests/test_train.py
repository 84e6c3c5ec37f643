"""Training runs against an independent NumPy implementation, and the two demonstrations."""

from __future__ import annotations

import numpy as np
import pytest
import reference_training

import gradatlas as ga

SPEC = ga.MLP(depth=4, width=6, activation="tanh", init=None, sigma_w=1.4, sigma_b=0.2)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("clip", [None, {"norm": 0.5}, {"value": 0.05}])
@pytest.mark.parametrize("spec", [SPEC, SPEC.replace(residual=True, alpha=0.5, activation="relu")])
def test_matches_numpy_reference(optimizer, clip, spec):
    # float64 throughout: only rounding differs (the log-space gradient and the
    # deferred scale), ~1e-15 relative per operation over 5 steps.
    ds = ga.train(spec, steps=5, lr=0.05, optimizer=optimizer, batch=3, seed=7, clip=clip, dtype="float64")
    ref = reference_training.train(spec, steps=5, lr=0.05, optimizer=optimizer, batch=3, seed=7, clip=clip)
    np.testing.assert_allclose(ds.loss.values, ref["loss"], rtol=1e-11)
    np.testing.assert_allclose(ds.log10_global_grad_norm.values, ref["global"], rtol=0, atol=1e-11)
    np.testing.assert_allclose(ds.log10_grad_norm.values, ref["grad"], rtol=0, atol=1e-11)
    np.testing.assert_allclose(ds.update_ratio.values, ref["ratio"], rtol=1e-9)
    np.testing.assert_array_equal(ds.clipped.values, ref["clipped"])
    if clip is not None:
        assert ds.clipped.values.any()  # the thresholds are low enough to act


def test_vanishing_regime_barely_moves_the_first_layers():
    # Deep sigmoid with Xavier weights: each layer multiplies the gradient by
    # ~sigma_w * E|sigma'| < 0.3, so over 20 layers the first layer's relative
    # update is ~11 decades below the last one's (measured 11.9 at step 1). The
    # threshold of 6 decades leaves room for seeds and float rounding.
    ds = ga.train(ga.MLP(depth=20, width=64, activation="sigmoid"), steps=5, lr=0.1, seed=0)
    ratio = np.log10(ds.update_ratio)
    assert np.all(ratio.sel(layer=20) - ratio.sel(layer=1) > 6)
    assert np.all(np.diff(ratio.isel(step=0).values) > 0)  # it grows layer by layer towards the output
    assert ds.attrs["first_nonfinite_step"] is None


def test_exploding_regime_needs_clipping():
    # leaky_relu (slope 0.2) with sigma_w = 2.5 over 40 layers: gradients of
    # ~1e22 in float32, so one SGD step throws the weights past the float range.
    spec = ga.MLP(depth=40, width=64, activation="leaky_relu", negative_slope=0.2, init=None, sigma_w=2.5)
    plain = ga.train(spec, steps=20, lr=0.01)
    assert plain.attrs["first_nonfinite_step"] is not None
    assert not np.isfinite(plain.loss.sel(step=plain.attrs["first_nonfinite_step"]).item())
    clipped = ga.train(spec, steps=20, lr=0.01, clip={"norm": 1.0})
    assert clipped.attrs["first_nonfinite_step"] is None
    assert np.isfinite(clipped.loss).all() and clipped.clipped.all()
    assert clipped.log10_global_grad_norm.isel(step=0).item() > 20  # reported exactly, far above max_norm


def test_initial_network_is_simulates():
    spec = ga.MLP(depth=6, width=16, activation="tanh")
    w = ga.materialize(spec, batch=4, seed=3)
    ds = ga.train(spec, steps=1, lr=1e-3, batch=4, seed=3, dtype="float64")
    ref = reference_training.train(spec, steps=1, lr=1e-3, optimizer="sgd", batch=4, seed=3)
    np.testing.assert_allclose(ds.loss.values, ref["loss"], rtol=1e-12)
    assert len(w["weights"]) == 6


def test_train_sweep_grid():
    ds = ga.train_sweep(ga.MLP(depth=5, width=8), lr=[0.01, 0.1], clip=[None, {"norm": 0.1}], steps=3, seeds=2)
    assert dict(ds.sizes) == {"lr": 2, "clip": 2, "seed": 2, "step": 3, "layer": 5}
    assert list(ds["clip"].values) == ["none", "norm=0.1"]
    one = ga.train(ga.MLP(depth=5, width=8), lr=0.1, clip={"norm": 0.1}, steps=3, seed=1)
    np.testing.assert_array_equal(ds.loss.sel(lr=0.1, clip="norm=0.1", seed=1).values, one.loss.values)
    assert (ds.first_nonfinite_step == -1).all()


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(steps=0), "steps"), (dict(lr=0.0), "lr"), (dict(lr=float("nan")), "lr"),
    (dict(optimizer="rmsprop"), "optimizer"), (dict(batch=0), "batch"), (dict(clip={"norm": -1.0}), "clip"),
    (dict(clip={"max": 1.0}), "clip"), (dict(clip="norm=abc"), "clip"), (dict(momentum=1.5), "momentum"),
    (dict(betas=(0.9,)), "betas"), (dict(eps=0.0), "eps"), (dict(dtype="float16"), "dtype"),
    (dict(seed=-1), "seed"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        ga.train(SPEC, **kwargs)


def test_bad_specs():
    with pytest.raises(ValueError, match="norm"):
        ga.train(SPEC.replace(norm="batch"))
    with pytest.raises(TypeError, match="MLP"):
        ga.train(ga.RNN(steps=3))


def test_training_and_spectrum_plots():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from gradatlas import plot

    spec = ga.MLP(depth=40, width=32, activation="leaky_relu", negative_slope=0.2, init=None, sigma_w=2.5)
    fig = plot.training(ga.train(spec, steps=6, lr=0.01))
    assert "non-finite" in fig.axes[0].get_legend().get_texts()[0].get_text()
    plt.close(fig)
    fig = plot.training(ga.train(spec, steps=6, lr=0.01, clip={"norm": 1.0}))
    assert fig.axes[1].get_ylabel().startswith("layer")
    plt.close(fig)
    spectra = {init: ga.jacobian_spectrum(ga.MLP(depth=10, width=32, activation="tanh", init=init))
               for init in ("orthogonal", "xavier_normal")}
    fig = plot.spectrum_density(spectra)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["orthogonal", "xavier_normal"]
    plt.close(fig)
    with pytest.raises(ValueError, match="one run"):
        plot.training(ga.train_sweep(ga.MLP(depth=3, width=4), lr=[0.1, 0.2], steps=2))


def test_training_is_bit_identical_on_any_thread_count():
    spec = ga.MLP(depth=8, width=48, activation="tanh", residual=True, alpha=0.5)
    one = ga.train(spec, steps=4, optimizer="adam", clip={"norm": 1.0}, n_threads=1)
    two = ga.train(spec, steps=4, optimizer="adam", clip={"norm": 1.0}, n_threads=2)
    for name in ("loss", "log10_grad_norm", "update_ratio", "log10_global_grad_norm"):
        np.testing.assert_array_equal(one[name].values, two[name].values, err_msg=name)
