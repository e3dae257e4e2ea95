#!/usr/bin/env python3
"""Generate tests/fixtures/parity/<name>.json: golden training traces of a small
fully connected network, computed by an independent NumPy implementation.

Each configuration is a "model spec" (sizes, activations, loss, seed, init_scale,
x, y, lr, epochs, batch_size, log_every). The script initialises the network
from NumPy's legacy global RNG, trains it and records the total loss of every
epoch plus the initial and final parameters.

Run from the repository root:  python3 scripts/gen_parity_fixtures.py
"""
import json
import math
import os

import numpy as np

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "parity")
LEAK = 0.01


# --------------------------------------------------------------------------
# Activations: name -> (function of z, derivative given (z, a=f(z)))
# --------------------------------------------------------------------------
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


ACTIVATIONS = {
    "identity": (lambda z: z, lambda z, a: np.ones_like(z)),
    "relu": (lambda z: np.maximum(0.0, z), lambda z, a: np.where(z > 0, 1.0, 0.0)),
    "leaky_relu": (lambda z: np.where(z > 0, z, LEAK * z), lambda z, a: np.where(z > 0, 1.0, LEAK)),
    "sigmoid": (_sigmoid, lambda z, a: a * (1.0 - a)),
    "tanh": (np.tanh, lambda z, a: 1.0 - a * a),
}


class Dense:
    """One fully connected layer: a = act(W x + b), W has shape (out, in)."""

    def __init__(self, n_in, n_out, activation, init_scale):
        self.act_name = activation
        self.f, self.df = ACTIVATIONS[activation]
        self.W = init_scale * np.random.randn(n_out, n_in)
        self.b = np.zeros(n_out)

    # Works for a single sample (in,) and for a batch (B, in) alike.
    def forward(self, a_in):
        if a_in.ndim == 1:
            z = self.W @ a_in + self.b
        else:
            z = a_in @ self.W.T + self.b
        a = self.f(z)
        self.cache = (a_in, z, a)
        return a

    def backward(self, da):
        """Return (dW, db, da_prev); uses W as it was during forward."""
        a_in, z, a = self.cache
        dz = da * self.df(z, a)
        if dz.ndim == 1:
            dW = np.outer(dz, a_in)
            db = dz
            da_prev = self.W.T @ dz
        else:
            dW = dz.T @ a_in
            db = dz.sum(axis=0)
            da_prev = dz @ self.W
        return dW, db, da_prev

    def params(self):
        return {"W": self.W.tolist(), "b": self.b.tolist()}


class Network:
    def __init__(self, spec):
        np.random.seed(spec["seed"])
        sizes, acts = spec["sizes"], spec["activations"]
        assert len(acts) == len(sizes) - 1
        self.layers = []
        for k in range(len(acts)):
            self.layers.append(Dense(sizes[k], sizes[k + 1], acts[k], spec["init_scale"]))

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def train_step(self, x, y, lr):
        """Forward + MSE + backward + update on one sample (x 1-D) or a batch
        (x 2-D). Returns the per-sample losses (1-D array) before the update."""
        y_hat = self.forward(x)
        diff = y_hat - y
        n_out = y_hat.shape[-1]
        if y_hat.ndim == 1:
            losses = np.array([np.mean(diff ** 2)])
            grad = 2.0 * diff / n_out
        else:
            losses = np.mean(diff ** 2, axis=1)
            grad = 2.0 * diff / (n_out * y_hat.shape[0])
        grads = []
        for layer in reversed(self.layers):
            dW, db, grad = layer.backward(grad)
            grads.append((layer, dW, db))
        for layer, dW, db in grads:
            layer.W -= lr * dW
            layer.b -= lr * db
        return losses

    def snapshot(self):
        return {"layers": [layer.params() for layer in self.layers]}


def run(spec):
    X = np.array(spec["x"], dtype=np.float64)
    Y = np.array(spec["y"], dtype=np.float64)
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    n, bs = X.shape[0], spec["batch_size"]
    assert X.shape == (n, spec["sizes"][0]) and Y.shape == (n, spec["sizes"][-1])
    net = Network(spec)
    initial = net.snapshot()
    epoch_losses = []
    for _ in range(spec["epochs"]):
        total = 0.0
        if bs == 1:
            for i in range(n):
                for l in net.train_step(X[i], Y[i], spec["lr"]):
                    total += float(l)
        else:
            for start in range(0, n, bs):
                for l in net.train_step(X[start:start + bs], Y[start:start + bs], spec["lr"]):
                    total += float(l)
        epoch_losses.append(total)
    return epoch_losses, initial, net.snapshot()


# --------------------------------------------------------------------------
# Configurations
# --------------------------------------------------------------------------
SPEC_KEYS = ["sizes", "activations", "loss", "seed", "init_scale", "x", "y",
             "lr", "epochs", "batch_size", "log_every"]

ARTICLE_X = [[1.0, 2.0], [2.0, 1.0], [3.0, 1.0], [1.0, 3.0]]
ARTICLE_Y = [4.0, 3.0, 5.0, 5.0]

MB_X = [[0.5, 1.0], [1.5, -0.5], [2.0, 1.0], [-1.0, 2.5], [0.0, 0.5], [2.5, 2.0], [1.0, -1.5]]
MB_Y = [2.0, 1.25, 3.5, 2.75, 0.75, 5.0, 0.25]

CONFIGS = [
    ("article", "Article 2.3.1 network: 2-3-1 relu/identity, seed 0, per-sample SGD.",
     dict(sizes=[2, 3, 1], activations=["relu", "identity"], loss="mse", seed=0, init_scale=1.0,
          x=ARTICLE_X, y=ARTICLE_Y, lr=0.01, epochs=1000, batch_size=1, log_every=100)),
    ("article_seed1", "Article network and data with seed 1.",
     dict(sizes=[2, 3, 1], activations=["relu", "identity"], loss="mse", seed=1, init_scale=1.0,
          x=ARTICLE_X, y=ARTICLE_Y, lr=0.01, epochs=1000, batch_size=1, log_every=100)),
    ("article_seed42_scale05", "Article network and data, seed 42, init_scale 0.5, lr 0.02, 500 epochs.",
     dict(sizes=[2, 3, 1], activations=["relu", "identity"], loss="mse", seed=42, init_scale=0.5,
          x=ARTICLE_X, y=ARTICLE_Y, lr=0.02, epochs=500, batch_size=1, log_every=50)),
    ("deep_mixed", "3-5-4-3-1 tanh/sigmoid/leaky_relu/identity, seed 7, per-sample SGD on 7 samples.",
     dict(sizes=[3, 5, 4, 3, 1], activations=["tanh", "sigmoid", "leaky_relu", "identity"], loss="mse",
          seed=7, init_scale=1.0,
          x=[[0.5, -1.0, 2.0], [1.5, 0.0, -0.5], [-2.0, 1.0, 0.5], [0.0, 2.5, -1.5],
             [3.0, -0.5, 1.0], [-1.0, -2.0, -1.0], [1.0, 1.0, 1.0]],
          y=[1.5, 0.5, -1.0, 2.0, 1.0, -2.0, 0.75],
          lr=0.05, epochs=400, batch_size=1, log_every=50)),
    ("minibatch2", "2-4-1 relu/identity, seed 3, mini-batch GD with batch_size 2 on 7 samples (last batch of 1).",
     dict(sizes=[2, 4, 1], activations=["relu", "identity"], loss="mse", seed=3, init_scale=1.0,
          x=MB_X, y=MB_Y, lr=0.01, epochs=500, batch_size=2, log_every=50)),
    ("minibatch3", "2-4-1 relu/identity, seed 3, mini-batch GD with batch_size 3 on 7 samples (last batch of 1).",
     dict(sizes=[2, 4, 1], activations=["relu", "identity"], loss="mse", seed=3, init_scale=1.0,
          x=MB_X, y=MB_Y, lr=0.01, epochs=500, batch_size=3, log_every=50)),
    ("multi_output", "3-4-2 tanh/identity, two outputs, seed 5, per-sample SGD on 6 samples.",
     dict(sizes=[3, 4, 2], activations=["tanh", "identity"], loss="mse", seed=5, init_scale=1.0,
          x=[[1.0, 0.5, -0.5], [-1.5, 2.0, 0.0], [0.0, -1.0, 1.5], [2.0, 1.0, 1.0],
             [-0.5, -0.5, -2.0], [1.5, -2.0, 0.5]],
          y=[[1.0, -0.5], [-1.0, 2.0], [0.5, 0.0], [2.0, 1.5], [-1.5, -1.0], [0.0, -2.0]],
          lr=0.02, epochs=300, batch_size=1, log_every=50)),
    ("multi_output_batch4", "3-6-3 leaky_relu/sigmoid, three outputs in (0,1), seed 11, mini-batch GD batch_size 4 on 6 samples.",
     dict(sizes=[3, 6, 3], activations=["leaky_relu", "sigmoid"], loss="mse", seed=11, init_scale=1.0,
          x=[[0.5, 1.0, -1.0], [-2.0, 0.5, 1.5], [1.5, -1.5, 0.0], [0.0, 2.0, 2.5],
             [-1.0, -1.0, -0.5], [3.0, 0.5, 1.0]],
          y=[[0.9, 0.1, 0.5], [0.2, 0.8, 0.3], [0.7, 0.4, 0.1], [0.1, 0.6, 0.9],
             [0.3, 0.2, 0.25], [0.95, 0.5, 0.6]],
          lr=0.1, epochs=300, batch_size=4, log_every=50)),
]


def _all_finite(obj):
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, (list, tuple)):
        return all(_all_finite(v) for v in obj)
    if isinstance(obj, dict):
        return all(_all_finite(v) for v in obj.values())
    return True


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, description, spec in CONFIGS:
        assert sorted(spec) == sorted(SPEC_KEYS), name
        losses, initial, final = run(spec)
        assert len(losses) == spec["epochs"]
        assert _all_finite(losses) and _all_finite(initial) and _all_finite(final), name
        assert losses[-1] < 0.5 * losses[0], (name, losses[0], losses[-1])
        if name == "article":
            lines = [f"Epoch {e}, Loss: {losses[e]:.4f}" for e in range(0, spec["epochs"], 100)]
            assert lines[0] == "Epoch 0, Loss: 10.8979", lines[0]
            assert lines[-1] == "Epoch 900, Loss: 0.0573", lines[-1]
            print("\n".join(lines))
        doc = {
            "generated_by": "python3 scripts/gen_parity_fixtures.py",
            "numpy_version": np.__version__,
            "name": name,
            "description": description,
            "spec": {k: spec[k] for k in SPEC_KEYS},
            "loss": losses,
            "initial": initial,
            "final": final,
        }
        path = os.path.join(OUT_DIR, name + ".json")
        text = json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n"
        assert len(text.encode()) < 150_000, (name, len(text))
        with open(path, "w", encoding="ascii", newline="\n") as f:
            f.write(text)
        print(f"{name}: loss {losses[0]:.6g} -> {losses[-1]:.6g}, wrote {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
