"""Transformers against an independent float64 NumPy implementation, finite differences and PyTorch.

Tolerances. float64 engine against the NumPy reference: both sum the same
terms in different orders (the engine keeps the backward rows at unit norm
with a log10 scale): ~1e-16 relative per sublayer over at most 12 of them;
1e-12 decades catches any wrong term. One case is ill-conditioned by
construction and gets 1e-9: the sum_squares loss after a post-norm, where
dl/dy = N'(y)^T N(y) vanishes but for eps / var(y) (~1e-5), so both sides
compute it by cancelling 5 digits. float32 against float64: about 1e-7
relative per operation over a few thousand operations per sublayer, 1e-4
decades.
"""

from __future__ import annotations

import numpy as np
import pytest
import reference_transformer as reference

import gradatlas as ga

VARIANTS = {
    "pre-layer": ga.Transformer(depth=3, width=8, heads=2, seq_len=5, sigma_b=0.1),
    "post-rms-causal": ga.Transformer(depth=3, width=8, heads=4, seq_len=4, norm="post", norm_kind="rms",
                                      causal=True, alpha=0.8, q0=2.0, sigma_b=0.2),
    "deepnorm": ga.Transformer(depth=2, width=12, heads=3, seq_len=6, norm="deepnorm", activation="relu",
                               init="he_normal"),
    "none-mlp-only": ga.Transformer(depth=4, width=6, heads=1, seq_len=3, norm="none", attention=False,
                                    activation="tanh", init=None, sigma_w=1.5, mlp_ratio=2),
    "none-attention": ga.Transformer(depth=2, width=8, heads=8, seq_len=7, norm="none", alpha=0.5,
                                     init="lecun_normal", activation="silu", mlp_ratio=1.5, sigma_b=0.3),
    "one-token": ga.Transformer(depth=2, width=4, heads=2, seq_len=1, norm="pre", norm_kind="rms"),
}
COMPARED = ("log10_grad_norm", "q", "token_cosine", "attention_entropy", "log10_weight_grad_norm")


def _compare(spec: ga.Transformer, loss: str, atol: float) -> None:
    ds = ga.simulate(spec, batch=3, seed=2, dtype="float64", loss=loss)
    ref = reference.run(ga.materialize(spec, batch=3, seed=2, dtype="float64"), spec, loss)
    for name in COMPARED:
        got, expected = ds[name].values, ref[name]
        assert got.shape == expected.shape, name
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=name)
        np.testing.assert_allclose(got, expected, rtol=0, atol=atol, err_msg=name)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_engine_matches_the_numpy_reference(name):
    _compare(VARIANTS[name], "projection", 1e-12)


@pytest.mark.parametrize("name", ["pre-layer", "none-mlp-only", "none-attention"])
def test_sum_squares_matches_the_numpy_reference(name):
    _compare(VARIANTS[name], "sum_squares", 1e-12)


def test_sum_squares_after_a_post_norm_matches_to_its_conditioning():
    _compare(VARIANTS["post-rms-causal"], "sum_squares", 1e-9)


def _loss(materialized: dict, spec: ga.Transformer) -> float:
    out = reference.run(materialized, spec)["streams"][-1]
    return float((out * materialized["projections"]).sum())


@pytest.mark.parametrize("name", ["post-rms-causal", "deepnorm", "none-attention"])
def test_the_reference_backward_pass_matches_finite_differences(name):
    # Central differences of the reference's own forward pass: error ~ h^2 f''' ~ 1e-10 at h = 1e-5,
    # rounding ~ 1e-16 / h ~ 1e-11; 1e-6 relative leaves room and still catches any wrong term.
    spec = VARIANTS[name]
    m = ga.materialize(spec, batch=2, seed=3, dtype="float64")
    rng = np.random.default_rng(0)
    direction = rng.standard_normal(m["inputs"].shape)
    grad0 = reference.run(m, spec)["grads"][0]
    h = 1e-5
    plus = {**m, "inputs": m["inputs"] + h * direction}
    minus = {**m, "inputs": m["inputs"] - h * direction}
    numeric = (_loss(plus, spec) - _loss(minus, spec)) / (2 * h)
    assert numeric == pytest.approx(float((grad0 * direction).sum()), rel=1e-6)
    # One weight matrix: the reference's weight-gradient norm is that of d(sum of losses)/dW / B.
    layer = m["sublayers"][0]
    key = "in_proj_weight" if layer["type"] == "attn" else "w1"
    dw = rng.standard_normal(layer[key].shape)

    def shifted(step: float) -> dict:
        sub = [dict(s) for s in m["sublayers"]]
        sub[0][key] = layer[key] + step * dw
        return {**m, "sublayers": sub}

    numeric = (_loss(shifted(h), spec) - _loss(shifted(-h), spec)) / (2 * h)
    g = reference.run(m, spec)["weight_grads"][1]
    exact = np.concatenate([g["query"], g["key"], g["value"]]) if layer["type"] == "attn" else g["mlp_in"]
    assert numeric == pytest.approx(float((dw * exact).sum()), rel=1e-6)


def test_float32_follows_float64():
    spec = VARIANTS["pre-layer"].replace(depth=6, width=16, heads=4)
    d64 = ga.simulate(spec, batch=4, seed=1, dtype="float64")
    d32 = ga.simulate(spec, batch=4, seed=1, dtype="float32")
    for name in COMPARED:
        np.testing.assert_allclose(d32[name].values, d64[name].values, rtol=0, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("name", ["pre-layer", "post-rms-causal", "deepnorm", "none-mlp-only"])
def test_pytorch_autograd_agrees(name):
    torch = pytest.importorskip("torch")
    spec = VARIANTS[name]
    net = ga.to_torch(spec, batch=3, seed=4)
    net.loss(net()).backward()
    ds = ga.simulate(spec, batch=3, seed=4, dtype="float64")
    got = np.array([s.grad.flatten(1).norm(dim=1).log10().mean().item() for s in net.streams])
    np.testing.assert_allclose(got, ds.log10_grad_norm.values, rtol=0, atol=1e-10)
    # Weight gradients of the batch-mean loss: the summed loss's over B.
    for p, layer in enumerate(net.sublayers, start=1):
        if isinstance(layer, torch.nn.MultiheadAttention):
            d = spec.width
            grads = {"query": layer.in_proj_weight.grad[:d], "key": layer.in_proj_weight.grad[d:2 * d],
                     "value": layer.in_proj_weight.grad[2 * d:], "attn_out": layer.out_proj.weight.grad}
        else:
            grads = {"mlp_in": layer["w1"].weight.grad, "mlp_out": layer["w2"].weight.grad}
        for projection, g in grads.items():
            expected = np.log10(g.norm().item() / 3)
            got = float(ds.log10_weight_grad_norm.sel(sublayer=p, projection=projection))
            assert got == pytest.approx(expected, abs=1e-10), (p, projection)


def test_deepnorm_constants_follow_wang_et_al():
    spec = ga.Transformer(depth=6, width=16, heads=2, norm="deepnorm")
    a, b = spec.deepnorm_scales
    assert a == pytest.approx(12 ** 0.25) and b == pytest.approx(48 ** -0.25)
    assert spec.skip_scale == a
    plain = spec.replace(norm="post").weight_scales()
    np.testing.assert_allclose(spec.weight_scales() / plain, [1, 1, b, b, b, b])
    # xavier_normal per matrix: Var = 2 / (fan_in + fan_out).
    d, m = 16, 64
    np.testing.assert_allclose(plain**2, [2 / (2 * d)] * 4 + [2 / (d + m)] * 2)


def test_labels_and_shapes():
    spec = ga.Transformer(depth=3, width=8, heads=2, seq_len=4)
    ds = ga.simulate(spec, batch=2)
    assert ds.sizes["sublayer"] == 7
    assert list(ds.sublayer_type.values) == ["input", "attn", "mlp", "attn", "mlp", "attn", "mlp"]
    assert list(ds.block.values) == [0, 1, 1, 2, 2, 3, 3]
    assert list(ds.projection.values) == ["query", "key", "value", "attn_out", "mlp_in", "mlp_out"]
    w = ds.log10_weight_grad_norm
    assert np.isnan(w.sel(sublayer=0)).all()
    assert np.isfinite(w.sel(sublayer=1, projection=["query", "key", "value", "attn_out"])).all()
    assert np.isnan(w.sel(sublayer=1, projection=["mlp_in", "mlp_out"])).all()
    assert np.isfinite(w.sel(sublayer=2, projection=["mlp_in", "mlp_out"])).all()
    assert np.isnan(ds.attention_entropy.sel(sublayer=[0, 2, 4, 6])).all()
    entropy = ds.attention_entropy.sel(sublayer=[1, 3, 5])
    assert ((entropy > 0) & (entropy <= np.log(4) + 1e-6)).all()
    assert "no mean-field prediction" in ds.attrs["theory"]
    assert not [v for v in ds.data_vars if v.startswith("predicted")]


def test_causal_attention_sees_only_the_past():
    # The stream of token t must not depend on later tokens' inputs.
    spec = ga.Transformer(depth=2, width=8, heads=2, seq_len=5, causal=True, norm="pre")
    m = ga.materialize(spec, batch=2, seed=0, dtype="float64")
    changed = {**m, "inputs": m["inputs"].copy()}
    changed["inputs"][:, -1] += 1.0
    a = reference.run(m, spec)["streams"][-1]
    b = reference.run(changed, spec)["streams"][-1]
    np.testing.assert_array_equal(a[:, :-1], b[:, :-1])
    # and the engine agrees with that reference (so it masks too)
    _compare(spec, "projection", 1e-12)


def test_pre_ln_input_gradients_grow_with_depth_and_exceed_post_ln_ones():
    # Measured at width 64, 8 tokens, batch 4, seeds 0-3 (total_log10_ratio): Pre-LN 0.41-0.44 at
    # depth 6 and 0.93-1.01 at depth 96 (the input's gradient gains on the output's as the stream
    # grows, about logarithmically); Post-LN at depth 96 spreads over -0.73..+0.41 between seeds.
    ds = ga.sweep(ga.Transformer(depth=6, width=64, heads=4, seq_len=8), norm=["pre", "post"], depth=[6, 96],
                  batch=4, seeds=4, progress=False)
    ratio = ds.total_log10_ratio.mean("seed")
    pre, post = ratio.sel(norm="pre"), ratio.sel(norm="post")
    assert float(pre.sel(depth=96)) > float(pre.sel(depth=6)) + 0.3
    assert float(pre.sel(depth=96)) > float(post.sel(depth=96)) + 0.8


def test_bad_settings_are_refused_with_their_names():
    with pytest.raises(ValueError, match="heads must divide width"):
        ga.Transformer(depth=2, width=10, heads=4)
    with pytest.raises(ValueError, match="norm"):
        ga.Transformer(depth=2, norm="batch")
    with pytest.raises(ValueError, match="norm_kind"):
        ga.Transformer(depth=2, norm_kind="group")
    with pytest.raises(ValueError, match="mlp_ratio"):
        ga.Transformer(depth=2, mlp_ratio=0)
    with pytest.raises(ValueError, match="init"):
        ga.Transformer(depth=2, init="orthogonal")
    with pytest.raises(ValueError, match="depth"):
        ga.Transformer(depth=0)
    with pytest.raises(TypeError, match="heads"):
        ga.sweep(ga.Transformer(depth=2, width=8, heads=2), heads=[1, 2.5], progress=False)
    with pytest.raises(TypeError, match="cell"):
        ga.sweep(ga.Transformer(depth=2, width=8, heads=2), cell=["rnn"], progress=False)


def test_a_sweep_over_attention_has_no_sublayer_labels_and_still_plots(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from gradatlas import plot

    ds = ga.sweep(ga.Transformer(depth=2, width=8, heads=2, seq_len=3), attention=[True, False], batch=2,
                  progress=False)
    assert "sublayer_type" not in ds.coords and "block" not in ds.coords  # sublayer p differs between them
    assert np.isnan(ds.log10_grad_norm.sel(attention=False).sel(sublayer=[3, 4])).all()
    fig = plot.gradient_flow(ds)
    fig.savefig(tmp_path / "flow.png")
    plt.close(fig)


def test_small_mlp_ratios_are_checked_at_the_points_width():
    ds = ga.sweep(ga.Transformer(depth=1, width=64, heads=2, seq_len=2), mlp_ratio=[0.25, 1.0], batch=2,
                  progress=False)
    assert ds.sizes["mlp_ratio"] == 2
    with pytest.raises(ValueError, match="mlp_ratio"):
        ga.sweep(ga.Transformer(depth=1, width=2, heads=2, seq_len=2), mlp_ratio=[0.1], batch=2, progress=False)
