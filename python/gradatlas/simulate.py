"""One configuration: simulate it, or materialize the arrays it uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from . import _core, _recurrent, _runner
from . import _validate as v
from ._assemble import gather, to_dataset
from ._axes import MAX_SEED, check_dtype
from ._memory import check_fits
from .cells import GRU, LSTM, RNN
from .definitions import LOSSES
from .initializers import WEIGHT_DISTS
from .specs import MLP

ProgressCallback = Callable[[int, int], Any]
RECURRENT_TYPES = (RNN, LSTM, GRU)
SPEC_TYPES = "a gradatlas.MLP, RNN, LSTM or GRU"


def _check_spec(spec: Any) -> None:
    if not isinstance(spec, (MLP, *RECURRENT_TYPES)):
        raise TypeError(f"spec must be {SPEC_TYPES}, got {type(spec).__name__}")


def _check_run_args(batch: Any, seed: Any, dtype: Any, loss: Any, n_threads: Any,
                    progress: Any) -> tuple[int, int, str, str, int]:
    batch = v.integer("batch", batch, minimum=1, maximum=1 << 20)
    seed = v.integer("seed", seed, minimum=0, maximum=MAX_SEED)
    dtype = check_dtype(dtype)
    loss = v.choice("loss", loss, list(LOSSES))
    n_threads = v.threads(n_threads, _core.max_threads())
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
    for s in specs:
        _check_spec(s)
    first = specs[0]
    if isinstance(first, RECURRENT_TYPES):
        points = [_runner.Point(s, seed, batch, dtype) for s in specs]
        groups, _ = _recurrent.make_groups(points, common_random_numbers=True)
        if len(groups) != 1:
            raise ValueError("specs must share cell, width, input width, steps and init distribution "
                             "to run as one group")
        if checkpoint_every is not None:
            checkpoint_every = v.integer("checkpoint_every", checkpoint_every, minimum=1, maximum=first.steps)
        groups[0].check_limits()
        return groups[0].run(loss, n_threads, progress, checkpoint_every)
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
    spec: MLP | RNN | LSTM | GRU,
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
    spec : MLP, RNN, LSTM or GRU
        The network: feed-forward, or a recurrent cell unrolled for T steps.
    batch : int
        Number of input samples (sequences) B.
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
        For a recurrent spec the dimension is ``step`` = 0..T (t = 0 is the
        initial state) with the variables of ``gradatlas.RECURRENT_QUANTITIES``:
        dl/dh_t per step (and dl/dc_t for LSTM), the memory horizon, the fitted
        per-step rate and, for vanilla RNNs, the mean-field prediction.

    Notes
    -----
    The backward pass reads what the forward pass kept, within a store budget
    of 768 MiB (so that a run's peak, with the interpreter, stays under 1 GiB):
    every layer with its random matrix when that fits; else every layer's
    activations, the matrices drawn again going back; else activations
    checkpointed every ~sqrt(L) layers and each segment recomputed once, so
    memory grows like sqrt(depth). Recurrent unrolls keep every step or
    checkpoint the state every ~sqrt(T) steps.
    """
    _check_spec(spec)
    batch, seed, dtype, loss, n_threads = _check_run_args(batch, seed, dtype, loss, n_threads, progress)
    if isinstance(spec, RECURRENT_TYPES):
        return _simulate_recurrent(spec, batch, seed, dtype, loss, n_threads, progress)
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


def _simulate_recurrent(spec: Any, batch: int, seed: int, dtype: str, loss: str, n_threads: int,
                        progress: ProgressCallback | None) -> xr.Dataset:
    point = _runner.Point(spec, seed, batch, dtype)
    groups, where = _recurrent.make_groups([point], common_random_numbers=True)
    group = groups[0]
    group.check_limits()
    check_fits(group.memory_bytes(loss), f"this run ({spec.cell}, {spec.steps} steps, width {spec.width}, "
               f"batch {batch}, {dtype})", "reduce batch or width")
    raw = group.run(loss, n_threads, progress)
    arrays = _recurrent.gather([point], where, [raw], spec.steps)
    ds = _recurrent.to_dataset([point], arrays, (), {}, {"loss": loss})
    ds.attrs.update({"spec": spec.to_json(), "seed": seed, "batch": batch, "dtype": dtype})
    return ds


def materialize(spec: MLP | RNN | LSTM | GRU, *, batch: int = 16, seed: int = 0,
                dtype: Any = "float64") -> dict[str, Any]:
    """The exact arrays a run of ``spec`` uses, to rebuild the network elsewhere.

    Returns a dict with ``weights`` (list of L arrays, n_l x n_{l-1}, as
    ``s_l * Z_l`` computed in float64 from the standard matrix of the given
    dtype), ``biases`` (list of L arrays), ``inputs`` (B x n_0) and
    ``projections`` (B x n_L, the u_b of the projection loss). A float32 run
    multiplies ``Z_l`` (float32) by ``s_l`` after the product, so its numbers
    match these weights up to float32 rounding; a float64 run matches exactly.

    For a recurrent spec (``RNN``, ``LSTM``, ``GRU``) it returns PyTorch's
    parameters of ``torch.nn.RNNCell`` / ``LSTMCell`` / ``GRUCell``:
    ``weight_ih`` (G n x n_in), ``weight_hh`` (G n x n), ``bias_ih``, ``bias_hh``
    (G n), in PyTorch's gate order, plus ``inputs`` (T x B x n_in), ``h0``
    (B x n), ``c0`` for LSTM, and ``projections`` (T x B x n; the u_t of the
    projection loss at step t). Loading them into the PyTorch cell and
    unrolling it gives the same per-step gradients.
    """
    _check_spec(spec)
    batch = v.integer("batch", batch, minimum=1, maximum=1 << 20)
    seed = v.integer("seed", seed, minimum=0, maximum=MAX_SEED)
    dtype = check_dtype(dtype)
    if isinstance(spec, RECURRENT_TYPES):
        return _materialize_recurrent(spec, batch, seed, dtype)
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


def _materialize_recurrent(spec: Any, batch: int, seed: int, dtype: str) -> dict[str, Any]:
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
