"""Recurrent unrolls: steps per second, useful throughput beside numpy's matmul, and PyTorch.

LSTM and GRU, hidden width n = 256, batch B = 16, T = 1,000 and 10,000 steps,
float32, one configuration, the loss on the last state, per-step gradient norms
|dl/dh_t| for every t. Useful FLOPs per step: 4 B G n^2 (the products with W_hh
forward and backward) + 2 B G n n_in (the input product), G = 4 (LSTM) or 3 (GRU).
The numpy reference multiplies matrices of the step's shape (B x n) @ (n x G n).

PyTorch (optional; pip install torch==2.13.0), on the CPU with the same threads:
- "cell loop": torch.nn.LSTMCell / GRUCell unrolled in Python with retain_grad on
  every h_t, the way to get every per-step gradient norm from PyTorch;
- "fused": torch.nn.LSTM / GRU over the whole sequence, one backward call. It does
  not give per-step norms (only dl/d(output) and the input gradient), so it is a
  lower bound on what any PyTorch route with per-step norms costs.
The first run checks that the cell loop and gradatlas agree (float64, small case).

    python benchmarks/recurrent.py [--repeats 3] [--threads 2] [--steps 1000,10000]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import gradatlas as ga
from gradatlas.bench import median_time, numpy_sgemm_gflops, torch_cell_loop

CELLS = {"lstm": (ga.LSTM, 4), "gru": (ga.GRU, 3)}


def gradatlas_run(cell: str, steps: int, width: int, batch: int, threads: int) -> None:
    ga.simulate(CELLS[cell][0](steps=steps, width=width), batch=batch, n_threads=threads)


def torch_fused(torch, cell: str, steps: int, width: int, batch: int) -> None:
    module = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(width, width)
    inputs = torch.randn(steps, batch, width, requires_grad=True)
    out, _ = module(inputs)
    (out[-1] * torch.randn(batch, width)).sum().backward()


def check_agreement(torch) -> float:
    worst = 0.0
    for cell, (cls, _) in CELLS.items():
        spec = cls(steps=30, width=8)
        w = ga.materialize(spec, batch=3)
        expected = torch_cell_loop(torch, cell, 30, 8, 3, weights=w)
        got = ga.simulate(spec, batch=3, dtype="float64").log10_grad_norm.values
        worst = max(worst, float(np.max(np.abs(got - expected))))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=ga.max_threads())
    parser.add_argument("--steps", default="1000,10000")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    print(f"gradatlas {ga.__version__}; {ga.blas_config()}; threads={args.threads}")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    if torch is not None:
        print(f"torch {torch.__version__}; agreement with the cell loop (float64): "
              f"{check_agreement(torch):.1e} decades")
    n, b = args.width, args.batch
    header = (f"{'cell':5s} {'T':>6s} {'seconds':>8s} {'steps/s':>8s} {'useful GF/s':>11s} {'numpy GF/s':>10s} "
              f"{'ratio':>6s}")
    if torch is not None:
        header += f" {'torch loop s':>12s} {'x loop':>7s} {'torch fused s':>13s} {'x fused':>7s}"
    print(header)
    for cell, (_, gates) in CELLS.items():
        ref = numpy_sgemm_gflops(b, n, args.repeats, cols=gates * n)
        for steps in (int(s) for s in args.steps.split(",")):
            t = median_time(lambda c=cell, s=steps: gradatlas_run(c, s, n, b, args.threads), args.repeats)
            useful = (4 * b * gates * n * n + 2 * b * gates * n * n) * steps / t / 1e9
            line = f"{cell:5s} {steps:6d} {t:8.2f} {steps / t:8.0f} {useful:11.1f} {ref:10.1f} {useful / ref:6.2f}"
            if torch is not None:
                loop = median_time(lambda c=cell, s=steps: torch_cell_loop(torch, c, s, n, b), args.repeats)
                fused = median_time(lambda c=cell, s=steps: torch_fused(torch, c, s, n, b), args.repeats)
                line += f" {loop:12.2f} {loop / t:7.2f} {fused:13.2f} {fused / t:7.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
