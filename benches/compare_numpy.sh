#!/usr/bin/env bash
# Side-by-side speed: NumPy (benches/numpy_bench.py) vs Rust (cargo bench --bench speed).
#
#   bash benches/compare_numpy.sh [--quick]
#
# Needs python3 with NumPy (pip install numpy) and a Rust toolchain. Prints the machine,
# the date and a Markdown table: name | NumPy median | Rust median | Rust speed-up.
# If the Rust bench cannot be built or run, prints the NumPy numbers alone and says so.
set -u

cd "$(dirname "$0")/.."

quick=()
for arg in "$@"; do
    case "$arg" in
        --quick) quick=(--quick) ;;
        -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument '$arg' (usage: bash benches/compare_numpy.sh [--quick])" >&2; exit 2 ;;
    esac
done

if ! command -v python3 >/dev/null 2>&1; then
    echo "error: python3 is not installed (install Python 3, then: pip install numpy)" >&2
    exit 2
fi
if ! python3 -c 'import numpy' >/dev/null 2>&1; then
    echo "error: numpy is not installed: pip install numpy" >&2
    exit 2
fi

load_start="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || true)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "NumPy side ..." >&2
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, set on some machines, slow NumPy's OpenBLAS down.
if ! env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benches/numpy_bench.py "${quick[@]}" >"$tmp/numpy.jsonl"; then
    echo "error: benches/numpy_bench.py failed" >&2
    exit 1
fi

echo "Rust side (cargo bench --bench speed) ..." >&2
rust_status=ok
if ! cargo bench --bench speed -- --json "${quick[@]}" >"$tmp/rust.jsonl" 2>"$tmp/rust.stderr"; then
    rust_status=failed
    echo "warning: 'cargo bench --bench speed' failed; last lines of its output:" >&2
    tail -n 15 "$tmp/rust.stderr" >&2
fi

machine="$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)"
LOAD_START="$load_start" RUST_STATUS="$rust_status" MACHINE="${machine:-unknown CPU}" NPROC="$(nproc 2>/dev/null || echo '?')" \
    python3 - "$tmp/numpy.jsonl" "$tmp/rust.jsonl" <<'PY'
import json, os, sys, datetime

def load(path):
    rows, info = {}, None
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        return rows, info
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        name = obj.get("name")
        if name in ("numpy_info", "rust_info"):
            info = obj
        elif name is not None and isinstance(obj.get("median_s"), (int, float)):
            rows[name] = obj
    return rows, info

def fmt_time(s):
    if s is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"

def fmt_cell(obj):
    if obj is None:
        return "—"
    text = fmt_time(obj["median_s"])
    if isinstance(obj.get("gflops"), (int, float)):
        text += f" ({obj['gflops']:.1f} GFLOP/s)"
    return text

numpy_rows, numpy_info = load(sys.argv[1])
rust_rows, rust_info = load(sys.argv[2])
rust_ok = os.environ["RUST_STATUS"] == "ok" and rust_rows

print(f"Machine: {os.environ['MACHINE']}, {os.environ['NPROC']} CPUs")
print(f"Date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}")
try:
    load1 = float(os.environ.get("LOAD_START", ""))
    print(f"Load average before the run (1 min): {load1:.2f}")
    if load1 > 0.5:
        print("**Other work was running: multi-threaded BLAS timings (NumPy's OpenBLAS, Rust's "
              "gemm) can be inflated many times over when a core is busy. Re-run on an idle machine.**")
except ValueError:
    pass
if numpy_info:
    extra = {k: v for k, v in numpy_info.items() if k != "name"}
    print("NumPy: " + ", ".join(f"{k}={v}" for k, v in extra.items()))
if rust_info:
    extra = {k: v for k, v in rust_info.items() if k != "name"}
    print("Rust: " + ", ".join(f"{k}={v}" for k, v in extra.items()))
if not rust_ok:
    print()
    print("**The Rust bench (`cargo bench --bench speed -- --json`) failed or printed no "
          "results: NumPy numbers only.**")
print()
print("| name | NumPy median | Rust median | Rust speed-up (NumPy/Rust) |")
print("|---|---|---|---|")
both = [n for n in numpy_rows if n in rust_rows]
for name in both:
    np_s, rs_s = numpy_rows[name]["median_s"], rust_rows[name]["median_s"]
    ratio = np_s / rs_s if rs_s > 0 else None
    speedup = "—" if ratio is None else f"{ratio:.{0 if ratio >= 100 else 1 if ratio >= 10 else 2}f}×"
    print(f"| {name} | {fmt_cell(numpy_rows[name])} | {fmt_cell(rust_rows[name])} | {speedup} |")
for name in numpy_rows:
    if name not in rust_rows:
        print(f"| {name} | {fmt_cell(numpy_rows[name])} | — | — |")
for name in rust_rows:
    if name not in numpy_rows:
        print(f"| {name} | — | {fmt_cell(rust_rows[name])} | — |")
PY
