#!/usr/bin/env python3
"""NumPy side of the Rust-vs-NumPy speed benchmark (float64).

Prints one JSON object per line on stdout:

    {"name": "numpy_info", "numpy": ..., "blas": ..., "threads": ...}
    {"name": NAME, "median_s": seconds, "reps": n, ...}

NAME is one of

* ``article_sample_step`` — one per-sample SGD step of the article's 2-3-1
  relu/identity network, in the article's NumPy style (``W @ x + b``,
  ``np.outer``, ``W.T @ dz``, in-place ``-=``); time per sample step.
* ``batch_step_<sizes>_b<B>`` — one mini-batch training step: forward
  ``Z = X @ W.T + b`` (relu hidden, identity output), MSE (mean over outputs,
  then over samples), ``dY = 2 (Y_hat - Y) / (m B)``, backward
  ``dW = dZ.T @ A_prev``, ``db = dZ.sum(0)``, ``dA_prev = dZ @ W`` (not for the
  input layer), SGD update with lr 0.01; time per step.
* ``dgemm_2048`` — ``C = A @ B`` for 2048x2048 float64, plus ``gflops``.

Each measurement times a loop long enough for >= ~0.2 s of work (after a
warm-up and a calibration); the median of 7 such measurements is reported.
``--quick`` uses shorter measurements and 5 repetitions.

Run it as the comparison script does, without the OpenBLAS overrides that
slow NumPy down on some processors:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benches/numpy_bench.py
"""

import argparse
import ctypes
import json
import os
import statistics
import sys
import time

try:
    import numpy as np
except ImportError:
    print("numpy is not installed: pip install numpy", file=sys.stderr)
    sys.exit(2)


def emit(obj):
    print(json.dumps(obj), flush=True)


# ---------------------------------------------------------------- timing


def measure(step, min_time, reps):
    """Median seconds per call of ``step()``.

    Warm up, pick an inner loop count so that one measurement takes at least
    ``min_time`` seconds, then take ``reps`` measurements.
    """
    step()  # warm-up
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        dt = time.perf_counter() - t0
        if dt >= min_time:
            break
        # aim a little above min_time; grow at most 100x per try
        n = max(n + 1, min(n * 100, int(n * 1.2 * min_time / max(dt, 1e-9)) + 1))
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples), n, samples


def spread(samples, scale=1.0):
    """min and max of the per-call times, to show how noisy the median is."""
    return {"min_s": min(samples) / scale, "max_s": max(samples) / scale}


# ---------------------------------------------------------------- info


def blas_info():
    """Name/version of the BLAS NumPy was built against, and its thread count."""
    info = {"blas": None, "threads": None}
    try:
        cfg = np.show_config(mode="dicts")  # NumPy >= 1.25
        blas = cfg["Build Dependencies"]["blas"]
        info["blas"] = f'{blas.get("name")} {blas.get("version")}'.strip()
    except Exception:
        try:
            cfg = np.__config__
            for key in ("openblas64__info", "openblas_info", "blas_ilp64_opt_info", "blas_opt_info"):
                d = getattr(cfg, key, None)
                if d:
                    info["blas"] = key.replace("_info", "")
                    break
        except Exception:
            pass

    try:
        from threadpoolctl import threadpool_info

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            p = pools[0]
            info["threads"] = p.get("num_threads")
            info["blas_internal"] = f'{p.get("internal_api")} {p.get("version")}'
            if p.get("architecture"):
                info["blas_core"] = p["architecture"]
            return info
    except Exception:
        pass

    # No threadpoolctl: ask a loaded OpenBLAS directly, best effort.
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
        # (threads, corename) symbol names of the usual OpenBLAS builds
        names = [
            ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_corename64_"),
            ("scipy_openblas_get_num_threads", "scipy_openblas_get_corename"),
            ("openblas_get_num_threads64_", "openblas_get_corename64_"),
            ("openblas_get_num_threads", "openblas_get_corename"),
        ]
        for path in sorted(libs):
            lib = ctypes.CDLL(path)
            for threads_sym, core_sym in names:
                get_threads = getattr(lib, threads_sym, None)
                if get_threads is None:
                    continue
                get_threads.restype = ctypes.c_int
                info["threads"] = get_threads()
                get_core = getattr(lib, core_sym, None)
                if get_core is not None:
                    get_core.restype = ctypes.c_char_p
                    info["blas_core"] = get_core().decode()
                return info
    except Exception:
        pass
    return info


# ---------------------------------------------------------------- article 2-3-1


def article_epoch_fn():
    """One epoch (4 per-sample steps) of the article's 2-3-1 network, NumPy style."""

    def relu(z):
        return np.maximum(0, z)

    def relu_grad(z):
        return (z > 0).astype(float)

    def layer_forward(x, W, b, act):
        z = W @ x + b
        return act(z), z

    def layer_backward(x, z, da, W, act_grad):
        dz = da * act_grad(z)
        return np.outer(dz, x), dz, W.T @ dz

    def sgd(W, b, dW, db, lr):
        W -= lr * dW
        b -= lr * db

    identity = lambda z: z  # noqa: E731
    identity_grad = lambda z: 1.0  # noqa: E731

    np.random.seed(0)
    W1 = np.random.randn(3, 2)
    b1 = np.zeros(3)
    W2 = np.random.randn(1, 3)
    b2 = np.zeros(1)
    X = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 1.0], [1.0, 3.0]])
    y = np.array([4.0, 3.0, 5.0, 5.0])
    lr = 0.01

    def epoch():
        total = 0.0
        for x, t in zip(X, y):
            a1, z1 = layer_forward(x, W1, b1, relu)
            a2, z2 = layer_forward(a1, W2, b2, identity)
            total += np.mean((a2 - t) ** 2)
            da2 = 2 * (a2 - t) / t.size
            dW2, db2, da1 = layer_backward(a1, z2, da2, W2, identity_grad)
            dW1, db1, _ = layer_backward(x, z1, da1, W1, relu_grad)
            sgd(W2, b2, dW2, db2, lr)
            sgd(W1, b1, dW1, db1, lr)
        return total

    return epoch, len(X)


# ---------------------------------------------------------------- mini-batch


def batch_step_fn(sizes, batch, lr=0.01):
    """One mini-batch SGD step of a dense relu/.../identity MSE network."""
    rng = np.random.default_rng(0)
    Ws = [0.05 * rng.standard_normal((n_out, n_in)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(n_out) for n_out in sizes[1:]]
    X = rng.standard_normal((batch, sizes[0]))
    Y = np.zeros((batch, sizes[-1]))
    Y[np.arange(batch), rng.integers(0, sizes[-1], batch)] = 1.0
    L = len(Ws)

    def step():
        # forward: keep each layer's input A and pre-activation Z
        As, Zs = [X], []
        A = X
        for k in range(L):
            Z = A @ Ws[k].T + bs[k]  # (B, out)
            A = np.maximum(Z, 0.0) if k < L - 1 else Z
            Zs.append(Z)
            As.append(A)
        Yhat = As[-1]
        diff = Yhat - Y
        loss = (diff**2).mean(axis=1).mean()
        # backward
        dA = 2.0 * diff / (Y.shape[1] * batch)
        for k in reversed(range(L)):
            dZ = dA if k == L - 1 else dA * (Zs[k] > 0)
            dW = dZ.T @ As[k]  # (out, in)
            db = dZ.sum(axis=0)
            if k > 0:
                dA = dZ @ Ws[k]  # (B, in), computed with the pre-update W
            Ws[k] -= lr * dW
            bs[k] -= lr * db
        return loss

    return step


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter measurements, 5 repetitions")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per benchmark (default 7, quick 5)")
    ap.add_argument("--min-time", type=float, default=None, help="seconds per measurement (default 0.2, quick 0.05)")
    ap.add_argument("--article-only", action="store_true", help="only the article's per-sample step")
    ap.add_argument("--article-epochs", type=int, default=None, metavar="E",
                    help="train the article for E epochs and exit (whole-process timing, "
                         "benches/cli_marginal.sh)")
    args = ap.parse_args()
    if args.article_epochs is not None:
        epoch, _ = article_epoch_fn()
        total = 0.0
        for _ in range(args.article_epochs):
            total = epoch()
        print(total)
        return
    reps = args.reps or (5 if args.quick else 7)
    min_time = args.min_time or (0.05 if args.quick else 0.2)

    info = {"name": "numpy_info", "numpy": np.__version__}
    info.update(blas_info())
    info["python"] = sys.version.split()[0]
    info["cpu_count"] = os.cpu_count()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            info.setdefault("env", {})[var] = os.environ[var]
    emit(info)

    epoch, n_samples = article_epoch_fn()
    med, n, samples = measure(epoch, min_time, reps)
    emit({"name": "article_sample_step", "median_s": med / n_samples, "reps": reps,
          "inner": n * n_samples, "unit": "per sample step", **spread(samples, n_samples)})
    if args.article_only:
        return

    for sizes, batch in (([784, 128, 10], 64), ([784, 256, 256, 10], 128), ([1024, 1024, 1024, 10], 256)):
        name = f"batch_step_{'_'.join(map(str, sizes))}_b{batch}"
        med, n, samples = measure(batch_step_fn(sizes, batch), min_time, reps)
        emit({"name": name, "median_s": med, "reps": reps, "inner": n, "unit": "per step",
              **spread(samples)})

    size = 2048
    rng = np.random.default_rng(0)
    A = rng.standard_normal((size, size))
    B = rng.standard_normal((size, size))
    C = np.empty((size, size))
    med, n, samples = measure(lambda: np.matmul(A, B, out=C), min_time, reps)
    emit({"name": "dgemm_2048", "median_s": med, "reps": reps, "inner": n,
          "gflops": 2 * size**3 / med / 1e9, **spread(samples)})


if __name__ == "__main__":
    main()
