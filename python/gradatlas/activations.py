"""The activation functions the core implements, by name.

Each has its exact derivative in the core. ``leaky_relu`` takes the negative
slope from the spec (``negative_slope``, default 0.01); ``elu`` uses alpha = 1;
``selu`` the constants of Klambauer et al. (2017); ``gelu`` the exact erf form
x Phi(x); ``softplus`` is log(1 + e^x) without PyTorch's threshold;
``hard_tanh`` clips to [-1, 1]. At a kink the derivative is the one PyTorch's
autograd uses (0 for relu at 0, 0 for hard_tanh at +-1).
"""

from __future__ import annotations

import numpy as np

from ._enums import codes

# Name -> code in the core (cpp/include/gradatlas/activations.hpp).
ACTIVATIONS: dict[str, int] = codes("activation")

ALIASES: dict[str, str] = {"swish": "silu", "hardtanh": "hard_tanh", "identity": "linear"}


def canonical_activation(name: str) -> str:
    """The canonical name for an accepted name or alias (no validation of type)."""
    key = name.strip().lower().replace("-", "_")
    return ALIASES.get(key, key)


def evaluate(name: str, h: np.ndarray, negative_slope: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """(phi(h), phi'(h)) in float64, computed by the core's own functions."""
    from . import _core

    key = canonical_activation(name)
    if key not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    x = np.ascontiguousarray(h, dtype=np.float64)
    phi, dphi = _core.apply_activation(ACTIVATIONS[key], float(negative_slope), x)
    return phi, dphi
