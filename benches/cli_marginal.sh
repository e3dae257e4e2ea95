#!/usr/bin/env bash
# The article through the CLI against the article's NumPy code, per sample step, as
# marginal costs of whole processes (start-up removed on both sides):
#
#   Rust:  (time of `train --epochs 1000000`  − time of `train --epochs 1`) / (999,999 × 4)
#   NumPy: (time of 10,000 epochs − time of 10 epochs) / (9,990 × 4)  (benches/numpy_bench.py;
#          the issue asked for 1,000 − 10: 10,000 makes the difference ten times longer
#          than the noise of starting Python)
#
#   bash benches/cli_marginal.sh [--rounds N]      # default 3 rounds
#
# The sides alternate, N rounds; each round prints both marginal costs and their ratio
# (this machine's speed drifts up to 2x within a minute: compare within a round). Needs
# python3 with NumPy and a Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
if [ "${1:-}" = "--rounds" ]; then
    rounds="${2:-}"
    case "$rounds" in ''|*[!0-9]*|0) echo "error: --rounds needs a whole number ≥ 1, got '${2:-}'" >&2; exit 2 ;; esac
elif [ $# -gt 0 ]; then
    echo "error: unknown argument '$1' (usage: bash benches/cli_marginal.sh [--rounds N])" >&2
    exit 2
fi
if ! python3 -c 'import numpy' >/dev/null 2>&1; then
    echo "error: numpy is not installed: pip install numpy" >&2
    exit 2
fi
cargo build --release --quiet
bin=target/release/backprop-oracle

now() { date +%s.%N; }
# Seconds one command takes (its output discarded).
elapsed() { local s e; s=$(now); "$@" >/dev/null; e=$(now); python3 -c "print($e - $s)"; }

echo "| round | Rust ns/step | NumPy µs/step | ratio |"
echo "|---|---|---|---|"
for r in $(seq 1 "$rounds"); do
    rust_long=$(elapsed "$bin" train --epochs 1000000 --log-every 1000000)
    rust_short=$(elapsed "$bin" train --epochs 1)
    np_long=$(elapsed env -u OPENBLAS_CORETYPE python3 benches/numpy_bench.py --article-epochs 10000)
    np_short=$(elapsed env -u OPENBLAS_CORETYPE python3 benches/numpy_bench.py --article-epochs 10)
    python3 - "$r" "$rust_long" "$rust_short" "$np_long" "$np_short" <<'PY'
import sys
r, rl, rs, nl, ns = sys.argv[1], *map(float, sys.argv[2:])
rust = (rl - rs) / (999_999 * 4)
numpy = (nl - ns) / (9_990 * 4)
print(f"| {r} | {rust * 1e9:.1f} | {numpy * 1e6:.1f} | {numpy / rust:.0f}× |")
PY
done
