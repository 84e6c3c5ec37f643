"""Mean-field theory of signal and gradient propagation at initialization.

Gaussian expectations E[f(sqrt(q) z)] are computed by composite Gauss-Legendre
quadrature in z on [-12, 12] (the density beyond is below 1e-31): the range is
cut at 0 and at every kink of the activation (hard_tanh's +-1 / sqrt(q)), each
piece split into ``PANELS`` panels of 8 nodes. Plain Gauss-Hermite quadrature,
the textbook choice, loses its accuracy once sqrt(q) z resolves the
activation's features (1e-1 relative error for tanh at q = 30 with 160 nodes);
the composite rule stays within 1e-9 for smooth activations up to q = 300 and
is exact at kinks that fall on a panel edge. The activation functions are the
core's own.

The two expectations everything a sweep reports is built from, V(q) = E[phi^2]
and D(q) = E[phi'^2], are tabulated once per activation by that rule (with
extra cuts at |sqrt(q) z| = 1 and 12 so that it stays accurate to ~1e-8 at any
q) and read back by cubic Hermite interpolation in ln q, within 1e-10 of the
rule (``gradatlas._gauss_tables``): a 10^6-point phase diagram's fixed points,
chi1 and profiles cost seconds, not hours. ``chi_q``, the correlation map and
the Jacobian spectrum's moments use the rule directly.

Definitions (Poole et al. 2016; Schoenholz et al. 2017, "Deep information
propagation"):

* length map  q_{l+1} = sigma_w^2 E[phi(sqrt(q_l) z)^2] + sigma_b^2, fixed point q*;
* chi1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]: the mean factor by which the squared
  gradient norm changes per layer; the gradient norm changes by log10(chi1)/2
  decades per layer (``predicted_log10_rate``);
* correlation map c_{l+1} = (sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2) / q*,
  fixed point c*, slope chi_c = sigma_w^2 E[phi'(u1) phi'(u2)] at c*;
* depth scales xi_q = -1/ln chi_q (chi_q the slope of the length map at q*),
  xi_c = -1/ln chi_c, xi_grad = -1/ln chi1 (negative when gradients explode).

All functions broadcast over array arguments.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from . import _validate as v
from ._gauss_tables import GaussTable
from .activations import evaluate
from .specs.base import activation_name

PANELS = 100  # per piece between kinks, for one-dimensional expectations
TABLE_PANELS = 24  # per piece, with the extra cuts of _moments (7 to 9 pieces)
PAIR_PANELS = 16  # per piece and dimension, for expectations over pairs
_ORDER = 8
_Z = 12.0
_MAX_ITER = 1000
# Past this q the network has exploded for any purpose here; stop iterating.
_Q_OVERFLOW = 1e30
_KINKS = {"hard_tanh": (-1.0, 1.0)}  # kinks other than 0, in u = sqrt(q) z


@lru_cache(maxsize=8)
def _fixed_nodes(panels: int) -> tuple[np.ndarray, np.ndarray]:
    return _nodes_with_cuts(np.zeros(()), (), panels)


def _nodes(activation: str, q: np.ndarray, panels: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z and weights (density included), broadcastable to q.shape + (n,)."""
    kinks = _KINKS.get(activation, ())
    if not kinks:  # the nodes do not depend on q
        return _fixed_nodes(panels)
    return _nodes_with_cuts(np.asarray(q, float), kinks, panels)


def _nodes_with_cuts(q: np.ndarray, kinks: tuple[float, ...], panels: int) -> tuple[np.ndarray, np.ndarray]:
    inv_sqrt_q = 1.0 / np.sqrt(np.maximum(q, 1e-300))
    cuts = [np.full(q.shape, -_Z), np.zeros(q.shape), np.full(q.shape, _Z)]
    cuts += [np.clip(k * inv_sqrt_q, -_Z, _Z) for k in kinks]
    edges = np.sort(np.stack(cuts, axis=-1), axis=-1)
    t = np.linspace(0.0, 1.0, panels + 1)
    lo, hi = edges[..., :-1, None], edges[..., 1:, None]
    panel_edges = lo + (hi - lo) * t
    a, b = panel_edges[..., :-1, None], panel_edges[..., 1:, None]
    x, w = np.polynomial.legendre.leggauss(_ORDER)
    half = 0.5 * (b - a)
    z = 0.5 * (a + b) + half * x
    weights = half * w * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
    shape = q.shape + (-1,)
    return z.reshape(shape), weights.reshape(shape)


def _expect(activation: str, fn: Any, q: np.ndarray) -> np.ndarray:
    """E[fn(sqrt(q) z)] for z ~ N(0, 1), broadcasting over q."""
    q = np.asarray(q, dtype=float)
    z, w = _nodes(activation, q, PANELS)
    return np.sum(fn(np.sqrt(q)[..., None] * z) * w, axis=-1)


def _moments(activation: str, negative_slope: float, q: np.ndarray) -> tuple[np.ndarray, ...]:
    """V = E[phi^2], dV/d ln q, D = E[phi'^2], dD/d ln q, K = E[phi'^4], dK/d ln q at each q, by
    quadrature (see _gauss_tables).

    Besides the activation's own kinks the range is also cut at u = +-1 and
    +-12, so that for large q the few z where the activation is not yet
    saturated or linear get panels of their own.
    """
    q = np.asarray(q, dtype=float)
    z, w = _nodes_with_cuts(q, (*_KINKS.get(activation, ()), -12.0, -1.0, 1.0, 12.0), TABLE_PANELS)
    phi, dphi = evaluate(activation, np.sqrt(q)[..., None] * z, negative_slope)
    phi2, dphi2 = phi * phi, dphi * dphi
    dphi4 = dphi2 * dphi2
    ds = 0.5 * (z * z - 1.0) * w
    return (np.sum(phi2 * w, axis=-1), np.sum(phi2 * ds, axis=-1), np.sum(dphi2 * w, axis=-1),
            np.sum(dphi2 * ds, axis=-1), np.sum(dphi4 * w, axis=-1), np.sum(dphi4 * ds, axis=-1))


def _table(activation: str, negative_slope: float) -> GaussTable:
    """V(q), D(q) tabulated once per activation (about 0.3 s), then read in microseconds.
    Only leaky_relu has a parameter: every other activation has one table whatever the slope."""
    return _cached_table(activation, float(negative_slope) if activation == "leaky_relu" else 0.0)


@lru_cache(maxsize=64)
def _cached_table(activation: str, negative_slope: float) -> GaussTable:
    return GaussTable(lambda q: _moments(activation, negative_slope, q))


def _activation(value: Any) -> str:
    """The canonical activation name: aliases and case resolved before _table and _KINKS look it up."""
    return activation_name("activation", value)


def _check(activation: Any, negative_slope: Any, sigma_w: Any, sigma_b: Any,
           q0: Any = 1.0) -> tuple[str, float, np.ndarray, np.ndarray, float]:
    """The public functions' common arguments, checked once per call (elementwise, vectorized, for arrays).

    q0 may be 0 (a recurrent net's q0 = h0_std**2 is 0 by default)."""
    return (_activation(activation), v.real("negative_slope", negative_slope),
            v.real_array("sigma_w", sigma_w, minimum=0.0), v.real_array("sigma_b", sigma_b, minimum=0.0),
            v.real("q0", q0, minimum=0.0))


def _phi(activation: str, negative_slope: float) -> Any:
    return lambda u: evaluate(activation, u, negative_slope)[0]


def _dphi(activation: str, negative_slope: float) -> Any:
    return lambda u: evaluate(activation, u, negative_slope)[1]


def length_map(activation: str, q, sigma_w, sigma_b, *, negative_slope: float = 0.01) -> np.ndarray:
    """sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2."""
    activation, negative_slope, sigma_w, sigma_b, _ = _check(activation, negative_slope, sigma_w, sigma_b)
    return _length_map(activation, v.real_array("q", q, minimum=0.0), sigma_w, sigma_b, negative_slope)


def _length_map(activation: str, q, sigma_w, sigma_b, negative_slope: float) -> np.ndarray:
    e_phi2, _ = _table(activation, negative_slope)(q)
    return np.square(sigma_w) * e_phi2 + np.square(sigma_b)


def q_star(activation: str, sigma_w, sigma_b, *, negative_slope: float = 0.01, q0: float = 1.0) -> np.ndarray:
    """The fixed point of the length map, iterated from the first layer's q = sigma_w^2 q0 + sigma_b^2.

    Returns inf where q grows without bound (unbounded activations with chi
    above 1) and the limit reached after many iterations where convergence is
    only power-law (at the critical point).
    """
    activation, negative_slope, sigma_w, sigma_b, q0 = _check(activation, negative_slope, sigma_w, sigma_b, q0)
    return _q_star(activation, sigma_w, sigma_b, negative_slope, q0)


def _q_star(activation: str, sigma_w, sigma_b, negative_slope: float, q0: float) -> np.ndarray:
    sw, sb = np.broadcast_arrays(np.asarray(sigma_w, float), np.asarray(sigma_b, float))
    shape = sw.shape
    sw, sb = sw.ravel(), sb.ravel()
    q = np.square(sw) * q0 + np.square(sb)
    # Only elements still moving are iterated: most converge in tens of steps,
    # critical ones (power-law convergence) take all _MAX_ITER. Each element's
    # value depends on nothing else (a sweep point equals its simulate).
    active = np.ones(q.shape, dtype=bool)
    for _ in range(_MAX_ITER):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        qa = q[idx]
        with np.errstate(over="ignore", invalid="ignore"):
            q_next = _length_map(activation, np.minimum(qa, _Q_OVERFLOW), sw[idx], sb[idx], negative_slope)
            q_next = np.where(qa >= _Q_OVERFLOW, np.inf, q_next)
            converged = (np.abs(q_next - qa) <= 1e-13 * np.maximum(qa, 1e-300)) | ~np.isfinite(q_next)
        q[idx] = q_next
        active[idx[converged]] = False
    return q.reshape(shape)


def chi1(activation: str, sigma_w, sigma_b, *, negative_slope: float = 0.01, q=None, q0: float = 1.0) -> np.ndarray:
    """sigma_w^2 E[phi'(sqrt(q) z)^2] at q = q* (or at the q given: >= 0, +inf as q_star returns it)."""
    activation, negative_slope, sigma_w, sigma_b, q0 = _check(activation, negative_slope, sigma_w, sigma_b, q0)
    if q is not None:
        q = v.real_array("q", q, minimum=0.0, allow_inf=True)
    return _chi1(activation, sigma_w, sigma_b, negative_slope, q, q0)


def _chi1(activation: str, sigma_w, sigma_b, negative_slope: float, q, q0: float) -> np.ndarray:
    if q is None:
        q = _q_star(activation, sigma_w, sigma_b, negative_slope, q0)
    q = np.where(np.isfinite(q), q, _Q_OVERFLOW)
    _, d = _table(activation, negative_slope)(q)
    return np.square(sigma_w) * d


def predicted_log10_rate(activation: str, sigma_w, sigma_b, **kwargs: Any) -> np.ndarray:
    """Predicted decades per layer of the gradient norm: log10(chi1) / 2."""
    with np.errstate(divide="ignore"):
        return 0.5 * np.log10(chi1(activation, sigma_w, sigma_b, **kwargs))


def chi_q(activation: str, sigma_w, sigma_b, *, negative_slope: float = 0.01, q0: float = 1.0) -> np.ndarray:
    """Slope of the length map at q*: sigma_w^2 E[phi'^2 + phi phi''] (via Stein's lemma,
    d/dq E[phi(sqrt(q)z)^2] = E[phi(u) phi'(u) z] / sqrt(q), so no second derivative is needed)."""
    activation, negative_slope, sigma_w, sigma_b, q0 = _check(activation, negative_slope, sigma_w, sigma_b, q0)
    return _chi_q(activation, sigma_w, sigma_b, negative_slope, q0)


def _chi_q(activation: str, sigma_w, sigma_b, negative_slope: float, q0: float) -> np.ndarray:
    qs = _q_star(activation, sigma_w, sigma_b, negative_slope, q0)
    q = np.where(np.isfinite(qs), np.maximum(qs, 1e-300), _Q_OVERFLOW)
    z, w = _nodes(activation, q, PANELS)
    phi, dphi = evaluate(activation, np.sqrt(q)[..., None] * z, negative_slope)
    return np.square(sigma_w) * np.sum(phi * dphi * z * w, axis=-1) / np.sqrt(q)


def _pair_expect(activation: str, fn: Any, q: np.ndarray, c: np.ndarray) -> np.ndarray:
    """E[fn(u1) fn(u2)] for (u1, u2) Gaussian with variance q and correlation c."""
    q, c = np.broadcast_arrays(np.asarray(q, float), np.clip(np.asarray(c, float), -1.0, 1.0))
    z, w = _nodes(activation, q, PAIR_PANELS)
    z = np.broadcast_to(z, q.shape + z.shape[-1:])
    w = np.broadcast_to(w, q.shape + w.shape[-1:])
    z1, z2 = z[..., :, None], z[..., None, :]
    sq, cc = np.sqrt(q)[..., None, None], c[..., None, None]
    u1 = sq * z1
    u2 = sq * (cc * z1 + np.sqrt(1.0 - cc * cc) * z2)
    return np.sum(np.sum(fn(u1) * fn(u2) * w[..., None, :], axis=-1) * w, axis=-1)


def c_star(activation: str, sigma_w, sigma_b, *, negative_slope: float = 0.01, c0: float = 0.0,
           q0: float = 1.0) -> np.ndarray:
    """Fixed point of the correlation map, iterated from c0 (independent inputs: 0)."""
    activation, negative_slope, sigma_w, sigma_b, q0 = _check(activation, negative_slope, sigma_w, sigma_b, q0)
    return _c_star(activation, sigma_w, sigma_b, negative_slope, v.real("c0", c0, minimum=-1.0, maximum=1.0), q0)


def _c_star(activation: str, sigma_w, sigma_b, negative_slope: float, c0: float, q0: float) -> np.ndarray:
    qs = _q_star(activation, sigma_w, sigma_b, negative_slope, q0)
    phi = _phi(activation, negative_slope)
    sw2, sb2 = np.square(sigma_w), np.square(sigma_b)
    c = np.full(np.shape(qs), float(c0))
    q = np.where(np.isfinite(qs), np.maximum(qs, 1e-300), _Q_OVERFLOW)
    frozen = np.zeros(c.shape, dtype=bool)
    for _ in range(500):
        c_next = np.clip((sw2 * _pair_expect(activation, phi, q, c) + sb2) / q, -1.0, 1.0)
        converged = np.abs(c_next - c) < 1e-12
        c = np.where(frozen, c, c_next)
        frozen |= converged
        if frozen.all():
            break
    return c


def chi_c(activation: str, sigma_w, sigma_b, *, negative_slope: float = 0.01, q0: float = 1.0) -> np.ndarray:
    """sigma_w^2 E[phi'(u1) phi'(u2)] at the correlation fixed point c*."""
    activation, negative_slope, sigma_w, sigma_b, q0 = _check(activation, negative_slope, sigma_w, sigma_b, q0)
    return _chi_c(activation, sigma_w, sigma_b, negative_slope, q0)


def _chi_c(activation: str, sigma_w, sigma_b, negative_slope: float, q0: float) -> np.ndarray:
    qs = _q_star(activation, sigma_w, sigma_b, negative_slope, q0)
    cs = _c_star(activation, sigma_w, sigma_b, negative_slope, 0.0, q0)
    q = np.where(np.isfinite(qs), np.maximum(qs, 1e-300), _Q_OVERFLOW)
    return np.square(sigma_w) * _pair_expect(activation, _dphi(activation, negative_slope), q, cs)


def depth_scales(activation: str, sigma_w, sigma_b, *, negative_slope: float = 0.01,
                 q0: float = 1.0) -> dict[str, np.ndarray]:
    """xi_q, xi_c and xi_grad = -1/ln(chi) of each map (in layers)."""
    act, slope, sw, sb, q0 = _check(activation, negative_slope, sigma_w, sigma_b, q0)
    with np.errstate(divide="ignore"):
        return {
            "xi_q": -1.0 / np.log(_chi_q(act, sw, sb, slope, q0)),
            "xi_c": -1.0 / np.log(_chi_c(act, sw, sb, slope, q0)),
            "xi_grad": -1.0 / np.log(_chi1(act, sw, sb, slope, None, q0)),
        }


def critical_line(
    activation: str,
    sigma_b,
    *,
    negative_slope: float = 0.01,
    sigma_w_range: tuple[float, float] = (0.05, 20.0),
    q0: float = 1.0,
) -> np.ndarray:
    """sigma_w on the critical line chi1(sigma_w, sigma_b) = 1, for each sigma_b.

    First from the parametric form of Schoenholz et al. (2017): at a fixed point
    q*, chi1 = 1 means sigma_w^2 = 1 / E[phi'(sqrt(q*) z)^2] and then
    sigma_b^2 = q* - sigma_w^2 E[phi(sqrt(q*) z)^2]; tracing q* over a fine grid
    and interpolating in sigma_b^2 needs no iteration. Where that curve does not
    cover a sigma_b monotonically (relu-like activations, whose critical sigma_w
    does not depend on q*), bisection on chi1 at the iterated q* is used (45
    halvings of ``sigma_w_range``); NaN where chi1 - 1 does not change sign there.
    For unbounded activations that are linear for large inputs (gelu, silu, elu,
    softplus), chi1 jumps across 1 where q* becomes infinite (sigma_w^2 E[phi'^2]
    -> sigma_w^2 / 2 as q -> inf), and the point returned is that jump: the
    edge of the exploding phase.
    """
    activation = _activation(activation)
    negative_slope = v.real("negative_slope", negative_slope)
    sb = v.real_array("sigma_b", sigma_b, minimum=0.0)
    q0 = v.real("q0", q0, minimum=0.0)
    if not (isinstance(sigma_w_range, (tuple, list)) and len(sigma_w_range) == 2):
        raise TypeError(f"sigma_w_range must be a pair (low, high), got {sigma_w_range!r}")
    low = v.real("sigma_w_range[0]", sigma_w_range[0], minimum=0.0)
    sigma_w_range = (low, v.real("sigma_w_range[1]", sigma_w_range[1], minimum=low))
    if sigma_w_range[0] == sigma_w_range[1]:
        raise ValueError(f"sigma_w_range must have low < high, got {sigma_w_range!r}")
    sw = _critical_line_parametric(activation, sb, negative_slope, sigma_w_range)
    missing = ~np.isfinite(sw)
    if np.any(missing):
        sw = np.where(missing, _critical_line_bisection(activation, sb, negative_slope, sigma_w_range, q0), sw)
    return sw


def _critical_line_parametric(activation: str, sb: np.ndarray, slope: float,
                              sigma_w_range: tuple[float, float]) -> np.ndarray:
    # q* = 0 (sigma_b = 0 for odd activations) then q* on a fine grid; below
    # 1e-5 the sigma_b^2 of the curve (~q^3 for tanh) drowns in rounding.
    q = np.geomspace(1e-5, 1e4, 6000)
    e_phi2, e_dphi2 = _table(activation, slope)(q)
    out = np.full(sb.shape, np.nan)
    if np.ptp(e_dphi2) <= 1e-12 * e_dphi2[0]:
        # chi1 does not depend on q* (linear, relu, leaky_relu): a vertical line.
        sw = 1.0 / np.sqrt(e_dphi2[0])
        return np.full(sb.shape, sw if sigma_w_range[0] <= sw <= sigma_w_range[1] else np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        sw2 = 1.0 / e_dphi2
        sb2 = q - sw2 * e_phi2
    # The curve must start at sigma_b ~ 0 (q* -> 0 is a fixed point: phi(0) = 0)
    # and rise monotonically; otherwise (sigmoid, selu...) bisection is used.
    noise = 1e-14 * max(1.0, float(np.nanmax(np.abs(sb2))))
    if not (np.all(np.isfinite(sw2)) and -noise <= sb2[0] < 1e-10 and np.all(np.diff(sb2) >= -noise)):
        return out
    sb2[0] = 0.0
    sb2 = np.maximum.accumulate(sb2)  # rounding wiggles only (checked above)
    last_of_run = np.concatenate([np.diff(sb2) > 0, [True]])  # flat stretches (hard_tanh near 0)
    sb2, sw2 = sb2[last_of_run], sw2[last_of_run]
    target = sb**2
    sw = np.sqrt(np.interp(target, sb2, sw2))
    inside = (target <= sb2[-1]) & (sw >= sigma_w_range[0]) & (sw <= sigma_w_range[1])
    return np.where(inside, sw, np.nan)


def _critical_line_bisection(activation: str, sb: np.ndarray, slope: float,
                             sigma_w_range: tuple[float, float], q0: float) -> np.ndarray:
    lo = np.full(sb.shape, sigma_w_range[0])
    hi = np.full(sb.shape, sigma_w_range[1])
    f = lambda sw: _chi1(activation, sw, sb, slope, None, q0) - 1.0
    f_lo, f_hi = f(lo), f(hi)
    bracketed = np.sign(f_lo) != np.sign(f_hi)
    for _ in range(45):
        mid = 0.5 * (lo + hi)
        f_mid = f(mid)
        left = np.sign(f_mid) == np.sign(f_lo)
        lo = np.where(left, mid, lo)
        f_lo = np.where(left, f_mid, f_lo)
        hi = np.where(left, hi, mid)
    return np.where(bracketed, 0.5 * (lo + hi), np.nan)


def mean_field_profile(spec: Any) -> dict[str, np.ndarray]:
    """Per-layer mean-field prediction for an MLP spec.

    Returns ``q`` (the pre-activation second moment of layers 1..L) and
    ``log10_grad_norm`` (the predicted log10 |dl/dh_l| relative to layer L,
    so 0 at l = L). Plain nets: |dl/dh_{l-1}|^2 / |dl/dh_l|^2 = sigma_w,l^2
    E[phi'(h_{l-1})^2]. Residual nets (a_l = a_{l-1} + alpha phi(h_l)):
    |dl/da_{l-1}|^2 = |dl/da_l|^2 (1 + alpha^2 sigma_w,l^2 E[phi'(h_l)^2]) and
    |dl/dh_l|^2 = alpha^2 E[phi'(h_l)^2] |dl/da_l|^2, with the forward second
    moment of a_l growing by alpha^2 E[phi(h_l)^2] per layer. With batch or
    layer norm no prediction is made (NaN).
    """
    from .specs import MLP

    if not isinstance(spec, MLP):
        raise TypeError(f"spec must be a gradatlas.MLP, got {type(spec).__name__}")
    q, grad = mean_field_profiles([spec])
    return {"q": q[0], "log10_grad_norm": grad[0]}


def finite_width_step(activation: str, q, sigma_w, width, *, negative_slope: float = 0.01,
                      orthogonal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ln(|dl/dh_{l-1}|^2 / |dl/dh_l|^2) for one layer of width ``width`` (the
    units of h_{l-1}) whose pre-activations have second moment ``q``, to order 1/width.

    Derivation (the README's "Finite width" section has it in full). With W_l Gaussian of variance
    sigma_w^2 / n and independent of the gradient (the usual gradient-independence assumption),
    dl/dh_{l-1} = phi'(h_{l-1}) * (W_l^T dl/dh_l) makes the ratio X = (sigma_w^2 / n) sum_i a_i z_i^2,
    with a_i = phi'(h_{l-1,i})^2 over the layer's units and z_i independent N(0, 1): a weighted
    chi-square. Expanding ln X to second order about its mean, and averaging also over the units' a_i
    (their empirical mean fluctuates by Var(a) / n):

        E[ln X] = ln(sigma_w^2 D) - v / 2,   Var[ln X] = v = (3 K / D^2 - 1) / n,

    D = E[phi'^2], K = E[phi'^4] at q: E[X] is mean field's chi1 exactly; the log loses half the
    variance (a log-normal's bias). For ReLU with He init, K / D^2 = 2 gives -5/(2n) and 5/n: the exact
    product law's 1/n terms (Hanin & Nica 2019). Orthogonal W (``orthogonal=True``, sigma_w the gain)
    has no chi-square part, the direction of W^T g being uniform on the sphere: v = 3 (K / D^2 - 1) / n,
    which vanishes for linear and scale-free activations with all units active, and is what remains of
    the activation's own spread.
    """
    act = _activation(activation)
    table = _table(act, negative_slope)
    q = np.asarray(q, dtype=float)
    _, d = table(q)
    k = table.fourth(q)
    n = np.asarray(width, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        kurtosis = k / (d * d)
        var = (3.0 * (kurtosis - 1.0) if orthogonal else 3.0 * kurtosis - 1.0) / n
        mean = np.log(np.asarray(sigma_w, dtype=float) ** 2 * d) - 0.5 * var
    return mean, var


def finite_width_profiles(specs: Any, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Finite-width predictions for plain MLPs of one depth along their layers' own q (S, L), as
    mean_field_profiles returns it: (mean, sd) of log10 |dl/dh_l| relative to layer L, each (S, L),
    summing ``finite_width_step`` over layers l+1..L (independent steps: the variances add). NaN for
    residual, normalized or convolutional networks (no such expansion here)."""
    from .specs import MLP

    specs = list(specs)
    mean_out = np.full(q.shape, np.nan)
    sd_out = np.full(q.shape, np.nan)
    to_log10 = 1.0 / (2.0 * np.log(10.0))  # ln |g|^2 -> log10 |g|
    for i, s in enumerate(specs):
        if not (isinstance(s, MLP) and s.mean_field_applies and not s.residual):
            continue
        sw = s.sigma_w_per_layer()
        widths = np.asarray(s.layer_widths, dtype=float)
        # step from h_{l+1} to h_l (0-based l = 0..L-2): W_{l+1}'s sigma_w, h_l's units and q
        mean, var = finite_width_step(s.activation, q[i, :-1], sw[1:], widths[1:-1], negative_slope=s.negative_slope,
                                      orthogonal=s.weight_dist == "orthogonal")
        with np.errstate(invalid="ignore"):
            mean_out[i] = np.concatenate([np.cumsum(mean[::-1])[::-1], [0.0]]) * to_log10
            sd_out[i] = np.sqrt(np.concatenate([np.cumsum(var[::-1])[::-1], [0.0]])) * to_log10
    return mean_out, sd_out


def mean_field_profiles(specs: Any) -> tuple[np.ndarray, np.ndarray]:
    """``mean_field_profile`` for many specs of one depth at once: (q, log10_grad_norm), each (S, L).

    Specs sharing activation, residual flag and normalization are iterated
    together as arrays, so a sweep costs one pass over the layers per such set.
    """
    from .specs import MLP
    from .specs.convnet import ConvNet

    specs = list(specs)
    if not specs:
        raise ValueError("specs must hold at least one gradatlas.MLP, got an empty sequence")
    for i, s in enumerate(specs):
        # A ConvNet with Gaussian kernels shares the fully connected mean field with fan-in K^2 C.
        if not isinstance(s, (MLP, ConvNet)):
            raise TypeError(f"specs[{i}] must be a gradatlas.MLP or ConvNet, got {type(s).__name__}")
    depth = specs[0].depth
    if any(s.depth != depth for s in specs):
        raise ValueError("mean_field_profiles needs specs of one depth")
    q_out = np.full((len(specs), depth), np.nan)
    g_out = np.full((len(specs), depth), np.nan)
    families: dict[tuple, list[int]] = {}
    for i, s in enumerate(specs):
        if s.mean_field_applies:
            families.setdefault((s.activation, s.negative_slope, s.residual), []).append(i)
    for (activation, slope, residual), idx in families.items():
        members = [specs[i] for i in idx]
        q, g = _profiles(activation, slope, residual,
                         np.stack([m.sigma_w_per_layer() for m in members]),
                         np.array([m.sigma_b for m in members]), np.array([m.alpha for m in members]),
                         np.array([m.q0 for m in members]))
        q_out[idx], g_out[idx] = q, g
    return q_out, g_out


def _profiles(activation: str, slope: float, residual: bool, sw: np.ndarray, sb: np.ndarray,
              alpha: np.ndarray, q0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n_specs, depth = sw.shape
    moments = _table(activation, slope)
    q = np.empty((n_specs, depth))
    e_dphi2 = np.empty((n_specs, depth))
    p = q0.astype(float)  # second moment of a_{l-1}
    # A plain network with the same sigma_w at every layer whose length map has
    # reached its fixed point repeats that layer; such rows are frozen (per row,
    # so a row's numbers do not depend on the others).
    can_freeze = np.all(sw == sw[:, :1], axis=1) & (not residual)
    frozen = np.zeros(n_specs, dtype=bool)
    for l in range(depth):
        q[:, l] = sw[:, l] ** 2 * p + sb**2
        if l > 0:
            frozen |= can_freeze & (np.abs(q[:, l] - q[:, l - 1]) <= 1e-15 * q[:, l])
            q[frozen, l] = q[frozen, l - 1]
            e_dphi2[frozen, l] = e_dphi2[frozen, l - 1]
            if frozen.all():
                q[:, l:] = q[:, l:l + 1]
                e_dphi2[:, l:] = e_dphi2[:, l:l + 1]
                break
        live = ~frozen
        ql = np.where(np.isfinite(q[live, l]), np.minimum(q[live, l], _Q_OVERFLOW), _Q_OVERFLOW)
        e_phi2, e_dphi2[live, l] = moments(ql)
        if residual:  # never frozen: every row is live
            p = p + alpha**2 * e_phi2
        else:
            p[live] = e_phi2
    with np.errstate(divide="ignore", invalid="ignore"):
        if residual:
            # log10 |dl/da_l|^2 relative to layer L, then the branch factor.
            a2 = alpha[:, None] ** 2
            step = np.log10(1.0 + a2 * sw**2 * e_dphi2)  # from a_l to a_{l-1}
            log_a2 = np.concatenate([np.cumsum(step[:, ::-1], axis=1)[:, ::-1][:, 1:],
                                     np.zeros((n_specs, 1))], axis=1)
            log_h2 = log_a2 + np.log10(a2 * e_dphi2)
            log_h2 -= log_h2[:, -1:]
        else:
            # factor from h_l to h_{l-1} is sigma_w,l^2 E[phi'(h_{l-1})^2]
            step = np.log10(sw[:, 1:] ** 2 * e_dphi2[:, :-1])
            log_h2 = np.concatenate([np.cumsum(step[:, ::-1], axis=1)[:, ::-1],
                                     np.zeros((n_specs, 1))], axis=1)
    return q, 0.5 * log_h2
