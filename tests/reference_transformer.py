"""An independent float64 NumPy transformer: forward, and backward by hand.

Written from the definitions in cpp/include/gradatlas/transformer.hpp (not from
the engine): the stream x_p per sublayer, the gradient dl_b/dx_p of every
sample's loss, each projection's weight gradient of the batch-mean loss, and
the forward statistics. Its own backward pass is checked against finite
differences of its forward pass in tests/test_transformer.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import erf

PROJECTIONS = ("query", "key", "value", "attn_out", "mlp_in", "mlp_out")


def phi(name: str, h: np.ndarray, param: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """phi(h) and phi'(h) for the activations the tests use."""
    if name == "gelu":
        cdf = 0.5 * (1 + erf(h / np.sqrt(2)))
        pdf = np.exp(-0.5 * h * h) / np.sqrt(2 * np.pi)
        return h * cdf, cdf + h * pdf
    if name == "relu":
        return np.maximum(h, 0), (h > 0).astype(float)
    if name == "tanh":
        t = np.tanh(h)
        return t, 1 - t * t
    if name == "linear":
        return h, np.ones_like(h)
    if name == "silu":
        s = 1 / (1 + np.exp(-h))
        return h * s, s * (1 + h * (1 - s))
    raise ValueError(name)


def norm(x: np.ndarray, rms: bool, eps: float) -> np.ndarray:
    if rms:
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)
    c = x - x.mean(-1, keepdims=True)
    return c / np.sqrt((c * c).mean(-1, keepdims=True) + eps)


def norm_backward(xhat: np.ndarray, g: np.ndarray, x: np.ndarray, rms: bool, eps: float) -> np.ndarray:
    if rms:
        inv = 1 / np.sqrt((x * x).mean(-1, keepdims=True) + eps)
        return inv * (g - xhat * (g * xhat).mean(-1, keepdims=True))
    c = x - x.mean(-1, keepdims=True)
    inv = 1 / np.sqrt((c * c).mean(-1, keepdims=True) + eps)
    return inv * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True))


def config(spec: Any) -> dict[str, Any]:
    """What the forward pass needs from a gradatlas.Transformer, from its documented meaning."""
    deep = spec.norm == "deepnorm"
    return {"pre": spec.norm == "pre", "post": spec.norm in ("post", "deepnorm"), "rms": spec.norm_kind == "rms",
            "skip": (2.0 * spec.depth) ** 0.25 if deep else 1.0, "alpha": spec.alpha, "causal": spec.causal,
            "activation": spec.activation, "heads": spec.heads}


def sublayer_weights(materialized: dict[str, Any], p: int) -> dict[str, np.ndarray]:
    """Sublayer p's matrices from gradatlas.materialize (PyTorch layouts)."""
    a = materialized["sublayers"][p - 1]
    if a["type"] == "attn":
        wq, wk, wv = np.split(a["in_proj_weight"], 3)
        bq, bk, bv = np.split(a["in_proj_bias"], 3)
        return {"Wq": wq, "Wk": wk, "Wv": wv, "Wo": a["out_proj_weight"], "bq": bq, "bk": bk, "bv": bv,
                "bo": a["out_proj_bias"]}
    return {"W1": a["w1"], "W2": a["w2"], "b1": a["b1"], "b2": a["b2"]}


def attention(u: np.ndarray, w: dict[str, np.ndarray], heads: int, causal: bool) -> dict[str, np.ndarray]:
    """u (B, T, d) -> the sublayer's output and everything its backward pass needs."""
    B, T, d = u.shape
    dh = d // heads
    q = u @ w["Wq"].T + w["bq"]
    k = u @ w["Wk"].T + w["bk"]
    v = u @ w["Wv"].T + w["bv"]
    split = lambda a: a.reshape(B, T, heads, dh).transpose(0, 2, 1, 3)
    qh, kh, vh = split(q), split(k), split(v)
    s = qh @ kh.transpose(0, 1, 3, 2) / np.sqrt(dh)
    if causal:
        s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(-1, keepdims=True)
    oh = p @ vh
    o = oh.transpose(0, 2, 1, 3).reshape(B, T, d)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log(p), 0).sum(-1).mean()
    return {"out": o @ w["Wo"].T + w["bo"], "q": qh, "k": kh, "v": vh, "p": p, "o": o, "entropy": ent,
            "u": u}


def attention_backward(c: dict[str, np.ndarray], w: dict[str, np.ndarray], gout: np.ndarray,
                       heads: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    B, T, d = gout.shape
    dh = d // heads
    grads = {"attn_out": np.einsum("bti,btj->ij", gout, c["o"])}
    go = (gout @ w["Wo"]).reshape(B, T, heads, dh).transpose(0, 2, 1, 3)
    gp = go @ c["v"].transpose(0, 1, 3, 2)
    gv = c["p"].transpose(0, 1, 3, 2) @ go
    gs = c["p"] * (gp - (gp * c["p"]).sum(-1, keepdims=True)) / np.sqrt(dh)
    gq = gs @ c["k"]
    gk = gs.transpose(0, 1, 3, 2) @ c["q"]
    merge = lambda a: a.transpose(0, 2, 1, 3).reshape(B, T, d)
    gq, gk, gv = merge(gq), merge(gk), merge(gv)
    for name, g in (("query", gq), ("key", gk), ("value", gv)):
        grads[name] = np.einsum("bti,btj->ij", g, c["u"])
    return gq @ w["Wq"] + gk @ w["Wk"] + gv @ w["Wv"], grads


def mlp(u: np.ndarray, w: dict[str, np.ndarray], activation: str) -> dict[str, np.ndarray]:
    h = u @ w["W1"].T + w["b1"]
    a, da = phi(activation, h)
    return {"out": a @ w["W2"].T + w["b2"], "a": a, "da": da, "u": u}


def mlp_backward(c: dict[str, np.ndarray], w: dict[str, np.ndarray], gout: np.ndarray
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    gh = (gout @ w["W2"]) * c["da"]
    grads = {"mlp_out": np.einsum("bti,btj->ij", gout, c["a"]), "mlp_in": np.einsum("bti,btj->ij", gh, c["u"])}
    return gh @ w["W1"], grads


def run(materialized: dict[str, Any], spec: Any, loss: str = "projection", eps: float = 1e-5
        ) -> dict[str, np.ndarray]:
    """Per position p = 0..P: log10_grad_norm (mean over samples), q, token_cosine,
    attention_entropy; log10_weight_grad_norm (P + 1, 6)."""
    cfg = config(spec)
    heads = cfg["heads"]
    P = len(materialized["sublayers"])
    x = np.asarray(materialized["inputs"], float)
    B, T, _ = x.shape
    N = lambda a: norm(a, cfg["rms"], eps)
    streams, caches = [x], []
    entropy = np.full(P + 1, np.nan)
    for p in range(1, P + 1):
        w = sublayer_weights(materialized, p)
        u = N(x) if cfg["pre"] else x
        is_attn = "Wq" in w
        c = attention(u, w, heads, cfg["causal"]) if is_attn else mlp(u, w, cfg["activation"])
        if is_attn:
            entropy[p] = c["entropy"]
        y = cfg["skip"] * x + cfg["alpha"] * c["out"]
        x_new = N(y) if cfg["post"] else y
        caches.append((x, u, y, x_new, w, c, is_attn))
        x = x_new
        streams.append(x)
    g = np.asarray(materialized["projections"], float) if loss == "projection" else x.copy()
    grads: list[np.ndarray] = [g] * (P + 1)
    wg = np.full((P + 1, 6), np.nan)
    weight_grads: dict[int, dict[str, np.ndarray]] = {}  # d(sum of losses)/dW per sublayer
    for p in range(P, 0, -1):
        x_in, u, y, x_out, w, c, is_attn = caches[p - 1]
        gy = norm_backward(x_out, g, y, cfg["rms"], eps) if cfg["post"] else g
        gout = cfg["alpha"] * gy
        gu, wgrads = attention_backward(c, w, gout, heads) if is_attn else mlp_backward(c, w, gout)
        weight_grads[p] = wgrads
        for name, value in wgrads.items():
            with np.errstate(divide="ignore"):  # one token: the scores' gradient is exactly 0
                wg[p, PROJECTIONS.index(name)] = np.log10(np.linalg.norm(value / B))
        if cfg["pre"]:
            gu = norm_backward(u, gu, x_in, cfg["rms"], eps)
        g = cfg["skip"] * gy + gu
        grads[p - 1] = g
    with np.errstate(divide="ignore"):
        log_grad = np.array([np.log10(np.sqrt((gp**2).sum(axis=(1, 2)))).mean() for gp in grads])
    q = np.array([(s**2).mean() for s in streams])
    cos = []
    for s in streams:
        n = s / np.linalg.norm(s, axis=-1, keepdims=True)
        gram = n @ n.transpose(0, 2, 1)
        with np.errstate(invalid="ignore"):  # one token: no pairs, NaN
            cos.append(((gram.sum((1, 2)) - np.trace(gram, axis1=1, axis2=2)) / (T * (T - 1))).mean())
    return {"log10_grad_norm": log_grad, "q": q, "token_cosine": np.array(cos), "attention_entropy": entropy,
            "log10_weight_grad_norm": wg, "streams": streams, "grads": grads, "weight_grads": weight_grads}
