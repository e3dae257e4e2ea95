#!/usr/bin/env python3
"""Find the order in which NumPy's `W @ x` (OpenBLAS dgemv) sums its products.

For random W (rows, n) and x (n), compares NumPy's result bit for bit with every
left-to-right sum over a permutation of k, both plain (`acc + w_k*x_k`) and fused
(`fma(w_k, x_k, acc)`, computed exactly with fractions and rounded once), and
prints the candidates that match every trial. This is how the reference kernel
`src/nn/kernels.rs` chose its order (fused; k = 0,1,2.. for one row, k = 1,0,2..
for several rows). Needs NumPy. Run: python3 scripts/fma_order_probe.py
"""
from fractions import Fraction
from itertools import permutations

import numpy as np


def fma(a, b, c):
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def matching_orders(rows, n, trials, rng):
    survivors = None
    for _ in range(trials):
        w = rng.standard_normal((rows, n))
        x = rng.standard_normal(n)
        got = w @ x
        for i in range(rows):
            ok = set()
            for perm in permutations(range(n)):
                plain, fused = 0.0, 0.0
                for k in perm:
                    plain = plain + float(w[i, k]) * float(x[k])
                    fused = fma(float(w[i, k]), float(x[k]), fused)
                if plain == got[i]:
                    ok.add(("plain", perm))
                if fused == got[i]:
                    ok.add(("fused", perm))
            survivors = ok if survivors is None else survivors & ok
    return sorted(survivors)


def main():
    rng = np.random.default_rng(1)
    print(f"numpy {np.__version__}")
    for rows in (1, 3):
        for n in (1, 2, 3, 4):
            found = matching_orders(rows, n, 100, rng)
            shown = ", ".join(f"{kind} {perm}" for kind, perm in found[:2]) or "none (blocked kernel)"
            print(f"W ({rows}, {n}): {shown}")


if __name__ == "__main__":
    main()
