#!/usr/bin/env python3
"""Write tests/fixtures/rng_vectors.json: the first draws of NumPy's legacy generator
(`np.random.seed(s)`, MT19937 + polar Box-Muller) for seeds 0, 1 and 4294967295, at each
of its three layers, for port authors and for `backprop-oracle rng`'s tests.

  raw      2000 tempered 32-bit MT19937 words (four "twists" of 624 words):
           np.random.MT19937()._legacy_seeding(s); .random_raw(2000), checked equal to
           np.random.RandomState(s).randint(0, 2**32, size=2000, dtype=np.uint32)
           (NumPy's full-range uint32 path returns each word unchanged).
  uniform  np.random.RandomState(s).random_sample(1000), checked equal to
           ((a >> 5) * 67108864 + (b >> 6)) / 9007199254740992 over the raw words a, b.
  randn    np.random.RandomState(s).randn(1001) (odd: the last pair's second value
           stays cached), checked equal to a pure-Python polar Box-Muller over the
           uniforms that returns f*x2 first and caches f*x1 (math.log, math.sqrt).

The script also checks its own pure-Python MT19937 (init_genrand seeding) against the raw
words, and that the three slips a port author made are caught: seeding by init_by_array
(Python's random.seed, np.random.RandomState([s])) and the textbook pair order (f*x1
first) both change the first draws.

Floats are stored as their IEEE-754 binary64 bit patterns, 16 lowercase hex digits (the
u64 in hex); raw words as JSON integers. Run from the repository root:

    python3 scripts/rng_vectors.py
"""
import json
import math
import os
import struct

import numpy as np

SEEDS = [0, 1, 4294967295]
N_RAW, N_UNIFORM, N_RANDN = 2000, 1000, 1001
OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "rng_vectors.json"
)


def hexbits(x):
    return struct.pack(">d", float(x)).hex()


class PyMT19937:
    """Matsumoto & Nishimura's mt19937ar.c, seeded by init_genrand (as np.random.seed(s))."""

    def __init__(self, seed):
        self.mt = [seed & 0xFFFFFFFF]
        for i in range(1, 624):
            prev = self.mt[-1]
            self.mt.append((1812433253 * (prev ^ (prev >> 30)) + i) & 0xFFFFFFFF)
        self.mti = 624

    def next32(self):
        if self.mti >= 624:
            for i in range(624):
                y = (self.mt[i] & 0x80000000) | (self.mt[(i + 1) % 624] & 0x7FFFFFFF)
                self.mt[i] = self.mt[(i + 397) % 624] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
            self.mti = 0
        y = self.mt[self.mti]
        self.mti += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        return y


def res53(a, b):
    # Exact: the numerator is below 2**53, and int / int rounds once (here: not at all).
    return ((a >> 5) * 67108864 + (b >> 6)) / 9007199254740992


def polar(uniforms, count, second_first=True):
    """Polar Box-Muller over a stream of uniforms; NumPy's legacy_gauss when second_first."""
    it = iter(uniforms)
    out, cached = [], None
    while len(out) < count:
        if cached is not None:
            out.append(cached)
            cached = None
            continue
        while True:
            x1 = 2.0 * next(it) - 1.0
            x2 = 2.0 * next(it) - 1.0
            r2 = x1 * x1 + x2 * x2
            if r2 < 1.0 and r2 != 0.0:
                break
        f = math.sqrt(-2.0 * math.log(r2) / r2)
        first, second = (f * x2, f * x1) if second_first else (f * x1, f * x2)
        out.append(first)
        cached = second
    return out


def record(seed):
    bg = np.random.MT19937()
    bg._legacy_seeding(seed)
    raw = [int(w) for w in bg.random_raw(N_RAW)]
    via_randint = np.random.RandomState(seed).randint(0, 2**32, size=N_RAW, dtype=np.uint32)
    assert raw == [int(w) for w in via_randint], f"seed {seed}: random_raw != randint"
    py = PyMT19937(seed)
    assert raw == [py.next32() for _ in range(N_RAW)], f"seed {seed}: pure-Python MT19937"

    uniform = [float(u) for u in np.random.RandomState(seed).random_sample(N_UNIFORM)]
    assert uniform == [res53(raw[2 * i], raw[2 * i + 1]) for i in range(N_UNIFORM)], (
        f"seed {seed}: random_sample != res53 of the raw words"
    )

    randn = [float(g) for g in np.random.RandomState(seed).randn(N_RANDN)]
    # Enough uniforms for the pairs (each accepted pair consumes 2, rejections more).
    py = PyMT19937(seed)
    stream = (res53(py.next32(), py.next32()) for _ in range(10 * N_RANDN))
    assert randn == polar(stream, N_RANDN), f"seed {seed}: randn != polar f*x2 first"

    # The slips: both change the very first draws.
    py = PyMT19937(seed)
    stream = (res53(py.next32(), py.next32()) for _ in range(8))
    assert polar(stream, 2, second_first=False)[:2] == randn[1::-1]
    assert randn[0] != polar(iter(uniform), 1, second_first=False)[0]
    by_array = np.random.RandomState([seed]).randn(2)
    assert float(by_array[0]) != randn[0], f"seed {seed}: init_by_array gives the same draw"

    return {
        "raw": raw,
        "uniform": [hexbits(u) for u in uniform],
        "randn": [hexbits(g) for g in randn],
    }


def main():
    doc = {
        "generated_by": "python3 scripts/rng_vectors.py",
        "numpy_version": np.__version__,
        "note": (
            "NumPy's legacy generator after np.random.seed(s). raw: the first 2000 tempered "
            "MT19937 words (MT19937()._legacy_seeding(s).random_raw, equal to "
            "RandomState(s).randint(0, 2**32, dtype=uint32)), JSON integers. uniform: "
            "RandomState(s).random_sample(1000). randn: RandomState(s).randn(1001). Floats "
            "are IEEE-754 binary64 bit patterns as 16 lowercase hex digits "
            "(f64::from_bits(u64::from_str_radix(s, 16)))."
        ),
        "seeds": {str(s): record(s) for s in SEEDS},
    }
    with open(OUT, "w", encoding="ascii", newline="\n") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
