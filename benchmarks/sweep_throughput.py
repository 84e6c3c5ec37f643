"""Sweep throughput with common random numbers on and off, beside numpy's sgemm.

A 64-configuration phase diagram (8 sigma_w x 8 sigma_b, tanh, width 256,
depth 200, batch 8 by default). Reports configurations per second and useful
GFLOP/s (4 B n^2 L per configuration) next to numpy's float32 matmul of the
same inner size, all measured in one run; the ratio is what to compare across
machines.

    python benchmarks/sweep_throughput.py [--depth 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import gradatlas as ga
from gradatlas.bench import median_time, numpy_sgemm_gflops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--depth", type=int, default=200)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--grid", type=int, default=8, help="values per axis (configurations = grid^2)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    grid = dict(sigma_w=np.round(np.linspace(0.6, 2.4, args.grid), 4),
                sigma_b=np.round(np.linspace(0, 0.5, args.grid), 4),
                init=None, depth=args.depth, width=args.width, batch=args.batch, progress=False)
    configs = args.grid**2
    flops = 4 * args.batch * args.width**2 * args.depth * configs
    print(f"gradatlas {ga.__version__}; {ga.blas_config()}; threads={ga.max_threads()}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print(f"{configs} configurations, width {args.width}, depth {args.depth}, batch {args.batch}")
    ref = numpy_sgemm_gflops(args.batch * configs, args.width, args.repeats)
    print(f"{'mode':28s} {'seconds':>8s} {'configs/s':>10s} {'useful GF/s':>12s} {'/ numpy sgemm':>14s}")
    for label, crn in (("common random numbers on", True), ("common random numbers off", False)):
        t = median_time(lambda crn=crn: ga.sweep(common_random_numbers=crn, **grid), args.repeats)
        print(f"{label:28s} {t:8.2f} {configs / t:10.1f} {flops / t / 1e9:12.1f} {flops / t / 1e9 / ref:14.2f}")
    print(f"{'numpy sgemm (same run)':28s} {'':8s} {'':10s} {ref:12.1f} {1.0:14.2f}")


if __name__ == "__main__":
    main()
