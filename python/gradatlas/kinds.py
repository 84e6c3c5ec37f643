"""Kinds of networks: everything the run machinery needs to know about a family of specs.

A kind ties spec classes to their engine and their results: the profile
dimension (``layer`` or ``step``) and the spec field that sets its length, the
settings a sweep takes (in the order of the Dataset's dimensions), how a
sweep's setting values are checked and become specs, how points group to
share random matrices, how raw results become arrays and a labelled Dataset,
and how ``materialize`` rebuilds the arrays a run used. ``simulate``,
``sweep``, ``plan_sweep``, ``open_results``, the chunked runner and the
store ask a point's kind and never test which family they hold: a new
architecture joins by adding one ``Kind`` to ``KINDS``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _assemble, _materialize, _recurrent, _runner, _transformer
from . import _validate as v
from ._axes import check_dtype, is_axis
from .specs import MLP
from .specs.base import without_added_defaults
from .specs.convnet import ConvNet
from .specs.recurrent import CELLS, GRU, LSTM, RNN, SPEC_CLASSES
from .specs.transformer import Transformer

# Run settings every kind's sweep takes besides its spec fields: name -> (type, default, help).
RUN = {"batch": ("int", 16, "samples (sequences) per configuration"),
       "dtype": ("name", "float32", "float32 or float64")}
RUN_SETTINGS = tuple(RUN)
RUN_DEFAULTS = {name: default for name, (_, default, _) in RUN.items()}
# The recurrent kind's choice of spec class (no spec field): type, whether None is accepted, help.
CELL_SETTING = ("name", True, "rnn, lstm or gru: the sweep is over recurrent networks (none: feed-forward)")


@dataclasses.dataclass(frozen=True, eq=False)
class Kind:
    network: str                      # attrs["network"] of its Datasets and stores
    spec_types: tuple[type, ...]
    profile: str                      # the Dataset's per-position dimension
    length_field: str                 # the spec field that sets the number of positions
    first_position: int               # 1 (layers 1..L) or 0 (steps 0..T, the initial state included)
    settings: tuple[str, ...]         # a sweep's settings in the order of the Dataset's dimensions
    per_position: tuple[str, ...]     # raw arrays with one value per position
    first_nonfinite: str              # the raw scalar naming the first non-finite position
    make_groups: Callable[[Sequence[_runner.Point], bool], tuple[list[Any], list[tuple[int, int, int]]]]
    to_dataset: Callable[..., Any]
    materialize: Callable[[Any, int, int, str], dict[str, Any]]
    trial_spec: Callable[[str, Any], Any]              # a spec with one setting at the given value
    spec_builder: Callable[[dict[str, Any]], Callable[[dict[str, Any]], Any]]  # fixed -> (setting -> spec)
    widest: Callable[[Any], int]
    # The settings given for a template that no spec of the sweep would have (refused).
    unused: Callable[[Any, dict[str, Any]], list[str]] = lambda spec, given: []
    # Raw per-position arrays with trailing dimensions: name -> their sizes.
    trailing: dict[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    # Raw arrays of a group's results per point; None: one configuration per point, read by layout.
    gather: Callable[..., dict[str, np.ndarray]] | None = None

    def length(self, spec: Any) -> int:
        return int(getattr(spec, self.length_field))

    def positions(self, length: int) -> int:
        """The size of the profile dimension for a longest spec of ``length``."""
        return length + 1 - self.first_position

    def layout(self, length: int) -> dict[str, tuple[tuple[int, ...], str, Any]]:
        """The raw arrays of a sweep: name -> (shape after the point axis, dtype, value when not run)."""
        per = {k: ((self.positions(length), *self.trailing.get(k, ())), "float64", np.nan)
               for k in self.per_position}
        return {**per, self.first_nonfinite: ((), "int64", -1), "nonfinite_kind": ((), "int32", 0),
                "finished": ((), "bool", False)}

    def collect(self, points: Sequence[_runner.Point], where: Sequence[tuple[int, int, int]],
                results: Sequence[dict | None], length: int) -> dict[str, np.ndarray]:
        """Per-point raw arrays of ``layout(length)`` from the groups' results (NaN past a point's own
        positions and where its group did not finish)."""
        if self.gather is not None:
            return self.gather(points, where, results, length)
        return _runner.gather_configs(points, where, results, self.layout(length),
                                      lambda spec: self.positions(self.length(spec)))

    def identity(self, fixed: dict[str, Any]) -> dict[str, Any]:
        """A sweep's fixed settings as its store and Dataset record them: ``added`` spec fields at
        their defaults are left out, so that sweeps from before those fields keep their stores."""
        return without_added_defaults(fixed, *self.spec_types)

    def check_setting(self, name: str, value: Any) -> Any:
        """One sweep setting checked alone (the others at safe values); errors name the setting."""
        if name == "batch":
            return v.integer("batch", value, minimum=1, maximum=1 << 20)
        if name == "dtype":
            return check_dtype(value)
        return getattr(self.trial_spec(name, value), name)


def _trial(cls: type, small: dict[str, Any], name: str, value: Any) -> Any:
    """A small spec of ``cls`` with one setting at ``value``, the rest at safe values."""
    trial: dict[str, Any] = {**small, name: value}
    if name == "init" and value is None:
        trial["sigma_w"] = 1.0  # init=None is valid with a sigma_w, checked per point
    return cls(**trial)


def _mlp_trial(name: str, value: Any) -> MLP:
    return _trial(MLP, {"depth": 2, "width": 2}, name, value)


def _mlp_builder(fixed: dict[str, Any]) -> Callable[[dict[str, Any]], MLP]:
    fields = [k for k in FEEDFORWARD_FIELDS if k in fixed]
    base = {k: fixed[k] for k in fields}  # the fixed spec settings, once

    def build(setting: dict[str, Any]) -> MLP:
        # each value was checked on its own; only their combination is checked here
        return MLP.from_checked(**base, **{k: x for k, x in setting.items() if k in FEEDFORWARD_FIELDS})
    return build


def _recurrent_trial(name: str, value: Any) -> Any:
    if name == "cell":
        return SPEC_CLASSES[v.choice("cell", value, list(CELLS))](steps=2, width=2)
    return _trial(LSTM if name == "forget_bias" else RNN, {"steps": 2, "width": 2}, name, value)


def _recurrent_builder(fixed: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    fields = {cls: {f.name for f in dataclasses.fields(cls)} for cls in SPEC_CLASSES.values()}

    def build(setting: dict[str, Any]) -> Any:
        values = {**fixed, **setting}
        cls = SPEC_CLASSES[values["cell"]]
        # a cell ignores the settings it does not have (activation: RNN's, forget_bias: LSTM's)
        return cls(**{k: x for k, x in values.items() if k in fields[cls]})
    return build


def _recurrent_unused(spec: Any, given: dict[str, Any]) -> list[str]:
    """Without a cell axis every point is the template's cell: settings it lacks would only repeat it."""
    cell = given.get("cell", spec.cell)
    if is_axis(cell) or not isinstance(cell, str) or cell not in SPEC_CLASSES:
        return []  # a cell axis (each cell ignores what it lacks), or a bad cell refused by its check
    fields = {f.name for f in dataclasses.fields(SPEC_CLASSES[cell])}
    return [name for name in given if name not in fields and name not in (*RUN_SETTINGS, "cell")]


FEEDFORWARD = Kind(
    network="feedforward", spec_types=(MLP,), profile="layer", length_field="depth", first_position=1,
    settings=("depth", "width", "activation", "init", "norm", "residual", "alpha", "negative_slope", "q0",
              "batch", "dtype", "sigma_b", "sigma_w", "parametrization", "base_width"),
    per_position=_assemble.PER_LAYER, first_nonfinite="first_nonfinite_layer",
    make_groups=_runner.make_groups, gather=_assemble.gather, to_dataset=_assemble.to_dataset,
    materialize=_materialize.feedforward, trial_spec=_mlp_trial, spec_builder=_mlp_builder,
    widest=lambda s: max(s.layer_widths))

RECURRENT = Kind(
    network="recurrent", spec_types=(RNN, LSTM, GRU), profile="step", length_field="steps", first_position=0,
    settings=("cell", "steps", "width", "input_width", "activation", "init", "negative_slope", "forget_bias",
              "h0_std", "loss_at", "batch", "dtype", "sigma_u", "sigma_b", "sigma_w"),
    per_position=_recurrent.PER_STEP, first_nonfinite="first_nonfinite_step",
    make_groups=_recurrent.make_groups, to_dataset=_recurrent.to_dataset,
    materialize=_materialize.recurrent, trial_spec=_recurrent_trial, spec_builder=_recurrent_builder,
    widest=lambda s: s.width, unused=_recurrent_unused)

def _conv_trial(name: str, value: Any) -> ConvNet:
    # depth 12: whole blocks of every kind (a bottleneck's 3, a C2f's 4 with its default bottleneck)
    return _trial(ConvNet, {"depth": 12, "channels": 1, "image_size": 1}, name, value)


def _conv_builder(fixed: dict[str, Any]) -> Callable[[dict[str, Any]], ConvNet]:
    names = {f.name for f in dataclasses.fields(ConvNet)}

    def build(setting: dict[str, Any]) -> ConvNet:
        return ConvNet(**{k: x for k, x in {**fixed, **setting}.items() if k in names})
    return build


CONVOLUTIONAL = Kind(
    network="convolutional", spec_types=(ConvNet,), profile="layer", length_field="depth", first_position=1,
    settings=("depth", "channels", "kernel_size", "image_size", "block", "bottleneck_channels", "activation", "init",
              "norm", "residual", "alpha", "padding", "negative_slope", "q0", "batch", "dtype", "sigma_b", "sigma_w",
              "parametrization", "base_width", "bottlenecks"),
    per_position=_assemble.PER_LAYER, first_nonfinite="first_nonfinite_layer",
    make_groups=_runner.make_groups, gather=_assemble.gather, to_dataset=_assemble.to_dataset,
    materialize=_materialize.convolutional, trial_spec=_conv_trial, spec_builder=_conv_builder,
    widest=lambda s: s.width)

def _transformer_trial(name: str, value: Any) -> Transformer:
    small: dict[str, Any] = {"depth": 1, "width": 2, "heads": 1, "seq_len": 2}
    if name == "heads":
        small["width"] = v.integer("heads", value, minimum=1, maximum=1 << 14)  # a width it divides
    if name == "mlp_ratio":
        small["width"] = 1 << 14  # a small ratio is valid at a wide enough width; points check their own
    return _trial(Transformer, small, name, value)


def _transformer_builder(fixed: dict[str, Any]) -> Callable[[dict[str, Any]], Transformer]:
    names = {f.name for f in dataclasses.fields(Transformer)}

    def build(setting: dict[str, Any]) -> Transformer:
        return Transformer(**{k: x for k, x in {**fixed, **setting}.items() if k in names})
    return build


TRANSFORMER = Kind(
    network="transformer", spec_types=(Transformer,), profile="sublayer", length_field="sublayers",
    first_position=0,
    settings=("depth", "width", "heads", "seq_len", "mlp_ratio", "activation", "norm", "norm_kind", "causal",
              "attention", "alpha", "init", "negative_slope", "q0", "batch", "dtype", "sigma_b", "sigma_w"),
    per_position=(*_transformer.PER_SUBLAYER, "log10_weight_grad_norm"),
    first_nonfinite="first_nonfinite_sublayer",
    make_groups=_transformer.make_groups, to_dataset=_transformer.to_dataset,
    materialize=_materialize.transformer, trial_spec=_transformer_trial, spec_builder=_transformer_builder,
    widest=lambda s: s.seq_len * max(3 * s.width, s.mlp_width),
    trailing={"log10_weight_grad_norm": (len(_transformer.PROJECTIONS),)})

# The feed-forward settings that are MLP fields (the others are run settings).
FEEDFORWARD_FIELDS = tuple(name for name in FEEDFORWARD.settings if name not in RUN_SETTINGS)
KINDS = (FEEDFORWARD, RECURRENT, CONVOLUTIONAL, TRANSFORMER)
SPEC_TYPES = tuple(t for k in KINDS for t in k.spec_types)
_names = [t.__name__ for t in SPEC_TYPES]
SPEC_NAMES = f"a gradatlas.{', '.join(_names[:-1])} or {_names[-1]}"
# Every raw array name a store of any kind may hold (what overwrite may remove from another sweep's store).
ARRAY_NAMES = frozenset(name for k in KINDS for name in k.layout(1))


def kind_of(spec: Any) -> Kind:
    for kind in KINDS:
        if isinstance(spec, kind.spec_types):
            return kind
    raise TypeError(f"spec must be {SPEC_NAMES}, got {type(spec).__name__}")


def kind_named(network: str) -> Kind:
    for kind in KINDS:
        if kind.network == network:
            return kind
    raise ValueError(f"unknown network kind {network!r}; known: {[k.network for k in KINDS]}")


# --- settings described once: types from the spec fields, help from the docstrings ----------

_NON_FIELD = {**{name: (kind, False, text) for name, (kind, _, text) in RUN.items()}, "cell": CELL_SETTING}


def _fields() -> dict[str, dataclasses.Field]:
    out: dict[str, dataclasses.Field] = {}
    for kind in KINDS:
        for cls in kind.spec_types:
            for f in dataclasses.fields(cls):
                out.setdefault(f.name, f)
    return out


def _documented() -> dict[str, str]:
    """The descriptions of the 'name : type' entries of the spec classes' numpydoc parameters."""
    out: dict[str, str] = {}
    for kind in KINDS:
        for cls in kind.spec_types:
            lines = (cls.__doc__ or "").splitlines()
            for i, line in enumerate(lines):
                head = line.strip()
                if " : " not in head or line.startswith("        "):
                    continue
                name = head.split(" : ")[0]
                text = []
                for following in lines[i + 1:]:
                    if not following.startswith("        "):
                        break
                    text.append(following.strip())
                out.setdefault(name, " ".join(text))
    return out


# Every sweep setting of every kind, in the order of the kinds' settings.
SETTINGS: tuple[str, ...] = tuple(dict.fromkeys(name for kind in KINDS for name in kind.settings))
_FIELDS = _fields()
_HELP = _documented()


def setting_type(name: str) -> tuple[str, bool]:
    """('int' | 'float' | 'bool' | 'name', whether None is accepted) of a sweep setting,
    read from its spec field's annotation."""
    if name in _NON_FIELD:
        kind, nullable, _ = _NON_FIELD[name]
        return kind, nullable
    annotation = str(_FIELDS[name].type)
    base = annotation.split("|")[0].strip()
    return {"int": "int", "float": "float", "bool": "bool", "str": "name"}[base], "None" in annotation


def setting_help(name: str) -> str:
    """The setting's description in its spec class's docstring."""
    return _NON_FIELD[name][2] if name in _NON_FIELD else _HELP.get(name, "")
