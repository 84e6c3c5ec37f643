"""Running the engine: simulate one configuration, materialize its arrays."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from . import _core
from . import _validate as v
from . import theory
from ._memory import check_fits
from .activations import ACTIVATIONS
from .definitions import LOSSES, QUANTITIES
from .initializers import WEIGHT_DISTS
from .specs import MLP, NORMS
from .summary import NONFINITE_KINDS, depth_scale, fitted_log10_rate, regime

DTYPES = ("float32", "float64")
NORM_EPS = 1e-5  # batch/layer norm epsilon, as PyTorch's default
MAX_SEED = 2**64 - 1
PER_LAYER = ("log10_grad_norm", "log10_grad_norm_rms", "log10_weight_grad_norm", "q", "c",
             "saturated_fraction", "dead_fraction")

ProgressCallback = Callable[[int, int], Any]


def _version() -> str:
    from . import __version__

    return __version__


def _check_dtype(dtype: Any) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    return name


def _check_run_args(batch: Any, seed: Any, dtype: Any, loss: Any, n_threads: Any,
                    progress: Any) -> tuple[int, int, str, str, int]:
    batch = v.integer("batch", batch, minimum=1, maximum=1 << 20)
    seed = v.integer("seed", seed, minimum=0, maximum=MAX_SEED)
    dtype = _check_dtype(dtype)
    loss = v.choice("loss", loss, list(LOSSES))
    if n_threads is None:
        n_threads = _core.max_threads()
    n_threads = v.integer("n_threads", n_threads, minimum=1, maximum=1024)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be None or a callable(done, total), got {progress!r}")
    return batch, seed, dtype, loss, n_threads


def _make_group(spec: MLP, batch: int, seed: int, n_threads: int,
                checkpoint_every: int | None) -> Any:
    every = 0 if checkpoint_every is None else v.integer(
        "checkpoint_every", checkpoint_every, minimum=1, maximum=spec.depth)
    return _core.MlpGroup(
        seed=seed, widths=list(spec.layer_widths), batch=batch, input_std=float(np.sqrt(spec.q0)),
        dist=WEIGHT_DISTS[spec.weight_dist], norm_eps=NORM_EPS, checkpoint_every=every,
        store_budget_bytes=512 << 20, n_threads=n_threads)


def run_group(
    specs: Sequence[MLP],
    *,
    batch: int = 16,
    seed: int = 0,
    dtype: Any = "float32",
    loss: str = "projection",
    n_threads: int | None = None,
    progress: ProgressCallback | None = None,
    checkpoint_every: int | None = None,
) -> dict[str, np.ndarray]:
    """Run configurations that share seed, widths, depth and weight distribution
    in one pass (one matrix product per layer for all of them).

    Returns the core's raw arrays, with a leading configuration axis. Each
    configuration's numbers are bit-identical to running it alone.
    """
    batch, seed, dtype, loss, n_threads = _check_run_args(batch, seed, dtype, loss, n_threads, progress)
    specs = list(specs)
    if not specs:
        raise ValueError("specs must hold at least one MLP")
    for i, s in enumerate(specs):
        if not isinstance(s, MLP):
            raise TypeError(f"specs[{i}] must be a gradatlas.MLP, got {type(s).__name__}")
    first = specs[0]
    for i, s in enumerate(specs[1:], 1):
        if s.layer_widths != first.layer_widths or s.weight_dist != first.weight_dist:
            raise ValueError(
                f"specs[{i}] cannot share random matrices with specs[0]: widths and weight "
                f"distribution must match ({s.weight_dist} vs {first.weight_dist})")
    for i, s in enumerate(specs):
        if s.norm == "batch" and batch < 2:
            raise ValueError(f"batch must be >= 2 with norm='batch' (specs[{i}]), got {batch}")
    rows = batch * len(specs)
    n_max = max(first.layer_widths)
    if rows * n_max >= 2**31 or n_max * n_max >= 2**31:
        raise ValueError(
            f"batch * configurations * width = {rows * n_max} exceeds the 32-bit BLAS index range; "
            "reduce batch, width or the number of configurations per group")

    group = _make_group(first, batch, seed, n_threads, checkpoint_every)
    value_bytes = np.dtype(dtype).itemsize
    _, engine_bytes = _core.plan_mlp_memory(group, len(specs), value_bytes)
    outputs = len(specs) * first.depth * 8 * (len(PER_LAYER) + 2)
    check_fits(engine_bytes + outputs, f"this run ({len(specs)} configuration(s), depth {first.depth}, "
               f"width {n_max}, batch {batch}, {dtype})",
               "reduce batch, width or the number of configurations per group, or give checkpoint_every")

    weight_scale = np.stack([s.weight_scales() for s in specs]).astype(np.float64)
    bias_scale = np.stack([np.full(s.depth, s.sigma_b) for s in specs]).astype(np.float64)
    return _core.run_mlp_group(
        dtype, group,
        np.array([ACTIVATIONS[s.activation] for s in specs], dtype=np.int32),
        np.array([s.negative_slope for s in specs], dtype=np.float64),
        np.ascontiguousarray(weight_scale), np.ascontiguousarray(bias_scale),
        np.array([s.residual for s in specs], dtype=bool),
        np.array([s.alpha for s in specs], dtype=np.float64),
        np.array([NORMS[s.norm or "none"] for s in specs], dtype=np.int32),
        np.array([list(LOSSES).index(loss)] * len(specs), dtype=np.int32),
        progress,
    )


def _summaries(spec: MLP, raw: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    g = raw["log10_grad_norm"][i]
    first_bad = int(raw["first_nonfinite_layer"][i])
    with np.errstate(invalid="ignore"):
        total = float(g[0] - g[-1])  # NaN when both ends are exactly zero (-inf)
    rate = float(fitted_log10_rate(g))
    profile = theory.mean_field_profile(spec)
    sw_mid = float(spec.sigma_w_per_layer()[spec.depth // 2])
    chi1 = float(theory.chi1(spec.activation, sw_mid, spec.sigma_b,
                             negative_slope=spec.negative_slope, q0=spec.q0))
    if spec.norm is not None:
        chi1 = float("nan")
    pred = profile["log10_grad_norm"]
    return {
        "total_log10_ratio": total,
        "log10_rate": rate,
        "depth_scale": float(depth_scale(rate)),
        "regime": str(regime(total, first_bad, np.isneginf(g).any())),
        "first_nonfinite_layer": first_bad if first_bad >= 1 else -1,
        "nonfinite_kind": NONFINITE_KINDS[int(raw["nonfinite_kind"][i])],
        "chi1": chi1,
        "predicted_log10_rate": float(pred[0] / (spec.depth - 1)) if spec.depth > 1 else float("nan"),
        "predicted_log10_grad_norm": pred + g[-1] if np.isfinite(g[-1]) else np.full_like(pred, np.nan),
        "predicted_q": profile["q"],
    }


def to_dataset(spec: MLP, raw: dict[str, np.ndarray], i: int, *, batch: int, seed: int,
               dtype: str, loss: str) -> xr.Dataset:
    """The Dataset of configuration i of a group run."""
    layer = np.arange(1, spec.depth + 1)
    data: dict[str, Any] = {name: ("layer", raw[name][i]) for name in PER_LAYER}
    for name, value in _summaries(spec, raw, i).items():
        data[name] = ("layer", value) if np.ndim(value) == 1 else ((), value)
    ds = xr.Dataset(data, coords={"layer": layer})
    for name in ds.data_vars:
        if name in QUANTITIES:
            ds[name].attrs["description"] = QUANTITIES[name]
    ds.attrs.update({
        "spec": spec.to_json(),
        "seed": seed,
        "batch": batch,
        "dtype": dtype,
        "loss": loss,
        "loss_definition": LOSSES[loss],
        "norm_eps": NORM_EPS,
        "gradatlas_version": _version(),
    })
    return ds


def simulate(
    spec: MLP,
    *,
    batch: int = 16,
    seed: int = 0,
    dtype: Any = "float32",
    loss: str = "projection",
    n_threads: int | None = None,
    progress: ProgressCallback | None = None,
    checkpoint_every: int | None = None,
) -> xr.Dataset:
    """Forward and backward passes through ``spec`` at initialization.

    Parameters
    ----------
    spec : MLP
        The network.
    batch : int
        Number of input samples B.
    seed : int
        Key of the counter-based generator (0 .. 2**64 - 1). Weights, biases,
        inputs and projections are pure functions of (seed, layer, element).
    dtype : {"float32", "float64"}
        Arithmetic of the forward and backward passes. Gradient norms are kept
        in log space, so float32 reports gradients far below 1e-38 exactly.
    loss : {"projection", "sum_squares"}
        The per-sample loss (see ``gradatlas.LOSSES``).
    n_threads : int, optional
        OpenMP and BLAS threads (default: all, ``gradatlas.max_threads()``).
    progress : callable(done, total), optional
        Called about every 50 ms from the calling thread; raising in it stops
        the run. Ctrl-C stops a run within about a second in any case.
    checkpoint_every : int, optional
        Layers between stored activations. By default every layer is kept when
        that fits in 512 MiB, else about sqrt(depth) layers, so memory grows
        like sqrt(depth).

    Returns
    -------
    xarray.Dataset
        Per-layer variables (dimension ``layer`` = 1..L) and scalar summaries,
        each described in ``gradatlas.QUANTITIES`` and in its ``description``
        attribute, with the mean-field prediction beside the measurement.
    """
    if not isinstance(spec, MLP):
        raise TypeError(f"spec must be a gradatlas.MLP, got {type(spec).__name__}")
    batch, seed, dtype, loss, n_threads = _check_run_args(batch, seed, dtype, loss, n_threads, progress)
    raw = run_group([spec], batch=batch, seed=seed, dtype=dtype, loss=loss, n_threads=n_threads,
                    progress=progress, checkpoint_every=checkpoint_every)
    return to_dataset(spec, raw, 0, batch=batch, seed=seed, dtype=dtype, loss=loss)


def materialize(spec: MLP, *, batch: int = 16, seed: int = 0, dtype: Any = "float64") -> dict[str, Any]:
    """The exact arrays a run of ``spec`` uses, to rebuild the network elsewhere.

    Returns a dict with ``weights`` (list of L arrays, n_l x n_{l-1}, as
    ``s_l * Z_l`` computed in float64 from the standard matrix of the given
    dtype), ``biases`` (list of L arrays), ``inputs`` (B x n_0) and
    ``projections`` (B x n_L, the u_b of the projection loss). A float32 run
    multiplies ``Z_l`` (float32) by ``s_l`` after the product, so its numbers
    match these weights up to float32 rounding; a float64 run matches exactly.
    """
    if not isinstance(spec, MLP):
        raise TypeError(f"spec must be a gradatlas.MLP, got {type(spec).__name__}")
    batch = v.integer("batch", batch, minimum=1, maximum=1 << 20)
    seed = v.integer("seed", seed, minimum=0, maximum=MAX_SEED)
    dtype = _check_dtype(dtype)
    n = spec.layer_widths
    total = sum(n[l] * n[l + 1] for l in range(spec.depth)) * 8
    check_fits(total, f"materialize (depth {spec.depth})",
               "materialize fewer layers (a shallower spec with the same seed draws the same first layers)")
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
