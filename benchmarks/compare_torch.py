"""gradatlas against the two ways a skilled PyTorch user would write the same sweep on the CPU.

Workload W1: tanh MLPs, width 256, depth 1000, batch 16, 16 configurations
(4 sigma_w x 4 sigma_b), float32, per-layer per-sample norms of dl/dh_l with the
projection loss l_b = u_b . a_L^(b). PyTorch draws fresh Gaussian weights per
configuration and layer inside the timed region, as gradatlas does:

  torch loop : one configuration at a time, tensors with retain_grad, one backward each;
  torch bmm  : all configurations at once with torch.bmm over a configuration axis,
               one autograd call.
  gradatlas  : common random numbers on (one group) and off (one group per
               configuration, independent weights: the statistics PyTorch uses).

First a small float64 case checks that PyTorch, given gradatlas.materialize's
arrays, reproduces gradatlas's numbers. Then each mode runs --repeats times and
the median times are compared as ratios measured in the same run. PyTorch is
optional: pip install torch==2.13.0 (the CPU wheel).

    python benchmarks/compare_torch.py [--repeats 3] [--threads 2] [--depth 1000]
"""

from __future__ import annotations

import argparse

import numpy as np

import gradatlas as ga
from gradatlas.bench import median_time, torch_mlp_log10_norms, torch_mlp_loop

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


def check_agreement() -> float:
    spec = ga.MLP(depth=20, width=32, activation="tanh", init=None, sigma_w=1.3, sigma_b=0.2)
    arrays = ga.materialize(spec, batch=4, seed=3)
    t = lambda a: torch.tensor(a, dtype=torch.float64)
    theirs = torch_mlp_log10_norms(torch, [t(w) for w in arrays["weights"]], [t(b) for b in arrays["biases"]],
                                    t(arrays["inputs"]), t(arrays["projections"])).numpy()
    ours = ga.simulate(spec, batch=4, seed=3, dtype="float64").log10_grad_norm.values
    return float(np.max(np.abs(theirs - ours)))


def torch_bmm(configs, depth, width, batch, seed):
    gen = torch.Generator().manual_seed(seed)
    c = len(configs)
    scale = torch.tensor([sw / width**0.5 for sw, _ in configs]).view(c, 1, 1)
    bias_scale = torch.tensor([sb for _, sb in configs]).view(c, 1, 1)
    a = torch.randn(c, batch, width, generator=gen).requires_grad_(True)
    u = torch.randn(c, batch, width, generator=gen)
    hs = []
    for _ in range(depth):
        w = torch.randn(c, width, width, generator=gen) * scale
        b = torch.randn(c, 1, width, generator=gen) * bias_scale
        h = torch.baddbmm(b, a, w.transpose(1, 2))
        h.retain_grad()
        hs.append(h)
        a = torch.tanh(h)
    (u * a).sum().backward()
    return torch.stack([torch.log10(h.grad.norm(dim=2)).mean(dim=1) for h in hs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    if torch is None:
        raise SystemExit("PyTorch is not installed: pip install torch==2.13.0")
    torch.set_num_threads(args.threads)
    print(f"gradatlas {ga.__version__} ({ga.blas_config()}), torch {torch.__version__}, threads {args.threads}")
    print(f"agreement (float64, depth 20): max |log10 norm difference| = {check_agreement():.2e}")
    sws, sbs = (0.8, 1.0, 1.3, 1.6), (0.0, 0.05, 0.1, 0.2)
    configs = [(sw, sb) for sw in sws for sb in sbs]
    d, n, b = args.depth, args.width, args.batch
    print(f"W1: {len(configs)} configurations, width {n}, depth {d}, batch {b}, float32")
    common = dict(init=None, depth=d, width=n, batch=b, progress=False, n_threads=args.threads)
    times = {
        "gradatlas, common random numbers": median_time(
            lambda: ga.sweep(sigma_w=list(sws), sigma_b=list(sbs), **common), args.repeats),
        "gradatlas, independent weights": median_time(
            lambda: ga.sweep(sigma_w=list(sws), sigma_b=list(sbs), common_random_numbers=False, **common),
            args.repeats),
        "torch loop (retain_grad)": median_time(lambda: torch_mlp_loop(torch, configs, d, n, b, 0), args.repeats),
        "torch bmm (one autograd call)": median_time(lambda: torch_bmm(configs, d, n, b, 0), args.repeats),
    }
    fastest_torch = min(times["torch loop (retain_grad)"], times["torch bmm (one autograd call)"])
    flops = 4 * b * n * n * d * len(configs)
    print(f"{'mode':34s} {'seconds':>8s} {'useful GF/s':>12s} {'faster torch / this':>20s}")
    for name, t in times.items():
        print(f"{name:34s} {t:8.2f} {flops / t / 1e9:12.1f} {fastest_torch / t:20.2f}")


if __name__ == "__main__":
    main()
