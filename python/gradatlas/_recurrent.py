"""Running recurrent configurations: groups of shared random matrices, and their Dataset.

Points that share (seed, batch, dtype, cell, width, input width, steps and the
distribution of W_hh) form a group: the core draws Z_hh, Z_ih, the inputs and
the initial states once and runs every configuration of the group with one
product per step. As for feed-forward groups, every point's numbers are
bit-identical however it is grouped and on any number of threads.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from . import _core, theory
from ._enums import codes
from ._runner import STORE_BUDGET, Point, hashed_seed
from .definitions import RECURRENT_QUANTITIES, STABLE_DECADES
from .specs.recurrent import CELLS, GATES, RECURRENT_DISTS, RNN
from .summary import NONFINITE_KINDS, depth_scale, profile_ends_and_rate, regime

PER_STEP = ("log10_grad_norm", "log10_grad_norm_rms", "log10_cell_grad_norm", "q", "saturated_fraction")


def independent_seed(seed: int, spec: Any) -> int:
    """The seed of a configuration when common random numbers are off (steps excluded)."""
    return hashed_seed(seed, spec.replace(steps=1))


@dataclasses.dataclass
class RecurrentGroup:
    seed: int
    batch: int
    dtype: str
    cell: str
    dist: str
    width: int
    input_width: int
    steps: int
    configs: list[Any] = dataclasses.field(default_factory=list)

    @property
    def units(self) -> int:
        return self.steps * len(self.configs)

    def core_group(self, n_threads: int, loss: str, checkpoint_every: int | None = None) -> Any:
        return _core.RecurrentGroup(
            seed=self.seed, cell=CELLS[self.cell], dist=RECURRENT_DISTS[self.dist], width=self.width,
            input_width=self.input_width, steps=self.steps, batch=self.batch, loss=codes("loss")[loss],
            checkpoint_every=0 if checkpoint_every is None else checkpoint_every,
            store_budget_bytes=STORE_BUDGET, n_threads=n_threads)

    def memory_bytes(self, loss: str) -> int:
        _, engine = _core.plan_recurrent_memory(self.core_group(1, loss), len(self.configs),
                                                np.dtype(self.dtype).itemsize)
        return int(engine + self.result_bytes())

    def result_bytes(self) -> int:
        return len(self.configs) * (self.steps + 1) * 8 * len(PER_STEP)

    def throughput(self, loss: str, n_threads: int) -> float:
        """Useful FLOP/s of a probe of up to 10 steps and 16 configurations (rough)."""
        steps = min(self.steps, 10)
        probe = dataclasses.replace(self, steps=steps, configs=[c.replace(steps=steps) for c in self.configs[:16]])
        t0 = time.perf_counter()
        probe.run(loss, n_threads, None)
        return probe.useful_flops() / max(time.perf_counter() - t0, 1e-6)

    def useful_flops(self) -> float:
        """Forward and backward products with W_hh: 4 B G n^2 per step and configuration."""
        return 4.0 * self.batch * len(self.configs) * GATES[self.cell] * self.width**2 * self.steps

    def check_limits(self) -> None:
        rows = self.batch * len(self.configs)
        gn = GATES[self.cell] * self.width
        for what, size in ((f"batch x configurations x gates x width = {rows * gn}", rows * gn),
                           (f"W_hh and W_ih ({gn} x {max(self.width, self.input_width)})",
                            gn * max(self.width, self.input_width))):
            if size >= 2**31:
                raise ValueError(f"{what} exceeds the 32-bit BLAS index range; reduce batch, width or the "
                                 "number of configurations")

    def run(self, loss: str, n_threads: int, hook: Callable[[int, int], Any] | None,
            checkpoint_every: int | None = None) -> dict[str, np.ndarray]:
        specs = self.configs
        activation = [s.core_activation() for s in specs]
        return _core.run_recurrent_group(
            self.dtype, self.core_group(n_threads, loss, checkpoint_every),
            np.array([a for a, _ in activation], dtype=np.int32),
            np.array([p for _, p in activation], dtype=np.float64),
            np.array([s.weight_scale for s in specs], dtype=np.float64),
            np.array([s.input_scale for s in specs], dtype=np.float64),
            np.array([s.sigma_b for s in specs], dtype=np.float64),
            np.array([s.forget for s in specs], dtype=np.float64),
            np.array([s.h0_std for s in specs], dtype=np.float64),
            np.array([s.loss_at == "every" for s in specs], dtype=bool),
            hook)


def make_groups(points: Sequence[Point], common_random_numbers: bool) -> tuple[list[RecurrentGroup],
                                                                              list[tuple[int, int, int]]]:
    """Groups and, per point, (group index, config index, 0)."""
    groups: dict[tuple, RecurrentGroup] = {}
    where = []
    for p in points:
        s = p.spec
        seed = p.seed if common_random_numbers else independent_seed(p.seed, s)
        own = "" if common_random_numbers else s.to_json()
        key = (seed, p.batch, p.dtype, s.cell, s.weight_dist, s.width, s.n_in, s.steps, own)
        g = groups.get(key)
        if g is None:
            g = groups[key] = RecurrentGroup(seed, p.batch, p.dtype, s.cell, s.weight_dist, s.width, s.n_in,
                                             s.steps)
        if s not in g.configs:
            g.configs.append(s)
        where.append((list(groups).index(key), g.configs.index(s), 0))
    return list(groups.values()), where


def memory_horizon(log10_rate: np.ndarray, decades: float = STABLE_DECADES) -> np.ndarray:
    """Steps over which the fitted gradient norm falls by ``decades`` going back
    in time: decades / -log10_rate where it decays, inf where it does not.

    From the fit over the whole unroll rather than from the first step below a
    threshold: the first step back from the loss often drops by a fixed factor
    (an LSTM's output gate and tanh'), which says nothing about memory.
    """
    rate = np.asarray(log10_rate, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(rate < 0, decades / -rate, np.where(np.isnan(rate), np.nan, np.inf))


def _theory(points: Sequence[Point], finished: np.ndarray) -> np.ndarray:
    """Mean-field chi1 for vanilla RNNs with random W_hh (NaN for LSTM, GRU and identity init).

    The recurrence h_t = phi(W_hh h_{t-1} + input + bias) is the feed-forward
    length map with the bias variance sigma_b^2 + sigma_u^2, started at
    q0 = h0_std^2; the mean-field approximation treats W_hh as fresh at every
    step (tied weights correlate the steps; see the module notes in README).
    Computed once per distinct configuration among the points that ran."""
    from ._assemble import distinct_configurations

    specs, inverse = distinct_configurations(points, finished)
    families: dict[tuple[str, float, float], list[int]] = {}
    for k, s in enumerate(specs):
        if isinstance(s, RNN) and s.weight_dist != "identity":
            families.setdefault((s.activation, s.negative_slope, s.h0_std), []).append(k)
    chi = np.full(len(specs), np.nan)
    for (activation, slope, h0_std), members in families.items():
        sw = np.array([specs[k].effective_sigma_w for k in members])
        sb = np.array([float(np.hypot(specs[k].sigma_b, specs[k].sigma_u)) for k in members])
        chi[members] = theory.chi1(activation, sw, sb, negative_slope=slope, q0=h0_std**2)
    out = np.full(len(points), np.nan)
    ran = inverse >= 0
    out[ran] = chi[inverse[ran]]
    return out


def summaries(points: Sequence[Point], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    g = arrays["log10_grad_norm"]
    steps = np.array([p.spec.steps for p in points])
    out: dict[str, np.ndarray] = {}
    out["total_log10_ratio"], out["log10_rate"] = profile_ends_and_rate(g, steps + 1)  # steps 0..T
    out["memory_horizon"] = memory_horizon(out["log10_rate"])
    out["chi1"] = _theory(points, arrays["finished"])
    with np.errstate(divide="ignore", invalid="ignore"):
        out["predicted_log10_rate"] = 0.5 * np.log10(out["chi1"])
    out["time_scale"] = depth_scale(out["log10_rate"])
    exactly_zero = np.asarray(np.isneginf(g).any(axis=1))
    label = regime(out["total_log10_ratio"], arrays["first_nonfinite_step"] >= 0, exactly_zero)
    out["regime"] = np.where(arrays["finished"], label, "")
    out["nonfinite_kind"] = np.array([NONFINITE_KINDS[k] for k in arrays["nonfinite_kind"]], dtype=object)
    return out


SCALARS = ("total_log10_ratio", "log10_rate", "time_scale", "memory_horizon", "regime", "chi1",
           "predicted_log10_rate", "nonfinite_kind")


def to_dataset(points: Sequence[Point], arrays: dict[str, np.ndarray], shape: tuple[int, ...],
               coords: dict[str, Any], attrs: dict[str, Any]) -> xr.Dataset:
    """The Dataset over dims (*coords, step); points in C order over coords."""
    from ._assemble import finish_attrs

    dims = list(coords)
    width = arrays["log10_grad_norm"].shape[1]
    summary = summaries(points, arrays)
    data: dict[str, Any] = {name: ([*dims, "step"], arrays[name].reshape(*shape, width)) for name in PER_STEP}
    for name in SCALARS:
        values = summary[name]
        data[name] = (dims, values.astype(str).reshape(shape) if values.dtype == object else values.reshape(shape))
    data["first_nonfinite_step"] = (dims, arrays["first_nonfinite_step"].reshape(shape))
    ds = xr.Dataset(data, coords={**coords, "step": np.arange(width)})
    for var in ds.data_vars.values():
        var.attrs["description"] = RECURRENT_QUANTITIES[str(var.name)]
    return finish_attrs(ds, attrs)
