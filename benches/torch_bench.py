"""PyTorch CPU float64 side of benches/compare_numpy.sh: the same steps as
benches/numpy_bench.py, written the way PyTorch users write them (autograd,
torch.optim.SGD), one JSON line per benchmark.

    python3 benches/torch_bench.py [--quick]

Names match numpy_bench.py and `cargo bench --bench speed`:
  article_sample_step                     the article's 2-3-1 net, one sample per step
  batch_step_<sizes>_b<B>                 one mini-batch step, tensors preallocated and
                                          `zero_grad(set_to_none=False)` (PyTorch's best case)
  batch_step_<sizes>_b<B>_default_zero_grad
                                          the same with the default `zero_grad()` (gradients
                                          set to None and reallocated every step)
  dgemm_2048                              torch.matmul into a preallocated output
Threads: torch.set_num_threads(2) (or OMP_NUM_THREADS when set). Timing as in
numpy_bench.py: the median of `reps` measurements of at least `min_time` seconds each.
"""

import argparse
import json
import os
import sys
import time

import torch


def emit(obj):
    print(json.dumps(obj), flush=True)


def measure(step, min_time, reps):
    """(median seconds per call, calls per measurement, every measurement)."""
    step()
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            step()
        dt = time.perf_counter() - t
        if dt >= min_time:
            break
        n *= 2
    samples = [dt / n]
    for _ in range(reps - 1):
        t = time.perf_counter()
        for _ in range(n):
            step()
        samples.append((time.perf_counter() - t) / n)
    samples.sort()
    return samples[len(samples) // 2], n, samples


def mlp(sizes, scale):
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        lin = torch.nn.Linear(n_in, n_out, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.normal_(0.0, scale)
            lin.bias.zero_()
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def article_epoch():
    """One epoch (4 per-sample steps) of the article's 2-3-1 net, autograd + SGD."""
    torch.manual_seed(0)
    net = mlp([2, 3, 1], 1.0)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.tensor([[1.0, 2.0], [2.0, 1.0], [3.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    y = torch.tensor([[4.0], [3.0], [5.0], [5.0]], dtype=torch.float64)
    rows = [(x[i : i + 1], y[i : i + 1]) for i in range(4)]

    def epoch():
        for xi, yi in rows:
            opt.zero_grad(set_to_none=False)
            loss = ((net(xi) - yi) ** 2).mean()
            loss.backward()
            opt.step()

    return epoch


def batch_step(sizes, batch, set_to_none):
    torch.manual_seed(0)
    net = mlp(sizes, 0.05)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.rand(batch, sizes[0], dtype=torch.float64)
    y = torch.zeros(batch, sizes[-1], dtype=torch.float64)
    y[torch.arange(batch), torch.arange(batch) % sizes[-1]] = 1.0

    def step():
        opt.zero_grad(set_to_none=set_to_none)
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        opt.step()

    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter measurements, 5 repetitions")
    args = ap.parse_args()
    reps = 5 if args.quick else 7
    min_time = 0.05 if args.quick else 0.2
    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    emit({"name": "torch_info", "torch": torch.__version__, "threads": torch.get_num_threads(),
          "python": sys.version.split()[0]})

    med, n, _ = measure(article_epoch(), min_time, reps)
    emit({"name": "article_sample_step", "median_s": med / 4, "reps": reps, "inner": n * 4})
    for sizes, batch in (([784, 128, 10], 64), ([784, 256, 256, 10], 128),
                         ([1024, 1024, 1024, 10], 256)):
        name = f"batch_step_{'_'.join(map(str, sizes))}_b{batch}"
        for suffix, set_to_none in (("", False), ("_default_zero_grad", True)):
            med, n, _ = measure(batch_step(sizes, batch, set_to_none), min_time, reps)
            emit({"name": name + suffix, "median_s": med, "reps": reps, "inner": n})
    size = 2048
    a = torch.randn(size, size, dtype=torch.float64)
    b = torch.randn(size, size, dtype=torch.float64)
    c = torch.empty(size, size, dtype=torch.float64)
    med, n, _ = measure(lambda: torch.matmul(a, b, out=c), min_time, reps)
    emit({"name": "dgemm_2048", "median_s": med, "reps": reps, "inner": n,
          "gflops": 2 * size**3 / med / 1e9})


if __name__ == "__main__":
    main()
