#!/usr/bin/env bash
# The gradient checker's speed through the CLI: `backprop-oracle gradient-check` on a
# 784-128-10 relu/identity network with a batch of 16 (101,770 parameters and 12,544
# inputs checked, plus the updates), in exhaustive mode, and sampled + directional.
# Goals (issue 13): exhaustive ≤ 10 s, sampled + directional ≤ 1 s, on 2 cores.
#
#   bash benches/check_speed.sh [REPEATS]     # default 3 runs of each mode
#
# Prints each mode's wall times (min, median, max) and the exhaustive run's peak memory.
# Data: inputs uniform in [0, 1) from Python's `random` (seed 0) and one-hot targets,
# inline in the spec; weights 0.05·randn from seed 0. Needs python3 (no NumPy) and
# /usr/bin/time. Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

repeats="${1:-3}"
case "$repeats" in
    ''|*[!0-9]*|0) echo "error: REPEATS must be a whole number ≥ 1, got '$repeats'" >&2; exit 2 ;;
esac
for tool in python3 /usr/bin/time; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: $tool is missing" >&2
        exit 2
    fi
done

dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
python3 - "$dir/spec.json" <<'PY'
import json, random, sys
rng = random.Random(0)
b = 16
x = [[rng.random() for _ in range(784)] for _ in range(b)]
y = [[1.0 if c == r % 10 else 0.0 for c in range(10)] for r in range(b)]
spec = {"sizes": [784, 128, 10], "activations": ["relu", "identity"], "loss": "mse",
        "lr": 0.01, "epochs": 1, "batch_size": b, "seed": 0, "init_scale": 0.05,
        "x": x, "y": y}
json.dump(spec, open(sys.argv[1], "w"))
PY

cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/backprop-oracle"

# Runs one check, appends its wall time (s) to $dir/$1.times; the rest are CLI arguments.
timed() {
    local name="$1"
    shift
    if ! /usr/bin/time -f "%e %M" -o "$dir/time.txt" \
        "$bin" gradient-check --model "$dir/spec.json" "$@" >"$dir/out.txt" 2>&1; then
        echo "error: gradient-check $* failed:" >&2
        cat "$dir/out.txt" >&2
        exit 1
    fi
    read -r secs kib <"$dir/time.txt"
    echo "$secs" >>"$dir/$name.times"
    echo "$kib" >"$dir/$name.kib"
}

for _ in $(seq "$repeats"); do
    timed exhaustive --mode exhaustive
    timed sampled --mode sampled
    timed directional --mode directional
done

python3 - "$dir" "$repeats" "$(nproc)" <<'PY'
import statistics, sys
d, repeats, cores = sys.argv[1], int(sys.argv[2]), sys.argv[3]
times = {m: [float(t) for t in open(f"{d}/{m}.times").read().split()]
         for m in ("exhaustive", "sampled", "directional")}
times["sampled + directional"] = [s + t for s, t in zip(times["sampled"], times["directional"])]
print(f"gradient-check, 784-128-10 relu/identity, batch 16, {cores} cores, {repeats} runs each")
for mode, ts in times.items():
    print(f"  {mode:<22} min {min(ts):6.2f} s  median {statistics.median(ts):6.2f} s  max {max(ts):6.2f} s")
kib = int(open(f"{d}/exhaustive.kib").read())
print(f"  exhaustive peak memory {kib / 1024:.0f} MiB")
PY
