"""The singular values of the input-output Jacobian (dynamical isometry).

For an input x, J = d a_L / d x = prod_l D_l W_l (plain) or prod_l (I + alpha D_l W_l)
(residual), D_l = diag(phi'(h_l)). A network is dynamically isometric when all
singular values of J stay near 1 (Saxe et al. 2014; Pennington, Schoenholz &
Ganguli 2017): the mean squared singular value is the mean-field chi_1^L, and
the spread around it depends on the weights (Gaussian or orthogonal) and on
the activation.

Two methods, both in float64 with the exact weights of ``simulate``:

- ``"svd"``: J accumulated layer by layer, rescaled by its norm each layer (the
  log of the scale kept aside, so nothing over- or underflows), then one SVD.
  Exact to float64 relative precision: singular values more than ~1e15 below the
  largest are not resolved.
- ``"qr"``: Q_0 = I; Q_l R_l = M_l Q_{l-1} (M_l the layer's Jacobian); the
  log10 |diag R| summed over layers are the logs of the diagonal of J's
  triangular factor. They approach J's singular values as the depth grows (the
  finite-depth Lyapunov spectrum; exact when they are well separated) and are
  exact in log space for any depth. The default past 256 layers.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from . import _core, theory
from . import _validate as v
from ._axes import MAX_SEED
from ._memory import check_fits
from .activations import evaluate
from .initializers import WEIGHT_DISTS
from .specs import MLP

SVD_MAX_DEPTH = 256
METHODS = ("auto", "svd", "qr")


def _layers(spec: MLP, seed: int, sample: int):
    """Yields (W_l, phi'(h_l)) in float64 along the forward pass of one input."""
    n = spec.layer_widths
    inputs = _core.standard_inputs("float64", seed, sample + 1, n[0], float(np.sqrt(spec.q0)))
    a = np.asarray(inputs[sample], dtype=np.float64)
    scales = spec.weight_scales()
    dist = WEIGHT_DISTS[spec.weight_dist]
    for l in range(1, spec.depth + 1):
        w = scales[l - 1] * np.asarray(_core.standard_weights("float64", seed, dist, l, n[l], n[l - 1]))
        b = spec.sigma_b * np.asarray(_core.standard_biases("float64", seed, l, n[l]))
        phi, dphi = evaluate(spec.activation, w @ a + b, spec.negative_slope)
        a = a + spec.alpha * phi if spec.residual else phi
        yield w, dphi


def _layer_map(spec: MLP, w: np.ndarray, dphi: np.ndarray, m: np.ndarray) -> np.ndarray:
    step = dphi[:, None] * (w @ m)
    return m + spec.alpha * step if spec.residual else step


def _svd(spec: MLP, seed: int, sample: int) -> np.ndarray:
    n0 = spec.layer_widths[0]
    m = np.eye(n0)
    log_scale = 0.0
    for w, dphi in _layers(spec, seed, sample):
        m = _layer_map(spec, w, dphi, m)
        norm = np.linalg.norm(m)
        if norm == 0 or not np.isfinite(norm):
            return np.full(min(m.shape), -np.inf if norm == 0 else np.nan)
        m /= norm
        log_scale += np.log10(norm)
    s = np.linalg.svd(m, compute_uv=False)
    with np.errstate(divide="ignore"):
        return np.log10(s) + log_scale


def _qr(spec: MLP, seed: int, sample: int) -> np.ndarray:
    q = np.eye(spec.layer_widths[0])
    logs = np.zeros(q.shape[1])
    for w, dphi in _layers(spec, seed, sample):
        q, r = np.linalg.qr(_layer_map(spec, w, dphi, q))
        k = min(r.shape)
        with np.errstate(divide="ignore"):
            logs = logs[:k] + np.log10(np.abs(np.diag(r)))
    return np.sort(logs)[::-1]


def predicted(spec: MLP) -> dict[str, float]:
    """Mean field: log10 of the mean squared singular value and, for plain nets of equal
    widths, the variance of the squared singular values relative to their mean squared.

    mean: prod_l sigma_w,l^2 E[phi'(h_l)^2] (plain) or prod_l (1 + alpha^2 sigma_w,l^2 E[phi'^2])
    (residual), with h_l ~ N(0, q_l) along the mean-field length profile. Variance (free
    probability, infinite width, Pennington et al. 2017): each layer adds
    E[phi'^4] / E[phi'^2]^2 - 1 from D_l^2, plus 1 from W_l^T W_l for Gaussian or uniform
    weights (Marchenko-Pastur at aspect ratio 1) and 0 for orthogonal ones.
    """
    nan = {"log10_mean_squared": np.nan, "relative_variance": np.nan}
    if spec.norm is not None:
        return nan
    q = theory.mean_field_profile(spec)["q"]
    dphi = lambda u: evaluate(spec.activation, u, spec.negative_slope)[1]
    e2 = theory._expect(spec.activation, lambda u: dphi(u) ** 2, q)
    e4 = theory._expect(spec.activation, lambda u: dphi(u) ** 4, q)
    sw2 = spec.sigma_w_per_layer() ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        if spec.residual:
            mean = float(np.sum(np.log10(1 + spec.alpha**2 * sw2 * e2)))
            return {"log10_mean_squared": mean, "relative_variance": np.nan}
        mean = float(np.sum(np.log10(sw2 * e2)))
        if len(set(spec.layer_widths)) != 1:
            return {"log10_mean_squared": mean, "relative_variance": np.nan}
        weights = 0.0 if spec.weight_dist == "orthogonal" else 1.0
        variance = float(np.sum(e4 / e2**2 - 1 + weights))
    return {"log10_mean_squared": mean, "relative_variance": variance}


def jacobian_spectrum(spec: MLP, *, seed: int = 0, sample: int = 0, method: str = "auto") -> xr.Dataset:
    """The singular values of the input-output Jacobian of ``spec`` at one input.

    Parameters
    ----------
    spec : MLP
        Plain or residual, without normalization (whose Jacobian couples samples).
    seed, sample
        The generator key and which input of ``materialize(spec, seed=seed)`` (row
        ``sample``) the Jacobian is taken at.
    method : {"auto", "svd", "qr"}
        See the module docstring; "auto" is "svd" up to 256 layers, "qr" beyond.

    Returns
    -------
    xarray.Dataset
        ``log10_singular_values`` (dimension ``index``, largest first);
        ``log10_mean_squared_singular_value`` (log10 of mean sigma^2, the quantity
        whose mean-field value is chi_1^L) and ``relative_variance`` (variance of
        sigma^2 over its mean squared) measured, with ``predicted_...`` beside
        them; the method in the attributes.
    """
    if not isinstance(spec, MLP):
        raise TypeError(f"spec must be a gradatlas.MLP, got {type(spec).__name__}")
    if spec.norm is not None:
        raise ValueError(f"jacobian_spectrum needs norm=None (with {spec.norm} norm the Jacobian couples the "
                         f"samples of a batch), got norm={spec.norm!r}")
    seed = v.integer("seed", seed, minimum=0, maximum=MAX_SEED)
    sample = v.integer("sample", sample, minimum=0, maximum=(1 << 20) - 1)
    method = v.choice("method", method, list(METHODS))
    if method == "auto":
        method = "svd" if spec.depth <= SVD_MAX_DEPTH else "qr"
    n = np.asarray(spec.layer_widths, dtype=float)
    # float64 peak: the inputs drawn up to row `sample`; W_l drawn and scaled (2 n_l n_{l-1}); the
    # accumulated Jacobian, W_l @ M, its scaled rows, the residual sum and the SVD / QR copy (n_l x n_0 each).
    estimate = 8 * ((sample + 1) * n[0] + 2 * np.max(n[1:] * n[:-1]) + 5 * np.max(n) * n[0])
    check_fits(int(estimate), f"jacobian_spectrum (depth {spec.depth}, width {int(n.max())}, sample {sample})",
               "reduce the width (J is n_L x n_0, each layer's n_l x n_(l-1) weights are drawn) or the sample index")
    logs = _svd(spec, seed, sample) if method == "svd" else _qr(spec, seed, sample)
    finite = logs[np.isfinite(logs)]
    if finite.size:
        top = 2 * finite.max()
        mean_sq = np.mean(10.0 ** (2 * logs - top))  # relative to the largest: no overflow
        log_mean_sq = float(top + np.log10(mean_sq))
        rel = 10.0 ** (2 * logs - top) / mean_sq
        relative_variance = float(np.mean(rel**2) - 1.0)
    else:
        log_mean_sq, relative_variance = float("nan"), float("nan")
    pred = predicted(spec)
    ds = xr.Dataset(
        {
            "log10_singular_values": ("index", logs),
            "log10_mean_squared_singular_value": ((), log_mean_sq),
            "relative_variance": ((), relative_variance),
            "predicted_log10_mean_squared_singular_value": ((), pred["log10_mean_squared"]),
            "predicted_relative_variance": ((), pred["relative_variance"]),
        },
        coords={"index": np.arange(1, logs.size + 1)},
    )
    ds.attrs.update({
        "method": method,
        "method_description": (
            "float64 SVD of J accumulated with per-layer rescaling (exact to float64 relative precision)"
            if method == "svd" else
            "QR accumulation: sums of log10|diag R| (exact in log space; converge to the singular values "
            "as the depth grows)"),
        "spec": spec.to_json(), "seed": seed, "sample": sample,
    })
    return ds
