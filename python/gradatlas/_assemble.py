"""Turning the core's per-group arrays into one labelled Dataset, with theory beside it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from . import theory
from ._runner import FORWARD_KEYS, GRAD_KEYS, NORM_EPS, Point
from ._version import __version__
from .definitions import LOSSES, QUANTITIES
from .summary import NONFINITE_KINDS, depth_scale, profile_ends_and_rate, regime

PER_LAYER = (*GRAD_KEYS, *FORWARD_KEYS)


def gather(points: Sequence[Point], where: Sequence[tuple[int, int, int]],
           results: Sequence[dict | None], depth: int) -> dict[str, np.ndarray]:
    """Per-point arrays (P, depth) and (P,), NaN past each point's depth and where a group did not finish."""
    n = len(points)
    out: dict[str, np.ndarray] = {k: np.full((n, depth), np.nan) for k in PER_LAYER}
    out["first_nonfinite_layer"] = np.full(n, -1, dtype=np.int64)
    out["nonfinite_kind"] = np.zeros(n, dtype=np.int32)
    out["finished"] = np.zeros(n, dtype=bool)
    for i, (p, (gi, ci, hi)) in enumerate(zip(points, where)):
        raw = results[gi]
        if raw is None:
            continue
        d = p.spec.depth
        for k in GRAD_KEYS:
            out[k][i, :d] = raw[k][ci, hi, :d]
        for k in FORWARD_KEYS:
            out[k][i, :d] = raw[k][ci, :d]
        bad = int(raw["first_nonfinite_layer"][ci, hi])
        out["first_nonfinite_layer"][i] = bad if bad >= 1 else -1
        out["nonfinite_kind"][i] = raw["nonfinite_kind"][ci, hi]
        out["finished"][i] = True
    return out


def distinct_configurations(points: Sequence[Point], finished: np.ndarray) -> tuple[list[Any], np.ndarray]:
    """The distinct specs among the finished points, and per point its index there (-1 if not finished).

    Theory depends on the configuration only, so seeds, batch sizes and dtypes
    of one configuration share it, and points that did not run get none.
    """
    index: dict[Any, int] = {}
    inverse = np.full(len(points), -1, dtype=np.int64)
    for i in np.flatnonzero(finished).tolist():
        inverse[i] = index.setdefault(points[i].spec, len(index))
    return list(index), inverse


THEORY_BLOCK = 1 << 21  # layer values per block of configurations: bounds the profile temporaries (~16 MiB each)


def summaries(points: Sequence[Point], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Scalar summaries and mean-field predictions for every point, vectorized per depth."""
    points = list(points)
    n, width = arrays["log10_grad_norm"].shape
    depths = np.array([p.spec.depth for p in points])
    g = arrays["log10_grad_norm"]
    total, rate = profile_ends_and_rate(g, depths)
    out: dict[str, np.ndarray] = {
        "total_log10_ratio": total,
        "log10_rate": rate,
        "predicted_log10_rate": np.full(n, np.nan),
        "predicted_log10_grad_norm": np.full((n, width), np.nan),
        "predicted_q": np.full((n, width), np.nan),
        "chi1": np.full(n, np.nan),
        "finite_width_log10_grad_norm": np.full((n, width), np.nan),
        "finite_width_log10_grad_norm_sd": np.full((n, width), np.nan),
        "finite_width_log10_rate": np.full(n, np.nan),
    }
    _mean_field(points, arrays, out)
    exactly_zero = np.asarray(np.isneginf(g).any(axis=1))
    out["regime"] = regime(out["total_log10_ratio"], arrays["first_nonfinite_layer"] >= 1, exactly_zero)
    out["regime"] = np.where(arrays["finished"], out["regime"], "")
    out["depth_scale"] = depth_scale(out["log10_rate"])
    out["nonfinite_kind"] = np.array([NONFINITE_KINDS[k] for k in arrays["nonfinite_kind"]], dtype=object)
    return out


def _mean_field(points: list[Point], arrays: dict[str, np.ndarray],
                out: dict[str, np.ndarray]) -> None:
    """The theory columns, computed once per distinct configuration, a block of them at a time."""
    specs, inverse = distinct_configurations(points, arrays["finished"])
    if not specs:
        return
    spec_depth = np.array([s.depth for s in specs])
    ran = np.flatnonzero(inverse >= 0)
    g = arrays["log10_grad_norm"]
    row_of = np.full(len(specs), -1, dtype=np.int64)  # configuration -> its row in the current block
    for d in np.unique(spec_depth):
        members = np.flatnonzero(spec_depth == d)
        block = max(1, THEORY_BLOCK // int(d))
        for start in range(0, members.size, block):
            chosen = members[start:start + block]
            chosen_specs = [specs[k] for k in chosen]
            q_pred, g_pred = theory.mean_field_profiles(chosen_specs)
            fw_mean, fw_sd = theory.finite_width_profiles(chosen_specs, q_pred)
            row_of[chosen] = np.arange(chosen.size)
            rows = row_of[inverse[ran]]
            pts, rows = ran[rows >= 0], rows[rows >= 0]  # every point of the chosen configurations
            row_of[chosen] = -1
            last = g[pts, d - 1:d]
            with np.errstate(invalid="ignore"):  # inf - inf where the profile or the anchor is infinite
                out["predicted_log10_grad_norm"][pts, :d] = np.where(np.isfinite(last), g_pred[rows] + last, np.nan)
                out["finite_width_log10_grad_norm"][pts, :d] = np.where(np.isfinite(last), fw_mean[rows] + last,
                                                                        np.nan)
            out["finite_width_log10_grad_norm_sd"][pts, :d] = fw_sd[rows]
            out["predicted_q"][pts, :d] = q_pred[rows]
            if d > 1:
                out["predicted_log10_rate"][pts] = g_pred[rows, 0] / (d - 1)
                out["finite_width_log10_rate"][pts] = fw_mean[rows, 0] / (d - 1)
    # chi1 at q*, with each network's middle-layer sigma_w, per activation family.
    families: dict[tuple[str, float], list[int]] = {}
    for k, s in enumerate(specs):
        if s.mean_field_applies:
            families.setdefault((s.activation, s.negative_slope), []).append(k)
    chi1 = np.full(len(specs), np.nan)
    for (activation, slope), members_list in families.items():
        fam = np.array(members_list)
        sw = np.array([specs[k].sigma_w_per_layer()[specs[k].depth // 2] for k in fam])
        sb = np.array([specs[k].sigma_b for k in fam])
        q0 = np.array([specs[k].q0 for k in fam])
        for value in np.unique(q0):
            sel = q0 == value
            chi1[fam[sel]] = theory.chi1(activation, sw[sel], sb[sel], negative_slope=slope, q0=float(value))
    out["chi1"][ran] = chi1[inverse[ran]]


def to_dataset(points: Sequence[Point], arrays: dict[str, np.ndarray], shape: tuple[int, ...],
               coords: dict[str, Any], attrs: dict[str, Any]) -> xr.Dataset:
    """The Dataset over dims (*coords, layer); points are in C order over coords."""
    dims = list(coords)
    depth = arrays["log10_grad_norm"].shape[1]
    summary = summaries(points, arrays)
    data: dict[str, Any] = {}
    for name in (*PER_LAYER, "predicted_log10_grad_norm", "predicted_q", "finite_width_log10_grad_norm",
                 "finite_width_log10_grad_norm_sd"):
        values = summary[name] if name in summary else arrays[name]
        data[name] = ([*dims, "layer"], values.reshape(*shape, depth))
    for name in ("total_log10_ratio", "log10_rate", "depth_scale", "regime", "chi1", "predicted_log10_rate",
                 "finite_width_log10_rate", "nonfinite_kind"):
        values = summary[name]
        if values.dtype == object:
            values = values.astype(str)
        data[name] = (dims, values.reshape(shape))
    data["first_nonfinite_layer"] = (dims, arrays["first_nonfinite_layer"].reshape(shape))
    ds = xr.Dataset(data, coords={**coords, "layer": np.arange(1, depth + 1)})
    for var in ds.data_vars.values():
        var.attrs["description"] = QUANTITIES[str(var.name)]
    return finish_attrs(ds, {**attrs, "norm_eps": NORM_EPS})


def finish_attrs(ds: xr.Dataset, attrs: dict[str, Any]) -> xr.Dataset:
    """The run's attributes plus the loss's definition and the library version."""
    ds.attrs.update({**attrs, "loss_definition": LOSSES[attrs["loss"]], "gradatlas_version": __version__})
    return ds
