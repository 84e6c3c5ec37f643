"""Recurrent network specifications: a vanilla RNN, an LSTM or a GRU unrolled for T steps.

The cells follow PyTorch's ``torch.nn.RNNCell``, ``LSTMCell`` and ``GRUCell``
(gate orders [i, f, g, o] and [r, z, n]); ``gradatlas.materialize`` returns the
weights under PyTorch's names and layouts:

    rnn:   h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
    lstm:  i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
           c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
    gru:   r, z = sigmoid(W_i{r,z} x_t + b_i{r,z} + W_h{r,z} h_{t-1} + b_h{r,z})
           n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn)),   h_t = (1 - z) * n + z * h_{t-1}

Weights and inputs:

- ``W_hh``: every n x n gate block is ``sigma_w / sqrt(n) * Z`` (Gaussian or uniform
  named schemes; fan_in = fan_out = n per block, so lecun and xavier both give
  sigma_w = 1 and he gives sqrt 2), ``sigma_w * Q`` with Q Haar orthogonal
  (``init="orthogonal"``, sigma_w the gain, default 1) or ``sigma_w * I``
  (``init="identity"``: the IRNN recipe of Le, Jaitly & Hinton 2015; sigma_w < 1
  is the scaled identity).
- ``W_ih = Z_ih / sqrt(n_in)`` with Z_ih standard normal, and inputs
  ``x_t = sigma_u * xi_t`` with xi_t standard normal, fresh each step: the input
  drive of each gate unit has variance ``sigma_u**2`` (0 means no input).
- ``b_ih = sigma_b * z_b`` (standard normal z_b), plus ``forget_bias`` on the
  LSTM's forget slice; ``b_hh = 0``.
- ``h_0 = h0_std * z_h`` (and ``c_0 = h0_std * z_c``); the default 0 is PyTorch's
  zero initial state.

The loss is on the last state h_T (``loss_at="last"``) or the sum over every
state (``loss_at="every"``), per sample, with the ``loss`` of ``simulate``:
a random projection ``u_{t,b} . h_t`` or ``1/2 |h_t|^2``.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from .. import _core
from .. import _validate as v
from .._enums import codes
from ..activations import ACTIVATIONS
from ..initializers import INIT_ALIASES, INITS, sigma_w_squared
from .base import (
    SpecMethods,
    activation_name,
    check_fields,
    integer_in,
    non_negative,
    one_of,
    optional,
    real,
    setting,
)

MAX_STEPS = 10_000_000  # the step index is a 32-bit counter of the generator
MAX_WIDTH = 1 << 20
RECURRENT_INITS: tuple[str, ...] = (*INITS, "identity")
LOSS_AT = ("last", "every")
# Distribution of Z_hh's gate blocks -> code in the core (cpp/include/gradatlas/recurrent.hpp).
RECURRENT_DISTS: dict[str, int] = codes("recurrent_dist")
CELLS: dict[str, int] = codes("cell")
GATES: dict[str, int] = {name: _core.gate_count(code) for name, code in CELLS.items()}


@dataclasses.dataclass(frozen=True, repr=False)
class _Recurrent(SpecMethods):
    """Settings every cell shares (see the module docstring for the equations)."""

    steps: int = setting(check=integer_in(1, MAX_STEPS))
    width: int = setting(256, check=integer_in(1, MAX_WIDTH))
    input_width: int | None = setting(None, check=optional(integer_in(1, MAX_WIDTH)))
    init: str | None = "lecun_normal"  # init and sigma_w are checked together
    sigma_w: float | None = None
    sigma_b: float = setting(0.0, check=non_negative)
    sigma_u: float = setting(1.0, check=non_negative)
    h0_std: float = setting(0.0, check=non_negative)
    loss_at: str = setting("last", check=one_of(LOSS_AT))

    cell: ClassVar[str] = ""

    def __post_init__(self) -> None:
        check_fields(self)  # the subclasses' fields too
        init, sigma_w = v.init_and_sigma_w(self.init, self.sigma_w, RECURRENT_INITS, INIT_ALIASES,
                                           "gradatlas.RECURRENT_INITS")
        object.__setattr__(self, "init", init)
        object.__setattr__(self, "sigma_w", sigma_w)

    @property
    def n_in(self) -> int:
        """The input width (``input_width``, or ``width`` when None)."""
        return self.width if self.input_width is None else self.input_width

    @property
    def gates(self) -> int:
        return GATES[self.cell]

    @property
    def weight_dist(self) -> str:
        """'normal', 'uniform', 'orthogonal' or 'identity': how Z_hh's gate blocks are drawn."""
        if self.init is None:
            return "normal"
        return "identity" if self.init == "identity" else INITS[self.init][0]

    @property
    def effective_sigma_w(self) -> float:
        """sigma_w with Var((W_hh)_ij) = sigma_w^2 / n (the gain for orthogonal and identity)."""
        if self.sigma_w is not None:
            return self.sigma_w
        if self.init in ("orthogonal", "identity"):
            return 1.0
        rule = INITS[self.init][1] if self.init is not None else "lecun"
        n = np.array([float(self.width)])
        return float(np.sqrt(sigma_w_squared(rule, n, n))[0])

    @property
    def weight_scale(self) -> float:
        """s with W_hh = s Z_hh."""
        sw = self.effective_sigma_w
        return sw if self.weight_dist in ("orthogonal", "identity") else sw / float(np.sqrt(self.width))

    @property
    def input_scale(self) -> float:
        """u with W_ih x_t = u Z_ih xi_t."""
        return self.sigma_u / float(np.sqrt(self.n_in))

    def core_activation(self) -> tuple[int, float]:
        return ACTIVATIONS["tanh"], 0.0

    @property
    def forget(self) -> float:
        return 0.0



@dataclasses.dataclass(frozen=True, repr=False)
class RNN(_Recurrent):
    """A vanilla (Elman) RNN, ``h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, unrolled ``steps`` times.

    Parameters
    ----------
    steps : int
        Number of time steps T (1 .. 10,000,000).
    width : int
        Hidden width n.
    input_width : int, optional
        Input width n_in (default: ``width``).
    activation : str
        Any of ``gradatlas.ACTIVATIONS``.
    negative_slope : float
        Slope of ``leaky_relu`` for negative inputs.
    init : str or None
        How W_hh is drawn: one of ``gradatlas.RECURRENT_INITS`` (the feed-forward
        schemes plus ``"identity"``); None means Gaussian with ``sigma_w``.
    sigma_w : float, optional
        Recurrent weight scale: Var((W_hh)_ij) = sigma_w^2 / n, or the gain of
        ``orthogonal`` / ``identity``. Overrides the variance of ``init``.
    sigma_b : float
        Bias standard deviation (in b_ih; b_hh is 0).
    sigma_u : float
        Input standard deviation: x_t = sigma_u * xi_t, W_ih = Z_ih / sqrt(n_in).
    h0_std : float
        Initial state h_0 = h0_std * z (0: PyTorch's zero state).
    loss_at : {"last", "every"}
        Loss on h_T only, or summed over every h_t.
    """

    activation: str = setting("tanh", check=activation_name)
    negative_slope: float = setting(0.01, check=real)

    cell: ClassVar[str] = "rnn"

    def core_activation(self) -> tuple[int, float]:
        return ACTIVATIONS[self.activation], self.negative_slope


@dataclasses.dataclass(frozen=True, repr=False)
class LSTM(_Recurrent):
    """An LSTM (gates [i, f, g, o] as ``torch.nn.LSTMCell``) unrolled ``steps`` times.

    Takes the settings of ``gradatlas.RNN`` except ``activation``, plus:

    forget_bias : float
        Added to the forget gate's bias (default +1, the usual recommendation of
        Gers et al. 2000 and Jozefowicz et al. 2015; 0 switches it off). Larger
        values keep the cell state, and its gradient, over more steps.
    """

    forget_bias: float = setting(1.0, check=real)

    cell: ClassVar[str] = "lstm"

    @property
    def forget(self) -> float:
        return self.forget_bias


@dataclasses.dataclass(frozen=True, repr=False)
class GRU(_Recurrent):
    """A GRU (gates [r, z, n] as ``torch.nn.GRUCell``) unrolled ``steps`` times.

    Takes the settings of ``gradatlas.RNN`` except ``activation``.
    """

    cell: ClassVar[str] = "gru"


RecurrentSpec = RNN | LSTM | GRU
SPEC_CLASSES: dict[str, type[_Recurrent]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
