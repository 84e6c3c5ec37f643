"""Bad input: a clear TypeError/ValueError naming the parameter, before any work starts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradatlas as ga

GOOD = dict(depth=3, width=8)


@pytest.mark.parametrize("field,value,error,pattern", [
    ("depth", 0, ValueError, r"depth must be >= 1, got 0"),
    ("depth", 2.5, TypeError, r"depth must be an integer, got 2.5"),
    ("depth", True, TypeError, r"depth must be an integer"),
    ("depth", 10**8, ValueError, r"depth must be <= 10000000"),
    ("width", -3, ValueError, r"width must be >= 1, got -3"),
    ("width", "8", TypeError, r"width must be an integer, got '8'"),
    ("widths", (8, 8), ValueError, r"widths must hold depth \+ 1 = 4 values"),
    ("widths", (8, 8, 0, 8), ValueError, r"widths\[i\] must be >= 1"),
    ("widths", "8888", TypeError, r"widths must be a sequence"),
    ("activation", "rleu", ValueError, r"activation must be one of \[.*'relu'.*\].*got 'rleu'"),
    ("activation", 3, TypeError, r"activation must be a string"),
    ("negative_slope", float("nan"), ValueError, r"negative_slope must be finite"),
    ("init", "he", ValueError, r"init must be one of \[.*'he_normal'.*\], got 'he'"),
    ("sigma_w", -1.0, ValueError, r"sigma_w must be >= 0.0, got -1.0"),
    ("sigma_w", "1", TypeError, r"sigma_w must be a real number"),
    ("sigma_b", float("inf"), ValueError, r"sigma_b must be finite"),
    ("residual", 1, TypeError, r"residual must be True or False, got 1"),
    ("alpha", None, TypeError, r"alpha must be a real number, got None"),
    ("norm", "group", ValueError, r"norm must be one of \['none', 'batch', 'layer'\], got 'group'"),
    ("q0", 0.0, ValueError, r"q0 must be > 0, got 0.0"),
])
def test_spec_errors(field, value, error, pattern):
    with pytest.raises(error, match=pattern):
        ga.MLP(**{**GOOD, field: value})


def test_spec_needs_an_init_or_sigma_w():
    with pytest.raises(ValueError, match="give init .* or sigma_w"):
        ga.MLP(depth=3, init=None)


def test_residual_needs_equal_widths():
    with pytest.raises(ValueError, match="residual=True needs equal widths"):
        ga.MLP(depth=2, widths=(4, 5, 4), residual=True)


def test_names_are_normalized():
    spec = ga.MLP(depth=2, activation="Swish", init="Kaiming-Normal", norm="Layer")
    assert (spec.activation, spec.init, spec.norm) == ("silu", "he_normal", "layer")


SPEC = ga.MLP(depth=3, width=8)


@pytest.mark.parametrize("kwargs,error,pattern", [
    (dict(batch=0), ValueError, r"batch must be >= 1, got 0"),
    (dict(batch=2.0), TypeError, r"batch must be an integer"),
    (dict(seed=-1), ValueError, r"seed must be >= 0, got -1"),
    (dict(seed=2**64), ValueError, r"seed must be <= 18446744073709551615"),
    (dict(seed="0"), TypeError, r"seed must be an integer"),
    (dict(dtype="float16"), ValueError, r"dtype must be one of \['float32', 'float64'\].*got 'float16'"),
    (dict(dtype="banana"), ValueError, r"dtype must be one of"),
    (dict(loss="mse"), ValueError, r"loss must be one of \['projection', 'sum_squares'\], got 'mse'"),
    (dict(n_threads=0), ValueError, r"n_threads must be >= 1, got 0"),
    (dict(progress=3), TypeError, r"progress must be None or a callable"),
])
def test_simulate_errors(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        ga.simulate(SPEC, **kwargs)


def test_checkpoint_every_is_checked():
    from gradatlas.simulate import run_specs

    with pytest.raises(ValueError, match=r"checkpoint_every must be >= 1, got 0"):
        run_specs([SPEC], checkpoint_every=0)
    with pytest.raises(ValueError, match=r"checkpoint_every must be <= 3, got 4"):
        run_specs([SPEC], checkpoint_every=4)


def test_simulate_needs_a_spec():
    with pytest.raises(TypeError,
                       match="spec must be a gradatlas.MLP, RNN, LSTM, GRU, ConvNet or Transformer, got dict"):
        ga.simulate({"depth": 3})


def test_batch_norm_needs_two_samples():
    with pytest.raises(ValueError, match="batch must be >= 2 with norm='batch'"):
        ga.simulate(SPEC.replace(norm="batch"), batch=1)


def test_numpy_dtypes_and_integers_are_accepted():
    ds = ga.simulate(SPEC, batch=np.int64(2), seed=np.uint64(3), dtype=np.float64)
    assert ds.attrs["dtype"] == "float64"


def test_too_large_is_refused_with_the_estimate():
    spec = ga.MLP(depth=10, width=2000)
    with pytest.raises(ga.TooLargeError, match=r"needs about [0-9.]+ [GT]iB .* reduce batch"):
        ga.simulate(spec, batch=1 << 20)


def test_blas_index_range_is_refused():
    with pytest.raises(ValueError, match="32-bit BLAS index range"):
        ga.simulate(ga.MLP(depth=1, width=50_000), batch=1)


def test_materialize_errors():
    with pytest.raises(TypeError, match="spec must be a gradatlas.MLP"):
        ga.materialize("MLP")
    with pytest.raises(ValueError, match="batch must be >= 1"):
        ga.materialize(SPEC, batch=0)


def test_progress_exception_stops_the_run():
    class Stop(Exception):
        pass

    calls = []

    def progress(done, total):
        calls.append((done, total))
        raise Stop

    with pytest.raises(Stop):
        ga.simulate(ga.MLP(depth=3000, width=256), batch=8, progress=progress)
    # The hook is polled every 50 ms, so a run of ~1 s stops long before its end.
    assert len(calls) == 1 and 0 < calls[0][0] < calls[0][1]


@given(
    depth=st.integers(1, 6),
    width=st.integers(1, 9),
    activation=st.sampled_from(sorted(ga.ACTIVATIONS)),
    sigma_w=st.floats(0, 50),
    sigma_b=st.floats(0, 50),
    residual=st.booleans(),
    norm=st.sampled_from([None, "batch", "layer"]),
    batch=st.integers(2, 5),
    dtype=st.sampled_from(["float32", "float64"]),
)
def test_any_valid_input_runs_and_reports_consistently(depth, width, activation, sigma_w, sigma_b,
                                                       residual, norm, batch, dtype):
    """Extreme but valid settings never crash; non-finite results are labelled as such."""
    spec = ga.MLP(depth=depth, width=width, activation=activation, init=None, sigma_w=sigma_w,
                  sigma_b=sigma_b, residual=residual, norm=norm)
    ds = ga.simulate(spec, batch=batch, dtype=dtype)
    assert ds.sizes["layer"] == depth
    assert str(ds.regime.values) in {"vanishing", "stable", "exploding", "nonfinite"}
    bad = int(ds.first_nonfinite_layer)
    if bad == -1:
        assert not np.isnan(ds.log10_grad_norm).any()
    else:
        assert 1 <= bad <= depth and str(ds.regime.values) == "nonfinite"
