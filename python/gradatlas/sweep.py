"""Sweeps: a grid over depth, width, activation, initialization, sigma_w, sigma_b,
architecture, batch, dtype and seeds, run in groups that share random matrices."""

from __future__ import annotations

import dataclasses
import itertools
import json
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from . import _assemble, _chunked, _core, _recurrent, _runner
from . import _validate as v
from ._axes import axis_values, check_distinct, check_dtype, coordinate, is_axis, scalar, seeds_of
from ._version import __version__
from .cells import CELLS, SPEC_CLASSES
from .definitions import LOSSES
from .specs import MLP
from .store import ResultStore, check_path, open_store_attrs

# Swept or fixed settings, in the order their dimensions appear in the Dataset.
AXES = ("depth", "width", "activation", "init", "norm", "residual", "alpha", "negative_slope", "q0",
        "batch", "dtype", "sigma_b", "sigma_w")
SPEC_FIELDS = ("depth", "width", "activation", "init", "norm", "residual", "alpha", "negative_slope", "q0",
               "sigma_b", "sigma_w")
# The same for recurrent sweeps (cell given). Settings a cell does not have
# (activation for LSTM and GRU, forget_bias for RNN and GRU) are ignored by it.
RECURRENT_AXES = ("cell", "steps", "width", "input_width", "activation", "init", "negative_slope", "forget_bias",
                  "h0_std", "loss_at", "batch", "dtype", "sigma_u", "sigma_b", "sigma_w")
# Settings of one kind of sweep that the other does not take, with their defaults.
MLP_ONLY = {"depth": 100, "residual": False, "alpha": 1.0, "norm": None, "q0": 1.0}
RECURRENT_ONLY = {"steps": 100, "input_width": None, "sigma_u": 1.0, "h0_std": 0.0, "forget_bias": 1.0,
                  "loss_at": "last"}

ProgressArg = bool | Callable[[int, int], Any] | None


def _check_value(name: str, value: Any, recurrent: bool) -> Any:
    """Validate one setting alone (with the others at safe defaults); errors name the axis."""
    if name == "batch":
        return v.integer("batch", value, minimum=1, maximum=1 << 20)
    if name == "dtype":
        return check_dtype(value)
    if name == "cell":
        return v.choice("cell", value, list(CELLS))
    trial: dict[str, Any] = {"steps": 2, "width": 2} if recurrent else {"depth": 2, "width": 2}
    trial[name] = value
    if name == "init" and value is None:
        trial["sigma_w"] = 1.0  # init=None is valid with a sigma_w, checked per point
    kind: Any = (SPEC_CLASSES["lstm"] if name == "forget_bias" else SPEC_CLASSES["rnn"]) if recurrent else MLP
    return getattr(kind(**trial), name)


def expand(settings: dict[str, Any]) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Split settings into axes (ordered lists, validated) and fixed values."""
    axes: dict[str, list[Any]] = {}
    fixed: dict[str, Any] = {}
    recurrent = settings.get("cell") is not None
    for name in RECURRENT_AXES if recurrent else AXES:
        value = settings[name]
        if is_axis(value):
            given = axis_values(name, value)
            axes[name] = [_check_value(name, x, recurrent) for x in given]
            check_distinct(name, given, axes[name])
        else:
            fixed[name] = _check_value(name, value, recurrent)
    return axes, fixed


def _points(axes: dict[str, list[Any]], fixed: dict[str, Any], seeds: list[int]) -> list[_runner.Point]:
    names = list(axes)
    points = []
    recurrent = "cell" in {**axes, **fixed}
    spec_fields = [k for k in SPEC_FIELDS if k in fixed]  # the fixed spec settings, once
    base = {k: fixed[k] for k in spec_fields}
    for combo in itertools.product(*axes.values()):
        setting = dict(zip(names, combo))
        spec: Any
        try:
            if recurrent:
                setting = {**fixed, **setting}
                cls = SPEC_CLASSES[setting["cell"]]
                fields = {f.name for f in dataclasses.fields(cls)}
                spec = cls(**{k: setting[k] for k in RECURRENT_AXES if k in fields})
            else:
                # each value was checked by expand; only their combination is checked here
                spec = MLP.from_checked(**base, **{k: setting[k] for k in names if k in SPEC_FIELDS})
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"sweep point {dict(zip(names, combo))}: {exc}") from exc
        batch = setting["batch"] if "batch" in setting else fixed["batch"]
        dtype = setting["dtype"] if "dtype" in setting else fixed["dtype"]
        for seed in seeds:
            points.append(_runner.Point(spec, seed, batch, dtype))
    return points


def _check_kind(settings: dict[str, Any]) -> None:
    """Feed-forward settings need cell=None; recurrent ones need a cell."""
    if settings.get("cell") is None:
        extra = [k for k, default in RECURRENT_ONLY.items() if not _same(settings[k], default)]
        if extra:
            raise ValueError(f"{extra} apply to recurrent sweeps only; give cell ('rnn', 'lstm', 'gru' or a list)")
    else:
        extra = [k for k, default in MLP_ONLY.items() if not _same(settings[k], default)]
        if extra:
            raise ValueError(f"{extra} apply to feed-forward sweeps only (cell={settings['cell']!r}); "
                             "use steps for the length of the unroll")


def _same(value: Any, default: Any) -> bool:
    return not is_axis(value) and (value is default or (default is not None and value == default))


def _prepare(settings: dict[str, Any], seeds: Any, loss: Any, common_random_numbers: Any, n_threads: Any):
    settings = {k: scalar(x) for k, x in settings.items()}
    _check_kind(settings)
    loss = v.choice("loss", loss, list(LOSSES))
    crn = v.boolean("common_random_numbers", common_random_numbers)
    n_threads = _core.max_threads() if n_threads is None else v.integer("n_threads", n_threads, minimum=1, maximum=1024)
    axes, fixed = expand(settings)
    seed_list = seeds_of(seeds)
    if "batch" not in axes and fixed.get("norm") == "batch" and fixed["batch"] < 2:
        raise ValueError(f"batch must be >= 2 with norm='batch', got {fixed['batch']}")
    points = _points(axes, fixed, seed_list)
    for p in points:
        if getattr(p.spec, "norm", None) == "batch" and p.batch < 2:
            raise ValueError(f"batch must be >= 2 with norm='batch', got batch={p.batch}")
    recurrent = settings.get("cell") is not None
    groups, where = (_recurrent.make_groups if recurrent else _runner.make_groups)(points, crn)
    return loss, crn, n_threads, axes, fixed, seed_list, points, groups, where


def plan_sweep(*, depth: Any = 100, width: Any = 256, activation: Any = "tanh", init: Any = "xavier_normal",
               sigma_w: Any = None, sigma_b: Any = 0.0, residual: Any = False, alpha: Any = 1.0, norm: Any = None,
               negative_slope: Any = 0.01, q0: Any = 1.0, batch: Any = 16, dtype: Any = "float32",
               cell: Any = None, steps: Any = 100, input_width: Any = None, sigma_u: Any = 1.0,
               h0_std: Any = 0.0, forget_bias: Any = 1.0, loss_at: Any = "last",
               seeds: Any = 1, loss: str = "projection", common_random_numbers: bool = True,
               n_threads: int | None = None) -> _runner.Plan:
    """What ``sweep`` with these arguments would run: points, groups, memory and a time estimate.

    A request that would not fit in memory is refused (``TooLargeError``) as
    ``sweep`` would; otherwise the time estimate comes from a probe of up to 10
    layers and 16 configurations of the first group (usually well under a second).
    """
    settings = dict(depth=depth, width=width, activation=activation, init=init, sigma_w=sigma_w,
                    sigma_b=sigma_b, residual=residual, alpha=alpha, norm=norm, negative_slope=negative_slope,
                    q0=q0, batch=batch, dtype=dtype, cell=cell, steps=steps, input_width=input_width,
                    sigma_u=sigma_u, h0_std=h0_std, forget_bias=forget_bias, loss_at=loss_at)
    n_threads = v.threads(n_threads, _core.max_threads(), stacklevel=3)  # more than the cores: capped, warned
    loss, crn, n_threads, _, _, _, points, groups, _ = _prepare(settings, seeds, loss, common_random_numbers,
                                                                n_threads)
    estimate = _chunked.schedule(points, groups, loss=loss, n_threads=n_threads, common_random_numbers=crn,
                                 recurrent=scalar(settings["cell"]) is not None, chunk_size=None,
                                 chunked=False)
    if groups:  # the time from a small probe of the first group, after the memory check passed
        estimate.seconds = estimate.useful_flops / groups[0].throughput(loss, n_threads)
    return estimate


def sweep(*, depth: Any = 100, width: Any = 256, activation: Any = "tanh", init: Any = "xavier_normal",
          sigma_w: Any = None, sigma_b: Any = 0.0, residual: Any = False, alpha: Any = 1.0, norm: Any = None,
          negative_slope: Any = 0.01, q0: Any = 1.0, batch: Any = 16, dtype: Any = "float32",
          cell: Any = None, steps: Any = 100, input_width: Any = None, sigma_u: Any = 1.0, h0_std: Any = 0.0,
          forget_bias: Any = 1.0, loss_at: Any = "last",
          seeds: Any = 1, loss: str = "projection", common_random_numbers: bool = True,
          n_threads: int | None = None, progress: ProgressArg = True, store: Any = None, overwrite: bool = False,
          executor: Any = None, chunk_size: int | None = None) -> xr.Dataset:
    """Run a grid of configurations and return one labelled Dataset.

    Every setting of ``gradatlas.MLP`` plus ``batch`` and ``dtype`` takes either a
    single value (fixed) or a list, tuple, range or 1-d array (an axis: one
    dimension of the result, in the order of ``gradatlas.sweep.AXES``).

    With ``cell`` given (``"rnn"``, ``"lstm"``, ``"gru"`` or a list of them) the
    sweep is over recurrent networks: the settings of ``gradatlas.RNN`` /
    ``LSTM`` / ``GRU`` (``steps``, ``width``, ``input_width``, ``activation``,
    ``init``, ``sigma_w``, ``sigma_b``, ``sigma_u``, ``h0_std``, ``forget_bias``,
    ``loss_at``) plus ``batch`` and ``dtype``, in the order of
    ``gradatlas.sweep.RECURRENT_AXES``, with a ``step`` dimension instead of
    ``layer``. A cell ignores the settings it does not have (``activation`` is
    the vanilla RNN's, ``forget_bias`` the LSTM's), so ``cell=["rnn", "lstm",
    "gru"]`` with ``sigma_w`` as a second axis is a (cell, sigma_w) phase diagram.
    The feed-forward settings ``depth``, ``residual``, ``alpha``, ``norm`` and
    ``q0`` are refused there, as the recurrent ones are without ``cell``.

    Parameters
    ----------
    seeds : int or sequence of int
        Independent repetitions: ``n`` means seeds 0..n-1. Always a dimension.
    loss : {"projection", "sum_squares"}
        See ``gradatlas.LOSSES``.
    common_random_numbers : bool
        On (default): points that share seed, width, batch, dtype, input variance
        and weight distribution share their random matrices, drawn once, and run
        as one group; neighbouring points of a phase diagram then differ only in
        the parameter swept. Off: every configuration draws its own matrices
        from a seed derived from (seed, configuration) -- the statistics of
        independent networks, as a PyTorch loop would have; the seed used is in
        the ``point_seed`` variable, and ``simulate(spec, seed=point_seed)``
        reproduces the point.
    n_threads : int, optional
        Threads (default all). With at least as many groups as threads, groups
        run concurrently, one thread each; otherwise one after another.
    progress : bool or callable(done, total)
        A tqdm bar (True, the default), nothing (False), or a callback.
    store : str or path, optional
        A directory for a Zarr store (needs ``gradatlas[distributed]``): every
        finished chunk of ``chunk_size`` points is written there as it completes,
        with the grid, the settings and the library version. Running the same
        sweep with the same store again skips the chunks already done and runs
        only the rest, so a sweep killed at any moment (even SIGKILL) resumes to
        the same final Dataset; ``gradatlas.open_results(store)`` loads it. A
        store made by another sweep or version is refused unless ``overwrite``.
    overwrite : bool
        Replace an existing store instead of resuming it.
    executor : concurrent.futures.Executor, optional
        Run chunks of ``chunk_size`` points as tasks of this executor, e.g. a
        Dask ``Client(...).get_executor()`` or a ``ProcessPoolExecutor`` with the
        'spawn' start method (the OpenMP runtime is not fork-safe). The numbers
        are identical to a local run. Each task runs the core with ``n_threads``
        threads (default 1 with an executor): give each worker process one task
        at a time (Dask: ``threads_per_worker=1``) and ``n_threads`` = cores per
        worker process, so threads never outnumber cores. Results stream back to
        this process, which alone writes the store.
    chunk_size : int, optional
        Points per task and per store chunk (default 256). Without a store or
        an executor, a grid whose estimate is under 512 MiB runs at once and a
        larger one in chunks sized to that budget; a ``chunk_size`` given
        there runs chunks of that many points. The numbers are the same.

    Returns
    -------
    xarray.Dataset
        Dimensions: one per axis, ``seed`` and ``layer`` (1..max depth, NaN past
        a point's depth), with every variable ``simulate`` returns. A depth axis
        costs one forward pass for all depths and one backward pass per depth.
        Each point is bit-identical to ``simulate`` of the same configuration
        and seed. On Ctrl-C the sweep stops within about a second and returns
        what finished (unfinished points are NaN, ``attrs['complete']`` is False)
        with a warning.
    """
    settings = dict(depth=depth, width=width, activation=activation, init=init, sigma_w=sigma_w,
                    sigma_b=sigma_b, residual=residual, alpha=alpha, norm=norm, negative_slope=negative_slope,
                    q0=q0, batch=batch, dtype=dtype, cell=cell, steps=steps, input_width=input_width,
                    sigma_u=sigma_u, h0_std=h0_std, forget_bias=forget_bias, loss_at=loss_at)
    if not (isinstance(progress, bool) or progress is None or callable(progress)):
        raise TypeError(f"progress must be True, False or a callable(done, total), got {progress!r}")
    if executor is not None:
        _chunked.check_executor(executor)
        if n_threads is None:
            n_threads = 1
    else:  # with an executor the threads run in worker processes, maybe on machines with more cores
        n_threads = v.threads(n_threads, _core.max_threads(), stacklevel=3)
    overwrite = v.boolean("overwrite", overwrite)
    if store is not None:
        store = check_path(store, "store")
    if chunk_size is not None:
        chunk_size = v.integer("chunk_size", chunk_size, minimum=1, maximum=1 << 24)
    chunk = _chunked.DEFAULT_CHUNK if chunk_size is None else chunk_size  # a store's and an executor's
    loss, crn, n_threads, axes, fixed, seed_list, points, groups, where = _prepare(
        settings, seeds, loss, common_random_numbers, n_threads)
    recurrent = scalar(cell) is not None
    estimate = _chunked.schedule(points, groups, loss=loss, n_threads=n_threads, common_random_numbers=crn,
                                 recurrent=recurrent, chunk_size=chunk_size,
                                 chunked=store is not None or executor is not None)
    length = max(p.spec.steps if recurrent else p.spec.depth for p in points)
    described = _describe(axes, fixed, seed_list, loss, crn)

    result_store = None
    bar = None
    try:
        if store is not None:
            result_store = ResultStore(store, described, _chunked.layout(recurrent, length), len(points), chunk,
                                       owned_names=_chunked.ARRAY_NAMES)
            result_store.open(overwrite)  # before the progress bar: a refused store prints nothing else
        bar, callback = _progress(progress, len(points))
        if estimate.chunk_points is None:
            results, interrupted = _runner.run_groups(groups, loss, n_threads, callback)
            arrays = (_recurrent if recurrent else _assemble).gather(points, where, results, length)
        else:
            arrays, interrupted, _ = _chunked.run(
                points, common_random_numbers=crn, loss=loss, n_threads=n_threads, length=length,
                recurrent=recurrent, store=result_store, executor=executor, progress=callback,
                chunk_size=estimate.chunk_points)
    finally:
        if bar is not None:
            bar.close()
        if result_store is not None:
            result_store.close()
    ds = _result(points, groups, where, arrays, axes, fixed, seed_list, loss, crn, not interrupted, recurrent)
    if store is not None:
        ds.attrs["store"] = str(store)
    if interrupted:
        done = int(arrays["finished"].sum())
        warnings.warn(f"sweep interrupted: {done} of {len(points)} points finished; the others are NaN"
                      + (f" (run again with store={str(store)!r} to finish)" if store is not None else ""),
                      RuntimeWarning, stacklevel=2)
    return ds


def _describe(axes: dict[str, list[Any]], fixed: dict[str, Any], seeds: list[int], loss: str,
              crn: bool) -> dict[str, Any]:
    """What identifies a sweep in its store: enough to rebuild every point."""
    sweep = {"axes": axes, "fixed": fixed, "seeds": seeds, "loss": loss, "common_random_numbers": crn}
    return {"gradatlas_version": __version__, "network": "recurrent" if "cell" in {**axes, **fixed}
            else "feedforward", "sweep": json.dumps(sweep, sort_keys=True)}


def _result(points: list[_runner.Point], groups: list[Any], where: list[tuple[int, int, int]],
            arrays: dict[str, np.ndarray], axes: dict[str, list[Any]], fixed: dict[str, Any], seed_list: list[int],
            loss: str, crn: bool, complete: bool, recurrent: bool) -> xr.Dataset:
    """The labelled Dataset of a sweep from its points' raw arrays."""
    shape = tuple(len(a) for a in axes.values()) + (len(seed_list),)
    coords: dict[str, Any] = {name: coordinate(values) for name, values in axes.items()}
    coords["seed"] = np.array(seed_list, dtype=np.uint64)
    attrs = {
        "fixed": json.dumps({k: fixed[k] for k in fixed}, sort_keys=True),
        "network": "recurrent" if recurrent else "feedforward",
        "axes": json.dumps(list(axes)),
        "loss": loss,
        "common_random_numbers": int(crn),
        "complete": int(complete),
    }
    ds = (_recurrent if recurrent else _assemble).to_dataset(points, arrays, shape, coords, attrs)
    point_seed = [groups[gi].seed for gi, _, _ in where]
    ds["point_seed"] = (list(coords), np.array(point_seed, dtype=np.uint64).reshape(shape))
    ds["point_seed"].attrs["description"] = (
        "the generator key each point ran with (the seed unless common_random_numbers is off)")
    return ds


def open_results(path: Any) -> xr.Dataset:
    """The Dataset of a sweep stored with ``sweep(..., store=path)``, finished or not.

    Identical to what the sweep returned (or will return once resumed); points
    not yet run are NaN and ``attrs['complete']`` is 0.
    """
    path = check_path(path, "path", allow_cwd=True)
    attrs = open_store_attrs(path)
    described = json.loads(attrs["sweep"])
    fixed, seed_list = described["fixed"], described["seeds"]
    loss, crn = described["loss"], described["common_random_numbers"]
    recurrent = attrs["network"] == "recurrent"
    # The description is JSON with sorted keys; the points were run (and stored) in the
    # axes' canonical order, which the grid must follow again or values land on other coordinates.
    axes = {name: described["axes"][name] for name in (RECURRENT_AXES if recurrent else AXES)
            if name in described["axes"]}
    points = _points(axes, fixed, seed_list)
    groups, where = (_recurrent if recurrent else _runner).make_groups(points, crn)
    length = max(p.spec.steps if recurrent else p.spec.depth for p in points)
    result_store = ResultStore(path, {k: attrs[k] for k in ("gradatlas_version", "network", "sweep")},
                               _chunked.layout(recurrent, length), len(points), int(attrs["chunk_size"]))
    result_store.open_readonly()
    arrays, done, damaged = result_store.read_verified()
    if damaged:
        warnings.warn(f"store {str(path)!r}: {_chunked.describe_chunks(damaged)} (checksum mismatch or "
                      "unreadable); their points are NaN (run the sweep again with this store to "
                      "recompute them)", RuntimeWarning, stacklevel=2)
    complete = len(done) == result_store.n_chunks
    ds = _result(points, groups, where, arrays, axes, fixed, seed_list, loss, crn, complete, recurrent)
    ds.attrs["store"] = str(path)
    ds.attrs["damaged_chunks"] = json.dumps(damaged)
    return ds


def _progress(progress: ProgressArg, n_points: int):
    if progress is True:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is a dependency
            return None, None
        bar = tqdm(total=n_points, unit="point", desc="sweep", smoothing=0.1)

        def update(done: int, total: int) -> None:
            # update() (not refresh) so that tqdm's own rate limit applies.
            bar.update(round(n_points * done / max(total, 1), 1) - bar.n)

        return bar, update
    if callable(progress):
        return None, progress
    return None, None
