"""Resumable result stores and executors: identical numbers, nothing lost, nothing run twice."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import gradatlas as ga
from gradatlas.store import MARKERS

pytest.importorskip("zarr")

GRID = dict(sigma_w=[0.8, 1.0, 1.3, 1.6, 2.0], sigma_b=[0.0, 0.1, 0.2], depth=[20, 50], width=32, batch=4,
            init=None, seeds=2, progress=False)


def same(expected: xr.Dataset, got: xr.Dataset) -> None:
    """Identical values, coordinates and variable attributes (the store path aside)."""
    got = got.copy()
    assert got.attrs.pop("store", None) is not None or "store" not in expected.attrs
    got.attrs = dict(expected.attrs)
    xr.testing.assert_identical(expected, got)


@pytest.fixture(scope="module")
def reference() -> xr.Dataset:
    return ga.sweep(**GRID)


def markers(path: Path) -> dict[str, str]:
    return {p.name: json.loads(p.read_text())["run"] for p in (path / MARKERS).glob("chunk-*")}


def test_store_round_trip_and_resume_skips_done_chunks(tmp_path, reference):
    path = tmp_path / "run.zarr"
    same(reference, ga.sweep(**GRID, store=path, chunk_size=7))
    first = markers(path)
    assert len(first) == -(-reference.log10_grad_norm[..., 0].size // 7)
    same(reference, ga.sweep(**GRID, store=path, chunk_size=7))
    assert markers(path) == first  # nothing ran again
    same(reference, ga.open_results(path))


def test_store_of_another_sweep_is_refused(tmp_path):
    path = tmp_path / "run.zarr"
    ga.sweep(**GRID, store=path, chunk_size=7)
    with pytest.raises(ValueError, match="holds a different sweep"):
        ga.sweep(**{**GRID, "depth": 30}, store=path, chunk_size=7)
    with pytest.raises(ValueError, match="chunk_size"):
        ga.sweep(**GRID, store=path, chunk_size=8)
    other = ga.sweep(**{**GRID, "depth": 30}, store=path, chunk_size=7, overwrite=True)
    assert other.sizes["layer"] == 30
    plain = tmp_path / "notes"
    plain.mkdir()
    (plain / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a gradatlas store"):
        ga.sweep(**GRID, store=plain)
    assert (plain / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="not a complete gradatlas result store"):
        ga.open_results(plain)


def test_corrupt_or_unmarked_chunks_are_recomputed(tmp_path, reference):
    import zarr

    path = tmp_path / "run.zarr"
    ga.sweep(**GRID, store=path, chunk_size=7)
    before = markers(path)
    group = zarr.open_group(str(path), mode="r+")
    group["log10_grad_norm"][8, 3] = 123.0  # chunk 1 no longer matches its checksum
    (path / MARKERS / "chunk-00000003").unlink()  # chunk 3 written but never marked
    (path / MARKERS / "chunk-00000004").write_text("{truncated")  # a torn marker
    with pytest.warns(RuntimeWarning, match="chunks 1, 4 are damaged"):  # chunk 3 was simply never marked
        same(reference, ga.sweep(**GRID, store=path, chunk_size=7))
    after = markers(path)
    rerun = {name for name in after if after[name] != before.get(name)}
    assert rerun == {"chunk-00000001", "chunk-00000003", "chunk-00000004"}


def test_open_results_of_an_unfinished_store(tmp_path, reference):
    path = tmp_path / "run.zarr"
    ga.sweep(**GRID, store=path, chunk_size=7)
    for marker in list((path / MARKERS).glob("chunk-*"))[2:]:
        marker.unlink()
    partial = ga.open_results(path)
    assert partial.attrs["complete"] == 0
    finished = np.isfinite(partial.log10_grad_norm.isel(layer=0)).sum().item()
    assert 0 < finished < reference.log10_grad_norm.isel(layer=0).size


KILLED_SWEEP = """
import sys, gradatlas as ga
ga.sweep(sigma_w=[0.6 + 0.1 * i for i in range(16)], sigma_b=[0.0, 0.1, 0.2, 0.3], depth=300, width=64,
         batch=8, init=None, seeds=2, progress=False, store=sys.argv[1], chunk_size=4, n_threads=1)
"""


@pytest.mark.parametrize("kill_after_chunks", [0, 3, 12])
def test_sigkill_at_any_moment_resumes_to_the_same_result(tmp_path, kill_after_chunks):
    path = tmp_path / "run.zarr"
    script = tmp_path / "sweep.py"
    script.write_text(KILLED_SWEEP)
    proc = subprocess.Popen([sys.executable, str(script), str(path)], env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        done = len(list((path / MARKERS).glob("chunk-*"))) if (path / MARKERS).exists() else 0
        if done >= kill_after_chunks and (kill_after_chunks or path.exists()):
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = markers(path) if (path / MARKERS / "ready").exists() else {}
    kwargs = dict(sigma_w=[0.6 + 0.1 * i for i in range(16)], sigma_b=[0.0, 0.1, 0.2, 0.3], depth=300, width=64,
                  batch=8, init=None, seeds=2, progress=False)
    resumed = ga.sweep(**kwargs, store=path, chunk_size=4)
    same(ga.sweep(**kwargs), resumed)
    after = markers(path)
    assert len(after) == 32
    # Chunks finished before the kill were not run again (their marker still names the killed run).
    assert all(after[name] == run for name, run in before.items())
    assert len({run for run in after.values()}) <= 2


def test_process_pool_gives_identical_numbers(reference):
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        same(reference, ga.sweep(**GRID, executor=pool, chunk_size=10))
    with ThreadPoolExecutor(2) as pool:
        same(reference, ga.sweep(**GRID, executor=pool, chunk_size=9))


def test_transformers_and_bottlenecks_through_a_process_pool_and_a_store(tmp_path):
    # The newer kinds ride the same chunked runner: spawned workers, a store, reading it back.
    cases = [(ga.Transformer(depth=2, width=8, heads=2, seq_len=3), dict(norm=["pre", "post", "deepnorm"],
                                                                         alpha=[0.5, 1.0])),
             (ga.ConvNet(depth=3, channels=8, image_size=3, block="bottleneck", residual=True),
              dict(sigma_b=[0.0, 0.1], norm=[None, "batch"]))]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        for i, (spec, axes) in enumerate(cases):
            reference = ga.sweep(spec, **axes, batch=2, progress=False)
            pooled = ga.sweep(spec, **axes, batch=2, progress=False, executor=pool, store=tmp_path / f"{i}.zarr",
                              chunk_size=2)
            same(reference, pooled)
            same(reference, ga.open_results(tmp_path / f"{i}.zarr"))


def test_fork_pools_and_non_executors_are_refused():
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        with pytest.raises(ValueError, match="spawn"):
            ga.sweep(**GRID, executor=pool)
    with pytest.raises(TypeError, match="executor"):
        ga.sweep(**GRID, executor="tcp://localhost:8786")
    with pytest.raises(ValueError, match="chunk_size"):
        ga.sweep(**GRID, chunk_size=0, store="unused")


def test_dask_local_cluster_streams_into_a_store(tmp_path, reference):
    distributed = pytest.importorskip("distributed")
    recurrent = dict(cell=["rnn", "lstm"], steps=30, sigma_w=[0.5, 1.0, 1.5], width=16, batch=4, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        same(reference, ga.sweep(**GRID, executor=client.get_executor(), store=tmp_path / "ff.zarr", chunk_size=8))
        same(ga.sweep(**recurrent), ga.sweep(**recurrent, executor=client.get_executor(), chunk_size=2))
    same(reference, ga.open_results(tmp_path / "ff.zarr"))


def test_cli_store_resume_and_workers(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    pytest.importorskip("distributed")
    from gradatlas.cli import main

    store = tmp_path / "run.zarr"
    args = ["sweep", "--sigma-w", "0.8,1.6", "--depth", "10", "--width", "8", "--batch", "2", "--init", "none",
            "--out", str(tmp_path / "out"), "--store", str(store), "--no-progress", "--chunk-size", "1"]
    assert main(args) == 0
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2 and "--resume" in capsys.readouterr().err
    assert main([*args, "--resume", "--workers", "2"]) == 0
    assert main(["plot", str(store), "--out", str(tmp_path / "figs")]) == 0
    assert (tmp_path / "figs" / "gradient_flow.png").exists()
