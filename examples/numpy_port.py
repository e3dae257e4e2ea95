#!/usr/bin/env python3
"""A short NumPy port of backprop-oracle's dense network, for port authors.

Written from README.md's math, not from the Rust code. Trains any model spec and writes a
golden trajectory: initial/final parameters, every epoch's loss, and the full forward,
backward and update of the first N updates (JSON; optionally the same arrays as .npz).
    python3 examples/numpy_port.py [--spec SPEC.json] [--trace-steps N] [--out F.json] [--npz F.npz]

Losses (the spec's "loss"), per sample L_r of the output ŷ (m) and target y (m), and the
batch objective L̄ = (1/B) sum_r L_r:
    mse                    L = (1/m) sum_k (ŷ_k - y_k)²              dL̄/dŶ = 2(Ŷ - Y)/(mB)
    softmax_cross_entropy  L = logsumexp(ŷ) - y·ŷ                   dL̄/dŶ = (softmax(Ŷ) - Y)/B
    binary_cross_entropy   L = (1/m) sum_k [max(ŷ,0) - ŷy + log1p(exp(-|ŷ|))]
                                                                    dL̄/dŶ = (σ(Ŷ) - Y)/(mB)
The cross-entropies take logits: the last layer must be identity. A flat y with a softmax
over m ≥ 2 outputs is class labels 0 … m-1 (one-hot encoded here). x and y may also name a
.npy file, an .npz (member named like the key), or {"file": F, "member": M}, relative to the
spec's folder; a held-out x_test/y_test is accepted and not used. The initial parameters are
drawn (np.random.seed(seed), then init_scale * randn(out, in) per layer, b = 0) unless the
spec gives them under "initial" instead of seed and init_scale: {"layers": [{"W", "b"}, ...]}
(input side first), or an .npz ("F.npz" or {"file": F}) holding W1_init, b1_init, W2_init, ...
The header's spec then holds them inline. Bad input: exit code 2.

Shapes: a batch is B samples as rows. Layer k maps `in` -> `out` features:
W (out, in), b (out), X (B, in), Z = A = (B, out). m = width of the output layer.
"""
import argparse, io, json, os, shlex, sys, zipfile
import numpy as np

ARTICLE = {"sizes": [2, 3, 1], "activations": ["relu", "identity"], "loss": "mse", "seed": 0,
           "init_scale": 1.0, "x": [[1, 2], [2, 1], [3, 1], [1, 3]], "y": [4, 3, 5, 5],
           "lr": 0.01, "epochs": 1000, "batch_size": 1, "log_every": 100}
REQUIRED = ("sizes", "activations", "x", "y")
LOSSES = ("mse", "softmax_cross_entropy", "binary_cross_entropy")
DEFAULTS = {key: value for key, value in ARTICLE.items() if key not in REQUIRED}   # README table


# Each activation as (act(z), act'(z)), elementwise on Z (B, out). sigmoid' = e/(1+e)² with
# e = exp(-|z|) and tanh' = 4e/(1+e)² with e = exp(-2|z|): accurate even when saturated.
def _sigmoid(z):
    e = np.exp(-np.abs(z))                       # in (0, 1]: no overflow
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))

ACTIVATIONS = {
    "identity":   (lambda z: z,                          lambda z: np.ones_like(z)),
    "relu":       (lambda z: np.maximum(0, z),           lambda z: (z > 0).astype(float)),
    "leaky_relu": (lambda z: np.where(z > 0, z, 0.01 * z), lambda z: np.where(z > 0, 1.0, 0.01)),
    "sigmoid":    (_sigmoid, lambda z: np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))) ** 2),
    "tanh":       (np.tanh,  lambda z: 4 * np.exp(-2 * np.abs(z)) / (1 + np.exp(-2 * np.abs(z))) ** 2),
}


def fail(message):                               # bad input: one line on stderr, exit code 2
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def load_data(value, key, base):
    """Inline data, or the array a file reference names: "F.npy", "F.npz" (the member named
    like the key) or {"file": F, "member": M}, relative to the spec's folder (base)."""
    if not isinstance(value, (str, dict)):
        return np.array(value, dtype=np.float64)
    name, member = (value, key) if isinstance(value, str) else (value["file"], value.get("member", key))
    data = np.load(os.path.join(base, name), allow_pickle=False)
    return np.asarray(data[member] if isinstance(data, np.lib.npyio.NpzFile) else data,
                      dtype=np.float64)                # int64 class labels become exact floats


def load_initial(value, sizes, base):
    """The spec's "initial": inline {"layers": [{"W": (out, in), "b": (out)}, ...]}, or an
    .npz ("F.npz" or {"file": F}) holding W1_init, b1_init, ... (1-based, as export names
    them). Returns [(W, b)] per layer as float64 arrays."""
    try:
        if isinstance(value, dict) and "layers" in value:
            params = [(np.array(l["W"], dtype=np.float64), np.array(l["b"], dtype=np.float64))
                      for l in value["layers"]]
        else:
            data = np.load(os.path.join(base, value if isinstance(value, str) else value["file"]),
                           allow_pickle=False)
            params = [(np.asarray(data[f"W{k}_init"], dtype=np.float64),
                       np.asarray(data[f"b{k}_init"], dtype=np.float64)) for k in range(1, len(sizes))]
    except (KeyError, TypeError, ValueError, OverflowError, OSError) as e:
        fail(f"spec.initial: cannot read the initial parameters: {e!r}")
    shapes = [((n_out, n_in), (n_out,)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    if [(W.shape, b.shape) for W, b in params] != shapes:
        fail(f"spec.initial: must hold per layer W (out, in) and b (out): {shapes}")
    if not all(np.all(np.isfinite(W)) and np.all(np.isfinite(b)) for W, b in params):
        fail("spec.initial: every value must be finite")
    return params


def load_spec(path):
    """The spec with every key filled in; x as (n, n_0) and y as (n, n_L) float arrays.
    With "initial", seed and init_scale are absent (one source) and initial is inline."""
    spec = dict(ARTICLE) if path is None else json.load(open(path))
    base = "." if path is None else os.path.dirname(path)
    unknown = set(spec) - set(ARTICLE) - {"x_test", "y_test", "initial"}  # held-out set unused
    missing = set(REQUIRED) - set(spec)
    if unknown or missing:
        fail(f"spec: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
    given = "initial" in spec                    # the parameters, instead of seed and init_scale
    if given and {"seed", "init_scale"} & set(spec):
        fail("spec.initial: is given with seed/init_scale: the initial parameters come from one source")
    keys = [k for k in ARTICLE if not given or k not in ("seed", "init_scale")]
    raw, spec = spec, {key: spec.get(key, DEFAULTS.get(key)) for key in keys}   # README key order
    for key in ("seed", "epochs", "batch_size", "log_every"):
        if key in spec:
            spec[key] = int(spec[key])
    for key in ("init_scale", "lr"):
        if key in spec:
            spec[key] = float(spec[key])
    if given:                                    # the parameters themselves, inline
        spec["initial"] = {"layers": layers_json(load_initial(raw["initial"], spec["sizes"], base))}
    loss, acts, m = spec["loss"], spec["activations"], spec["sizes"][-1]
    if loss not in LOSSES:
        fail(f"spec.loss: must be one of {', '.join(LOSSES)}, got {loss!r}")
    if loss != "mse" and acts[-1] != "identity":      # the cross-entropies take logits
        fail(f"spec.activations[{len(acts) - 1}]: must be identity with the loss {loss}, got {acts[-1]}")
    if loss == "softmax_cross_entropy" and m < 2:
        fail(f"spec.sizes[{len(acts)}]: must be ≥ 2 with the loss softmax_cross_entropy, got {m}")
    x = load_data(spec["x"], "x", base)                             # (n, n_0)
    y = load_data(spec["y"], "y", base)
    if loss == "softmax_cross_entropy" and y.ndim == 1:             # class labels 0 … m-1
        bad = [i for i, c in enumerate(y) if not (0 <= c < m and c == int(c))]
        if bad:
            fail(f"spec.y[{bad[0]}]: must be a class label 0..={m - 1}, got {y[bad[0]]}")
        y = np.eye(m)[y.astype(int)]                                # one-hot rows (n, m)
    y = y.reshape(len(x), -1)                                       # (n, n_L), flat y -> one column
    assert x.shape[1] == spec["sizes"][0] and y.shape[1] == m, "x/y shape vs sizes"
    assert len(acts) == len(spec["sizes"]) - 1
    if loss != "mse" and not np.all((y >= 0) & (y <= 1)):
        fail(f"spec.y: targets must be in [0, 1] with the loss {loss}")
    if loss == "softmax_cross_entropy" and np.any(np.abs(y.sum(axis=1) - 1) > 1e-9):
        fail("spec.y: each row must sum to 1 with the loss softmax_cross_entropy")
    spec["x"], spec["y"] = x.tolist(), (y.tolist() if y.shape[1] > 1 else y[:, 0].tolist())
    return spec, x, y


def loss_and_gradient(loss, Yhat, Y):
    """Per-sample losses L (B,) and dL̄/dŶ (B, m) for the batch mean L̄ = (1/B) sum_r L_r."""
    B, m = Y.shape
    if loss == "softmax_cross_entropy":
        c = Yhat.max(axis=1, keepdims=True)      # the max shift: no exp overflows
        e = np.exp(Yhat - c)                     # (B, m)
        s = e.sum(axis=1, keepdims=True)         # (B, 1)
        L = (np.log(s) + c)[:, 0] - np.sum(Y * Yhat, axis=1)   # logsumexp(ŷ) - y·ŷ
        return L, (e / s - Y) / B                # (softmax(ŷ) - y)/B
    if loss == "binary_cross_entropy":
        L = np.mean(np.maximum(Yhat, 0) - Yhat * Y + np.log1p(np.exp(-np.abs(Yhat))), axis=1)
        return L, (_sigmoid(Yhat) - Y) / (m * B)  # (σ(ŷ) - y)/(mB)
    L = np.mean((Yhat - Y) ** 2, axis=1)         # L_r = (1/m) sum_k (ŷ-y)²
    return L, 2 * (Yhat - Y) / (m * B)           # dL̄/dŶ, L̄ = mean over the batch


def init_params(spec):
    """The spec's initial parameters if it gives them (no generator then); else
    np.random.seed(seed); then per layer in order W = init_scale * randn(out, in), b = 0."""
    if "initial" in spec:
        return [(np.array(l["W"], dtype=np.float64), np.array(l["b"], dtype=np.float64))
                for l in spec["initial"]["layers"]]
    np.random.seed(spec["seed"])
    sizes = spec["sizes"]
    return [(spec["init_scale"] * np.random.randn(n_out, n_in), np.zeros(n_out))
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def forward(params, acts, X):
    """X (B, n_0) -> list of (Z, A) per layer, each (B, out)."""
    cache, A = [], X
    for (W, b), name in zip(params, acts):
        Z = A @ W.T + b                          # (B, in) @ (in, out) + (out,) -> (B, out)
        A = ACTIVATIONS[name][0](Z)
        cache.append((Z, A))
    return cache


def backward(params, acts, X, cache, dA):
    """dA = dL̄/dŶ (B, m). Returns [(dW (out,in), db (out), dX (B,in))] in layer order.
    Every gradient is taken with the OLD weights, before any update."""
    grads = []
    for k in reversed(range(len(params))):
        W, Z = params[k][0], cache[k][0]
        A_in = X if k == 0 else cache[k - 1][1]  # this layer's input (B, in)
        dZ = dA * ACTIVATIONS[acts[k]][1](Z)     # (B, out)
        dW = dZ.T @ A_in                         # (out, B) @ (B, in) -> (out, in)
        db = dZ.sum(axis=0)                      # (out,)
        dA = dZ @ W                              # (B, out) @ (out, in) -> (B, in)
        grads.append((dW, db, dA))
    return grads[::-1]


def layers_json(params):                         # [(W, b), ...] -> JSON layers
    return [{"W": W.tolist(), "b": b.tolist()} for W, b in params]


def train(spec, x, y, trace_steps):
    params = init_params(spec)
    initial = [(W.copy(), b.copy()) for W, b in params]
    acts, lr, bs = spec["activations"], spec["lr"], spec["batch_size"]
    losses, steps, step = [], [], 0
    for epoch in range(spec["epochs"]):
        total = 0.0
        for start in range(0, len(x), bs):       # consecutive batches, in data order
            idx = np.arange(start, min(start + bs, len(x)))  # B = len(idx); the last may be shorter
            X, Y = x[idx], y[idx]                # (B, n_0), (B, m)
            cache = forward(params, acts, X)
            Yhat = cache[-1][1]                  # (B, m)
            sample_loss, dYhat = loss_and_gradient(spec["loss"], Yhat, Y)   # (B,), (B, m)
            total = sum(sample_loss, total)      # epoch loss: per-sample losses, added in order
            grads = backward(params, acts, X, cache, dYhat)
            for (W, b), (dW, db, _) in zip(params, grads):
                W -= lr * dW                     # in place: one update per batch
                b -= lr * db
            if step < trace_steps:               # keep the arrays; written out in main()
                steps.append({"step": step, "epoch": epoch, "samples": idx, "cache": cache,
                              "loss": sample_loss, "d_output": dYhat, "grads": grads,
                              "after": [(W.copy(), b.copy()) for W, b in params]})
            step += 1
        losses.append(float(total))
        if epoch % spec["log_every"] == 0:
            print(f"Epoch {epoch}, Loss: {total:.4f}")
    return initial, params, losses, steps


def step_json(st):
    """One traced update in the trajectory schema (every batch array as a list of rows)."""
    return {"step": st["step"], "epoch": st["epoch"], "samples": st["samples"].tolist(),
            "forward": [{"z": Z.tolist(), "a": A.tolist()} for Z, A in st["cache"]],
            "loss": st["loss"].tolist(), "d_output": st["d_output"].tolist(),
            "backward": [{"dW": dW.tolist(), "db": db.tolist(), "dx": dX.tolist()}
                         for dW, db, dX in st["grads"]],
            "after": {"layers": layers_json(st["after"])}}


def save_npz(path, initial, final, losses, steps):
    """Same arrays, layer numbers k 1-based (W1 = first layer). Written with np.savez, then
    re-zipped with a fixed timestamp so that the file is byte-for-byte deterministic."""
    arr = {}
    for k, ((W0, b0), (W, b)) in enumerate(zip(initial, final), 1):
        arr[f"W{k}_init"], arr[f"b{k}_init"], arr[f"W{k}_final"], arr[f"b{k}_final"] = W0, b0, W, b
    arr["loss"] = np.array(losses)
    for st in steps:
        s = st["step"]
        arr[f"step{s}_samples"] = st["samples"].astype(np.int64)
        arr[f"step{s}_loss"], arr[f"step{s}_dyhat"] = st["loss"], st["d_output"]
        for k, ((Z, A), (dW, db, dX), (W, b)) in enumerate(zip(st["cache"], st["grads"], st["after"]), 1):
            arr[f"step{s}_z{k}"], arr[f"step{s}_a{k}"] = Z, A
            arr[f"step{s}_dW{k}"], arr[f"step{s}_db{k}"], arr[f"step{s}_dx{k}"] = dW, db, dX
            arr[f"step{s}_W{k}"], arr[f"step{s}_b{k}"] = W, b
    buf = io.BytesIO()
    np.savez(buf, **arr)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            dst.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), src.read(name))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec"), ap.add_argument("--out"), ap.add_argument("--npz")
    ap.add_argument("--trace-steps", type=int, default=8)
    args = ap.parse_args()
    spec, x, y = load_spec(args.spec)
    initial, final, losses, steps = train(spec, x, y, args.trace_steps)
    if args.npz:
        save_npz(args.npz, initial, final, losses, steps)
    doc = {"format": "backprop-oracle trajectory", "schema_version": 1,
           "header": {"tool": "examples/numpy_port.py", "version": f"numpy {np.__version__}",
                      "command": "python3 " + shlex.join(sys.argv), "spec": spec,
                      "trace_steps": args.trace_steps},
           "initial": {"layers": layers_json(initial)}, "loss": losses,
           "final": {"layers": layers_json(final)}, "steps": [step_json(st) for st in steps]}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(doc, f, allow_nan=False)   # shortest round-trip floats; NaN is an error
            f.write("\n")


if __name__ == "__main__":
    main()
