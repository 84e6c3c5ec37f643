"""Scalar summaries of a per-layer gradient profile: ratio, fitted rate, regime."""

from __future__ import annotations

import numpy as np

from ._enums import names
from .definitions import STABLE_DECADES

# The core's non-finite codes as reported: "" where everything stayed finite.
NONFINITE_KINDS = tuple("" if kind == "none" else kind for kind in names("nonfinite"))


def fitted_log10_rate(log10_grad_norm: np.ndarray) -> np.ndarray:
    """Least-squares decades per layer from output to input, along the last axis.

    NaN where any value is non-finite or there is a single layer.
    """
    g = np.asarray(log10_grad_norm, float)
    depth = g.shape[-1]
    if depth < 2:
        return np.full(g.shape[:-1], np.nan)
    layers = np.arange(1, depth + 1, dtype=float)
    centred = layers - layers.mean()
    finite = np.all(np.isfinite(g), axis=-1)
    g_safe = np.where(np.isfinite(g), g, 0.0)
    # Row-wise sums, not a matrix product, so a row's result does not depend on the others.
    slope = np.sum((g_safe - g_safe.mean(axis=-1, keepdims=True)) * centred, axis=-1) / np.sum(centred * centred)
    return np.where(finite, -slope, np.nan)


def profile_ends_and_rate(log10_grad_norm: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per point (rows of log10_grad_norm, each valid for its first ``positions`` entries): the first
    entry minus the last (NaN when both ends are exactly 0) and the fitted rate, one pass per length."""
    n = len(positions)
    total, rate = np.full(n, np.nan), np.full(n, np.nan)
    for m in np.unique(positions):
        idx = np.flatnonzero(positions == m)
        profile = log10_grad_norm[idx, :m]
        with np.errstate(invalid="ignore"):
            total[idx] = profile[:, 0] - profile[:, -1]
        rate[idx] = fitted_log10_rate(profile)
    return total, rate


def regime(total_log10_ratio: np.ndarray, nonfinite: np.ndarray,
           exactly_zero: np.ndarray, stable_decades: float = STABLE_DECADES) -> np.ndarray:
    """'vanishing' / 'stable' / 'exploding' / 'nonfinite' per configuration.

    ``nonfinite`` marks runs where the forward or backward pass met inf/NaN.

    ``exactly_zero`` marks profiles where the gradient became exactly 0 (log10 = -inf,
    e.g. every unit dead or saturated beyond the float range): that is vanishing.
    """
    total = np.asarray(total_log10_ratio, float)
    out = np.where(total < -stable_decades, "vanishing",
                   np.where(total > stable_decades, "exploding", "stable"))
    out = np.where(np.asarray(exactly_zero), "vanishing", out)
    return np.where(np.asarray(nonfinite, bool), "nonfinite", out).astype(object)


def depth_scale(log10_rate: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 1.0 / np.abs(2.0 * np.log(10.0) * np.asarray(log10_rate, float))
