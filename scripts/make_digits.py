#!/usr/bin/env python3
"""Write examples/digits/: a real classification data set and a model spec for it.

Data: scikit-learn's bundled 8x8 handwritten digits (sklearn.datasets.load_digits():
1,797 samples, 64 pixel features with integer values 0..16, 10 classes 0..9; the test
part of the UCI "Optical Recognition of Handwritten Digits" data set). The pixels are
scaled by 1/16 to [0, 1]. The split is fixed:

    train_test_split(x, labels, test_size=360, random_state=0, stratify=labels)

giving 1,437 training and 360 test samples, in the order train_test_split returns them
(it shuffles; training itself does not).

Writes (uncompressed np.savez, deterministic: the zip members carry the fixed date
1980-01-01, so running the script again writes the same bytes):

    examples/digits/digits.npz   x (1437, 64) float64, y (1437,) int64 labels,
                                 x_test (360, 64) float64, y_test (360,) int64 labels
    examples/digits/digits.json  the model spec (SPEC below; data by reference to
                                 digits.npz, relative to the spec's folder)

With --check it also trains the spec with an independent NumPy implementation (the
Network of scripts/gen_parity_fixtures.py: same initialisation, batches in order,
mean-over-batch softmax cross-entropy, plain SGD) and prints every epoch's training
loss (the sum over samples, as the epoch loss is recorded, and the mean), test loss
(mean) and train/test accuracy (np.argmax of the logits, first maximum on ties).

Needs NumPy and scikit-learn. Run from anywhere:
    python3 scripts/make_digits.py [--check]
"""
import argparse
import hashlib
import io
import json
import os
import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "examples", "digits"))
TEST_SIZE = 360
RANDOM_STATE = 0

# Chosen with --check (see examples/digits/README.md): test accuracy >= 96% from the
# 5th epoch on, 97.2% after the 10th; 10 epochs are ~1e8 multiply-adds.
SPEC = {
    "sizes": [64, 32, 10],
    "activations": ["relu", "identity"],
    "loss": "softmax_cross_entropy",
    "seed": 0,
    "init_scale": 0.2,
    "x": "digits.npz",
    "y": "digits.npz",
    "x_test": "digits.npz",
    "y_test": "digits.npz",
    "lr": 0.1,
    "epochs": 10,
    "batch_size": 8,
    "log_every": 1,
}


def load():
    """(x, y, x_test, y_test): float64 pixels in [0, 1] and int64 labels."""
    digits = load_digits()
    x = digits.data.astype(np.float64) / 16.0
    labels = digits.target.astype(np.int64)
    assert x.shape == (1797, 64) and labels.shape == (1797,)
    assert x.min() == 0.0 and x.max() == 1.0 and sorted(set(labels.tolist())) == list(range(10))
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, labels, test_size=TEST_SIZE, random_state=RANDOM_STATE, stratify=labels)
    arrays = {
        "x": np.ascontiguousarray(x_tr, dtype="<f8"),
        "y": np.ascontiguousarray(y_tr, dtype="<i8"),
        "x_test": np.ascontiguousarray(x_te, dtype="<f8"),
        "y_test": np.ascontiguousarray(y_te, dtype="<i8"),
    }
    assert arrays["x"].shape == (1437, 64) and arrays["y"].shape == (1437,)
    assert arrays["x_test"].shape == (360, 64) and arrays["y_test"].shape == (360,)
    return arrays


def npy_sha256(a):
    """SHA-256 of the array's .npy bytes (what `unzip -p digits.npz x.npy | sha256sum` gives)."""
    buf = io.BytesIO()
    np.save(buf, a)
    return hashlib.sha256(buf.getvalue()).hexdigest()


def write(arrays):
    os.makedirs(OUT_DIR, exist_ok=True)
    npz = os.path.join(OUT_DIR, "digits.npz")
    np.savez(npz, **arrays)
    with np.load(npz) as back:
        assert list(back.keys()) == list(arrays)
        for k, a in arrays.items():
            assert back[k].dtype == a.dtype and np.array_equal(back[k], a), k
    spec_path = os.path.join(OUT_DIR, "digits.json")
    with open(spec_path, "w", encoding="ascii", newline="\n") as f:
        f.write("{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in SPEC.items()) + "\n}\n")
    repo = os.path.dirname(HERE)
    print(f"wrote {os.path.relpath(npz, repo)} ({os.path.getsize(npz)} bytes) and {os.path.relpath(spec_path, repo)}")
    for k, a in arrays.items():
        counts = "" if a.dtype != np.int64 else "  per class " + " ".join(str(c) for c in np.bincount(a, minlength=10))
        print(f"  {k:6} {a.dtype.str} {str(a.shape):10} sha256 {npy_sha256(a)}{counts}")


def check(arrays):
    """Train SPEC with the NumPy oracle and print per-epoch loss and accuracy."""
    sys.path.insert(0, HERE)
    from gen_parity_fixtures import LOSSES, Network

    x, x_te, y_te = arrays["x"], arrays["x_test"], arrays["y_test"]
    y = np.eye(10)[arrays["y"]]
    y_te1 = np.eye(10)[y_te]
    n, bs, lr = x.shape[0], SPEC["batch_size"], SPEC["lr"]
    ce = LOSSES[SPEC["loss"]]
    net = Network(SPEC)

    def evaluate(xs, labels, onehot):
        logits = net.forward(xs)
        loss = sum(float(l) for l in ce(logits, onehot)[0])
        acc = float(np.mean(np.argmax(logits, axis=1) == labels))
        top2 = np.sort(logits, axis=1)[:, -2:]
        return loss, acc, float(np.min(top2[:, 1] - top2[:, 0]))

    print(f"NumPy {np.__version__}; spec: " + json.dumps({k: v for k, v in SPEC.items() if k[0] not in "xy"}))
    loss0, acc0, _ = evaluate(x_te, y_te, y_te1)
    print(f"before training: test loss {loss0 / len(y_te):.6f} (mean), test accuracy {acc0:.4f}")
    print("epoch  train loss (sum)  train loss (mean)  test loss (mean)  train acc  test acc")
    for epoch in range(SPEC["epochs"]):
        total = 0.0
        for start in range(0, n, bs):
            for l in net.train_step(x[start:start + bs], y[start:start + bs], lr, SPEC["loss"]):
                total += float(l)
        _, tr_acc, _ = evaluate(x, arrays["y"], y)
        te_loss, te_acc, te_gap = evaluate(x_te, y_te, y_te1)
        print(f"{epoch:5}  {total:16.6f}  {total / n:17.6f}  {te_loss / len(y_te):16.6f}  "
              f"{tr_acc:9.4f}  {te_acc:8.4f}")
    tr_loss, tr_acc, tr_gap = evaluate(x, arrays["y"], y)
    print(f"final (trained parameters): train loss {tr_loss / n:.6f} (mean), accuracy {tr_acc:.4f} "
          f"({round(tr_acc * n)}/{n}); test loss {te_loss / len(y_te):.6f} (mean), accuracy {te_acc:.4f} "
          f"({round(te_acc * len(y_te))}/{len(y_te)})")
    print(f"smallest gap between the two largest logits: train {tr_gap:.3g}, test {te_gap:.3g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="train the spec with NumPy and print per-epoch loss/accuracy")
    args = ap.parse_args()
    arrays = load()
    write(arrays)
    if args.check:
        check(arrays)


if __name__ == "__main__":
    main()
