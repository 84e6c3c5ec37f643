"""A 1000 x 1000 (sigma_w, sigma_b) phase diagram: planning time, sweep time, theory's share, peak memory.

    /usr/bin/time -v python benchmarks/large_grid.py [--side 1000] [--depth 3] [--plan-only]

Prints the seconds spent planning, running the engine and assembling the Dataset
(theory included), and the process's peak resident memory; "Maximum resident set
size" from /usr/bin/time -v is the same figure measured from outside.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import gradatlas as ga
from gradatlas import _assemble


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=1000, help="values per axis (points = side^2)")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--plan-only", action="store_true")
    args = parser.parse_args()
    grid = dict(sigma_w=np.linspace(0.5, 3, args.side), sigma_b=np.linspace(0, 0.5, args.side), depth=args.depth,
                width=args.width, batch=args.batch, init=None)
    t0 = time.perf_counter()
    plan = ga.plan_sweep(**grid)
    print(f"plan_sweep: {time.perf_counter() - t0:.1f} s ({plan})")
    if args.plan_only:
        return
    theory_seconds = 0.0
    original = _assemble._mean_field

    def timed(*a, **k):
        nonlocal theory_seconds
        t = time.perf_counter()
        original(*a, **k)
        theory_seconds += time.perf_counter() - t

    _assemble._mean_field = timed
    t0 = time.perf_counter()
    ds = ga.sweep(**grid, progress=False)
    total = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with_theory = int(np.isfinite(ds.chi1).sum())
    print(f"sweep: {total:.1f} s, of which theory {theory_seconds:.1f} s ({theory_seconds / total:.0%}); "
          f"peak RSS {peak:.0f} MiB; {with_theory} points with chi1, complete={ds.attrs['complete']}")


if __name__ == "__main__":
    main()
