"""Named weight initializations and the weight scale each implies.

Every weight matrix is ``W_l = s_l * Z_l`` with ``Z_l`` a standard random matrix
shared by every configuration of a group. For the Gaussian and uniform schemes
``Z`` has unit-variance entries and ``s_l = sigma_w / sqrt(fan_in)``:

=================  =============================  ==========================
name               sigma_w^2                      Z
=================  =============================  ==========================
lecun_normal       1                              N(0, 1)
lecun_uniform      1                              U[-sqrt3, sqrt3]
xavier_normal      2 fan_in / (fan_in + fan_out)  N(0, 1)        (= glorot_normal)
xavier_uniform     2 fan_in / (fan_in + fan_out)  U[-sqrt3, sqrt3] (= glorot_uniform)
he_normal          2                              N(0, 1)        (= kaiming_normal)
he_uniform         2                              U[-sqrt3, sqrt3] (= kaiming_uniform)
orthogonal         gain^2 (gain = sigma_w, default 1)  Q, Haar orthogonal
=================  =============================  ==========================

A raw ``sigma_w`` overrides the variance of the name and keeps its
distribution; with ``init=None`` the weights are Gaussian. For ``orthogonal``
``sigma_w`` is the gain: ``W = gain * Q`` where ``Q`` comes from the QR
decomposition of a Gaussian matrix with signs fixed by diag(R).
"""

from __future__ import annotations

import numpy as np

from ._enums import codes

# Name -> (distribution, rule for sigma_w^2)
INITS: dict[str, tuple[str, str]] = {
    "lecun_normal": ("normal", "lecun"),
    "lecun_uniform": ("uniform", "lecun"),
    "xavier_normal": ("normal", "xavier"),
    "xavier_uniform": ("uniform", "xavier"),
    "he_normal": ("normal", "he"),
    "he_uniform": ("uniform", "he"),
    "orthogonal": ("orthogonal", "gain"),
}
INIT_ALIASES: dict[str, str] = {
    "glorot_normal": "xavier_normal",
    "glorot_uniform": "xavier_uniform",
    "kaiming_normal": "he_normal",
    "kaiming_uniform": "he_uniform",
}

# Distribution name -> code in the core (cpp/include/gradatlas/init.hpp).
WEIGHT_DISTS: dict[str, int] = codes("weight_dist")


def sigma_w_squared(rule: str, fan_in: np.ndarray, fan_out: np.ndarray) -> np.ndarray:
    """sigma_w^2 per layer for a named rule (fan arrays of length L)."""
    fan_in = np.asarray(fan_in, dtype=float)
    fan_out = np.asarray(fan_out, dtype=float)
    if rule == "lecun" or rule == "gain":
        return np.ones_like(fan_in)
    if rule == "xavier":
        return 2.0 * fan_in / (fan_in + fan_out)
    if rule == "he":
        return np.full_like(fan_in, 2.0)
    raise ValueError(f"unknown variance rule {rule!r}")
