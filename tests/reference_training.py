"""An independent float64 NumPy implementation of gradatlas.train's contract.

Plain arithmetic from the definitions (teacher-student regression, batch-mean
squared error, PyTorch's clipping and optimizer formulas), for small nets.
"""

from __future__ import annotations

import numpy as np
from reference import activation as act

import gradatlas as ga
from gradatlas import _core


def train(spec, *, steps, lr, optimizer, batch, seed, clip=None, momentum=0.9, betas=(0.9, 0.999), eps=1e-8):
    w = ga.materialize(spec, batch=batch, seed=seed)
    weights = [m.copy() for m in w["weights"]]
    biases = [b.copy() for b in w["biases"]]
    n = spec.layer_widths
    data = _core.training_arrays("float64", seed, n[-1], n[0], steps, batch)
    teacher = data["teacher"] / np.sqrt(n[0])
    inputs = data["inputs"] * np.sqrt(spec.q0)
    params = weights + biases
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    out = {"loss": [], "global": [], "clipped": [], "grad": [], "ratio": []}
    for k in range(steps):
        x = inputs[k]
        y = x @ teacher.T
        a, ds = [x], []
        for W, b in zip(weights, biases):
            phi, d = act(spec.activation, a[-1] @ W.T + b, spec.negative_slope)
            ds.append(d)
            a.append(a[-1] + spec.alpha * phi if spec.residual else phi)
        out["loss"].append(0.5 * np.sum((a[-1] - y) ** 2) / batch)
        delta = (a[-1] - y) / batch
        gw, gb = [None] * spec.depth, [None] * spec.depth
        for l in range(spec.depth - 1, -1, -1):
            g = (spec.alpha if spec.residual else 1.0) * ds[l] * delta
            gw[l], gb[l] = g.T @ a[l], g.sum(axis=0)
            delta = g @ weights[l] + (delta if spec.residual else 0.0)
        grads = gw + gb
        total = np.sqrt(sum(np.sum(g * g) for g in grads))
        out["global"].append(np.log10(total))
        out["grad"].append([np.log10(np.linalg.norm(g)) for g in gw])
        clipped = False
        if clip and "norm" in clip:
            coef = clip["norm"] / (total + 1e-6)
            if coef < 1:
                grads = [g * coef for g in grads]
                clipped = True
        elif clip and "value" in clip:
            v = clip["value"]
            clipped = any(np.any(np.abs(g) > v) for g in grads)
            grads = [np.clip(g, -v, v) for g in grads]
        out["clipped"].append(clipped)
        ratios = []
        for i, (p, g) in enumerate(zip(params, grads)):
            if optimizer == "sgd":
                delta_p = -lr * g
            elif optimizer == "momentum":
                m1[i] = g.copy() if k == 0 else momentum * m1[i] + g
                delta_p = -lr * m1[i]
            else:
                m1[i] = betas[0] * m1[i] + (1 - betas[0]) * g
                m2[i] = betas[1] * m2[i] + (1 - betas[1]) * g * g
                bc1, bc2 = 1 - betas[0] ** (k + 1), 1 - betas[1] ** (k + 1)
                delta_p = -(lr / bc1) * m1[i] / (np.sqrt(m2[i]) / np.sqrt(bc2) + eps)
            if i < spec.depth:
                ratios.append(np.linalg.norm(delta_p) / np.linalg.norm(p))
            p += delta_p
        out["ratio"].append(ratios)
    return {k: np.array(v) for k, v in out.items()}
