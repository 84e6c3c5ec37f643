"""to_torch: PyTorch autograd on the module gradatlas exports gives every reported
gradient norm (float64, 1e-10 decades: the two sum in different orders, ~1e-16
per operation over at most a dozen layers or steps). Skipped without torch."""

from __future__ import annotations

import numpy as np
import pytest

import gradatlas as ga

torch = pytest.importorskip("torch")


def torch_norms(net, loss="projection"):
    net.loss(net(), loss).backward()
    tensors = net.states if hasattr(net, "states") else net.preactivations
    return np.array([np.log10(t.grad.flatten(1).norm(dim=1).numpy()).mean() for t in tensors])


SPECS = [
    ga.MLP(depth=6, width=10, activation="tanh", init=None, sigma_w=1.5, sigma_b=0.3),
    ga.MLP(depth=6, width=10, activation="softplus", residual=True, alpha=0.5, norm="layer"),
    ga.MLP(depth=6, width=10, activation="leaky_relu", negative_slope=0.2, norm="batch", init="he_uniform"),
    ga.MLP(depth=5, widths=(7, 12, 9, 12, 5, 8), activation="gelu", init="orthogonal"),
    ga.ConvNet(depth=4, channels=3, image_size=5, activation="silu", norm="batch", init=None, sigma_w=1.2),
    ga.ConvNet(depth=4, channels=3, image_size=4, padding="circular", residual=True, init="delta_orthogonal"),
    ga.RNN(steps=8, width=6, input_width=3, activation="relu", sigma_b=0.2, h0_std=0.5),
    ga.LSTM(steps=8, width=6, input_width=3, h0_std=0.5, loss_at="every"),
    ga.GRU(steps=8, width=6, input_width=3, h0_std=0.5, sigma_u=0.0),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: type(s).__name__ + "-" + str(abs(hash(repr(s))) % 1000))
@pytest.mark.parametrize("loss", ["projection", "sum_squares"])
def test_autograd_on_the_exported_module_gives_the_same_norms(spec, loss):
    net = ga.to_torch(spec, batch=3, seed=6)
    ds = ga.simulate(spec, batch=3, seed=6, dtype="float64", loss=loss)
    np.testing.assert_allclose(ds.log10_grad_norm.values, torch_norms(net, loss), rtol=0, atol=1e-10)


def test_the_module_holds_the_run_arrays():
    spec = ga.MLP(depth=3, width=5)
    net = ga.to_torch(spec, batch=2, seed=1)
    w = ga.materialize(spec, batch=2, seed=1)
    np.testing.assert_array_equal(net.layers[1].weight.detach().numpy(), w["weights"][1])
    np.testing.assert_array_equal(net.inputs.numpy(), w["inputs"])
    assert net(net.inputs * 2).shape == (2, 5)
