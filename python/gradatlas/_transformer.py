"""Running transformer configurations: groups of shared random matrices, and their Dataset.

Points that share (seed, batch, dtype, depth, width, heads, tokens, MLP width
and whether blocks have attention) form a group: the core draws each
sublayer's standard matrices once and runs every configuration of the group
(norm placement and kind, alpha, activation, scales, causal mask, q0) with
one product per projection. Every point's numbers are bit-identical however
it is grouped and on any number of threads.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from . import _core
from ._enums import codes
from ._runner import STORE_BUDGET, Point, hashed_seed
from .definitions import TRANSFORMER_QUANTITIES
from .summary import NONFINITE_KINDS, depth_scale, profile_ends_and_rate, regime

PER_SUBLAYER = ("log10_grad_norm", "log10_grad_norm_rms", "q", "token_cosine", "attention_entropy")
PROJECTIONS: tuple[str, ...] = tuple(codes("projection"))
NORM_EPS = 1e-5


def independent_seed(seed: int, spec: Any) -> int:
    """The seed of a configuration when common random numbers are off (depth excluded)."""
    return hashed_seed(seed, spec.replace(depth=1))


@dataclasses.dataclass
class TransformerGroup:
    seed: int
    batch: int
    dtype: str
    depth: int
    width: int
    heads: int
    seq_len: int
    mlp_width: int
    attention: bool
    configs: list[Any] = dataclasses.field(default_factory=list)

    @property
    def sublayers(self) -> int:
        return 2 * self.depth if self.attention else self.depth

    @property
    def units(self) -> int:
        return self.sublayers * len(self.configs)

    def core_group(self, n_threads: int, loss: str, checkpoint_every: int | None = None) -> Any:
        return _core.TransformerGroup(
            seed=self.seed, blocks=self.depth, width=self.width, heads=self.heads, seq_len=self.seq_len,
            mlp_width=self.mlp_width, attention=self.attention, batch=self.batch, loss=codes("loss")[loss],
            norm_eps=NORM_EPS, checkpoint_every=0 if checkpoint_every is None else checkpoint_every,
            store_budget_bytes=STORE_BUDGET, n_threads=n_threads)

    def memory_bytes(self, loss: str) -> int:
        _, engine = _core.plan_transformer_memory(self.core_group(1, loss), len(self.configs),
                                                  np.dtype(self.dtype).itemsize)
        return int(engine + self.result_bytes())

    def result_bytes(self) -> int:
        return len(self.configs) * (self.sublayers + 1) * 8 * (len(PER_SUBLAYER) + len(PROJECTIONS))

    def throughput(self, loss: str, n_threads: int) -> float:
        """Useful FLOP/s of a probe of up to 2 blocks and 16 configurations (rough)."""
        depth = min(self.depth, 2)
        probe = dataclasses.replace(self, depth=depth,
                                    configs=[c.replace(depth=depth) for c in self.configs[:16]])
        t0 = time.perf_counter()
        probe.run(loss, n_threads, None)
        return probe.useful_flops() / max(time.perf_counter() - t0, 1e-6)

    def useful_flops(self) -> float:
        """The projections forward and backward: 6 tokens x fan_in x fan_out per matrix."""
        tokens = self.batch * len(self.configs) * self.seq_len
        per_block = 2 * self.width * self.mlp_width + (4 * self.width**2 if self.attention else 0)
        return 6.0 * tokens * per_block * self.depth

    def check_limits(self) -> None:
        tokens = self.batch * len(self.configs) * self.seq_len
        wide = tokens * max(3 * self.width, self.mlp_width)
        if wide >= 2**31:
            raise ValueError(f"batch x configurations x seq_len x max(3 width, MLP width) = {wide} exceeds the "
                             "32-bit BLAS index range; reduce batch, seq_len, width or the number of configurations")

    def run(self, loss: str, n_threads: int, hook: Callable[[int, int], Any] | None,
            checkpoint_every: int | None = None) -> dict[str, np.ndarray]:
        specs = self.configs
        activation = [s.core_activation() for s in specs]
        flags = lambda f: np.array([f(s) for s in specs], dtype=bool)
        return _core.run_transformer_group(
            self.dtype, self.core_group(n_threads, loss, checkpoint_every),
            np.array([a for a, _ in activation], dtype=np.int32),
            np.array([p for _, p in activation], dtype=np.float64),
            flags(lambda s: s.norm == "pre"),
            flags(lambda s: s.norm in ("post", "deepnorm")),
            flags(lambda s: s.norm_kind == "rms"),
            flags(lambda s: s.causal),
            np.array([s.skip_scale for s in specs], dtype=np.float64),
            np.array([s.alpha for s in specs], dtype=np.float64),
            np.array([s.weight_scales() for s in specs], dtype=np.float64).reshape(len(specs), len(PROJECTIONS)),
            np.array([s.sigma_b for s in specs], dtype=np.float64),
            np.array([np.sqrt(s.q0) for s in specs], dtype=np.float64),
            hook)


def make_groups(points: Sequence[Point], common_random_numbers: bool
                ) -> tuple[list[TransformerGroup], list[tuple[int, int, int]]]:
    """Groups and, per point, (group index, config index, 0)."""
    groups: dict[tuple, TransformerGroup] = {}
    where = []
    for p in points:
        s = p.spec
        seed = p.seed if common_random_numbers else independent_seed(p.seed, s)
        own = "" if common_random_numbers else s.to_json()
        key = (seed, p.batch, p.dtype, s.depth, s.width, s.heads, s.seq_len, s.mlp_width, s.attention, own)
        g = groups.get(key)
        if g is None:
            g = groups[key] = TransformerGroup(seed, p.batch, p.dtype, s.depth, s.width, s.heads, s.seq_len,
                                               s.mlp_width, s.attention)
        if s not in g.configs:
            g.configs.append(s)
        where.append((list(groups).index(key), g.configs.index(s), 0))
    return list(groups.values()), where


def summaries(points: Sequence[Point], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n = len(points)
    g = arrays["log10_grad_norm"]
    lengths = np.array([p.spec.sublayers for p in points])
    out: dict[str, np.ndarray] = {}
    out["total_log10_ratio"], out["log10_rate"] = profile_ends_and_rate(g, lengths + 1)
    out["final_token_cosine"] = arrays["token_cosine"][np.arange(n), lengths]
    out["depth_scale"] = depth_scale(out["log10_rate"])
    exactly_zero = np.asarray(np.isneginf(g).any(axis=1))
    label = regime(out["total_log10_ratio"], arrays["first_nonfinite_sublayer"] >= 0, exactly_zero)
    out["regime"] = np.where(arrays["finished"], label, "")
    out["nonfinite_kind"] = np.array([NONFINITE_KINDS[k] for k in arrays["nonfinite_kind"]], dtype=object)
    return out


SCALARS = ("total_log10_ratio", "log10_rate", "depth_scale", "final_token_cosine", "regime", "nonfinite_kind")


def to_dataset(points: Sequence[Point], arrays: dict[str, np.ndarray], shape: tuple[int, ...],
               coords: dict[str, Any], attrs: dict[str, Any]) -> xr.Dataset:
    """The Dataset over dims (*coords, sublayer) and (*coords, sublayer, projection)."""
    from ._assemble import finish_attrs

    dims = list(coords)
    width = arrays["log10_grad_norm"].shape[1]
    summary = summaries(points, arrays)
    data: dict[str, Any] = {name: ([*dims, "sublayer"], arrays[name].reshape(*shape, width))
                            for name in PER_SUBLAYER}
    data["log10_weight_grad_norm"] = ([*dims, "sublayer", "projection"],
                                      arrays["log10_weight_grad_norm"].reshape(*shape, width, len(PROJECTIONS)))
    for name in SCALARS:
        values = summary[name]
        data[name] = (dims, values.astype(str).reshape(shape) if values.dtype == object else values.reshape(shape))
    data["first_nonfinite_sublayer"] = (dims, arrays["first_nonfinite_sublayer"].reshape(shape))
    labels: dict[str, Any] = {}
    # Labels of the longest spec's sublayers (the shorter ones' are its first), when every point's
    # blocks have the same sublayers; a sweep over `attention` has none (sublayer p is a different
    # thing with and without attention).
    if len({p.spec.attention for p in points}) == 1:
        longest = max((p.spec for p in points), key=lambda s: s.sublayers)
        per_block = 2 if longest.attention else 1
        labels = {"sublayer_type": ("sublayer", longest.sublayer_types()[:width]),
                  "block": ("sublayer", [(i + per_block - 1) // per_block for i in range(width)])}
    ds = xr.Dataset(data, coords={**coords, "sublayer": np.arange(width), "projection": list(PROJECTIONS),
                                  **labels})
    for var in ds.data_vars.values():
        var.attrs["description"] = TRANSFORMER_QUANTITIES[str(var.name)]
    ds.attrs["theory"] = ("none: gradatlas has no mean-field prediction for transformers (attention mixes tokens; "
                          "see the README), so no predicted_* variables are given")
    return finish_attrs(ds, attrs)
