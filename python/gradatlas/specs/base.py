"""Spec fields declared once: each field of a spec class gives its type (the
annotation), default and check together (``setting``); its help is its entry
in the class docstring and whether it is swept is its kind's settings
(``gradatlas.kinds``). A spec's ``__post_init__`` runs every field's check in
declaration order (``check_fields``), then what involves several fields."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from typing import Any

from .. import _validate as v
from ..activations import ACTIVATIONS, ALIASES, canonical_activation

Check = Callable[[str, Any], Any]  # (name, value) -> canonical value; raises naming the field


def setting(default: Any = dataclasses.MISSING, *, check: Check | None = None, added: bool = False) -> Any:
    """A dataclass field with its check (None: checked with other fields, in the class's own code).

    ``added``: a field that came after the spec's first release, whose default is the network
    as it was before. At its default it is left out of the spec's JSON and of a sweep's stored
    description, so that the seeds drawn from a spec's JSON (independent seeds) and the stores
    written before it stay what they were."""
    metadata: dict[str, Any] = {} if check is None else {"check": check}
    if added:
        metadata["added"] = True
    return dataclasses.field(default=default, metadata=metadata)


def added_defaults(cls: Any) -> dict[str, Any]:
    """The ``added`` fields of a spec class and their defaults."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.metadata.get("added")}


def without_added_defaults(values: dict[str, Any], *classes: Any) -> dict[str, Any]:
    """``values`` (field name -> value) without the ``added`` fields of ``classes`` that are at their
    defaults: what identifies a spec or a sweep."""
    added = {name: default for cls in classes for name, default in added_defaults(cls).items()}
    return {k: x for k, x in values.items() if not (k in added and x == added[k])}


class SpecMethods:
    """What every spec class has: its dict and JSON (which name its type), ``replace``, and a
    repr that shows the first field (the depth or the number of steps) and those off their defaults."""

    __slots__ = ()  # MLP keeps its slots

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def to_json(self) -> str:
        """The spec's identity (what independent seeds are drawn from): its type and fields,
        ``added`` fields only off their defaults."""
        fields = without_added_defaults(self.to_dict(), type(self))
        return json.dumps({"type": type(self).__name__, **fields}, sort_keys=True)

    def replace(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def __repr__(self) -> str:
        fields = dataclasses.fields(self)  # type: ignore[arg-type]
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in fields
                 if getattr(self, f.name) != f.default or f is fields[0]]
        return f"{type(self).__name__}({', '.join(shown)})"


def check_fields(spec: Any) -> None:
    """Every field's own check in declaration order; the canonical values replace the given ones."""
    for f in dataclasses.fields(spec):
        check = f.metadata.get("check")
        if check is not None:
            object.__setattr__(spec, f.name, check(f.name, getattr(spec, f.name)))


def integer_in(minimum: int, maximum: int) -> Check:
    return lambda name, value: v.integer(name, value, minimum=minimum, maximum=maximum)


def optional(check: Check) -> Check:
    return lambda name, value: None if value is None else check(name, value)


def real(name: str, value: Any) -> float:
    return v.real(name, value)


def non_negative(name: str, value: Any) -> float:
    return v.real(name, value, minimum=0.0)


def positive(name: str, value: Any) -> float:
    return v.real(name, value, strictly_positive=True)


def boolean(name: str, value: Any) -> bool:
    return v.boolean(name, value)


def one_of(accepted: Iterable[str]) -> Check:
    names = list(accepted)
    return lambda name, value: v.choice(name, value, names)


def activation_name(name: str, value: Any) -> str:
    """An activation name (or alias) as its canonical name."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {sorted(ACTIVATIONS)}, got {value!r}")
    canonical = canonical_activation(value)
    if canonical not in ACTIVATIONS:
        raise ValueError(f"{name} must be one of {sorted(ACTIVATIONS)} (aliases {sorted(ALIASES)}), got {value!r}")
    return canonical
