"""The core's enums by name. Every table of codes the Python side hands to the core
comes from the core itself (``_core.enum_names``), so the two cannot drift apart."""

from __future__ import annotations

from . import _core

_NAMES: dict[str, list[str]] = _core.enum_names()


def names(enum: str) -> tuple[str, ...]:
    """The names of one of the core's enums, in code order."""
    return tuple(_NAMES[enum])


def codes(enum: str) -> dict[str, int]:
    """name -> code of one of the core's enums."""
    return {name: code for code, name in enumerate(_NAMES[enum])}
