"""One configuration: simulate it, or materialize the arrays it uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from . import _core, _runner
from . import _validate as v
from ._assemble import gather, to_dataset
from ._memory import check_fits
from .definitions import LOSSES
from .initializers import WEIGHT_DISTS
from .specs import MLP
from .sweep import MAX_SEED, _check_dtype

ProgressCallback = Callable[[int, int], Any]


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


def run_specs(specs: list[MLP], *, batch: int = 16, seed: int = 0, dtype: Any = "float32",
              loss: str = "projection", n_threads: int | None = None,
              progress: ProgressCallback | None = None, checkpoint_every: int | None = None) -> dict[str, np.ndarray]:
    """Run specs of one depth that share widths and weight distribution as one group.

    Returns the core's arrays with a leading configuration axis: gradient and
    forward arrays (C, L), first_nonfinite_layer and nonfinite_kind (C,).
    For tests and benchmarks; ``simulate`` and ``sweep`` are the public way in.
    """
    batch, seed, dtype, loss, n_threads = _check_run_args(batch, seed, dtype, loss, n_threads, progress)
    for i, s in enumerate(specs):
        if not isinstance(s, MLP):
            raise TypeError(f"specs[{i}] must be a gradatlas.MLP, got {type(s).__name__}")
    first = specs[0]
    if any(s.layer_widths != first.layer_widths or s.weight_dist != first.weight_dist or s.q0 != first.q0
           for s in specs):
        raise ValueError("specs must share widths, depth, q0 and weight distribution to run as one group")
    if checkpoint_every is not None:
        checkpoint_every = v.integer("checkpoint_every", checkpoint_every, minimum=1, maximum=first.depth)
    group = _runner.Group(seed, batch, dtype, first.layer_widths, first.weight_dist, first.q0,
                          configs=list(specs), depths=[first.depth])
    _runner.check_group_limits(group)
    raw = _runner.run_one(group, loss, n_threads, progress, checkpoint_every)
    return {k: (a[:, 0] if a.ndim >= 2 and a.shape[1] == 1 and k not in _runner.FORWARD_KEYS else a)
            for k, a in raw.items()}


def simulate(
    spec: MLP,
    *,
    batch: int = 16,
    seed: int = 0,
    dtype: Any = "float32",
    loss: str = "projection",
    n_threads: int | None = None,
    progress: ProgressCallback | None = None,
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
        OpenMP threads (default: all, ``gradatlas.max_threads()``).
    progress : callable(done, total), optional
        Called about every 50 ms from the calling thread; raising in it stops
        the run. Ctrl-C stops a run within about 50 ms in any case.

    Returns
    -------
    xarray.Dataset
        Per-layer variables (dimension ``layer`` = 1..L) and scalar summaries,
        each described in ``gradatlas.QUANTITIES`` and in its ``description``
        attribute, with the mean-field prediction beside the measurement. The
        same numbers, bit for bit, as this configuration inside a ``sweep``.

    Notes
    -----
    Every layer is kept for the backward pass when that fits in 512 MiB;
    otherwise activations are checkpointed every ~sqrt(L) layers and each
    segment recomputed once, so memory grows like sqrt(depth).
    """
    if not isinstance(spec, MLP):
        raise TypeError(f"spec must be a gradatlas.MLP, got {type(spec).__name__}")
    batch, seed, dtype, loss, n_threads = _check_run_args(batch, seed, dtype, loss, n_threads, progress)
    if spec.norm == "batch" and batch < 2:
        raise ValueError(f"batch must be >= 2 with norm='batch', got {batch}")
    point = _runner.Point(spec, seed, batch, dtype)
    groups, where = _runner.make_groups([point], common_random_numbers=True)
    estimate = _runner.plan(groups, 1, loss, n_threads, calibrate=False)
    check_fits(estimate.memory_bytes, f"this run (depth {spec.depth}, width {max(spec.layer_widths)}, "
               f"batch {batch}, {dtype})", "reduce batch or width")
    raw = _runner.run_one(groups[0], loss, n_threads, progress)
    arrays = gather([point], where, [raw], spec.depth)
    ds = to_dataset([point], arrays, (), {}, {"loss": loss})
    ds.attrs.update({"spec": spec.to_json(), "seed": seed, "batch": batch, "dtype": dtype})
    return ds


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
