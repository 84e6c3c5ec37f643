"""The ``gradatlas`` command: sweep, plot, theory.

    gradatlas sweep --activation tanh,relu --sigma-w 0.5:3:26 --sigma-b 0,0.05,0.3 --depth 200 --out run1
    gradatlas sweep --config sweep.toml
    gradatlas sweep --cell rnn,lstm,gru --steps 1000 --sigma-w 0.5:2:16 --out rnn1
    gradatlas sweep --arch transformer --norm pre,post,deepnorm --depth 12,48,192 --width 128 --out tf1
    gradatlas sweep ... --store run.zarr [--resume] [--workers 4 | --scheduler tcp://host:8786]
    gradatlas plot run1/results.nc
    gradatlas theory --activation tanh --sigma-w 1.0:2.0:5 --sigma-b 0.05
    gradatlas bench [--only W1,R1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .kinds import SETTINGS as KIND_SETTINGS
from .kinds import setting_help, setting_type
from .store import StoreBusyError

# Sweep options, one flag per setting of any kind; their types and help come
# from the spec classes (gradatlas.kinds).
SETTINGS = KIND_SETTINGS
INT_SETTINGS = {n for n in SETTINGS if setting_type(n)[0] == "int"}
FLOAT_SETTINGS = {n for n in SETTINGS if setting_type(n)[0] == "float"}
BOOL_SETTINGS = {n for n in SETTINGS if setting_type(n)[0] == "bool"}
NAME_SETTINGS = {n for n in SETTINGS if setting_type(n)[0] == "name"}
NULLABLE = {n for n in SETTINGS if setting_type(n)[1]}


class UsageError(Exception):
    """Bad command-line input: reported as 'gradatlas: error: ...' with exit code 2."""


def _one(name: str, text: str) -> Any:
    text = text.strip()
    if text.lower() == "none" and name in NULLABLE:
        return None
    if name in NAME_SETTINGS:
        return text
    if name in BOOL_SETTINGS:
        if text.lower() in {"true", "yes", "1"}:
            return True
        if text.lower() in {"false", "no", "0"}:
            return False
        raise UsageError(f"--{name.replace('_', '-')}: expected true or false, got {text!r}")
    if name in INT_SETTINGS:
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"--{name.replace('_', '-')}: expected an integer, got {text!r}") from None
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"--{name.replace('_', '-')}: expected a number, got {text!r}") from None


def parse_values(name: str, text: str) -> Any:
    """'a' -> a single value; 'a,b,c' -> a list; 'start:stop:count' -> evenly spaced (inclusive)."""
    flag = f"--{name.replace('_', '-')}"
    if ":" in text and name in FLOAT_SETTINGS | INT_SETTINGS:
        parts = text.split(":")
        if len(parts) != 3:
            raise UsageError(f"{flag}: a range is start:stop:count, got {text!r}")
        start, stop = _one(name, parts[0]), _one(name, parts[1])
        try:
            count = int(parts[2])
        except ValueError:
            raise UsageError(f"{flag}: the count in start:stop:count must be an integer, got {parts[2]!r}") from None
        if count < 1:
            raise UsageError(f"{flag}: the count in start:stop:count must be >= 1, got {count}")
        values = np.round(np.linspace(start, stop, count), 12)  # 2.9, not 2.9000000000000004
        if name in INT_SETTINGS:
            values = np.unique(values.round().astype(int))
        return [v.item() for v in values]
    if "," in text:
        return [_one(name, part) for part in text.split(",") if part.strip()]
    return _one(name, text)


def _from_toml(path: str) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as f:
            config = tomllib.load(f)
    except OSError as exc:
        raise UsageError(f"--config: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--config: {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"--config: {path} is not UTF-8 text (TOML must be UTF-8): {exc.reason} at byte "
                         f"{exc.start}") from None
    table = config.get("sweep", config)
    if not isinstance(table, dict):
        raise UsageError(f"--config: 'sweep' in {path} must be a table of settings ([sweep]), got {table!r}")
    unknown = set(table) - set(SETTINGS) - {"seeds", "loss", "common_random_numbers", "n_threads", "arch"}
    if unknown:
        raise UsageError(f"--config: unknown settings {sorted(unknown)} in {path}; accepted: "
                         f"{sorted([*SETTINGS, 'arch', 'seeds', 'loss', 'common_random_numbers', 'n_threads'])}")
    if "arch" in table and table["arch"] not in ARCHS:
        raise UsageError(f"--config: arch must be one of {list(ARCHS)}, got {table['arch']!r}")
    return {name: value if name == "arch" else _toml_value(name, value) for name, value in table.items()}


def _toml_value(name: str, value: Any) -> Any:
    """'none' means None as it does on the command line (TOML has no null): init = "none", norm = "none"."""
    if isinstance(value, list):
        return [_toml_value(name, x) for x in value]
    if name in NULLABLE and isinstance(value, str) and value.strip().lower() == "none":
        return None
    return value


def _parse_seeds(text: str) -> Any:
    """--seeds: a count n (seeds 0..n-1) or a comma list of seeds."""
    try:
        if "," in text:
            return [int(part) for part in text.split(",") if part.strip()]
        return int(text)
    except ValueError:
        raise UsageError(f"--seeds: expected a count n (seeds 0..n-1) or a comma list of integers, "
                         f"got {text!r}") from None


def _sweep_settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = _from_toml(args.config) if args.config else {}
    for name in SETTINGS:
        text = getattr(args, name)
        if text is not None:
            settings[name] = parse_values(name, text)
    if args.seeds is not None:
        settings["seeds"] = _parse_seeds(args.seeds)
    if args.loss is not None:
        settings["loss"] = args.loss
    if args.no_crn:
        settings["common_random_numbers"] = False
    if args.threads is not None:
        settings["n_threads"] = args.threads
    return settings


def _plot_axes(axes: list[str], x: str | None, y: str | None) -> tuple[str | None, str | None]:
    """--x and --y ('sigma-w' read as 'sigma_w') checked against the swept axes, before anything runs."""
    chosen: dict[str, str | None] = {"--x": None, "--y": None}
    for flag, value in (("--x", x), ("--y", y)):
        if value is None:
            continue
        key = value.strip().replace("-", "_")
        if len(axes) < 2:
            raise UsageError(f"{flag} {value!r}: the phase diagram needs two swept settings, this sweep has "
                             f"{axes or 'none'}")
        if key not in axes:
            raise UsageError(f"{flag}: {value!r} is not a swept setting; choose one of {axes}")
        chosen[flag] = key
    if chosen["--x"] is not None and chosen["--x"] == chosen["--y"]:
        raise UsageError(f"--x and --y must differ, both are {chosen['--x']!r}")
    return chosen["--x"], chosen["--y"]


def _output_dir(out: Path) -> None:
    """Create --out and prove it writable now, not after the sweep has run."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} exists and is not a directory; give a directory for the results")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".gradatlas-write-test-"):
            pass
    except OSError as exc:
        raise UsageError(f"--out {str(out)!r} is not a writable directory: {exc.strerror or exc}") from None


def _axes_for_plot(ds: Any, x: str | None, y: str | None) -> tuple[str, str] | None:
    axes = [d for d in ds.dims if d not in ("layer", "step", "sublayer", "projection", "seed")]
    if x and y:
        return x, y
    preferred = [a for a in ("sigma_w", "sigma_b", "cell", "steps", "depth", "alpha", "width") if a in axes]
    rest = [a for a in axes if a not in preferred]
    ordered = preferred + rest
    if len(ordered) < 2:
        return None
    x = x or next(a for a in ordered if a != y)  # --y alone: x is the first other axis
    return x, (y or next(a for a in ordered if a != x))


def write_plots(ds: Any, out: Path, x: str | None = None, y: str | None = None) -> list[Path]:
    """The figures of a result: a phase diagram when two axes were swept, and gradient flow."""
    import matplotlib.pyplot as plt

    from . import plot

    written = []
    pair = _axes_for_plot(ds, x, y)
    if pair is not None:
        fig = plot.phase_diagram(ds, x=pair[0], y=pair[1])
        written.append(out / "phase_diagram.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    fig = plot.gradient_flow(ds)
    written.append(out / "gradient_flow.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    return written


def _save(ds: Any, out: Path) -> list[Path]:
    written = []
    try:
        ds.to_netcdf(out / "results.nc")
        written.append(out / "results.nc")
    except (ImportError, ValueError) as exc:
        raise UsageError(f"cannot write NetCDF ({exc}); install a backend: pip install 'gradatlas[io]'") from None
    try:
        import zarr  # noqa: F401
    except ImportError:
        return written
    # Zarr format 2: its fixed-width strings (regime labels) are specified; v3 warns they are not yet.
    ds.to_zarr(out / "results.zarr", mode="w", zarr_format=2)
    written.append(out / "results.zarr")
    return written


ARCHS = ("mlp", "conv", "recurrent", "transformer")
TRANSFORMER_DEPTH = 12  # blocks, when --arch transformer is given without --depth


def _template(arch: str | None, settings: dict[str, Any]) -> tuple[Any, ...]:
    """The template spec ``sweep`` takes for --arch (empty: the keyword shorthand, which picks
    MLP, ConvNet or a recurrent cell from --channels and --cell)."""
    if arch is None:
        from .kinds import KINDS, TRANSFORMER

        others = {name for kind in KINDS if kind is not TRANSFORMER for name in kind.settings}
        own = [name for name in TRANSFORMER.settings if name not in others and name in settings]
        if own:
            raise UsageError(f"--{own[0].replace('_', '-')} applies to transformers: add --arch transformer")
        return ()
    given = "--cell" if settings.get("cell") is not None else "--channels" if settings.get("channels") else None
    wanted = {"recurrent": "--cell", "conv": "--channels"}.get(arch)
    if arch in ("mlp", "transformer") and given:
        raise UsageError(f"--arch {arch} takes no {given}")
    if wanted and given != wanted:
        raise UsageError(f"--arch {arch} needs {wanted}")
    if arch != "transformer":
        return ()
    import gradatlas as ga

    return (ga.Transformer(depth=TRANSFORMER_DEPTH),)


def cmd_sweep(args: argparse.Namespace) -> int:
    import gradatlas as ga

    settings = _sweep_settings(args)
    template = _template(settings.pop("arch", None) if args.arch is None else args.arch, settings)
    run_keys = ("seeds", "loss", "common_random_numbers", "n_threads")
    run_args: dict[str, Any] = {k: settings.pop(k) for k in run_keys if k in settings}
    out = Path(args.out)
    axes = {k: v for k, v in settings.items() if isinstance(v, list)}
    fixed = {k: v for k, v in settings.items() if not isinstance(v, list)}
    print("grid:", file=sys.stderr)
    for name, values in axes.items():
        shown = values if len(values) <= 8 else [*values[:3], "...", *values[-2:]]
        print(f"  {name:15s} {len(values):4d} values: {shown}", file=sys.stderr)
    if fixed:
        print(f"  fixed: {json.dumps(fixed)}", file=sys.stderr)
    x, y = _plot_axes(list(axes), args.x, args.y)
    if (args.resume or args.overwrite) and not args.store:
        raise UsageError(f"--{'resume' if args.resume else 'overwrite'} applies to --store; give --store PATH")
    if args.resume and args.overwrite:
        raise UsageError("--resume continues --store and --overwrite replaces it: give one of them")
    if args.store is not None:
        from .store import MARKERS, check_path

        check_path(args.store, "--store")
        if Path(args.store).exists() and not Path(args.store).is_dir():
            raise UsageError(f"--store {args.store!r} is an existing file, not a store directory; choose another "
                             "path")
        if (Path(args.store) / MARKERS).exists() and not (args.resume or args.overwrite):
            raise UsageError(f"--store {args.store} exists: pass --resume to continue it or --overwrite to replace it")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.workers is not None and args.scheduler:
        raise UsageError("give --scheduler (an existing Dask cluster) or --workers (a local one), not both")
    plan = ga.plan_sweep(*template, **settings, **run_args)
    print(f"estimate: {plan}", file=sys.stderr)
    if args.dry_run:
        return 0
    _output_dir(out)
    if args.store:
        run_args.update(store=args.store, overwrite=args.overwrite)
    if args.chunk_size is not None:
        run_args["chunk_size"] = args.chunk_size
    with _executor(args) as executor:
        if executor is not None:
            run_args["executor"] = executor
        ds = ga.sweep(*template, **settings, **run_args, progress=not args.no_progress)
    written = _save(ds, out)
    written += write_plots(ds, out, x, y)
    for path in written:
        print(path)
    return 0 if ds.attrs.get("complete", 1) else 130


class _executor:
    """A Dask executor for --scheduler or --workers, closed on exit; None without them."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.closers: list[Any] = []

    def __enter__(self) -> Any:
        if not self.args.scheduler and self.args.workers is None:
            return None
        try:
            import distributed
        except ImportError:
            raise UsageError("--scheduler and --workers need Dask: pip install 'gradatlas[distributed]'") from None
        if self.args.scheduler:
            client = distributed.Client(self.args.scheduler)
        else:
            if self.args.workers < 1:
                raise UsageError(f"--workers must be >= 1, got {self.args.workers}")
            # One task per worker process at a time; the core's threads come from --threads.
            cluster = distributed.LocalCluster(n_workers=self.args.workers, threads_per_worker=1, processes=True,
                                               dashboard_address=None)
            self.closers.append(cluster)
            client = distributed.Client(cluster)
        self.closers.insert(0, client)
        return client.get_executor()

    def __exit__(self, *exc: Any) -> None:
        for thing in self.closers:
            thing.close()


def cmd_plot(args: argparse.Namespace) -> int:
    import xarray as xr

    path = Path(args.results)
    if not path.exists():
        raise UsageError(f"no such results file or store: {path}")
    from .store import MARKERS

    try:
        if (path / MARKERS).exists():  # a store written by sweep(store=...)
            from .sweep import open_results

            ds = open_results(path)
        else:
            ds = xr.open_zarr(path) if path.is_dir() else xr.open_dataset(path)
    except Exception as exc:
        raise UsageError(f"cannot read {path} as gradatlas results: {exc}") from None
    with ds:
        ds = ds.load()
    if "log10_grad_norm" not in ds:
        raise UsageError(f"{path} does not hold gradatlas results (no log10_grad_norm)")
    x, y = _plot_axes([str(d) for d in ds.dims if d not in ("layer", "step", "seed")], args.x, args.y)
    out = Path(args.out) if args.out else (path.parent if not path.is_dir() else path.parent)
    _output_dir(out)
    for p in write_plots(ds, out, x, y):
        print(p)
    return 0


def cmd_theory(args: argparse.Namespace) -> int:
    from . import theory
    from .activations import ACTIVATIONS, canonical_activation

    activation = canonical_activation(args.activation)
    if activation not in ACTIVATIONS:
        raise UsageError(f"--activation must be one of {sorted(ACTIVATIONS)}, got {args.activation!r}")
    sigma_b = np.atleast_1d(np.asarray(parse_values("sigma_b", args.sigma_b), dtype=float))
    if args.critical_line:
        sw = theory.critical_line(activation, sigma_b, negative_slope=args.negative_slope)
        print(f"# critical line chi1 = 1 for {activation}")
        print(f"{'sigma_b':>10s} {'sigma_w':>10s} {'sigma_w^2':>10s} {'sigma_b^2':>10s}")
        for b, w in zip(sigma_b, sw):
            print(f"{b:10.4f} {w:10.4f} {w * w:10.4f} {b * b:10.4f}")
        return 0
    sigma_w = np.atleast_1d(np.asarray(parse_values("sigma_w", args.sigma_w), dtype=float))
    sw, sb = np.meshgrid(sigma_w, sigma_b, indexing="ij")
    sw, sb = sw.ravel(), sb.ravel()
    kw = {"negative_slope": args.negative_slope}
    q = theory.q_star(activation, sw, sb, **kw)
    chi = theory.chi1(activation, sw, sb, **kw)
    cs = theory.c_star(activation, sw, sb, **kw)
    cc = theory.chi_c(activation, sw, sb, **kw)
    scales = theory.depth_scales(activation, sw, sb, **kw)
    print(f"# mean field for {activation}: rate = log10(chi1)/2 decades per layer")
    print(f"{'sigma_w':>8s} {'sigma_b':>8s} {'q*':>10s} {'chi1':>9s} {'rate':>9s} {'c*':>8s} {'chi_c':>8s} "
          f"{'xi_q':>9s} {'xi_c':>9s} {'xi_grad':>9s}")
    for i in range(sw.size):
        rate = 0.5 * np.log10(chi[i]) if chi[i] > 0 else -np.inf
        print(f"{sw[i]:8.3f} {sb[i]:8.3f} {q[i]:10.4g} {chi[i]:9.4f} {rate:9.4f} {cs[i]:8.4f} {cc[i]:8.4f} "
              f"{scales['xi_q'][i]:9.3g} {scales['xi_c'][i]:9.3g} {scales['xi_grad'][i]:9.3g}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import os

    import gradatlas as ga

    from . import bench

    names = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    if args.isa_levels:
        print(f"gradatlas {ga.__version__}; CPU: {bench.cpu_name()}; every ISA level it supports, each in a "
              f"subprocess" + ("; quick (R1 with 1,000 steps)" if args.quick else ""), flush=True)
        bench.isa_levels(repeats=args.repeats, quick=args.quick,
                         report=lambda level, r: print(bench.format_isa_level(level, r), flush=True))
        return 0
    print(f"gradatlas {ga.__version__}; {ga.blas_config()}")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; "
          f"threads={args.threads or ga.max_threads()}; median of {args.repeats} run(s)"
          + ("; quick (lengths / 10)" if args.quick else ""))
    torch = None if args.no_torch else bench._torch(args.threads or ga.max_threads())
    print("PyTorch: " + (f"{torch.__version__} (CPU loop with retain_grad, fresh weights)" if torch
                         else "not installed (pip install torch==2.13.0 adds the comparison)"))
    print(bench.HEADER, flush=True)
    bench.run_benchmarks(names, repeats=args.repeats, n_threads=args.threads, quick=args.quick,
                         with_torch=torch is not None, report=lambda r: print(bench.format_row(r), flush=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradatlas", description="Exact maps of vanishing and exploding gradients in very deep networks.")
    parser.add_argument("--version", action="version", version=f"gradatlas {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{sweep,plot,theory,bench}")

    sw = sub.add_parser("sweep", help="run a grid of configurations, write results and a phase diagram",
                        description="Values: a single value, a comma list (tanh,relu) or start:stop:count "
                                    "(0.5:3:26, inclusive). Lists become axes of the result. With --cell "
                                    "(rnn, lstm, gru or a list) the sweep is over recurrent networks "
                                    "unrolled --steps times; --depth, --residual, --alpha, --norm and --q0 "
                                    "are then refused.")
    sw.add_argument("--arch", default=None, choices=ARCHS,
                    help="the network family (default: mlp, or recurrent with --cell, conv with --channels); "
                         f"transformer sweeps gradatlas.Transformer (depth {TRANSFORMER_DEPTH} blocks unless "
                         "--depth is given)")
    sw.add_argument("--config", help="TOML file with the settings (a [sweep] table or top-level keys); "
                                     "flags override it")
    for name in SETTINGS:
        sw.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None, metavar="VALUES",
                        help=setting_help(name).replace("``", "").replace("%", "%%"))
    sw.add_argument("--seeds", default=None, help="number of seeds (n -> 0..n-1) or a comma list")
    sw.add_argument("--loss", default=None, choices=["projection", "sum_squares"])
    sw.add_argument("--no-crn", action="store_true", help="independent random matrices per configuration")
    sw.add_argument("--threads", type=int, default=None)
    sw.add_argument("--out", default="gradatlas-results", help="output directory (default %(default)s)")
    sw.add_argument("--x", default=None, help="phase-diagram x axis (default sigma_w when swept)")
    sw.add_argument("--y", default=None, help="phase-diagram y axis (default sigma_b when swept)")
    sw.add_argument("--store", default=None, help="stream results into this Zarr store as chunks finish "
                                                   "(needs gradatlas[distributed])")
    sw.add_argument("--resume", action="store_true", help="continue the sweep in --store: run only what is missing")
    sw.add_argument("--overwrite", action="store_true", help="replace --store if it holds another sweep")
    sw.add_argument("--scheduler", default=None, help="a Dask scheduler address (tcp://host:port) to run chunks on")
    sw.add_argument("--workers", type=int, default=None, help="run chunks on a local Dask cluster of N processes")
    sw.add_argument("--chunk-size", type=int, default=None, help="points per task and store chunk (default 256)")
    sw.add_argument("--no-progress", action="store_true")
    sw.add_argument("--dry-run", action="store_true", help="print the grid and the estimate, run nothing")
    sw.set_defaults(func=cmd_sweep)

    pl = sub.add_parser("plot", help="draw the figures of a results file (NetCDF or Zarr)")
    pl.add_argument("results")
    pl.add_argument("--out", default=None, help="directory for the PNGs (default: beside the results)")
    pl.add_argument("--x", default=None)
    pl.add_argument("--y", default=None)
    pl.set_defaults(func=cmd_plot)

    th = sub.add_parser("theory", help="mean-field q*, chi1, c*, depth scales, critical line")
    th.add_argument("--activation", default="tanh")
    th.add_argument("--sigma-w", default="1.0", help="values (list or start:stop:count)")
    th.add_argument("--sigma-b", default="0.0", help="values (list or start:stop:count)")
    th.add_argument("--negative-slope", type=float, default=0.01)
    th.add_argument("--critical-line", action="store_true", help="print sigma_w on chi1 = 1 for each sigma_b")
    th.set_defaults(func=cmd_theory)

    be = sub.add_parser("bench", help="time the standard workloads: ratios to numpy's sgemm and PyTorch",
                        description="W1-W3: feed-forward tanh sweeps; R1: an LSTM of 10,000 steps; C1: a "
                                    "200-layer CNN; T1: a 50-block transformer. Ratios measured in one run; "
                                    "PyTorch columns only where PyTorch is installed.")
    be.add_argument("--only", default=None, help="comma list of workloads (W1,W2,W3,R1,C1,T1)")
    be.add_argument("--repeats", type=int, default=3)
    be.add_argument("--threads", type=int, default=None)
    be.add_argument("--quick", action="store_true", help="lengths divided by 10 (a smoke run)")
    be.add_argument("--no-torch", action="store_true", help="skip the PyTorch columns")
    be.add_argument("--isa-levels", action="store_true",
                    help="the products, normals and W1-W3, R1 at every ISA level this CPU supports (avx512, "
                         "avx2, generic), each beside numpy's sgemm")
    be.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        parser.exit(2, f"gradatlas: error: {exc}\n")
    except (ValueError, TypeError, MemoryError, StoreBusyError) as exc:
        parser.exit(2, f"gradatlas: error: {exc}\n")
    except OSError as exc:  # a path that cannot be read or written: its name is in the message
        parser.exit(2, f"gradatlas: error: {exc}\n")
    except KeyboardInterrupt:
        print("gradatlas: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
