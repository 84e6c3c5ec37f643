"""Careless or hostile input, as reported: every case is refused up front with an error that names the
parameter (or flag, or file), the value and what is accepted; nothing runs first and nothing crashes."""

from __future__ import annotations

import os
import tracemalloc
import warnings

import numpy as np
import pytest

import gradatlas as ga
from gradatlas import theory
from gradatlas.cli import main

SMALL = dict(depth=3, width=8, batch=4, progress=False)


# --- sweeps: validation after normalization ----------------------------------------------------------------


@pytest.mark.parametrize("axis, values", [
    ("activation", ["tanh", "TANH"]),
    ("activation", ["swish", "silu"]),
    ("init", ["xavier_normal", "glorot_normal"]),
    ("dtype", ["float32", "f4"]),
    ("sigma_w", [1, 1.0]),
    ("norm", [None, "none"]),
])
def test_axes_repeating_a_value_after_normalization_are_refused(axis, values):
    with pytest.raises(ValueError, match=rf"sweep axis '{axis}' repeats a value"):
        ga.sweep(**{**SMALL, axis: values})


def test_repeated_seeds_are_refused():
    with pytest.raises(ValueError, match="sweep axis 'seeds' repeats"):
        ga.sweep(**SMALL, seeds=[1, np.int64(1)])


def test_zero_dimensional_arrays_and_numpy_scalars_are_single_values():
    ref = ga.sweep(**SMALL, init=None, sigma_w=1.5)
    for value in (np.array(1.5), np.float64(1.5), np.float32(1.5)):
        ds = ga.sweep(**SMALL, init=None, sigma_w=value)
        assert "sigma_w" not in ds.dims
        np.testing.assert_array_equal(ds.log10_grad_norm.values, ref.log10_grad_norm.values)
    assert ga.sweep(**{**SMALL, "depth": np.int64(3)}, seeds=np.array(2)).sizes["seed"] == 2


def test_dtype_none_is_refused_everywhere():
    spec = ga.MLP(depth=3, width=8)
    for call in (lambda: ga.sweep(**SMALL, dtype=None), lambda: ga.simulate(spec, dtype=None),
                 lambda: ga.materialize(spec, dtype=None), lambda: ga.plan_sweep(depth=3, width=8, dtype=None)):
        with pytest.raises(ValueError, match=r"dtype must be one of \['float32', 'float64'\].*got None"):
            call()


def test_train_sweep_needs_a_spec_and_checks_every_point_first():
    with pytest.raises(TypeError, match="spec must be a gradatlas.MLP"):
        ga.train_sweep(None)
    with pytest.raises(ValueError, match=r"train_sweep point \{'lr': -1\}"):
        ga.train_sweep(ga.MLP(depth=2, width=4), lr=[0.01, -1], steps=2)
    with pytest.raises(TypeError, match="unknown settings"):
        ga.train_sweep(ga.MLP(depth=2, width=4), learning_rate=[0.1, 0.2])


def test_n_threads_beyond_the_cores_is_capped_with_a_warning():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with pytest.warns(RuntimeWarning, match=rf"n_threads=1024 exceeds the {cores} cores available"):
        ds = ga.simulate(ga.MLP(depth=3, width=8), batch=4, n_threads=1024)
    assert np.isfinite(ds.log10_grad_norm).all()
    with pytest.warns(RuntimeWarning, match="n_threads=1024"):
        ga.sweep(**SMALL, n_threads=1024)
    with pytest.raises(ValueError, match="n_threads must be <= 1024"):
        ga.sweep(**SMALL, n_threads=4096)


# --- memory: refused before any allocation ------------------------------------------------------------------


def _refused_without_allocating(call) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ga.TooLargeError, match="needs about"):
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, peak  # numpy reports its buffers to tracemalloc: nothing large was made


def test_materialize_and_jacobian_spectrum_refuse_too_large_requests_up_front():
    _refused_without_allocating(lambda: ga.materialize(ga.MLP(depth=100_000, width=20_000)))
    _refused_without_allocating(lambda: ga.materialize(ga.MLP(depth=1, width=2000), batch=1 << 20))
    _refused_without_allocating(lambda: ga.jacobian_spectrum(ga.MLP(depth=2, width=40_000)))


# --- theory: checked like everything else -------------------------------------------------------------------


@pytest.mark.parametrize("call, pattern", [
    (lambda: theory.chi1("tanh", -1.0, 0.0), r"sigma_w must be finite and >= 0.0, got -1.0"),
    (lambda: theory.chi1("tanh", [1.0, np.nan], 0.0), r"sigma_w must be finite.*got nan at index \(1,\)"),
    (lambda: theory.chi1("tanh", 1.0, np.inf), r"sigma_b must be finite"),
    (lambda: theory.q_star("tanh", 1.0, 0.1, q0=-1.0), r"q0 must be >= 0.0, got -1.0"),
    (lambda: theory.length_map("tanh", -2.0, 1.0, 0.0), r"q must be finite and >= 0.0, got -2.0"),
    (lambda: theory.chi1("nope", 1.0, 0.0), r"activation must be one of"),
    (lambda: theory.critical_line("tanh", 0.1, sigma_w_range=(5.0, 1.0)), r"sigma_w_range"),
])
def test_theory_refuses_bad_arguments(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_theory_of_a_million_points_is_fast_and_bounded():
    sw = np.linspace(0.5, 3, 10**6)
    tracemalloc.start()
    try:
        chi = theory.chi1("tanh", sw, 0.05)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert chi.shape == sw.shape and np.isfinite(chi).all()
    assert peak < 1 << 30, peak  # it was (points x 1600) float64 temporaries: 24 GB
    np.testing.assert_allclose(chi[[0, -1]], theory.chi1("tanh", sw[[0, -1]], 0.05), rtol=1e-14)


def test_theory_is_computed_once_per_distinct_configuration(monkeypatch):
    seen = []
    original = theory.mean_field_profiles

    def counting(specs):
        seen.extend(specs)
        return original(specs)

    monkeypatch.setattr(theory, "mean_field_profiles", counting)
    ds = ga.sweep(**SMALL, init=None, sigma_w=[0.9, 1.1, 1.3], seeds=7)
    assert len(seen) == 3 == len(set(seen))
    assert np.isfinite(ds.predicted_log10_grad_norm).all()


# --- the command line: one line, exit code 2, before anything runs ------------------------------------------

SWEEP = ["sweep", "--depth", "3", "--width", "8", "--batch", "2", "--sigma-w", "0.5,1", "--init", "none",
         "--no-progress"]


def _cli_error(args, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    last = err.rstrip("\n").split("\n")[-1]  # after the grid and the estimate, when they were reached
    assert "Traceback" not in err and last.startswith("gradatlas: error: "), err
    return last


def test_cli_errors_name_the_flag(tmp_path, capsys):
    out = ["--out", str(tmp_path / "out")]
    assert "--seeds" in _cli_error([*SWEEP, *out, "--seeds", "abc"], capsys)
    assert "--workers must be >= 1" in _cli_error([*SWEEP, *out, "--workers", "0"], capsys)
    assert "--store" in _cli_error([*SWEEP, *out, "--resume"], capsys)
    assert "--x" in _cli_error([*SWEEP, *out, "--sigma-b", "0,0.1", "--x", "bogus"], capsys)
    plain = tmp_path / "plain"
    plain.write_text("mine")
    assert "--out" in _cli_error([*SWEEP, "--out", str(plain)], capsys)
    assert "--store" in _cli_error([*SWEEP, *out, "--store", str(plain)], capsys)
    assert plain.read_text() == "mine"
    assert not (tmp_path / "out" / "results.nc").exists()  # nothing ran


def test_cli_refuses_to_empty_the_current_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("mine")
    err = _cli_error([*SWEEP, "--out", "out", "--store", ".", "--overwrite"], capsys)
    assert "--store '.' is the current directory" in err
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_cli_checks_an_unwritable_out_before_the_sweep(capsys):
    # /proc refuses new directories even to root, as CI runs
    assert "--out '/proc/gradatlas-out' is not a writable directory" in _cli_error(
        [*SWEEP, "--out", "/proc/gradatlas-out"], capsys)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only directories")
def test_cli_checks_a_read_only_out_before_the_sweep(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert "--out" in _cli_error([*SWEEP, "--out", str(locked / "run")], capsys)
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("text, pattern", [
    (b"sweep = 3\n", "'sweep' in .* must be a table"),
    (b"[sweep]\ndepth = 3\ninit = \"\xff\xfe\"\n", "not UTF-8"),
])
def test_cli_config_errors_name_the_file(tmp_path, capsys, text, pattern):
    config = tmp_path / "bad.toml"
    config.write_bytes(text)
    err = _cli_error(["sweep", "--config", str(config), "--out", str(tmp_path / "out"), "--no-progress"], capsys)
    assert "--config" in err and str(config) in err
    assert __import__("re").search(pattern, err), err


def test_cli_config_init_none_means_none(tmp_path):
    config = tmp_path / "ok.toml"
    config.write_text('[sweep]\ndepth = 3\nwidth = 8\nbatch = 2\ninit = "none"\nsigma_w = [0.5, 1.0]\n')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # matplotlib's font cache on a first run
        assert main(["sweep", "--config", str(config), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
