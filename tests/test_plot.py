"""Figures: they draw what they claim, from a run or from disk, and refuse what they cannot draw."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import gradatlas as ga

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gradatlas import plot  # noqa: E402


@pytest.fixture(scope="module")
def grid():
    return ga.sweep(activation=["tanh", "relu"], sigma_w=np.round(np.linspace(0.6, 3.0, 9), 3),
                    sigma_b=[0.0, 0.2, 0.4], init=None, depth=60, width=64, batch=4, progress=False)


def _not_blank(fig, tmp_path, name):
    path = tmp_path / name
    fig.savefig(path, dpi=60)
    plt.close(fig)
    image = mpl.image.imread(path)
    assert image.ndim == 3 and image[..., :3].std() > 0.05
    return image


def test_phase_diagram(grid, tmp_path):
    fig = plot.phase_diagram(grid)
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    assert len(axes) == 2  # one panel per activation
    labels = {t.get_text() for ax in axes for t in ax.texts}
    assert {"vanishing", "exploding"} <= labels
    legend = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert "mean field: chi1 = 1" in legend
    # The critical line of tanh passes through sigma_w = 1 at sigma_b = 0.
    line = next(ln for ln in axes[0].get_lines() if ln.get_label() == "mean field: chi1 = 1")
    assert line.get_xdata()[0] == pytest.approx(1.0, abs=5e-3)
    _not_blank(fig, tmp_path, "pd.png")


def test_phase_diagram_of_the_per_layer_rate_and_other_axes(grid, tmp_path):
    fig = plot.phase_diagram(grid.sel(activation="tanh"), x="sigma_b", y="sigma_w", value="log10_rate")
    _not_blank(fig, tmp_path, "rate.png")


def test_phase_diagram_errors(grid):
    with pytest.raises(ValueError, match="'depth' is not a swept axis"):
        plot.phase_diagram(grid, x="depth")
    with pytest.raises(ValueError, match="value must be one of"):
        plot.phase_diagram(grid, value="q")


def test_gradient_flow_is_readable_at_100k_layers(tmp_path):
    depth = 100_000
    layer = np.arange(1, depth + 1)
    ds = xr.Dataset({
        "log10_grad_norm": (("sigma_w", "seed", "layer"),
                            np.stack([-1e-3 * (depth - layer), 1e-3 * (depth - layer)])[:, None]),
        "predicted_log10_grad_norm": (("sigma_w", "seed", "layer"), np.zeros((2, 1, depth))),
    }, coords={"sigma_w": [0.9, 1.1], "seed": [0], "layer": layer})
    fig = plot.gradient_flow(ds)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert all(len(line.get_xdata()) <= 1600 for line in ax.get_lines())
    assert ax.get_lines()[0].get_xdata()[-1] == depth  # the last layer is always drawn
    _not_blank(fig, tmp_path, "flow.png")


def test_gradient_flow_from_disk(grid, tmp_path):
    path = tmp_path / "r.nc"
    grid.to_netcdf(path)
    with xr.open_dataset(path) as ds:
        fig = plot.gradient_flow(ds.sel(activation="tanh", sigma_b=0.2))
    assert len(fig.axes[0].get_legend().get_texts()) == 9
    _not_blank(fig, tmp_path, "flow2.png")


def test_grad_flow_bars(grid, tmp_path):
    one = grid.sel(activation="tanh", sigma_b=0.2).isel(sigma_w=0)
    fig = plot.grad_flow_bars(one, max_bars=20)
    bars = fig.axes[0].patches
    assert len(bars) == 2 * 20  # 60 layers in blocks of 3, two bars per block
    _not_blank(fig, tmp_path, "bars.png")
    with pytest.raises(ValueError, match="select one value"):
        plot.grad_flow_bars(grid)


def test_plot_is_reachable_from_the_package():
    assert ga.plot.phase_diagram is plot.phase_diagram


def test_simulate_result_plots(tmp_path):
    ds = ga.simulate(ga.MLP(depth=30, width=32), batch=4)
    _not_blank(plot.gradient_flow(ds), tmp_path, "sim.png")
    _not_blank(plot.grad_flow_bars(ds), tmp_path, "simbars.png")


def test_transformer_results_plot(tmp_path):
    ds = ga.sweep(ga.Transformer(depth=6, width=16, heads=2, seq_len=4), norm=["pre", "post"], alpha=[0.5, 1.0],
                  batch=2, progress=False)
    fig = plot.gradient_flow(ds)
    ax = fig.axes[0]
    assert "block" in ax.get_xlabel() and "dx_p" in ax.get_ylabel()
    assert len(ax.get_lines()) >= 4  # a line and its attention dots per configuration
    fig.savefig(tmp_path / "flow.png")
    plt.close(fig)
    fig = plot.phase_diagram(ds, x="alpha", y="norm")  # no chi1: no critical line, no error
    fig.savefig(tmp_path / "phase.png")
    plt.close(fig)
    with pytest.raises(ValueError, match="grad_flow_bars draws feed-forward layers"):
        plot.grad_flow_bars(ds.isel(norm=0, alpha=0))


def test_depth_to_width(tmp_path):
    ds = ga.sweep(ga.MLP(depth=8, width=16, activation="relu", init="he_normal"), width=[16, 32], depth=[8, 32],
                  batch=2, seeds=2, progress=False)
    fig = plot.depth_to_width(ds)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and "depth / width" in ax.get_xlabel()
    fig.savefig(tmp_path / "dw.png")
    plt.close(fig)
    with pytest.raises(ValueError, match="width and depth axes"):
        plot.depth_to_width(ds.isel(width=0, drop=True))
    grid = ga.sweep(ga.MLP(depth=8, width=16), width=[16, 32], depth=[8, 16], sigma_w=[1.0, 1.5], init=None,
                    batch=2, progress=False)
    with pytest.raises(ValueError, match="select one value of"):
        plot.depth_to_width(grid)
