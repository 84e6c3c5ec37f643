"""Sweep results streamed chunk by chunk into a Zarr store, resumable after any crash.

A store is a directory (a local Zarr v3 group, needs ``gradatlas[distributed]``):

- one array per raw measurement over ``(point, layer)`` / ``(point, step)`` or
  ``(point,)``, points in the order of the sweep's grid, chunked by
  ``chunk_size`` points, so each chunk of configurations owns its own files;
- the group's attributes: the store format, the gradatlas version and the sweep
  (its axes, fixed settings, seeds, loss, common random numbers, chunk size);
- ``_gradatlas/ready``, written once every array exists, and
  ``_gradatlas/chunk-NNNNNNNN``, written after chunk N's arrays, holding their
  SHA-256 and the run that wrote them. Markers are written to a temporary file,
  flushed to disk and renamed, so a marker is either absent or complete.

A chunk counts as done only when its marker exists and the arrays still hash
to the marker's checksum; anything else (killed mid-write, a corrupt file) is
recomputed. Only the process that runs ``sweep`` writes the store: workers of an
executor return their arrays, so a lost worker cannot leave half a chunk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

STORE_FORMAT = 1
MARKERS = "_gradatlas"


def _zarr() -> Any:
    try:
        import zarr
    except ImportError as exc:
        raise ImportError("result stores need zarr: pip install 'gradatlas[distributed]'") from exc
    return zarr


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


class ResultStore:
    """The arrays of one sweep on disk, written one chunk of points at a time."""

    def __init__(self, path: str | os.PathLike[str], meta: dict[str, Any], layout: dict[str, tuple[tuple[int, ...],
                 str, Any]], n_points: int, chunk_size: int):
        self.path = Path(path)
        self.meta = meta  # what identifies the sweep; a store of another sweep is refused
        self.layout = layout  # name -> (shape after the point axis, dtype, fill value)
        self.n_points = n_points
        self.chunk_size = chunk_size
        self.run_id = uuid.uuid4().hex
        self._group: Any = None

    # --- chunks ---------------------------------------------------------------

    @property
    def n_chunks(self) -> int:
        return -(-self.n_points // self.chunk_size)

    def chunk_points(self, index: int) -> range:
        return range(index * self.chunk_size, min(self.n_points, (index + 1) * self.chunk_size))

    def _marker(self, index: int) -> Path:
        return self.path / MARKERS / f"chunk-{index:08d}"

    # --- opening --------------------------------------------------------------

    def open(self, overwrite: bool = False) -> None:
        """Create the store, or reopen it when it holds this very sweep."""
        zarr = _zarr()
        ready = self.path / MARKERS / "ready"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            if overwrite:
                self._remove()
            elif ready.exists():
                found = _zarr().open_group(str(self.path), mode="r").attrs.asdict()
                expected = self._attrs()
                different = sorted(k for k in expected if found.get(k) != expected[k])
                if different:
                    raise ValueError(
                        f"store {str(self.path)!r} holds a different sweep (differs in {different}); resume it "
                        "with the same arguments and gradatlas version, pass overwrite=True to replace it, "
                        "or choose another path")
                self._group = zarr.open_group(str(self.path), mode="r+")
                return
            elif (self.path / MARKERS).exists() or not any(self.path.iterdir()):
                self._remove()  # our own store without its ready marker, or an empty directory
            else:
                raise ValueError(f"{str(self.path)!r} exists and is not a gradatlas store; choose another path "
                                 "or pass overwrite=True to replace it")
        # Built beside its final path and renamed into place: a store either
        # does not exist or is complete (a crash leaves only a hidden temporary).
        for stale in self.path.parent.glob(f".{self.path.name}.creating-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = self.path.parent / f".{self.path.name}.creating-{self.run_id}"
        group = zarr.open_group(str(tmp), mode="w")
        dim = "step" if self.meta.get("network") == "recurrent" else "layer"
        for name, (shape, dtype, fill) in self.layout.items():
            group.create_array(name, shape=(self.n_points, *shape), chunks=(self.chunk_size, *shape),
                               dtype=dtype, fill_value=fill, dimension_names=["point", *([dim] if shape else [])])
        group.attrs.update(self._attrs())
        (tmp / MARKERS).mkdir()
        _atomic_write(tmp / MARKERS / "ready", json.dumps({"created_by": self.run_id}))
        os.replace(tmp, self.path)
        self._group = zarr.open_group(str(self.path), mode="r+")

    def _attrs(self) -> dict[str, Any]:
        return {"gradatlas_store": STORE_FORMAT, "n_points": self.n_points, "chunk_size": self.chunk_size,
                **self.meta}

    def _remove(self) -> None:
        if self.path.is_dir():
            shutil.rmtree(self.path)
        elif self.path.exists():
            self.path.unlink()

    # --- reading and writing --------------------------------------------------

    def read_chunk(self, index: int) -> dict[str, np.ndarray]:
        sel = self.chunk_points(index)
        return {name: np.asarray(self._group[name][sel.start:sel.stop]) for name in self.layout}

    def done_chunks(self, verify: bool = True,
                    arrays: dict[int, dict[str, np.ndarray]] | None = None) -> dict[int, str]:
        """Chunks with a marker whose arrays still match it: {index: run that wrote it}.

        With ``verify`` and ``arrays``, the arrays read for the check are kept
        there ({index: arrays}), so a resumed sweep reads each chunk once.
        """
        done = {}
        for index in range(self.n_chunks):
            marker = self._marker(index)
            if not marker.exists():
                continue
            try:
                record = json.loads(marker.read_text())
                data = self.read_chunk(index) if verify else {}
                ok = not verify or checksum(data) == record["checksum"]
                if ok and verify and arrays is not None:
                    arrays[index] = data
            except (ValueError, KeyError, OSError):
                ok = False
            if ok:
                done[index] = record["run"]
            else:
                marker.unlink(missing_ok=True)  # corrupt or partial: recompute it
        return done

    def write_chunk(self, index: int, arrays: dict[str, np.ndarray]) -> None:
        """The chunk's arrays, then its marker: a crash in between leaves the chunk to recompute."""
        sel = self.chunk_points(index)
        for name in self.layout:
            self._group[name][sel.start:sel.stop] = arrays[name]
        record = {"checksum": checksum({k: arrays[k] for k in self.layout}), "run": self.run_id}
        _atomic_write(self._marker(index), json.dumps(record))

    def read_done(self, done: Sequence[int]) -> dict[str, np.ndarray]:
        """Every array, with the points of chunks not in ``done`` at their not-run values."""
        out = {name: np.asarray(self._group[name][:]) for name in self.layout}
        for index in set(range(self.n_chunks)) - set(done):
            sel = self.chunk_points(index)
            for name, (_, _, fill) in self.layout.items():
                out[name][sel.start:sel.stop] = fill
        return out


def open_store_attrs(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The attributes of a gradatlas store (the sweep it holds), with a clear error otherwise."""
    p = Path(path)
    if not (p / MARKERS / "ready").exists():
        raise ValueError(f"{str(p)!r} is not a complete gradatlas result store (no {MARKERS}/ready marker)")
    attrs = _zarr().open_group(str(p), mode="r").attrs.asdict()
    if attrs.get("gradatlas_store") != STORE_FORMAT:
        raise ValueError(f"{str(p)!r} has store format {attrs.get('gradatlas_store')!r}; this gradatlas reads "
                         f"format {STORE_FORMAT}")
    return attrs


def chunk_ranges(n_points: int, chunk_size: int) -> Sequence[range]:
    return [range(i, min(n_points, i + chunk_size)) for i in range(0, n_points, chunk_size)]
