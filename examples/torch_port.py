#!/usr/bin/env python3
"""A PyTorch port of backprop-oracle's dense network, for port authors.

Written from README.md ("The math (with shapes)", "Model spec (JSON)", "For port authors")
and examples/numpy_port.py, not from the Rust code. Trains any model spec and writes a
trajectory.json (schema_version 1) or a reference.npz that `backprop-oracle compare` reads.

    python3 examples/torch_port.py --spec SPEC.json --out OUT.json|OUT.npz
        [--dtype float32|float64] [--trace-steps N] [--backward autograd|manual] [--bug NAME]

  --spec         model spec JSON (README keys; missing optional keys take the README
                 defaults; `x`/`y` inline, or a string naming a float64 .npy file or an .npz
                 holding arrays `x` and `y`, or {"file": F, "member": M} (optional "shape",
                 "dtype", "sha256" are checked), relative to the spec file's folder; `y` may
                 be int64 in a file; a held-out `x_test`/`y_test` is accepted and ignored;
                 `initial` instead of `seed`/`init_scale` gives the initial parameters, used
                 as they are, no generator: {"layers": [{"W": (out, in), "b": (out)}, ...]},
                 input side first, or an .npz (a name or {"file": F}) holding W1_init,
                 b1_init, W2_init, ...; the header's spec then holds them inline).
                 Default: the article's 2-3-1 spec.
  --out          `.json` -> trajectory.json, `.npz` -> reference.npz (float arrays in the
                 port's dtype, `step{s}_samples` int64). Written to a temporary sibling and
                 renamed into place.
  --dtype        float64 (default) or float32. In float32 mode parameters, data and all
                 arithmetic are float32; the initial weights are drawn in float64 with
                 np.random.seed(seed) + np.random.randn (legacy RandomState) and then cast.
  --trace-steps  record the first N updates in full (default 8).
  --backward     autograd (default): leaf tensors with requires_grad, the batch-mean loss,
                 loss.backward(), torch.optim.SGD(lr).step(), zero_grad(); z/a/d_output/dx
                 come from retain_grad() on the intermediate activations and requires_grad
                 on the batch X.
                 manual: a hand-written tensor backward with the README's batched formulas
                 dZ = dA * act'(Z), dW = dZ^T X, db = sum_rows dZ, dX = dZ W, then
                 W <- W - lr dW, b <- b - lr db for every layer after all gradients are known.
  --bug NAME     inject a realistic mistake (default: none):
                   init-transposed   W drawn as randn(in, out).T instead of randn(out, in)
                   drop-last-batch   the last partial batch of each epoch is skipped
                                     (DataLoader(drop_last=True))
                   bias-grad-mean    db averaged over the batch rows instead of summed     *
                   mse-without-2     dL/dy_hat = (y_hat - y)/m; reported losses stay right *
                   stale-weights     each layer is updated as soon as its gradient is known,
                                     so the layer below back-propagates through the new W *
                   softmax-wrong-axis  (softmax_cross_entropy) the hand-written gradient
                                     (softmax(ŷ) - y)/B takes torch.softmax(ŷ, dim=0): the
                                     softmax is normalised over the batch, not the classes;
                                     reported losses stay right (F.cross_entropy)            *
                   ce-sum-not-mean   (cross-entropies) reduction='sum' instead of 'mean', so
                                     the gradient is not divided by B (manual: no 1/B). For
                                     binary_cross_entropy torch's sum is over all B·m terms,
                                     so the 1/m goes too (the gradient is m·B times too large)
                 (* need the hand-written backward: they imply --backward manual;
                 mse-without-2 needs the loss mse)

Exit codes: 0 success; 2 bad input (one line `error: ...` on stderr); 3 training diverged
(a loss or parameter became non-finite; nothing is written).

Losses (the spec's "loss"; the cross-entropies take logits from an identity last layer):
  mse                    ((ŷ - y)²).mean(dim=1) per sample, their mean as the objective
  softmax_cross_entropy  F.cross_entropy(ŷ, target, reduction='mean'), target the class
                         indices (int64) when y is one-hot (e.g. given as class labels, a flat
                         y of 0 … m-1), else the probability rows; per-sample losses from
                         reduction='none'. manual: dL̄/dŶ = (torch.softmax(ŷ, dim=1) - y)/B
  binary_cross_entropy   F.binary_cross_entropy_with_logits(ŷ, y, reduction='mean') (a mean
                         over all B·m terms, = (1/B) sum_r (1/m) sum_k); per-sample losses the
                         reduction='none' terms' mean over the outputs. manual:
                         dL̄/dŶ = (torch.sigmoid(ŷ) - y)/(m B)

Derivatives at the kinks: relu'(0) = 0 (torch's threshold_backward, and `z > 0` in the
manual path), leaky_relu'(0) = 0.01 (slope 0.01; torch uses `z > 0` too). With autograd,
sigmoid' and tanh' are computed by torch from the output (s(1-s), 1-t^2); the manual path
uses e/(1+e)^2 (e = exp(-|z|)) and 4e/(1+e)^2 (e = exp(-2|z|)), accurate when saturated.

Shapes: a batch is B samples as rows. Layer k maps `in` -> `out` features:
W (out, in), b (out), X (B, in), Z = A = (B, out). m = width of the output layer.
"""
import argparse, hashlib, io, json, math, os, shlex, sys, tempfile, zipfile
import numpy as np

TOOL = "torch_port"
BUGS = ("none", "init-transposed", "drop-last-batch", "bias-grad-mean", "mse-without-2",
        "stale-weights", "softmax-wrong-axis", "ce-sum-not-mean")
MANUAL_BUGS = ("bias-grad-mean", "mse-without-2", "stale-weights", "softmax-wrong-axis")
LOSS_BUGS = {"mse-without-2": ("mse",),           # bugs in one loss's code: the losses they need
             "softmax-wrong-axis": ("softmax_cross_entropy",),
             "ce-sum-not-mean": ("softmax_cross_entropy", "binary_cross_entropy")}

# ---------------------------------------------------------------------------------------
# Spec handling, data loading and output writing (the same code is in jax_port.py).
# ---------------------------------------------------------------------------------------
ARTICLE = {"sizes": [2, 3, 1], "activations": ["relu", "identity"], "loss": "mse", "seed": 0,
           "init_scale": 1.0, "x": [[1, 2], [2, 1], [3, 1], [1, 3]], "y": [4, 3, 5, 5],
           "lr": 0.01, "epochs": 1000, "batch_size": 1, "log_every": 100}
REQUIRED = ("sizes", "activations", "x", "y")
DEFAULTS = {key: value for key, value in ARTICLE.items() if key not in REQUIRED}
TEST_KEYS = ("x_test", "y_test")                 # a held-out set: accepted, never read or written
INITIAL = "initial"                              # given parameters, instead of seed and init_scale
ACTIVATION_NAMES = ("identity", "relu", "leaky_relu", "sigmoid", "tanh")
LOSSES = ("mse", "softmax_cross_entropy", "binary_cross_entropy")
REFERENCE_KEYS = ("file", "member", "shape", "dtype", "sha256")
ROW_SUM_SLACK = 1e-9                             # a probability row may sum to 1 ± this
MAX_SPEC_BYTES = 1 << 30


class InputError(Exception):
    """Bad input: reported as one `error: ...` line on stderr, exit code 2."""


class Diverged(Exception):
    """A loss or parameter became non-finite: exit code 3."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):                    # one line, exit 2 (argparse prints usage too)
        raise InputError(message)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _show(v):                                    # 3.0 -> "3", 0.5 -> "0.5"
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise InputError(f"spec: duplicate key {key!r}")
        out[key] = value
    return out


def _reject_constant(name):                      # NaN, Infinity, -Infinity are not JSON
    raise InputError(f"spec: non-finite number {name}")


def _read_file(field, value, base):
    """The array a file reference names: a string (a .npy file, or the .npz member named
    like the field) or {"file", "member", "shape", "dtype", "sha256"} (only `file` is
    required; `member` is for an .npz; the others, when given, must match what is read;
    sha256 is of the array's .npy bytes). Relative to the spec file's folder."""
    if isinstance(value, dict):
        for key in value:
            if key not in REFERENCE_KEYS:
                raise InputError(f"spec.{field}.{key}: unknown key (expected one of "
                                 f"{', '.join(REFERENCE_KEYS)})")
        name, member = value.get("file"), value.get("member")
        if not isinstance(name, str):
            raise InputError(f"spec.{field}.file: must be a file name")
        if member is not None and not isinstance(member, str):
            raise InputError(f"spec.{field}.member: must be a string")
    else:
        name, member = value, None
    if not name.strip():
        raise InputError(f"spec.{field}: names no file (empty string)")
    path = os.path.join(base, name)
    try:
        with open(path, "rb") as f:
            loaded = np.load(f, allow_pickle=False)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                member = field if member is None else member
                if member not in loaded.files:
                    raise InputError(f"spec.{field}: {name}: no array named {member!r} "
                                     f"in the .npz (has {sorted(loaded.files)})")
                arr = loaded[member]
                raw = loaded.zip.read(member + ".npy")   # the member as inflated
            else:
                if member is not None:
                    raise InputError(f"spec.{field}.member: is only for an .npz file")
                arr = loaded
                f.seek(0)
                raw = f.read()
    except InputError:
        raise
    except Exception as e:                       # OSError, ValueError, BadZipFile, ...
        raise InputError(f"spec.{field}: {name}: cannot read: {e}".replace("\n", " "))
    if isinstance(value, dict):
        if "shape" in value and value["shape"] != list(arr.shape):
            raise InputError(f"spec.{field}.shape: is {value['shape']}, but {name} holds "
                             f"{list(arr.shape)}")
        if "dtype" in value and value["dtype"] != arr.dtype.str:
            raise InputError(f"spec.{field}.dtype: is {value['dtype']!r}, but {name} holds "
                             f"{arr.dtype.str!r}")
        if "sha256" in value and value["sha256"] != hashlib.sha256(raw).hexdigest():
            raise InputError(f"spec.{field}.sha256: is {value['sha256']}, but {name} holds "
                             f"SHA-256 {hashlib.sha256(raw).hexdigest()}")
    if field == "y" and arr.dtype == np.int64:   # targets (class labels) may be int64
        if arr.size and np.abs(arr).max() > 2 ** 53:
            raise InputError(f"spec.y: {name}: an int64 target beyond 2^53 is not exact as float64")
        arr = arr.astype(np.float64)
    if arr.dtype != np.float64:
        allowed = "float64 or int64" if field == "y" else "float64"
        raise InputError(f"spec.{field}: {name}: dtype must be {allowed}, got {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _one_hot(labels, classes):
    """Class labels 0 … classes−1 (N,) -> one-hot rows (N, classes)."""
    for i, c in enumerate(labels):
        if not (c >= 0 and c < classes and float(c).is_integer()):
            raise InputError(f"spec.y[{i}]: must be a class label, a whole number in "
                             f"0..={classes - 1} (the network has {classes} outputs), got {_show(c)}")
    y = np.zeros((len(labels), classes))
    y[np.arange(len(labels)), labels.astype(np.int64)] = 1.0
    return y


def _check_targets(y, loss):
    """Cross-entropy targets: in [0, 1]; softmax's rows are probabilities (sum 1)."""
    if loss == "mse":
        return
    for r, row in enumerate(y):
        for c, v in enumerate(row):
            if not 0.0 <= v <= 1.0:
                raise InputError(f"spec.y[{r}][{c}]: must be in [0, 1] with the loss {loss} "
                                 f"(a probability or a 0/1 label), got {_show(v)}")
        if loss == "softmax_cross_entropy" and abs(sum(row.tolist()) - 1.0) > ROW_SUM_SLACK:
            raise InputError(f"spec.y[{r}]: must sum to 1 with the loss softmax_cross_entropy "
                             f"(a probability row, one-hot for a class; or give y as class "
                             f"labels), sums to {sum(row.tolist())!r}")


def _load_array(field, value, base, sizes, loss="mse"):
    """`x` or `y` as a float64 ndarray, from inline JSON or a .npy/.npz file. A flat `y`
    is one output, or class labels (one-hot encoded) for softmax_cross_entropy."""
    if isinstance(value, (str, dict)):
        arr = _read_file(field, value, base)
    elif isinstance(value, list):
        if not value:
            raise InputError(f"spec.{field}: must hold at least one sample")
        rows = all(isinstance(r, list) for r in value)
        if not rows and not all(_is_num(v) for v in value):
            raise InputError(f"spec.{field}: must be a list of numbers or of rows of numbers")
        if rows:
            width = len(value[0])
            for i, r in enumerate(value):
                if len(r) != width:
                    raise InputError(f"spec.{field}[{i}]: has {len(r)} numbers, row 0 has {width}")
                for j, v in enumerate(r):
                    if not _is_num(v):
                        raise InputError(f"spec.{field}[{i}][{j}]: must be a number")
        arr = np.array(value, dtype=np.float64)
    else:
        raise InputError(f"spec.{field}: must be an array, a .npy/.npz file name or "
                         f"{{\"file\": ..., \"member\": ...}}")
    if arr.size == 0:
        raise InputError(f"spec.{field}: empty")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"spec.{field}: contains a non-finite number")
    if field == "x":
        if arr.ndim != 2 or arr.shape[1] != sizes[0]:
            raise InputError(f"spec.x: must be (samples, {sizes[0]}), got shape {arr.shape}")
    else:
        if arr.ndim == 1:
            if loss == "softmax_cross_entropy" and sizes[-1] >= 2:
                arr = _one_hot(arr, sizes[-1])   # class labels
            elif sizes[-1] != 1:
                raise InputError(f"spec.y: flat y needs one output, the net has {sizes[-1]}")
            else:
                arr = arr.reshape(-1, 1)
        if arr.ndim != 2 or arr.shape[1] != sizes[-1]:
            raise InputError(f"spec.y: must be (samples, {sizes[-1]}), got shape {arr.shape}")
        _check_targets(arr, loss)
    return arr


def _numbers(value, field, shape):
    """A JSON list (shape (n,)) or list of rows (shape (r, n)) of finite numbers, as float64."""
    def row(v, at, n):
        if not isinstance(v, list) or len(v) != n:
            raise InputError(f"{at}: must be a list of {n} numbers")
        for j, x in enumerate(v):
            try:
                ok = _is_num(x) and math.isfinite(x)
            except OverflowError:                # an integer beyond float64
                ok = False
            if not ok:
                raise InputError(f"{at}[{j}]: must be a finite number, got {x!r:.40}")
        return v
    if len(shape) == 1:
        return np.array(row(value, field, shape[0]), dtype=np.float64)
    if not isinstance(value, list) or len(value) != shape[0]:
        raise InputError(f"{field}: must be a list of {shape[0]} rows (out, in) = {shape}")
    return np.array([row(r, f"{field}[{i}]", shape[1]) for i, r in enumerate(value)],
                    dtype=np.float64).reshape(shape)


def _read_initial(value, base, sizes):
    """The spec's `initial`: inline {"layers": [{"W": (out, in), "b": (out,)}, ...]} (input
    side first), or an .npz named by a string or {"file": F} (relative to the spec file's
    folder) holding W1_init, b1_init, W2_init, ... (1-based, as export names them; float64,
    or float32 widened exactly). Returns [(W, b)] per layer in float64, every value finite."""
    shapes = [((n_out, n_in), (n_out,)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    if isinstance(value, dict) and list(value) == ["layers"]:
        layers = value["layers"]
        if not isinstance(layers, list) or len(layers) != len(shapes):
            raise InputError(f"spec.initial.layers: must list {len(shapes)} layers "
                             f"{{\"W\": ..., \"b\": ...}} (sizes {sizes})")
        params = []
        for k, (layer, (w_shape, b_shape)) in enumerate(zip(layers, shapes)):
            at = f"spec.initial.layers[{k}]"
            if not isinstance(layer, dict) or sorted(layer) != ["W", "b"]:
                raise InputError(f"{at}: must be an object with the keys W and b, and no other")
            params.append((_numbers(layer["W"], f"{at}.W", w_shape),
                           _numbers(layer["b"], f"{at}.b", b_shape)))
        return params
    if isinstance(value, dict) and list(value) == ["file"] and isinstance(value["file"], str):
        name = value["file"]
    elif isinstance(value, str):
        name = value
    else:
        raise InputError("spec.initial: must be {\"layers\": [{\"W\": ..., \"b\": ...}, ...]}, "
                         "an .npz file name or {\"file\": F}")
    params = []
    try:
        with open(os.path.join(base, name), "rb") as f:
            npz = np.load(f, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise InputError(f"spec.initial: {name}: must be an .npz file")
            for k, (w_shape, b_shape) in enumerate(shapes, 1):
                layer = []
                for key, shape in ((f"W{k}_init", w_shape), (f"b{k}_init", b_shape)):
                    if key not in npz.files:
                        raise InputError(f"spec.initial: {name}: no array named {key!r} "
                                         f"(has {sorted(npz.files)})")
                    arr = npz[key]
                    if arr.dtype not in (np.float64, np.float32) or arr.shape != shape:
                        raise InputError(f"spec.initial: {name}[{key}]: must be float64 or "
                                         f"float32 of shape {shape}, got {arr.dtype} {arr.shape}")
                    if not np.all(np.isfinite(arr)):
                        raise InputError(f"spec.initial: {name}[{key}]: must be finite")
                    layer.append(np.ascontiguousarray(arr, dtype=np.float64))
                params.append(tuple(layer))
    except InputError:
        raise
    except Exception as e:                       # OSError, ValueError, BadZipFile, ...
        raise InputError(f"spec.initial: {name}: cannot read: {e}".replace("\n", " "))
    return params


def load_spec(path):
    """The resolved spec (every key, README order, x/y inline; y one-hot rows for class
    labels; x_test/y_test dropped; a given `initial` inline, without seed and init_scale)
    and x (n, n_0), y (n, m)."""
    if path is None:
        raw, base = dict(ARTICLE), os.getcwd()
    else:
        try:
            if os.path.getsize(path) > MAX_SPEC_BYTES:
                raise InputError(f"spec: {path}: larger than 1 GiB")
            with open(path, "rb") as f:
                text = f.read().decode("utf-8")
            raw = json.loads(text, object_pairs_hook=_no_duplicates,
                             parse_constant=_reject_constant)
        except InputError:
            raise
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
            raise InputError(f"spec: {path}: {e}".replace("\n", " "))
        base = os.path.dirname(os.path.abspath(path))
    if not isinstance(raw, dict):
        raise InputError("spec: must be a JSON object")
    for key in raw:
        if key not in ARTICLE and key not in TEST_KEYS and key != INITIAL:
            raise InputError(f"spec.{key}: unknown key (expected one of "
                             f"{', '.join(list(ARTICLE) + list(TEST_KEYS) + [INITIAL])})")
    if INITIAL in raw:                           # one source of initial parameters
        for key in ("seed", "init_scale"):
            if key in raw:
                raise InputError(f"spec.initial: is given with spec.{key}: the initial "
                                 f"parameters come from one source, either initial, or seed "
                                 f"and init_scale; remove one")
    for key in REQUIRED:
        if key not in raw:
            raise InputError(f"spec.{key}: missing")
    for key, other in (TEST_KEYS, TEST_KEYS[::-1]):
        if key in raw and other not in raw:
            raise InputError(f"spec.{other}: is required when {key} is given")
    spec = {key: raw.get(key, DEFAULTS.get(key)) for key in ARTICLE
            if INITIAL not in raw or key not in ("seed", "init_scale")}
    sizes = spec["sizes"]
    if not isinstance(sizes, list) or len(sizes) < 2:
        raise InputError("spec.sizes: must be a list of at least two widths")
    for i, n in enumerate(sizes):
        if not _is_int(n) or n < 1:
            raise InputError(f"spec.sizes[{i}]: must be an integer ≥ 1, got {n!r}")
    acts = spec["activations"]
    if not isinstance(acts, list) or len(acts) != len(sizes) - 1:
        raise InputError(f"spec.activations: must list one activation per layer "
                         f"({len(sizes) - 1})")
    for i, a in enumerate(acts):
        if a not in ACTIVATION_NAMES:
            raise InputError(f"spec.activations[{i}]: must be one of "
                             f"{', '.join(ACTIVATION_NAMES)}, got {a!r}")
    loss = spec["loss"]
    if not isinstance(loss, str) or loss not in LOSSES:
        raise InputError(f"spec.loss: must be one of {', '.join(LOSSES)}, got {loss!r}")
    if loss != "mse" and acts[-1] != "identity":   # the cross-entropies take logits
        inside = "sigmoid" if loss == "binary_cross_entropy" else "softmax"
        raise InputError(f"spec.activations[{len(acts) - 1}]: must be identity with the loss "
                         f"{loss}: the network's outputs are logits and the {inside} is inside "
                         f"the loss, got {acts[-1]}")
    if loss == "softmax_cross_entropy" and sizes[-1] < 2:
        raise InputError(f"spec.sizes[{len(sizes) - 1}]: must be ≥ 2 with the loss "
                         f"softmax_cross_entropy (one output per class; for one yes/no output "
                         f"use binary_cross_entropy), got {sizes[-1]}")
    if "seed" in spec and (not _is_int(spec["seed"]) or not 0 <= spec["seed"] <= 4294967295):
        raise InputError(f"spec.seed: must be an integer in 0 ..= 4294967295, got {spec['seed']!r}")
    for key in ("init_scale", "lr"):
        if key not in spec:                      # init_scale, with initial given
            continue
        v = spec[key]
        if not _is_num(v) or not math.isfinite(v) or v <= 0:
            raise InputError(f"spec.{key}: must be a finite number > 0, got {v!r}")
        spec[key] = float(v)
    for key in ("epochs", "batch_size", "log_every"):
        if not _is_int(spec[key]) or spec[key] < 1:
            raise InputError(f"spec.{key}: must be an integer ≥ 1, got {spec[key]!r}")
    x = _load_array("x", spec["x"], base, sizes)
    y = _load_array("y", spec["y"], base, sizes, loss)
    if len(x) != len(y):
        raise InputError(f"spec.y: {len(y)} samples, spec.x has {len(x)}")
    spec["x"], spec["y"] = x.tolist(), (y.tolist() if y.shape[1] > 1 else y[:, 0].tolist())
    if INITIAL in raw:
        spec[INITIAL] = {"layers": _layers_json(_read_initial(raw[INITIAL], base, sizes))}
    return spec, x, y


def init_params(spec, bug):
    """The spec's `initial` when it gives them (no generator); else np.random.seed(seed),
    then per layer in order W = init_scale * randn(out, in), b = 0 (float64)."""
    if INITIAL in spec:
        return [(np.array(l["W"], dtype=np.float64), np.array(l["b"], dtype=np.float64))
                for l in spec[INITIAL]["layers"]]
    np.random.seed(spec["seed"])
    params = []
    for n_in, n_out in zip(spec["sizes"][:-1], spec["sizes"][1:]):
        if bug == "init-transposed":
            W = spec["init_scale"] * np.random.randn(n_in, n_out).T
        else:
            W = spec["init_scale"] * np.random.randn(n_out, n_in)
        params.append((np.ascontiguousarray(W), np.zeros(n_out)))
    return params


def check_out_path(out):
    if not (out.endswith(".json") or out.endswith(".npz")):
        raise InputError(f"--out: must end in .json or .npz, got {out!r}")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise InputError(f"--out: {out}: folder {folder} does not exist")


def _layers_json(params):
    return [{"W": W.tolist(), "b": b.tolist()} for W, b in params]


def trajectory_doc(header, initial, final, losses, steps):
    """trajectory.json (schema 1). Every array element becomes a Python float: exact."""
    return {"format": "backprop-oracle trajectory", "schema_version": 1, "header": header,
            "initial": {"layers": _layers_json(initial)}, "loss": losses.tolist(),
            "final": {"layers": _layers_json(final)},
            "steps": [{"step": st["step"], "epoch": st["epoch"],
                       "samples": st["samples"].tolist(),
                       "forward": [{"z": Z.tolist(), "a": A.tolist()}
                                   for Z, A in zip(st["z"], st["a"])],
                       "loss": st["loss"].tolist(), "d_output": st["d_output"].tolist(),
                       "backward": [{"dW": dW.tolist(), "db": db.tolist(), "dx": dx.tolist()}
                                    for dW, db, dx in zip(st["dW"], st["db"], st["dx"])],
                       "after": {"layers": _layers_json(st["after"])}} for st in steps]}


def npz_arrays(initial, final, losses, steps):
    """The reference.npz keys; layer numbers k are 1-based (W1 = the first layer)."""
    arr = {}
    for k, ((W0, b0), (W, b)) in enumerate(zip(initial, final), 1):
        arr[f"W{k}_init"], arr[f"b{k}_init"], arr[f"W{k}_final"], arr[f"b{k}_final"] = W0, b0, W, b
    arr["loss"] = losses
    for st in steps:
        s = st["step"]
        arr[f"step{s}_samples"] = st["samples"].astype(np.int64)
        arr[f"step{s}_loss"], arr[f"step{s}_dyhat"] = st["loss"], st["d_output"]
        for k in range(1, len(st["z"]) + 1):
            arr[f"step{s}_z{k}"], arr[f"step{s}_a{k}"] = st["z"][k - 1], st["a"][k - 1]
            arr[f"step{s}_dW{k}"], arr[f"step{s}_db{k}"] = st["dW"][k - 1], st["db"][k - 1]
            arr[f"step{s}_dx{k}"] = st["dx"][k - 1]
            arr[f"step{s}_W{k}"], arr[f"step{s}_b{k}"] = st["after"][k - 1]
    return arr


def write_atomic(out, writer):
    """writer(file object) into a temporary sibling, then rename: never a partial `out`."""
    folder = os.path.dirname(os.path.abspath(out))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(out) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_output(out, header, initial, final, losses, steps):
    if out.endswith(".json"):
        doc = trajectory_doc(header, initial, final, losses, steps)
        data = (json.dumps(doc, allow_nan=False) + "\n").encode()
        write_atomic(out, lambda f: f.write(data))
    else:
        buf = io.BytesIO()
        np.savez(buf, **npz_arrays(initial, final, losses, steps))
        def writer(f):                           # re-zip with a fixed timestamp: deterministic
            with zipfile.ZipFile(buf) as src, zipfile.ZipFile(f, "w") as dst:
                for name in src.namelist():
                    dst.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), src.read(name))
        write_atomic(out, writer)


def base_arguments(description):
    ap = _Parser(description=description)
    ap.add_argument("--spec", help="model spec JSON (default: the article's)")
    ap.add_argument("--out", required=True, help="output: .json trajectory or .npz")
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    ap.add_argument("--trace-steps", type=int, default=8)
    ap.add_argument("--bug", choices=BUGS, default="none")
    return ap


def run_main(argv, add_arguments, train, make_header):
    """Parse, validate, train, write. Returns the exit code."""
    try:
        ap = base_arguments(__doc__.splitlines()[0])
        add_arguments(ap)
        args = ap.parse_args(argv)
        if args.trace_steps < 0:
            raise InputError(f"--trace-steps: must be ≥ 0, got {args.trace_steps}")
        check_out_path(args.out)
        spec, x, y = load_spec(args.spec)
        if spec["loss"] not in LOSS_BUGS.get(args.bug, (spec["loss"],)):
            raise InputError(f"--bug {args.bug}: needs the loss "
                             f"{' or '.join(LOSS_BUGS[args.bug])}, the spec has {spec['loss']}")
        if args.bug == "init-transposed" and INITIAL in spec:
            raise InputError("--bug init-transposed: transposes the drawn weights, but the "
                             "spec gives them (initial); use a spec with seed and init_scale")
        initial, final, losses, steps = train(args, spec, x, y)
        header = make_header(args, spec)
        write_output(args.out, header, initial, final, losses, steps)
        return 0
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Diverged as e:
        print(f"error: training diverged: {e}", file=sys.stderr)
        return 3


def accumulate(total, sample_loss):
    """The epoch loss: per-sample losses added in data order, in the port's dtype."""
    for value in sample_loss:
        total = total + value
    return total


# ---------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------
def add_torch_arguments(ap):
    ap.add_argument("--backward", choices=("autograd", "manual"), default="autograd")


def _torch_acts():
    import torch
    import torch.nn.functional as F

    def d_sigmoid(z):
        e = torch.exp(-torch.abs(z))
        return e / (1 + e) ** 2

    def d_tanh(z):
        e = torch.exp(-2 * torch.abs(z))
        return 4 * e / (1 + e) ** 2

    # name -> (act(z), act'(z) for the manual backward)
    return {"identity":   (lambda z: z,                        torch.ones_like),
            "relu":       (torch.relu,                         lambda z: (z > 0).to(z.dtype)),
            "leaky_relu": (lambda z: F.leaky_relu(z, 0.01),
                           lambda z: torch.where(z > 0, torch.ones_like(z), torch.full_like(z, 0.01))),
            "sigmoid":    (torch.sigmoid,                      d_sigmoid),
            "tanh":       (torch.tanh,                         d_tanh)}


def torch_backward_mode(args):
    return "manual" if args.backward == "manual" or args.bug in MANUAL_BUGS else "autograd"


def train_torch(args, spec, x, y):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)                     # same bits run to run
    torch.use_deterministic_algorithms(True)
    npdt = np.float32 if args.dtype == "float32" else np.float64
    tdt = torch.float32 if args.dtype == "float32" else torch.float64
    ACT = _torch_acts()
    acts, lr, bs, m, n = spec["activations"], spec["lr"], spec["batch_size"], y.shape[1], len(x)
    mode, bug, loss_name = torch_backward_mode(args), args.bug, spec["loss"]

    # float64 draws, then cast (a real float32 port does exactly this)
    params = [(torch.tensor(W.astype(npdt)), torch.tensor(b.astype(npdt)))
              for W, b in init_params(spec, bug)]
    initial = [(W.numpy().copy(), b.numpy().copy()) for W, b in params]
    X_all, Y_all = torch.tensor(x.astype(npdt)), torch.tensor(y.astype(npdt))
    # F.cross_entropy's target: class indices (int64) when every row is one-hot (class
    # labels), else the probability rows themselves.
    if loss_name == "softmax_cross_entropy" and np.all((y == 0) | (y == 1)):
        T_all = torch.tensor(y.argmax(axis=1))
    else:
        T_all = Y_all
    if mode == "autograd":
        for W, b in params:
            W.requires_grad_(True), b.requires_grad_(True)
        opt = torch.optim.SGD([t for p in params for t in p], lr=lr)

    def forward(X, record):
        Zs, As, A = [], [], X
        for (W, b), name in zip(params, acts):
            Z = A @ W.T + b                      # (B, in) @ (in, out) + (out,) -> (B, out)
            A = ACT[name][0](Z)
            if record:
                A.retain_grad()                  # dL̄/dA: next layer's dx, or d_output
            Zs.append(Z), As.append(A)
        return Zs, As

    def ce_sample_losses(Yhat, Y, T):            # (B,): the cross-entropies per sample
        if loss_name == "softmax_cross_entropy":          # logsumexp(ŷ) − y·ŷ
            return F.cross_entropy(Yhat, T, reduction="none")
        # (1/m) sum_k [max(ŷ,0) − ŷy + log1p(exp(−|ŷ|))]
        return F.binary_cross_entropy_with_logits(Yhat, Y, reduction="none").mean(dim=1)

    def autograd_step(X, Y, T, record):
        if record:
            X = X.clone().requires_grad_(True)   # for layer 0's dx = dL̄/dX
        Zs, As = forward(X, record)
        Yhat = As[-1]
        if loss_name == "mse":
            sample_loss = ((Yhat - Y) ** 2).mean(dim=1)     # (B,): L_r = (1/m) sum_k (ŷ-y)²
            loss = sample_loss.mean()                        # L̄: the batch objective
        else:                                    # on logits; L̄ = mean over all B (·m) terms
            reduction = "sum" if bug == "ce-sum-not-mean" else "mean"
            if loss_name == "softmax_cross_entropy":
                loss = F.cross_entropy(Yhat, T, reduction=reduction)
            else:
                loss = F.binary_cross_entropy_with_logits(Yhat, Y, reduction=reduction)
            with torch.no_grad():
                sample_loss = ce_sample_losses(Yhat, Y, T)
        opt.zero_grad()
        loss.backward()
        rec = None
        if record:
            ins = [X] + As[:-1]
            rec = {"z": [Z.detach().numpy().copy() for Z in Zs],
                   "a": [A.detach().numpy().copy() for A in As],
                   "d_output": Yhat.grad.numpy().copy(),
                   "dW": [W.grad.numpy().copy() for W, _ in params],
                   "db": [b.grad.numpy().copy() for _, b in params],
                   "dx": [t.grad.numpy().copy() for t in ins]}
        opt.step()                               # W <- W - lr dW, b <- b - lr db
        return sample_loss.detach().numpy().copy(), rec

    def manual_step(X, Y, T, record):
        B = X.shape[0]
        Zs, As = forward(X, False)
        Yhat = As[-1]
        if loss_name == "softmax_cross_entropy":
            sample_loss = ce_sample_losses(Yhat, Y, T)
            P = torch.softmax(Yhat, dim=0 if bug == "softmax-wrong-axis" else 1)
            dA = P - Y if bug == "ce-sum-not-mean" else (P - Y) / B     # (softmax(ŷ) − y)/B
        elif loss_name == "binary_cross_entropy":
            sample_loss = ce_sample_losses(Yhat, Y, T)
            dA = torch.sigmoid(Yhat) - Y
            if bug != "ce-sum-not-mean":
                dA = dA / (m * B)                # (σ(ŷ) − y)/(m B)
        else:
            sample_loss = ((Yhat - Y) ** 2).mean(dim=1)
            if bug == "mse-without-2":
                dA = (Yhat - Y) / (m * B)
            else:
                dA = 2 * (Yhat - Y) / (m * B)    # dL̄/dŶ (B, m)
        d_output = dA
        grads = [None] * len(params)
        for k in reversed(range(len(params))):
            W, b = params[k]
            A_in = X if k == 0 else As[k - 1]    # (B, in)
            dZ = dA * ACT[acts[k]][1](Zs[k])     # (B, out)
            dW = dZ.T @ A_in                     # (out, in)
            db = dZ.mean(dim=0) if bug == "bias-grad-mean" else dZ.sum(dim=0)
            if bug == "stale-weights":           # update now, then back-propagate through it
                W -= lr * dW
                b -= lr * db
            dA = dZ @ W                          # (B, in)
            grads[k] = (dW, db, dA)
        if bug != "stale-weights":
            for (W, b), (dW, db, _) in zip(params, grads):
                W -= lr * dW
                b -= lr * db
        rec = None
        if record:
            rec = {"z": [Z.numpy().copy() for Z in Zs], "a": [A.numpy().copy() for A in As],
                   "d_output": d_output.numpy().copy(),
                   "dW": [g[0].numpy().copy() for g in grads],
                   "db": [g[1].numpy().copy() for g in grads],
                   "dx": [g[2].numpy().copy() for g in grads]}
        return sample_loss.numpy().copy(), rec

    step_fn = autograd_step if mode == "autograd" else manual_step
    losses, steps, step = [], [], 0
    for epoch in range(spec["epochs"]):
        total = npdt(0)
        for start in range(0, n, bs):            # consecutive batches, in data order
            idx = np.arange(start, min(start + bs, n))
            if bug == "drop-last-batch" and len(idx) < bs:
                continue                         # DataLoader(drop_last=True)
            record = step < args.trace_steps
            if mode == "manual":
                with torch.no_grad():
                    sample_loss, rec = step_fn(X_all[start:start + len(idx)],
                                               Y_all[start:start + len(idx)],
                                               T_all[start:start + len(idx)], record)
            else:
                sample_loss, rec = step_fn(X_all[start:start + len(idx)],
                                           Y_all[start:start + len(idx)],
                                           T_all[start:start + len(idx)], record)
            total = accumulate(total, sample_loss)
            with torch.no_grad():
                finite = all(bool(torch.isfinite(t).all()) for p in params for t in p)
            if not (np.all(np.isfinite(sample_loss)) and finite):
                raise Diverged(f"epoch {epoch}, samples {idx[0]}..{idx[-1]} (update {step})")
            if record:
                rec.update(step=step, epoch=epoch, samples=idx, loss=sample_loss,
                           after=[(W.detach().numpy().copy(), b.detach().numpy().copy())
                                  for W, b in params])
                steps.append(rec)
            step += 1
        losses.append(total)
        if epoch % spec["log_every"] == 0:
            print(f"Epoch {epoch}, Loss: {total:.4f}")
    final = [(W.detach().numpy().copy(), b.detach().numpy().copy()) for W, b in params]
    return initial, final, np.array(losses, dtype=npdt), steps


def torch_header(args, spec):
    import torch
    return {"tool": TOOL, "version": torch.__version__,
            "command": "python3 " + shlex.join(sys.argv), "spec": spec,
            "trace_steps": args.trace_steps, "precision": args.dtype,
            "backward": torch_backward_mode(args), "bug": args.bug,
            "numpy_version": np.__version__}


if __name__ == "__main__":
    sys.exit(run_main(sys.argv[1:], add_torch_arguments, train_torch, torch_header))
