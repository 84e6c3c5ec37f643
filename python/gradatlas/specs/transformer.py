"""Transformers: encoder blocks of softmax attention and an MLP on a residual stream."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .. import _validate as v
from ..activations import ACTIVATIONS
from ..initializers import INITS, sigma_w_squared
from .base import (
    SpecMethods,
    activation_name,
    boolean,
    check_fields,
    integer_in,
    non_negative,
    one_of,
    positive,
    real,
    setting,
)

NORM_PLACEMENTS = ("pre", "post", "deepnorm", "none")
NORM_KINDS = ("layer", "rms")
# Gaussian schemes only: the engine draws standard normal matrices.
TRANSFORMER_INITS = ("xavier_normal", "lecun_normal", "he_normal")
MAX_BLOCKS = 100_000
MAX_WIDTH = 16384
MAX_TOKENS = 4096


def _ratio(name: str, value: Any) -> float:
    return v.real(name, value, strictly_positive=True)


@dataclasses.dataclass(frozen=True, repr=False)
class Transformer(SpecMethods):
    """A stack of transformer encoder blocks at initialization.

    Each sample is one sequence of ``seq_len`` tokens of width d = ``width``,
    N(0, q0) per coordinate. A block is an attention sublayer and an MLP
    sublayer (the MLP alone with ``attention=False``); sublayer p maps the
    residual stream x_{p-1} to x_p:

    - ``pre``: x_p = x_{p-1} + alpha f(N(x_{p-1}));
    - ``post``: x_p = N(x_{p-1} + alpha f(x_{p-1}));
    - ``deepnorm`` (Wang et al. 2022, encoder): x_p = N(a x_{p-1} + alpha f(x_{p-1})) with
      a = (2 depth)^(1/4), and the value, attention-output and both MLP matrices scaled by
      b = (8 depth)^(-1/4) at initialization;
    - ``none``: x_p = x_{p-1} + alpha f(x_{p-1}).

    N normalizes each token (layer norm or RMS norm, eps 1e-5, no affine).
    Attention is multi-head softmax attention with 1/sqrt(d / heads) scaling
    (``torch.nn.MultiheadAttention``'s arithmetic), causal or not; the MLP is
    phi(u W1^T + b1) W2^T + b2 with a hidden width of round(mlp_ratio * width).
    There is no final normalization: the loss acts on x_P, over every token.
    Every weight matrix is Gaussian with variance sigma_w^2 / fan_in (``init``
    sets sigma_w per matrix from its own fan-in and fan-out), every bias
    N(0, sigma_b^2). Measured per sublayer boundary p = 0..P (0: the input):
    see ``gradatlas.TRANSFORMER_QUANTITIES``. No mean-field prediction is drawn
    beside it: the Dataset says so.

    Parameters
    ----------
    depth : int
        Number of blocks N (each one attention and one MLP sublayer).
    width : int
        Width d of the residual stream (the model dimension).
    heads : int
        Attention heads; must divide width.
    seq_len : int
        Tokens T per sequence.
    mlp_ratio : float
        Hidden width of the MLP over width.
    activation : str
        The MLP's activation, one of ``gradatlas.ACTIVATIONS``.
    negative_slope : float
        Slope of ``leaky_relu`` for negative inputs.
    norm : {"pre", "post", "deepnorm", "none"}
        Where the normalization sits (see above).
    norm_kind : {"layer", "rms"}
        LayerNorm or RMSNorm.
    causal : bool
        Whether token t attends only to tokens up to t.
    attention : bool
        Whether blocks have an attention sublayer (False: a residual MLP stack).
    alpha : float
        Scale of every sublayer's branch.
    init : str or None
        One of ``gradatlas.TRANSFORMER_INITS``; None means sigma_w for every matrix.
    sigma_w : float, optional
        Weight standard deviation times sqrt(fan_in) of every matrix, overriding ``init``.
    sigma_b : float
        Bias standard deviation.
    q0 : float
        Variance of each input coordinate.
    """

    depth: int = setting(check=integer_in(1, MAX_BLOCKS))
    width: int = setting(64, check=integer_in(1, MAX_WIDTH))
    heads: int = setting(4, check=integer_in(1, MAX_WIDTH))
    seq_len: int = setting(16, check=integer_in(1, MAX_TOKENS))
    mlp_ratio: float = setting(4.0, check=_ratio)
    activation: str = setting("gelu", check=activation_name)
    negative_slope: float = setting(0.01, check=real)
    norm: str = setting("pre", check=one_of(NORM_PLACEMENTS))
    norm_kind: str = setting("layer", check=one_of(NORM_KINDS))
    causal: bool = setting(False, check=boolean)
    attention: bool = setting(True, check=boolean)
    alpha: float = setting(1.0, check=real)
    init: str | None = "xavier_normal"  # init and sigma_w are checked together
    sigma_w: float | None = None
    sigma_b: float = setting(0.0, check=non_negative)
    q0: float = setting(1.0, check=positive)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.width % self.heads:
            raise ValueError(f"heads must divide width: width {self.width} is not a multiple of heads {self.heads}")
        if self.mlp_width < 1 or self.mlp_width > 16 * MAX_WIDTH:
            raise ValueError(f"mlp_ratio * width must round to 1 .. {16 * MAX_WIDTH}, got mlp_ratio "
                             f"{self.mlp_ratio} at width {self.width}")
        init, sigma_w = v.init_and_sigma_w(self.init, self.sigma_w, TRANSFORMER_INITS, {},
                                           "gradatlas.TRANSFORMER_INITS")
        object.__setattr__(self, "init", init)
        object.__setattr__(self, "sigma_w", sigma_w)

    @property
    def mlp_width(self) -> int:
        return int(round(self.mlp_ratio * self.width))

    @property
    def sublayers(self) -> int:
        """P: the number of sublayers (2 per block with attention, else 1)."""
        return 2 * self.depth if self.attention else self.depth

    def sublayer_types(self) -> list[str]:
        """'input', then 'attn' or 'mlp' for sublayers 1..P."""
        per_block = ["attn", "mlp"] if self.attention else ["mlp"]
        return ["input", *(per_block * self.depth)]

    @property
    def deepnorm_scales(self) -> tuple[float, float]:
        """(a, b) of DeepNorm for this depth (encoder-only: a = (2N)^(1/4), b = (8N)^(-1/4))."""
        return (2.0 * self.depth) ** 0.25, (8.0 * self.depth) ** -0.25

    def projection_shapes(self) -> dict[str, tuple[int, int]]:
        """(fan_out, fan_in) of each projection: query, key, value, attn_out, mlp_in, mlp_out."""
        d, m = self.width, self.mlp_width
        return {"query": (d, d), "key": (d, d), "value": (d, d), "attn_out": (d, d), "mlp_in": (m, d),
                "mlp_out": (d, m)}

    def weight_scales(self) -> np.ndarray:
        """The standard deviation s of each projection's entries (W = s Z, Z standard normal),
        in the core's order (query, key, value, attn_out, mlp_in, mlp_out)."""
        scales = []
        b = self.deepnorm_scales[1] if self.norm == "deepnorm" else 1.0
        for name, (fan_out, fan_in) in self.projection_shapes().items():
            if self.sigma_w is not None:
                var = self.sigma_w**2 / fan_in
            else:
                assert self.init is not None
                var = float(sigma_w_squared(INITS[self.init][1], np.array(fan_in), np.array(fan_out))) / fan_in
            gain = b if name not in ("query", "key") else 1.0
            scales.append(gain * np.sqrt(var))
        return np.array(scales)

    @property
    def skip_scale(self) -> float:
        return self.deepnorm_scales[0] if self.norm == "deepnorm" else 1.0

    def core_activation(self) -> tuple[int, float]:
        return ACTIVATIONS[self.activation], self.negative_slope
