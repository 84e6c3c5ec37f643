"""Argument checks shared by the public API.

Every error names the parameter, the value received and what is accepted, and is
raised before any work starts.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any


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


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {_describe(value)}")
    return value


def choice(name: str, value: Any, accepted: Iterable[str]) -> str:
    """One of a set of names (case-insensitive, '-' read as '_')."""
    accepted = list(accepted)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {accepted}, got {_describe(value)}")
    key = value.strip().lower().replace("-", "_")
    if key not in accepted:
        raise ValueError(f"{name} must be one of {accepted}, got {value!r}")
    return key
