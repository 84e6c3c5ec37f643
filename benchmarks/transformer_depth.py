"""A deep transformer: time and peak memory (issue #16's scale target).

    /usr/bin/time -v python benchmarks/transformer_depth.py [--depth 1000] [--width 256] [--heads 4]
        [--seq-len 32] [--batch 8] [--norm pre,post,deepnorm]

Runs the given norm placements as one group (they share every random matrix)
and prints the run time, each one's gradient change and final token cosine,
and the kernels used; the peak resident memory is /usr/bin/time's
"Maximum resident set size".
"""

from __future__ import annotations

import argparse
import time

import gradatlas as ga
from gradatlas import _core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--norm", default="pre")
    args = parser.parse_args()
    spec = ga.Transformer(depth=args.depth, width=args.width, heads=args.heads, seq_len=args.seq_len)
    norms = args.norm.split(",")
    print(f"{spec}, batch {args.batch}, norm {norms}: {ga.plan_sweep(spec, norm=norms, batch=args.batch)}")
    start = time.perf_counter()
    ds = ga.sweep(spec, norm=norms, batch=args.batch, seeds=[0], progress=False).isel(seed=0)
    print(f"{time.perf_counter() - start:.1f} s; kernels {_core.kernel_isa()}; {ga.blas_config()}")
    for norm in norms:
        point = ds.sel(norm=norm)
        print(f"  {norm:9s} total_log10_ratio {float(point.total_log10_ratio):+.3f} ({point.regime.item()}), "
              f"final token cosine {float(point.final_token_cosine):.3f}")


if __name__ == "__main__":
    main()
