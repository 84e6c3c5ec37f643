"""Recurrent cells: exactness against an independent NumPy BPTT, the known
analytic cases, reproducibility, memory and the API around them."""

from __future__ import annotations

import numpy as np
import pytest
from reference_recurrent import bptt, per_step_log10_norms

import gradatlas as ga
from gradatlas import _core
from gradatlas.simulate import run_specs

CLASSES = {"rnn": ga.RNN, "lstm": ga.LSTM, "gru": ga.GRU}


def small(cell, **kw):
    base = dict(steps=9, width=6, input_width=4, sigma_w=1.2, sigma_b=0.3, sigma_u=0.8, h0_std=0.5)
    return CLASSES[cell](**{**base, **kw})


def reference(spec, *, batch=3, seed=5, loss="projection"):
    w = ga.materialize(spec, batch=batch, seed=seed)
    extra = {"activation": spec.activation, "negative_slope": spec.negative_slope} if spec.cell == "rnn" else {}
    return bptt(spec.cell, w, loss=loss, every_step=spec.loss_at == "every", **extra)


# float64 agrees to rounding: the log-space and plain backward passes differ only
# by renormalization, ~1e-16 relative per step over 9 steps (worst seen 2e-15).
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("loss", ["projection", "sum_squares"])
@pytest.mark.parametrize("loss_at", ["last", "every"])
def test_matches_numpy_bptt(cell, loss, loss_at):
    spec = small(cell, loss_at=loss_at)
    ds = ga.simulate(spec, batch=3, seed=5, dtype="float64", loss=loss)
    ref = reference(spec, loss=loss)
    np.testing.assert_allclose(ds.log10_grad_norm.values, per_step_log10_norms(ref["grad_h"]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds.q.values, (ref["h"] ** 2).mean(axis=(1, 2)), rtol=1e-12, atol=1e-15)
    if cell == "lstm":
        np.testing.assert_allclose(ds.log10_cell_grad_norm.values, per_step_log10_norms(ref["grad_c"]),
                                   rtol=0, atol=1e-12)
    else:
        assert np.isnan(ds.log10_cell_grad_norm.values).all()


@pytest.mark.parametrize("activation", sorted(ga.ACTIVATIONS))
def test_rnn_every_activation_matches_numpy(activation):
    # h0 and inputs keep relu-like units alive; sigma_w 0.9 keeps every activation in range.
    spec = small("rnn", activation=activation, sigma_w=0.9, negative_slope=0.1)
    ds = ga.simulate(spec, batch=3, seed=2, dtype="float64")
    expected = per_step_log10_norms(reference(spec, seed=2)["grad_h"])
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isfinite(ds.log10_grad_norm.values), finite)
    np.testing.assert_allclose(ds.log10_grad_norm.values[finite], expected[finite], rtol=0, atol=1e-11)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_float32_close_to_float64(cell):
    # float32 rounding (~6e-8) compounded over 9 steps: 1e-5 decades is ~20x the worst seen.
    spec = small(cell)
    d32 = ga.simulate(spec, batch=3, seed=1, dtype="float32").log10_grad_norm.values
    d64 = ga.simulate(spec, batch=3, seed=1, dtype="float64").log10_grad_norm.values
    np.testing.assert_allclose(d32, d64, rtol=0, atol=1e-5)


@pytest.mark.parametrize("gain", [0.9, 1.1])
@pytest.mark.parametrize(("dtype", "steps", "atol"), [("float64", 1000, 1e-9), ("float32", 300, 1e-4)])
def test_linear_orthogonal_rnn_scales_exactly(gain, dtype, steps, atol):
    # dl/dh_t = (gain Q^T)^(T-t) u: the norm is gain^(T-t) |u| exactly. Q is orthogonal
    # to ~1e-15 (float64) or ~6e-8 (float32 entries) per step, hence the tolerances.
    spec = ga.RNN(steps=steps, width=32, activation="linear", init="orthogonal", sigma_w=gain, sigma_u=0.0,
                  h0_std=1.0)
    g = ga.simulate(spec, batch=4, dtype=dtype).log10_grad_norm.values
    expected = g[-1] + (steps - np.arange(steps + 1)) * np.log10(gain)
    np.testing.assert_allclose(g, expected, rtol=0, atol=atol)


def test_identity_relu_rnn_without_input_does_not_decay():
    # IRNN: h_t = relu(h_{t-1}) = relu(h_0), so the Jacobian is one fixed 0/1 mask;
    # after the first step back the gradient norm is constant for 2000 steps.
    spec = ga.RNN(steps=2000, width=64, activation="relu", init="identity", sigma_u=0.0, h0_std=1.0)
    ds = ga.simulate(spec, batch=4, dtype="float64")
    g = ds.log10_grad_norm.values
    np.testing.assert_allclose(g[:-1], g[0], rtol=0, atol=1e-12)
    assert ds.regime.item() == "stable"


@pytest.mark.parametrize(("activation", "gamma"), [("tanh", 1.0), ("sigmoid", 0.25)])
def test_pascanu_condition_gives_vanishing(activation, gamma):
    # Pascanu, Mikolov & Bengio 2013: |phi'| <= gamma and largest singular value
    # below 1/gamma make |dl/dh_{t-1}| <= gain * gamma |dl/dh_t| for each sample.
    # Orthogonal W_hh with gain 0.95/gamma has every singular value there.
    gain = 0.95 / gamma
    spec = ga.RNN(steps=500, width=64, activation=activation, init="orthogonal", sigma_w=gain, sigma_b=0.5,
                  sigma_u=1.0)
    ds = ga.simulate(spec, batch=4, dtype="float64")
    g = ds.log10_grad_norm.values
    bound = np.log10(gain * gamma) + 1e-12
    assert np.all(g[:-1] - g[1:] <= bound)
    assert ds.total_log10_ratio.item() <= 500 * np.log10(0.95) + 1e-9
    assert ds.regime.item() == "vanishing"


def test_forget_bias_lengthens_memory():
    # The cell path multiplies the gradient by the forget gate each step:
    # f = sigmoid(b_f + noise) ~ 0.5 at b_f = 0 and ~0.95 at b_f = 3, about
    # -0.3 against -0.02 decades per step. Measured horizons (steps per decade,
    # seeds 0-2): ~5 against 420-940; a factor 10 leaves a wide margin.
    ds = ga.sweep(cell="lstm", steps=300, width=64, forget_bias=[0.0, 3.0], seeds=2, batch=8, progress=False)
    horizon = ds.memory_horizon
    assert np.all(horizon.sel(forget_bias=3.0).values > 10 * horizon.sel(forget_bias=0.0).values)
    assert np.all(ds.log10_rate.sel(forget_bias=3.0).values > ds.log10_rate.sel(forget_bias=0.0).values)


def test_independent_weights_reproduced_by_point_seed():
    ds = ga.sweep(cell="rnn", steps=15, sigma_w=[0.5, 1.5], width=8, batch=2, common_random_numbers=False,
                  progress=False)
    seeds = ds.point_seed.values.ravel()
    assert seeds[0] != seeds[1]
    one = ga.simulate(ga.RNN(steps=15, width=8, sigma_w=1.5, init="xavier_normal"), batch=2, seed=int(seeds[1]))
    np.testing.assert_array_equal(one.log10_grad_norm.values, ds.log10_grad_norm.values[1, 0])


def test_mean_field_rate_for_wide_random_rnn():
    # Gaussian W_hh at width 1024: the measured per-step rate follows log10(chi1)/2
    # of the length map with bias variance sigma_b^2 + sigma_u^2. Weights are tied
    # across steps, so agreement is approximate: within 0.01 decades per step
    # (seen: 2e-3).
    ds = ga.sweep(cell="rnn", steps=200, width=1024, init=None, sigma_w=[0.8, 1.2], sigma_u=0.5, sigma_b=0.1,
                  batch=8, progress=False)
    np.testing.assert_allclose(ds.log10_rate.values, ds.predicted_log10_rate.values, atol=0.01)
    lstm = ga.simulate(ga.LSTM(steps=5, width=8))
    assert np.isnan(lstm.chi1.item())


def test_exploding_relu_rnn_reports_first_nonfinite_step():
    spec = ga.RNN(steps=400, width=32, activation="relu", sigma_w=4.0, init=None)
    ds = ga.simulate(spec, batch=4, dtype="float32")
    assert ds.regime.item() == "nonfinite"
    assert 1 <= ds.first_nonfinite_step.item() < 400
    assert ds.nonfinite_kind.item() == "forward_overflow"


def test_long_unroll_memory_grows_like_sqrt_steps():
    group = ga._recurrent.RecurrentGroup(0, 16, "float32", "lstm", "normal", 256, 256, 100_000, [None])
    k, peak = _core.plan_recurrent_memory(group.core_group(1, "projection"), 1, 4)
    assert 100 <= k <= 1000
    assert peak < 1 << 30  # under 1 GiB where keeping every step would take ~20 GiB
    spec = ga.GRU(steps=3000, width=16)
    ds = ga.simulate(spec, batch=2)  # runs segmented only when over the budget; force it below
    whole = run_specs([spec], batch=2, checkpoint_every=55)
    np.testing.assert_array_equal(whole["log10_grad_norm"][0], ds.log10_grad_norm.values)


def test_materialize_layouts():
    spec = ga.LSTM(steps=5, width=6, input_width=3, sigma_b=0.2, forget_bias=1.0, h0_std=0.1)
    w = ga.materialize(spec, batch=2)
    assert w["weight_ih"].shape == (24, 3) and w["weight_hh"].shape == (24, 6)
    assert w["bias_ih"].shape == w["bias_hh"].shape == (24,)
    assert w["inputs"].shape == (5, 2, 3) and w["h0"].shape == w["c0"].shape == (2, 6)
    assert not w["bias_hh"].any()
    z = _core.recurrent_standard_arrays("float64", ga._recurrent.make_groups(
        [ga._runner.Point(spec, 0, 2, "float64")], True)[0][0].core_group(1, "projection"))["z_b"]
    np.testing.assert_allclose(w["bias_ih"][6:12] - 1.0, 0.2 * z[6:12])
    identity = ga.materialize(ga.RNN(steps=2, width=4, init="identity", sigma_w=0.5))
    np.testing.assert_array_equal(identity["weight_hh"], 0.5 * np.eye(4))
    q = ga.materialize(ga.GRU(steps=2, width=5, init="orthogonal"))["weight_hh"]
    for k in range(3):
        block = q[5 * k:5 * (k + 1)]
        np.testing.assert_allclose(block @ block.T, np.eye(5), atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_pytorch_cells_give_the_same_gradients(cell):
    torch = pytest.importorskip("torch")
    spec = small(cell, steps=12)
    w = ga.materialize(spec, batch=3, seed=4)
    module = {"rnn": torch.nn.RNNCell(4, 6), "lstm": torch.nn.LSTMCell(4, 6), "gru": torch.nn.GRUCell(4, 6)}[cell]
    module = module.double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(module, name).copy_(torch.from_numpy(w[name]))
    h = torch.from_numpy(w["h0"]).requires_grad_(True)
    state = (h, torch.from_numpy(w["c0"])) if cell == "lstm" else h
    hs = [h]
    for t in range(spec.steps):
        state = module(torch.from_numpy(w["inputs"][t]), state)
        out = state[0] if cell == "lstm" else state
        out.retain_grad()
        hs.append(out)
    (hs[-1] * torch.from_numpy(w["projections"][-1])).sum().backward()
    expected = np.array([np.log10(x.grad.norm(dim=1).numpy()).mean() for x in hs])
    ds = ga.simulate(spec, batch=3, seed=4, dtype="float64")
    np.testing.assert_allclose(ds.log10_grad_norm.values, expected, rtol=0, atol=1e-12)


BAD_SPECS = [
    (dict(steps=0), "steps"), (dict(steps=2.5), "steps"), (dict(width=0), "width"),
    (dict(input_width=-1), "input_width"), (dict(init="bogus"), "init"), (dict(sigma_w=-1.0), "sigma_w"),
    (dict(sigma_b=float("nan")), "sigma_b"), (dict(sigma_u=-0.1), "sigma_u"), (dict(h0_std="x"), "h0_std"),
    (dict(loss_at="first"), "loss_at"), (dict(init=None, sigma_w=None), "init"),
]


@pytest.mark.parametrize(("kwargs", "name"), BAD_SPECS)
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_bad_spec_errors_name_the_parameter(cell, kwargs, name):
    with pytest.raises((TypeError, ValueError), match=name):
        CLASSES[cell](**{"steps": 3, **kwargs})


def test_bad_cell_specific_and_run_arguments(monkeypatch):
    with pytest.raises(ValueError, match="activation"):
        ga.RNN(steps=3, activation="nope")
    with pytest.raises(ValueError, match="forget_bias"):
        ga.LSTM(steps=3, forget_bias=float("inf"))
    with pytest.raises(TypeError):
        ga.GRU(steps=3, activation="relu")
    with pytest.raises(ValueError, match="batch"):
        ga.simulate(ga.RNN(steps=3), batch=0)
    with pytest.raises(ValueError, match="cell"):
        ga.sweep(cell="transformer", progress=False)
    with pytest.raises(ValueError, match="depth"):
        ga.sweep(cell="rnn", depth=5, progress=False)
    with pytest.raises(ValueError, match="steps"):
        ga.sweep(steps=5, progress=False)
    with pytest.raises(ValueError, match="32-bit"):
        ga.simulate(ga.LSTM(steps=10, width=1 << 20), batch=1)
    monkeypatch.setattr(ga._memory, "available_bytes", lambda: 1 << 20)
    with pytest.raises(ga.TooLargeError, match="MiB"):
        ga.simulate(ga.LSTM(steps=10, width=256), batch=16)


def test_progress_callback_can_stop_a_long_run():
    calls = []

    def stop(done, total):
        calls.append(done)
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        ga.simulate(ga.LSTM(steps=20000, width=64), batch=4, progress=stop)
    assert len(calls) == 1


def test_plots_of_recurrent_results(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from gradatlas import plot

    ds = ga.sweep(cell=["rnn", "lstm"], steps=40, width=16, init=None, sigma_w=[0.5, 1.0, 1.5], batch=4,
                  progress=False)
    fig = plot.phase_diagram(ds, x="sigma_w", y="cell")
    assert "40 steps" in fig._suptitle.get_text()
    plt.close(fig)
    fig = plot.gradient_flow(ds)
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("time step")
    # one measured line per configuration, plus dashed mean-field lines for the RNN only
    assert len(ax.lines) == 6 + 3
    plt.close(fig)
    with pytest.raises(ValueError, match="recurrent"):
        plot.grad_flow_bars(ds.isel(cell=0, sigma_w=0))
    with pytest.raises(ValueError, match="step"):
        plot.phase_diagram(ds, x="sigma_w", y="step")


def test_cli_recurrent_sweep(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from gradatlas.cli import main

    out = tmp_path / "run"
    code = main(["sweep", "--cell", "rnn,gru", "--steps", "30", "--width", "8", "--sigma-w", "0.5:1.5:3",
                 "--batch", "2", "--out", str(out), "--no-progress"])
    assert code == 0
    assert (out / "phase_diagram.png").exists() and (out / "gradient_flow.png").exists()
    import xarray as xr

    with xr.open_dataset(out / "results.nc") as ds:
        assert dict(ds.sizes) == {"sigma_w": 3, "cell": 2, "seed": 1, "step": 31}
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--cell", "rnn", "--norm", "batch", "--dry-run"])
    assert exc.value.code == 2
    assert "feed-forward sweeps only" in capsys.readouterr().err
