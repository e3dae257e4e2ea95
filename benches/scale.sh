#!/usr/bin/env bash
# The CLI at MNIST size: 10,000 samples × 784 features from an .npz (random pixels in
# [0, 1), half of them 0, one-hot labels of 10 classes; made here by NumPy), a 784-128-10
# relu/identity net, batch 64, 3 epochs. Every command whole-process, wall time and peak
# memory (`/usr/bin/time -v`), each against `train` measured in the same round:
#
#   train                                   the fast engine
#   train --reference                       the exact engine (the reference's bits)
#   export --trace-steps 8                  + trajectory.json size
#   compare reference.npz --model spec      the export against itself, .npz candidate
#   compare trajectory.json --model spec    the same, JSON candidate
#   gradient-check --mode sampled --at-epochs 0,3
#
#   bash benches/scale.sh [--samples N] [--epochs E] [--rounds R]
#
# Defaults: 10,000 samples, 3 epochs, 2 rounds (the table shows the best round of each
# command, and the ratio to train of that same round). Needs python3 with NumPy and
# /usr/bin/time; about 100 MB of free disk in $TMPDIR per 10,000 samples.
set -euo pipefail
cd "$(dirname "$0")/.."

samples=10000
epochs=3
rounds=2
while [ $# -gt 0 ]; do
    case "$1" in
        --samples) samples="${2:-}"; shift ;;
        --epochs) epochs="${2:-}"; shift ;;
        --rounds) rounds="${2:-}"; shift ;;
        *) echo "error: unknown argument '$1' (usage: bash benches/scale.sh [--samples N] [--epochs E] [--rounds R])" >&2; exit 2 ;;
    esac
    shift
done
for v in "$samples" "$epochs" "$rounds"; do
    case "$v" in ''|*[!0-9]*|0) echo "error: --samples, --epochs and --rounds take whole numbers ≥ 1, got '$v'" >&2; exit 2 ;; esac
done
if ! python3 -c 'import numpy' >/dev/null 2>&1; then
    echo "error: numpy is not installed: pip install numpy" >&2
    exit 2
fi
if [ ! -x /usr/bin/time ]; then
    echo "error: /usr/bin/time is missing (Debian: apt-get install time)" >&2
    exit 2
fi

dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
python3 - "$dir" "$samples" "$epochs" <<'PY'
import json, os, sys
import numpy as np

d, n, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
x = rng.random((n, 784))
x[x < 0.5] = 0.0
y = np.eye(10)[rng.integers(0, 10, n)]
np.savez(os.path.join(d, "data.npz"), x=x, y=y)
spec = {"sizes": [784, 128, 10], "activations": ["relu", "identity"], "init_scale": 0.05,
        "x": "data.npz", "y": "data.npz", "lr": 0.01, "epochs": epochs, "batch_size": 64,
        "log_every": 1}
json.dump(spec, open(os.path.join(d, "spec.json"), "w"))
print(f"data: {os.path.getsize(os.path.join(d, 'data.npz')) / 1e6:.0f} MB .npz, {n} x 784, "
      f"784-128-10, batch 64, {epochs} epochs", file=sys.stderr)
PY

cargo build --release --quiet
bin="$PWD/target/release/backprop-oracle"
cd "$dir"

# One command: "<wall seconds> <peak MB>" on stdout; its own output discarded.
measure() {
    if ! /usr/bin/time -f "%e %M" -o time.txt "$@" >out.txt 2>err.txt; then
        echo "error: '$*' failed:" >&2
        cat err.txt >&2
        exit 1
    fi
    awk '{printf "%s %.0f\n", $1, $2 / 1024}' time.txt
}

names=(train reference export compare_npz compare_json gradient_check)
declare -A best_wall best_ratio best_mem
for r in $(seq 1 "$rounds"); do
    echo "round $r/$rounds ..." >&2
    rm -rf golden
    declare -A wall mem
    read -r wall[train] mem[train] < <(measure "$bin" train --model spec.json)
    read -r wall[reference] mem[reference] < <(measure "$bin" train --model spec.json --reference)
    read -r wall[export] mem[export] < <(measure "$bin" export --model spec.json --trace-steps 8 --out golden)
    read -r wall[compare_npz] mem[compare_npz] < <(measure "$bin" compare golden/reference.npz --model spec.json)
    read -r wall[compare_json] mem[compare_json] < <(measure "$bin" compare golden/trajectory.json --model spec.json)
    read -r wall[gradient_check] mem[gradient_check] < <(measure "$bin" gradient-check --model spec.json --mode sampled --at-epochs 0,"$epochs")
    for k in "${names[@]}"; do
        ratio=$(python3 -c "print(f'{${wall[$k]} / ${wall[train]}:.2f}')")
        if [ -z "${best_wall[$k]:-}" ] || python3 -c "import sys; sys.exit(0 if ${wall[$k]} < ${best_wall[$k]} else 1)"; then
            best_wall[$k]=${wall[$k]}
            best_ratio[$k]=$ratio
            best_mem[$k]=${mem[$k]}
        fi
    done
done
json_mb=$(python3 -c "import os; print(f'{os.path.getsize(\"golden/trajectory.json\") / 1e6:.1f}')")
npz_mb=$(python3 -c "import os; print(f'{os.path.getsize(\"golden/reference.npz\") / 1e6:.1f}')")

echo
echo "| command | wall | × train (same round) | peak memory | target |"
echo "|---|---|---|---|---|"
row() { echo "| $1 | ${best_wall[$2]} s | ${best_ratio[$2]}× | ${best_mem[$2]} MB | $3 |"; }
row '`train`' train ""
row '`train --reference`' reference "≤ 3×"
row '`export --trace-steps 8`' export "≤ 3×, ≤ 400 MB"
row '`compare reference.npz --model spec.json`' compare_npz "≤ 3×, ≤ 400 MB"
row '`compare trajectory.json --model spec.json`' compare_json "≤ 3×, ≤ 400 MB"
row "\`gradient-check --mode sampled --at-epochs 0,$epochs\`" gradient_check "≤ 3×"
echo
echo "trajectory.json: $json_mb MB (target ≤ 64 MB); reference.npz: $npz_mb MB"
