"""Peak memory and time against depth, up to 100,000 layers (width 256, batch 16).

Each depth runs in a fresh subprocess so that the peak resident set size the
OS reports (VmHWM) belongs to that run alone. Expect memory to grow like
sqrt(depth) (activation checkpoints every ~sqrt(L) layers, weights regenerated)
and time linearly.

    python benchmarks/depth_memory.py [--depths 1000,3000,10000,30000,100000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, time, gradatlas as ga
spec = ga.MLP(depth={depth}, width={width}, activation="tanh", init="xavier_normal")
t0 = time.perf_counter()
ds = ga.simulate(spec, batch={batch}, seed=0, progress=None)
elapsed = time.perf_counter() - t0
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps(dict(seconds=elapsed, peak_kib=peak, total=float(ds.total_log10_ratio),
                      predicted=float(ds.predicted_log10_rate) * ({depth} - 1))))
"""

BASELINE = (
    "import gradatlas, json; print(json.dumps(dict(peak_kib=next(int(l.split()[1]) "
    "for l in open('/proc/self/status') if l.startswith('VmHWM')))))"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="1000,3000,10000,30000,100000")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    base = json.loads(subprocess.run([sys.executable, "-c", BASELINE], capture_output=True, text=True,
                                     check=True).stdout)["peak_kib"]
    print(f"width {args.width}, batch {args.batch}, float32; interpreter + imports alone: {base / 1024:.0f} MiB")
    print(f"{'depth':>8s} {'peak RSS MiB':>13s} {'above imports':>14s} {'seconds':>8s} {'us/layer':>9s} "
          f"{'log10 ratio':>12s} {'mean field':>11s}")
    for depth in (int(d) for d in args.depths.split(",")):
        code = CHILD.format(depth=depth, width=args.width, batch=args.batch)
        out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                        check=True).stdout)
        print(f"{depth:8d} {out['peak_kib'] / 1024:13.0f} {(out['peak_kib'] - base) / 1024:14.0f} "
              f"{out['seconds']:8.2f} {1e6 * out['seconds'] / depth:9.1f} {out['total']:12.2f} "
              f"{out['predicted']:11.2f}")


if __name__ == "__main__":
    main()
