"""The installed version, in a module of its own so that every module can import it
directly (importing it from the package would go through ``__init__`` and cycle)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gradatlas")
except PackageNotFoundError:  # pragma: no cover - only when run from a source tree without install
    __version__ = "0+unknown"
