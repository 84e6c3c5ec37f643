"""Short training runs: what vanishing and exploding gradients do to learning.

The task is a teacher-student regression drawn from the same generator as
everything else: at step k the inputs are ``x ~ N(0, q0)`` (fresh each step),
the targets ``y = T x`` with a fixed random linear teacher
``T = Z_T / sqrt(n_0)``, and the loss is ``L = (1/B) sum_b 1/2 |a_L^(b) - y^(b)|^2``.
The network starts from exactly the weights ``simulate`` uses for the same
seed. Gradients are computed exactly in log space and clipped before they are
materialized, so clipping by norm applies the exact clipped gradient even when
the unclipped one would overflow the float type.

Clipping follows PyTorch:

- ``{"norm": max_norm}``: ``torch.nn.utils.clip_grad_norm_`` over all weights and
  biases: ``g <- g * min(1, max_norm / (|g|_2 + 1e-6))`` with ``|g|_2`` the global norm;
- ``{"value": v}``: ``torch.nn.utils.clip_grad_value_``: each element clamped to [-v, v].

Optimizers follow ``torch.optim``: ``"sgd"`` (W <- W - lr g), ``"momentum"``
(SGD with momentum, buf <- mu buf + g, W <- W - lr buf, no dampening or Nesterov)
and ``"adam"`` (betas, eps, bias correction as ``torch.optim.Adam``).
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from . import _core
from . import _validate as v
from ._axes import MAX_SEED, axis_values, check_dtype, coordinate, is_axis, seeds_of
from ._enums import codes
from ._memory import check_fits
from ._parametrization import default_base_width, lr_multipliers
from ._version import __version__
from .activations import ACTIVATIONS
from .definitions import TRAINING_QUANTITIES
from .initializers import WEIGHT_DISTS
from .specs import MLP

OPTIMIZERS: dict[str, int] = codes("optimizer")
CLIP_MODES: dict[str, int] = codes("clip")
MAX_STEPS = 1_000_000


def parse_clip(clip: Any) -> tuple[str, float]:
    """None, {"norm": x}, {"value": x}, or the strings "none", "norm=x", "value=x"."""
    if clip is None or (isinstance(clip, str) and clip.strip().lower() == "none"):
        return "none", 0.0
    if isinstance(clip, str) and "=" in clip:
        mode, _, text = clip.partition("=")
        try:
            clip = {mode.strip().lower(): float(text)}
        except ValueError:
            raise ValueError(f"clip must be None, {{'norm': x}}, {{'value': x}}, 'norm=x' or 'value=x', "
                             f"got {clip!r}") from None
    if not isinstance(clip, dict) or len(clip) != 1 or next(iter(clip)) not in ("norm", "value"):
        raise ValueError(f"clip must be None, {{'norm': x}}, {{'value': x}}, 'norm=x' or 'value=x', got {clip!r}")
    mode, threshold = next(iter(clip.items()))
    return mode, v.real(f"clip[{mode!r}]", threshold, strictly_positive=True)


def clip_label(mode: str, threshold: float) -> str:
    return "none" if mode == "none" else f"{mode}={threshold:g}"


def _check(spec: Any, steps: Any, lr: Any, optimizer: Any, batch: Any, seed: Any, clip: Any, dtype: Any,
           momentum: Any, betas: Any, eps: Any, n_threads: Any, progress: Any, parametrization: Any = None,
           base_width: Any = None) -> dict[str, Any]:

    if not isinstance(spec, MLP):
        raise TypeError(f"spec must be a gradatlas.MLP (training recurrent cells is not implemented), "
                        f"got {type(spec).__name__}")
    if spec.norm is not None:
        raise ValueError(f"train supports norm=None only (training with {spec.norm} norm is not implemented), "
                         f"got norm={spec.norm!r}")
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    mode, threshold = parse_clip(clip)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be None or a callable(done, total), got {progress!r}")
    return dict(
        steps=v.integer("steps", steps, minimum=1, maximum=MAX_STEPS),
        lr=v.real("lr", lr, strictly_positive=True),
        optimizer=v.choice("optimizer", optimizer, list(OPTIMIZERS)),
        batch=v.integer("batch", batch, minimum=1, maximum=1 << 20),
        seed=v.integer("seed", seed, minimum=0, maximum=MAX_SEED),
        clip=(mode, threshold),
        dtype=check_dtype(dtype),
        momentum=v.real("momentum", momentum, minimum=0.0, maximum=1.0),
        beta1=v.real("betas[0]", betas[0], minimum=0.0, maximum=0.999999),
        beta2=v.real("betas[1]", betas[1], minimum=0.0, maximum=0.999999),
        eps=v.real("eps", eps, strictly_positive=True),
        n_threads=v.threads(n_threads, _core.max_threads()),
        spec=_parametrized(spec, parametrization, base_width),
    )


def _parametrized(spec: MLP, parametrization: Any, base_width: Any) -> MLP:
    """``spec`` with the parametrization and base width given (None: the spec's own), checked by the spec."""
    changes = {k: x for k, x in (("parametrization", parametrization), ("base_width", base_width)) if x is not None}
    return spec.replace(**changes) if changes else spec


def train(spec: MLP, *, steps: int = 100, lr: float = 0.01, optimizer: str = "sgd", batch: int = 16,
          seed: int = 0, clip: Any = None, dtype: Any = "float32", momentum: float = 0.9,
          betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8, n_threads: int | None = None,
          progress: Callable[[int, int], Any] | None = None, parametrization: str | None = None,
          base_width: int | None = None) -> xr.Dataset:
    """Train ``spec`` for ``steps`` steps on the teacher-student task and record its gradients and updates.

    Parameters
    ----------
    spec : MLP
        The network (plain or residual, no normalization), initialized exactly
        as ``simulate`` initializes it for the same seed.
    steps, lr, optimizer, batch, seed
        Optimizer steps, learning rate, ``"sgd"`` / ``"momentum"`` / ``"adam"``,
        samples per step and the generator key.
    clip : None, {"norm": max_norm} or {"value": v}
        Gradient clipping as ``torch.nn.utils.clip_grad_norm_`` /
        ``clip_grad_value_`` (see the module docstring for the formulas).
    dtype : {"float32", "float64"}
        Arithmetic of the network, its gradients and the updates.
    momentum, betas, eps
        Optimizer constants (PyTorch's defaults).
    parametrization : {"standard", "ntk", "mup"}, optional
        How the init and the per-layer learning rates scale with the hidden width relative to
        ``base_width`` (default: the spec's own ``parametrization`` and ``base_width``; the
        table is in ``gradatlas._parametrization``). ``coord_check`` compares them across widths.

    Returns
    -------
    xarray.Dataset
        Dimensions ``step`` (1..steps) and ``layer`` (1..L): ``loss``,
        ``log10_global_grad_norm`` and ``clipped`` per step; ``log10_grad_norm``
        (of dL/dW_l, before clipping, exact in log space) and ``update_ratio``
        (|Delta W_l|_F / |W_l|_F) per step and layer. ``attrs["first_nonfinite_step"]``
        is the step whose loss was inf/NaN (training stops there; later steps are
        NaN), or None when training stayed finite.
    """
    a = _check(spec, steps, lr, optimizer, batch, seed, clip, dtype, momentum, betas, eps, n_threads, progress,
               parametrization, base_width)
    n = np.asarray(spec.layer_widths, dtype=np.int64)
    params = int(np.sum(n[1:] * n[:-1]) + np.sum(n[1:]))
    states = {"sgd": 0, "momentum": 1, "adam": 2}[a["optimizer"]]
    item = np.dtype(a["dtype"]).itemsize
    estimate = params * item * (2 + states) + a["batch"] * int(np.sum(n)) * item * 4
    check_fits(estimate, f"training (depth {spec.depth}, width {max(spec.layer_widths)}, {a['optimizer']})",
               "reduce depth or width")
    raw = _run(a["spec"], a, progress, coordinates=False)
    return _dataset(raw, a["spec"], a)


def _run(spec: MLP, a: dict[str, Any], progress: Any, coordinates: bool, lr_depth_scale: float = 1.0
         ) -> dict[str, Any]:
    """One training run of ``spec``; ``lr_depth_scale`` multiplies every layer's learning rate
    (the depth study's residual branches)."""
    widths = spec.layer_widths
    base = default_base_width(widths) if spec.base_width is None else spec.base_width
    lr_scale = lr_multipliers(spec.parametrization, widths, a["optimizer"], base)
    lr_scale *= lr_depth_scale
    mode, threshold = a["clip"]
    return _core.train_mlp(
        a["dtype"], list(widths), a["seed"], a["batch"], float(np.sqrt(spec.q0)),
        WEIGHT_DISTS[spec.weight_dist], ACTIVATIONS[spec.activation], spec.negative_slope,
        spec.weight_scales().tolist(), [spec.sigma_b] * spec.depth, spec.residual, spec.alpha,
        a["steps"], a["lr"], OPTIMIZERS[a["optimizer"]], a["momentum"], a["beta1"], a["beta2"], a["eps"],
        CLIP_MODES[mode], threshold, a["n_threads"], progress,
        [] if np.all(lr_scale == 1.0) else lr_scale.tolist(), coordinates)


COORDINATES = ("activation_size", "preactivation_size", "update_size")


def coord_check(spec: MLP, *, widths: Sequence[int] | None = None, depths: Sequence[int] | None = None,
                steps: int = 5, parametrization: str | None = None, optimizer: str = "adam", lr: float = 1e-2,
                seed: int = 0, batch: int = 16, dtype: Any = "float32", base_width: int | None = None,
                depth_scaling: bool = False, n_threads: int | None = None) -> xr.Dataset:
    """The coordinate check of Yang et al. (and the ``mup`` package): train ``spec`` at each hidden width
    (or depth) and record the mean absolute coordinate of every layer's output on a fixed probe batch.

    With ``widths``: a plain ``spec``; the network's input and output sizes are ``spec.width`` and
    every hidden layer gets each width in turn (``base_width``, default the spec's or else the first
    width, is where the parametrizations agree). ``parametrization`` (default: the spec's own) is
    ``"standard"``, ``"ntk"`` or ``"mup"``. With ``depths`` (the depth study): a residual ``spec`` of its
    own width at each depth; with ``depth_scaling`` ("depth-muP", Yang et al. 2023) its branch scale
    alpha is divided by sqrt(depth) and, with Adam, every layer's learning rate too (an Adam step's size
    does not shrink with the gradient, SGD's does). Training is ``train``'s teacher-student task.

    Returns
    -------
    xarray.Dataset
        Dimensions ``width`` (or ``depth``), ``step`` (0..steps: updates applied) and ``layer``
        (1..L, NaN past a shallower network's depth): ``activation_size`` (mean |a_l|),
        ``preactivation_size`` (mean |h_l|) and ``update_size`` (mean |a_l - a_l at step 0|), each on
        the probe batch (the first step's inputs); ``loss`` per width (depth) and step. Under muP the
        sizes stay flat across widths; under the standard parametrization with Adam the updates grow
        with the width. With depth scaling they stay flat across depths.
    """
    if (widths is None) == (depths is None):
        raise TypeError("coord_check takes widths (the width study) or depths (the depth study), one of them")
    if not isinstance(spec, MLP) or spec.widths is not None:
        raise TypeError(f"spec must be a gradatlas.MLP of one width (its depth, activation and init are used), "
                        f"got {spec!r}")
    if spec.norm is not None:
        raise ValueError(f"coord_check runs networks without normalization, got norm={spec.norm!r}")
    a = _check(spec, steps + 1, lr, optimizer, batch, seed, None, dtype, 0.9, (0.9, 0.999), 1e-8, n_threads,
               None, parametrization, base_width)
    template = a["spec"]
    nets: list[tuple[MLP, float]] = []  # (network, its learning-rate multiplier)
    if widths is not None:
        given = [v.integer("widths", w, minimum=1, maximum=1 << 16) for w in axis_values("widths", widths)]
        if spec.depth < 2:
            raise ValueError(f"coord_check needs a hidden layer: depth >= 2, got {spec.depth}")
        if spec.residual:
            raise ValueError("the width study runs plain MLPs (its hidden width differs from the input and output "
                             "sizes): residual=False; the depth study (depths=...) takes residual ones")
        base = given[0] if template.base_width is None else template.base_width
        for w in given:
            nets.append((template.replace(widths=(spec.width, *([w] * (spec.depth - 1)), spec.width),
                                          base_width=base), 1.0))
        dim = "width"
    else:
        given = [v.integer("depths", d, minimum=1, maximum=1 << 16) for d in axis_values("depths", depths)]
        if not spec.residual:
            raise ValueError("the depth study (depths=...) scales residual branches: give a spec with residual=True")
        scaling = v.boolean("depth_scaling", depth_scaling)
        base = spec.width if template.base_width is None else template.base_width
        for d in given:
            # Depth-muP: branch multiplier alpha / sqrt(L); Adam's steps do not shrink with the gradient,
            # so its learning rate takes the 1 / sqrt(L) itself (SGD's gradients already carry it).
            lr_scale = 1.0 / np.sqrt(d) if scaling and a["optimizer"] == "adam" else 1.0
            nets.append((template.replace(depth=d, alpha=spec.alpha / np.sqrt(d) if scaling else spec.alpha),
                         lr_scale))
        dim = "depth"
    deepest = max(net.depth for net, _ in nets)
    out: dict[str, list[np.ndarray]] = {k: [] for k in (*COORDINATES, "loss")}
    for net, lr_scale in nets:
        raw = _run(net, a, None, coordinates=True, lr_depth_scale=lr_scale)
        for k in COORDINATES:
            padded = np.full((steps + 1, deepest), np.nan)
            padded[:, : net.depth] = raw[k][: steps + 1]
            out[k].append(padded)
        out["loss"].append(raw["loss"][: steps + 1])
    ds = xr.Dataset(
        {**{k: ((dim, "step", "layer"), np.stack(out[k])) for k in COORDINATES},
         "loss": ((dim, "step"), np.stack(out["loss"]))},
        coords={dim: given, "step": np.arange(steps + 1), "layer": np.arange(1, deepest + 1)})
    for var in ds.data_vars.values():
        var.attrs["description"] = TRAINING_QUANTITIES[str(var.name)]
    scaled = int(bool(depth_scaling)) if depths is not None else 0
    ds.attrs.update({"parametrization": template.parametrization, "optimizer": a["optimizer"], "lr": a["lr"],
                     "base_width": base, "depth_scaling": scaled,
                     "seed": a["seed"], "batch": a["batch"], "dtype": a["dtype"], "spec": spec.to_json(),
                     "task": TRAINING_QUANTITIES["task"], "gradatlas_version": __version__})
    return ds


def _dataset(raw: dict[str, Any], spec: MLP, a: dict[str, Any]) -> xr.Dataset:
    step = np.arange(1, a["steps"] + 1)
    layer = np.arange(1, spec.depth + 1)
    ds = xr.Dataset(
        {
            "loss": ("step", raw["loss"]),
            "log10_global_grad_norm": ("step", raw["log10_global_grad_norm"]),
            "clipped": ("step", raw["clipped"].astype(bool)),
            "log10_grad_norm": (("step", "layer"), raw["log10_grad_norm"]),
            "update_ratio": (("step", "layer"), raw["update_ratio"]),
        },
        coords={"step": step, "layer": layer},
    )
    for var in ds.data_vars.values():
        var.attrs["description"] = TRAINING_QUANTITIES[str(var.name)]
    bad = int(raw["first_nonfinite_step"])
    mode, threshold = a["clip"]
    ds.attrs.update({
        "first_nonfinite_step": None if bad < 0 else bad,
        "spec": spec.to_json(), "seed": a["seed"], "batch": a["batch"], "dtype": a["dtype"],
        "optimizer": a["optimizer"], "lr": a["lr"], "clip": clip_label(mode, threshold),
        "parametrization": spec.parametrization, "task": TRAINING_QUANTITIES["task"],
        "gradatlas_version": __version__,
    })
    return ds


TRAIN_AXES = ("lr", "optimizer", "clip", "steps", "batch")


def train_sweep(spec: MLP, *, seeds: Any = 1, progress: bool = False, **axes: Any) -> xr.Dataset:
    """``train`` over a grid: every keyword is a fixed value or a list (an axis).

    Keywords are ``train`` arguments (``lr``, ``optimizer``, ``clip``, ``steps``,
    ``batch``, ``dtype``, ...) or ``MLP`` settings replacing those of ``spec``
    (``sigma_w``, ``activation``, ``depth``...). Returns one Dataset with a
    dimension per list (clip values labelled "none", "norm=1", "value=0.5"),
    ``seed``, ``step`` and ``layer`` (NaN past a run's steps or depth);
    ``first_nonfinite_step`` becomes a variable (-1: stayed finite).
    """

    if not isinstance(spec, MLP):
        raise TypeError(f"spec must be a gradatlas.MLP (training recurrent cells is not implemented), "
                        f"got {type(spec).__name__}")
    seed_list = seeds_of(seeds)
    spec_fields = set(spec.to_dict())
    signature = inspect.signature(train)
    train_args = set(signature.parameters) - {"spec", "seed", "progress"}
    unknown = sorted(set(axes) - spec_fields - train_args)
    if unknown:
        raise TypeError(f"train_sweep got unknown settings {unknown}; accepted: MLP settings {sorted(spec_fields)}, "
                        f"train arguments {sorted(train_args)} and seeds")
    grid = {k: axis_values(k, val) for k, val in axes.items() if is_axis(val)}
    fixed = {k: val for k, val in axes.items() if not is_axis(val)}
    # Every run is checked before the first one trains; an axis's values must differ once normalized.
    planned = []
    normalized: dict[str, list[Any]] = {k: [None] * len(vals) for k, vals in grid.items()}
    for combo in itertools.product(*(range(len(vals)) for vals in grid.values())):
        setting = {**fixed, **{k: grid[k][i] for k, i in zip(grid, combo)}}
        try:
            run_spec = spec.replace(**{k: val for k, val in setting.items() if k in spec_fields})
            kwargs = {k: val for k, val in setting.items() if k not in spec_fields}
            bound = signature.bind(run_spec, seed=seed_list[0], **kwargs)
            bound.apply_defaults()
            a = _check(**bound.arguments)
        except (TypeError, ValueError) as exc:
            point = {k: setting[k] for k in grid}
            raise type(exc)(f"train_sweep point {point}: {exc}" if point else str(exc)) from exc
        for k, i in zip(grid, combo):
            normalized[k][i] = (getattr(run_spec, k) if k in spec_fields
                                else (a["beta1"], a["beta2"]) if k == "betas" else a[k])
        planned.append((run_spec, kwargs))
    for k, vals in grid.items():
        seen: dict[Any, Any] = {}
        for raw, value in zip(vals, normalized[k]):
            if value in seen:
                raise ValueError(f"train_sweep axis {k!r} repeats a value: {seen[value]!r} and {raw!r} both mean "
                                 f"{value!r}; give each value once")
            seen[value] = raw
    labels = {k: [clip_label(*parse_clip(c)) for c in vals] if k == "clip" else vals for k, vals in grid.items()}
    runs = [train(run_spec, seed=seed, **kwargs) for run_spec, kwargs in planned for seed in seed_list]
    steps = max(r.sizes["step"] for r in runs)
    depth = max(r.sizes["layer"] for r in runs)
    shape = tuple(len(val) for val in grid.values()) + (len(seed_list),)
    data: dict[str, Any] = {}
    for name in ("loss", "log10_global_grad_norm", "clipped", "log10_grad_norm", "update_ratio"):
        per_layer = "layer" in runs[0][name].dims
        out = np.full((len(runs), steps, *((depth,) if per_layer else ())), np.nan)
        for i, r in enumerate(runs):
            values = r[name].values.astype(float)
            index = (i, slice(0, values.shape[0])) + ((slice(0, values.shape[1]),) if per_layer else ())
            out[index] = values
        dims = [*grid, "seed", "step", *(["layer"] if per_layer else [])]
        data[name] = (dims, out.reshape(*shape, *out.shape[1:]))
    bad = np.array([-1 if r.attrs["first_nonfinite_step"] is None else r.attrs["first_nonfinite_step"]
                    for r in runs])
    data["first_nonfinite_step"] = ([*grid, "seed"], bad.reshape(shape))
    coords: dict[str, Any] = {k: coordinate(vals) for k, vals in labels.items()}
    coords.update(seed=np.array(seed_list, dtype=np.uint64), step=np.arange(1, steps + 1),
                  layer=np.arange(1, depth + 1))
    ds = xr.Dataset(data, coords=coords)
    for var in ds.data_vars.values():
        var.attrs["description"] = TRAINING_QUANTITIES[str(var.name)]
    ds.attrs.update({"spec": spec.to_json(), "fixed": json.dumps({k: str(val) for k, val in fixed.items()}),
                     "task": TRAINING_QUANTITIES["task"], "gradatlas_version": runs[0].attrs["gradatlas_version"]})
    return ds
