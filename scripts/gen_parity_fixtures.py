#!/usr/bin/env python3
"""Generate tests/fixtures/parity/<name>.json: golden training traces of a small
fully connected network, computed by an independent NumPy implementation.

Each configuration is a "model spec" (sizes, activations, loss, seed, init_scale,
x, y, lr, epochs, batch_size, log_every). The script initialises the network
from NumPy's legacy global RNG, trains it and records the total loss of every
epoch plus the initial and final parameters.

Semantics: np.random.seed(seed); for each layer in order W = init_scale *
np.random.randn(out, in), b = zeros(out). Forward z = W @ x + b for one sample,
Z = X @ W.T + b for a batch. batch_size 1 is per-sample SGD; otherwise the
samples are taken in order (no shuffling) in batches of batch_size, the last one
possibly shorter, and the gradient is that of the batch-mean loss. The backward of
every layer is done first, then W -= lr * dW, b -= lr * db. An epoch's loss is the
sum of the per-sample losses, in sample order, accumulated in a Python float.

Losses (y_hat: the last layer's output, K values per sample; B: rows in the batch,
1 for a single sample). Per-sample losses and gradients, with the exact NumPy ops:

  "mse":  L = np.mean((y_hat - y) ** 2) (per row); dL/dy_hat = 2 * (y_hat - y) / (K * B).

  "softmax_cross_entropy" (last activation "identity": y_hat are logits; y is a
  row of K target probabilities, or, when the spec's y is a flat list, the integer
  class labels 0..K-1, written as JSON integers, made one-hot):
      mx = max_k y_hat_k;  e = exp(y_hat - mx);  s = sum_k e_k
      L  = (mx + log(s)) - sum_k (y_k * y_hat_k)
      dL/dy_hat = (e / s - y) / B, at the largest logit (top, e_top = 1) written as
      ((1 - y_top) - y_top * r) / s with r = s - 1 summed without e_top and s = 1 + r
      (a confident right answer keeps its digits); for B = 1 no division by B
  The max shift keeps every exp argument <= 0, so logits of any size are finite.

  "binary_cross_entropy" (last activation "identity": y_hat are logits; y in [0, 1],
  a flat y is one target per sample, K = 1):
      e = exp(-|y_hat|)
      L = sum_k ((max(y_hat_k, 0) - y_hat_k * y_k) + log1p(e_k)) / K
      dL/dy_hat = (sigmoid(y_hat) - y) / (K * B), written as (1 - y) - e / (1 + e)
      where y_hat >= 0 and e / (1 + e) - y where y_hat < 0 (no cancellation when the
      prediction is confidently right).

  Sums over k are np.sum along the row (left to right for K < 8, NumPy's pairwise
  sum with 8 accumulators from K = 8 on; every fixture here has K <= 4).

For the two cross-entropy losses the fixture also holds "final_accuracy", the
trained network's accuracy on its own training data (batch forward of all of x):
softmax_cross_entropy, the fraction of samples whose np.argmax of the logits (the
first maximum) is the target class (np.argmax of the target row);
binary_cross_entropy, the fraction of (sample, output) pairs where
(y_hat > 0) == (y >= 0.5). The script asserts no prediction is within 1e-6 of a
tie. softmax_large_logits asserts that its first forward has a logit above 709.78
(so a naive exp(y_hat) / sum(exp(y_hat)) overflows) while its losses stay finite.

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


# --------------------------------------------------------------------------
# Losses: name -> function (y_hat, y) -> (per-sample losses (1-D array),
# gradient of the batch-mean loss with respect to y_hat). y_hat and y are one
# sample (K,) or a batch (B, K); B = 1 for a single sample.
# --------------------------------------------------------------------------
def _mse(y_hat, y):
    diff = y_hat - y
    n_out = y_hat.shape[-1]
    if y_hat.ndim == 1:
        losses = np.array([np.mean(diff ** 2)])
        grad = 2.0 * diff / n_out
    else:
        losses = np.mean(diff ** 2, axis=1)
        grad = 2.0 * diff / (n_out * y_hat.shape[0])
    return losses, grad


def _softmax_grad_row(row, y):
    """(softmax(row) - y) for one row of logits, the accurate form: top = np.argmax
    (the first largest), e = exp(row - row[top]) (e[top] = 1), r = the sum of e
    without e[top] (left to right), s = 1 + r; e_k / s - y_k away from top and
    ((1 - y_top) - y_top * r) / s at top (a confident right answer keeps its digits)."""
    top = int(np.argmax(row))
    e = np.exp(row - row[top])
    r = 0.0
    for k in range(len(row)):
        if k != top:
            r += e[k]
    s = 1.0 + r
    g = e / s - y
    g[top] = ((1.0 - y[top]) - y[top] * r) / s
    return g


def _softmax_cross_entropy(y_hat, y):
    """y_hat: logits; y: target distribution rows (one-hot for class labels).
    L = (mx + log(s)) - sum_k(y_k * y_hat_k), mx = max_k y_hat_k,
    s = sum_k exp(y_hat_k - mx); dL/dy_hat = (softmax - y) / B (_softmax_grad_row)."""
    if y_hat.ndim == 1:
        mx = np.max(y_hat)
        e = np.exp(y_hat - mx)
        s = np.sum(e)
        losses = np.array([(mx + np.log(s)) - np.sum(y * y_hat)])
        grad = _softmax_grad_row(y_hat, y)  # B = 1
    else:
        mx = np.max(y_hat, axis=1, keepdims=True)
        e = np.exp(y_hat - mx)
        s = np.sum(e, axis=1, keepdims=True)
        losses = (mx[:, 0] + np.log(s[:, 0])) - np.sum(y * y_hat, axis=1)
        grad = np.array([_softmax_grad_row(y_hat[r], y[r]) for r in range(y_hat.shape[0])])
        grad = grad / y_hat.shape[0]
    return losses, grad


def _binary_cross_entropy(y_hat, y):
    """y_hat: logits; y: targets in [0, 1]. With e = exp(-|y_hat|):
    L = sum_k(max(y_hat_k, 0) - y_hat_k * y_k + log1p(e_k)) / K,
    dL/dy_hat = (sigmoid(y_hat) - y) / (K * B), sigmoid = 1/(1+e) for y_hat >= 0,
    e/(1+e) for y_hat < 0 (e = exp(y_hat) there: never overflows)."""
    n_out = y_hat.shape[-1]
    e = np.exp(-np.abs(y_hat))
    terms = (np.maximum(y_hat, 0.0) - y_hat * y) + np.log1p(e)
    # sigmoid(y_hat) - y, accurately: (1 - y) - e/(1+e) for y_hat >= 0, e/(1+e) - y below.
    g = np.where(y_hat >= 0, (1.0 - y) - e / (1.0 + e), e / (1.0 + e) - y)
    if y_hat.ndim == 1:
        losses = np.array([np.sum(terms) / n_out])
        grad = g / n_out
    else:
        losses = np.sum(terms, axis=1) / n_out
        grad = g / (n_out * y_hat.shape[0])
    return losses, grad


LOSSES = {
    "mse": _mse,
    "softmax_cross_entropy": _softmax_cross_entropy,
    "binary_cross_entropy": _binary_cross_entropy,
}


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

    def train_step(self, x, y, lr, loss="mse"):
        """Forward + loss + backward + update on one sample (x 1-D) or a batch
        (x 2-D). Returns the per-sample losses (1-D array) before the update."""
        y_hat = self.forward(x)
        losses, grad = LOSSES[loss](y_hat, y)
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


def targets(spec):
    """The targets as an (n, K) float array. For softmax cross-entropy a flat y is
    a list of integer class labels 0..K-1, made one-hot; otherwise a flat y is one
    target per sample (K = 1)."""
    k = spec["sizes"][-1]
    if spec["loss"] == "softmax_cross_entropy" and not isinstance(spec["y"][0], list):
        labels = spec["y"]
        assert all(type(c) is int and 0 <= c < k for c in labels), labels
        return np.eye(k)[labels]
    Y = np.array(spec["y"], dtype=np.float64)
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    return Y


def accuracy(spec, net, X, Y):
    """Accuracy of the network on (X, Y). softmax_cross_entropy: fraction of samples
    whose first argmax of the logits is the target class (first argmax of the target
    row). binary_cross_entropy: fraction of (sample, output) pairs with
    (logit > 0) == (target >= 0.5). Asserts that no prediction is a near tie, so that
    last-bit differences cannot change it."""
    logits = net.forward(X)
    if spec["loss"] == "softmax_cross_entropy":
        top2 = np.sort(logits, axis=1)[:, -2:]
        assert np.min(top2[:, 1] - top2[:, 0]) > 1e-6, "near tie in argmax"
        hits = np.argmax(logits, axis=1) == np.argmax(Y, axis=1)
    else:
        assert np.min(np.abs(logits)) > 1e-6, "logit near 0"
        hits = (logits > 0) == (Y >= 0.5)
    return float(np.mean(hits))


def run(spec):
    X = np.array(spec["x"], dtype=np.float64)
    Y = targets(spec)
    n, bs = X.shape[0], spec["batch_size"]
    assert X.shape == (n, spec["sizes"][0]) and Y.shape == (n, spec["sizes"][-1])
    if spec["loss"] != "mse":
        assert spec["activations"][-1] == "identity", "cross-entropy losses take logits"
    net = Network(spec)
    initial = net.snapshot()
    initial_logits = net.forward(X)
    epoch_losses = []
    for _ in range(spec["epochs"]):
        total = 0.0
        if bs == 1:
            for i in range(n):
                for l in net.train_step(X[i], Y[i], spec["lr"], spec["loss"]):
                    total += float(l)
        else:
            for start in range(0, n, bs):
                for l in net.train_step(X[start:start + bs], Y[start:start + bs], spec["lr"], spec["loss"]):
                    total += float(l)
        epoch_losses.append(total)
    acc = None if spec["loss"] == "mse" else accuracy(spec, net, X, Y)
    return epoch_losses, initial, net.snapshot(), initial_logits, acc


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
    # Classification losses (the last layer outputs logits). Each of these fixtures
    # also records "final_accuracy" on its training data.
    ("softmax_labels_per_sample", "2-5-3 relu/identity, softmax cross-entropy on integer class labels (flat y), seed 1, per-sample SGD on 9 samples.",
     dict(sizes=[2, 5, 3], activations=["relu", "identity"], loss="softmax_cross_entropy", seed=1, init_scale=1.0,
          x=[[0.5, 1.0], [1.5, -0.5], [2.0, 1.0], [-1.0, 2.5], [0.0, 0.5], [2.5, 2.0], [1.0, -1.5],
             [-2.0, -1.0], [-0.5, -2.0]],
          y=[0, 1, 2, 0, 0, 2, 1, 1, 1],
          lr=0.05, epochs=200, batch_size=1, log_every=20)),
    ("softmax_onehot_minibatch", "3-6-4 tanh/identity, softmax cross-entropy on one-hot rows, seed 7, mini-batch GD batch_size 3 on 10 samples (last batch of 1).",
     dict(sizes=[3, 6, 4], activations=["tanh", "identity"], loss="softmax_cross_entropy", seed=7, init_scale=1.0,
          x=[[0.5, -1.0, 2.0], [1.5, 0.0, -0.5], [-2.0, 1.0, 0.5], [0.0, 2.5, -1.5], [3.0, -0.5, 1.0],
             [-1.0, -2.0, -1.0], [1.0, 1.0, 1.0], [-0.5, 0.5, -2.5], [2.0, 2.0, -1.0], [-1.5, -0.5, 1.5]],
          y=[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0],
             [0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0],
             [0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]],
          lr=0.1, epochs=300, batch_size=3, log_every=50)),
    ("softmax_soft_targets", "3-4-3 leaky_relu/identity, softmax cross-entropy on probability rows (not one-hot), seed 13, mini-batch GD batch_size 4 on 6 samples (last batch of 2).",
     dict(sizes=[3, 4, 3], activations=["leaky_relu", "identity"], loss="softmax_cross_entropy", seed=13, init_scale=1.0,
          x=[[0.5, 1.0, -1.0], [-2.0, 0.5, 1.5], [1.5, -1.5, 0.0], [0.0, 2.0, 2.5], [-1.0, -1.0, -0.5],
             [3.0, 0.5, 1.0]],
          y=[[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.1, 0.3], [0.0, 0.25, 0.75], [0.2, 0.5, 0.3],
             [0.9, 0.05, 0.05]],
          lr=0.1, epochs=300, batch_size=4, log_every=50)),
    ("softmax_large_logits", "2-4-3 relu/identity, softmax cross-entropy on labels, seed 0, init_scale 10: initial logits up to ~1350 (a naive exp overflows); lr 0.001, batch_size 2 on 8 samples.",
     dict(sizes=[2, 4, 3], activations=["relu", "identity"], loss="softmax_cross_entropy", seed=0, init_scale=10.0,
          x=[[4.0, 1.0], [-3.0, 5.0], [2.0, -4.0], [-5.0, -2.0], [1.0, 3.0], [5.0, 5.0], [-2.0, -5.0],
             [3.0, -1.0]],
          y=[0, 1, 2, 1, 0, 2, 1, 2],
          lr=0.001, epochs=200, batch_size=2, log_every=20)),
    ("bce_minibatch", "2-4-1 relu/identity, binary cross-entropy on 0/1 targets (flat y), seed 6, mini-batch GD batch_size 2 on 7 samples (last batch of 1).",
     dict(sizes=[2, 4, 1], activations=["relu", "identity"], loss="binary_cross_entropy", seed=6, init_scale=1.0,
          x=MB_X, y=[1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0],
          lr=0.1, epochs=300, batch_size=2, log_every=50)),
    ("bce_two_outputs", "3-5-2 tanh/identity, binary cross-entropy with two outputs, soft and conflicting targets (one input three times), seed 5, mini-batch GD batch_size 3 on 8 samples (last batch of 2).",
     dict(sizes=[3, 5, 2], activations=["tanh", "identity"], loss="binary_cross_entropy", seed=5, init_scale=1.0,
          x=[[1.0, 0.5, -0.5], [-1.5, 2.0, 0.0], [0.0, -1.0, 1.5], [2.0, 1.0, 1.0], [-0.5, -0.5, -2.0],
             [1.5, -2.0, 0.5], [1.0, 0.5, -0.5], [1.0, 0.5, -0.5]],
          y=[[1.0, 0.0], [0.0, 1.0], [0.75, 0.25], [1.0, 1.0], [0.0, 0.0], [0.2, 0.9], [0.0, 1.0],
             [1.0, 1.0]],
          lr=0.1, epochs=300, batch_size=3, log_every=50)),
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
        losses, initial, final, initial_logits, acc = run(spec)
        assert len(losses) == spec["epochs"]
        assert _all_finite(losses) and _all_finite(initial) and _all_finite(final), name
        assert losses[-1] < 0.5 * losses[0], (name, losses[0], losses[-1])
        max_logit = float(np.max(np.abs(initial_logits)))
        if name == "softmax_large_logits":
            # The naive softmax exp(y_hat) / sum(exp(y_hat)) overflows (a logit above
            # log(DBL_MAX) ~ 709.78) while the max-shifted loss above stayed finite.
            assert max_logit >= 50 and np.max(initial_logits) > 709.79, max_logit
            with np.errstate(over="ignore", invalid="ignore"):
                naive = np.exp(initial_logits) / np.sum(np.exp(initial_logits), axis=1, keepdims=True)
            assert not np.all(np.isfinite(naive)), "the naive softmax should overflow"
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
        if acc is not None:
            doc["final_accuracy"] = acc
        path = os.path.join(OUT_DIR, name + ".json")
        text = json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n"
        assert len(text.encode()) < 150_000, (name, len(text))
        with open(path, "w", encoding="ascii", newline="\n") as f:
            f.write(text)
        extra = "" if acc is None else f", max |initial logit| {max_logit:.4g}, final accuracy {acc:.4g}"
        print(f"{name}: loss {losses[0]:.6g} -> {losses[-1]:.6g}{extra}, wrote {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
