"""gradatlas against the same W1 sweep written the way a skilled JAX user would, on the CPU.

Workload W1: tanh MLPs, width 256, depth 1000, batch 16, 16 configurations
(4 sigma_w x 4 sigma_b), float32, per-layer per-sample norms of dl/dh_l with the
projection loss l_b = u_b . a_L^(b). JAX: one jitted function, vmap over the
configurations, lax.scan over the layers, the weights drawn inside the timed
region from jax.random (fold_in of the layer index), dl/dh_l for every layer
from one reverse pass (the gradient with respect to a zero added to each h_l):

  jax shared      : every configuration draws the same W_l (common random numbers)
  jax independent : each configuration its own W_l
  gradatlas       : common random numbers on (one group) and off

First a small float64 case checks that JAX, given gradatlas.materialize's arrays,
reproduces gradatlas's numbers. Then each mode runs --repeats times (after one
call that compiles) and the median times are compared as ratios measured in
the same run. JAX is optional: pip install "jax[cpu]".

    python benchmarks/compare_jax.py [--repeats 3] [--depth 1000]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import gradatlas as ga
from gradatlas.bench import cpu_name, median_time

SIGMA_W = (0.8, 1.0, 1.3, 1.6)
SIGMA_B = (0.0, 0.05, 0.1, 0.2)


def log10_norms(jax, jnp, weights, biases, x, u):
    """log10 of the batch mean of |dl/dh_l| per layer, l_b = u_b . a_L^(b), weights (L, n, n) given."""

    def loss(eps):
        def layer(a, args):
            w, b, e = args
            h = a @ w.T + b + e
            return jnp.tanh(h), None

        a, _ = jax.lax.scan(layer, x, (weights, biases, eps))
        return jnp.sum(u * a)

    grads = jax.grad(loss)(jnp.zeros((weights.shape[0], *x.shape), x.dtype))
    return jnp.mean(jnp.log10(jnp.linalg.norm(grads, axis=-1)), axis=-1)


def make_sweep(jax, jnp, depth: int, width: int, batch: int, shared: bool):
    """jit(vmap over configurations) of one network's per-layer norms, weights drawn inside."""

    def one(key, sigma_w, sigma_b):
        kx, ku, kw = jax.random.split(key, 3)
        x = jax.random.normal(kx, (batch, width), jnp.float32)
        u = jax.random.normal(ku, (batch, width), jnp.float32)

        def loss(eps):
            def layer(a, args):
                l, e = args
                kl = jax.random.fold_in(kw, l)
                k1, k2 = jax.random.split(kl)
                w = jax.random.normal(k1, (width, width), jnp.float32) * (sigma_w / width**0.5)
                b = jax.random.normal(k2, (width,), jnp.float32) * sigma_b
                h = a @ w.T + b + e
                return jnp.tanh(h), None

            a, _ = jax.lax.scan(layer, x, (jnp.arange(depth), eps))
            return jnp.sum(u * a)

        grads = jax.grad(loss)(jnp.zeros((depth, batch, width), jnp.float32))
        return jnp.mean(jnp.log10(jnp.linalg.norm(grads, axis=-1)), axis=-1)

    def sweep(key, sigma_w, sigma_b):
        keys = jnp.broadcast_to(key, (sigma_w.size, *key.shape)) if shared else jax.random.split(key, sigma_w.size)
        return jax.vmap(one)(keys, sigma_w, sigma_b)

    return jax.jit(sweep)


def check_agreement(jax, jnp) -> float:
    spec = ga.MLP(depth=20, width=32, activation="tanh", init=None, sigma_w=1.3, sigma_b=0.2)
    arrays = ga.materialize(spec, batch=4, seed=3)
    theirs = log10_norms(jax, jnp, jnp.asarray(np.stack(arrays["weights"])), jnp.asarray(np.stack(arrays["biases"])),
                         jnp.asarray(arrays["inputs"]), jnp.asarray(arrays["projections"]))
    ours = ga.simulate(spec, batch=4, seed=3, dtype="float64").log10_grad_norm.values
    return float(np.max(np.abs(np.asarray(theirs) - ours)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--depth", type=int, default=1000)
    args = parser.parse_args()
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        raise SystemExit('JAX is not installed: pip install "jax[cpu]"') from None
    jax.config.update("jax_enable_x64", True)  # the agreement check in float64; the sweeps stay float32
    width, batch = 256, 16
    print(f"CPU: {cpu_name()}; gradatlas {ga.__version__} (kernels: {ga._core.kernel_isa()}, "
          f"GRADATLAS_MAX_ISA={os.environ.get('GRADATLAS_MAX_ISA', '(unset)')}); jax {jax.__version__}")
    print(f"agreement with materialize's weights (float64, 20 layers): max |difference| "
          f"{check_agreement(jax, jnp):.2e} decades")
    grid_w, grid_b = (np.repeat(SIGMA_W, len(SIGMA_B)).astype(np.float32),
                      np.tile(SIGMA_B, len(SIGMA_W)).astype(np.float32))
    times = {}
    for shared in (True, False):
        fn = make_sweep(jax, jnp, args.depth, width, batch, shared)
        key = jax.random.PRNGKey(0)
        fn(key, grid_w, grid_b).block_until_ready()  # compile
        times[f"jax {'shared' if shared else 'independent'}"] = median_time(
            lambda fn=fn, key=key: fn(key, grid_w, grid_b).block_until_ready(), args.repeats)
    common = dict(depth=args.depth, width=width, batch=batch, init=None, sigma_w=list(SIGMA_W),
                  sigma_b=list(SIGMA_B), progress=False)
    times["gradatlas shared"] = median_time(lambda: ga.sweep(**common), args.repeats)
    times["gradatlas independent"] = median_time(lambda: ga.sweep(**common, common_random_numbers=False),
                                                 args.repeats)
    for name, t in times.items():
        print(f"  {name:22s} {t:8.2f} s")
    for mode in ("shared", "independent"):
        print(f"gradatlas is {times[f'jax {mode}'] / times[f'gradatlas {mode}']:.1f}x faster than JAX ({mode} "
              "weights)")


if __name__ == "__main__":
    main()
