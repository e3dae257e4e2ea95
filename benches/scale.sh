#!/usr/bin/env bash
# The CLI at scale: `backprop-oracle train` on 100,000 samples × 784 features read from an
# .npz (random pixels in [0, 1), one-hot labels of 10 classes; made here by NumPy), on a
# 784-128-10 relu/identity net with batch 64. Prints the train output, the wall time per
# epoch and the peak memory (`/usr/bin/time -v`).
#
#   bash benches/scale.sh [EPOCHS]     # default 3 epochs
#
# Needs python3 with NumPy (pip install numpy) and about 700 MB of free disk in $TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."

epochs="${1:-3}"
case "$epochs" in
    ''|*[!0-9]*|0) echo "error: EPOCHS must be a whole number ≥ 1, got '$epochs'" >&2; exit 2 ;;
esac
if ! python3 -c 'import numpy' >/dev/null 2>&1; then
    echo "error: numpy is not installed: pip install numpy" >&2
    exit 2
fi

dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
python3 - "$dir" "$epochs" <<'PY'
import json, os, sys
import numpy as np

d, epochs = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
n = 100_000
x = rng.random((n, 784))
y = np.eye(10)[rng.integers(0, 10, n)]
np.savez(os.path.join(d, "data.npz"), x=x, y=y)
spec = {"sizes": [784, 128, 10], "activations": ["relu", "identity"], "init_scale": 0.05,
        "x": "data.npz", "y": "data.npz", "lr": 0.01, "epochs": epochs, "batch_size": 64,
        "log_every": 1}
json.dump(spec, open(os.path.join(d, "spec.json"), "w"))
print(f"data: {os.path.getsize(os.path.join(d, 'data.npz')) / 1e6:.0f} MB .npz, {n} x 784", file=sys.stderr)
PY

cargo build --release --quiet
start=$(date +%s.%N)
if [ ! -x /usr/bin/time ]; then
    echo "error: /usr/bin/time is missing (Debian: apt-get install time)" >&2
    exit 2
fi
if ! /usr/bin/time -v target/release/backprop-oracle train --model "$dir/spec.json" 2>"$dir/time.txt"; then
    cat "$dir/time.txt" >&2
    exit 1
fi
end=$(date +%s.%N)
python3 - "$start" "$end" "$epochs" "$dir/time.txt" <<'PY'
import re, sys
start, end, epochs = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
text = open(sys.argv[4]).read()
rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
print(f"wall {end - start:.2f} s for {epochs} epochs (including reading the .npz): "
      f"{(end - start) / epochs:.2f} s per epoch")
if rss:
    print(f"peak memory {int(rss.group(1)) / 1e6:.2f} GB")
PY
