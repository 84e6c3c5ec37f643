"""A deep CNN's per-layer gradient norms: gradatlas against PyTorch doing the same, in one run.

    python benchmarks/compare_torch_conv.py [--depth 1000] [--channels 64] [--image-size 16] [--batch 8]
        [--block plain|bottleneck|c2f]

PyTorch (CPU, float32) runs the same network (ga.to_torch's kernels: tanh,
delta-orthogonal, zeros padding; with --block bottleneck or c2f, YOLO's
Conv-BN-SiLU blocks with their shortcuts, He init), keeps every pre-activation's gradient
(retain_grad) and takes their per-sample norms: what a user writes to get the
same profile. PyTorch's time includes drawing nothing (the kernels are given),
gradatlas's includes drawing every kernel. Ratios of the better of --repeats runs.

"Profiles agree" compares the two float32 runs. Deep Conv-BN-SiLU stacks with
shortcuts are sensitive to rounding: at --block c2f --depth 200 the two differ
by ~0.13 decades, as much as PyTorch's own float32 and float64 runs do, while
gradatlas's and PyTorch's float64 runs agree to 3e-8 decades.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import gradatlas as ga
from gradatlas import _core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--block", choices=("plain", "bottleneck", "c2f"), default="plain")
    args = parser.parse_args()
    import torch

    if args.block == "plain":
        spec = ga.ConvNet(depth=args.depth, channels=args.channels, image_size=args.image_size,
                          init="delta_orthogonal")
    else:
        span = {"bottleneck": 3, "c2f": 4}[args.block]  # convolutions per block (C2f with one bottleneck)
        spec = ga.ConvNet(depth=max(span, args.depth // span * span), channels=args.channels,
                          image_size=args.image_size, block=args.block, norm="batch", activation="silu",
                          residual=True, init="he_normal")
    net = ga.to_torch(spec, batch=args.batch, seed=0, dtype="float32")
    torch.set_num_threads(ga.max_threads())

    def with_torch() -> np.ndarray:
        net.zero_grad()
        net.loss(net()).backward()
        return np.array([h.grad.flatten(1).norm(dim=1).log10().mean().item() for h in net.preactivations])

    def with_gradatlas() -> np.ndarray:
        return ga.simulate(spec, batch=args.batch, seed=0, progress=None).log10_grad_norm.values

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
    print(f"{spec}, batch {args.batch}; kernels {_core.kernel_isa()}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"gradatlas {times['gradatlas']:.2f} s, pytorch {times['pytorch']:.2f} s: "
          f"{times['pytorch'] / times['gradatlas']:.2f}x; profiles agree to {agree:.1e} decades (float32)")


if __name__ == "__main__":
    main()
