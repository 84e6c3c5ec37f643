"""Argument checks shared by the public API.

Every error names the parameter, the value received and what is accepted, and is
raised before any work starts.
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np


def _describe(value: Any) -> str:
    return f"{value!r} (type {type(value).__name__})"


def integer(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An int (not bool) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_describe(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def real(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strictly_positive: bool = False,
) -> float:
    """A finite real number within the bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if strictly_positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def available_cores() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def threads(value: Any, default: int, *, cap: bool = True, stacklevel: int = 4) -> int:
    """n_threads: None gives ``default``; otherwise an int in [1, 1024], lowered to the cores available
    with a RuntimeWarning (OpenMP threads beyond the cores only contend: 1024 threads on 2 cores run
    ~50x slower). ``cap=False`` where the threads run elsewhere (an executor's worker processes)."""
    if value is None:
        return default
    value = integer("n_threads", value, minimum=1, maximum=1024)
    cores = available_cores()
    if cap and value > cores:
        warnings.warn(f"n_threads={value} exceeds the {cores} cores available; using n_threads={cores}",
                      RuntimeWarning, stacklevel=stacklevel)
        return cores
    return value


def boolean(name: str, value: Any) -> bool:
    """True or False (numpy's bool_ too, as an array axis gives them)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_describe(value)}")
    return bool(value)


def choice(name: str, value: Any, accepted: Iterable[str]) -> str:
    """One of a set of names (case-insensitive, '-' read as '_')."""
    accepted = list(accepted)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {accepted}, got {_describe(value)}")
    key = value.strip().lower().replace("-", "_")
    if key not in accepted:
        raise ValueError(f"{name} must be one of {accepted}, got {value!r}")
    return key


def init_and_sigma_w(init: Any, sigma_w: Any, names: Iterable[str], aliases: dict[str, str],
                     where: str) -> tuple[str | None, float | None]:
    """A weight scheme (a name, an alias, or None) and an optional sigma_w overriding its variance."""
    if init is not None:
        key = choice("init", init, sorted([*names, *aliases]))
        init = aliases.get(key, key)
    if sigma_w is None and init is None:
        raise ValueError(f"give init (a name from {where}) or sigma_w; both are None")
    return init, None if sigma_w is None else real("sigma_w", sigma_w, minimum=0.0)


def real_array(name: str, value: Any, *, minimum: float | None = None, allow_inf: bool = False) -> np.ndarray:
    """A real number or an array of them, as float64, checked elementwise (vectorized): finite (or +inf
    with ``allow_inf``) and >= minimum. The error names the first offending element and its index."""
    a = np.asarray(value)
    if a.dtype.kind not in "iuf":  # bool, complex, str, object (None, mixed lists) are refused
        raise TypeError(f"{name} must be a real number or an array of real numbers, got {_describe(value)}")
    a = a.astype(np.float64, copy=False)
    ok = np.isfinite(a)
    if allow_inf:
        ok |= np.isposinf(a)
    if minimum is not None:
        ok &= a >= minimum
    if not ok.all():
        index = np.unravel_index(int(np.argmin(ok)), a.shape)
        accepted = ("finite or +inf" if allow_inf else "finite") + ("" if minimum is None else f" and >= {minimum}")
        where = f" at index {tuple(int(i) for i in index)}" if a.ndim else ""
        raise ValueError(f"{name} must be {accepted}, got {a[index]}{where}")
    return a
