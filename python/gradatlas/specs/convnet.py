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
BLOCKS = ("plain", "bottleneck", "c2f")
BOTTLENECK_LAYERS = 3  # 1 x 1 reduce, K x K, 1 x 1 expand
MAX_C2F_BOTTLENECKS = 64
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
    per convolution. With ``block="c2f"`` the blocks are YOLOv8's C2f with
    ``bottlenecks`` = n inner bottlenecks and c = ``bottleneck_channels``
    hidden channels (``channels // 2`` by default, YOLOv8's e = 0.5), 2n + 2
    convolutions each: a 1 x 1 convolution to 2c channels, split into halves
    y0 and y1; n bottlenecks of two K x K convolutions c -> c, each adding
    its input (residual, YOLOv8's shortcut) with alpha on the branch, the
    first reading y1 and each the previous one's output; a 1 x 1 convolution
    from the concatenation of y0, y1 and every bottleneck's output
    ((n + 2) c channels) back to ``channels``. Every convolution is followed
    by N and phi (YOLO's Conv-BN-SiLU is ``norm="batch",
    activation="silu"``); the first convolution's measurements cover all 2c
    of its channels. N is batch norm
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
    block : {"plain", "bottleneck", "c2f"}
        One convolution per layer, bottleneck blocks of three, or C2f blocks
        (see above).
    bottleneck_channels : int or None
        Channels inside a bottleneck or C2f block; None: channels // 4 for a
        bottleneck, channels // 2 for C2f (at least 1).
    q0 : float
        Variance of each input pixel and channel.
    parametrization : {"standard", "ntk", "mup"}
        How the init scales with the channels relative to ``base_width``: muP
        multiplies the last convolution's kernel by sqrt(base_width / channels)
        (every fan-in scales with the channels); standard and NTK keep the init.
    base_width : int, optional
        The channels where every parametrization is the standard one (default:
        ``channels``).
    bottlenecks : int
        Bottlenecks inside each C2f block (YOLOv8's n); only ``block="c2f"``
        reads it.
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
    bottlenecks: int = setting(1, check=integer_in(1, MAX_C2F_BOTTLENECKS), added=True)

    def __post_init__(self) -> None:
        check_fields(self)
        span = self.skip_span
        if self.depth % span:
            size = f"2 * bottlenecks + 2 = {span}" if self.block == "c2f" else str(span)
            raise ValueError(f"depth counts convolutions and a {self.block} block has {size} of them: depth must "
                             f"be a multiple of {span} with block={self.block!r}, got {self.depth}")
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
        """Channels inside a bottleneck or C2f block (C2f's hidden c)."""
        return self.bottleneck_channels or max(1, self.channels // (2 if self.block == "c2f" else 4))

    @property
    def layer_channels(self) -> tuple[int, ...]:
        """C_0 .. C_L: the channels each layer passes on (a C2f's first layer passes on y1 only)."""
        if self.block == "plain":
            return (self.channels,) * (self.depth + 1)
        c = self.inner_channels
        per_block = (c,) * (self.skip_span - 1) + (self.channels,)
        return (self.channels, *per_block * (self.depth // self.skip_span))

    @property
    def conv_channels(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Each convolution's (input channels, output channels), as ``torch.nn.Conv2d``'s: a C2f's
        first writes 2c and its last reads the (n + 2) c of the concatenation."""
        c_in, c_out = list(self.layer_channels[:-1]), list(self.layer_channels[1:])
        if self.block == "c2f":
            c = self.inner_channels
            for first in range(0, self.depth, self.skip_span):
                c_out[first] = 2 * c
                c_in[first + self.skip_span - 1] = (self.bottlenecks + 2) * c
        return tuple(c_in), tuple(c_out)

    @property
    def kernels(self) -> tuple[int, ...]:
        """K_1 .. K_L."""
        if self.block == "plain":
            return (self.kernel_size,) * self.depth
        inner = (self.kernel_size,) * (self.skip_span - 2)
        return (1, *inner, 1) * (self.depth // self.skip_span)

    @property
    def skip_span(self) -> int:
        """Convolutions per block: 1, a bottleneck's 3, or a C2f's 2n + 2."""
        return {"plain": 1, "bottleneck": BOTTLENECK_LAYERS, "c2f": 2 * self.bottlenecks + 2}[self.block]

    @property
    def c2f_bottlenecks(self) -> int:
        """n of each C2f block; 0 for the other blocks."""
        return self.bottlenecks if self.block == "c2f" else 0

    @property
    def layer_widths(self) -> tuple[int, ...]:
        return tuple(self.image_size**2 * c for c in self.layer_channels)

    @property
    def fan_in(self) -> int:
        """K^2 C of a plain layer (the fan-in of every layer of a plain network)."""
        return self.kernel_size**2 * self.channels

    def fans(self) -> tuple[np.ndarray, np.ndarray]:
        """(fan_in, fan_out) per layer, as PyTorch counts them for Conv2d: K_l^2 times its input and
        output channels."""
        c_in, c_out = (np.array(c, dtype=float) for c in self.conv_channels)
        k2 = np.array(self.kernels, dtype=float) ** 2
        return k2 * c_in, k2 * c_out

    @property
    def weight_dist(self) -> str:
        """'normal', 'uniform' or 'orthogonal' (the latter also for delta_orthogonal's centre tap)."""
        if self.init is None:
            return "normal"
        return "orthogonal" if self.init == "delta_orthogonal" else INITS[self.init][0]

    @property
    def conv_geometry(self) -> tuple[Any, ...]:
        """(channels, height, width, kernel, circular, delta_orthogonal, one block's kernels, skip_span,
        inner channels, C2f bottlenecks): what groups must share (not the depth: depths of one network
        share a group, each a head of the deepest)."""
        plain = self.block == "plain"
        return (self.channels, self.image_size, self.image_size, self.kernel_size, self.padding == "circular",
                self.init == "delta_orthogonal", () if plain else self.kernels[:self.skip_span], self.skip_span,
                0 if plain else self.inner_channels, self.c2f_bottlenecks)

    @property
    def mean_field_applies(self) -> bool:
        """Whether the fully connected mean field describes it: no normalization, no skip over a
        bottleneck block (a skip over several layers has no layer-wise recursion) and no C2f
        (its last layer reads a concatenation of several depths)."""
        return self.norm is None and self.block != "c2f" and not (self.block == "bottleneck" and self.residual)

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
