"""Sweeps run as chunks of points: on an executor (a process pool, Dask), into a store, or both.

Any subset of a sweep's points runs to the same bits as the whole sweep (the
core's grouping contract), so a chunk is simply the next ``chunk_size`` points
of the grid, grouped again inside the worker that runs it.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _runner
from .kinds import Kind, kind_named
from .store import ResultStore, chunk_ranges

DEFAULT_CHUNK = 256  # points per task: hundreds, so a task is long next to its scheduling cost
# A local sweep whose whole-grid estimate exceeds this runs in chunks of points (see schedule).
LOCAL_BUDGET = 512 << 20


def run_chunk(points: Sequence[_runner.Point], common_random_numbers: bool, loss: str, n_threads: int,
              length: int, network: str,
              progress: Callable[[int, int], Any] | None = None) -> dict[str, np.ndarray]:
    """Run one chunk of points and return its raw arrays (in this process or in a worker;
    the kind travels by name)."""
    kind = kind_named(network)
    groups, where = kind.make_groups(points, common_random_numbers)
    results, interrupted = _runner.run_groups(groups, loss, n_threads, progress)
    if interrupted:
        raise KeyboardInterrupt
    return kind.collect(points, where, results, length)


def schedule(points: Sequence[_runner.Point], groups: Sequence[Any], kind: Kind, *, loss: str, n_threads: int,
             common_random_numbers: bool, chunk_size: int | None, chunked: bool) -> _runner.Plan:
    """The run's memory plan and chunk size (``plan.chunk_points``; None: the whole grid at once).

    Stores and executors always run in chunks (``chunk_size``, default 256). A
    local sweep runs whole unless its estimate exceeds LOCAL_BUDGET or a group
    passes the core's index limits; then it runs in chunks (at least 256 points)
    whose engine memory is about half that budget, so a 10^6-point grid runs in
    bounded memory; each chunk still shares its random matrices as one group. A chunked run
    needs its largest chunk's engine memory plus the whole grid's results;
    the first and last chunks and those holding the deepest, widest and
    largest-batch points are planned (a chunk's groups are those of its points).
    """
    n = len(points)
    whole = _runner.plan(groups, n, loss, n_threads, calibrate=False, limits=False)
    results = sum(g.result_bytes() for g in groups)
    if not chunked and chunk_size is None:
        if whole.memory_bytes <= LOCAL_BUDGET and _runner.within_limits(groups):
            _runner.fits(whole)
            return whole
        engine = max(whole.memory_bytes - results, 1)
        chunk_size = max(DEFAULT_CHUNK, int(n * (LOCAL_BUDGET / 2) / engine))  # half the budget for the engine
        if chunk_size >= n and _runner.within_limits(groups):
            _runner.fits(whole)
            return whole
    chunk = min(n, chunk_size or DEFAULT_CHUNK)
    sizes = np.array([(kind.length(p.spec), kind.widest(p.spec), p.batch) for p in points])
    extremes = {0, n - 1, *np.argmax(sizes, axis=0).tolist()}
    engine = 0
    for start in sorted({i // chunk * chunk for i in extremes}):
        part, _ = kind.make_groups(points[start:start + chunk], common_random_numbers)
        estimate = _runner.plan(part, chunk, loss, n_threads, calibrate=False)  # index limits checked
        engine = max(engine, estimate.memory_bytes - sum(g.result_bytes() for g in part))
    planned = dataclasses.replace(whole, memory_bytes=int(engine + results), chunk_points=chunk)
    _runner.fits(planned)
    return planned


def describe_chunks(chunks: Sequence[int]) -> str:
    """'chunk 3 is damaged' or 'chunks 1, 4, 7 are damaged' (the first ten, then a count)."""
    shown = ", ".join(map(str, chunks[:10])) + (f" and {len(chunks) - 10} more" if len(chunks) > 10 else "")
    return f"chunk {shown} is damaged" if len(chunks) == 1 else f"chunks {shown} are damaged"


def check_executor(executor: Any) -> None:
    if not callable(getattr(executor, "submit", None)):
        raise TypeError(f"executor must be a concurrent.futures.Executor (or a Dask Client's get_executor()), "
                        f"got {type(executor).__name__}")
    context = getattr(executor, "_mp_context", None)
    if isinstance(executor, cf.ProcessPoolExecutor) and context is not None \
            and context.get_start_method() == "fork":
        raise ValueError("a ProcessPoolExecutor must use the 'spawn' start method: the OpenMP runtime is not "
                         "fork-safe. Use ProcessPoolExecutor(mp_context=multiprocessing.get_context('spawn'))")


def run(points: Sequence[_runner.Point], *, common_random_numbers: bool, loss: str, n_threads: int, length: int,
        kind: Kind, store: ResultStore | None, executor: Any, progress: Callable[[int, int], Any] | None,
        chunk_size: int = DEFAULT_CHUNK) -> tuple[dict[str, np.ndarray], bool, dict[int, str]]:
    """All points' raw arrays, whether it was interrupted, and {chunk: run} of the chunks in the store."""
    shapes = kind.layout(length)
    n = len(points)
    chunks = chunk_ranges(n, store.chunk_size if store is not None else chunk_size)
    done: dict[int, str] = {}
    if store is None:
        arrays = {k: np.full((n, *shape), fill, dtype=dtype) for k, (shape, dtype, fill) in shapes.items()}
    else:
        arrays, done, damaged = store.read_verified()
        if damaged:
            store.forget(damaged)  # recomputed below like any chunk not done
            warnings.warn(f"store {str(store.path)!r}: {describe_chunks(damaged)} (checksum mismatch "
                          "or unreadable); recomputing", RuntimeWarning, stacklevel=3)
    finished = sum(len(chunks[i]) for i in done)

    def report(points_done: int) -> None:
        if progress is not None:
            progress(points_done, n)

    def finish(i: int, result: dict[str, np.ndarray]) -> None:
        nonlocal finished
        for k in shapes:
            arrays[k][chunks[i].start:chunks[i].stop] = result[k]
        if store is not None:
            store.write_chunk(i, result)
            done[i] = store.run_id
        finished += len(chunks[i])
        report(finished)

    report(finished)
    pending = [i for i in range(len(chunks)) if i not in done]
    interrupted = False
    if executor is None:
        for i in pending:
            r = chunks[i]

            def inner(d: int, total: int, base: int = finished, size: int = len(r)) -> None:
                report(base + int(size * d / max(total, 1)))

            try:
                result = run_chunk([points[j] for j in r], common_random_numbers, loss, n_threads, length,
                                   kind.network, inner if progress is not None else None)
            except KeyboardInterrupt:
                interrupted = True
                break
            finish(i, result)
        return arrays, interrupted, done
    futures = {executor.submit(run_chunk, [points[j] for j in chunks[i]], common_random_numbers, loss, n_threads,
                               length, kind.network): i for i in pending}
    try:
        for future in cf.as_completed(futures):
            finish(futures[future], future.result())
    except KeyboardInterrupt:
        interrupted = True
        for future in futures:
            future.cancel()
    return arrays, interrupted, done
