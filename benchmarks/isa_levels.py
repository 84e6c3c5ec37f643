"""Every kernel and workload at every ISA level this CPU supports, beside numpy's sgemm, in one run.

Each level runs in a subprocess with GRADATLAS_MAX_ISA set (the same compiled
code a CPU of that level would pick) and measures, in that one process:

- the products (``_core.det_gemm``, NN and NT, 256^3 float32) on 1 and 2 threads,
  with numpy's float32 matmul of the same shape beside them;
- the Philox normals (float32 and float64), ns per draw;
- W1, W2, W3 (the feed-forward tanh sweeps of ``gradatlas bench``) and R1 (LSTM,
  width 256, B = 16, T = 10,000; T = 1,000 with --quick), in useful GF/s beside
  numpy's sgemm of the same inner size.

Ratios within a level are the result (these machines are shared); the output
says which CPU, which level and which kernel numpy's OpenBLAS ran. To compare
with numpy's Haswell kernels on an AVX-512 machine, run this one command as
``OPENBLAS_CORETYPE=Haswell python benchmarks/isa_levels.py`` (and say so).
The same runs as ``gradatlas bench --isa-levels``.

    python benchmarks/isa_levels.py [--quick] [--repeats 3] [--levels avx2,generic] [--json PATH]

Results go to benchmarks/results/isa-levels-<cpu>-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
from pathlib import Path

from gradatlas.bench import cpu_name, format_isa_level, isa_levels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="R1 with 1,000 steps instead of 10,000")
    parser.add_argument("--levels", default=None, help="comma list (default: every level this CPU supports)")
    parser.add_argument("--json", default=None, help="where to write the results (default benchmarks/results/)")
    args = parser.parse_args()
    cpu = cpu_name()
    print(f"CPU: {cpu}")
    results = isa_levels(args.levels.split(",") if args.levels else None, repeats=args.repeats, quick=args.quick,
                         report=lambda level, r: print(format_isa_level(level, r), flush=True))
    slug = re.sub(r"[^a-z0-9]+", "-", cpu.lower()).strip("-")
    path = Path(args.json) if args.json else (Path(__file__).parent / "results" /
                                              f"isa-levels-{slug}-{datetime.date.today().isoformat()}.json")
    path.write_text(json.dumps(results, indent=1))
    print(f"written: {path}")


if __name__ == "__main__":
    main()
