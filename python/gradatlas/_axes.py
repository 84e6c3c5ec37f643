"""Axes of sweeps and the run settings every entry point shares: what is a single
value and what is an axis, axis values checked and labelled, seeds and dtypes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _validate as v

DTYPES = ("float32", "float64")
MAX_SEED = 2**64 - 1


def scalar(value: Any) -> Any:
    """A numpy scalar or 0-d array as the Python value it holds: a single value, not an axis."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    return value


def is_axis(value: Any) -> bool:
    # Sets and dicts count as (refused) axes so that the error says why.
    return isinstance(value, (list, tuple, range, np.ndarray, set, frozenset, dict))


def axis_values(name: str, value: Any) -> list[Any]:
    if isinstance(value, (set, frozenset, dict)):
        raise TypeError(f"sweep axis {name!r} must be a list, tuple, range or 1-d array (ordered), "
                        f"got {type(value).__name__}")
    if isinstance(value, np.ndarray) and value.ndim != 1:
        raise ValueError(f"sweep axis {name!r} must be one-dimensional, got shape {value.shape}")
    values = [scalar(x) for x in value]
    if not values:
        raise ValueError(f"sweep axis {name!r} is empty; give at least one value")
    if len(set(map(repr, values))) != len(values):
        raise ValueError(f"sweep axis {name!r} repeats values: {values}")
    return values


def check_distinct(name: str, given: list[Any], normalized: list[Any]) -> None:
    """Refuse an axis whose values coincide once normalized ('TANH' and 'tanh', 'swish' and 'silu',
    'glorot_normal' and 'xavier_normal', 'f4' and 'float32', 1 and 1.0): they would repeat a coordinate."""
    seen: dict[Any, Any] = {}
    for raw, value in zip(given, normalized):
        if value in seen:
            raise ValueError(f"sweep axis {name!r} repeats a value: {seen[value]!r} and {raw!r} both mean "
                             f"{value!r}; give each value once")
        seen[value] = raw


def check_dtype(value: Any) -> str:
    name = None
    if value is not None:  # np.dtype(None) is float64: refuse None rather than run float64 silently
        try:
            name = np.dtype(value).name
        except (TypeError, ValueError):
            name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)} (or a numpy dtype of them, e.g. 'f4'), got {value!r}")
    return name


def seeds_of(seeds: Any) -> list[int]:
    seeds = scalar(seeds)
    if is_axis(seeds):
        values = axis_values("seeds", seeds)
        checked = [v.integer("seeds[i]", s, minimum=0, maximum=MAX_SEED) for s in values]
        check_distinct("seeds", values, checked)
        return checked
    n = v.integer("seeds", seeds, minimum=1, maximum=1_000_000)
    return list(range(n))


def coordinate(values: Sequence[Any]) -> np.ndarray:
    if all(isinstance(x, (bool, np.bool_)) for x in values):
        return np.array(values, dtype=bool)
    if all(isinstance(x, str) or x is None for x in values):
        return np.array(["none" if x is None else x for x in values], dtype=str)
    if any(x is None for x in values):  # sigma_w axis mixing None (the init's value) and numbers
        return np.array([np.nan if x is None else x for x in values], dtype=float)
    return np.asarray(values)
