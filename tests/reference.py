"""An independent float64 NumPy implementation of the feed-forward contract.

Written from the definitions in DESIGN.md, not from the C++ code: a plain
forward pass that keeps every layer, and a plain backward pass (no log-space
scaling, so only for nets shallow enough not to underflow).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def activation(name: str, x: np.ndarray, slope: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """(phi, phi') written out from textbook formulas."""
    sig = special.expit(x)
    if name == "linear":
        return x.copy(), np.ones_like(x)
    if name == "relu":
        return np.maximum(x, 0), (x > 0).astype(float)
    if name == "leaky_relu":
        return np.where(x > 0, x, slope * x), np.where(x > 0, 1.0, slope)
    if name == "elu":
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0))), np.where(x > 0, 1.0, np.exp(np.minimum(x, 0)))
    if name == "selu":
        neg = SELU_SCALE * SELU_ALPHA * np.expm1(np.minimum(x, 0))
        d_neg = SELU_SCALE * SELU_ALPHA * np.exp(np.minimum(x, 0))
        return np.where(x > 0, SELU_SCALE * x, neg), np.where(x > 0, SELU_SCALE, d_neg)
    if name == "gelu":
        cdf = special.ndtr(x)
        return x * cdf, cdf + x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)
    if name == "silu":
        return x * sig, sig + x * sig * special.expit(-x)
    if name == "softplus":
        return np.logaddexp(0.0, x), sig
    if name == "sigmoid":
        return sig, sig * special.expit(-x)
    if name == "tanh":
        with np.errstate(over="ignore"):
            return np.tanh(x), 1 / np.cosh(x) ** 2
    if name == "hard_tanh":
        return np.clip(x, -1, 1), ((x > -1) & (x < 1)).astype(float)
    if name == "erf":
        return special.erf(x), 2 / np.sqrt(np.pi) * np.exp(-x * x)
    raise ValueError(name)


# Rows are positions x channels, channel fastest (dense: one position, channels = units). Batch norm
# normalizes each channel over the batch and the positions; layer norm a whole row.
def _grouped(x: np.ndarray, norm: str, channels: int | None) -> tuple[np.ndarray, tuple[int, ...]]:
    if norm == "batch":
        c = x.shape[1] if channels is None else channels
        return x.reshape(x.shape[0], -1, c), (0, 1)
    return x, (1,)


def _normalize(h: np.ndarray, norm: str | None, eps: float,
               channels: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    if norm is None:
        return h, None
    x, axes = _grouped(h, norm, channels)
    mean = x.mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return ((x - mean) * inv_std).reshape(h.shape), inv_std


def _normalize_backward(ht: np.ndarray, inv_std: np.ndarray | None, g: np.ndarray, norm: str | None,
                        channels: int | None = None) -> np.ndarray:
    if norm is None:
        return g
    x, axes = _grouped(ht, norm, channels)
    d, _ = _grouped(g, norm, channels)
    out = inv_std * (d - d.mean(axis=axes, keepdims=True) - x * (d * x).mean(axis=axes, keepdims=True))
    return out.reshape(g.shape)


def _channels_of(channels: Any, l: int) -> int | None:
    """One layer's channels: a single number for every layer, or one per layer (C_1 .. C_L)."""
    return channels[l - 1] if isinstance(channels, (list, tuple)) else channels


def forward(spec, arrays, h_shift: tuple[int, int, int, float] | None = None, eps: float = 1e-5,
            channels: Any = None) -> dict:
    """Forward pass; h_shift = (layer, sample, unit, delta) perturbs one pre-activation. A spec with
    skip_span S > 1 adds the skip only at layers closing a block of S, from the block's input."""
    span = getattr(spec, "skip_span", 1)
    a = arrays["inputs"]
    block_input = a
    layers = []
    for l, (w, b) in enumerate(zip(arrays["weights"], arrays["biases"]), start=1):
        if (l - 1) % span == 0:
            block_input = a
        h = a @ w.T + b
        if h_shift is not None and h_shift[0] == l:
            h = h.copy()
            h[h_shift[1], h_shift[2]] += h_shift[3]
        ht, inv_std = _normalize(h, spec.norm, eps, _channels_of(channels, l))
        p, dp = activation(spec.activation, ht, spec.negative_slope)
        layers.append({"a_prev": a, "h": h, "ht": ht, "inv_std": inv_std, "dphi": dp})
        a = block_input + spec.alpha * p if spec.residual and l % span == 0 else p
    return {"layers": layers, "output": a}


def losses(out: np.ndarray, arrays, loss: str) -> np.ndarray:
    if loss == "projection":
        return np.sum(arrays["projections"] * out, axis=1)
    return 0.5 * np.sum(out * out, axis=1)


def backward(spec, arrays, loss: str = "projection", eps: float = 1e-5, channels: Any = None) -> dict:
    """Per-layer gradients of sum_b l_b with respect to h_l, plus the reported statistics
    (``channels``: the rows are positions x channels, for batch norm per channel)."""
    fw = forward(spec, arrays, eps=eps, channels=channels)
    g_a = arrays["projections"].copy() if loss == "projection" else fw["output"].copy()
    batch = g_a.shape[0]
    grads = [None] * spec.depth
    weight_grad = np.empty(spec.depth)
    span = getattr(spec, "skip_span", 1)
    g_skip = np.zeros_like(g_a)
    for l in range(spec.depth, 0, -1):
        lay = fw["layers"][l - 1]
        closes = spec.residual and l % span == 0
        branch = spec.alpha if closes else 1.0
        g_h = _normalize_backward(lay["ht"], lay["inv_std"], branch * lay["dphi"] * g_a, spec.norm,
                                 _channels_of(channels, l))
        grads[l - 1] = g_h
        weight_grad[l - 1] = np.linalg.norm(g_h.T @ lay["a_prev"]) / batch
        if closes:
            g_skip = g_a  # dl/d(block output) reaches the block's input through the skip
        g_a = g_h @ arrays["weights"][l - 1]
        if spec.residual and (l - 1) % span == 0:
            g_a = g_skip + g_a
    return _report(grads, fw["layers"], weight_grad)


def _report(grads: list, layers: list, weight_grad: np.ndarray) -> dict:
    """The reported statistics from each layer's dl/dh and its forward record."""
    batch = grads[0].shape[0]
    norms = np.array([np.linalg.norm(g, axis=1) for g in grads])  # (L, B)
    hs = [lay["h"] for lay in layers]
    cos = []
    for h in hs:
        unit = h / np.linalg.norm(h, axis=1, keepdims=True)
        gram = unit @ unit.T
        cos.append(gram[np.triu_indices(batch, 1)].mean() if batch > 1 else np.nan)
    dphi = [lay["dphi"] for lay in layers]
    return {
        "grads": grads,
        "log10_grad_norm": np.log10(norms).mean(axis=1),
        "log10_grad_norm_rms": 0.5 * np.log10(np.mean(norms**2, axis=1)),
        "log10_weight_grad_norm": np.log10(weight_grad),
        "q": np.array([np.mean(h * h) for h in hs]),
        "c": np.array(cos),
        "saturated_fraction": np.array([np.mean(np.abs(d) < 1e-3) for d in dphi]),
        "dead_fraction": np.array([np.mean(d == 0) for d in dphi]),
    }


# YOLOv8's C2f (Jocher et al. 2023), written from its definition: a first layer to 2c channels split
# into halves y0, y1; n bottlenecks y_{k+1} = y_k + alpha f_b(f_a(y_k)) (residual) or f_b(f_a(y_k));
# a last layer over cat(y0, y1, ..., y_{n+1}). Rows are pixels x channels, channel fastest.
def _channel_slice(a: np.ndarray, pixels: int, at: int, count: int) -> np.ndarray:
    return a.reshape(a.shape[0], pixels, -1)[:, :, at:at + count].reshape(a.shape[0], -1)


def _channel_cat(parts: list, pixels: int) -> np.ndarray:
    return np.concatenate([p.reshape(p.shape[0], pixels, -1) for p in parts], axis=2).reshape(parts[0].shape[0], -1)


def c2f_forward(spec, arrays, pixels: int, channels: list, eps: float = 1e-5,
                h_shift: tuple[int, int, int, float] | None = None) -> dict:
    """Forward pass of a stack of C2f blocks (``channels``: each layer's output channels, for batch norm);
    h_shift = (layer, sample, unit, delta) perturbs one pre-activation."""
    layers: list[dict] = []

    def layer(l: int, a: np.ndarray) -> np.ndarray:
        h = a @ arrays["weights"][l - 1].T + arrays["biases"][l - 1]
        if h_shift is not None and h_shift[0] == l:
            h = h.copy()
            h[h_shift[1], h_shift[2]] += h_shift[3]
        ht, inv_std = _normalize(h, spec.norm, eps, channels[l - 1])
        p, dp = activation(spec.activation, ht, spec.negative_slope)
        layers.append({"a_prev": a, "h": h, "ht": ht, "inv_std": inv_std, "dphi": dp})
        return p

    a, n, span = arrays["inputs"], spec.bottlenecks, 2 * spec.bottlenecks + 2
    for first in range(1, spec.depth + 1, span):
        out = layer(first, a)
        c = channels[first - 1] // 2
        ys = [_channel_slice(out, pixels, 0, c), _channel_slice(out, pixels, c, c)]
        for k in range(n):
            inner = layer(first + 1 + 2 * k, ys[-1])
            inner = layer(first + 2 + 2 * k, inner)
            ys.append(ys[-1] + spec.alpha * inner if spec.residual else inner)
        a = layer(first + span - 1, _channel_cat(ys, pixels))
    return {"layers": layers, "output": a}


def c2f_backward(spec, arrays, pixels: int, channels: list, loss: str = "projection", eps: float = 1e-5) -> dict:
    """``backward``'s report for a stack of C2f blocks, by the chain rule through the split, the
    bottlenecks and the concatenation; also returns the forward record (``layers``)."""
    fw = c2f_forward(spec, arrays, pixels, channels, eps)
    layers = fw["layers"]
    g_a = arrays["projections"].copy() if loss == "projection" else fw["output"].copy()
    batch = g_a.shape[0]
    grads: list = [None] * spec.depth
    weight_grad = np.empty(spec.depth)

    def back(l: int, g_out: np.ndarray, branch: float = 1.0) -> np.ndarray:
        """dl/d(layer l's input) from dl/d(its output); records dl/dh_l."""
        lay = layers[l - 1]
        g_h = _normalize_backward(lay["ht"], lay["inv_std"], branch * lay["dphi"] * g_out, spec.norm,
                                  channels[l - 1])
        grads[l - 1] = g_h
        weight_grad[l - 1] = np.linalg.norm(g_h.T @ lay["a_prev"]) / batch
        return g_h @ arrays["weights"][l - 1]

    n, span = spec.bottlenecks, 2 * spec.bottlenecks + 2
    for first in range(spec.depth - span + 1, 0, -span):
        g_cat = back(first + span - 1, g_a)
        c = channels[first - 1] // 2
        g_ys = [_channel_slice(g_cat, pixels, j * c, c) for j in range(n + 2)]
        g_y = g_ys[n + 1]
        for k in range(n - 1, -1, -1):  # y_{k+2} from y_{k+1}
            g_inner = back(first + 1 + 2 * k, back(first + 2 + 2 * k, g_y, spec.alpha if spec.residual else 1.0))
            g_y = g_inner + (g_y if spec.residual else 0.0) + g_ys[k + 1]
        g_a = back(first, _channel_cat([g_ys[0], g_y], pixels))
    return {**_report(grads, layers, weight_grad), "layers": layers}
