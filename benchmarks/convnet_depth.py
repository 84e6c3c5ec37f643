"""A very deep vanilla CNN: time and peak memory (issue #16's scale target).

    /usr/bin/time -v python benchmarks/convnet_depth.py [--depth 10000] [--channels 64] [--image-size 16]

Prints the run time, the gradient's total change and the kernels used; the peak
resident memory is /usr/bin/time's "Maximum resident set size".
"""

from __future__ import annotations

import argparse
import time

import gradatlas as ga
from gradatlas import _core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=10_000)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--init", default="delta_orthogonal")
    args = parser.parse_args()
    spec = ga.ConvNet(depth=args.depth, channels=args.channels, image_size=args.image_size, init=args.init)
    print(f"{spec}, batch {args.batch}: {ga.plan_sweep(spec, batch=args.batch)}")
    start = time.perf_counter()
    ds = ga.simulate(spec, batch=args.batch, seed=0)
    print(f"{time.perf_counter() - start:.1f} s; total_log10_ratio {float(ds.total_log10_ratio):.3f} "
          f"({ds.regime.item()}); kernels {_core.kernel_isa()}; {ga.blas_config()}")


if __name__ == "__main__":
    main()
