"""Sweep results streamed chunk by chunk into a Zarr store, resumable after any crash.

A store is a directory (a local Zarr v3 group, needs ``gradatlas[distributed]``)::

    zarr.json                  the group; its attributes identify the sweep (format,
                               gradatlas version, axes, fixed settings, seeds, loss,
                               common random numbers, chunk size)
    <array>/                   one array per raw measurement over (point, layer|step)
                               or (point,), chunked by ``chunk_size`` points, so each
                               chunk of configurations owns its own files
    _gradatlas/ready           written once, when the store is created
    _gradatlas/chunk-NNNNNNNN  written after chunk N's arrays: their SHA-256 and the
                               run that wrote them

The protocol, and what a crash at any moment leaves behind:

- A store is built in a hidden directory beside its path and renamed into
  place, so it either does not exist or has every array and its ``ready``
  marker. A crash during creation leaves a hidden ``.NAME.creating-*``
  directory, removed by the next open of that path.
- A chunk counts as done only when its marker exists and the arrays read back
  hash to the marker's checksum. Markers are written to a temporary file,
  flushed and renamed, so a marker is absent or complete; the arrays are
  written before it, so a crash in between leaves the chunk to recompute.
- Every read verifies: ``read_verified`` reads each array whole (falling back
  to chunk by chunk when a file is unreadable) and checks every marked chunk's
  checksum. A chunk whose data is damaged in any way (a flipped byte, files
  swapped, truncated or deleted, an array's metadata broken or gone) is
  reported as damaged and its points read as not run; a resume rebuilds
  broken arrays and recomputes exactly those chunks.
- One writer at a time: the writer holds an advisory lock (``flock``) on the
  store directory for as long as it is open, and creation, replacement and
  the check for another writer happen under a lock on the parent directory.
  The kernel drops both when a process dies, so a killed run leaves no stale
  lock. A second writer gets ``StoreBusyError``; readers need no lock.
- Nothing that gradatlas did not create is ever deleted. ``overwrite`` replaces
  a path only when it is provably a gradatlas store (``is_gradatlas_store``):
  a directory whose ``_gradatlas`` marker or group attributes say so and which
  holds nothing but the store's own entries. Anything else (a foreign file
  inside, a plain file, the current directory or one of its parents) is
  refused with an error naming the path and what is in it.

Only the process that runs ``sweep`` writes the store: workers of an executor
return their arrays, so a lost worker cannot leave half a chunk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows, which gradatlas does not ship for
    fcntl = None  # type: ignore[assignment]

STORE_FORMAT = 1
MARKERS = "_gradatlas"
_CHUNK_MARKER = re.compile(r"chunk-\d{8}")
_TEMPORARY = re.compile(r"\..+\.[0-9a-f]{32}\.tmp")  # _atomic_write's temporaries
_CHUNK_KEY = re.compile(r"\d+")  # the path components of Zarr v3 chunk keys (c/0/0)
# What zarr leaves when killed mid-write: it writes each file as <name>.<32 hex>.partial, then renames.
_ZARR_PARTIAL = re.compile(r"(\d+|zarr\.json)\.[0-9a-f]{32}\.partial")
LOCK_WAIT = 30.0  # seconds to wait for the parent directory's lock (held only while a store opens)


class StoreBusyError(RuntimeError):
    """Another process is writing this store."""


def _zarr() -> Any:
    try:
        import zarr
    except ImportError as exc:
        raise ImportError("result stores need zarr: pip install 'gradatlas[distributed]'") from exc
    return zarr


def check_path(value: Any, name: str = "store", allow_cwd: bool = False) -> Path:
    """A store path: a non-empty str or os.PathLike that is not the current directory or one of its
    parents (``allow_cwd``: only read, so it may be)."""
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {value!r} (type {type(value).__name__})")
    text = os.fspath(value)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{name} must be a non-empty path, got {value!r}")
    path = Path(text).expanduser()
    resolved = path.resolve()
    cwd = Path.cwd().resolve()
    if not allow_cwd and (resolved == cwd or resolved in cwd.parents):
        raise ValueError(f"{name} {text!r} is the current directory or one of its parents; give a new or "
                         "existing store directory inside it, e.g. 'results.zarr'")
    return path


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        if a.dtype.kind == "f" and np.isnan(a).any():
            # one NaN: zarr skips a chunk equal to its NaN fill value whatever the sign bit,
            # so a chunk of -NaN reads back as +NaN
            a = np.where(np.isnan(a), a.dtype.type(np.nan), a)
        digest.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


# --- what is a gradatlas store --------------------------------------------------


def _ready_ok(path: Path) -> bool:
    try:
        record = json.loads(path.read_text())
        return isinstance(record, dict) and "created_by" in record
    except (OSError, ValueError):
        return False


def _says_gradatlas(path: Path) -> bool:
    """The store's own markers or group attributes identify it (either may be damaged, not both)."""
    if _ready_ok(path / MARKERS / "ready"):
        return True
    try:
        group = json.loads((path / "zarr.json").read_text())
        return isinstance(group, dict) and "gradatlas_store" in group.get("attributes", {})
    except (OSError, ValueError, AttributeError):
        return False


def _foreign_entries(path: Path, array_names: Iterable[str]) -> list[str]:
    """Entries of a store directory that the store's protocol never writes (relative paths)."""
    arrays = set(array_names)
    foreign = []
    for entry in path.iterdir():
        name = entry.name
        if entry.is_symlink():
            foreign.append(name)
        elif (name == "zarr.json" or _ZARR_PARTIAL.fullmatch(name)) and entry.is_file():
            continue
        elif name == MARKERS and entry.is_dir():
            foreign += [f"{name}/{m.name}" for m in entry.iterdir()
                        if not (m.is_file() and (m.name == "ready" or _CHUNK_MARKER.fullmatch(m.name)
                                                 or _TEMPORARY.fullmatch(m.name)))]
        elif name in arrays and entry.is_dir():
            foreign += [f"{name}/{rel}" for rel in _foreign_in_array(entry)]
        else:
            foreign.append(name)
    return sorted(foreign)


def _foreign_in_array(path: Path) -> list[str]:
    """What a Zarr v3 array directory may not hold: anything but zarr.json and c/<digits>/.../<digits>."""
    foreign = []
    for entry in path.iterdir():
        if (entry.name == "zarr.json" or _ZARR_PARTIAL.fullmatch(entry.name)) and entry.is_file() \
                and not entry.is_symlink():
            continue
        if entry.name != "c" or not entry.is_dir() or entry.is_symlink():
            foreign.append(entry.name)
            continue
        for root, dirs, files in os.walk(entry):
            rel = Path(root).relative_to(path)
            for name in dirs + files:
                ours = _CHUNK_KEY.fullmatch(name) or (name in files and _ZARR_PARTIAL.fullmatch(name))
                if not ours or (Path(root) / name).is_symlink():
                    foreign.append(str(rel / name))
    return foreign


def is_gradatlas_store(path: str | os.PathLike[str], array_names: Iterable[str]) -> tuple[bool, str]:
    """Whether ``path`` is provably a gradatlas store, and if not, why (naming what is there)."""
    p = Path(path)
    if p.is_symlink():
        return False, "is a symbolic link"
    if not p.exists():
        return False, "does not exist"
    if not p.is_dir():
        return False, "is a file, not a directory"
    if not _says_gradatlas(p):
        listing = sorted(e.name for e in p.iterdir())
        shown = ", ".join(listing[:5]) + (f" and {len(listing) - 5} more" if len(listing) > 5 else "")
        return False, f"has no gradatlas store markers (it holds: {shown or 'nothing'})"
    foreign = _foreign_entries(p, array_names)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        return False, f"is a gradatlas store holding files it did not write: {shown}"
    return True, ""


# --- locks ------------------------------------------------------------------------


def _try_lock(fd: int) -> bool:
    """Whether the lock was taken (True too where the file system cannot lock: see below)."""
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as exc:  # e.g. some NFS mounts refuse flock on a directory
        global _LOCK_WARNED
        if not _LOCK_WARNED:
            _LOCK_WARNED = True
            warnings.warn(f"this file system cannot lock result stores ({exc.strerror}); two processes "
                          "must not write the same store at once", RuntimeWarning, stacklevel=4)
        return True


_LOCK_WARNED = False


@contextlib.contextmanager
def _parent_lock(directory: Path) -> Iterator[None]:
    """Serializes opening stores in one directory (held for milliseconds while a store opens)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise StoreBusyError(f"another process has held the lock on directory {str(directory)!r} for "
                                     f"{LOCK_WAIT:.0f} s while opening a store there; try again")
            time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # releases the lock


class ResultStore:
    """The arrays of one sweep on disk, written one chunk of points at a time.

    ``owned_names`` are every array name any sweep's store may hold: what an
    ``overwrite`` may find in a store of another sweep and still remove.
    """

    def __init__(self, path: str | os.PathLike[str], meta: dict[str, Any], layout: dict[str, tuple[tuple[int, ...],
                 str, Any]], n_points: int, chunk_size: int, owned_names: Iterable[str] = (), profile: str = "layer"):
        self.path = Path(path)
        self.meta = meta  # what identifies the sweep; a store of another sweep is refused
        self.layout = layout  # name -> (shape after the point axis, dtype, fill value)
        self.profile = profile  # the dimension name of per-position arrays (layer, step)
        self.owned_names = set(owned_names) | set(layout)
        self.n_points = n_points
        self.chunk_size = chunk_size
        self.run_id = uuid.uuid4().hex
        self._group: Any = None
        self._lock_fd: int | None = None
        self._trash: list[Path] = []

    # --- chunks ---------------------------------------------------------------

    @property
    def n_chunks(self) -> int:
        return -(-self.n_points // self.chunk_size)

    def chunk_points(self, index: int) -> range:
        return range(index * self.chunk_size, min(self.n_points, (index + 1) * self.chunk_size))

    def _marker(self, index: int) -> Path:
        return self.path / MARKERS / f"chunk-{index:08d}"

    # --- opening for writing --------------------------------------------------

    def open(self, overwrite: bool = False) -> None:
        """Create the store, or reopen it for writing when it holds this very sweep.

        Holds the store's lock until ``close``. Refuses (ValueError) a path that
        is not provably a gradatlas store, and a store of another sweep unless
        ``overwrite``; raises ``StoreBusyError`` while another process writes it.
        """
        _zarr()
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_dir()):
            what = "a symbolic link" if self.path.is_symlink() else "a file"
            raise ValueError(f"store {str(self.path)!r} is {what}, not a store directory; choose another path "
                             "(gradatlas never replaces what it did not create)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._trash = []
        try:
            with _parent_lock(self.path.parent):
                self._collect_stale_temporaries()
                if self.path.exists() and any(self.path.iterdir()):
                    self._lock_existing()
                    try:
                        if self._reopen(overwrite):
                            return
                    except BaseException:
                        self.close()
                        raise
                self._create()
        finally:
            # Outside the parent's lock: removing a large store must not hold up other stores there.
            for trash in self._trash:
                shutil.rmtree(trash, ignore_errors=True)

    def _lock_existing(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        if not _try_lock(fd):
            os.close(fd)
            raise StoreBusyError(f"store {str(self.path)!r} is being written by another process; wait for it to "
                                 "finish (or stop it), or choose another path")
        self._lock_fd = fd

    def _reopen(self, overwrite: bool) -> bool:
        """Under the store's lock: True when it was reopened as this sweep's store, False after removing it."""
        provable, why = is_gradatlas_store(self.path, self.owned_names)
        if not provable:
            if overwrite:
                raise ValueError(f"store {str(self.path)!r} {why}; overwrite=True replaces only a gradatlas "
                                 "store, and this path is not provably one: choose another path")
            raise ValueError(f"{str(self.path)!r} exists and is not a gradatlas store ({why.removeprefix('is ')}); "
                             "choose another path")
        found = self._stored_attrs()
        if found is None and not overwrite:
            raise ValueError(f"store {str(self.path)!r} is a gradatlas store whose group metadata (zarr.json) is "
                             "unreadable, so its sweep cannot be identified; pass overwrite=True to replace it")
        if overwrite:
            self._remove_locked()
            return False
        assert found is not None  # refused above unless overwrite
        expected = self._attrs()
        different = sorted(k for k in expected if found.get(k) != expected[k])
        if different:
            raise ValueError(
                f"store {str(self.path)!r} holds a different sweep (differs in {different}); resume it "
                "with the same arguments and gradatlas version, pass overwrite=True to replace it, "
                "or choose another path")
        self._repair()
        return True

    def _stored_attrs(self) -> dict[str, Any] | None:
        try:
            attrs = json.loads((self.path / "zarr.json").read_text())["attributes"]
            return attrs if isinstance(attrs, dict) else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _repair(self) -> None:
        """Rebuild what a damaged store lacks: the ready marker, arrays whose metadata is gone or wrong."""
        zarr = _zarr()
        (self.path / MARKERS).mkdir(exist_ok=True)
        ready = self.path / MARKERS / "ready"
        if not _ready_ok(ready):
            _atomic_write(ready, json.dumps({"created_by": self.run_id, "repaired": True}))
        for stale in (self.path / MARKERS).iterdir():
            if _TEMPORARY.fullmatch(stale.name):
                stale.unlink(missing_ok=True)
        for root, _, files in os.walk(self.path):  # zarr's temporaries from a run killed mid-write
            for name in files:
                if _ZARR_PARTIAL.fullmatch(name):
                    (Path(root) / name).unlink(missing_ok=True)
        group = zarr.open_group(str(self.path), mode="r+")
        for name in self.layout:
            if not self._array_ok(group, name):
                target = self.path / name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)  # a known array of our own store (checked by is_gradatlas_store)
                self._create_array(group, name)
        self._group = zarr.open_group(str(self.path), mode="r+")

    def _array_ok(self, group: Any, name: str) -> bool:
        shape, dtype, _ = self.layout[name]
        try:
            a = group[name]
            return (tuple(a.shape) == (self.n_points, *shape) and tuple(a.chunks) == (self.chunk_size, *shape)
                    and np.dtype(a.dtype) == np.dtype(dtype))
        except Exception:  # any failure to open the array's metadata means: rebuild it
            return False

    def _create_array(self, group: Any, name: str) -> None:
        shape, dtype, fill = self.layout[name]
        group.create_array(name, shape=(self.n_points, *shape), chunks=(self.chunk_size, *shape), dtype=dtype,
                           fill_value=fill, dimension_names=["point", *([self.profile] if shape else []),
                                                             *(f"{name}_{i}" for i in range(1, len(shape)))],
                           overwrite=True)

    def _create(self) -> None:
        """Built beside its final path and renamed into place: a store either does not exist or is complete."""
        zarr = _zarr()
        tmp = self.path.parent / f".{self.path.name}.creating-{self.run_id}"
        try:
            group = zarr.open_group(str(tmp), mode="w")
            for name in self.layout:
                self._create_array(group, name)
            group.attrs.update(self._attrs())
            (tmp / MARKERS).mkdir()
            _atomic_write(tmp / MARKERS / "ready", json.dumps({"created_by": self.run_id}))
            os.replace(tmp, self.path)  # onto nothing or onto an empty directory
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if self._lock_fd is None:
            self._lock_existing()  # under the parent lock: nobody else can have opened it yet
        self._group = zarr.open_group(str(self.path), mode="r+")

    def _collect_stale_temporaries(self) -> None:
        # Under the parent lock a creating-directory belongs to a process that died creating it
        # (or is a removed store's trash): renamed aside now, deleted once the lock is released.
        for stale in self.path.parent.glob(f".{glob_escape(self.path.name)}.creating-*"):
            if stale.is_dir() and not stale.is_symlink() and re.fullmatch(
                    rf"\.{re.escape(self.path.name)}\.creating-[0-9a-f]{{32}}", stale.name):
                trash = stale.with_name(f".{self.path.name}.creating-{uuid.uuid4().hex}")
                os.replace(stale, trash)  # a new name no other process will collect
                self._trash.append(trash)

    def _remove_locked(self) -> None:
        """Remove a provably-own store while holding its lock (checked by the caller): renamed aside
        in one step (a crash leaves only a hidden temporary), deleted after the parent's lock."""
        trash = self.path.parent / f".{self.path.name}.creating-{uuid.uuid4().hex}"
        os.replace(self.path, trash)
        self.close()
        self._trash.append(trash)

    def close(self) -> None:
        """Release the store's lock (the kernel does it too when the process ends)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _attrs(self) -> dict[str, Any]:
        return {"gradatlas_store": STORE_FORMAT, "n_points": self.n_points, "chunk_size": self.chunk_size,
                **self.meta}

    # --- opening for reading ----------------------------------------------------

    def open_readonly(self) -> None:
        """Open an existing store to read it; nothing is written or locked."""
        self._group = _zarr().open_group(str(self.path), mode="r")

    # --- reading and writing --------------------------------------------------

    def read_verified(self) -> tuple[dict[str, np.ndarray], dict[int, str], list[int]]:
        """Every array, checked against the markers.

        Returns the arrays (points of chunks not done at their not-run values),
        ``{chunk: run that wrote it}`` of the chunks verified done, and the
        chunks that had a marker but whose data did not verify (damaged).
        """
        records: dict[int, dict[str, Any]] = {}
        damaged: set[int] = set()
        for index in range(self.n_chunks):
            marker = self._marker(index)
            try:
                record = json.loads(marker.read_text())
                if not isinstance(record, dict) or not isinstance(record.get("checksum"), str):
                    raise ValueError("not a chunk marker")
                records[index] = record
            except FileNotFoundError:
                continue
            except (OSError, ValueError):
                damaged.add(index)  # a torn or foreign marker
        arrays: dict[str, np.ndarray] = {}
        unreadable: set[int] = set()
        for name in self.layout:
            arrays[name], bad = self._read_array(name)
            unreadable |= bad
        done: dict[int, str] = {}
        for index, record in records.items():
            sel = self.chunk_points(index)
            ok = index not in unreadable and checksum(
                {name: a[sel.start:sel.stop] for name, a in arrays.items()}) == record["checksum"]
            if ok:
                done[index] = str(record.get("run", ""))
            else:
                damaged.add(index)
        for index in set(range(self.n_chunks)) - set(done):
            sel = self.chunk_points(index)
            for name, (_, _, fill) in self.layout.items():
                arrays[name][sel.start:sel.stop] = fill
        return arrays, done, sorted(damaged)

    def _read_array(self, name: str) -> tuple[np.ndarray, set[int]]:
        """One array whole, or chunk by chunk when part of it is unreadable: (values, unreadable chunks)."""
        shape, dtype, fill = self.layout[name]
        try:
            a = self._group[name]
            values = np.asarray(a[:])
            if values.shape == (self.n_points, *shape) and values.dtype == np.dtype(dtype):
                return values, set()
            return np.full((self.n_points, *shape), fill, dtype=dtype), set(range(self.n_chunks))
        except Exception:  # zarr and its codecs raise many kinds; each means unreadable
            pass
        values = np.full((self.n_points, *shape), fill, dtype=dtype)
        try:
            a = self._group[name]
        except Exception:  # the array's metadata is gone or broken: every chunk is unreadable
            return values, set(range(self.n_chunks))
        bad = set()
        for index in range(self.n_chunks):
            sel = self.chunk_points(index)
            try:
                values[sel.start:sel.stop] = np.asarray(a[sel.start:sel.stop])
            except Exception:  # as above, for one chunk
                bad.add(index)
        return values, bad

    def forget(self, chunks: Iterable[int]) -> None:
        """Remove the markers of chunks to recompute (the writer only)."""
        for index in chunks:
            self._marker(index).unlink(missing_ok=True)

    def write_chunk(self, index: int, arrays: dict[str, np.ndarray]) -> None:
        """The chunk's arrays, then its marker: a crash in between leaves the chunk to recompute."""
        sel = self.chunk_points(index)
        for name in self.layout:
            self._group[name][sel.start:sel.stop] = arrays[name]
        record = {"checksum": checksum({k: arrays[k] for k in self.layout}), "run": self.run_id}
        _atomic_write(self._marker(index), json.dumps(record))


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def open_store_attrs(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The attributes of a gradatlas store (the sweep it holds), with a clear error otherwise."""
    p = Path(path)
    if not p.is_dir():
        raise ValueError(f"{str(p)!r} is not a gradatlas result store ("
                         + ("no such directory)" if not p.exists() else "it is a file)"))
    if not _says_gradatlas(p):
        raise ValueError(f"{str(p)!r} is not a complete gradatlas result store (no {MARKERS}/ready marker)")
    try:
        attrs = json.loads((p / "zarr.json").read_text())["attributes"]
        if not isinstance(attrs, dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"gradatlas store {str(p)!r} has unreadable group metadata ({p / 'zarr.json'}): its "
                         "sweep cannot be identified; run the sweep again with overwrite=True to replace it") \
            from exc
    if attrs.get("gradatlas_store") != STORE_FORMAT:
        raise ValueError(f"{str(p)!r} has store format {attrs.get('gradatlas_store')!r}; this gradatlas reads "
                         f"format {STORE_FORMAT}")
    return attrs


def chunk_ranges(n_points: int, chunk_size: int) -> Sequence[range]:
    return [range(i, min(n_points, i + chunk_size)) for i in range(0, n_points, chunk_size)]
