"""The raw bindings: generator, activations, standard matrices, engine entry points."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
import reference

import gradatlas as ga
from gradatlas import _core

WEIGHTS, BIASES, INPUTS, PROJECTIONS, ORTHOGONAL = range(5)


def test_philox_known_answers():
    # Known-answer vectors of Random123 (kat_vectors, philox4x32 with 10 rounds).
    assert _core.philox4x32_10([0, 0, 0, 0], 0, 0) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert _core.philox4x32_10([0xFFFFFFFF] * 4, 0xFFFFFFFF, 0xFFFFFFFF) == [
        0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
    assert _core.philox4x32_10([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], 0xA4093822, 0x299F31D0) == [
        0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]


def test_normal_subranges_are_reproducible():
    full = _core.standard_normal(7, WEIGHTS, 3, 0, 1001)
    for first, count in [(0, 5), (1, 7), (3, 100), (997, 4), (500, 1)]:
        np.testing.assert_array_equal(_core.standard_normal(7, WEIGHTS, 3, first, count), full[first:first + count])


def test_streams_layers_seeds_are_independent():
    a = _core.standard_normal(1, WEIGHTS, 1, 0, 64)
    for other in [_core.standard_normal(2, WEIGHTS, 1, 0, 64), _core.standard_normal(1, BIASES, 1, 0, 64),
                  _core.standard_normal(1, WEIGHTS, 2, 0, 64)]:
        assert abs(np.corrcoef(a, other)[0, 1]) < 0.5
        assert not np.array_equal(a, other)


def test_normal_and_uniform_moments():
    # 4e5 draws: the standard error of the mean is 1.6e-3, of the variance 2.2e-3; 5 sigma bounds.
    z = _core.standard_weights("float64", 3, 0, 1, 400, 1000).ravel()
    assert abs(z.mean()) < 8e-3 and abs(z.var() - 1) < 1.2e-2
    assert abs(np.mean(z**4) - 3) < 0.05  # Gaussian kurtosis
    u = _core.standard_weights("float64", 3, 1, 1, 400, 1000).ravel()
    assert abs(u.mean()) < 8e-3 and abs(u.var() - 1) < 1e-2
    assert u.min() >= -np.sqrt(3) and u.max() <= np.sqrt(3)


def test_float32_draws_follow_float64_draws_to_float_precision():
    # float32 normals are computed in float arithmetic from the same Philox words
    # and pairing: a few float ulps from the float64 value (5.4 the worst seen in
    # 4M draws, mostly from the float log), relative 3.3e-7 at worst, including
    # near 0 (small radius or angle) where a 24-bit uniform would lose digits.
    z64 = _core.standard_weights("float64", 9, 0, 2, 1000, 1000)
    z32 = _core.standard_weights("float32", 9, 0, 2, 1000, 1000)
    assert z32.dtype == np.float32
    diff = np.abs(z32.astype(np.float64) - z64)
    ulps = diff / np.spacing(np.abs(z64).astype(np.float32)).astype(np.float64)
    assert ulps.max() <= 8
    assert (diff / np.abs(z64)).max() < 6e-7
    u32 = _core.standard_weights("float32", 9, 1, 2, 30, 20)  # uniform: rounded float64 draws
    np.testing.assert_array_equal(u32, _core.standard_weights("float64", 9, 1, 2, 30, 20).astype(np.float32))


@pytest.mark.parametrize("shape", [(16, 16), (8, 20), (20, 8), (1, 5)])
def test_orthogonal_matrices(shape):
    q = _core.standard_weights("float64", 4, 2, 1, *shape)
    rows, cols = shape
    gram = q @ q.T if rows <= cols else q.T @ q
    np.testing.assert_allclose(gram, np.eye(min(shape)), atol=1e-13)


def test_orthogonal_is_haar_sign_fixed():
    # Sign-fixed QR gives Haar matrices: the mean of the diagonal of Q is 0
    # (without the sign fix it would be positive, ~ +0.6 for 4x4).
    diag = np.array([np.diag(_core.standard_weights("float64", s, 2, 1, 4, 4)) for s in range(400)])
    assert abs(diag.mean()) < 0.1


@pytest.mark.parametrize("name", sorted(ga.ACTIVATIONS))
def test_activation_values_and_derivatives(name):
    x = np.concatenate([np.linspace(-30, 30, 2001), [-1e-300, 1e-300, 0.3, -0.7]])
    x = x[(np.abs(np.abs(x) - 1) > 1e-9) & (x != 0)]  # derivatives at kinks are tested below
    phi, dphi = _core.apply_activation(ga.ACTIVATIONS[name], 0.05, x)
    ref_phi, ref_dphi = reference.activation(name, x, 0.05)
    np.testing.assert_allclose(phi, ref_phi, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(dphi, ref_dphi, rtol=1e-12, atol=1e-300)
    # The derivative is the derivative: central differences away from kinks.
    xs = np.linspace(-4, 4, 37) + 0.013
    h = 1e-6
    up, _ = _core.apply_activation(ga.ACTIVATIONS[name], 0.05, xs + h)
    down, _ = _core.apply_activation(ga.ACTIVATIONS[name], 0.05, xs - h)
    _, d = _core.apply_activation(ga.ACTIVATIONS[name], 0.05, xs)
    np.testing.assert_allclose((up - down) / (2 * h), d, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(ga.ACTIVATIONS))
def test_float32_activations_are_accurate_to_float_precision(name):
    # float32 runs use their own code path (vectorized tanh and sigmoid); each value
    # must be the float64 value to within a few float32 ulps (2^-24 = 6e-8 relative).
    x = np.concatenate([np.linspace(-40, 40, 4001), [1e-30, -1e-7, 3e-4, -0.002]]).astype(np.float32)
    x = x[(np.abs(np.abs(x) - 1) > 1e-6) & (x != 0)]
    phi, dphi = _core.apply_activation_float32(ga.ACTIVATIONS[name], 0.05, x)
    ref_phi, ref_dphi = reference.activation(name, x.astype(np.float64), 0.05)
    tiny = np.finfo(np.float32).tiny
    np.testing.assert_allclose(phi, ref_phi, rtol=4e-7, atol=tiny)
    np.testing.assert_allclose(dphi, ref_dphi, rtol=4e-7, atol=tiny)


def test_derivatives_at_kinks_follow_pytorch():
    relu = _core.apply_activation(ga.ACTIVATIONS["relu"], 0.0, np.array([0.0]))[1]
    hard = _core.apply_activation(ga.ACTIVATIONS["hard_tanh"], 0.0, np.array([-1.0, 1.0]))[1]
    assert relu[0] == 0.0 and (hard == 0.0).all()


def test_activation_code_out_of_range():
    with pytest.raises(ValueError, match="activation code"):
        _core.apply_activation(99, 0.0, np.zeros(3))


def _group(**kw):
    args = dict(seed=0, widths=[4, 4, 4], batch=2, input_std=1.0, dist=0, norm_eps=1e-5,
                checkpoint_every=0, store_budget_bytes=1 << 20, n_threads=1)
    args.update(kw)
    return _core.MlpGroup(**args)


def _run(group, configs=1, depth=2, **kw):
    args = dict(
        activation=np.full(configs, 9, np.int32), activation_param=np.zeros(configs),
        weight_scale=np.full((configs, depth), 0.5), bias_scale=np.zeros((configs, depth)),
        residual=np.zeros(configs, bool), alpha=np.ones(configs), norm=np.zeros(configs, np.int32))
    args.update(kw)
    return _core.run_mlp_group("float64", group, **args)


def test_run_mlp_group_shapes():
    out = _run(_group(), configs=3)
    assert out["log10_grad_norm"].shape == (3, 1, 2)  # (configs, heads, depth)
    assert out["q"].shape == (3, 2)
    assert out["first_nonfinite_layer"].shape == (3, 1)


def test_heads_are_the_truncated_networks():
    # Output depths 1, 3, 5 of a 5-layer group equal three separate runs of depth 1, 3, 5.
    widths = [6, 7, 7, 7, 7, 7]
    both = _run(_group(widths=widths, heads=[1, 3, 5], batch=3), configs=2, depth=5)
    assert both["log10_grad_norm"].shape == (2, 3, 5)
    for k, d in enumerate([1, 3, 5]):
        alone = _run(_group(widths=widths[: d + 1], batch=3), configs=2, depth=d)
        np.testing.assert_array_equal(both["log10_grad_norm"][:, k, :d], alone["log10_grad_norm"][:, 0])
        np.testing.assert_array_equal(both["log10_weight_grad_norm"][:, k, :d], alone["log10_weight_grad_norm"][:, 0])
        assert np.isnan(both["log10_grad_norm"][:, k, d:]).all()


def test_heads_must_increase_within_depth():
    for heads in ([3, 1], [0], [9], [2, 2]):
        with pytest.raises(ValueError, match="heads must be increasing"):
            _run(_group(widths=[4] * 6, heads=heads), depth=5)


@pytest.mark.parametrize("change,message", [
    (dict(widths=[4]), "widths"),
    (dict(widths=[4, 0, 4]), "width"),
    (dict(batch=0), "batch"),
    (dict(n_threads=0), "n_threads"),
])
def test_core_checks_its_preconditions(change, message):
    with pytest.raises(ValueError, match=message):
        _run(_group(**change), depth=len(change.get("widths", [4, 4, 4])) - 1)


def test_core_rejects_inconsistent_configs():
    with pytest.raises(ValueError, match="shape"):
        _run(_group(), weight_scale=np.zeros((1, 5)))
    with pytest.raises(ValueError, match="residual"):
        _run(_group(widths=[4, 5, 4]), residual=np.ones(1, bool))
    with pytest.raises(ValueError, match="batch norm"):
        _run(_group(batch=1), norm=np.ones(1, np.int32))
    with pytest.raises(ValueError, match="float32"):
        _core.run_mlp_group("float16", _group(), np.zeros(1, np.int32), np.zeros(1), np.zeros((1, 2)),
                            np.zeros((1, 2)), np.zeros(1, bool), np.ones(1), np.zeros(1, np.int32))


def test_memory_plan_grows_like_sqrt_depth():
    def plan(depth):
        g = _group(widths=[256] * (depth + 1), batch=16, store_budget_bytes=0)
        return _core.plan_mlp_memory(g, 1, 4)

    (k1, b1, _), (k2, b2, _) = plan(1_000), plan(100_000)
    # k = sqrt(L * checkpoint size / per-layer store): 100x the depth, 10x the k.
    assert 8 <= k2 / k1 <= 12
    assert b2 / b1 < 15  # and about 10x the memory, not 100x
    assert b2 < 200 << 20


def test_memory_plan_keeps_every_layer_within_budget():
    g = _group(widths=[64] * 101, batch=4, store_budget_bytes=1 << 30)
    assert _core.plan_mlp_memory(g, 2, 8)[0] == 100


def test_build_facts():
    assert isinstance(_core.has_openmp(), bool)
    assert _core.max_threads() >= 1
    assert "OpenBLAS" in _core.blas_config()


@pytest.mark.parametrize("widths", [[], [4], [4, 0]])
def test_bad_groups_raise_instead_of_crashing(widths):
    with pytest.raises(ValueError, match="width"):
        _core.plan_mlp_memory(_group(widths=widths), 1, 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(37, 70, 45), (150, 300, 70)])
def test_deterministic_products(dtype, shape):
    # The engines' products: correct to rounding, and every element identical
    # whatever rows, columns or threads it is computed with. The second shape
    # takes the packed path (64 rows or more, depth in blocks of 128).
    m, k, n = shape
    rng = np.random.default_rng(3)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    tol = 2e-4 if dtype == np.float32 else 1e-12
    nn = _core.det_gemm(a, b, False, 2)
    nt = _core.det_gemm(a, np.ascontiguousarray(b.T), True, 2)
    np.testing.assert_allclose(nn, a @ b, rtol=0, atol=tol)
    np.testing.assert_allclose(nt, a @ b, rtol=0, atol=tol)
    np.testing.assert_array_equal(_core.det_gemm(a[5:6], b, False, 1), nn[5:6])
    np.testing.assert_array_equal(_core.det_gemm(a[9:30], np.ascontiguousarray(b[:, 3:40]), False, 1), nn[9:30, 3:40])
    np.testing.assert_array_equal(_core.det_gemm(a[2:3], np.ascontiguousarray(b.T[7:9]), True, 1), nt[2:3, 7:9])


_ISA_PROBE = """
import hashlib, json
import numpy as np
import gradatlas as ga
from gradatlas import _core
from gradatlas.simulate import run_specs

def digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()

rng = np.random.default_rng(5)
a = rng.standard_normal((150, 300)).astype(np.float32)  # 150 rows: the packed path too
b = rng.standard_normal((300, 70)).astype(np.float32)
mlp = [ga.MLP(depth=6, width=130, activation=act) for act in ("tanh", "relu")]
out = run_specs(mlp, batch=8, seed=1, n_threads=2)
lstm = run_specs([ga.LSTM(steps=12, width=96)], batch=8, seed=2, n_threads=2)
print(json.dumps(dict(
    isa=_core.kernel_isa(),
    draws=digest(*(_core.standard_weights(t, 9, 0, 3, 300, 200) for t in ("float32", "float64"))),
    products=digest(_core.det_gemm(a, b, False, 2), _core.det_gemm(a[:20], b, False, 1)),
    engines=digest(*(out[k] for k in sorted(out)), *(lstm[k] for k in sorted(lstm))),
)))
"""


def _probe(isa):
    env = dict(os.environ, GRADATLAS_MAX_ISA=isa)
    done = subprocess.run([sys.executable, "-c", _ISA_PROBE], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# The probe's digests as computed before the AVX2 products were rewritten with explicit
# broadcasts (GCC 12, x86-64): every FMA level (AVX2, AVX-512) gives the first, the generic
# (unfused) level the second. Any change to a kernel's operations shows here.
KNOWN_DIGESTS = {
    "fma": {"draws": "6bd5d0e3b156473b158d32d813ebb8eb895ccff03c763df4bed1e638a79bc93d",
            "products": "3b22e777ead3b603d108894ed2feaf9da2ee8e0134554a986701a4490a1c5fd7",
            "engines": "da3eee3b7b4f9f7f6761aece4e2aac50fa1fed61a79e827a3e2488bd1aa06394"},
    "generic": {"draws": "6bd5d0e3b156473b158d32d813ebb8eb895ccff03c763df4bed1e638a79bc93d",
                "products": "512229789ae43d91b2ce1ce1f141767fe399856e2ee3687c029f4fdbb007e220",
                "engines": "87501925c9a61f55702639207cd938f9ec4ae06483c4c9b70ff7e71557ffd8a1"},
}


@pytest.mark.skipif(_core.kernel_isa() == "generic" or platform.machine() not in ("x86_64", "AMD64"),
                    reason="the digests are those of x86-64 builds with the dispatched kernels")
@pytest.mark.parametrize("isa", ["avx512", "avx2", "generic"])
def test_kernels_keep_their_digests(isa):
    if isa == "avx512" and _core.kernel_isa() != "avx512":
        pytest.skip("needs a CPU that picks the AVX-512 kernels")
    got = _probe(isa)
    assert got.pop("isa") == isa
    assert got == KNOWN_DIGESTS["generic" if isa == "generic" else "fma"]


@pytest.mark.skipif(_core.kernel_isa() != "avx512", reason="needs a CPU that picks the AVX-512 kernels")
def test_avx2_kernels_give_the_avx512_bits():
    # The AVX2 versions of the Philox rounds, the products and the Gram matrices
    # run the same operations as the AVX-512 ones (the same FMA chains, 64-byte
    # logical vectors): every draw, product and engine output must match bit
    # for bit. The generic versions share only the draws (their products and
    # Gram matrices are unfused).
    avx512, avx2, generic = _probe("avx512"), _probe("avx2"), _probe("generic")
    assert (avx512["isa"], avx2["isa"], generic["isa"]) == ("avx512", "avx2", "generic")
    assert avx2 == {**avx512, "isa": "avx2"}
    assert generic["draws"] == avx512["draws"]
    assert generic["products"] != avx512["products"]  # the test can tell the paths apart


def test_python_tables_of_codes_are_the_cores():
    # Every table of codes the Python side hands to the core is built from the
    # core's own enum names; the descriptions and reports keyed by name must
    # cover exactly those names.
    from gradatlas import initializers, specs, summary
    from gradatlas.definitions import LOSSES
    from gradatlas.specs import recurrent as cells
    from gradatlas.train import CLIP_MODES, OPTIMIZERS

    names = _core.enum_names()

    def as_codes(enum):
        return {name: code for code, name in enumerate(names[enum])}

    assert ga.ACTIVATIONS == as_codes("activation")
    assert specs.NORMS == as_codes("norm") and initializers.WEIGHT_DISTS == as_codes("weight_dist")
    assert cells.CELLS == as_codes("cell") and cells.RECURRENT_DISTS == as_codes("recurrent_dist")
    assert OPTIMIZERS == as_codes("optimizer") and CLIP_MODES == as_codes("clip")
    assert list(LOSSES) == names["loss"]
    assert summary.NONFINITE_KINDS == ("", *names["nonfinite"][1:]) and names["nonfinite"][0] == "none"
    assert {dist for dist, _ in initializers.INITS.values()} <= set(names["weight_dist"])
    assert set(cells.GATES) == set(names["cell"])


def _logistic(x: float) -> float:
    """The core's logistic, written out with libm's exp (math.exp is the same C function)."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def test_silu_and_sigmoid_take_one_exponential_with_the_bits_of_two():
    # logistic(x) and logistic(-x) both use e^{-|x|}; the core computes it once. The bits must be those
    # of the two separate calls (the engines' digests depend on them), at zeros of both signs, infinities,
    # NaN, subnormal and huge inputs.
    xs = np.concatenate([np.linspace(-40, 40, 2001), [0.0, -0.0, 1e-310, -1e-310, 5e-324, 700.0, -745.0, -800.0,
                                                        np.inf, -np.inf, np.nan]])
    for name in ("silu", "sigmoid"):
        phi, dphi = _core.apply_activation(ga.ACTIVATIONS[name], 0.0, xs)
        for i, x in enumerate(xs.tolist()):  # Python floats: IEEE double arithmetic, no warnings
            s, s_neg = _logistic(x), _logistic(-x)
            want = (x * s, s * (1.0 + x * s_neg)) if name == "silu" else (s, s * s_neg)
            for got, w in zip((phi[i], dphi[i]), want):
                assert np.float64(got).tobytes() == np.float64(w).tobytes() or (np.isnan(got) and np.isnan(w)), \
                    (name, x, got, w)
