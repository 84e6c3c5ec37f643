"""Useful throughput of the engine beside numpy's float32 matmul, measured in one run.

Useful FLOPs per configuration: 4 B n^2 L (forward plus backward to the
pre-activations). The numpy reference multiplies matrices of the same inner size
as the engine's layer products (C*B x n times n x n) with its own OpenBLAS and
threads. Ratios, not absolute times, are the result: these machines are shared.

    python benchmarks/throughput.py [--repeats 3] [--threads 2]

To compare against the true peak, unset the OpenBLAS overrides in that one
command (and say so): env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/throughput.py
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import gradatlas as ga
from gradatlas.bench import median_time, numpy_sgemm_gflops
from gradatlas.simulate import run_specs as run_group

WORKLOADS = {
    # name: (width, depth, batch, configs)
    "W1 (tanh 256 x 1000, B=16, 16 configs)": (256, 1000, 16, 16),
    "W2 (512 x 1000, B=32, 4 configs)": (512, 1000, 32, 4),
    "W3 (256 x 500, B=8, 512 configs)": (256, 500, 8, 512),
}


def specs(width: int, depth: int, configs: int) -> list[ga.MLP]:
    sigma_w = np.linspace(0.8, 1.8, configs)
    return [ga.MLP(depth=depth, width=width, activation="tanh", init=None, sigma_w=float(s), sigma_b=0.05)
            for s in sigma_w]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=ga.max_threads())
    parser.add_argument("--only", default=None, help="run workloads whose name contains this")
    args = parser.parse_args()
    print(f"gradatlas {ga.__version__}; {ga.blas_config()}")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}; threads={args.threads}")
    print(f"{'workload':42s} {'seconds':>8s} {'useful GF/s':>12s} {'numpy sgemm GF/s':>17s} {'ratio':>6s}")
    for name, (width, depth, batch, configs) in WORKLOADS.items():
        if args.only and args.only not in name:
            continue
        group = specs(width, depth, configs)
        t = median_time(lambda group=group, batch=batch: run_group(group, batch=batch, seed=0, n_threads=args.threads),
                        args.repeats)
        useful = 4 * batch * width**2 * depth * configs / t / 1e9
        ref = numpy_sgemm_gflops(batch * configs, width, args.repeats)
        print(f"{name:42s} {t:8.2f} {useful:12.1f} {ref:17.1f} {useful / ref:6.2f}")


if __name__ == "__main__":
    main()
