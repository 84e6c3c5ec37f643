"""Figures from a result Dataset (of ``sweep`` or ``simulate``, fresh or loaded from disk).

Needs matplotlib (``pip install gradatlas[plot]``). Every function returns the
matplotlib Figure and never calls ``show``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from . import theory

VALUES = {
    "total_log10_ratio": "log10 |dl/dh_1| / |dl/dh_L|  (decades, input vs output)",
    "log10_rate": "decades per layer (fitted)",
}
RECURRENT_VALUES = {
    "total_log10_ratio": "log10 |dl/dh_0| / |dl/dh_T|  (decades, first vs last step)",
    "log10_rate": "decades per step (fitted)",
}


TRANSFORMER_VALUES = {
    "total_log10_ratio": "log10 |dl/dx_0| / |dl/dx_P|  (decades, input vs output)",
    "log10_rate": "decades per sublayer (fitted)",
    "final_token_cosine": "token cosine similarity at the output (1: rank collapse)",
}
PROFILES = ("layer", "step", "sublayer")


def _profile_dim(ds: xr.Dataset) -> str:
    """'step' for recurrent results, 'sublayer' for transformers, 'layer' for feed-forward ones."""
    return next((d for d in ("step", "sublayer") if d in ds.dims), "layer")


def _swept(ds: xr.Dataset) -> list[str]:
    return [str(d) for d in ds.dims if d not in (*PROFILES, "seed", "projection")]
MAX_PANELS = 16


def _pyplot() -> Any:
    try:
        import matplotlib

        if matplotlib.get_backend().lower() not in {"agg", "pdf", "svg", "ps", "cairo"}:
            import os

            if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
                matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("gradatlas.plot needs matplotlib: pip install 'gradatlas[plot]'") from exc
    return plt


def _mean_over_seed(da: xr.DataArray) -> xr.DataArray:
    return da.mean("seed") if "seed" in da.dims else da


def _panels(da: xr.DataArray, keep: tuple[str, ...]) -> list[tuple[str, xr.DataArray]]:
    """One (title, slice) per combination of the dims not in `keep`; slices keep their scalar coords."""
    import itertools

    extra = [d for d in da.dims if d not in keep]
    combos = list(itertools.product(*(range(da.sizes[d]) for d in extra)))
    shown = [d for d in extra if da.sizes[d] > 1]
    if len(combos) > MAX_PANELS:
        raise ValueError(f"{len(combos)} panels over {shown}; select fewer values first "
                         f"(e.g. ds.sel({shown[0]}=...)), at most {MAX_PANELS}")
    out = []
    for combo in combos:
        piece = da.isel(dict(zip(extra, combo)))
        title = ", ".join(f"{d}={piece[d].item()}" for d in shown)
        out.append((title, piece))
    return out


def _edges(values: np.ndarray) -> tuple[np.ndarray, list[str] | None]:
    """Cell edges for pcolormesh, and tick labels for categorical coordinates."""
    if values.dtype.kind in "US O":
        n = len(values)
        return np.arange(n + 1) - 0.5, [str(v) for v in values]
    x = values.astype(float)
    if len(x) == 1:
        return np.array([x[0] - 0.5, x[0] + 0.5]), None
    mid = 0.5 * (x[1:] + x[:-1])
    return np.concatenate([[x[0] - (mid[0] - x[0])], mid, [x[-1] + (x[-1] - mid[-1])]]), None


def phase_diagram(ds: xr.Dataset, x: str = "sigma_w", y: str = "sigma_b", value: str = "total_log10_ratio",
                  *, critical_line: bool = True, limit: float | None = None) -> Any:
    """Heatmap of the gradient change over two swept axes, with chi1 = 1 drawn over it.

    Diverging colours centred on 0 (stable: the gradient keeps its size); blue
    cells lose gradient towards the input (vanishing), red ones gain it
    (exploding); grey cells went non-finite (inf/NaN), marked with x. The solid
    black line is the mean-field critical line chi1 = 1; the mean over seeds is
    shown. Dimensions other than ``x`` and ``y`` become panels.
    """
    plt = _pyplot()
    from matplotlib.colors import TwoSlopeNorm

    for name in (x, y):
        if name not in ds.dims:
            raise ValueError(f"{name!r} is not a swept axis of this Dataset; its axes are {_swept(ds)}")
    labels = {"step": RECURRENT_VALUES, "sublayer": TRANSFORMER_VALUES}.get(_profile_dim(ds), VALUES)
    if value not in labels:
        raise ValueError(f"value must be one of {list(labels)}, got {value!r}")
    regime = ds["regime"]
    nonfinite = regime == "nonfinite"
    vanishing = regime == "vanishing"
    if "seed" in ds.dims:
        nonfinite, vanishing = nonfinite.any("seed"), vanishing.all("seed")
    raw = _mean_over_seed(ds[value].where(ds["regime"] != "nonfinite"))
    finite = raw.values[np.isfinite(raw.values)]
    if limit is None:
        limit = float(np.percentile(np.abs(finite), 98)) if finite.size else 1.0
    limit = max(limit, 2.0 if value == "total_log10_ratio" else 1e-3)
    # Gradients that became exactly zero (NaN ratio, regime vanishing) are drawn
    # as fully vanishing; non-finite runs stay NaN (grey, marked x).
    data = raw.where(~(vanishing & raw.isnull()), -limit).where(~nonfinite)
    # No theory (transformers): an all-NaN chi1 draws no critical line.
    chi1 = _mean_over_seed(ds["chi1"]) if "chi1" in ds else xr.full_like(raw, np.nan)
    panels = _panels(data.transpose(..., y, x), (x, y))
    bad_panels = dict(_panels(nonfinite.transpose(..., y, x), (x, y)))
    chi_panels = dict(_panels(chi1.transpose(..., y, x), (x, y)))
    regimes = ds["regime"].isel(seed=0) if "seed" in ds.dims else ds["regime"]
    regime_panels = dict(_panels(regimes.transpose(..., y, x), (x, y)))
    cols = min(len(panels), 3)
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows), squeeze=False, constrained_layout=True)
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.75")
    norm = TwoSlopeNorm(vmin=-limit, vcenter=0.0, vmax=limit)
    mesh = None
    for ax, (title, da) in zip(axes.flat, panels):
        xe, xlabels = _edges(da[x].values)
        ye, ylabels = _edges(da[y].values)
        values = np.ma.masked_invalid(np.clip(da.values, -limit, limit))
        mesh = ax.pcolormesh(xe, ye, values, cmap=cmap, norm=norm, shading="flat")
        bad = bad_panels[title].values
        if bad.any():
            xc, yc = np.meshgrid(0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1]))
            ax.scatter(xc[bad], yc[bad], marker="x", color="k", s=14, linewidths=0.8, label="non-finite")
        if critical_line:
            _draw_critical_line(ax, ds, da, chi_panels[title].values, x, y, xe, ye, title)
        if xlabels:
            ax.set_xticks(range(len(xlabels)), xlabels)
        if ylabels:
            ax.set_yticks(range(len(ylabels)), ylabels)
        _label_regimes(ax, regime_panels[title].values, xe, ye)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(title, fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8, framealpha=0.8)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    cbar = fig.colorbar(mesh, ax=axes, shrink=0.9)
    cbar.set_label(labels[value] + "\nblue: vanishing   red: exploding")
    if _profile_dim(ds) == "step":
        length = "steps" if "steps" in ds.dims else f"{ds.sizes['step'] - 1} steps"
    elif _profile_dim(ds) == "sublayer":
        length = "depth" if "depth" in ds.dims or "block" not in ds.coords else f"{int(ds['block'].max())} blocks"
    else:
        length = f"depth {ds.sizes['layer']}"
    fig.suptitle(f"Gradient phase diagram ({length}; mean over {ds.sizes.get('seed', 1)} seed(s))")
    return fig


def _draw_critical_line(ax: Any, ds: xr.Dataset, da: xr.DataArray, chi1: np.ndarray, x: str, y: str,
                        xe: np.ndarray, ye: np.ndarray, title: str) -> None:
    activation = _single(ds, da, "activation")
    # The analytic line is the feed-forward map's; recurrent results contour their own chi1.
    feedforward = _profile_dim(ds) == "layer"
    if feedforward and {x, y} == {"sigma_w", "sigma_b"} and activation is not None and np.isfinite(chi1).any():
        sb = np.linspace(float(da["sigma_b"].min()), float(da["sigma_b"].max()), 60)
        sw = theory.critical_line(activation, sb, negative_slope=float(_single(ds, da, "negative_slope") or 0.01))
        xs, ys = (sw, sb) if x == "sigma_w" else (sb, sw)
        ax.plot(xs, ys, color="k", lw=1.8, label="mean field: chi1 = 1")
        return
    crosses = np.isfinite(chi1).sum() >= 4 and np.nanmin(chi1) < 1 < np.nanmax(chi1)
    if crosses and chi1.shape[0] > 1 and chi1.shape[1] > 1:
        xc, yc = 0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1])
        cs = ax.contour(xc, yc, chi1, levels=[1.0], colors="k", linewidths=1.8)
        cs.collections[0].set_label("mean field: chi1 = 1") if hasattr(cs, "collections") else None


def _single(ds: xr.Dataset, da: xr.DataArray, name: str) -> Any:
    """The one value of a setting for this panel: a scalar coordinate or the fixed settings."""
    if name in da.coords and da[name].size == 1:
        return da[name].item()
    if name in ds.dims:
        return None
    import json

    fixed = json.loads(ds.attrs.get("fixed", "{}"))
    if name in fixed:
        return fixed[name]
    spec = json.loads(ds.attrs.get("spec", "{}"))
    return spec.get(name)


def _label_regimes(ax: Any, regimes: np.ndarray, xe: np.ndarray, ye: np.ndarray) -> None:
    """Write each regime's name at the centre of mass of its cells."""
    xc, yc = np.meshgrid(0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1]))
    for label in ("vanishing", "stable", "exploding"):
        mask = regimes == label
        if mask.sum() >= 2:
            ax.text(float(xc[mask].mean()), float(yc[mask].mean()), label, ha="center", va="center",
                    fontsize=10, weight="bold", color="white",
                    bbox=dict(boxstyle="round,pad=0.2", fc="0.2", alpha=0.5, lw=0))


def _layer_index(depth: int, max_points: int = 1500) -> np.ndarray:
    """All layers, or log-spaced ones (always including the first and last) for deep nets."""
    if depth <= max_points:
        return np.arange(depth)
    return np.unique(np.concatenate([np.geomspace(1, depth, max_points).astype(int) - 1, [depth - 1]]))


def gradient_flow(ds: xr.Dataset, *, max_lines: int = 12, theory_lines: bool = True) -> Any:
    """log10 gradient norm against layer (or time step), one line per configuration (mean over seeds).

    Deep networks are drawn on a logarithmic layer axis at about 1500 log-spaced
    layers, so 100,000 layers stay readable; dashed lines are the mean-field
    prediction; dotted lines with a shaded band are the finite-width prediction and its spread over
    samples (mean +- 2 sd; plain MLPs). Recurrent results are drawn against the step t = 0..T (dashed:
    the mean-field rate from the last step, for vanilla RNNs); transformers
    against the sublayer boundary (0: the input), attention sublayers marked
    with dots, and no theory line (there is none). At most ``max_lines``
    configurations (select first for more).
    """
    plt = _pyplot()
    dim = _profile_dim(ds)
    grad = _mean_over_seed(ds["log10_grad_norm"])
    if dim == "sublayer":
        pred = xr.full_like(grad, np.nan)
    elif dim == "layer":
        pred = _mean_over_seed(ds["predicted_log10_grad_norm"])
    else:  # g_t = g_T + (T - t) * rate, the mean-field rate per step going back
        back = ds["step"].max() - ds["step"]
        pred = grad.isel(step=-1) + back * _mean_over_seed(ds["predicted_log10_rate"])
        pred = pred.where(grad.notnull()).transpose(*grad.dims)
    # The finite-width prediction and its band (mean +- 2 sd over samples), where it applies.
    if dim == "layer" and "finite_width_log10_grad_norm" in ds:
        fw = _mean_over_seed(ds["finite_width_log10_grad_norm"])
        fw_sd = _mean_over_seed(ds["finite_width_log10_grad_norm_sd"])
    else:
        fw = fw_sd = xr.full_like(grad, np.nan)
    others = [d for d in grad.dims if d != dim]
    if others:
        grad, pred = grad.stack(_config=others), pred.stack(_config=others)
        fw, fw_sd = fw.stack(_config=others), fw_sd.stack(_config=others)
        n = grad.sizes["_config"]
        if n > max_lines:
            pick = np.unique(np.linspace(0, n - 1, max_lines).round().astype(int))
            grad, pred = grad.isel(_config=pick), pred.isel(_config=pick)
            fw, fw_sd = fw.isel(_config=pick), fw_sd.isel(_config=pick)
    length = ds.sizes[dim]
    idx = _layer_index(length) if dim != "step" else np.arange(length)
    positions = ds[dim].values[idx]
    fig, ax = plt.subplots(figsize=(8, 4.8), constrained_layout=True)
    lines = [(grad, pred, fw, fw_sd, "")] if not others else [
        (grad.isel(_config=i), pred.isel(_config=i), fw.isel(_config=i), fw_sd.isel(_config=i),
         ", ".join(f"{d}={_fmt(grad.isel(_config=i)[d].item())}" for d in others))
        for i in range(grad.sizes["_config"])]
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.92, len(lines)))  # ordered, no repeats
    drew_band = False
    for (g, p, f, f_sd, label), color in zip(lines, colors):
        ax.plot(positions, g.values[idx], lw=1.4, color=color, label=label or None)
        if theory_lines and np.isfinite(f.values).any():
            mid, spread = f.values[idx], 2 * f_sd.values[idx]
            ax.plot(positions, mid, lw=1.0, ls=":", color=color, alpha=0.9)
            ax.fill_between(positions, mid - spread, mid + spread, color=color, alpha=0.12, lw=0)
            drew_band = True
        if dim == "sublayer" and length <= 200 and "sublayer_type" in ds.coords:
            attn = np.asarray(ds["sublayer_type"].values[idx] == "attn")
            ax.plot(positions[attn], g.values[idx][attn], ".", color=color, ms=5)
        if theory_lines and np.isfinite(p.values).any():
            ax.plot(positions, p.values[idx], lw=1.0, ls="--", color=color, alpha=0.7)
    if dim == "sublayer":
        if length >= 1000:
            ax.set_xscale("symlog", linthresh=10)
        _block_ticks(ax, ds)
        ax.set_ylabel("log10 |dl/dx_p|  (mean over batch)")
        ax.set_title("Gradient norm along the residual stream (dots: after attention)")
    elif dim == "layer":
        if length >= 1000:
            ax.set_xscale("log")
        ax.set_xlabel("layer (1 = input side)")
        ax.set_ylabel("log10 |dl/dh_l|  (mean over batch)")
        ax.set_title("Gradient norm through depth (dashed: mean field"
                     + ("; dotted, band: finite width +-2 sd)" if drew_band else ")"))
    else:
        ax.set_xlabel("time step t (0 = initial state; the loss is at the last step)")
        ax.set_ylabel("log10 |dl/dh_t|  (mean over batch)")
        ax.set_title("Gradient norm back through time (dashed: mean-field rate, vanilla RNN)")
    ax.grid(alpha=0.3)
    if others:
        ax.legend(fontsize=8, ncol=2 if len(lines) > 6 else 1, loc="best")
    return fig


def depth_to_width(ds: xr.Dataset, *, threshold: float = 1.0) -> Any:
    """Where a width-n network stops following mean field: measured minus mean-field total change of
    the gradient (decades, mean over seeds) against depth / width, one colour per width, with the
    finite-width prediction of the same difference (dotted; mean +- 2 sd shaded) and the depth /
    width at which that prediction passes ``threshold`` decades (vertical lines).

    For a sweep of plain MLPs with ``width`` and ``depth`` axes (select any other axis first).
    """
    plt = _pyplot()
    for name in ("width", "depth"):
        if name not in ds.dims:
            raise ValueError(f"depth_to_width needs a sweep with width and depth axes; this one has {_swept(ds)}")
    extra = [d for d in _swept(ds) if d not in ("width", "depth") and ds.sizes[d] > 1]
    if extra:
        raise ValueError(f"depth_to_width draws one configuration per (width, depth); select one value of {extra}")
    ds = ds.squeeze([d for d in _swept(ds) if d not in ("width", "depth")], drop=True)
    first = ds["layer"].min()
    fw = ds["finite_width_log10_grad_norm"]
    mf = ds["predicted_log10_grad_norm"]
    last = ds["log10_grad_norm"].notnull().cumsum("layer").argmax("layer")  # each depth's last layer
    fw_total = _mean_over_seed(fw.sel(layer=first) - fw.isel(layer=last))
    mf_total = _mean_over_seed(mf.sel(layer=first) - mf.isel(layer=last))
    sd = _mean_over_seed(ds["finite_width_log10_grad_norm_sd"].sel(layer=first))
    measured = _mean_over_seed(ds["total_log10_ratio"])
    fig, ax = plt.subplots(figsize=(7.5, 4.8), constrained_layout=True)
    widths = ds["width"].values
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.92, len(widths)))
    for n, color in zip(widths, colors):
        ratio = ds["depth"].values / n
        order = np.argsort(ratio)
        gap = (measured - mf_total).sel(width=n).values[order]
        pred = (fw_total - mf_total).sel(width=n).values[order]
        spread = 2 * sd.sel(width=n).values[order]
        ax.plot(ratio[order], gap, "o-", color=color, lw=1.2, ms=4, label=f"width {n}")
        ax.plot(ratio[order], pred, ":", color=color, lw=1.2)
        ax.fill_between(ratio[order], pred - spread, pred + spread, color=color, alpha=0.1, lw=0)
        crossing = np.flatnonzero(np.abs(pred) > threshold)
        if crossing.size:
            ax.axvline(ratio[order][crossing[0]], color=color, lw=0.8, ls="--", alpha=0.7)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("depth / width")
    ax.set_ylabel("measured - mean field  (decades, total change)")
    ax.set_title(f"Finite width: dotted = prediction (+-2 sd); dashed = where it passes {threshold:g} decade(s)",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def coord_check(ds: xr.Dataset, quantity: str = "activation_size") -> Any:
    """The coordinate check's standard figure (``gradatlas.coord_check``): one panel per layer, the
    mean absolute coordinate against the width (log scale), one line per step. Flat lines: the
    parametrization keeps every layer's coordinates the same size at every width (muP)."""
    plt = _pyplot()
    if quantity not in ("activation_size", "preactivation_size", "update_size"):
        raise ValueError(f"quantity must be activation_size, preactivation_size or update_size, got {quantity!r}")
    layers = ds["layer"].values
    fig, axes = plt.subplots(1, len(layers), figsize=(3.2 * len(layers), 3.4), squeeze=False,
                             constrained_layout=True, sharey=True)
    steps = ds["step"].values
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.92, len(steps)))
    for ax, layer in zip(axes.flat, layers):
        for step, color in zip(steps, colors):
            ax.plot(ds["width"].values, ds[quantity].sel(layer=layer, step=step).values, "o-", ms=3, lw=1.2,
                    color=color, label=f"step {step}")
        ax.set_xscale("log", base=2)
        ax.set_title(f"layer {layer}", fontsize=10)
        ax.set_xlabel("width")
        ax.grid(alpha=0.3)
    axes.flat[0].set_ylabel(quantity.replace("_", " ") + " (mean |x|)")
    axes.flat[-1].legend(fontsize=7)
    fig.suptitle(f"Coordinate check: {ds.attrs.get('parametrization', '')}, {ds.attrs.get('optimizer', '')}, "
                 f"lr {ds.attrs.get('lr', '')}")
    return fig


def _block_ticks(ax: Any, ds: xr.Dataset) -> None:
    """Ticks at the start of blocks (about 10 of them), labelled by block; the axis counts sublayers."""
    if "block" not in ds.coords:  # attention swept: sublayers of different kinds share an index
        ax.set_xlabel("sublayer (0 = input)")
        return
    blocks = int(ds["block"].max())
    per_block = int((ds["sublayer_type"] == "attn").any()) + 1
    step = max(1, int(np.ceil(blocks / 10)))
    shown = np.arange(1, blocks + 1, step)
    ax.set_xticks((shown - 1) * per_block + 1, [str(b) for b in shown], fontsize=8)
    ax.set_xlabel("block (each tick: the block's first sublayer; 0 = input)")


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def grad_flow_bars(ds: xr.Dataset, *, max_bars: int = 80) -> Any:
    """Per-layer bars of the gradient norms, in the style of PyTorch's ``plot_grad_flow``.

    For one configuration (select it first from a sweep); bars are the gradient
    with respect to the pre-activations and to the weights, averaged in blocks of
    layers when there are more than ``max_bars`` layers.
    """
    plt = _pyplot()
    if _profile_dim(ds) != "layer":
        raise ValueError("grad_flow_bars draws feed-forward layers; use gradient_flow for recurrent and "
                         "transformer results")
    grad = _mean_over_seed(ds["log10_grad_norm"])
    weight = _mean_over_seed(ds["log10_weight_grad_norm"])
    extra = [d for d in grad.dims if d != "layer" and grad.sizes[d] > 1]
    if extra:
        raise ValueError(f"grad_flow_bars draws one configuration; select one value of {extra} first")
    g = grad.squeeze().values.reshape(-1)
    w = weight.squeeze().values.reshape(-1)
    depth = g.size
    block = max(1, int(np.ceil(depth / max_bars)))
    n = int(np.ceil(depth / block))
    pad = n * block - depth
    gb = np.nanmean(np.pad(g, (0, pad), constant_values=np.nan).reshape(n, block), axis=1)
    wb = np.nanmean(np.pad(w, (0, pad), constant_values=np.nan).reshape(n, block), axis=1)
    starts = np.arange(n) * block + 1
    fig, ax = plt.subplots(figsize=(9, 4.5), constrained_layout=True)
    pos = np.arange(n)
    ax.bar(pos - 0.2, gb, width=0.4, color="tab:blue", alpha=0.8, label="log10 |dl/dh_l|")
    ax.bar(pos + 0.2, wb, width=0.4, color="tab:orange", alpha=0.8, label="log10 |dl/dW_l|_F")
    ax.axhline(0, color="k", lw=0.6)
    step = max(1, n // 16)
    ax.set_xticks(pos[::step], [str(s) if block == 1 else f"{s}-{min(s + block - 1, depth)}" for s in starts[::step]],
                  rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("layer" if block == 1 else f"layers (blocks of {block})")
    ax.set_ylabel("log10 gradient norm")
    ax.set_title("Gradient flow per layer")
    ax.legend(fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return fig


def training(ds: xr.Dataset) -> Any:
    """A training run (``gradatlas.train``): the loss curve, and log10 update ratio as a layer x step heatmap.

    In a vanishing regime the first layers' relative updates sit orders of
    magnitude below the last layers' (dark rows at the bottom); a run that went
    non-finite ends where the loss curve stops, marked in red.
    """
    plt = _pyplot()
    if "update_ratio" not in ds or "loss" not in ds:
        raise ValueError("training() draws a Dataset from gradatlas.train (loss and update_ratio)")
    extra = [d for d in ds["update_ratio"].dims if d not in ("step", "layer") and ds.sizes[d] > 1]
    if extra:
        raise ValueError(f"training() draws one run; select one value of {extra} first")
    ds = ds.squeeze()
    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True,
                                          gridspec_kw={"width_ratios": [1, 1.4]})
    steps = ds["step"].values
    loss = ds["loss"].values
    ax_loss.plot(steps, loss, color="k", lw=1.4)
    ax_loss.set_yscale("log")
    bad = ds.attrs.get("first_nonfinite_step")
    if bad is not None and bad >= 1:
        ax_loss.axvline(bad, color="tab:red", lw=1.2, ls="--", label=f"non-finite at step {bad}")
        ax_loss.legend(fontsize=8)
    if "clipped" in ds and ds["clipped"].any():
        clipped = ds["clipped"].values.astype(bool)
        ax_loss.scatter(steps[clipped], loss[clipped], s=8, color="tab:orange", label="clipped", zorder=3)
        ax_loss.legend(fontsize=8)
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title(f"loss ({ds.attrs.get('optimizer', '')}, lr {ds.attrs.get('lr', '')}, "
                      f"clip {ds.attrs.get('clip', '')})", fontsize=10)
    ax_loss.grid(alpha=0.3)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log10(ds["update_ratio"].transpose("layer", "step").values)
    layers = ds["layer"].values
    mesh = ax_map.pcolormesh(_edges(steps)[0], _edges(layers)[0], np.ma.masked_invalid(ratio),
                             cmap="magma", shading="flat")
    fig.colorbar(mesh, ax=ax_map, label="log10 |dW_l| / |W_l|")
    ax_map.set_xlabel("step")
    ax_map.set_ylabel("layer (1 = input side)")
    ax_map.set_title("relative update per layer", fontsize=10)
    return fig


def spectrum_density(results: Any, *, bins: int = 60) -> Any:
    """Histograms of log10 singular values of input-output Jacobians (``gradatlas.jacobian_spectrum``).

    ``results`` is one Dataset or a dict {label: Dataset}. A dynamically isometric
    network has all its mass near 0 (singular values near 1); the dashed line
    marks each result's mean-field log10 sqrt(chi1^L).
    """
    plt = _pyplot()
    if isinstance(results, xr.Dataset):
        results = {"": results}
    if not isinstance(results, dict) or not results:
        raise TypeError("results must be a Dataset from jacobian_spectrum or a non-empty dict of them")
    fig, ax = plt.subplots(figsize=(7.5, 4.5), constrained_layout=True)
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(results)))
    for (label, ds), color in zip(results.items(), colors):
        values = ds["log10_singular_values"].values
        values = values[np.isfinite(values)]
        ax.hist(values, bins=bins, density=True, histtype="step", lw=1.6, color=color, label=label or None)
        predicted = ds["predicted_log10_mean_squared_singular_value"].item()
        if np.isfinite(predicted):
            ax.axvline(predicted / 2, color=color, ls="--", lw=1.0, alpha=0.8)
    ax.set_xlabel("log10 singular value of the input-output Jacobian")
    ax.set_ylabel("density")
    ax.set_title("Jacobian spectrum (dashed: mean field, log10 sqrt(chi1^L))")
    ax.grid(alpha=0.3)
    if len(results) > 1 or next(iter(results)):
        ax.legend(fontsize=8)
    return fig
