#!/usr/bin/env python3
"""Regenerates the seed corpora under fuzz/seeds/<target>/ from the test fixtures.

Run from the repository root: python3 fuzz/make_seeds.py  (needs numpy for the
hand-made .npy/.npz seeds). Every seed is kept under 100 KB.
"""
import glob
import io
import json
import os
import shutil
import struct
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
SEEDS = os.path.join(ROOT, "fuzz", "seeds")
LIMIT = 100_000


def out(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    assert len(data) < LIMIT, (target, name, len(data))
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def dumps(v):
    return json.dumps(v, separators=(",", ":"))


def npy_bytes(a, version=None):
    buf = io.BytesIO()
    if version is None:
        np.save(buf, a)
    else:
        np.lib.format.write_array(buf, a, version=version)
    return buf.getvalue()


def npz_bytes(members, compress=zipfile.ZIP_STORED):
    """A zip of raw members: [(name, bytes)], names written as given."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compress) as z:
        for name, data in members:
            # A fixed timestamp: the same bytes on every regeneration.
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = compress
            z.writestr(info, data)
    return buf.getvalue()


def main():
    for t in ("spec_json", "candidate_json", "npy", "npz"):
        shutil.rmtree(os.path.join(SEEDS, t), ignore_errors=True)

    # --- spec_json: every parity fixture's "spec", the minibatch spec, a few edge cases.
    for f in sorted(glob.glob(os.path.join(FIX, "parity", "*.json"))):
        spec = json.load(open(f))["spec"]
        out("spec_json", os.path.basename(f), json.dumps(spec, indent=1))
    with open(os.path.join(FIX, "port", "minibatch_spec.json"), "rb") as f:
        out("spec_json", "minibatch_spec.json", f.read())
    out("spec_json", "minimal.json",
        '{"sizes":[1,1],"activations":["identity"],"x":[[0]],"y":[1]}')
    out("spec_json", "multi_y_rows.json",
        '{"sizes":[2,2],"activations":["tanh"],"x":[[1,2],[3,4]],"y":[[1,2],[3,4]],'
        '"seed":4294967295,"init_scale":0.5e0,"lr":1E-3,"epochs":1,"batch_size":2,"log_every":1}')
    out("spec_json", "non_finite.json", '[NaN,Infinity,-Infinity,-0.0,1e308,"\\u00e9\\ud83d\\ude00"]')
    out("spec_json", "x_file.json",
        '{"sizes":[2,1],"activations":["relu"],"x":"no_such_file.npy","y":"no_such.npz"}')

    # --- candidate_json: the port trajectories (< 100 KB), and variants a small work
    # budget lets compare() reach: the header spec cut to 3 epochs, and no header.
    for f in sorted(glob.glob(os.path.join(FIX, "port", "*.json"))):
        if os.path.basename(f) == "minibatch_spec.json" or os.path.getsize(f) >= LIMIT:
            continue
        with open(f, "rb") as fh:
            raw = fh.read()
        out("candidate_json", os.path.basename(f), raw)
    base = json.load(open(os.path.join(FIX, "port", "numpy_port_trajectory.json")))
    small = json.loads(json.dumps(base))
    small["header"]["spec"]["epochs"] = 3
    small["loss"] = small["loss"][:3]
    del small["final"]
    out("candidate_json", "numpy_port_3_epochs.json", dumps(small))
    bare = json.loads(json.dumps(base))
    del bare["header"]
    bare["loss"] = bare["loss"][:5]
    del bare["final"]
    bare["steps"] = bare["steps"][:3]
    out("candidate_json", "numpy_port_no_header.json", dumps(bare))
    out("candidate_json", "loss_only.json", dumps({"loss": base["loss"][:2]}))
    out("candidate_json", "initial_only.json",
        dumps({"format": base["format"], "schema_version": base["schema_version"],
               "initial": base["initial"]}))
    mb = json.load(open(os.path.join(FIX, "port", "minibatch_trajectory.json")))
    del mb["final"]
    mb["loss"] = mb["loss"][:4]
    out("candidate_json", "minibatch_no_final.json", dumps(mb))

    # --- npy: one member per distinct header from the reference .npz, and hand-made ones.
    seen = set()
    with zipfile.ZipFile(os.path.join(FIX, "port", "numpy_port_reference.npz")) as z:
        for info in z.infolist():
            data = z.read(info)
            hlen = struct.unpack("<H", data[8:10])[0]
            header = data[10:10 + hlen]
            if header in seen:
                continue
            seen.add(header)
            out("npy", info.filename, data)
    out("npy", "f4_2x3.npy", npy_bytes(np.arange(6, dtype="<f4").reshape(2, 3)))
    out("npy", "i8_vec.npy", npy_bytes(np.array([0, -1, 2**62], dtype="<i8")))
    out("npy", "fortran.npy", npy_bytes(np.asfortranarray(np.arange(6.0).reshape(3, 2))))
    out("npy", "scalar.npy", npy_bytes(np.array(1.5)))
    out("npy", "empty.npy", npy_bytes(np.zeros((0, 3))))
    out("npy", "v2.npy", npy_bytes(np.arange(4.0), version=(2, 0)))
    out("npy", "v3.npy", npy_bytes(np.arange(4.0), version=(3, 0)))
    out("npy", "big_endian.npy", npy_bytes(np.arange(3, dtype=">f8")))

    # --- npz: the reference archives, and tiny hand-made ones.
    for name in ("numpy_port_reference.npz", "torch_f32_reference.npz"):
        p = os.path.join(FIX, "port", name)
        if os.path.exists(p) and os.path.getsize(p) < LIMIT:
            with open(p, "rb") as fh:
                out("npz", name, fh.read())
    x = npy_bytes(np.array([[1.0, 2.0], [3.0, 4.0]]))
    y = npy_bytes(np.array([1.0, 2.0]))
    out("npz", "xy_stored.npz", npz_bytes([("x.npy", x), ("y.npy", y)]))
    out("npz", "xy_deflated.npz", npz_bytes([("x.npy", x), ("y.npy", y)], zipfile.ZIP_DEFLATED))
    out("npz", "loss_f4.npz", npz_bytes([("loss.npy", npy_bytes(np.arange(3, dtype="<f4")))]))
    out("npz", "loss_i8.npz", npz_bytes([("loss.npy", npy_bytes(np.arange(3, dtype="<i8")))]))
    out("npz", "w1_init.npz",
        npz_bytes([("W1_init.npy", npy_bytes(np.ones((3, 2)))), ("step0_samples", npy_bytes(np.array([0])))]))
    out("npz", "mixed_f4_f8.npz",
        npz_bytes([("loss.npy", npy_bytes(np.array([0.5, 0.25], dtype="<f4"))),
                   ("W1_init.npy", npy_bytes(np.arange(6, dtype="<f8").reshape(3, 2) / 10))]))
    out("npz", "duplicate_name.npz", npz_bytes([("x.npy", y), ("x", y)]))
    out("npz", "empty.npz", npz_bytes([]))


if __name__ == "__main__":
    main()
