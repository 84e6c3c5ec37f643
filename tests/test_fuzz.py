"""Property-based fuzzing of the public entry points: any input either works or
raises a documented TypeError/ValueError (MemoryError for too-large requests);
nothing crashes or hangs. HYPOTHESIS_PROFILE=ci (used by .ci/run) runs 100
examples per test, the default dev profile 30."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradatlas as ga
from gradatlas import cli

ANYTHING = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(-3, 300), max_size=4), st.dictionaries(st.text(max_size=3),
                                                                                     st.integers(), max_size=2))
FIELDS = ["depth", "width", "widths", "activation", "negative_slope", "init", "sigma_w", "sigma_b", "residual",
          "alpha", "norm", "q0"]
DOCUMENTED = (TypeError, ValueError, MemoryError)


@given(field=st.sampled_from(FIELDS), value=ANYTHING)
def test_spec_constructor_accepts_or_explains(field, value):
    try:
        spec = ga.MLP(**{"depth": 3, "width": 4, field: value})
    except DOCUMENTED as exc:
        assert field in str(exc) or "init" in str(exc) or "residual" in str(exc)
    else:
        assert spec.depth >= 1 and len(spec.layer_widths) == spec.depth + 1


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    activation=st.sampled_from(sorted(ga.ACTIVATIONS)),
    sigma_w=st.floats(0, 20, allow_nan=False),
    sigma_b=st.floats(0, 5, allow_nan=False),
)
def test_theory_is_total(activation, sigma_w, sigma_b):
    chi = float(ga.theory.chi1(activation, sigma_w, sigma_b))
    q = float(ga.theory.q_star(activation, sigma_w, sigma_b))
    assert chi >= 0 and not math.isnan(chi)
    assert q >= 0 and not math.isnan(q)
    line = ga.theory.critical_line(activation, np.array([sigma_b]))
    assert line.shape == (1,)


@settings(deadline=None)
@given(
    axis=st.sampled_from(["sigma_w", "sigma_b", "activation", "depth", "width", "norm", "residual", "batch"]),
    values=st.lists(ANYTHING, min_size=0, max_size=3),
)
def test_sweep_axes_run_or_explain(axis, values):
    try:
        ds = ga.sweep(**{"depth": 3, "width": 4, "batch": 2, "progress": False, axis: values})
    except DOCUMENTED:
        return
    assert ds.sizes[axis] == len(values)


@given(argv=st.lists(st.sampled_from(
    ["sweep", "plot", "theory", "--depth", "--width", "--sigma-w", "--sigma-b", "--activation", "--dry-run",
     "--no-progress", "2", "0", "-1", "1:3:2", "tanh", "nope", "1,2", "x", "--critical-line", "--bogus"]),
    max_size=7))
@settings(deadline=None, max_examples=60)
def test_cli_arguments_never_crash(argv, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    try:
        code = cli.main([*argv, *(["--out", str(out)] if argv[:1] == ["sweep"] else [])])
    except SystemExit as exc:  # argparse usage errors and --help/--version
        code = exc.code
    assert code in (0, 2, 130, None)


@given(text=st.text(max_size=20), name=st.sampled_from(["depth", "sigma_w", "activation", "residual"]))
def test_cli_value_parser(text, name):
    try:
        cli.parse_values(name, text)
    except cli.UsageError as exc:
        assert name.replace("_", "-") in str(exc)
    except ValueError:
        pytest.fail("a bad value must be a UsageError naming the flag")
