"""The command line end to end, in a temporary directory."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

import gradatlas as ga

# matplotlib.image is a submodule that `import matplotlib` alone does not load.
mpl_image = pytest.importorskip("matplotlib.image")


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gradatlas", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def _png_ok(path):
    image = mpl_image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image[..., :3].std() > 0.05


def test_sweep_writes_results_and_phase_diagram(tmp_path):
    out = tmp_path / "run"
    proc = run("sweep", "--activation", "tanh,relu", "--sigma-w", "0.5:3:6", "--sigma-b", "0,0.3",
               "--depth", "20", "--width", "16", "--init", "none", "--batch", "4", "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "activation" in proc.stderr and "estimate:" in proc.stderr  # the grid and estimate are echoed
    assert (out / "results.nc").exists()
    _png_ok(out / "phase_diagram.png")
    _png_ok(out / "gradient_flow.png")
    with xr.open_dataset(out / "results.nc") as ds:
        assert dict(ds.sizes) == {"activation": 2, "sigma_b": 2, "sigma_w": 6, "seed": 1, "layer": 20}
        point = ds.sel(activation="relu", sigma_b=0.3, sigma_w=1.5, seed=0)
        ref = ga.simulate(ga.MLP(depth=20, width=16, activation="relu", init=None, sigma_w=1.5, sigma_b=0.3), batch=4)
        np.testing.assert_array_equal(point.log10_grad_norm.values, ref.log10_grad_norm.values)


def test_transformer_sweep_with_arch(tmp_path):
    out = tmp_path / "tf"
    proc = run("sweep", "--arch", "transformer", "--norm", "pre,post,deepnorm", "--depth", "2,4", "--width", "16",
               "--heads", "2", "--seq-len", "4", "--batch", "3", "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    _png_ok(out / "gradient_flow.png")
    _png_ok(out / "phase_diagram.png")
    with xr.open_dataset(out / "results.nc") as ds:
        assert dict(ds.sizes) == {"depth": 2, "norm": 3, "seed": 1, "sublayer": 9, "projection": 6}
        point = ds.sel(norm="post", depth=4, seed=0)
        ref = ga.simulate(ga.Transformer(depth=4, width=16, heads=2, seq_len=4, norm="post"), batch=3)
        np.testing.assert_array_equal(point.log10_grad_norm.values, ref.log10_grad_norm.values)


def test_sweep_from_toml_and_plot_command(tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text('[sweep]\nactivation = "tanh"\nsigma_w = [0.8, 1.2, 1.6]\nsigma_b = [0.0, 0.1]\n'
                      'init = "lecun_normal"\ndepth = 15\nwidth = 16\nbatch = 4\nseeds = 2\n')
    out = tmp_path / "toml-run"
    proc = run("sweep", "--config", str(config), "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(out / "results.nc") as ds:
        assert ds.sizes["seed"] == 2 and list(ds.sigma_w.values) == [0.8, 1.2, 1.6]
    figs = tmp_path / "figs"
    proc = run("plot", str(out / "results.nc"), "--out", str(figs))
    assert proc.returncode == 0, proc.stderr
    _png_ok(figs / "phase_diagram.png")


def test_dry_run_prints_the_estimate_only(tmp_path):
    proc = run("sweep", "--sigma-w", "1,2", "--init", "none", "--depth", "10", "--width", "8", "--dry-run",
               "--out", str(tmp_path / "nothing"))
    assert proc.returncode == 0 and "estimate:" in proc.stderr
    assert not (tmp_path / "nothing").exists()


def test_theory_command():
    proc = run("theory", "--activation", "relu", "--sigma-w", "1.41421356237", "--sigma-b", "0")
    assert proc.returncode == 0, proc.stderr
    row = proc.stdout.strip().splitlines()[-1].split()
    assert float(row[3]) == pytest.approx(1.0, abs=1e-6)  # chi1 of He-initialized relu
    proc = run("theory", "--activation", "tanh", "--sigma-b", "0.05,0.3", "--critical-line")
    assert proc.returncode == 0 and len(proc.stdout.strip().splitlines()) == 4


def test_version_and_help():
    assert run("--version").stdout.strip() == f"gradatlas {ga.__version__}"
    proc = run("--help")
    assert proc.returncode == 0 and "sweep" in proc.stdout and "theory" in proc.stdout
    assert run("sweep", "--help").returncode == 0


@pytest.mark.parametrize("args,message", [
    (["sweep", "--activation", "tnah", "--dry-run"], "activation must be one of"),
    (["sweep", "--depth", "ten", "--dry-run"], "--depth: expected an integer, got 'ten'"),
    (["sweep", "--sigma-w", "1:2", "--dry-run"], "a range is start:stop:count"),
    (["sweep", "--residual", "maybe", "--dry-run"], "--residual: expected true or false"),
    (["sweep", "--width", "-4", "--dry-run"], "width must be >= 1, got -4"),
    (["sweep", "--config", "/nonexistent.toml"], "cannot read /nonexistent.toml"),
    (["sweep", "--heads", "4", "--dry-run"], "--heads applies to transformers: add --arch transformer"),
    (["sweep", "--arch", "transformer", "--cell", "rnn", "--dry-run"], "--arch transformer takes no --cell"),
    (["sweep", "--arch", "conv", "--dry-run"], "--arch conv needs --channels"),
    (["sweep", "--arch", "transformer", "--heads", "3", "--width", "8", "--dry-run"], "heads must divide width"),
    (["sweep", "--bogus"], "unrecognized arguments: --bogus"),
    (["plot", "/nonexistent.nc"], "no such results file"),
    (["theory", "--activation", "nope"], "--activation must be one of"),
    ([], "the following arguments are required"),
])
def test_bad_input_gives_a_clear_message_and_exit_2(args, message):
    proc = run(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bench_prints_the_table(capsys):
    from gradatlas.cli import main

    assert main(["bench", "--only", "R1", "--quick", "--no-torch", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "of sgemm" in out
    row = [line for line in out.splitlines() if line.startswith("R1 ")]
    assert len(row) == 1 and "T=1000" in row[0]
    ratio = float(row[0].split()[-1])
    assert 0 < ratio < 100
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--only", "W9", "--no-torch"])
    assert exc.value.code == 2


def test_every_sweep_flag_comes_from_a_documented_spec_setting():
    # The flags are the settings of every kind; each is described in its spec
    # class's docstring (a new kind's settings show up, documented, by themselves).
    from gradatlas import cli, kinds

    parser = cli.build_parser()
    sweep = next(a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith("sweep"))
    flags = {a.dest: a for a in sweep._actions}
    for kind in kinds.KINDS:
        for name in kind.settings:
            assert name in flags, name
            assert kinds.setting_help(name), f"{name} is not described in {kind.spec_types}' docstrings"
            assert flags[name].help
    assert kinds.setting_type("sigma_w") == ("float", True) and kinds.setting_type("depth") == ("int", False)
    assert cli.parse_values("input_width", "none") is None
    assert cli.parse_values("residual", "true,false") == [True, False]
