"""Type stubs for the compiled core (private; use the gradatlas package)."""

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

activation_count: int

def has_openmp() -> bool: ...
def max_threads() -> int: ...
def blas_config() -> str: ...
def philox4x32_10(counter: list[int], k0: int, k1: int) -> list[int]: ...
def standard_normal(seed: int, stream: int, layer: int, first: int, count: int) -> npt.NDArray[np.float64]: ...
def standard_weights(dtype: str, seed: int, dist: int, layer: int, n_out: int, n_in: int) -> npt.NDArray[Any]: ...
def standard_biases(dtype: str, seed: int, layer: int, n_out: int) -> npt.NDArray[Any]: ...
def standard_inputs(dtype: str, seed: int, batch: int, n_in: int, input_std: float) -> npt.NDArray[Any]: ...
def standard_projections(dtype: str, seed: int, batch: int, n_out: int) -> npt.NDArray[Any]: ...
def apply_activation(
    code: int, param: float, h: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...

def apply_activation_float32(
    code: int, param: float, h: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...

class MlpGroup:
    def __init__(
        self,
        seed: int,
        widths: list[int],
        batch: int,
        input_std: float,
        dist: int,
        norm_eps: float,
        checkpoint_every: int,
        store_budget_bytes: int,
        n_threads: int,
        heads: list[int] = ...,
        loss: int = ...,
        channels: int = ...,
        height: int = ...,
        width: int = ...,
        kernel: int = ...,
        circular: bool = ...,
        delta_orthogonal: bool = ...,
        kernels: list[int] = ...,
        skip_span: int = ...,
        c2f_bottlenecks: int = ...,
    ) -> None: ...
    @property
    def seed(self) -> int: ...
    @property
    def widths(self) -> list[int]: ...
    @property
    def batch(self) -> int: ...
    @property
    def n_threads(self) -> int: ...
    @property
    def heads(self) -> list[int]: ...

def plan_mlp_memory(
    group: MlpGroup, n_configs: int, value_bytes: int, with_norm: bool = True
) -> tuple[int, int, bool]: ...
def run_mlp_group(
    dtype: str,
    group: MlpGroup,
    activation: npt.NDArray[np.int32],
    activation_param: npt.NDArray[np.float64],
    weight_scale: npt.NDArray[np.float64],
    bias_scale: npt.NDArray[np.float64],
    residual: npt.NDArray[np.bool_],
    alpha: npt.NDArray[np.float64],
    norm: npt.NDArray[np.int32],
    progress: Callable[[int, int], Any] | None = None,
) -> dict[str, npt.NDArray[Any]]: ...

class RecurrentGroup:
    def __init__(
        self,
        seed: int,
        cell: int,
        dist: int,
        width: int,
        input_width: int,
        steps: int,
        batch: int,
        loss: int,
        checkpoint_every: int,
        store_budget_bytes: int,
        n_threads: int,
    ) -> None: ...
    @property
    def seed(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def steps(self) -> int: ...
    @property
    def batch(self) -> int: ...
    @property
    def n_threads(self) -> int: ...

def plan_recurrent_memory(group: RecurrentGroup, n_configs: int, value_bytes: int) -> tuple[int, int]: ...
def run_recurrent_group(
    dtype: str,
    group: RecurrentGroup,
    activation: npt.NDArray[np.int32],
    activation_param: npt.NDArray[np.float64],
    weight_scale: npt.NDArray[np.float64],
    input_scale: npt.NDArray[np.float64],
    bias_scale: npt.NDArray[np.float64],
    forget_bias: npt.NDArray[np.float64],
    h0_scale: npt.NDArray[np.float64],
    loss_every_step: npt.NDArray[np.bool_],
    progress: Callable[[int, int], Any] | None = None,
) -> dict[str, npt.NDArray[Any]]: ...
def recurrent_standard_arrays(dtype: str, group: RecurrentGroup) -> dict[str, npt.NDArray[Any]]: ...
class TransformerGroup:
    def __init__(
        self,
        seed: int,
        blocks: int,
        width: int,
        heads: int,
        seq_len: int,
        mlp_width: int,
        attention: bool,
        batch: int,
        loss: int,
        norm_eps: float,
        checkpoint_every: int,
        store_budget_bytes: int,
        n_threads: int,
    ) -> None: ...
    @property
    def seed(self) -> int: ...
    @property
    def blocks(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def batch(self) -> int: ...
    @property
    def n_threads(self) -> int: ...

def plan_transformer_memory(group: TransformerGroup, n_configs: int, value_bytes: int) -> tuple[int, int]: ...
def run_transformer_group(
    dtype: str,
    group: TransformerGroup,
    activation: npt.NDArray[np.int32],
    activation_param: npt.NDArray[np.float64],
    pre_norm: npt.NDArray[np.bool_],
    post_norm: npt.NDArray[np.bool_],
    rms_norm: npt.NDArray[np.bool_],
    causal: npt.NDArray[np.bool_],
    skip_scale: npt.NDArray[np.float64],
    alpha: npt.NDArray[np.float64],
    weight_scale: npt.NDArray[np.float64],
    bias_scale: npt.NDArray[np.float64],
    input_std: npt.NDArray[np.float64],
    progress: Callable[[int, int], Any] | None = None,
) -> dict[str, npt.NDArray[Any]]: ...
def transformer_standard_arrays(dtype: str, group: TransformerGroup) -> dict[str, Any]: ...
def train_mlp(
    dtype: str,
    widths: list[int],
    seed: int,
    batch: int,
    input_std: float,
    dist: int,
    activation: int,
    activation_param: float,
    weight_scale: list[float],
    bias_scale: list[float],
    residual: bool,
    alpha: float,
    steps: int,
    lr: float,
    optimizer: int,
    momentum: float,
    beta1: float,
    beta2: float,
    eps: float,
    clip: int,
    clip_threshold: float,
    n_threads: int,
    progress: Callable[[int, int], Any] | None = None,
    lr_scale: list[float] = ...,
    coordinates: bool = False,
) -> dict[str, Any]: ...
def training_arrays(
    dtype: str, seed: int, n_out: int, n_in: int, steps: int, batch: int
) -> dict[str, npt.NDArray[Any]]: ...
def det_gemm(
    a: npt.NDArray[Any], b: npt.NDArray[Any], transpose_b: bool, n_threads: int = 1
) -> npt.NDArray[Any]: ...
def open_memory_pool(cap_bytes: int) -> None: ...
def close_memory_pool() -> None: ...
def memory_pool_bytes() -> int: ...
def enum_names() -> dict[str, list[str]]: ...
def gate_count(cell: int) -> int: ...
def kernel_isa() -> str: ...
