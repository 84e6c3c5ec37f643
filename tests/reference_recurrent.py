"""An independent float64 NumPy forward pass and backpropagation through time.

Written from the cell equations of torch.nn.RNNCell / LSTMCell / GRUCell (gate
orders [i, f, g, o] and [r, z, n]), in plain linear arithmetic (no log space,
derivatives from the closed forms), for small nets whose gradients stay in range.
It takes the weights in PyTorch's layout, as ``gradatlas.materialize`` returns them.
"""

from __future__ import annotations

import numpy as np
from reference import activation as feedforward_activation


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def bptt(cell, weights, *, activation="tanh", negative_slope=0.01, loss="projection", every_step=False):
    """Per-step dl_b/dh_t (t = 0..T, shape (T+1, B, n)), dl_b/dc_t for LSTM, and h_t."""
    w_ih, w_hh, b_ih, b_hh = (weights[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    x, h0 = weights["inputs"], weights["h0"]
    steps, n = x.shape[0], h0.shape[1]
    hs, cs, caches = [h0], [weights.get("c0")], []
    for t in range(steps):
        h = hs[-1]
        gi = x[t] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        if cell == "rnn":
            a, da = feedforward_activation(activation, gi + gh, negative_slope)
            caches.append(da)
            hs.append(a)
        elif cell == "lstm":
            pre = gi + gh
            i, f, g, o = (pre[:, k * n:(k + 1) * n] for k in range(4))
            i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
            c = f * cs[-1] + i * g
            caches.append((i, f, g, o, cs[-1], np.tanh(c)))
            cs.append(c)
            hs.append(o * np.tanh(c))
        else:
            r = sigmoid(gi[:, :n] + gh[:, :n])
            z = sigmoid(gi[:, n:2 * n] + gh[:, n:2 * n])
            hn = gh[:, 2 * n:]
            nn_ = np.tanh(gi[:, 2 * n:] + r * hn)
            caches.append((r, z, nn_, hn, h))
            hs.append((1 - z) * nn_ + z * h)

    def loss_grad(t):
        return weights["projections"][t - 1] if loss == "projection" else hs[t]

    dh = np.zeros_like(h0)
    dc = np.zeros_like(h0)
    grads_h = [None] * (steps + 1)
    grads_c = [None] * (steps + 1)
    for t in range(steps, 0, -1):
        if t == steps or every_step:
            dh = dh + loss_grad(t)
        grads_h[t] = dh
        if cell == "rnn":
            dpre = caches[t - 1] * dh
            dh = dpre @ w_hh
        elif cell == "lstm":
            i, f, g, o, c_prev, tc = caches[t - 1]
            dc = dc + dh * o * (1 - tc**2)
            grads_c[t] = dc
            dpre = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                                   dc * i * (1 - g**2), dh * tc * o * (1 - o)], axis=1)
            dh = dpre @ w_hh
            dc = dc * f
        else:
            r, z, nn_, hn, h_prev = caches[t - 1]
            dpre_n = dh * (1 - z) * (1 - nn_**2)
            dpre = np.concatenate([dpre_n * hn * r * (1 - r), dh * (h_prev - nn_) * z * (1 - z), dpre_n * r], axis=1)
            dh = dpre @ w_hh + dh * z
    grads_h[0] = dh
    grads_c[0] = dc
    out = {"grad_h": np.stack(grads_h), "h": np.stack(hs)}
    if cell == "lstm":
        out["grad_c"] = np.stack(grads_c)
    return out


def per_step_log10_norms(grad):
    """(T+1, B, n) -> mean over the batch of log10 per-sample norms, per step."""
    return np.log10(np.linalg.norm(grad, axis=-1)).mean(axis=-1)
