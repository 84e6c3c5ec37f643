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

from . import _chunked, _core, _runner
from . import _validate as v
from ._axes import axis_values, check_distinct, coordinate, is_axis, scalar, seeds_of
from ._version import __version__
from .definitions import LOSSES
from .kinds import (
    ARRAY_NAMES,
    CONVOLUTIONAL,
    FEEDFORWARD,
    RECURRENT,
    RUN_DEFAULTS,
    RUN_SETTINGS,
    Kind,
    kind_named,
    kind_of,
)
from .specs import ConvNet
from .store import ResultStore, check_path, open_store_attrs

# Swept or fixed settings, in the order their dimensions appear in the Dataset
# (each kind's; see gradatlas.kinds). A cell ignores the settings it does not
# have (activation for LSTM and GRU, forget_bias for RNN and GRU).
AXES = FEEDFORWARD.settings
RECURRENT_AXES = RECURRENT.settings


def _shorthand() -> dict[str, Any]:
    """The keyword shorthand's defaults (no template spec): each setting's spec-field default, the MLP's
    where families share a name; depth and steps 100; neither cell nor channels (a feed-forward sweep)."""
    kinds = (FEEDFORWARD, RECURRENT, CONVOLUTIONAL)
    names = {name for kind in kinds for name in kind.settings}
    out: dict[str, Any] = {}
    for cls in (cls for kind in kinds for cls in kind.spec_types):
        for f in dataclasses.fields(cls):
            if f.name in names and f.default is not dataclasses.MISSING:
                out.setdefault(f.name, f.default)
    return {**out, "depth": 100, "steps": 100, "cell": None, "channels": None, **RUN_DEFAULTS}


def _only(kind: Kind, *others: Kind, chooser: str | None = None) -> dict[str, Any]:
    """The settings of ``kind`` that no other kind takes (and that are no run setting or the kind's own
    chooser), at their shorthand defaults: given off them, they name the kind a sweep must be."""
    taken = {name for other in others for name in other.settings}
    return {name: SHORTHAND[name] for name in kind.settings
            if name not in taken and name not in RUN_SETTINGS and name != chooser}


SHORTHAND = _shorthand()
MLP_ONLY = _only(FEEDFORWARD, RECURRENT)  # depth, norm, residual... (a ConvNet has them too)
RECURRENT_ONLY = _only(RECURRENT, FEEDFORWARD, CONVOLUTIONAL, chooser="cell")
CONV_ONLY = _only(CONVOLUTIONAL, FEEDFORWARD, RECURRENT, chooser="channels")
CONV_DEFAULT_INIT = next(f.default for f in dataclasses.fields(ConvNet) if f.name == "init")

ProgressArg = bool | Callable[[int, int], Any] | None


def expand(kind: Kind, settings: dict[str, Any]) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Split settings into axes (ordered lists, validated) and fixed values."""
    axes: dict[str, list[Any]] = {}
    fixed: dict[str, Any] = {}
    for name in kind.settings:
        value = settings[name]
        if is_axis(value):
            given = axis_values(name, value)
            axes[name] = [kind.check_setting(name, x) for x in given]
            check_distinct(name, given, axes[name])
        else:
            fixed[name] = kind.check_setting(name, value)
    return axes, fixed


def _points(kind: Kind, axes: dict[str, list[Any]], fixed: dict[str, Any], seeds: list[int]) -> list[_runner.Point]:
    names = list(axes)
    build = kind.spec_builder(fixed)
    points = []
    for combo in itertools.product(*axes.values()):
        setting = dict(zip(names, combo))
        try:
            spec = build(setting)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"sweep point {setting}: {exc}") from exc
        batch = setting["batch"] if "batch" in setting else fixed["batch"]
        dtype = setting["dtype"] if "dtype" in setting else fixed["dtype"]
        for seed in seeds:
            points.append(_runner.Point(spec, seed, batch, dtype))
    return points


def _settings(spec: Any, given: dict[str, Any]) -> tuple[Kind, dict[str, Any]]:
    """The kind and every setting of a sweep: from a template spec and the axes or values given
    over its fields, or from the keyword shorthand (an MLP, or a recurrent cell with ``cell``)."""
    given = {k: scalar(x) for k, x in given.items()}
    if spec is None:
        unknown = sorted(set(given) - set(SHORTHAND))
        if unknown:
            raise TypeError(f"sweep got unknown settings {unknown}; accepted: {sorted(SHORTHAND)}")
        settings = {**SHORTHAND, **given}
        _check_kind(settings)
        kind = RECURRENT if settings["cell"] is not None else (
            FEEDFORWARD if settings["channels"] is None else CONVOLUTIONAL)
        if kind is CONVOLUTIONAL and "init" not in given:
            settings["init"] = CONV_DEFAULT_INIT  # ConvNet's own default, as a template would have
        return kind, {name: settings[name] for name in kind.settings}
    kind = kind_of(spec)
    unknown = sorted(set(given) - set(kind.settings))
    if unknown:
        raise TypeError(f"sweep over a {type(spec).__name__} takes axes or values of {list(kind.settings)}; "
                        f"got {unknown}")
    unused = kind.unused(spec, given)
    if unused:
        raise TypeError(f"{type(spec).__name__} has no setting {unused[0]!r}: every point of this sweep would "
                        f"be the same network (sweep cell as well to compare cells that have it)")
    if getattr(spec, "widths", None) is not None:
        raise ValueError("a template spec with explicit widths cannot be swept (widths is not a sweep setting); "
                         "give width, one value for every layer")
    settings = {}
    for name in kind.settings:
        if name in given:
            settings[name] = given[name]
        elif name in RUN_SETTINGS:
            settings[name] = RUN_DEFAULTS[name]
        else:  # the template's own value; a cell's shorthand default where it has no such field
            settings[name] = getattr(spec, name) if hasattr(spec, name) else SHORTHAND[name]
    return kind, settings


def _check_kind(settings: dict[str, Any]) -> None:
    """Feed-forward settings need cell=None; recurrent ones need a cell; convolutional ones channels."""
    if settings.get("cell") is not None and settings.get("channels") is not None:
        raise ValueError("give cell (a recurrent sweep) or channels (a convolutional one), not both")
    if settings.get("channels") is None:
        extra = [k for k, default in CONV_ONLY.items() if not _same(settings[k], default)]
        if extra:
            raise ValueError(f"{extra} apply to convolutional sweeps only; give channels")
    elif not _same(settings["width"], SHORTHAND["width"]):
        raise ValueError("width does not apply to convolutional sweeps; give channels and image_size")
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


def _prepare(kind: Kind, settings: dict[str, Any], seeds: Any, loss: Any, common_random_numbers: Any,
             n_threads: Any):
    loss = v.choice("loss", loss, list(LOSSES))
    crn = v.boolean("common_random_numbers", common_random_numbers)
    n_threads = _core.max_threads() if n_threads is None else v.integer("n_threads", n_threads, minimum=1, maximum=1024)
    axes, fixed = expand(kind, settings)
    seed_list = seeds_of(seeds)
    if "batch" not in axes and fixed.get("norm") == "batch" and fixed["batch"] < 2:
        raise ValueError(f"batch must be >= 2 with norm='batch', got {fixed['batch']}")
    points = _points(kind, axes, fixed, seed_list)
    for p in points:
        if getattr(p.spec, "norm", None) == "batch" and p.batch < 2:
            raise ValueError(f"batch must be >= 2 with norm='batch', got batch={p.batch}")
    groups, where = kind.make_groups(points, crn)
    return loss, crn, n_threads, axes, fixed, seed_list, points, groups, where


def plan_sweep(spec: Any = None, /, *, seeds: Any = 1, loss: str = "projection",
               common_random_numbers: bool = True, n_threads: int | None = None, **settings: Any) -> _runner.Plan:
    """What ``sweep`` with these arguments would run: points, groups, memory and a time estimate.

    A request that would not fit in memory is refused (``TooLargeError``) as
    ``sweep`` would; otherwise the time estimate comes from a probe of up to 10
    layers and 16 configurations of the first group (usually well under a second).
    """
    kind, settings = _settings(spec, settings)
    n_threads = v.threads(n_threads, _core.max_threads(), stacklevel=3)  # more than the cores: capped, warned
    loss, crn, n_threads, _, _, _, points, groups, _ = _prepare(kind, settings, seeds, loss,
                                                                common_random_numbers, n_threads)
    estimate = _chunked.schedule(points, groups, kind, loss=loss, n_threads=n_threads, common_random_numbers=crn,
                                 chunk_size=None, chunked=False)
    if groups:  # the time from a small probe of the first group, after the memory check passed
        estimate.seconds = estimate.useful_flops / groups[0].throughput(loss, n_threads)
    return estimate


def sweep(spec: Any = None, /, *, seeds: Any = 1, loss: str = "projection", common_random_numbers: bool = True,
          n_threads: int | None = None, progress: ProgressArg = True, store: Any = None, overwrite: bool = False,
          executor: Any = None, chunk_size: int | None = None, **settings: Any) -> xr.Dataset:
    """Run a grid of configurations and return one labelled Dataset.

    ``sweep(spec, **settings)`` sweeps a template spec: each keyword names one
    of its settings (a field of the spec, ``batch`` or ``dtype``; for cells also
    ``cell``) and gives either a single value or a list, tuple, range or 1-d
    array (an axis: one dimension of the result, in the order of the kind's
    settings, ``gradatlas.sweep.AXES`` / ``RECURRENT_AXES``); every other
    setting is the template's. For example
    ``sweep(ga.MLP(depth=200, activation="tanh"), sigma_w=np.linspace(0.5, 3, 11), sigma_b=[0, 0.1])``
    or ``sweep(ga.LSTM(steps=500, width=64), forget_bias=[0, 1, 3], seeds=4)``.

    Without a spec, the keywords alone describe the grid (a shorthand kept from
    0.1): every setting of ``gradatlas.MLP`` plus ``batch`` and ``dtype``, with
    the defaults depth=100, width=256, activation="tanh", init="xavier_normal".

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
    kind, settings = _settings(spec, settings)
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
        kind, settings, seeds, loss, common_random_numbers, n_threads)
    estimate = _chunked.schedule(points, groups, kind, loss=loss, n_threads=n_threads, common_random_numbers=crn,
                                 chunk_size=chunk_size, chunked=store is not None or executor is not None)
    length = max(kind.length(p.spec) for p in points)
    described = _describe(kind, axes, fixed, seed_list, loss, crn)

    result_store = None
    bar = None
    try:
        if store is not None:
            result_store = ResultStore(store, described, kind.layout(length), len(points), chunk,
                                       owned_names=ARRAY_NAMES, profile=kind.profile)
            result_store.open(overwrite)  # before the progress bar: a refused store prints nothing else
        bar, callback = _progress(progress, len(points))
        if estimate.chunk_points is None:
            results, interrupted = _runner.run_groups(groups, loss, n_threads, callback)
            arrays = kind.collect(points, where, results, length)
        else:
            arrays, interrupted, _ = _chunked.run(
                points, common_random_numbers=crn, loss=loss, n_threads=n_threads, length=length,
                kind=kind, store=result_store, executor=executor, progress=callback,
                chunk_size=estimate.chunk_points)
    finally:
        if bar is not None:
            bar.close()
        if result_store is not None:
            result_store.close()
    ds = _result(kind, points, groups, where, arrays, axes, fixed, seed_list, loss, crn, not interrupted)
    if store is not None:
        ds.attrs["store"] = str(store)
    if interrupted:
        done = int(arrays["finished"].sum())
        warnings.warn(f"sweep interrupted: {done} of {len(points)} points finished; the others are NaN"
                      + (f" (run again with store={str(store)!r} to finish)" if store is not None else ""),
                      RuntimeWarning, stacklevel=2)
    return ds


def _describe(kind: Kind, axes: dict[str, list[Any]], fixed: dict[str, Any], seeds: list[int], loss: str,
              crn: bool) -> dict[str, Any]:
    """What identifies a sweep in its store: enough to rebuild every point."""
    sweep = {"axes": axes, "fixed": kind.identity(fixed), "seeds": seeds, "loss": loss, "common_random_numbers": crn}
    return {"gradatlas_version": __version__, "network": kind.network, "sweep": json.dumps(sweep, sort_keys=True)}


def _result(kind: Kind, points: list[_runner.Point], groups: list[Any], where: list[tuple[int, int, int]],
            arrays: dict[str, np.ndarray], axes: dict[str, list[Any]], fixed: dict[str, Any], seed_list: list[int],
            loss: str, crn: bool, complete: bool) -> xr.Dataset:
    """The labelled Dataset of a sweep from its points' raw arrays."""
    shape = tuple(len(a) for a in axes.values()) + (len(seed_list),)
    coords: dict[str, Any] = {name: coordinate(values) for name, values in axes.items()}
    coords["seed"] = np.array(seed_list, dtype=np.uint64)
    attrs = {
        "fixed": json.dumps(kind.identity(fixed), sort_keys=True),
        "network": kind.network,
        "axes": json.dumps(list(axes)),
        "loss": loss,
        "common_random_numbers": int(crn),
        "complete": int(complete),
    }
    ds = kind.to_dataset(points, arrays, shape, coords, attrs)
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
    kind = kind_named(attrs["network"])
    # The description is JSON with sorted keys; the points were run (and stored) in the
    # axes' canonical order, which the grid must follow again or values land on other coordinates.
    axes = {name: described["axes"][name] for name in kind.settings if name in described["axes"]}
    points = _points(kind, axes, fixed, seed_list)
    groups, where = kind.make_groups(points, crn)
    length = max(kind.length(p.spec) for p in points)
    result_store = ResultStore(path, {k: attrs[k] for k in ("gradatlas_version", "network", "sweep")},
                               kind.layout(length), len(points), int(attrs["chunk_size"]), profile=kind.profile)
    result_store.open_readonly()
    arrays, done, damaged = result_store.read_verified()
    if damaged:
        warnings.warn(f"store {str(path)!r}: {_chunked.describe_chunks(damaged)} (checksum mismatch or "
                      "unreadable); their points are NaN (run the sweep again with this store to "
                      "recompute them)", RuntimeWarning, stacklevel=2)
    complete = len(done) == result_store.n_chunks
    ds = _result(kind, points, groups, where, arrays, axes, fixed, seed_list, loss, crn, complete)
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
