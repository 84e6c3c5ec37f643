"""``to_torch``: the exact network a run uses, as a PyTorch module (PyTorch is optional).

The module holds ``materialize``'s weights in float64 (or float32), the run's
inputs and the loss's projection vectors, so anyone can rebuild any number
gradatlas reports with autograd::

    net = ga.to_torch(ga.MLP(depth=50, width=64), batch=8, seed=0)
    net.loss(net()).backward()
    [h.grad.norm(dim=1).log10().mean() for h in net.preactivations]  # == simulate(...).log10_grad_norm

For recurrent specs the module unrolls the cell over the stored inputs and
``net.states`` holds h_0 .. h_T (the gradients of ``log10_grad_norm`` at step t).
For transformers ``net.streams`` holds the residual stream x_0 .. x_P, each
sublayer is ``torch.nn.MultiheadAttention`` (batch first) or two ``Linear``
layers, and the gradients of ``log10_grad_norm`` are those of the streams.
"""

from __future__ import annotations

from typing import Any

from ._runner import NORM_EPS
from .kinds import kind_of
from .simulate import materialize


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("to_torch needs PyTorch (pip install torch); gradatlas itself does not") from exc
    return torch


def _activation(torch: Any, name: str, slope: float) -> Any:
    f = torch.nn.functional
    table = {
        "linear": lambda x: x,
        "relu": f.relu,
        "leaky_relu": lambda x: f.leaky_relu(x, slope),
        "elu": f.elu,
        "selu": f.selu,
        "gelu": f.gelu,  # the exact erf form, as the core's
        "silu": f.silu,
        "softplus": lambda x: torch.logaddexp(x, torch.zeros_like(x)),  # no threshold, as the core's
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "hard_tanh": f.hardtanh,
        "erf": torch.erf,
    }
    return table[name]


def to_torch(spec: Any, *, batch: int = 16, seed: int = 0, dtype: Any = "float64") -> Any:
    """A ``torch.nn.Module`` holding exactly the weights, inputs and loss vectors of a run of ``spec``.

    ``net()`` runs the stored inputs forward (or ``net(x)`` other ones) and
    keeps every pre-activation h_l in ``net.preactivations`` with its gradient
    retained (``net.states``: h_0..h_T for recurrent specs); ``net.loss(out, loss)``
    is the summed per-sample loss gradatlas differentiates (``"projection"`` or
    ``"sum_squares"``). The arrays are ``materialize``'s for the same
    ``batch``, ``seed`` and ``dtype`` (float64 by default: the float32 run
    multiplies float32 standard matrices by their scales after the product, so
    it matches a float32 module only to rounding).
    """
    torch = _torch()
    kind = kind_of(spec)
    arrays = materialize(spec, batch=batch, seed=seed, dtype=dtype)
    torch_dtype = torch.float64 if arrays["dtype"] == "float64" else torch.float32
    build = {"feedforward": _FeedForward, "convolutional": _FeedForward, "recurrent": _Recurrent,
             "transformer": _Transformer}[kind.network]
    return build(torch, spec, arrays, torch_dtype)


def _module_base(torch: Any) -> Any:
    class Network(torch.nn.Module):
        def loss(self, out: Any, loss: str = "projection") -> Any:
            if loss == "projection":
                return (out * self.projections).sum()
            return 0.5 * (out * out).sum()
    return Network


def _FeedForward(torch: Any, spec: Any, arrays: dict[str, Any], dtype: Any) -> Any:
    f = torch.nn.functional
    conv = kind_of(spec).network == "convolutional"
    span = spec.skip_span if conv else 1
    phi = _activation(torch, spec.activation, spec.negative_slope)

    base: Any = _module_base(torch)

    class FeedForward(base):
        """The MLP or ConvNet of a gradatlas run, weights and all."""

        def __init__(self) -> None:
            super().__init__()
            layers = []
            for w, b in zip(arrays["weights"], arrays["biases"]):
                if conv:
                    c_out, c_in, k, _ = w.shape
                    layer = torch.nn.Conv2d(c_in, c_out, k, padding=k // 2, padding_mode=spec.padding)
                else:
                    layer = torch.nn.Linear(w.shape[1], w.shape[0])
                layer = layer.to(dtype)
                with torch.no_grad():
                    layer.weight.copy_(torch.from_numpy(w))
                    layer.bias.copy_(torch.from_numpy(b))
                layers.append(layer)
            self.layers = torch.nn.ModuleList(layers)
            self.register_buffer("inputs", torch.from_numpy(arrays["inputs"]).to(dtype))
            self.register_buffer("projections", torch.from_numpy(arrays["projections"]).to(dtype))
            self.preactivations: list[Any] = []

        def _norm(self, h: Any) -> Any:
            if spec.norm == "batch":
                return f.batch_norm(h, None, None, training=True, eps=NORM_EPS)
            if spec.norm == "layer":
                return f.layer_norm(h, h.shape[1:], eps=NORM_EPS)
            return h

        def _conv(self, l: int, a: Any) -> Any:
            """phi(N(h_l)) of layer l (from 1), keeping h_l for its gradient."""
            h = self.layers[l - 1](a)
            if h.requires_grad:
                h.retain_grad()
            self.preactivations.append(h)
            return phi(self._norm(h))

        def _c2f(self, first: int, x: Any) -> Any:
            """YOLOv8's C2f from layer `first`: split, bottlenecks, and a convolution over the concatenation."""
            ys = list(self._conv(first, x).chunk(2, 1))
            for k in range(spec.bottlenecks):
                inner = self._conv(first + 2 + 2 * k, self._conv(first + 1 + 2 * k, ys[-1]))
                ys.append(ys[-1] + spec.alpha * inner if spec.residual else inner)
            return self._conv(first + span - 1, torch.cat(ys, 1))

        def forward(self, x: Any = None) -> Any:
            a = self.inputs if x is None else x
            self.preactivations = []
            if conv and spec.block == "c2f":
                for first in range(1, spec.depth + 1, span):
                    a = self._c2f(first, a)
                return a
            block_input = a
            for l in range(1, len(self.layers) + 1):
                if (l - 1) % span == 0:  # a residual block (of one layer, or a bottleneck's three) opens
                    block_input = a
                p = self._conv(l, a)
                a = block_input + spec.alpha * p if spec.residual and l % span == 0 else p
            return a

    return FeedForward()


def _Recurrent(torch: Any, spec: Any, arrays: dict[str, Any], dtype: Any) -> Any:
    n_in, n = arrays["weight_ih"].shape[1], arrays["weight_hh"].shape[1]

    base: Any = _module_base(torch)

    class Recurrent(base):
        """The RNN, LSTM or GRU cell of a gradatlas run, unrolled over its stored inputs."""

        def __init__(self) -> None:
            super().__init__()
            cells = {"rnn": lambda: torch.nn.RNNCell(n_in, n, nonlinearity="tanh"),
                     "lstm": lambda: torch.nn.LSTMCell(n_in, n), "gru": lambda: torch.nn.GRUCell(n_in, n)}
            self.cell = cells[spec.cell]().to(dtype)
            with torch.no_grad():
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(self.cell, name).copy_(torch.from_numpy(arrays[name]))
            self.phi = _activation(torch, spec.activation, spec.negative_slope) if spec.cell == "rnn" else None
            for name in ("inputs", "projections", "h0", *(("c0",) if spec.cell == "lstm" else ())):
                self.register_buffer(name, torch.from_numpy(arrays[name]).to(dtype))
            self.states: list[Any] = []

        def _step(self, x: Any, state: Any) -> Any:
            if self.phi is None:
                return self.cell(x, state)
            # A vanilla RNN with any activation: the cell's affine part, then phi.
            c = self.cell
            return self.phi(x @ c.weight_ih.T + c.bias_ih + state @ c.weight_hh.T + c.bias_hh)

        def forward(self, x: Any = None) -> Any:
            inputs = self.inputs if x is None else x
            h = self.h0.clone().requires_grad_(True)
            state = (h, self.c0) if spec.cell == "lstm" else h
            self.states = [h]
            for t in range(inputs.shape[0]):
                state = self._step(inputs[t], state)
                out = state[0] if spec.cell == "lstm" else state
                out.retain_grad()
                self.states.append(out)
            return torch.stack(self.states[1:])

        def loss(self, out: Any, loss: str = "projection") -> Any:
            """The loss on h_T, or summed over every h_t (the spec's loss_at)."""
            steps = slice(None) if spec.loss_at == "every" else slice(-1, None)
            if loss == "projection":
                return (out[steps] * self.projections[steps]).sum()
            return 0.5 * (out[steps] * out[steps]).sum()

    return Recurrent()


def _Transformer(torch: Any, spec: Any, arrays: dict[str, Any], dtype: Any) -> Any:
    f = torch.nn.functional
    d, heads = spec.width, spec.heads
    phi = _activation(torch, spec.activation, spec.negative_slope)
    skip = spec.skip_scale

    base: Any = _module_base(torch)

    class Transformer(base):
        """The transformer encoder of a gradatlas run: its sublayers, inputs and loss vectors."""

        def __init__(self) -> None:
            super().__init__()
            layers = []
            for a in arrays["sublayers"]:
                if a["type"] == "attn":
                    layer = torch.nn.MultiheadAttention(d, heads, batch_first=True).to(dtype)
                    params = {"in_proj_weight": layer.in_proj_weight, "in_proj_bias": layer.in_proj_bias,
                              "out_proj_weight": layer.out_proj.weight, "out_proj_bias": layer.out_proj.bias}
                else:
                    m = a["w1"].shape[0]
                    layer = torch.nn.ModuleDict({"w1": torch.nn.Linear(d, m), "w2": torch.nn.Linear(m, d)}).to(dtype)
                    params = {"w1": layer["w1"].weight, "b1": layer["w1"].bias, "w2": layer["w2"].weight,
                              "b2": layer["w2"].bias}
                with torch.no_grad():
                    for name, param in params.items():
                        param.copy_(torch.from_numpy(a[name]))
                layers.append(layer)
            self.sublayers = torch.nn.ModuleList(layers)
            self.register_buffer("inputs", torch.from_numpy(arrays["inputs"]).to(dtype))
            self.register_buffer("projections", torch.from_numpy(arrays["projections"]).to(dtype))
            self.streams: list[Any] = []

        def _norm(self, x: Any) -> Any:
            if spec.norm_kind == "rms":
                return f.rms_norm(x, (d,), eps=NORM_EPS)
            return f.layer_norm(x, (d,), eps=NORM_EPS)

        def _branch(self, layer: Any, u: Any) -> Any:
            if isinstance(layer, torch.nn.MultiheadAttention):
                t = u.shape[1]
                mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1) if spec.causal else None
                return layer(u, u, u, attn_mask=mask, need_weights=False)[0]
            return layer["w2"](phi(layer["w1"](u)))

        def forward(self, x: Any = None) -> Any:
            x = (self.inputs if x is None else x).clone().requires_grad_(True)
            self.streams = [x]
            for layer in self.sublayers:
                u = self._norm(x) if spec.norm == "pre" else x
                y = skip * x + spec.alpha * self._branch(layer, u)
                x = self._norm(y) if spec.norm in ("post", "deepnorm") else y
                x.retain_grad()
                self.streams.append(x)
            return x

    return Transformer()
