"""One configuration: simulate it, or materialize the arrays it uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from . import _core, _runner
from . import _validate as v
from ._axes import MAX_SEED, check_dtype
from ._memory import check_fits
from .definitions import LOSSES
from .kinds import kind_of
from .specs import MLP
from .specs.convnet import ConvNet
from .specs.recurrent import GRU, LSTM, RNN

ProgressCallback = Callable[[int, int], Any]


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
    kind = kind_of(specs[0])
    length = kind.length(specs[0])
    if any(kind_of(s) is not kind or kind.length(s) != length for s in specs):
        raise ValueError(f"specs must be of one kind and one {kind.length_field} to run as one group")
    groups, where = kind.make_groups([_runner.Point(s, seed, batch, dtype) for s in specs], True)
    if len(groups) != 1:
        raise ValueError("specs must share what their random matrices depend on (widths, weight distribution, "
                         "input variance; for cells the cell and input width) to run as one group")
    if checkpoint_every is not None:
        checkpoint_every = v.integer("checkpoint_every", checkpoint_every, minimum=1, maximum=length)
    groups[0].check_limits()
    raw = groups[0].run(loss, n_threads, progress, checkpoint_every)
    order = [ci for _, ci, _ in where]  # identical specs share one engine configuration
    # one depth: one head, whose axis goes
    return {k: (a[order, 0] if a.ndim >= 2 and a.shape[1] == 1 and k not in _runner.FORWARD_KEYS else a[order])
            for k, a in raw.items()}


def simulate(
    spec: MLP | ConvNet | RNN | LSTM | GRU,
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
    spec : MLP, ConvNet, RNN, LSTM or GRU
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
    kind = kind_of(spec)
    batch, seed, dtype, loss, n_threads = _check_run_args(batch, seed, dtype, loss, n_threads, progress)
    if getattr(spec, "norm", None) == "batch" and batch < 2:
        raise ValueError(f"batch must be >= 2 with norm='batch', got {batch}")
    point = _runner.Point(spec, seed, batch, dtype)
    groups, where = kind.make_groups([point], True)
    estimate = _runner.plan(groups, 1, loss, n_threads, calibrate=False)
    length = kind.length(spec)
    check_fits(estimate.memory_bytes, f"this run ({kind.length_field} {length}, width {kind.widest(spec)}, "
               f"batch {batch}, {dtype})", "reduce batch or width")
    raw = groups[0].run(loss, n_threads, progress)
    arrays = kind.collect([point], where, [raw], length)
    ds = kind.to_dataset([point], arrays, (), {}, {"loss": loss})
    ds.attrs.update({"spec": spec.to_json(), "seed": seed, "batch": batch, "dtype": dtype})
    return ds


def materialize(spec: MLP | ConvNet | RNN | LSTM | GRU, *, batch: int = 16, seed: int = 0,
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

    For a ``ConvNet``: ``weights`` (L kernels, C x C x K x K as
    ``torch.nn.Conv2d.weight``), ``biases`` (L arrays of C), ``inputs`` and
    ``projections`` (B x C x H x W).
    """
    kind = kind_of(spec)
    batch = v.integer("batch", batch, minimum=1, maximum=1 << 20)
    seed = v.integer("seed", seed, minimum=0, maximum=MAX_SEED)
    dtype = check_dtype(dtype)
    return kind.materialize(spec, batch, seed, dtype)
