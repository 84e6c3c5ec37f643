"""Width parametrizations (standard, NTK, muP) and the coordinate check (issue #17).

The check follows the mup package's: an MLP trained with Adam for a few steps at
hidden widths 64..1024, the mean absolute coordinate of each layer's output on a
fixed probe batch. Sizes here are averaged over 3 seeds of batch 64, which
keeps a layer's run-to-run spread below ~10%.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradatlas as ga
from gradatlas._parametrization import init_multipliers, lr_multipliers

WIDTHS = [64, 128, 256, 512, 1024]


def _sizes(parametrization: str) -> np.ndarray:
    runs = [ga.coord_check(ga.MLP(depth=4, width=32, activation="relu", init="he_normal"), widths=WIDTHS, steps=5,
                           parametrization=parametrization, optimizer="adam", lr=3e-3, batch=64, seed=seed)
            .activation_size.sel(step=5) for seed in range(3)]
    return (sum(runs) / 3).values  # (width, layer)


def test_mup_keeps_hidden_activations_flat_where_standard_grows():
    # Hidden layers (the readout applies relu to a muP output initialized near 0, so its size is
    # which units turned on, not a width scaling). Measured: muP 1.05 / 1.15 / 1.29x across
    # widths 64..1024, standard 1.04 / 3.15 / 11.4x.
    mup = _sizes("mup")[:, :-1]
    standard = _sizes("standard")[:, :-1]
    assert (mup.max(axis=0) / mup.min(axis=0) < 1.5).all()
    assert (standard.max(axis=0) / standard.min(axis=0))[1:].min() > 3.0


def multipliers(name: str, widths: tuple[int, ...], optimizer: str, base: int) -> tuple[np.ndarray, np.ndarray]:
    return init_multipliers(name, widths, base), lr_multipliers(name, widths, optimizer, base)


def test_multipliers_follow_the_table():
    widths = (32, 256, 256, 256, 32)  # input 32, hidden 256, base 64
    init, lr = multipliers("mup", widths, "adam", 64)
    np.testing.assert_allclose(init, [1, 1, 1, 0.5])  # output std sqrt(64/256)
    np.testing.assert_allclose(lr, [1, 0.25, 0.25, 0.25])
    init, lr = multipliers("mup", widths, "sgd", 64)
    np.testing.assert_allclose(lr, [4, 1, 1, 0.25])
    _, lr = multipliers("ntk", widths, "sgd", 64)
    np.testing.assert_allclose(lr, [1, 0.25, 0.25, 0.25])
    _, lr = multipliers("ntk", widths, "adam", 64)
    np.testing.assert_allclose(lr, [1, 0.5, 0.5, 0.5])
    for name in ("standard", "ntk", "mup"):  # at the base width every parametrization is the standard one
        for opt in ("sgd", "adam"):
            init, lr = multipliers(name, (32, 64, 64, 32), opt, 64)
            np.testing.assert_array_equal(init, 1.0)
            np.testing.assert_array_equal(lr, 1.0)


def test_standard_training_is_unchanged_and_mup_at_its_base_width_is_standard():
    spec = ga.MLP(depth=3, width=24, activation="tanh")
    plain = ga.train(spec, steps=4, optimizer="adam", lr=1e-3)
    same = ga.train(spec, steps=4, optimizer="adam", lr=1e-3, parametrization="mup")  # base = its own width
    for name in ("loss", "log10_grad_norm", "update_ratio"):
        np.testing.assert_array_equal(plain[name].values, same[name].values)
    wider = ga.train(spec, steps=4, optimizer="adam", lr=1e-3, parametrization="mup", base_width=12)
    assert not np.array_equal(plain.update_ratio.values, wider.update_ratio.values)


def test_coord_check_dataset_and_errors():
    ds = ga.coord_check(ga.MLP(depth=3, width=8, activation="tanh", init="lecun_normal", parametrization="mup"),
                        widths=[16, 32], steps=2)  # the spec's own parametrization
    assert dict(ds.sizes) == {"width": 2, "step": 3, "layer": 3}
    assert (ds.update_size.sel(step=0) == 0).all() and (ds.update_size.sel(step=2) > 0).all()
    assert ds.attrs["parametrization"] == "mup" and ds.attrs["base_width"] == 16
    with pytest.raises(ValueError, match="parametrization"):
        ga.coord_check(ga.MLP(depth=3, width=8), widths=[16], parametrization="mu")
    with pytest.raises(ValueError, match="depth >= 2"):
        ga.coord_check(ga.MLP(depth=1, width=8), widths=[16])
    with pytest.raises(ValueError, match="residual=False"):
        ga.coord_check(ga.MLP(depth=3, width=8, residual=True), widths=[16])
    with pytest.raises(ValueError, match="parametrization"):
        ga.train(ga.MLP(depth=2, width=8), steps=1, parametrization="ntk2")
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from gradatlas import plot

    fig = plot.coord_check(ds)
    assert len(fig.axes) == 3 and fig.axes[0].get_xscale() == "log"
    plt.close(fig)


def test_depth_scaling_keeps_the_residual_stream_and_its_updates_flat_across_depths():
    # The depth study: a residual tanh MLP (width 64) at depths 4..64, Adam lr 1e-3, 5 steps, 2 seeds, at the
    # last layer. Depth-muP (alpha / sqrt(L), Adam's lr / sqrt(L)) keeps the activation size within 1.01x and
    # the update size within 1.12x (measured); without it they grow 3.96x and 37.8x. (alpha / sqrt(L) with
    # Adam's lr unscaled, measured by hand: activations 1.09x but updates 4.17x, hence the lr's own scaling.)
    def last_layer(scaling: bool) -> tuple[np.ndarray, np.ndarray]:
        runs = []
        for seed in range(2):
            ds = ga.coord_check(ga.MLP(depth=4, width=64, activation="tanh", init="lecun_normal", residual=True),
                                depths=[4, 8, 16, 32, 64], steps=5, parametrization="standard", optimizer="adam",
                                lr=1e-3, batch=32, seed=seed, depth_scaling=scaling)
            assert dict(ds.sizes) == {"depth": 5, "step": 6, "layer": 64}
            runs.append([[float(ds[q].sel(depth=d, step=5, layer=d)) for d in ds.depth.values]
                         for q in ("activation_size", "update_size")])
        activation, update = np.mean(runs, axis=0)
        return activation, update

    spread = lambda x: x.max() / x.min()
    (scaled, scaled_update), (plain, plain_update) = last_layer(True), last_layer(False)
    assert spread(scaled) < 1.3 and spread(scaled_update) < 1.3
    assert spread(plain) > 3.0 and spread(plain_update) > 10.0
    with pytest.raises(ValueError, match="residual=True"):
        ga.coord_check(ga.MLP(depth=3, width=8), depths=[2, 4])
    with pytest.raises(TypeError, match="one of them"):
        ga.coord_check(ga.MLP(depth=3, width=8), widths=[8], depths=[2])


def test_parametrization_is_a_field_of_the_spec():
    # At its default it is left out of the spec's JSON (which independent seeds are drawn from), so
    # specs, seeds and stores from before the field are unchanged; off it, it is part of the identity.
    plain = ga.MLP(depth=3, width=16)
    assert "parametrization" not in plain.to_json() and "base_width" not in plain.to_json()
    mup = ga.MLP(depth=3, width=16, parametrization="mup", base_width=4)
    assert '"parametrization": "mup"' in mup.to_json() and mup != plain
    with pytest.raises(ValueError, match="parametrization must be one of"):
        ga.MLP(depth=3, width=16, parametrization="muP2")
    with pytest.raises(ValueError, match="base_width"):
        ga.MLP(depth=3, width=16, base_width=0)
    # muP multiplies the output layer's weights by sqrt(base / fan_in) and nothing else: same draws
    a = ga.materialize(plain, seed=3, batch=2)["weights"]
    b = ga.materialize(mup, seed=3, batch=2)["weights"]
    for layer in range(2):
        np.testing.assert_array_equal(a[layer], b[layer])
    np.testing.assert_allclose(b[2], a[2] * np.sqrt(4 / 16), rtol=1e-6)
    # train takes the spec's parametrization; its keyword gives the same run
    spec = ga.MLP(depth=3, widths=(8, 32, 32, 8), parametrization="mup", base_width=16)
    by_spec = ga.train(spec, steps=3, optimizer="adam", lr=1e-3)
    by_keyword = ga.train(spec.replace(parametrization="standard"), steps=3, optimizer="adam", lr=1e-3,
                          parametrization="mup")
    np.testing.assert_array_equal(by_spec.update_ratio.values, by_keyword.update_ratio.values)
    assert by_spec.attrs["parametrization"] == "mup"


def test_sweep_over_parametrizations():
    # One sweep point is its spec simulated alone; muP at the base width is the standard network;
    # the stored description leaves the field out at its default (stores from before it reopen).
    spec = ga.MLP(depth=5, width=32, base_width=8)
    ds = ga.sweep(spec, parametrization=["standard", "ntk", "mup"], batch=4, progress=False)
    alone = ga.simulate(spec.replace(parametrization="mup"), batch=4, seed=0)
    np.testing.assert_array_equal(ds.log10_grad_norm.sel(parametrization="mup", seed=0).values,
                                  alone.log10_grad_norm.values)
    np.testing.assert_array_equal(ds.log10_grad_norm.sel(parametrization="ntk").values,
                                  ds.log10_grad_norm.sel(parametrization="standard").values)
    assert not np.allclose(ds.log10_grad_norm.sel(parametrization="mup").values,
                           ds.log10_grad_norm.sel(parametrization="standard").values)
    # muP's multiplier is on the last layer, which moves with the depth: a depth axis runs each depth alone
    deep = ga.sweep(spec.replace(parametrization="mup"), depth=[3, 5], batch=4, progress=False)
    for d in (3, 5):
        alone = ga.simulate(spec.replace(parametrization="mup", depth=d), batch=4, seed=0)
        np.testing.assert_array_equal(deep.log10_grad_norm.sel(depth=d, seed=0).values[:d],
                                      alone.log10_grad_norm.values)
    fixed = ga.sweep(ga.MLP(depth=5, width=32), sigma_w=[1.0, 1.1], batch=2, progress=False).attrs["fixed"]
    assert "parametrization" not in fixed and "base_width" not in fixed
    with pytest.raises(ValueError, match="apply to feed-forward sweeps only"):
        ga.sweep(cell="rnn", steps=3, parametrization="mup")


def test_convnet_parametrization_scales_the_last_convolution():
    # muP on a ConvNet: the last kernel times sqrt(base_width / channels), the same draws otherwise;
    # at the default base (its own channels) it is the standard network, bit for bit.
    plain = ga.ConvNet(depth=3, channels=8, image_size=4)
    mup = plain.replace(parametrization="mup", base_width=2)
    a, b = (ga.materialize(s, seed=1, batch=2)["weights"] for s in (plain, mup))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(b[2], a[2] * np.sqrt(2 / 8), rtol=1e-6)
    same = ga.simulate(plain.replace(parametrization="mup"), batch=2, seed=1).log10_grad_norm.values
    np.testing.assert_array_equal(same, ga.simulate(plain, batch=2, seed=1).log10_grad_norm.values)
    ds = ga.sweep(mup, parametrization=["standard", "mup"], depth=[3, 6], batch=2, progress=False)
    for d in (3, 6):
        alone = ga.simulate(mup.replace(depth=d), batch=2, seed=0).log10_grad_norm.values
        np.testing.assert_array_equal(ds.log10_grad_norm.sel(parametrization="mup", depth=d, seed=0).values[:d],
                                      alone)
