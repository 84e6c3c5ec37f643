"""Network specifications: validated, immutable descriptions of what to simulate."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from .. import _validate as v
from .._enums import codes
from .._parametrization import PARAMETRIZATIONS, default_base_width, init_multipliers
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

NORMS: dict[str, int] = codes("norm")
MAX_DEPTH = 10_000_000  # layer index is a 32-bit counter of the generator
MAX_WIDTH = 1 << 20


def norm_choice(name: str, value: Any) -> str | None:
    """A normalization name from ``NORMS`` (None and "none": no normalization, as None)."""
    norm = "none" if value is None else v.choice(name, value, list(NORMS))
    return None if norm == "none" else norm


@dataclasses.dataclass(frozen=True, slots=True, repr=False)  # slots: a 10^6-point sweep holds 10^6 of them
class MLP(SpecMethods):
    """A deep feed-forward network at initialization.

    Pre-activations ``h_l = W_l a_{l-1} + b_l`` for l = 1..depth; ``a_l = phi(N(h_l))``
    (plain) or ``a_l = a_{l-1} + alpha * phi(N(h_l))`` (residual), where ``N`` is
    batch norm, layer norm (no affine parameters, epsilon 1e-5 as in PyTorch) or
    nothing. Inputs are ``x ~ N(0, q0)`` per coordinate.

    Parameters
    ----------
    depth : int
        Number of layers L (1 .. 10,000,000).
    width : int
        Width of every layer, n_0 = ... = n_L, unless ``widths`` is given.
    widths : sequence of int, optional
        The widths n_0 .. n_L (length depth + 1).
    activation : str
        One of ``gradatlas.ACTIVATIONS`` (aliases: swish, hardtanh, identity).
    negative_slope : float
        Slope of ``leaky_relu`` for negative inputs.
    init : str or None
        A name from ``gradatlas.INITS`` (or an alias such as glorot_normal,
        kaiming_uniform). None means Gaussian weights with ``sigma_w``.
    sigma_w : float, optional
        Weight standard deviation times sqrt(fan_in); overrides the variance of
        ``init`` and keeps its distribution. For ``orthogonal`` it is the gain.
    sigma_b : float
        Bias standard deviation: ``b_l = sigma_b * z_l``, z_l standard normal.
    residual : bool
        Residual connections around every layer (needs equal widths).
    alpha : float
        Residual branch scale (1/sqrt(depth) is a common choice).
    norm : {None, "batch", "layer"}
        Normalization of the pre-activations.
    q0 : float
        Variance of each input coordinate.
    parametrization : {"standard", "ntk", "mup"}
        How the init scales with the hidden width relative to ``base_width``: muP
        multiplies the output layer's weight standard deviation by
        sqrt(base_width / fan_in); standard and NTK keep the init (``train`` applies
        each one's learning-rate multipliers). The table is in ``gradatlas._parametrization``.
    base_width : int, optional
        The hidden width where every parametrization is the standard one (default:
        the widest hidden layer, so that a network of one width is its standard self).
    """

    depth: int = setting(check=integer_in(1, MAX_DEPTH))
    width: int = setting(256, check=integer_in(1, MAX_WIDTH))
    widths: tuple[int, ...] | None = None  # checked with depth
    activation: str = setting("tanh", check=activation_name)
    negative_slope: float = setting(0.01, check=real)
    init: str | None = "xavier_normal"  # init and sigma_w are checked together
    sigma_w: float | None = None
    sigma_b: float = setting(0.0, check=non_negative)
    residual: bool = setting(False, check=boolean)
    alpha: float = setting(1.0, check=real)
    norm: str | None = setting(None, check=norm_choice)
    q0: float = setting(1.0, check=positive)
    parametrization: str = setting("standard", check=one_of(PARAMETRIZATIONS), added=True)
    base_width: int | None = setting(None, check=optional(integer_in(1, MAX_WIDTH)), added=True)

    def __post_init__(self) -> None:
        check_fields(self)
        set_ = lambda name, value: object.__setattr__(self, name, value)
        if self.widths is not None:
            if isinstance(self.widths, (str, bytes)) or not hasattr(self.widths, "__len__"):
                raise TypeError(f"widths must be a sequence of {self.depth + 1} integers, got {self.widths!r}")
            if len(self.widths) != self.depth + 1:
                raise ValueError(
                    f"widths must hold depth + 1 = {self.depth + 1} values (n_0..n_L), got {len(self.widths)}"
                )
            set_("widths", tuple(v.integer("widths[i]", w, minimum=1, maximum=MAX_WIDTH) for w in self.widths))
        init, sigma_w = v.init_and_sigma_w(self.init, self.sigma_w, INITS, INIT_ALIASES, "gradatlas.INITS")
        set_("init", init)
        set_("sigma_w", sigma_w)
        if self.residual and len(set(self.layer_widths)) != 1:
            raise ValueError(f"residual=True needs equal widths, got widths={self.layer_widths}")

    @classmethod
    def from_checked(cls, **fields: Any) -> MLP:
        """An MLP from fields that each already passed the constructor's checks
        (canonical values, e.g. a sweep's axis values after validation).

        Only what depends on several fields is checked again. A sweep builds one
        spec per grid point: this takes ~1 us where the constructor takes ~50.
        """
        values = {**_MLP_DEFAULTS, **fields}
        if values["init"] is None and values["sigma_w"] is None:
            raise ValueError("give init (a name from gradatlas.INITS) or sigma_w; both are None")
        widths = values["widths"]
        if widths is not None and len(widths) != values["depth"] + 1:
            raise ValueError(f"widths must hold depth + 1 = {values['depth'] + 1} values (n_0..n_L), "
                             f"got {len(widths)}")
        if values["residual"] and widths is not None and len(set(widths)) != 1:
            raise ValueError(f"residual=True needs equal widths, got widths={widths}")
        spec = object.__new__(cls)
        for name, value in values.items():
            object.__setattr__(spec, name, value)  # frozen: the dataclass's own __setattr__ refuses
        return spec

    # --- derived quantities --------------------------------------------------

    @property
    def layer_widths(self) -> tuple[int, ...]:
        """n_0 .. n_L."""
        return self.widths if self.widths is not None else (self.width,) * (self.depth + 1)

    @property
    def weight_dist(self) -> str:
        """'normal', 'uniform' or 'orthogonal': the distribution of Z_l."""
        return "normal" if self.init is None else INITS[self.init][0]

    def sigma_w_per_layer(self) -> np.ndarray:
        """The effective sigma_w of each layer: Var(W_ij) = sigma_w^2 / fan_in (a read-only array),
        the parametrization's init multipliers included."""
        shape = ("widths", self.widths) if self.widths is not None else ("equal", self.width, self.depth)
        if self.depth <= _CACHED_DEPTH:  # a sweep asks once per point, mostly for the same few arrays
            out = _sigma_w_per_layer(self.init, self.sigma_w, shape)
        else:
            out = _sigma_w_per_layer.__wrapped__(self.init, self.sigma_w, shape)
        if self.parametrization == "standard":
            return out
        scaled = out * self.init_multipliers()
        scaled.setflags(write=False)
        return scaled

    def init_multipliers(self) -> np.ndarray:
        """Each layer's weight standard-deviation multiplier from ``parametrization`` (ones for standard)."""
        widths = self.layer_widths
        base = default_base_width(widths) if self.base_width is None else self.base_width
        return init_multipliers(self.parametrization, widths, base)

    def weight_scales(self) -> np.ndarray:
        """s_l with W_l = s_l Z_l."""
        if self.weight_dist == "orthogonal":
            gain = np.full(self.depth, 1.0 if self.sigma_w is None else self.sigma_w)
            return gain if self.parametrization == "standard" else gain * self.init_multipliers()
        fan_in = np.asarray(self.layer_widths[:-1], dtype=float)
        return self.sigma_w_per_layer() / np.sqrt(fan_in)

    skip_span = 1  # layers per residual block (a ConvNet's bottleneck has 3)

    @property
    def mean_field_applies(self) -> bool:
        """Whether the mean-field theory describes it (no normalization)."""
        return self.norm is None

    def replace_checked(self, **changes: Any) -> MLP:
        """``replace`` with values already checked (see ``from_checked``)."""
        return MLP.from_checked(**{**{name: getattr(self, name) for name in _MLP_FIELDS}, **changes})

    # Explicit, so that pickling (executors, process pools) works on every Python the package supports.
    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _MLP_FIELDS)

    def __setstate__(self, state: Any) -> None:
        # a tuple of field values; a dict from pickles of versions without slots
        values = state.items() if isinstance(state, dict) else zip(_MLP_FIELDS, state)
        for name, value in (*_MLP_DEFAULTS.items(), *values):  # pickles from before an added field lack it
            object.__setattr__(self, name, value)


_MLP_FIELDS = tuple(field.name for field in dataclasses.fields(MLP))
_MLP_DEFAULTS = {field.name: field.default for field in dataclasses.fields(MLP)
                 if field.default is not dataclasses.MISSING}
_CACHED_DEPTH = 4096  # with the cache's 1024 entries: at most 32 MiB


@functools.lru_cache(maxsize=1024)
def _sigma_w_per_layer(init: str | None, sigma_w: float | None, shape: tuple) -> np.ndarray:
    """shape: ("widths", n_0..n_L) or ("equal", width, depth)."""
    widths = shape[1] if shape[0] == "widths" else (shape[1],) * (shape[2] + 1)
    n = np.asarray(widths, dtype=float)
    fan_in, fan_out = n[:-1], n[1:]
    dist = "normal" if init is None else INITS[init][0]
    if dist == "orthogonal":
        gain = 1.0 if sigma_w is None else sigma_w
        # Q has entries of variance 1 / max(fan_in, fan_out).
        out = gain * np.sqrt(fan_in / np.maximum(fan_in, fan_out))
    elif sigma_w is not None or init is None:
        out = np.full(fan_in.size, sigma_w, dtype=float)
    else:
        out = np.sqrt(sigma_w_squared(INITS[init][1], fan_in, fan_out))
    out.setflags(write=False)  # shared between calls
    return out
