"""Stores under hostile use: nothing deleted that gradatlas did not create, every read verified,
any damage recomputed on resume, one writer at a time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradatlas as ga
from gradatlas.store import MARKERS

pytest.importorskip("zarr")

# 12 points in chunks of 2: six chunks, each with files in every per-layer array.
GRID = dict(sigma_w=[0.8, 1.2, 1.6, 2.0, 2.4, 2.8], depth=4, width=8, batch=4, init=None, seeds=2, progress=False)
CHUNK = 2
N_CHUNKS = 6


@pytest.fixture(scope="module")
def reference() -> xr.Dataset:
    return ga.sweep(**GRID)


@pytest.fixture(scope="module")
def clean_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clean") / "run.zarr"
    ga.sweep(**GRID, store=path, chunk_size=CHUNK)
    return path


@pytest.fixture
def store(tmp_path, clean_store) -> Path:
    path = tmp_path / "run.zarr"
    shutil.copytree(clean_store, path)
    return path


def runs(path: Path) -> dict[int, str]:
    return {int(p.name[6:]): json.loads(p.read_text())["run"] for p in (path / MARKERS).glob("chunk-*")}


def values(ds: xr.Dataset) -> xr.Dataset:
    return ds.drop_attrs()


def open_quietly(path: Path) -> tuple[xr.Dataset, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = ga.open_results(path)
    return ds, [str(w.message) for w in caught]


def points_of(chunk: int) -> slice:
    return slice(chunk * CHUNK, (chunk + 1) * CHUNK)


def assert_only_chunks_missing(ds: xr.Dataset, reference: xr.Dataset, missing: set[int]) -> None:
    """Points of the chunks in ``missing`` are NaN; every other point is bit-identical to the reference."""
    got = ds.log10_grad_norm.values.reshape(-1, ds.sizes["layer"])
    want = reference.log10_grad_norm.values.reshape(-1, reference.sizes["layer"])
    for chunk in range(N_CHUNKS):
        if chunk in missing:
            assert np.isnan(got[points_of(chunk)]).all(), chunk
        else:
            np.testing.assert_array_equal(got[points_of(chunk)], want[points_of(chunk)])


# --- nothing deleted that gradatlas did not create ------------------------------------------------------


def test_overwrite_refuses_a_directory_that_is_not_a_store(tmp_path):
    precious = tmp_path / "x" / "precious"
    precious.mkdir(parents=True)
    (precious / "thesis.txt").write_text("hi")
    with pytest.raises(ValueError, match=r"precious.*thesis\.txt.*not provably"):
        ga.sweep(**GRID, store=precious, overwrite=True)
    assert (precious / "thesis.txt").read_text() == "hi"
    assert sorted(p.name for p in precious.parent.iterdir()) == ["precious"]  # no temporary left


def test_overwrite_refuses_a_plain_file(tmp_path):
    plain = tmp_path / "results.zarr"
    plain.write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match="is a file"):
            ga.sweep(**GRID, store=plain, overwrite=overwrite)
    assert plain.read_text() == "mine"


@pytest.mark.parametrize("path", ["", " ", ".", "..", "./"])
def test_current_directory_and_empty_paths_are_refused(tmp_path, monkeypatch, path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="store"):
        ga.sweep(**GRID, store=path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("value", [123, 1.5, b"run.zarr", ["run.zarr"]])
def test_store_of_the_wrong_type_names_the_parameter(value):
    with pytest.raises(TypeError, match="store must be a path"):
        ga.sweep(**GRID, store=value)


def test_a_store_holding_a_foreign_file_is_not_replaced(store):
    (store / "notes.txt").write_text("mine")
    (store / "q" / "c" / "mine.txt").write_text("mine too")
    with pytest.raises(ValueError, match=r"did not write: notes\.txt, q/c/mine\.txt"):
        ga.sweep(**{**GRID, "depth": 5}, store=store, chunk_size=CHUNK, overwrite=True)
    assert (store / "notes.txt").read_text() == "mine"
    assert (store / "q" / "c" / "mine.txt").read_text() == "mine too"


def test_overwrite_replaces_a_store_of_another_sweep(store):
    ds = ga.sweep(**{**GRID, "depth": 5}, store=store, chunk_size=CHUNK, overwrite=True)
    assert ds.sizes["layer"] == 5
    assert ga.open_results(store).sizes["layer"] == 5
    assert not [p for p in store.parent.iterdir() if p.name.startswith(".")]


def test_a_store_without_its_ready_marker_is_repaired_not_deleted(store, reference):
    before = runs(store)
    (store / MARKERS / "ready").unlink()
    same = ga.sweep(**GRID, store=store, chunk_size=CHUNK)
    xr.testing.assert_identical(values(reference), values(same))
    assert runs(store) == before  # nothing recomputed, nothing removed
    (store / MARKERS / "ready").unlink()
    (store / "thesis.txt").write_text("mine")
    with pytest.raises(ValueError, match="thesis.txt"):
        ga.sweep(**GRID, store=store, chunk_size=CHUNK)
    assert (store / "thesis.txt").read_text() == "mine"


def test_an_empty_directory_becomes_the_store(tmp_path, reference):
    empty = tmp_path / "empty"
    empty.mkdir()
    ds = ga.sweep(**GRID, store=empty, chunk_size=CHUNK)
    xr.testing.assert_identical(values(reference), values(ds))
    assert (empty / MARKERS / "ready").exists()


# --- every read verified; every kind of damage recomputed -----------------------------------------------


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x5A
    path.write_bytes(bytes(data))


def _chunk_file(store: Path, array: str, chunk: int) -> Path:
    return store / array / "c" / str(chunk) / "0"


DAMAGE = {
    "flipped byte": (lambda s: _flip(_chunk_file(s, "log10_grad_norm", 1)), {1}),
    "swapped files": (lambda s: _swap(_chunk_file(s, "q", 2), _chunk_file(s, "q", 4)), {2, 4}),
    "deleted file": (lambda s: _chunk_file(s, "c", 3).unlink(), {3}),
    "truncated file": (lambda s: _chunk_file(s, "log10_grad_norm", 0).write_bytes(b""), {0}),
    "damaged compression header": (lambda s: _smash_header(_chunk_file(s, "q", 5)), {5}),
    "emptied array metadata": (lambda s: (s / "q" / "zarr.json").write_text(""), set(range(N_CHUNKS))),
    "deleted array": (lambda s: shutil.rmtree(s / "dead_fraction"), set(range(N_CHUNKS))),
    "torn marker": (lambda s: (s / MARKERS / "chunk-00000002").write_text("{trunc"), {2}),
}


def _swap(a: Path, b: Path) -> None:
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)


def _smash_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:8] = b"\xff" * 8
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damage_is_never_read_back_and_a_resume_recomputes_exactly_it(store, reference, damage):
    harm, chunks = DAMAGE[damage]
    before = runs(store)
    harm(store)
    ds, messages = open_quietly(store)
    assert ds.attrs["complete"] == 0
    assert json.loads(ds.attrs["damaged_chunks"]) == sorted(chunks)
    assert len(messages) == 1 and ("damaged" in messages[0]) and str(min(chunks)) in messages[0]
    assert_only_chunks_missing(ds, reference, chunks)
    with pytest.warns(RuntimeWarning, match="recomputing"):
        resumed = ga.sweep(**GRID, store=store, chunk_size=CHUNK)
    xr.testing.assert_identical(values(reference), values(resumed))
    after = runs(store)
    assert {c for c in after if after[c] != before[c]} == chunks
    ds, messages = open_quietly(store)
    assert messages == [] and ds.attrs["complete"] == 1
    xr.testing.assert_identical(values(reference), values(ds))


def test_open_results_writes_nothing(store):
    _flip(_chunk_file(store, "q", 1))
    (store / MARKERS / "ready").unlink()
    listing = sorted((str(p), p.stat().st_mtime_ns) for p in store.rglob("*"))
    open_quietly(store)
    assert sorted((str(p), p.stat().st_mtime_ns) for p in store.rglob("*")) == listing


FILES = st.sampled_from(["log10_grad_norm", "log10_grad_norm_rms", "log10_weight_grad_norm", "q", "c",
                         "saturated_fraction", "dead_fraction", "finished", "first_nonfinite_layer"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(damages=st.lists(st.tuples(FILES, st.integers(0, N_CHUNKS - 1),
                                  st.sampled_from(["flip", "truncate", "delete", "zero", "garbage-meta"]),
                                  st.integers(0, 10**6)), min_size=1, max_size=4))
def test_fuzzed_damage_is_reported_and_repaired(tmp_path_factory, clean_store, reference, damages):
    path = tmp_path_factory.mktemp("fuzz") / "run.zarr"
    shutil.copytree(clean_store, path)
    for array, chunk, kind, where in damages:
        target = path / array / "c" / str(chunk) / ("0" if array not in ("finished", "first_nonfinite_layer")
                                                    else "")
        target = target if target.is_file() else path / array / "c" / str(chunk)
        if kind == "garbage-meta":
            (path / array / "zarr.json").write_bytes(b'{"zarr_format": 3, "node_type": "arr')
        elif not target.is_file():
            continue
        elif kind == "flip":
            data = bytearray(target.read_bytes())
            if not data:  # truncated to nothing by an earlier damage: nothing to flip
                continue
            data[where % len(data)] ^= 1 << (where % 8)
            target.write_bytes(bytes(data))
        elif kind == "truncate":
            data = target.read_bytes()
            target.write_bytes(data[: where % len(data)] if data else b"")
        elif kind == "delete":
            target.unlink()
        else:
            target.write_bytes(b"\0" * len(target.read_bytes()))
    ds, messages = open_quietly(path)
    damaged = set(json.loads(ds.attrs["damaged_chunks"]))
    assert (ds.attrs["complete"] == 1) == (not damaged)
    assert bool(messages) == bool(damaged)
    assert_only_chunks_missing(ds, reference, damaged)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        resumed = ga.sweep(**GRID, store=path, chunk_size=CHUNK)
    xr.testing.assert_identical(values(reference), values(resumed))


# --- one writer at a time ---------------------------------------------------------------------------------

WRITER = """
import sys, gradatlas as ga
try:
    ga.sweep(sigma_w=[0.5 + 0.05 * i for i in range(48)], depth=60, width=48, batch=4, init=None, progress=False,
             store=sys.argv[1], chunk_size=4, overwrite=sys.argv[2] == "1", n_threads=1)
    print("finished")
except ga.StoreBusyError as exc:
    print("busy:", exc)
"""


def _start(tmp_path: Path, store: Path, overwrite: bool) -> subprocess.Popen:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    return subprocess.Popen([sys.executable, str(script), str(store), "1" if overwrite else "0"],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_two_writers_starting_together_one_is_refused(tmp_path):
    store = tmp_path / "run.zarr"
    procs = [_start(tmp_path, store, False) for _ in range(2)]
    outputs = sorted(p.communicate(timeout=300)[0].strip() for p in procs)
    assert all(p.returncode == 0 for p in procs), outputs
    assert outputs[0].startswith("busy:") and "being written by another process" in outputs[0], outputs
    assert outputs[1] == "finished"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.zarr", "writer.py"]  # no temporary left
    assert ga.open_results(store).attrs["complete"] == 1


def test_overwrite_does_not_touch_a_store_being_written(tmp_path, reference):
    store = tmp_path / "run.zarr"
    writing, release = threading.Event(), threading.Event()
    results: list[xr.Dataset] = []

    def hold(done: int, total: int) -> None:  # the first writer pauses after its first chunk
        if done >= CHUNK:
            writing.set()
            release.wait(60)

    writer = threading.Thread(target=lambda: results.append(
        ga.sweep(**{**GRID, "progress": hold}, store=store, chunk_size=CHUNK)))
    writer.start()
    try:
        assert writing.wait(60)
        for overwrite in (True, False):
            with pytest.raises(ga.StoreBusyError, match="being written by another process"):
                ga.sweep(**{**GRID, "depth": 5}, store=store, chunk_size=CHUNK, overwrite=overwrite)
    finally:
        release.set()
        writer.join()
    xr.testing.assert_identical(values(reference), values(results[0]))
    xr.testing.assert_identical(values(reference), values(ga.open_results(store)))


def test_zarr_temporaries_of_a_killed_write_do_not_block_the_store(store, reference):
    # zarr writes each file as <name>.<32 hex>.partial and renames it; a kill in between leaves it
    partial = store / "q" / "c" / "0" / "0.0123456789abcdef0123456789abcdef.partial"
    partial.write_bytes(b"half a chunk")
    xr.testing.assert_identical(values(reference), values(ga.sweep(**GRID, store=store, chunk_size=CHUNK)))
    assert not partial.exists()  # removed by the writer, under its lock
    partial.write_bytes(b"half a chunk")
    assert ga.sweep(**{**GRID, "depth": 5}, store=store, chunk_size=CHUNK, overwrite=True).sizes["layer"] == 5


def test_chunks_of_negative_nan_verify(tmp_path):
    # q0 = 1e80 overflows at once: q and c are all NaN with the sign bit set (x86's default NaN);
    # zarr does not write a chunk equal to its NaN fill value, which reads back as +NaN.
    grid = dict(depth=3, width=8, sigma_w=[1.0, 2.0], q0=1e80, batch=2, init=None, progress=False, n_threads=1)
    ga.sweep(**grid, store=tmp_path / "run.zarr", chunk_size=1)
    ds, messages = open_quietly(tmp_path / "run.zarr")
    assert messages == [] and ds.attrs["complete"] == 1


def test_open_results_from_inside_the_store(store, monkeypatch, reference):
    monkeypatch.chdir(store)
    xr.testing.assert_identical(values(reference), values(ga.open_results(".")))
