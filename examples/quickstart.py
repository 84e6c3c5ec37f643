"""A first look: where do gradients vanish or explode in a 500-layer network?

Runs a handful of configurations and prints, for each, the measured change of
the gradient norm from the output to the input next to the mean-field prediction.
"""

import gradatlas as ga

DEPTH, WIDTH, BATCH = 500, 256, 16

CONFIGS = [
    ("tanh, xavier (ordered)", dict(activation="tanh", init="xavier_normal", sigma_b=0.3)),
    ("tanh, critical sigma_w", dict(activation="tanh", init=None,
                                    sigma_w=float(ga.theory.critical_line("tanh", 0.3)), sigma_b=0.3)),
    ("tanh, sigma_w = 2.5 (chaotic)", dict(activation="tanh", init=None, sigma_w=2.5, sigma_b=0.3)),
    ("relu, he_normal", dict(activation="relu", init="he_normal")),
    ("relu, lecun_normal", dict(activation="relu", init="lecun_normal")),
    ("sigmoid, xavier", dict(activation="sigmoid", init="xavier_normal")),
    ("relu, sigma_w = 3 (explodes)", dict(activation="relu", init=None, sigma_w=3.0)),
    ("tanh, residual alpha = 1/sqrt(L)", dict(activation="tanh", init="xavier_normal", residual=True,
                                              alpha=DEPTH**-0.5)),
]


def main() -> None:
    print(f"gradatlas {ga.__version__}: depth {DEPTH}, width {WIDTH}, batch {BATCH}, float32")
    print(f"{'configuration':34s} {'log10 |g_1|/|g_L|':>18s} {'rate/layer':>11s} "
          f"{'mean-field':>11s} {'regime':>10s}")
    for label, settings in CONFIGS:
        ds = ga.simulate(ga.MLP(depth=DEPTH, width=WIDTH, **settings), batch=BATCH, seed=0)
        print(f"{label:34s} {float(ds.total_log10_ratio):18.2f} {float(ds.log10_rate):11.4f} "
              f"{float(ds.predicted_log10_rate):11.4f} {str(ds.regime.values):>10s}")


if __name__ == "__main__":
    main()
