"""SHA-256 digests of every engine output over a fixed set of specs, at one ISA level.

The set covers every activation, initialization, normalization, residual
setting, recurrent cell, loss, loss position, dtype, the memory plans
(checkpointed, weights drawn again, depth heads across segments), batches
past 256, cells without inputs, non-finite runs (a depth head short of the
overflow too) and the training runs (each optimizer and clipping mode). The
expected digests were recorded with the build before the block-engine work
(commit 71beb0f); the convolutional cases (conv/*) with the build that added
convolutions (conv/bottleneck* with the one that added bottlenecks, conv/c2f* with
the one that added C2f blocks), the
transformer cases (transformer/*) with the one that added transformers. Any
change to the engines must keep these digests unless an issue says otherwise;
``tests/test_engine_digests.py`` runs this script at each level the CPU has
(``GRADATLAS_MAX_ISA``) and compares with ``tests/engine_digests.json``.

    GRADATLAS_MAX_ISA=avx2 python tests/engine_digests.py            # print them
    python tests/engine_digests.py --write                          # re-record (only on purpose)

The FMA levels (avx2, avx512, aarch64) share one set of digests and the
unfused x86-64 baseline (generic) has its own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import sys

import numpy as np

import gradatlas as ga
from gradatlas import _core, _runner
from gradatlas.simulate import run_specs

EXPECTED = pathlib.Path(__file__).with_name("engine_digests.json")


def digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def mlp_cases() -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    base = ga.MLP(depth=7, width=33, init=None, sigma_w=1.3, sigma_b=0.2)  # 33: partial tiles
    for dtype in ("float32", "float64"):
        acts = [base.replace(activation=a) for a in sorted(ga.ACTIVATIONS)]
        out[f"mlp/activations/{dtype}"] = run_specs(acts, batch=5, seed=1, dtype=dtype, n_threads=2)
        variants = [base.replace(norm="layer", activation="gelu"),
                    base.replace(norm="batch", activation="relu"),
                    base.replace(residual=True, alpha=0.3, activation="silu"),
                    base.replace(residual=True, norm="layer", activation="tanh"),
                    base.replace(activation="relu", sigma_b=0.0),  # homogeneous: forward in log space
                    base.replace(activation="leaky_relu", negative_slope=0.2, sigma_b=0.0)]
        for loss in ("projection", "sum_squares"):
            out[f"mlp/architectures/{loss}/{dtype}"] = run_specs(variants, batch=4, seed=2, dtype=dtype,
                                                                 loss=loss, n_threads=2)
    for init in sorted(ga.INITS):
        spec = ga.MLP(depth=5, widths=(12, 20, 20, 9, 20, 16), init=init, activation="tanh")
        out[f"mlp/init/{init}"] = run_specs([spec], batch=3, seed=3, dtype="float64", n_threads=1)
    deep = [base.replace(depth=40, activation=a) for a in ("tanh", "relu")]
    out["mlp/checkpointed"] = run_specs(deep, batch=4, seed=4, checkpoint_every=9, n_threads=2)
    exploding = ga.MLP(depth=60, width=16, activation="relu", init=None, sigma_w=8.0, sigma_b=1.0)
    out["mlp/nonfinite"] = run_specs([exploding], batch=2, seed=5, n_threads=1)
    # A depth axis: one forward pass, one backward pass per depth (heads).
    sweep = ga.sweep(depth=[3, 8], sigma_w=[0.9, 1.7], width=24, init=None, batch=4, seeds=[6],
                     progress=False, n_threads=2)
    out["mlp/sweep_heads"] = {k: sweep[k].values for k in ("log10_grad_norm", "log10_weight_grad_norm", "q")}
    out["mlp/batch_over_256"] = run_specs([base.replace(width=8, depth=3)], batch=260, seed=7, n_threads=2)
    heads = ga.sweep(depth=[3, 60], width=16, activation="relu", init=None, sigma_w=8.0, sigma_b=1.0, batch=2,
                     seeds=[5], progress=False, n_threads=1)  # the shallow head stops before the overflow
    out["mlp/nonfinite_heads"] = _profiles(heads)
    budget = _runner.STORE_BUDGET
    try:
        # Activations kept, every random matrix drawn again going back.
        _runner.STORE_BUDGET = 1 << 20
        wide = [ga.MLP(depth=30, width=130, activation=a, norm=n, init=None, sigma_w=1.5, sigma_b=0.2)
                for a, n in (("tanh", None), ("gelu", "batch"), ("sigmoid", "layer"))]
        out["mlp/weights_drawn_again"] = run_specs(wide, batch=4, seed=8, n_threads=2)
        # Checkpointed segments with several depth heads and batch norm.
        _runner.STORE_BUDGET = 1 << 15
        segmented = ga.sweep(depth=[5, 13, 40], norm=[None, "batch"], width=24, init=None, sigma_w=1.2,
                             sigma_b=0.1, batch=4, seeds=[9], progress=False, n_threads=2)
        out["mlp/heads_in_segments"] = _profiles(segmented)
    finally:
        _runner.STORE_BUDGET = budget
    return out


def _profiles(ds) -> dict[str, np.ndarray]:
    # The finite-width theory columns came after these digests were recorded: theory, not engine output.
    return {k: ds[k].values for k in ds.data_vars if k != "regime" and not k.startswith("finite_width")}


def recurrent_cases() -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    for dtype in ("float32", "float64"):
        rnns = [ga.RNN(steps=9, width=20, input_width=7, activation=a, init=None, sigma_w=1.1, sigma_b=0.1)
                for a in sorted(ga.ACTIVATIONS)]
        out[f"rnn/activations/{dtype}"] = run_specs(rnns, batch=3, seed=7, dtype=dtype, n_threads=2)
        for cell in ("lstm", "gru"):
            cls = {"lstm": ga.LSTM, "gru": ga.GRU}[cell]
            specs = [cls(steps=9, width=20, input_width=7, sigma_w=s, h0_std=0.3, loss_at=at)
                     for s in (0.8, 1.6) for at in ("last", "every")]
            for loss in ("projection", "sum_squares"):
                out[f"{cell}/{loss}/{dtype}"] = run_specs(specs, batch=3, seed=8, dtype=dtype, loss=loss,
                                                          n_threads=2)
    for init in ga.RECURRENT_INITS:
        out[f"rnn/init/{init}"] = run_specs([ga.RNN(steps=6, width=10, init=init)], batch=2, seed=9,
                                            dtype="float64", n_threads=1)
    long = [ga.LSTM(steps=50, width=16, sigma_w=s, loss_at="every") for s in (1.0, 2.0)]
    out["lstm/checkpointed"] = run_specs(long, batch=2, seed=10, checkpoint_every=7, n_threads=2)
    for name, cls in (("rnn", ga.RNN), ("gru", ga.GRU)):
        specs = [cls(steps=50, width=16, sigma_w=s, loss_at="every", h0_std=0.2) for s in (1.0, 2.0)]
        out[f"{name}/checkpointed"] = run_specs(specs, batch=2, seed=10, checkpoint_every=7, n_threads=2)
        # No inputs (sigma_u = 0): the cells take their other pre-activation path.
        quiet = [cls(steps=12, width=16, sigma_u=0.0, sigma_b=0.3, h0_std=1.0, sigma_w=s) for s in (0.9, 1.3)]
        out[f"{name}/no_inputs"] = run_specs(quiet, batch=3, seed=11, n_threads=2)
    out["lstm/no_inputs"] = run_specs([ga.LSTM(steps=12, width=16, sigma_u=0.0, h0_std=1.0)], batch=3, seed=11)
    exploding = ga.RNN(steps=400, width=32, activation="relu", sigma_w=4.0, init=None)
    out["rnn/nonfinite"] = run_specs([exploding], batch=4, seed=12, n_threads=1)
    return out


def conv_cases() -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    for padding in ("zeros", "circular"):
        base = ga.ConvNet(depth=5, channels=5, image_size=6, padding=padding, init=None, sigma_w=1.4, sigma_b=0.1)
        variants = [base, base.replace(norm="batch", activation="relu"), base.replace(residual=True, norm="layer")]
        for dtype in ("float32", "float64"):
            out[f"conv/{padding}/{dtype}"] = run_specs(variants, batch=3, seed=13, dtype=dtype, n_threads=2)
    deep = ga.ConvNet(depth=30, channels=4, image_size=5, init="delta_orthogonal", kernel_size=5)
    out["conv/delta_orthogonal_checkpointed"] = run_specs([deep], batch=2, seed=14, checkpoint_every=7)
    bottleneck = ga.ConvNet(depth=6, channels=8, image_size=4, block="bottleneck", residual=True, sigma_b=0.1)
    variants = [bottleneck, bottleneck.replace(norm="batch", activation="silu"),
                bottleneck.replace(activation="relu", sigma_b=0.0, padding="circular")]
    for dtype in ("float32", "float64"):
        out[f"conv/bottleneck/{dtype}"] = run_specs([v for v in variants if v.padding == "zeros"], batch=3,
                                                    seed=18, dtype=dtype, n_threads=2)
        out[f"conv/bottleneck/circular/{dtype}"] = run_specs(variants[2:], batch=3, seed=18, dtype=dtype,
                                                             checkpoint_every=2)
    c2f = ga.ConvNet(depth=12, channels=8, image_size=4, block="c2f", bottlenecks=2, norm="batch", activation="silu",
                     residual=True, sigma_b=0.1)
    variants = [c2f, c2f.replace(residual=False, norm="layer", activation="gelu"),
                c2f.replace(norm=None, activation="leaky_relu", sigma_b=0.0)]
    for dtype in ("float32", "float64"):
        out[f"conv/c2f/{dtype}"] = run_specs(variants, batch=3, seed=19, dtype=dtype, n_threads=2, checkpoint_every=6)
    return out


def transformer_cases() -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    base = ga.Transformer(depth=3, width=12, heads=3, seq_len=5, sigma_b=0.1, mlp_ratio=2)
    variants = [base, base.replace(norm="post", norm_kind="rms", causal=True, alpha=0.7),
                base.replace(norm="deepnorm", activation="relu"), base.replace(norm="none", activation="tanh", q0=2.0)]
    for dtype in ("float32", "float64"):
        for loss in ("projection", "sum_squares"):
            out[f"transformer/{dtype}/{loss}"] = run_specs(variants, batch=3, seed=15, dtype=dtype, loss=loss,
                                                            n_threads=2)
    deep = ga.Transformer(depth=20, width=8, heads=2, seq_len=4, attention=True)
    out["transformer/checkpointed"] = run_specs([deep, deep.replace(attention=True, norm="post")], batch=2,
                                                seed=16, checkpoint_every=7)
    mlp_only = ga.Transformer(depth=6, width=8, heads=1, seq_len=3, attention=False, norm="none", init=None,
                              sigma_w=1e5, activation="relu")  # overflows at sublayer 4 in float32
    out["transformer/nonfinite"] = run_specs([mlp_only], batch=2, seed=17, n_threads=1)
    return out


def training_cases() -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    spec = ga.MLP(depth=4, width=16, activation="tanh", sigma_b=0.1)
    runs = {"sgd": {}, "momentum": {"optimizer": "momentum"}, "adam": {"optimizer": "adam", "lr": 1e-3},
            "clip_norm": {"clip": {"norm": 0.5}}, "clip_value": {"clip": {"value": 1e-3}},
            "residual_float64": {"dtype": "float64"}}
    for name, kwargs in runs.items():
        s = spec.replace(residual=True, alpha=0.5) if name == "residual_float64" else spec
        ds = ga.train(s, steps=6, batch=4, seed=11, n_threads=1, **kwargs)
        out[f"train/{name}"] = {k: ds[k].values for k in ds.data_vars}
    return out


def digests() -> dict[str, str]:
    cases = {**mlp_cases(), **recurrent_cases(), **conv_cases(), **transformer_cases(), **training_cases()}
    return {name: digest(arrays) for name, arrays in sorted(cases.items())}


def level_class(isa: str) -> str:
    return "generic" if isa == "generic" else "fma"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record this level's digests as the expected ones")
    args = parser.parse_args()
    isa = _core.kernel_isa()
    got = digests()
    if args.write:
        expected = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}
        expected[level_class(isa)] = got
        EXPECTED.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    json.dump({"isa": isa, "digests": got}, sys.stdout, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
