"""The standard benchmark workloads, reported as ratios measured in one run (``gradatlas bench``).

Absolute times on shared machines vary by 2x from run to run; ratios taken in
the same run do not. Each workload is timed as the median of ``repeats`` runs
beside (1) numpy's float32 matmul of the engine's product shape, with numpy's own
BLAS and threads, and (2) where PyTorch is installed, the same measurement
written the way a PyTorch user would on the CPU, with fresh Gaussian weights
inside the timed region:

- W1, W2, W3 (feed-forward tanh sweeps): a loop over configurations, tensors
  with ``retain_grad``, one backward call each, giving the per-layer per-sample
  gradient norms gradatlas reports;
- R1 (LSTM): ``torch.nn.LSTMCell`` unrolled in Python with ``retain_grad`` on
  every h_t (the way to get every per-step gradient norm from PyTorch);
- C1 (a 200-layer delta-orthogonal CNN) and T1 (50 Pre-LN transformer blocks):
  ``gradatlas.to_torch``'s module (weights given, not drawn in the timed
  region), forward, backward, ``retain_grad`` on every pre-activation or stream.

Useful FLOPs: 4 B n^2 L per feed-forward configuration (forward and backward
products), and 4 B G n^2 + 2 B G n n_in per recurrent step (G = 4 for LSTM);
4 B HW C K^2C per convolution; 6 tokens (4 d^2 + 2 d m) per transformer block
(forward, data and weight gradients).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _validate as v
from .specs.convnet import ConvNet
from .specs.transformer import Transformer

SETTLE_SECONDS = 0.3


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``repeats`` calls: robust to a noisy shared machine.

    Waits SETTLE_SECONDS first: OpenBLAS and OpenMP worker threads keep spinning
    for a while after their library's last call (numpy's, PyTorch's, ours), and
    on two cores they would compete with whatever is measured next.
    """
    time.sleep(SETTLE_SECONDS)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def numpy_sgemm_gflops(rows: int, n: int, repeats: int, cols: int | None = None) -> float:
    """numpy's float32 matmul throughput for (rows x n) @ (n x cols), cols = n by default, in GFLOP/s.

    The better of two medians, one after the other: on a shared machine one
    measurement can land on a busy moment (88 to 274 GF/s were seen for one
    shape in one session), and the reference should be numpy at its fastest,
    not a low that flatters the ratio.
    """
    cols = n if cols is None else cols
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, n), dtype=np.float32)
    z = rng.standard_normal((cols, n), dtype=np.float32)
    reps = max(1, int(2e9 / (2 * rows * n * cols)))
    best = min(median_time(lambda: [np.matmul(x, z.T) for _ in range(reps)], repeats) for _ in range(2))
    return 2 * rows * n * cols * reps / best / 1e9


# --- PyTorch references (torch is imported by the caller; never a dependency) ---

def torch_mlp_log10_norms(torch: Any, weights: list, biases: list, x: Any, u: Any) -> Any:
    """log10 of the mean-over-batch per-sample |dl/dh_l| of a tanh MLP from explicit tensors."""
    a = x.clone().requires_grad_(True)
    hs = []
    for w, b in zip(weights, biases):
        h = a @ w.T + b
        h.retain_grad()
        hs.append(h)
        a = torch.tanh(h)
    (u * a).sum().backward()
    return torch.stack([torch.log10(h.grad.norm(dim=1)).mean() for h in hs])


def torch_mlp_loop(torch: Any, configs: list[tuple[float, float]], depth: int, width: int, batch: int,
                   seed: int = 0) -> list:
    """One configuration at a time, fresh Gaussian weights per configuration and layer."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for sigma_w, sigma_b in configs:
        x = torch.randn(batch, width, generator=gen)
        u = torch.randn(batch, width, generator=gen)
        weights = [torch.randn(width, width, generator=gen) * (sigma_w / width**0.5) for _ in range(depth)]
        biases = [torch.randn(width, generator=gen) * sigma_b for _ in range(depth)]
        out.append(torch_mlp_log10_norms(torch, weights, biases, x, u))
    return out


def torch_cell_loop(torch: Any, cell: str, steps: int, width: int, batch: int,
                    weights: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Per-step log10 |dl/dh_t| with PyTorch's LSTMCell or GRUCell in a Python loop (retain_grad).

    With ``weights`` (from ``gradatlas.materialize``, float64) it reproduces that run;
    otherwise it draws fresh float32 weights and inputs.
    """
    dtype = torch.float64 if weights is not None else torch.float32
    module = (torch.nn.LSTMCell if cell == "lstm" else torch.nn.GRUCell)(width, width).to(dtype)
    if weights is not None:
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(module, name).copy_(torch.from_numpy(weights[name]))
        inputs = torch.from_numpy(weights["inputs"])
        u = torch.from_numpy(weights["projections"][-1])
    else:
        inputs = torch.randn(steps, batch, width, dtype=dtype)
        u = torch.randn(batch, width, dtype=dtype)
    h = torch.zeros(batch, width, dtype=dtype, requires_grad=True)
    state = (h, torch.zeros(batch, width, dtype=dtype)) if cell == "lstm" else h
    hs = [h]
    for t in range(steps):
        state = module(inputs[t], state)
        out = state[0] if cell == "lstm" else state
        out.retain_grad()
        hs.append(out)
    (hs[-1] * u).sum().backward()
    with np.errstate(divide="ignore"):  # float32 gradients underflow to 0 over long unrolls
        return np.array([np.log10(x.grad.norm(dim=1).numpy()).mean() for x in hs])


# --- the workloads ---------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    width: int
    length: int  # depth or steps
    batch: int
    sigma_w: tuple[float, ...]
    sigma_b: tuple[float, ...]
    cell: str | None = None  # None: feed-forward tanh MLP
    spec: Any = None  # a ConvNet or Transformer run alone (width, length, sigmas unused)

    @property
    def configs(self) -> int:
        return len(self.sigma_w) * len(self.sigma_b)

    @property
    def description(self) -> str:
        if self.spec is not None:
            s = self.spec
            if hasattr(s, "channels"):
                return f"ConvNet {s.channels} ch {s.image_size}^2 x {s.depth}, B={self.batch}, {s.init}"
            return f"Transformer d={s.width} x {s.depth} blocks, T={s.seq_len}, B={self.batch}"
        if self.cell is None:
            return (f"tanh MLP {self.width} x {self.length}, B={self.batch}, "
                    f"{len(self.sigma_w)} x {len(self.sigma_b)} configurations")
        return f"{self.cell.upper()} {self.width}, T={self.length}, B={self.batch}, {self.configs} configuration(s)"

    def scaled(self, factor: int) -> Workload:
        """The same workload with length (and W3's grid) divided by ``factor``, for a quick look."""
        sw = self.sigma_w[:: max(1, factor // 2)] if len(self.sigma_w) > 8 else self.sigma_w
        spec = None if self.spec is None else self.spec.replace(depth=max(2, self.spec.depth // factor))
        return dataclasses.replace(self, length=max(2, self.length // factor), sigma_w=sw, spec=spec)

    def useful_flops(self) -> float:
        """The products a user's framework would run too: forward and backward (data; weights for
        the transformer, whose weight gradients gradatlas forms as products)."""
        n, b = self.width, self.batch
        s = self.spec
        if s is not None and hasattr(s, "channels"):
            return 4.0 * b * s.image_size**2 * s.channels * s.fan_in * s.depth
        if s is not None:
            return 6.0 * b * s.seq_len * (4 * s.width**2 + 2 * s.width * s.mlp_width) * s.depth
        if self.cell is None:
            return 4.0 * b * n * n * self.length * self.configs
        return 6.0 * b * 4 * n * n * self.length * self.configs

    def run(self, n_threads: int) -> Any:
        from .simulate import simulate
        from .sweep import sweep

        if self.spec is not None:
            return simulate(self.spec, batch=self.batch, n_threads=n_threads, progress=None)

        common: dict[str, Any] = dict(width=self.width, batch=self.batch, sigma_w=list(self.sigma_w), init=None,
                      sigma_b=list(self.sigma_b), progress=False, n_threads=n_threads)
        if self.cell is None:
            return sweep(depth=self.length, **common)
        return sweep(cell=self.cell, steps=self.length, **common)

    def numpy_reference(self, repeats: int) -> float:
        s = self.spec
        if s is not None and hasattr(s, "channels"):  # im2col rows x K^2 C, times K^2 C x C
            return numpy_sgemm_gflops(self.batch * s.image_size**2, s.fan_in, repeats, cols=s.channels)
        if s is not None:  # tokens x d, times d x m (the MLP's first product)
            return numpy_sgemm_gflops(self.batch * s.seq_len, s.width, repeats, cols=s.mlp_width)
        rows = self.batch * self.configs if self.cell is None else self.batch
        return numpy_sgemm_gflops(rows, self.width, repeats, cols=None if self.cell is None else 4 * self.width)

    def run_torch(self, torch: Any) -> Any:
        if self.spec is not None:
            return torch_module_profile(self.spec, self.batch)
        configs = [(sw, sb) for sw in self.sigma_w for sb in self.sigma_b]
        if self.cell is None:
            return torch_mlp_loop(torch, configs, self.length, self.width, self.batch)
        return [torch_cell_loop(torch, self.cell, self.length, self.width, self.batch) for _ in configs]


WORKLOADS: dict[str, Workload] = {
    w.name: w for w in (
        Workload("W1", 256, 1000, 16,
                 (0.8, 1.0, 1.3, 1.6), (0.0, 0.05, 0.1, 0.2)),
        Workload("W2", 512, 1000, 32,
                 (0.8, 1.0, 1.3, 1.6), (0.05,)),
        Workload("W3", 256, 500, 8,
                 tuple(np.round(np.linspace(0.5, 3.0, 64), 6).tolist()),
                 (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)),
        Workload("R1", 256, 10_000, 16, (1.0,), (0.0,), cell="lstm"),
        Workload("C1", 0, 0, 8, (), (), spec=ConvNet(depth=200, channels=64, image_size=16, init="delta_orthogonal")),
        Workload("T1", 0, 0, 8, (), (), spec=Transformer(depth=50, width=256, heads=4, seq_len=32)),
    )
}


_TORCH_NETS: dict[Any, Any] = {}


def torch_module_profile(spec: Any, batch: int) -> Any:
    """What a PyTorch user runs for the same profile: ``to_torch``'s module (its weights built once,
    outside the timing after the first call), forward, backward, retained gradients' norms."""
    from .torch_export import to_torch

    key = (spec, batch)
    if key not in _TORCH_NETS:
        _TORCH_NETS[key] = to_torch(spec, batch=batch, seed=0, dtype="float32")
    net = _TORCH_NETS[key]
    net.zero_grad()
    net.loss(net()).backward()
    kept = net.streams if hasattr(net, "streams") else net.preactivations
    return [h.grad.flatten(1).norm(dim=1).log10().mean().item() for h in kept]


@dataclasses.dataclass
class Result:
    workload: Workload
    seconds: float
    useful_gflops: float
    numpy_gflops: float
    torch_seconds: float | None = None

    @property
    def sgemm_ratio(self) -> float:
        return self.useful_gflops / self.numpy_gflops

    @property
    def torch_speedup(self) -> float | None:
        return None if self.torch_seconds is None else self.torch_seconds / self.seconds


def run_benchmarks(names: list[str] | None = None, *, repeats: int = 3, n_threads: int | None = None,
                   quick: bool = False, with_torch: bool = True,
                   report: Callable[[Result], Any] | None = None) -> list[Result]:
    """Time the standard workloads (all, or ``names``); ``quick`` divides their length by 10.

    PyTorch columns are filled when ``with_torch`` and PyTorch is installed.
    """
    from . import max_threads

    repeats = v.integer("repeats", repeats, minimum=1, maximum=100)
    n_threads = v.threads(n_threads, max_threads(), stacklevel=3)
    chosen = list(WORKLOADS) if names is None else [v.choice("workload", n, [k.lower() for k in WORKLOADS]).upper()
                                                    for n in names]
    torch = _torch(n_threads) if with_torch else None
    results = []
    for name in chosen:
        w = WORKLOADS[name].scaled(10) if quick else WORKLOADS[name]
        seconds = median_time(functools.partial(w.run, n_threads), repeats)
        result = Result(w, seconds, w.useful_flops() / seconds / 1e9, w.numpy_reference(repeats))
        if torch is not None:
            result.torch_seconds = median_time(functools.partial(w.run_torch, torch), repeats)
        results.append(result)
        if report is not None:
            report(result)
    return results


def _torch(n_threads: int) -> Any:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(n_threads)
    return torch


HEADER = (f"{'workload':4s} {'description':48s} {'seconds':>8s} {'useful GF/s':>11s} {'numpy GF/s':>10s} "
          f"{'of sgemm':>8s} {'torch s':>8s} {'x torch':>7s}")


def format_row(r: Result) -> str:
    torch = "" if r.torch_seconds is None else f" {r.torch_seconds:8.2f} {r.torch_speedup:7.2f}"
    return (f"{r.workload.name:4s} {r.workload.description:48s} {r.seconds:8.2f} {r.useful_gflops:11.1f} "
            f"{r.numpy_gflops:10.1f} {r.sgemm_ratio:8.2f}{torch}")

# --- every ISA level in one run (``gradatlas bench --isa-levels``, benchmarks/isa_levels.py) ---

ISA_LEVELS = ("avx512", "avx2", "generic")

PROBE = r"""
import json, sys, time
import numpy as np
import gradatlas as ga
from gradatlas import _core
from gradatlas.bench import WORKLOADS, median_time, numpy_sgemm_gflops

repeats, quick = int(sys.argv[1]), sys.argv[2] == "1"
out = {"isa": _core.kernel_isa(), "blas": ga.blas_config(), "kernels": {}, "workloads": {}}
rng = np.random.default_rng(0)
a = rng.standard_normal((256, 256)).astype(np.float32)
b = rng.standard_normal((256, 256)).astype(np.float32)
flops = 2 * 256**3
for threads in (1, 2):
    nn = median_time(lambda: [_core.det_gemm(a, b, False, threads) for _ in range(20)], repeats) / 20
    nt = median_time(lambda: [_core.det_gemm(a, b, True, threads) for _ in range(20)], repeats) / 20
    ref = numpy_sgemm_gflops(256, 256, repeats)  # numpy with its own threads (both cores)
    out["kernels"][f"products_{threads}t"] = {"nn_gflops": flops / nn / 1e9, "nt_gflops": flops / nt / 1e9,
                                              "numpy_gflops": ref}
for dtype in ("float32", "float64"):
    t = median_time(lambda: _core.standard_weights(dtype, 9, 0, 3, 1024, 1024), repeats)
    out["kernels"][f"normals_{dtype}_ns"] = t / 1024**2 * 1e9
for name, w in WORKLOADS.items():
    w = w.scaled(10) if quick and name == "R1" else w
    seconds = median_time(lambda: w.run(2), repeats)
    useful = w.useful_flops() / seconds / 1e9
    out["workloads"][name] = {"description": w.description, "seconds": seconds, "useful_gflops": useful,
                              "numpy_gflops": w.numpy_reference(repeats)}
print(json.dumps(out))
"""


def supported_isa_levels() -> list[str]:
    from . import _core

    best = _core.kernel_isa()
    return list(ISA_LEVELS[ISA_LEVELS.index(best):])


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_isa_level(level: str, repeats: int, quick: bool) -> dict:
    env = {**os.environ, "GRADATLAS_MAX_ISA": level}
    done = subprocess.run([sys.executable, "-c", PROBE, str(repeats), "1" if quick else "0"], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def isa_levels(levels: list[str] | None = None, *, repeats: int = 3, quick: bool = False,
               report: Callable[[str, dict], Any] | None = None) -> dict[str, Any]:
    """Run the kernels and workloads at each level (default: every level this CPU supports), each in a
    subprocess with GRADATLAS_MAX_ISA set; ``report(level, result)`` is called as each finishes."""
    repeats = v.integer("repeats", repeats, minimum=1, maximum=100)
    chosen = supported_isa_levels() if levels is None else [v.choice("level", x, ISA_LEVELS) for x in levels]
    results: dict[str, Any] = {}
    for level in chosen:
        results[level] = run_isa_level(level, repeats, quick)
        if report is not None:
            report(level, results[level])
    return {"cpu": cpu_name(), "quick": quick, "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
            "levels": results}


def format_isa_level(level: str, r: dict[str, Any]) -> str:
    lines = [f"== {level} (ran as {r['isa']}; numpy: {r['blas']})"]
    for threads in (1, 2):
        k = r["kernels"][f"products_{threads}t"]
        lines.append(f"  products 256^3 float32, {threads} thread(s): NN {k['nn_gflops']:6.1f} GF/s, "
                     f"NT {k['nt_gflops']:6.1f} GF/s; numpy sgemm {k['numpy_gflops']:6.1f} GF/s "
                     f"(NN {k['nn_gflops'] / k['numpy_gflops']:.2f} of it)")
    lines.append(f"  normals: float32 {r['kernels']['normals_float32_ns']:.2f} ns/draw, "
                 f"float64 {r['kernels']['normals_float64_ns']:.2f} ns/draw")
    for name, w in r["workloads"].items():
        lines.append(f"  {name:3s} {w['description']:48s} {w['seconds']:8.2f} s {w['useful_gflops']:7.1f} GF/s "
                     f"({w['useful_gflops'] / w['numpy_gflops']:.2f} of numpy's {w['numpy_gflops']:.0f})")
    return "\n".join(lines)
