"""The exact arrays a run uses, rebuilt in float64 for references and for other frameworks
(``gradatlas.materialize`` checks the arguments and asks the spec's kind for these)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from . import _core, _recurrent, _runner
from ._memory import check_fits
from .initializers import WEIGHT_DISTS


def feedforward(spec: Any, batch: int, seed: int, dtype: str) -> dict[str, Any]:
    """Weights, biases, inputs and projections of an MLP run (see ``gradatlas.materialize``)."""
    n = spec.layer_widths
    widths = np.asarray(n, dtype=float)  # float: the sums can pass 2**63 for the largest specs
    layer_sizes = widths[1:] * widths[:-1]
    # Kept in float64: weights, biases, inputs and projections. On top, while one array is drawn: the
    # core's array in `dtype`, its float64 copy and the scaled result (at most 16 bytes an element more).
    kept = layer_sizes.sum() + widths[1:].sum() + batch * (widths[0] + widths[-1])
    transient = max(layer_sizes.max(), batch * max(widths[0], widths[-1]))
    check_fits(int(8 * kept + 16 * transient), f"materialize (depth {spec.depth}, width {int(widths.max())}, "
               f"batch {batch})", "materialize fewer layers (a shallower spec with the same seed draws the same "
               "first layers) or a smaller batch")
    dist = WEIGHT_DISTS[spec.weight_dist]
    scales = spec.weight_scales()
    weights, biases = [], []
    for l in range(1, spec.depth + 1):
        z = _core.standard_weights(dtype, seed, dist, l, n[l], n[l - 1]).astype(np.float64)
        weights.append(scales[l - 1] * z)
        zb = _core.standard_biases(dtype, seed, l, n[l]).astype(np.float64)
        biases.append(spec.sigma_b * zb)
    return {
        "weights": weights,
        "biases": biases,
        "inputs": _core.standard_inputs(dtype, seed, batch, n[0], float(np.sqrt(spec.q0))).astype(np.float64),
        "projections": _core.standard_projections(dtype, seed, batch, n[-1]).astype(np.float64),
        "spec": json.loads(spec.to_json()),
        "seed": seed,
        "dtype": dtype,
    }


def recurrent(spec: Any, batch: int, seed: int, dtype: str) -> dict[str, Any]:
    """PyTorch's parameters of the recurrent cell a run of ``spec`` uses (see ``gradatlas.materialize``)."""
    n, n_in, steps = spec.width, spec.n_in, spec.steps
    total = (steps * batch * (n_in + n) + spec.gates * n * (n + n_in)) * 8 * 2
    check_fits(total, f"materialize ({spec.steps} steps)",
               "materialize fewer steps (a shorter spec with the same seed draws the same first steps)")
    point = _runner.Point(spec, seed, batch, dtype)
    group = _recurrent.make_groups([point], common_random_numbers=True)[0][0]
    raw = {k: np.asarray(a, dtype=np.float64)
           for k, a in _core.recurrent_standard_arrays(dtype, group.core_group(1, "projection")).items()}
    bias_ih = spec.sigma_b * raw["z_b"]
    if spec.cell == "lstm":
        bias_ih[n:2 * n] += spec.forget_bias
    out = {
        "weight_ih": raw["z_ih"] / np.sqrt(n_in),
        "weight_hh": spec.weight_scale * raw["z_hh"],
        "bias_ih": bias_ih,
        "bias_hh": np.zeros(spec.gates * n),
        "inputs": spec.sigma_u * raw["xi"],
        "h0": spec.h0_std * raw["z_h0"],
        "projections": raw["projections"],
        "spec": json.loads(spec.to_json()),
        "seed": seed,
        "dtype": dtype,
    }
    if spec.cell == "lstm":
        out["c0"] = spec.h0_std * raw["z_c0"]
    return out


def convolutional(spec: Any, batch: int, seed: int, dtype: str) -> dict[str, Any]:
    """The kernels, biases, inputs and projections of a ConvNet run, in PyTorch's layouts:
    ``weights`` (L arrays C_out x C_in x K x K, as ``torch.nn.Conv2d.weight``), ``biases`` (L arrays
    of C), ``inputs`` and ``projections`` (B x C x H x W)."""
    c, side = spec.channels, spec.image_size
    (c_ins, c_outs), kernels = spec.conv_channels, spec.kernels
    sizes = [c_outs[l] * c_ins[l] * kernels[l] ** 2 for l in range(spec.depth)]
    values = batch * side * side * c
    kept = sum(sizes) + sum(c_outs) + 2 * values
    check_fits(int(8 * kept + 16 * max(max(sizes), values)), f"materialize (depth {spec.depth}, {c} channels, "
               f"{side} x {side}, batch {batch})", "materialize fewer layers or a smaller batch")
    scales = spec.weight_scales()
    weights, biases = [], []
    for l in range(1, spec.depth + 1):
        c_in, c_out, k = c_ins[l - 1], c_outs[l - 1], kernels[l - 1]
        if spec.init == "delta_orthogonal":
            z = np.zeros((c_out, k, k, c_in))
            z[:, k // 2, k // 2, :] = _core.standard_weights(dtype, seed, WEIGHT_DISTS["orthogonal"], l, c_out, c_in)
        else:
            z = _core.standard_weights(dtype, seed, WEIGHT_DISTS[spec.weight_dist], l, c_out, k * k * c_in)
            z = np.asarray(z, dtype=np.float64).reshape(c_out, k, k, c_in)
        weights.append(scales[l - 1] * z.transpose(0, 3, 1, 2))  # (co, dy, dx, ci) -> (co, ci, dy, dx)
        biases.append(spec.sigma_b * _core.standard_biases(dtype, seed, l, c_out).astype(np.float64))

    def images(rows: np.ndarray) -> np.ndarray:  # the core's rows are pixels x channels
        return rows.astype(np.float64).reshape(batch, side, side, c).transpose(0, 3, 1, 2)

    return {
        "weights": weights,
        "biases": biases,
        "inputs": images(_core.standard_inputs(dtype, seed, batch, side * side * c, float(np.sqrt(spec.q0)))),
        "projections": images(_core.standard_projections(dtype, seed, batch, side * side * c)),
        "spec": json.loads(spec.to_json()),
        "seed": seed,
        "dtype": dtype,
    }


def transformer(spec: Any, batch: int, seed: int, dtype: str) -> dict[str, Any]:
    """Each sublayer's weights in ``torch.nn.MultiheadAttention`` / ``torch.nn.Linear`` layouts:
    ``sublayers`` (P dicts: attention ``in_proj_weight`` (3d x d, query, key, value), ``in_proj_bias``,
    ``out_proj_weight``, ``out_proj_bias``; MLP ``w1`` (m x d), ``b1``, ``w2`` (d x m), ``b2``), and
    ``inputs`` and ``projections`` (B x T x d)."""
    from . import _transformer

    d, m, tokens = spec.width, spec.mlp_width, batch * spec.seq_len * spec.width
    per_block = 2 * d * m + d + m + (4 * d * d + 4 * d if spec.attention else 0)
    check_fits(int(8 * (spec.depth * per_block + 2 * tokens) + 16 * max(4 * d * d, 2 * d * m, tokens)),
               f"materialize (depth {spec.depth}, width {d}, batch {batch})",
               "materialize fewer blocks (a shallower spec with the same seed draws the same first blocks) "
               "or a smaller batch")
    group = _transformer.make_groups([_runner.Point(spec, seed, batch, dtype)], True)[0][0]
    raw = _core.transformer_standard_arrays(dtype, group.core_group(1, "projection"))
    s = spec.weight_scales()
    t = spec.sigma_b
    sublayers = []
    for z in raw["sublayers"]:
        z = {k: np.asarray(a, dtype=np.float64) for k, a in z.items()}
        if "z_qkv" in z:
            sublayers.append({
                "type": "attn",
                "in_proj_weight": np.concatenate([s[i] * z["z_qkv"][i * d:(i + 1) * d] for i in range(3)]),
                "in_proj_bias": t * z["b_qkv"], "out_proj_weight": s[3] * z["z_o"], "out_proj_bias": t * z["b_o"]})
        else:
            sublayers.append({"type": "mlp", "w1": s[4] * z["z_1"], "b1": t * z["b_1"], "w2": s[5] * z["z_2"],
                              "b2": t * z["b_2"]})
    return {
        "sublayers": sublayers,
        "inputs": np.sqrt(spec.q0) * np.asarray(raw["xi"], dtype=np.float64),
        "projections": np.asarray(raw["projections"], dtype=np.float64),
        "spec": json.loads(spec.to_json()),
        "seed": seed,
        "dtype": dtype,
    }
