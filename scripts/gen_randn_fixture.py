#!/usr/bin/env python3
"""Generate tests/fixtures/randn.json: golden outputs of NumPy's legacy global
RandomState (MT19937 + polar Box-Muller gauss with one cached value).

Every float is stored as its exact IEEE-754 binary64 bit pattern, written as a
string of 16 lowercase hex digits (big-endian, i.e. the u64 value in hex), so
the Rust side can compare bit-for-bit with f64::from_bits(u64::from_str_radix(s, 16)).

Run from the repository root:  python3 scripts/gen_randn_fixture.py
"""
import json
import os
import struct

import numpy as np

SEEDS = [0, 1, 42, 4294967295]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "randn.json")


def bits(values):
    """Flatten (C order) and encode every float64 as 16 lowercase hex digits."""
    flat = np.ascontiguousarray(values, dtype=np.float64).ravel(order="C")
    return [struct.pack(">d", float(v)).hex() for v in flat]


def record(seed):
    entry = {}

    # 1001 values: odd count, so the last pair's second gauss stays cached.
    np.random.seed(seed)
    entry["randn"] = bits(np.random.randn(1001))

    # Several calls in a row: the gauss cache must carry across calls
    # (6 + 3 + 5 = 14 values, the 3- and 5-value calls start/end mid-pair).
    np.random.seed(seed)
    parts = [np.random.randn(3, 2), np.random.randn(1, 3), np.random.randn(5)]
    entry["randn_split"] = bits(np.concatenate([p.ravel(order="C") for p in parts]))

    np.random.seed(seed)
    entry["random_sample"] = bits(np.random.random_sample(100))
    return entry


def main():
    doc = {
        "generated_by": "python3 scripts/gen_randn_fixture.py",
        "numpy_version": np.__version__,
        "note": (
            "Legacy global RandomState outputs. Each float is the exact IEEE-754 binary64 "
            "bit pattern as 16 lowercase hex digits (u64 in hex, big-endian; decode with "
            "f64::from_bits(u64::from_str_radix(s, 16))). For each seed s: "
            "randn = np.random.seed(s); np.random.randn(1001). "
            "randn_split = np.random.seed(s); a = randn(3, 2); b = randn(1, 3); c = randn(5); "
            "a, b, c flattened in C order and concatenated (14 values). "
            "random_sample = np.random.seed(s); np.random.random_sample(100)."
        ),
        "seeds": {str(s): record(s) for s in SEEDS},
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="ascii", newline="\n") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
