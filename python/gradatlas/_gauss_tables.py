"""The Gaussian expectations of mean-field theory, tabulated once per activation.

Every mean-field quantity a sweep reports is built from

    V(q) = E[phi(sqrt(q) z)^2]      (the length map)
    D(q) = E[phi'(sqrt(q) z)^2]     (chi1 = sigma_w^2 D(q*))

and the finite-width correction (``theory.finite_width_step``) also from

    K(q) = E[phi'(sqrt(q) z)^4]

for z ~ N(0, 1). Evaluating them by quadrature costs ~1600 activation calls per
value, and a phase diagram needs them for every point and every iteration of
the fixed point (a 10^4-point tanh grid: 3.6e5 evaluations, 11 s). Both are
smooth functions of s = ln q, so each is tabulated once per (activation,
negative_slope) with its exact s-derivative, and read back by cubic Hermite
interpolation: a few array operations per value.

The derivative needs no phi'': for X ~ N(0, q), d/dq E[f(X)] = E[f(X)(X^2/q - 1)]
/ (2q) (Gaussian integration by parts twice), so dF/ds = E[f(sqrt(q) z)(z^2 - 1)]
/ 2 with the quadrature nodes of F itself. V is stored as V/q, which is
constant for linear, relu and leaky_relu, so those stay exact to rounding.

Accuracy: the Hermite error is h^4/384 max|F''''| for a node spacing h. Against
the quadrature it interpolates, it is within 1e-10 relative for every
activation for q <= 100, where the quadrature is accurate (tested in
tests/test_theory.py); above, both are as good as the quadrature (~1e-4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# Nodes in s = ln q: coarse where the functions are flat in s (as q -> 0 their
# corrections go like sqrt(q) or q), fine where the activation's shape is
# resolved, medium where only the tails change.
SEGMENTS = ((1e-300, 1e-10, 0.5), (1e-10, 1e2, 0.01), (1e2, 1e30, 0.05))
_BUILD_BLOCK = 512  # q values per quadrature block while building (bounds the temporaries)


def _grid() -> np.ndarray:
    parts = []
    for lo, hi, step in SEGMENTS:
        n = int(np.ceil((np.log(hi) - np.log(lo)) / step))
        parts.append(np.linspace(np.log(lo), np.log(hi), n + 1)[:-1])
    return np.concatenate([*parts, [np.log(SEGMENTS[-1][1])]])


class GaussTable:
    """V(q), D(q) and K(q) of one activation, vectorized over q >= 0."""

    def __init__(self, quadrature: Callable[[np.ndarray], tuple[np.ndarray, ...]]):
        # quadrature(q) -> (V, dV/ds, D, dD/ds, K, dK/ds) at each q: the theory's own rule
        self.s = _grid()
        q = np.exp(self.s)
        parts = [quadrature(q[i:i + _BUILD_BLOCK]) for i in range(0, q.size, _BUILD_BLOCK)]
        v, dv, d, dd, k, dk = (np.concatenate([p[j] for p in parts]) for j in range(6))
        self.k, self.dk = k, dk
        # (V - V0)/q with its s-derivative (V' - V + V0) / q, and D with D': both tend to
        # constants as q -> 0, so the coarse nodes there lose nothing. V0 = V(0) = phi(0)^2,
        # as V - dV/ds at the first node (V = V0 + c q there).
        self.v0 = v[0] - dv[0]
        self.r, self.dr = (v - self.v0) / q, (dv - v + self.v0) / q
        self.d, self.dd = d, dd
        self.q_lo, self.q_hi = q[0], q[-1]
        self._quadrature = quadrature

    def _hermite(self, f: np.ndarray, df: np.ndarray, s: np.ndarray, i: np.ndarray) -> np.ndarray:
        h = self.s[i + 1] - self.s[i]
        t = (s - self.s[i]) / h
        t2 = t * t
        t3 = t2 * t
        return ((2 * t3 - 3 * t2 + 1) * f[i] + (t3 - 2 * t2 + t) * h * df[i]
                + (3 * t2 - 2 * t3) * f[i + 1] + (t3 - t2) * h * df[i + 1])

    def __call__(self, q: Any) -> tuple[np.ndarray, np.ndarray]:
        """(V(q), D(q)), any shape, q >= 0. Below 1e-300, V = V0 + q (V - V0)/q at 1e-300 (exactly V(0)
        at q = 0) and D of 1e-300 (the next terms are O(1e-150)); above 1e30 the quadrature itself."""
        q = np.asarray(q, dtype=float)
        clipped = np.clip(q, self.q_lo, self.q_hi)
        s = np.log(clipped)
        i = np.clip(np.searchsorted(self.s, s, side="right") - 1, 0, self.s.size - 2)
        v = self.v0 + self._hermite(self.r, self.dr, s, i) * np.minimum(q, self.q_hi)
        d = self._hermite(self.d, self.dd, s, i)
        beyond = q > self.q_hi
        if np.any(beyond):  # an exploded network's q, rare: the rule directly
            v_far, _, d_far, *_ = self._quadrature(q[beyond])
            v, d = np.array(v, copy=True), np.array(d, copy=True)
            v[beyond], d[beyond] = v_far, d_far
        return v, d

    def fourth(self, q: Any) -> np.ndarray:
        """K(q) = E[phi'(sqrt(q) z)^4], as D(q) is read (K is as smooth in ln q as D)."""
        q = np.asarray(q, dtype=float)
        s = np.log(np.clip(q, self.q_lo, self.q_hi))
        i = np.clip(np.searchsorted(self.s, s, side="right") - 1, 0, self.s.size - 2)
        k = self._hermite(self.k, self.dk, s, i)
        beyond = q > self.q_hi
        if np.any(beyond):
            k = np.array(k, copy=True)
            k[beyond] = self._quadrature(q[beyond])[4]
        return k
