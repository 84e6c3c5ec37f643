"""A deep transformer's per-sublayer gradient norms: gradatlas against PyTorch doing the same, in one run.

    python benchmarks/compare_torch_transformer.py [--depth 100] [--width 256] [--heads 4] [--seq-len 32]
        [--batch 8] [--norm pre] [--configs 1]

PyTorch (CPU, float32) runs the same encoder (ga.to_torch's weights:
MultiheadAttention and Linear sublayers, LayerNorm without affine), keeps
every residual stream's gradient (retain_grad) and takes their per-sample
norms: what a user writes to get the same profile. With --configs C > 1 the
comparison is a sweep of C values of alpha: gradatlas runs them as one group
(shared matrices, one product per projection), PyTorch runs its module C
times. PyTorch's time includes drawing nothing (the weights are given),
gradatlas's includes drawing every matrix (twice when it checkpoints) and the
weight-gradient norms of every projection, which the PyTorch loop does not
compute. Ratios of the better of --repeats runs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import gradatlas as ga
from gradatlas import _core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--norm", default="pre")
    parser.add_argument("--configs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import torch

    spec = ga.Transformer(depth=args.depth, width=args.width, heads=args.heads, seq_len=args.seq_len,
                          norm=args.norm)
    alphas = list(np.linspace(0.5, 1.0, args.configs)) if args.configs > 1 else [1.0]
    nets = [ga.to_torch(spec.replace(alpha=a), batch=args.batch, seed=0, dtype="float32") for a in alphas]
    torch.set_num_threads(ga.max_threads())

    def with_torch() -> np.ndarray:
        out = []
        for net in nets:
            net.zero_grad()
            net.loss(net()).backward()
            out.append([s.grad.flatten(1).norm(dim=1).log10().mean().item() for s in net.streams])
        return np.array(out)

    def with_gradatlas() -> np.ndarray:
        if len(alphas) == 1:
            return ga.simulate(spec, batch=args.batch, seed=0, progress=None).log10_grad_norm.values[None]
        ds = ga.sweep(spec, alpha=alphas, batch=args.batch, seeds=[0], progress=False)
        return ds.log10_grad_norm.isel(seed=0).values

    times = {}
    profiles = {}
    for name, run in (("gradatlas", with_gradatlas), ("pytorch", with_torch)):
        best = np.inf
        for _ in range(args.repeats):
            start = time.perf_counter()
            profiles[name] = run()
            best = min(best, time.perf_counter() - start)
        times[name] = best
    agree = np.nanmax(np.abs(profiles["gradatlas"] - profiles["pytorch"]))
    print(f"{spec}, batch {args.batch}, {len(alphas)} configuration(s); kernels {_core.kernel_isa()}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"gradatlas {times['gradatlas']:.2f} s, pytorch {times['pytorch']:.2f} s: "
          f"{times['pytorch'] / times['gradatlas']:.2f}x; profiles agree to {agree:.1e} decades (float32)")


if __name__ == "__main__":
    main()
