"""Convolutional networks against independent references, and what is known of them.

The NumPy reference writes each convolution as the dense matrix it is (pixels x
channels on both sides, zeros or wrapped at the edges) and runs the
feed-forward reference (tests/reference.py) on it, in float64: it shares no
code with the engine's im2col products. Tolerance 1e-12 decades: the two sum
in different orders, ~1e-16 relative per operation over 4 layers (seen:
2e-16). PyTorch, where installed, gives the same numbers from
``materialize``'s kernels through ``torch.nn.Conv2d`` and autograd.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import reference

import gradatlas as ga


def dense(kernel: np.ndarray, side: int, circular: bool) -> np.ndarray:
    """The convolution with a (C_out, C_in, K, K) kernel as a matrix on rows of pixels x channels."""
    c_out, c_in, k, _ = kernel.shape
    m = np.zeros((side * side * c_out, side * side * c_in))
    for y, x, dy, dx in itertools.product(range(side), range(side), range(k), range(k)):
        yy, xx = y + dy - k // 2, x + dx - k // 2
        if circular:
            yy, xx = yy % side, xx % side
        elif not (0 <= yy < side and 0 <= xx < side):
            continue
        p, q = y * side + x, yy * side + xx
        m[p * c_out:(p + 1) * c_out, q * c_in:(q + 1) * c_in] += kernel[:, :, dy, dx]
    return m


def rows(images: np.ndarray) -> np.ndarray:
    """(B, C, H, W) -> (B, H * W * C), channel fastest."""
    return images.transpose(0, 2, 3, 1).reshape(images.shape[0], -1)


def shifted(a: np.ndarray, dy: int, dx: int, circular: bool) -> np.ndarray:
    """a (B, H, W, C) read at (y + dy, x + dx): wrapped, or zero past the edges."""
    if circular:
        return np.roll(a, (-dy, -dx), axis=(1, 2))
    side = a.shape[1]
    out = np.zeros_like(a)
    ys, xs = slice(max(0, -dy), min(side, side - dy)), slice(max(0, -dx), min(side, side - dx))
    out[:, ys, xs] = a[:, max(0, dy):min(side, side + dy), max(0, dx):min(side, side + dx)]
    return out


def kernel_gradient_log10_norm(spec: ga.ConvNet, l: int, g: np.ndarray, a_prev: np.ndarray) -> float:
    """log10 |d(mean_b l_b)/dW_l|_F of layer l's kernel, from dl_b/dh (g) and its input (B x pixels*C)."""
    b, side, k = g.shape[0], spec.image_size, spec.kernels[l - 1]
    c_in, c_out = spec.conv_channels[0][l - 1], spec.conv_channels[1][l - 1]
    grad_h, a = g.reshape(b, side, side, c_out), a_prev.reshape(b, side, side, c_in)
    kernel = np.empty((c_out, c_in, k, k))
    for dy, dx in itertools.product(range(k), range(k)):
        kernel[:, :, dy, dx] = np.einsum("byxo,byxi->oi", grad_h,
                                         shifted(a, dy - k // 2, dx - k // 2, spec.padding == "circular"))
    return float(np.log10(np.linalg.norm(kernel) / b))


def dense_arrays(spec: ga.ConvNet, materialized: dict) -> dict:
    """materialize's kernels, biases, inputs and projections as the dense reference's matrices and rows."""
    side = spec.image_size
    return {"weights": [dense(k, side, spec.padding == "circular") for k in materialized["weights"]],
            "biases": [np.tile(b, side * side) for b in materialized["biases"]],
            "inputs": rows(materialized["inputs"]), "projections": rows(materialized["projections"])}


def reference_of(spec: ga.ConvNet, batch: int, seed: int, loss: str = "projection") -> dict:
    arrays = dense_arrays(spec, ga.materialize(spec, batch=batch, seed=seed))
    side = spec.image_size
    channels = list(spec.conv_channels[1])  # each layer's output channels, for batch norm
    if spec.block == "c2f":
        out = reference.c2f_backward(spec, arrays, side * side, channels, loss=loss)
        layers = out["layers"]
    else:
        out = reference.backward(spec, arrays, loss=loss, channels=channels)
        layers = reference.forward(spec, arrays, channels=channels)["layers"]
    out["log10_kernel_grad_norm"] = np.array([kernel_gradient_log10_norm(spec, l, g, lay["a_prev"])
                                              for l, (g, lay) in enumerate(zip(out["grads"], layers), start=1)])
    return out


def assert_matches_reference(ds, ref: dict) -> None:
    """Every reported profile of a float64 run against reference_of's, to 1e-12 (see the top)."""
    np.testing.assert_allclose(ds.log10_grad_norm.values, ref["log10_grad_norm"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds.log10_grad_norm_rms.values, ref["log10_grad_norm_rms"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds.q.values, ref["q"], rtol=1e-12)
    np.testing.assert_allclose(ds.c.values, ref["c"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ds.log10_weight_grad_norm.values, ref["log10_kernel_grad_norm"], rtol=0, atol=1e-12)


ARCHITECTURES = ((None, False, "tanh"), ("batch", False, "relu"), ("layer", True, "gelu"), (None, True, "silu"))
CASES = [dict(padding=p, norm=n, residual=r, activation=a) for p in ("zeros", "circular") for n, r, a in ARCHITECTURES]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c.values())))
@pytest.mark.parametrize("loss", ["projection", "sum_squares"])
def test_matches_the_convolution_as_dense_matrices(case, loss):
    spec = ga.ConvNet(depth=4, channels=3, image_size=5, init=None, sigma_w=1.4, sigma_b=0.2, alpha=0.6, **case)
    ds = ga.simulate(spec, batch=3, seed=7, dtype="float64", loss=loss)
    assert_matches_reference(ds, reference_of(spec, 3, 7, loss))


def test_kernels_and_inits():
    spec = ga.ConvNet(depth=2, channels=4, kernel_size=3, image_size=4, init="delta_orthogonal", sigma_w=1.5)
    w = ga.materialize(spec)["weights"][0]
    assert w.shape == (4, 4, 3, 3)
    centre = w[:, :, 1, 1]
    np.testing.assert_allclose(centre @ centre.T, 1.5**2 * np.eye(4), atol=1e-12)
    w[:, :, 1, 1] = 0
    assert not w.any()
    he = ga.ConvNet(depth=1, channels=8, kernel_size=5, init="he_normal")
    assert he.fan_in == 200 and he.sigma_w_per_layer()[0] == pytest.approx(np.sqrt(2))
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        ga.ConvNet(depth=2, kernel_size=4)
    with pytest.raises(ValueError, match="padding must be one of"):
        ga.ConvNet(depth=2, padding="reflect")
    with pytest.raises(ValueError, match="init must be one of"):
        ga.ConvNet(depth=2, init="identity")


def test_delta_orthogonal_tanh_keeps_its_gradient_where_gaussian_kernels_lose_it():
    # At sigma_b = 0 and gain 1 (chi1 = 1 for both) a delta-orthogonal tanh CNN is
    # close to dynamically isometric (Xiao et al. 2018): over 300 layers of 16
    # channels its gradient falls by 1.3 decades (seen), Gaussian kernels' by 9.8.
    delta = ga.simulate(ga.ConvNet(depth=300, channels=16, image_size=6, init="delta_orthogonal"), batch=4)
    gauss = ga.simulate(ga.ConvNet(depth=300, channels=16, image_size=6, init=None, sigma_w=1.0), batch=4)
    assert float(delta.chi1) == pytest.approx(float(gauss.chi1))
    assert float(delta.total_log10_ratio) > -2.5 and float(gauss.total_log10_ratio) < -7.5


def test_mean_field_with_fan_in_k2c():
    # Gaussian kernels, circular padding (every pixel sees a full patch): the fully
    # connected mean field with fan-in K^2 C. At 32 channels the measured rates are
    # -0.030 and +0.051 decades per layer against -0.035 and +0.049 predicted (the
    # finite-width shift of the ordered side); a wrong fan-in (C, not 9 C) would
    # predict rates of the wrong sign. Within 25% of the prediction, same sign.
    ds = ga.sweep(ga.ConvNet(depth=60, channels=32, image_size=8, padding="circular", init=None, sigma_w=1.0,
                             sigma_b=0.1), sigma_w=[1.0, 1.8], batch=8, seeds=[1], progress=False)
    np.testing.assert_allclose(ds.log10_rate.values, ds.predicted_log10_rate.values, rtol=0.25)
    assert (ds.chi1.sel(sigma_w=1.0) < 1).all() and (ds.chi1.sel(sigma_w=1.8) > 1).all()


def test_sweeps_and_the_shorthand():
    template = ga.sweep(ga.ConvNet(depth=6, channels=4, image_size=5, init=None, sigma_w=1.0), depth=[3, 6],
                        sigma_w=[1.0, 2.0], batch=2, progress=False)
    shorthand = ga.sweep(channels=4, image_size=5, depth=[3, 6], sigma_w=[1.0, 2.0], init=None, batch=2,
                         progress=False)
    assert template.attrs["network"] == "convolutional"
    np.testing.assert_array_equal(template.log10_grad_norm.values, shorthand.log10_grad_norm.values)
    with pytest.raises(ValueError, match="apply to convolutional sweeps only"):
        ga.sweep(image_size=8, depth=3, progress=False)
    with pytest.raises(ValueError, match="not both"):
        ga.sweep(channels=4, cell="rnn", progress=False)
    with pytest.raises(ValueError, match="width does not apply to convolutional sweeps"):
        ga.sweep(channels=2, width=[8, 16], depth=3, image_size=4, progress=False)
    # The shorthand's network is the template's: ConvNet's own default init (he_normal).
    default = ga.sweep(channels=3, image_size=4, depth=3, batch=2, progress=False)
    one = ga.simulate(ga.ConvNet(depth=3, channels=3, image_size=4), batch=2)
    np.testing.assert_array_equal(default.log10_grad_norm.sel(seed=0).values, one.log10_grad_norm.values)


def test_pytorch_gives_the_same_gradients():
    torch = pytest.importorskip("torch")
    spec = ga.ConvNet(depth=3, channels=3, image_size=5, padding="circular", norm="batch", residual=True, alpha=0.5,
                      activation="tanh", init=None, sigma_w=1.3, sigma_b=0.2)
    w = ga.materialize(spec, batch=3, seed=2)
    x = torch.tensor(w["inputs"])
    hs, convs = [], []
    for kernel, bias in zip(w["weights"], w["biases"]):
        conv = torch.nn.Conv2d(3, 3, 3, padding=1, padding_mode="circular").double()
        convs.append(conv)
        conv.weight.data, conv.bias.data = torch.tensor(kernel), torch.tensor(bias)
        h = conv(x)
        h.retain_grad()
        hs.append(h)
        n = torch.nn.functional.batch_norm(h, None, None, training=True, eps=1e-5)
        x = x + spec.alpha * torch.tanh(n)
    (x * torch.tensor(w["projections"])).sum().backward()
    torch_norms = [np.log10(h.grad.flatten(1).norm(dim=1).numpy()).mean() for h in hs]
    ds = ga.simulate(spec, batch=3, seed=2, dtype="float64")
    np.testing.assert_allclose(ds.log10_grad_norm.values, torch_norms, rtol=0, atol=1e-12)
    kernel_norms = [np.log10(conv.weight.grad.norm().item() / 3) for conv in convs]  # the batch-mean loss
    np.testing.assert_allclose(ds.log10_weight_grad_norm.values, kernel_norms, rtol=0, atol=1e-12)


def test_linear_delta_orthogonal_keeps_the_gradient_exactly():
    # Linear, delta-orthogonal, circular, no bias: every layer is an orthogonal map of
    # the whole image (one orthogonal C x C matrix per pixel), so |dl/dh_l| is the same
    # at every layer; float64 rounding over 1000 layers stays below 1e-12 decades.
    spec = ga.ConvNet(depth=1000, channels=6, image_size=4, activation="linear", init="delta_orthogonal",
                      padding="circular")
    ds = ga.simulate(spec, batch=2, dtype="float64")
    g = ds.log10_grad_norm.values
    np.testing.assert_allclose(g, g[-1], rtol=0, atol=1e-12)
    assert float(ds.predicted_log10_rate) == pytest.approx(0.0, abs=1e-15)


BOTTLENECKS = [dict(norm="batch", activation="silu", residual=True, padding="zeros"),  # YOLO's Conv-BN-SiLU
               dict(norm=None, activation="relu", residual=True, padding="circular", bottleneck_channels=3),
               dict(norm="layer", activation="tanh", residual=False, padding="zeros")]


@pytest.mark.parametrize("case", BOTTLENECKS, ids=lambda c: "-".join(map(str, c.values())))
@pytest.mark.parametrize("loss", ["projection", "sum_squares"])
def test_bottleneck_matches_the_dense_reference(case, loss):
    # 1x1 (8 -> 2 or 3 channels), 3x3, 1x1 back to 8, twice; the skip spans each block.
    spec = ga.ConvNet(depth=6, channels=8, image_size=4, block="bottleneck", init=None, sigma_w=1.3, sigma_b=0.1,
                      alpha=0.7, **case)
    assert spec.kernels == (1, 3, 1, 1, 3, 1)
    ds = ga.simulate(spec, batch=3, seed=5, dtype="float64", loss=loss)
    ref = reference_of(spec, 3, 5, loss)
    np.testing.assert_allclose(ds.log10_grad_norm.values, ref["log10_grad_norm"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds.q.values, ref["q"], rtol=1e-12)
    np.testing.assert_allclose(ds.log10_weight_grad_norm.values, ref["log10_kernel_grad_norm"], rtol=0, atol=1e-12)
    # checkpointing inside a block is moved to the block's edge and changes no bit
    from gradatlas.simulate import run_specs

    whole = run_specs([spec], batch=3, seed=5, dtype="float64", loss=loss)
    for every in (1, 2, 4):
        again = run_specs([spec], batch=3, seed=5, dtype="float64", loss=loss, checkpoint_every=every)
        for k in whole:
            np.testing.assert_array_equal(whole[k], again[k], err_msg=f"{k}, checkpoint_every={every}")


def test_bottleneck_through_pytorch():
    pytest.importorskip("torch")
    spec = ga.ConvNet(depth=9, channels=8, image_size=4, block="bottleneck", norm="batch", activation="silu",
                      residual=True, sigma_b=0.1)
    net = ga.to_torch(spec, batch=3, seed=1)
    net.loss(net()).backward()
    got = [np.log10(h.grad.flatten(1).norm(dim=1).numpy()).mean() for h in net.preactivations]
    ds = ga.simulate(spec, batch=3, seed=1, dtype="float64")
    np.testing.assert_allclose(ds.log10_grad_norm.values, got, rtol=0, atol=1e-10)
    assert [tuple(layer.weight.shape) for layer in net.layers[:3]] == [(2, 8, 1, 1), (2, 2, 3, 3), (8, 2, 1, 1)]


def test_bottleneck_settings():
    with pytest.raises(ValueError, match="multiple of 3"):
        ga.ConvNet(depth=4, block="bottleneck")
    with pytest.raises(ValueError, match="block"):
        ga.ConvNet(depth=3, block="dense")
    spec = ga.ConvNet(depth=6, channels=16, block="bottleneck", residual=True)
    assert spec.layer_channels == (16, 4, 4, 16, 4, 4, 16) and spec.inner_channels == 4
    ds = ga.simulate(spec, batch=2)
    assert np.isnan(ds.predicted_log10_grad_norm).all()  # no layer-wise mean field over a block's skip
    assert np.isfinite(ga.simulate(spec.replace(residual=False), batch=2).predicted_log10_grad_norm).all()
    # sweeps over depth in blocks share one group (a shallower network is a prefix of the deepest)
    grid = ga.sweep(spec, depth=[3, 6], block="bottleneck", batch=2, progress=False)
    np.testing.assert_array_equal(grid.log10_grad_norm.sel(depth=3, seed=0).values[:3],
                                  ga.simulate(spec.replace(depth=3), batch=2).log10_grad_norm.values)


def test_bottleneck_configurations_alone_equal_them_in_a_group():
    from gradatlas.simulate import run_specs

    base = ga.ConvNet(depth=6, channels=8, image_size=4, block="bottleneck", residual=True, init=None, sigma_w=1.2)
    variants = [base, base.replace(norm="batch", activation="relu"), base.replace(residual=False, alpha=0.3),
                base.replace(activation="relu", sigma_b=0.0)]  # homogeneous: rescaled at block edges only
    for dtype in ("float32", "float64"):
        group = run_specs(variants, batch=4, seed=3, dtype=dtype, n_threads=2)
        for i, spec in enumerate(variants):
            alone = run_specs([spec], batch=4, seed=3, dtype=dtype, n_threads=1)
            for k in alone:
                np.testing.assert_array_equal(group[k][i], alone[k][0], err_msg=f"{k} of {spec}")


def test_homogeneous_bottleneck_in_log_space_matches_the_reference():
    # relu without bias or norm: the forward rows are kept at unit norm with a log scale, rescaled
    # only where a block closes (the skip adds the block's input at the block's own scale).
    spec = ga.ConvNet(depth=12, channels=8, image_size=3, block="bottleneck", bottleneck_channels=4, residual=True,
                      activation="relu",
                      init=None, sigma_w=2.5, sigma_b=0.0, padding="circular", alpha=0.8)
    ds = ga.simulate(spec, batch=2, seed=4, dtype="float64")
    ref = reference_of(spec, 2, 4)
    np.testing.assert_allclose(ds.log10_grad_norm.values, ref["log10_grad_norm"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds.q.values, ref["q"], rtol=1e-11)


def test_bottleneck_channels_sweep_and_independent_matrices():
    spec = ga.ConvNet(depth=3, channels=8, image_size=3, block="bottleneck", residual=True)
    grid = ga.sweep(spec, bottleneck_channels=[2, 4], batch=2, progress=False)
    for inner in (2, 4):  # each point runs its own widths (they differ: one group each)
        alone = ga.simulate(spec.replace(bottleneck_channels=inner), batch=2)
        np.testing.assert_array_equal(grid.log10_grad_norm.sel(bottleneck_channels=inner, seed=0).values,
                                      alone.log10_grad_norm.values)
    independent = ga.sweep(spec, depth=[3, 6], batch=2, common_random_numbers=False, progress=False)
    assert np.isfinite(independent.log10_grad_norm.sel(depth=6)).all()


# YOLOv8's C2f: 1x1 to 2c split in halves, n bottlenecks of two KxK convolutions, 1x1 over the concatenation.
C2F_CASES = [dict(norm="batch", activation="silu", residual=True, bottlenecks=1),
             dict(norm=None, activation="tanh", residual=False, bottlenecks=1, padding="circular"),
             dict(norm="layer", activation="gelu", residual=True, bottlenecks=2, alpha=0.6),
             dict(norm=None, activation="relu", residual=True, bottlenecks=2, sigma_b=0.0)]  # homogeneous


def _c2f(case: dict, blocks: int = 2, **changes) -> ga.ConvNet:
    settings = {"channels": 8, "image_size": 4, "block": "c2f", "init": None, "sigma_w": 1.3, "sigma_b": 0.1,
                **case, **changes}
    return ga.ConvNet(depth=blocks * (2 * settings["bottlenecks"] + 2), **settings)


@pytest.mark.parametrize("case", C2F_CASES, ids=lambda c: "-".join(map(str, c.values())))
@pytest.mark.parametrize("loss", ["projection", "sum_squares"])
def test_c2f_matches_the_dense_reference(case, loss):
    spec = _c2f(case)
    ds = ga.simulate(spec, batch=3, seed=5, dtype="float64", loss=loss)
    assert_matches_reference(ds, reference_of(spec, 3, 5, loss))


def test_the_c2f_reference_agrees_with_finite_differences():
    # The reference's chain rule through the split, bottlenecks and concat, checked entry by entry:
    # central differences of the summed loss in float64, step 1e-6, agree to ~1e-9 relative.
    spec = _c2f(dict(norm="layer", activation="tanh", residual=True, bottlenecks=2, alpha=0.7), blocks=1)
    arrays = dense_arrays(spec, ga.materialize(spec, batch=2, seed=3))
    side = spec.image_size
    channels = list(spec.conv_channels[1])
    grads = reference.c2f_backward(spec, arrays, side * side, channels)["grads"]
    rng = np.random.default_rng(0)
    for l in range(1, spec.depth + 1):
        for _ in range(3):
            b, i = int(rng.integers(2)), int(rng.integers(grads[l - 1].shape[1]))
            loss = [reference.losses(reference.c2f_forward(spec, arrays, side * side, channels,
                                                           h_shift=(l, b, i, d))["output"], arrays,
                                     "projection").sum() for d in (1e-6, -1e-6)]
            np.testing.assert_allclose((loss[0] - loss[1]) / 2e-6, grads[l - 1][b, i], rtol=1e-6, atol=1e-9)


def test_c2f_through_pytorch():
    pytest.importorskip("torch")
    spec = ga.ConvNet(depth=8, channels=8, image_size=4, block="c2f", norm="batch", activation="silu",
                      residual=True, sigma_b=0.1)
    net = ga.to_torch(spec, batch=3, seed=1)
    net.loss(net()).backward()
    got = [np.log10(h.grad.flatten(1).norm(dim=1).numpy()).mean() for h in net.preactivations]
    kernels = [np.log10(layer.weight.grad.norm().item() / 3) for layer in net.layers]
    ds = ga.simulate(spec, batch=3, seed=1, dtype="float64")
    np.testing.assert_allclose(ds.log10_grad_norm.values, got, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ds.log10_weight_grad_norm.values, kernels, rtol=0, atol=1e-10)
    assert [tuple(layer.weight.shape) for layer in net.layers[:4]] == [(8, 8, 1, 1), (4, 4, 3, 3), (4, 4, 3, 3),
                                                                      (8, 12, 1, 1)]


def test_c2f_settings():
    spec = ga.ConvNet(depth=12, channels=16, block="c2f", bottlenecks=2)
    assert spec.skip_span == 6 and spec.inner_channels == 8 and spec.kernels == (1, 3, 3, 3, 3, 1) * 2
    assert spec.layer_channels == (16, *(8, 8, 8, 8, 8, 16) * 2)
    assert spec.conv_channels == ((16, 8, 8, 8, 8, 32) * 2, (16, 8, 8, 8, 8, 16) * 2)
    with pytest.raises(ValueError, match="multiple of 6"):
        ga.ConvNet(depth=8, block="c2f", bottlenecks=2)
    with pytest.raises(ValueError, match="bottlenecks"):
        ga.ConvNet(depth=4, block="c2f", bottlenecks=0)
    ds = ga.simulate(ga.ConvNet(depth=4, channels=8, image_size=4, block="c2f"), batch=2)
    assert np.isnan(ds.predicted_log10_grad_norm).all()  # the concat reads several depths: no mean field
    # a bottleneck or plain spec ignores `bottlenecks`, and its JSON (and seeds) stay as they were
    assert ga.ConvNet(depth=3, block="bottleneck").to_json() == ga.ConvNet(depth=3, block="bottleneck",
                                                                           bottlenecks=1).to_json()
    assert "bottlenecks" not in ga.ConvNet(depth=4, block="c2f").to_json()


def test_c2f_groups_threads_and_checkpoints_change_no_bit():
    from gradatlas.simulate import run_specs

    base = _c2f(C2F_CASES[0], blocks=3, channels=12)
    variants = [base, base.replace(residual=False, alpha=0.3), base.replace(norm=None, activation="tanh"),
                base.replace(norm=None, activation="relu", sigma_b=0.0)]
    for dtype in ("float32", "float64"):
        group = run_specs(variants, batch=4, seed=3, dtype=dtype, n_threads=2)
        for i, spec in enumerate(variants):
            alone = run_specs([spec], batch=4, seed=3, dtype=dtype, n_threads=1)
            for k in alone:
                np.testing.assert_array_equal(group[k][i], alone[k][0], err_msg=f"{k} of {spec}")
        for every in (1, 3, 5):  # moved to the blocks' edges
            again = run_specs(variants, batch=4, seed=3, dtype=dtype, n_threads=2, checkpoint_every=every)
            for k in group:
                np.testing.assert_array_equal(group[k], again[k], err_msg=f"{k}, checkpoint_every={every}")


def test_c2f_depth_and_bottleneck_sweeps():
    spec = ga.ConvNet(depth=8, channels=8, image_size=4, block="c2f", norm="batch", activation="silu",
                      residual=True)
    assert ga.plan_sweep(spec, depth=[4, 8, 16], batch=2).groups == 1  # depths 4 and 8: heads of depth 16
    grid = ga.sweep(spec, depth=[4, 8, 16], batch=2, progress=False)
    for depth in (4, 8, 16):
        alone = ga.simulate(spec.replace(depth=depth), batch=2)
        for name in ("log10_grad_norm", "log10_weight_grad_norm", "q"):
            np.testing.assert_array_equal(grid[name].sel(depth=depth, seed=0).values[:depth], alone[name].values)
    from gradatlas import _runner  # the three heads under checkpointing, bit for bit

    points = [_runner.Point(spec.replace(depth=d), 0, 2, "float64") for d in (4, 8, 16)]
    (group,), _ = _runner.make_groups(points, common_random_numbers=True)
    whole = group.run("projection", 2, None)
    for every in (1, 5, 7):
        again = group.run("projection", 2, None, checkpoint_every=every)
        for k in whole:
            np.testing.assert_array_equal(whole[k], again[k], err_msg=f"{k}, checkpoint_every={every}")
    grid = ga.sweep(spec.replace(depth=12), bottlenecks=[1, 2], batch=2, progress=False)
    for n in (1, 2):
        alone = ga.simulate(spec.replace(depth=12, bottlenecks=n), batch=2)
        np.testing.assert_array_equal(grid.log10_grad_norm.sel(bottlenecks=n, seed=0).values,
                                      alone.log10_grad_norm.values)


@pytest.mark.parametrize("blocks, bottlenecks, sigma_w, residual", [(100, 1, 3.0, True), (1, 64, 6.0, True),
                                                                    (1, 64, 0.3, False)])
def test_deep_homogeneous_c2f_stays_in_log_space(blocks, bottlenecks, sigma_w, residual):
    # leaky relu without bias or norm, 400 or 130 convolutions (one C2f block of 64 bottlenecks): the
    # gradient and q leave float32's range (q to 10^164 over 100 blocks, 10^132 inside one block; or down
    # to 10^-200 inside one block while the block's first half y0 stays near 1). The state is rescaled at
    # every layer of a C2f block and each part of the concat keeps its own scale, so float32 agrees with
    # float64 to rounding accumulated over depth (seen: 5e-6 decades), and reports where a plain float32
    # network would overflow.
    spec = ga.ConvNet(depth=blocks * (2 * bottlenecks + 2), channels=8, image_size=3, block="c2f",
                      bottlenecks=bottlenecks, activation="leaky_relu", negative_slope=0.1, init=None,
                      sigma_w=sigma_w, sigma_b=0.0, residual=residual)
    f64 = ga.simulate(spec, batch=2, seed=2, dtype="float64")
    f32 = ga.simulate(spec, batch=2, seed=2, dtype="float32")
    assert np.abs(np.log10(f64.q.values)).max() > 100
    for name in ("log10_grad_norm", "log10_weight_grad_norm"):
        np.testing.assert_allclose(f32[name].values, f64[name].values, rtol=0, atol=1e-4, err_msg=name)
    np.testing.assert_allclose(np.log10(f32.q.values), np.log10(f64.q.values), rtol=0, atol=1e-4)
    assert int(f64.first_nonfinite_layer) == -1
    h_overflows = np.log10(f64.q.values).max() > 2 * np.log10(np.finfo(np.float32).max)  # q is the mean h^2
    assert (int(f32.first_nonfinite_layer) > 0) == h_overflows



@pytest.mark.parametrize("block, depth", [("bottleneck", 12), ("c2f", 12), ("c2f", 4)])
def test_the_time_estimate_probes_whole_blocks(block, depth):
    # plan_sweep times a probe of up to 10 layers: it ends where a block does (depth 12 -> 9 or 8)
    plan = ga.plan_sweep(ga.ConvNet(depth=depth, channels=8, image_size=4, block=block), batch=2)
    assert plan.seconds > 0 and np.isfinite(plan.seconds)
