"""Width parametrizations: per-layer init and learning-rate multipliers.

Relative to a base width (where every parametrization is the standard one), for a
feed-forward network whose input and output sizes stay fixed while its hidden
width grows (Yang & Hu 2021, "Tensor Programs IV", Table 3; the ``mup`` package):

=========  ==================  =======================================  ===========================
           input layer         hidden layers (fan_in f)                 output layer (fan_in f)
=========  ==================  =======================================  ===========================
standard   init 1, lr 1        init 1, lr 1                             init 1, lr 1
ntk        init 1, lr 1        lr base/f (SGD), sqrt(base/f) (Adam)     as hidden
mup        SGD lr fan_out/base lr 1 (SGD), base/f (Adam)                init std sqrt(base/f),
                                                                        lr base/f
=========  ==================  =======================================  ===========================

Init multipliers scale the standard deviation of a layer's weights (1: variance
sigma_w^2 / fan_in as the spec says); learning-rate multipliers scale ``lr``
for that layer's weights and biases. NTK keeps the standard init but trains
W = sigma omega / sqrt(f) through omega: an SGD step on omega moves W by
lr sigma^2 / f times the gradient, an Adam step (normalized) by lr sigma / sqrt(f).

The init multipliers belong to the network (``MLP(parametrization=...)``, and
``ConvNet``'s with its channels as the width: what ``simulate`` and ``sweep``
measure at initialization); the learning-rate ones also depend on the optimizer
and are applied by ``train``.
"""

from __future__ import annotations

import numpy as np

PARAMETRIZATIONS = ("standard", "ntk", "mup")


def default_base_width(widths: tuple[int, ...]) -> int:
    """The widest hidden layer (the output layer's width without one): where all parametrizations agree."""
    return max(widths[1:-1], default=widths[-1])


def init_multipliers(parametrization: str, widths: tuple[int, ...], base_width: int) -> np.ndarray:
    """Each layer's init standard-deviation multiplier, for layer widths n_0..n_L."""
    n = np.asarray(widths, dtype=float)
    init = np.ones(n.size - 1)
    if parametrization == "mup" and n.size > 2:  # the output layer, when there is a hidden one
        init[-1] = np.sqrt(base_width / n[-2])
    return init


def lr_multipliers(parametrization: str, widths: tuple[int, ...], optimizer: str, base_width: int) -> np.ndarray:
    """Each layer's learning-rate multiplier, for layer widths n_0..n_L."""
    n = np.asarray(widths, dtype=float)
    depth = n.size - 1
    lr = np.ones(depth)
    if parametrization == "standard" or depth < 1:
        return lr
    adam = optimizer == "adam"
    ratio = base_width / n[:-1]  # base / fan_in: 1 at the base width
    later = np.arange(depth) >= 1  # every layer but the input layer (its fan_in is the fixed input)
    if parametrization == "ntk":
        lr[later] = np.sqrt(ratio[later]) if adam else ratio[later]
        return lr
    # mup
    if adam:
        lr[later] = ratio[later]
    else:
        lr[0] = n[1] / base_width
        lr[-1] = ratio[-1]
    if depth > 1:
        lr[-1] = ratio[-1]
    return lr

