"""Running many network configurations: grouping, threads, progress, interruption.

A *point* is (spec, seed, batch, dtype). Points that can share random matrices
(same seed, batch, dtype, input variance, widths and weight distribution) form a
*group*, run by the core in one pass; within a group, specs that differ only in
depth are one engine configuration with several output depths ("heads"), so a
depth axis costs one forward pass and one backward pass per depth. Every
point's numbers are bit-identical however it is grouped and on any number of
threads (the core's fixed-shape products), so grouping is purely a speed choice.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import _core
from ._enums import codes
from ._memory import check_fits, format_bytes
from .activations import ACTIVATIONS
from .initializers import WEIGHT_DISTS
from .specs import MLP, NORMS

NORM_EPS = 1e-5  # batch/layer norm epsilon, as PyTorch's default
# What the engines may keep for the backward pass before they recompute; with
# the interpreter and libraries (~150 MiB) a run's peak stays under 1 GiB.
STORE_BUDGET = 768 << 20
# Large buffers a finished group leaves for the next groups of the same run
# (the core's memory pool): fresh pages cost ~15% of a small group's run.
POOL_CAP = STORE_BUDGET
LOSS_CODES = codes("loss")
GRAD_KEYS = ("log10_grad_norm", "log10_grad_norm_rms", "log10_weight_grad_norm")
FORWARD_KEYS = ("q", "c", "saturated_fraction", "dead_fraction")


class Point(NamedTuple):  # a tuple: a 10^6-point sweep holds 10^6 of them
    spec: Any  # an MLP, or a recurrent spec (gradatlas.specs.recurrent) run by gradatlas._recurrent
    seed: int
    batch: int
    dtype: str


class Interrupted(Exception):
    """Raised inside a progress hook to stop a group (Ctrl-C or a stop request)."""


def independent_seed(seed: int, spec: MLP) -> int:
    """The seed a configuration gets when common random numbers are off.

    A hash of the seed and the configuration (without its depth, so that depths
    of one network stay one network): stable across grids and runs.
    """
    changes: dict[str, Any] = {"depth": spec.skip_span}  # one layer, or one residual block
    if spec.widths is not None:
        changes["widths"] = spec.widths[:2]
    return hashed_seed(seed, spec.replace_checked(**changes))


def hashed_seed(seed: int, spec: Any) -> int:
    """64 bits of SHA-256 of the seed and a spec's JSON: a key stable across grids, runs and machines."""
    digest = hashlib.sha256(f"{seed}:{spec.to_json()}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


@dataclasses.dataclass
class Group:
    seed: int
    batch: int
    dtype: str
    widths: tuple[int, ...]  # of the deepest network
    dist: str
    q0: float
    configs: list[MLP] = dataclasses.field(default_factory=list)  # at full depth
    depths: list[int] = dataclasses.field(default_factory=list)
    # Convolutional layers: ConvNet.conv_geometry.
    conv: tuple[Any, ...] | None = None

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    def core_group(self, n_threads: int, loss: str, checkpoint_every: int | None = None) -> Any:
        return _core.MlpGroup(
            seed=self.seed, widths=list(self.widths), batch=self.batch, input_std=float(np.sqrt(self.q0)),
            dist=WEIGHT_DISTS[self.dist], norm_eps=NORM_EPS,
            checkpoint_every=0 if checkpoint_every is None else checkpoint_every,
            store_budget_bytes=STORE_BUDGET, n_threads=n_threads, heads=sorted(self.depths),
            loss=LOSS_CODES[loss], **self._conv_arguments())

    def _conv_arguments(self) -> dict[str, Any]:
        if self.conv is None:
            return {}
        channels, height, width, kernel, circular, delta, kernels, span, _, c2f = self.conv
        return {"channels": channels, "height": height, "width": width, "kernel": kernel, "circular": circular,
                "delta_orthogonal": delta, "kernels": list(kernels) * (self.depth // span) if kernels else [],
                "skip_span": span, "c2f_bottlenecks": c2f}  # kernels: one block's, repeated

    def result_bytes(self) -> int:
        """The group's share of the assembled Dataset (8 arrays of float64 per layer and depth)."""
        return len(self.configs) * len(self.depths) * self.depth * 8 * 8

    def memory_bytes(self, loss: str) -> int:
        with_norm = any(s.norm is not None for s in self.configs)
        _, engine, _ = _core.plan_mlp_memory(self.core_group(1, loss), len(self.configs),
                                             np.dtype(self.dtype).itemsize, with_norm)
        outputs = len(self.configs) * self.depth * 8 * (len(self.depths) * len(GRAD_KEYS) + len(FORWARD_KEYS))
        return int(engine + outputs)

    @property
    def units(self) -> int:
        """Work units for progress: layers times configurations."""
        return self.depth * len(self.configs)

    def check_limits(self) -> None:
        check_group_limits(self)

    def run(self, loss: str, n_threads: int, hook: Callable[[int, int], Any] | None,
            checkpoint_every: int | None = None) -> dict[str, np.ndarray]:
        return run_one(self, loss, n_threads, hook, checkpoint_every)

    def throughput(self, loss: str, n_threads: int) -> float:
        return mlp_throughput(self, loss, n_threads)

    def useful_flops(self) -> float:
        """4 B n_l n_{l-1} per layer and configuration (forward and backward products); for
        convolutions 4 B pixels C K^2 C."""
        if self.conv is not None:
            return 4.0 * self.batch * len(self.configs) * float(np.sum(_conv_layer_products(self)))
        n = np.asarray(self.widths, float)
        return 4.0 * self.batch * len(self.configs) * float(np.sum(n[1:] * n[:-1]))


def make_groups(points: Sequence[Point], common_random_numbers: bool) -> tuple[list[Group], list[tuple[int, int, int]]]:
    """Groups and, per point, (group index, config index, head index)."""
    groups: dict[tuple, Group] = {}
    placement: list[tuple[tuple, MLP, int]] = []
    for p in points:
        spec = p.spec
        seed = p.seed if common_random_numbers else independent_seed(p.seed, spec)
        uniform = spec.widths is None
        # Without common random numbers each configuration is its own group.
        own = "" if common_random_numbers else spec.replace_checked(depth=spec.skip_span).to_json()
        conv = getattr(spec, "conv_geometry", None)
        # A shallower point is read off a deeper run's first layers, unless a width parametrization
        # scales its last layer (muP's output multiplier moves with the depth): then each depth runs alone.
        alone = spec.depth if getattr(spec, "parametrization", "standard") != "standard" else None
        key: tuple = (seed, p.batch, p.dtype, spec.weight_dist, spec.q0,
                      ("uniform", spec.width) if uniform else ("widths", spec.layer_widths), conv, own, alone)
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(seed, p.batch, p.dtype, spec.layer_widths, spec.weight_dist, spec.q0,
                                        conv=conv)
        if spec.depth > group.depth:
            group.widths = spec.layer_widths
        placement.append((key, spec, spec.depth))
        if spec.depth not in group.depths:
            group.depths.append(spec.depth)
    ordered = list(groups.values())
    index = {id(g): i for i, g in enumerate(ordered)}
    for g in ordered:
        g.depths.sort()
    config_index: dict[tuple[int, MLP], int] = {}
    where = []
    for key, spec, depth in placement:
        g = groups[key]
        gi = index[id(g)]
        full = spec.replace_checked(depth=g.depth) if spec.widths is None and spec.depth != g.depth else spec
        ci = config_index.setdefault((gi, full), len(g.configs))
        if ci == len(g.configs):
            g.configs.append(full)
        where.append((gi, ci, g.depths.index(depth)))
    return ordered, where


def gather_configs(points: Sequence[Point], where: Sequence[tuple[int, int, int]], results: Sequence[dict | None],
                   layout: dict[str, tuple[tuple[int, ...], str, Any]],
                   positions_of: Callable[[Any], int]) -> dict[str, np.ndarray]:
    """The raw arrays of ``layout`` (name -> shape after the point axis, dtype, value when not run) per
    point, where each point is one configuration of its group (``where``: group, configuration):
    per-position arrays cut at the point's own ``positions_of(spec)``; ``finished`` where its group ran."""
    n = len(points)
    out = {k: np.full((n, *shape), fill, dtype=dtype) for k, (shape, dtype, fill) in layout.items()}
    for i, (p, (gi, ci, _)) in enumerate(zip(points, where)):
        raw = results[gi]
        if raw is None:
            continue
        m = positions_of(p.spec)
        for k, (shape, _, _) in layout.items():
            if k == "finished":
                out[k][i] = True
            elif shape:
                out[k][i, :m] = raw[k][ci]
            else:
                out[k][i] = raw[k][ci]
    return out


def run_one(group: Group, loss: str, n_threads: int, hook: Callable[[int, int], Any] | None,
            checkpoint_every: int | None = None) -> dict[str, np.ndarray]:
    specs = group.configs
    weight_scale = np.ascontiguousarray(np.stack([s.weight_scales() for s in specs]), dtype=np.float64)
    bias_scale = np.ascontiguousarray(np.stack([np.full(s.depth, s.sigma_b) for s in specs]), dtype=np.float64)
    return _core.run_mlp_group(
        group.dtype, group.core_group(n_threads, loss, checkpoint_every),
        np.array([ACTIVATIONS[s.activation] for s in specs], dtype=np.int32),
        np.array([s.negative_slope for s in specs], dtype=np.float64),
        weight_scale, bias_scale,
        np.array([s.residual for s in specs], dtype=bool),
        np.array([s.alpha for s in specs], dtype=np.float64),
        np.array([NORMS[s.norm or "none"] for s in specs], dtype=np.int32),
        hook,
    )


def _conv_layer_products(group: Group) -> np.ndarray:
    """Multiply-adds of each convolution per sample: pixels x C_out x K_l^2 C_in."""
    spec: Any = group.configs[0].replace_checked(depth=group.depth)  # a ConvNet
    c_in, c_out = (np.asarray(c, dtype=np.float64) for c in spec.conv_channels)
    return spec.image_size**2 * c_out * np.asarray(spec.kernels, dtype=np.float64) ** 2 * c_in


def check_group_limits(group: Group) -> None:
    rows = group.batch * len(group.configs) * len(group.depths)
    n_max = max(group.widths)
    if group.conv is not None:  # the products are over im2col matrices (rows x pixels, K^2 C)
        spec: Any = group.configs[0].replace_checked(depth=group.depth)  # a ConvNet
        pixels = spec.image_size**2
        widest = max(k * k * c for k, c in zip(spec.kernels, spec.conv_channels[0]))
        if rows * pixels * widest >= 2**31:
            raise ValueError(
                f"batch x configurations x depths x pixels x kernel^2 x channels = "
                f"{rows * pixels * widest} exceeds the 32-bit BLAS index range; "
                "reduce batch, image size, channels or the number of configurations")
        return
    if rows * n_max >= 2**31 or n_max * n_max >= 2**31:
        raise ValueError(
            f"batch x configurations x depths x width = {rows * n_max} exceeds the 32-bit BLAS index "
            "range; reduce batch, width or the number of configurations")


class Progress:
    """Aggregates the core's (done, total) reports of several groups, thread-safely."""

    def __init__(self, totals: Sequence[int], callback: Callable[[int, int], Any] | None):
        self.totals = list(totals)
        self.done = [0] * len(totals)
        self.callback = callback
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def hook(self, index: int) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            if self.stop.is_set():
                raise Interrupted
            with self.lock:  # the callback too, so that it never sees progress go back
                self.done[index] = max(self.done[index], int(done * self.totals[index] / max(total, 1)))
                if self.callback is not None:
                    self.callback(sum(self.done), sum(self.totals))
        return report


def run_groups(groups: Sequence[Group], loss: str, n_threads: int,
               progress: Callable[[int, int], Any] | None) -> tuple[list[dict | None], bool]:
    """Runs every group; returns (results or None where unfinished, interrupted?).

    With fewer groups than threads, groups run one after another with all
    threads each; otherwise as many groups as threads run at once, one thread
    each. On KeyboardInterrupt the running groups stop within about 50 ms and
    what finished is returned.
    """
    with pooled_buffers(len(groups)):
        return _run_groups(groups, loss, n_threads, progress)


@contextlib.contextmanager
def pooled_buffers(n_groups: int) -> Iterator[None]:
    """Lets the groups of one run hand their large buffers on (see POOL_CAP)."""
    if n_groups < 2:
        yield
        return
    _core.open_memory_pool(POOL_CAP)
    try:
        yield
    finally:
        _core.close_memory_pool()


def _run_groups(groups: Sequence[Group], loss: str, n_threads: int,
                progress: Callable[[int, int], Any] | None) -> tuple[list[dict | None], bool]:
    units = [g.units for g in groups]
    tracker = Progress(units, progress)
    results: list[dict | None] = [None] * len(groups)
    if len(groups) < n_threads or n_threads == 1:
        for i, g in enumerate(groups):
            try:
                results[i] = g.run(loss, n_threads, tracker.hook(i))
            except (KeyboardInterrupt, Interrupted):
                return results, True
        return results, False
    with cf.ThreadPoolExecutor(max_workers=n_threads) as pool:
        futures = {pool.submit(g.run, loss, 1, tracker.hook(i)): i for i, g in enumerate(groups)}
        pending = set(futures)
        try:
            while pending:
                done, pending = cf.wait(pending, timeout=0.1, return_when=cf.FIRST_COMPLETED)
                for f in done:
                    results[futures[f]] = f.result()  # re-raises a worker's error
        except BaseException as exc:
            # Stop the other groups within ~50 ms instead of waiting for them all.
            tracker.stop.set()
            for f in futures:
                f.cancel()
            cf.wait(list(futures))
            if not isinstance(exc, KeyboardInterrupt):
                raise
            for f, i in futures.items():  # keep everything that did finish
                if f.done() and not f.cancelled() and f.exception() is None:
                    results[i] = f.result()
            return results, True
    return results, False


@dataclasses.dataclass
class Plan:
    """What a run will do, estimated before it starts."""

    points: int
    groups: int
    configurations: int
    memory_bytes: int
    seconds: float
    useful_flops: float
    chunk_points: int | None = None  # run in chunks of this many points (None: all at once)

    def __str__(self) -> str:
        chunks = "" if self.chunk_points is None else f", run in chunks of {self.chunk_points} points"
        return (f"{self.points} points in {self.groups} group(s) of shared random matrices "
                f"({self.configurations} engine configurations{chunks}); about {format_bytes(self.memory_bytes)} "
                f"of memory and {self.seconds:.1f} s estimated")


def within_limits(groups: Sequence[Any]) -> bool:
    try:
        for g in groups:
            g.check_limits()
    except ValueError:
        return False
    return True


def plan(groups: Sequence[Group], n_points: int, loss: str, n_threads: int, *, calibrate: bool = True,
         limits: bool = True) -> Plan:
    """The estimate; with ``calibrate`` it times a small probe, only after the memory check passed;
    ``limits=False`` skips the core's index limits (for a grid that will run in chunks)."""
    if limits:
        for g in groups:
            g.check_limits()
    concurrent = 1 if len(groups) < n_threads else n_threads
    sizes = sorted((g.memory_bytes(loss) for g in groups), reverse=True)
    # The groups running at once, the buffers kept between groups, every group's results.
    pooled = min(POOL_CAP, sizes[0]) if len(groups) > 1 else 0
    memory = sum(sizes[:concurrent]) + pooled + sum(g.result_bytes() for g in groups)
    flops = sum(g.useful_flops() for g in groups)
    estimate = Plan(n_points, len(groups), sum(len(g.configs) for g in groups), int(memory), float("nan"), flops)
    if calibrate and groups:
        fits(estimate)
        estimate.seconds = flops / groups[0].throughput(loss, n_threads)
    return estimate


def mlp_throughput(sample: Group, loss: str, n_threads: int) -> float:
    """Useful FLOP/s of a short probe of one group (up to 10 layers, whole blocks, and 16
    configurations), for the time estimate: rough, and pessimistic for large
    groups, which use the machine better than the probe."""
    span = sample.configs[0].skip_span  # the probe ends where a block does
    depth = min(sample.depth, max(span, 10 // span * span))
    probe = dataclasses.replace(sample, widths=sample.widths[: depth + 1],
                                configs=[c.replace(depth=depth) if c.widths is None else
                                         c.replace(depth=depth, widths=c.widths[: depth + 1])
                                         for c in sample.configs[:16]],
                                depths=[depth])
    t0 = time.perf_counter()
    run_one(probe, loss, n_threads, None)
    elapsed = max(time.perf_counter() - t0, 1e-6)
    return probe.useful_flops() / elapsed


def fits(estimate: Plan) -> None:
    check_fits(estimate.memory_bytes, f"this run ({estimate.points} points)",
               "reduce batch, width or the number of points per group (fewer values on "
               "the axes that share random matrices), or use seeds one at a time")
