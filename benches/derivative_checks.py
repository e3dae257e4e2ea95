#!/usr/bin/env python3
"""The time of PyTorch's and JAX's derivative checks on the shared examples of
benches/derivative_checks.rs (run that with `cargo bench --bench derivative_checks`):

  * layer normalisation R^64 -> R^64, y = (x - mean x) / sqrt(var x + 1e-5), at
    x_i = sin(0.7 i) + 0.1 i, float64:
      - torch.autograd.gradcheck (the whole Jacobian by finite differences against
        autograd's), and with fast_mode=True (random projections);
      - jax.test_util.check_grads(order=1, modes=("fwd", "rev")) (one random direction);
  * the chained Rosenbrock function R^16 -> R at x_i = 0.5 + 0.05 i, float64:
      - torch.autograd.gradgradcheck (second derivatives);
      - jax.test_util.check_grads(order=2, modes=("fwd", "rev")).

Each line is the median of 11 runs in milliseconds (after one warm-up run, which for
JAX includes tracing and compilation). A framework that is not installed is skipped
with a note.

    python3 benches/derivative_checks.py
"""
import math
import statistics
import time


def median_ms(f, runs=11):
    f()  # warm-up (JAX traces and compiles here)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def report(name, ms):
    print(f"{name:<52} {ms:9.3f} ms")


X64 = [math.sin(0.7 * i) + 0.1 * i for i in range(64)]
THETA16 = [0.5 + 0.05 * i for i in range(16)]


def torch_side():
    try:
        import torch
    except ImportError:
        print("torch: not installed (pip install torch), skipped")
        return
    torch.set_num_threads(2)

    def layer_norm(x):
        mu = x.mean()
        var = ((x - mu) ** 2).mean()
        return (x - mu) / torch.sqrt(var + 1e-5)

    def rosenbrock(x):
        return ((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2).sum()

    x = torch.tensor(X64, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(THETA16, dtype=torch.float64, requires_grad=True)
    gc = torch.autograd.gradcheck
    report(f"torch {torch.__version__} gradcheck layer_norm_64",
           median_ms(lambda: gc(layer_norm, (x,))))
    report("torch gradcheck layer_norm_64 fast_mode",
           median_ms(lambda: gc(layer_norm, (x,), fast_mode=True)))
    report("torch gradgradcheck rosenbrock_16",
           median_ms(lambda: torch.autograd.gradgradcheck(rosenbrock, (t,))))


def jax_side():
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        from jax.test_util import check_grads
    except ImportError:
        print("jax: not installed (pip install jax), skipped")
        return

    def layer_norm(x):
        mu = x.mean()
        var = ((x - mu) ** 2).mean()
        return (x - mu) / jnp.sqrt(var + 1e-5)

    def rosenbrock(x):
        return ((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2).sum()

    x = jnp.array(X64, dtype=jnp.float64)
    t = jnp.array(THETA16, dtype=jnp.float64)
    report(f"jax {jax.__version__} check_grads layer_norm_64 order=1",
           median_ms(lambda: check_grads(layer_norm, (x,), order=1, modes=("fwd", "rev"))))
    report("jax check_grads rosenbrock_16 order=2",
           median_ms(lambda: check_grads(rosenbrock, (t,), order=2, modes=("fwd", "rev"))))


if __name__ == "__main__":
    torch_side()
    jax_side()
