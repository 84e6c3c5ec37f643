"""Convolutional networks: the feed-forward chain with a 2-D convolution per layer."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .. import _validate as v
from .._parametrization import PARAMETRIZATIONS, init_multipliers
from ..initializers import INIT_ALIASES, INITS, sigma_w_squared
from .base import (
    SpecMethods,
    activation_name,
    boolean,
    check_fields,
    integer_in,
    non_negative,
    one_of,
    optional,
    positive,
    real,
    setting,
)
from .mlp import MAX_DEPTH, norm_choice

CONV_INITS: tuple[str, ...] = (*INITS, "delta_orthogonal")
PADDINGS = ("zeros", "circular")
BLOCKS = ("plain", "bottleneck")
BOTTLENECK_LAYERS = 3  # 1 x 1 reduce, K x K, 1 x 1 expand
MAX_CHANNELS = 4096
MAX_IMAGE = 1024


def _kernel(name: str, value: Any) -> int:
    k = v.integer(name, value, minimum=1, maximum=31)
    if k % 2 == 0:
        raise ValueError(f"{name} must be odd (same padding keeps the image size), got {k}")
    return k


@dataclasses.dataclass(frozen=True, repr=False)
class ConvNet(SpecMethods):
    """A deep convolutional network at initialization.

    Every layer is a 2-D convolution with stride 1 and same padding, ``channels``
    in and out, on ``image_size`` x ``image_size`` images:
    ``h_l = W_l * a_{l-1} + b_l``, then ``a_l = phi(N(h_l))`` (plain) or
    ``a_l = a_{l-1} + alpha * phi(N(h_l))`` (residual). With
    ``block="bottleneck"`` the layers come in blocks of three, as ResNet's and
    YOLO's bottlenecks: a 1 x 1 convolution to ``bottleneck_channels``, a
    K x K one, a 1 x 1 one back to ``channels``, each followed by N and phi,
    and (residual) the block's input added to the third's output with weight
    1 and alpha on the branch: ``a_l = a_{l-3} + alpha * phi(N(h_l))``.
    ``depth`` counts convolutions (a multiple of 3), and every measurement is
    per convolution. N is batch norm
    (per channel over batch, height and width, as PyTorch's ``BatchNorm2d`` in
    training mode without affine), layer norm (over channels, height and
    width) or nothing. Inputs are N(0, q0) per pixel and channel. The numbers
    are those of ``torch.nn.Conv2d(channels, channels, kernel_size,
    padding=kernel_size // 2, padding_mode=padding)`` with the weights of
    ``gradatlas.materialize`` (PyTorch refuses circular padding wider than the
    image, kernel_size // 2 > image_size, which gradatlas wraps as often as
    needed). The mean-field prediction beside each run is the fully connected
    one with fan-in K*K*C: exact in the limit with circular padding; with zeros
    padding the edge pixels see fewer taps, so it is approximate there.

    Parameters
    ----------
    depth : int
        Number of convolutional layers L (1 .. 10,000,000).
    channels : int
        Channels C of every layer.
    kernel_size : int
        Odd kernel side K (3: 3 x 3 kernels).
    image_size : int
        Height and width of the images.
    activation : str
        One of ``gradatlas.ACTIVATIONS`` (aliases: swish, hardtanh, identity).
    negative_slope : float
        Slope of ``leaky_relu`` for negative inputs.
    init : str or None
        A name from ``gradatlas.CONV_INITS``: the feed-forward schemes with fan-in
        K*K*C (and fan-out the same), or ``"delta_orthogonal"`` (Xiao et al. 2018:
        the centre tap a Haar orthogonal C x C matrix, every other tap zero). None
        means Gaussian kernels with ``sigma_w``.
    sigma_w : float, optional
        Kernel standard deviation times sqrt(K*K*C), overriding the variance of
        ``init``; for ``orthogonal`` and ``delta_orthogonal`` the gain.
    sigma_b : float
        Bias standard deviation (one bias per channel).
    residual : bool
        Residual connections around every layer.
    alpha : float
        Residual branch scale.
    norm : {None, "batch", "layer"}
        Normalization of the pre-activations.
    padding : {"zeros", "circular"}
        How the convolution sees past the image's edges.
    block : {"plain", "bottleneck"}
        One convolution per layer, or bottleneck blocks of three (see above).
    bottleneck_channels : int or None
        Channels inside a bottleneck block; None: channels // 4 (at least 1).
    q0 : float
        Variance of each input pixel and channel.
    parametrization : {"standard", "ntk", "mup"}
        How the init scales with the channels relative to ``base_width``: muP
        multiplies the last convolution's kernel by sqrt(base_width / channels)
        (every fan-in scales with the channels); standard and NTK keep the init.
    base_width : int, optional
        The channels where every parametrization is the standard one (default:
        ``channels``).
    """

    depth: int = setting(check=integer_in(1, MAX_DEPTH))
    channels: int = setting(16, check=integer_in(1, MAX_CHANNELS))
    kernel_size: int = setting(3, check=_kernel)
    image_size: int = setting(16, check=integer_in(1, MAX_IMAGE))
    activation: str = setting("tanh", check=activation_name)
    negative_slope: float = setting(0.01, check=real)
    init: str | None = "he_normal"  # init and sigma_w are checked together
    sigma_w: float | None = None
    sigma_b: float = setting(0.0, check=non_negative)
    residual: bool = setting(False, check=boolean)
    alpha: float = setting(1.0, check=real)
    norm: str | None = setting(None, check=norm_choice)
    padding: str = setting("zeros", check=one_of(PADDINGS))
    q0: float = setting(1.0, check=positive)
    block: str = setting("plain", check=one_of(BLOCKS))
    bottleneck_channels: int | None = setting(None, check=optional(integer_in(1, MAX_CHANNELS)))
    parametrization: str = setting("standard", check=one_of(PARAMETRIZATIONS), added=True)
    base_width: int | None = setting(None, check=optional(integer_in(1, MAX_CHANNELS)), added=True)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.block == "bottleneck" and self.depth % BOTTLENECK_LAYERS:
            raise ValueError(f"depth counts convolutions and a bottleneck block has {BOTTLENECK_LAYERS}: depth must "
                             f"be a multiple of {BOTTLENECK_LAYERS} with block='bottleneck', got {self.depth}")
        init, sigma_w = v.init_and_sigma_w(self.init, self.sigma_w, CONV_INITS, INIT_ALIASES,
                                           "gradatlas.CONV_INITS")
        object.__setattr__(self, "init", init)
        object.__setattr__(self, "sigma_w", sigma_w)

    # --- what the feed-forward machinery reads (as of an MLP) -----------------

    widths = None  # the layers' rows follow from the channels and the block

    @property
    def width(self) -> int:
        """Values per sample at the input and between blocks: image_size^2 * channels."""
        return self.image_size**2 * self.channels

    @property
    def inner_channels(self) -> int:
        """Channels inside a bottleneck block."""
        return self.bottleneck_channels or max(1, self.channels // 4)

    @property
    def layer_channels(self) -> tuple[int, ...]:
        """C_0 .. C_L."""
        if self.block == "plain":
            return (self.channels,) * (self.depth + 1)
        per_block = (self.inner_channels, self.inner_channels, self.channels)
        return (self.channels, *per_block * (self.depth // BOTTLENECK_LAYERS))

    @property
    def kernels(self) -> tuple[int, ...]:
        """K_1 .. K_L."""
        if self.block == "plain":
            return (self.kernel_size,) * self.depth
        return (1, self.kernel_size, 1) * (self.depth // BOTTLENECK_LAYERS)

    @property
    def skip_span(self) -> int:
        return BOTTLENECK_LAYERS if self.block == "bottleneck" else 1

    @property
    def layer_widths(self) -> tuple[int, ...]:
        return tuple(self.image_size**2 * c for c in self.layer_channels)

    @property
    def fan_in(self) -> int:
        """K^2 C of a plain layer (the fan-in of every layer of a plain network)."""
        return self.kernel_size**2 * self.channels

    def fans(self) -> tuple[np.ndarray, np.ndarray]:
        """(fan_in, fan_out) per layer, as PyTorch counts them for Conv2d: K_l^2 C_{l-1}, K_l^2 C_l."""
        c = np.array(self.layer_channels, dtype=float)
        k2 = np.array(self.kernels, dtype=float) ** 2
        return k2 * c[:-1], k2 * c[1:]

    @property
    def weight_dist(self) -> str:
        """'normal', 'uniform' or 'orthogonal' (the latter also for delta_orthogonal's centre tap)."""
        if self.init is None:
            return "normal"
        return "orthogonal" if self.init == "delta_orthogonal" else INITS[self.init][0]

    @property
    def conv_geometry(self) -> tuple[Any, ...]:
        """(channels, height, width, kernel, circular, delta_orthogonal, kernels, skip_span, inner channels):
        what groups must share."""
        plain = self.block == "plain"
        return (self.channels, self.image_size, self.image_size, self.kernel_size, self.padding == "circular",
                self.init == "delta_orthogonal", () if plain else self.kernels, self.skip_span,
                0 if plain else self.inner_channels)

    @property
    def mean_field_applies(self) -> bool:
        """Whether the fully connected mean field describes it: no normalization, and no skip over a
        bottleneck block (a skip over several layers has no layer-wise recursion)."""
        return self.norm is None and not (self.block == "bottleneck" and self.residual)

    def sigma_w_per_layer(self) -> np.ndarray:
        """sigma_w of each layer with Var(W) = sigma_w^2 / fan_in, or the orthogonal gain: the
        fully connected mean field's with fan-in K*K*C (delta-orthogonal behaves as orthogonal)."""
        if self.sigma_w is not None:
            out = np.full(self.depth, self.sigma_w)
        elif self.init in ("orthogonal", "delta_orthogonal"):
            out = np.ones(self.depth)
        else:
            assert self.init is not None  # init=None always comes with a sigma_w
            fan_in, fan_out = self.fans()
            out = np.sqrt(sigma_w_squared(INITS[self.init][1], fan_in, fan_out))
        return out * self.init_multipliers()

    def init_multipliers(self) -> np.ndarray:
        """Each convolution's kernel multiplier from ``parametrization`` (ones for standard)."""
        base = self.channels if self.base_width is None else self.base_width
        return init_multipliers(self.parametrization, (self.channels,) * (self.depth + 1), base)

    def weight_scales(self) -> np.ndarray:
        """s_l with W_l = s_l Z_l."""
        if self.weight_dist == "orthogonal":
            gain = np.full(self.depth, 1.0 if self.sigma_w is None else self.sigma_w)
            return gain * self.init_multipliers()
        return self.sigma_w_per_layer() / np.sqrt(self.fans()[0])

    def replace_checked(self, **changes: Any) -> ConvNet:
        return dataclasses.replace(self, **changes)
