#!/usr/bin/env bash
# Side-by-side speed: NumPy (benches/numpy_bench.py) vs Rust (cargo bench --bench speed).
#
#   bash benches/compare_numpy.sh [--quick] [--rounds N]
#
# Needs python3 with NumPy (pip install numpy) and a Rust toolchain. Prints the machine,
# the date and a Markdown table: name | NumPy | Rust | Rust speed-up | per-round range.
# The two sides run alternately, N rounds (default 3): this machine's speed drifts by
# up to 2x over tens of seconds, so each side's figure is its best median over the
# rounds, and the last column shows the spread of the ratios of the same round.
# If the Rust bench cannot be built or run, prints the NumPy numbers alone and says so.
# When PyTorch is installed (pip install torch), a third side runs in each round too
# (benches/torch_bench.py: CPU float64, autograd and torch.optim.SGD) and the table gets
# PyTorch columns (for batched steps PyTorch's faster variant: preallocated gradients
# with zero_grad(set_to_none=False), or the default zero_grad()); without it they are
# skipped with a note.
set -u

cd "$(dirname "$0")/.."

quick=()
rounds=3
usage="usage: bash benches/compare_numpy.sh [--quick] [--rounds N]"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=(--quick) ;;
        --rounds)
            rounds="${2:-}"
            case "$rounds" in
                ''|*[!0-9]*|0) echo "error: --rounds needs a whole number ≥ 1, got '${2:-}' ($usage)" >&2; exit 2 ;;
            esac
            [ "$rounds" -le 20 ] || { echo "error: --rounds $rounds is more than 20 ($usage)" >&2; exit 2; }
            shift ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument '$1' ($usage)" >&2; exit 2 ;;
    esac
    shift
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

echo "Building the Rust bench ..." >&2
rust_status=ok
if ! cargo bench --bench speed --no-run >"$tmp/build.log" 2>&1; then
    rust_status=failed
    echo "warning: 'cargo bench --bench speed' does not build; last lines of its output:" >&2
    tail -n 15 "$tmp/build.log" >&2
fi
torch_status=ok
if ! python3 -c 'import torch' >/dev/null 2>&1; then
    torch_status=absent
fi
for round in $(seq 1 "$rounds"); do
    if [ "$torch_status" = ok ]; then
        echo "round $round/$rounds: PyTorch side ..." >&2
        if ! env -u OPENBLAS_CORETYPE python3 benches/torch_bench.py "${quick[@]}" >"$tmp/torch.$round.jsonl"; then
            torch_status=failed
            echo "warning: benches/torch_bench.py failed; PyTorch columns left out" >&2
        fi
    fi
    echo "round $round/$rounds: NumPy side ..." >&2
    # OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, set on some machines, slow NumPy's OpenBLAS down.
    if ! env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benches/numpy_bench.py "${quick[@]}" >"$tmp/numpy.$round.jsonl"; then
        echo "error: benches/numpy_bench.py failed" >&2
        exit 1
    fi
    [ "$rust_status" = ok ] || continue
    echo "round $round/$rounds: Rust side (cargo bench --bench speed) ..." >&2
    if ! cargo bench --bench speed -- --json "${quick[@]}" >"$tmp/rust.$round.jsonl" 2>"$tmp/rust.stderr"; then
        rust_status=failed
        echo "warning: 'cargo bench --bench speed' failed; last lines of its output:" >&2
        tail -n 15 "$tmp/rust.stderr" >&2
    fi
done

machine="$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)"
LOAD_START="$load_start" RUST_STATUS="$rust_status" TORCH_STATUS="$torch_status" MACHINE="${machine:-unknown CPU}" NPROC="$(nproc 2>/dev/null || echo '?')" \
    ROUNDS="$rounds" python3 - "$tmp" <<'PY'
import json, os, sys, datetime

def load(path):
    """{name: result} and the info line of one JSON-lines file."""
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
        if name in ("numpy_info", "rust_info", "torch_info"):
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

rounds = int(os.environ["ROUNDS"])
numpy_runs = [load(os.path.join(sys.argv[1], f"numpy.{r}.jsonl")) for r in range(1, rounds + 1)]
rust_runs = [load(os.path.join(sys.argv[1], f"rust.{r}.jsonl")) for r in range(1, rounds + 1)]

def best(runs):
    """Each name's fastest median over the rounds, and the first info line."""
    rows, info = {}, None
    for r, i in runs:
        info = info or i
        for name, obj in r.items():
            if name not in rows or obj["median_s"] < rows[name]["median_s"]:
                rows[name] = obj
    return rows, info

numpy_rows, numpy_info = best(numpy_runs)
rust_rows, rust_info = best(rust_runs)
rust_ok = os.environ["RUST_STATUS"] == "ok" and rust_rows
torch_ok = os.environ["TORCH_STATUS"] == "ok"
torch_runs = ([load(os.path.join(sys.argv[1], f"torch.{r}.jsonl")) for r in range(1, rounds + 1)]
              if torch_ok else [])

def torch_best_variant(rows):
    """A batched step's faster PyTorch variant under its base name."""
    out = dict(rows)
    for name, obj in rows.items():
        if name.endswith("_default_zero_grad"):
            base = name[: -len("_default_zero_grad")]
            if base not in out or obj["median_s"] < out[base]["median_s"]:
                out[base] = obj
    return out

torch_runs = [(torch_best_variant(r), i) for r, i in torch_runs]
torch_rows, torch_info = best(torch_runs)

def torch_ratio_range(name):
    """min–max over rounds of PyTorch/Rust measured in the same round."""
    ratios = [t[0][name]["median_s"] / r[0][name]["median_s"]
              for t, r in zip(torch_runs, rust_runs)
              if name in t[0] and name in r[0] and r[0][name]["median_s"] > 0]
    if not ratios:
        return "—"
    return f"{fmt_ratio(min(ratios))}–{fmt_ratio(max(ratios))}"

def ratio_range(name):
    """min–max over rounds of NumPy/Rust measured in the same round."""
    ratios = [n[0][name]["median_s"] / r[0][name]["median_s"]
              for n, r in zip(numpy_runs, rust_runs)
              if name in n[0] and name in r[0] and r[0][name]["median_s"] > 0]
    if len(ratios) < 2:
        return "—"
    return f"{fmt_ratio(min(ratios))}–{fmt_ratio(max(ratios))}"

def fmt_ratio(ratio):
    return f"{ratio:.{0 if ratio >= 100 else 1 if ratio >= 10 else 2}f}×"

print(f"Machine: {os.environ['MACHINE']}, {os.environ['NPROC']} CPUs")
sides = "PyTorch, NumPy and Rust" if torch_ok else "NumPy and Rust"
print(f"Rounds: {rounds} ({sides} alternately; each figure is that side's best median over the rounds)")
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
if torch_info:
    extra = {k: v for k, v in torch_info.items() if k != "name"}
    print("PyTorch: " + ", ".join(f"{k}={v}" for k, v in extra.items()))
elif os.environ["TORCH_STATUS"] == "absent":
    print("PyTorch: not installed, its columns are skipped (pip install torch to add them)")
if not rust_ok:
    print()
    print("**The Rust bench (`cargo bench --bench speed -- --json`) failed or printed no "
          "results: NumPy numbers only.**")
print()
if torch_rows:
    print("| name | NumPy median | Rust median | Rust speed-up (NumPy/Rust) | same-round range "
          "| PyTorch median | Rust speed-up (PyTorch/Rust) | same-round range |")
    print("|---|---|---|---|---|---|---|---|")
else:
    print("| name | NumPy median | Rust median | Rust speed-up (NumPy/Rust) | same-round range |")
    print("|---|---|---|---|---|")
both = [n for n in numpy_rows if n in rust_rows]
for name in both:
    np_s, rs_s = numpy_rows[name]["median_s"], rust_rows[name]["median_s"]
    speedup = fmt_ratio(np_s / rs_s) if rs_s > 0 else "—"
    line = f"| {name} | {fmt_cell(numpy_rows[name])} | {fmt_cell(rust_rows[name])} | {speedup} | {ratio_range(name)} |"
    if torch_rows:
        t = torch_rows.get(name)
        vs = fmt_ratio(t["median_s"] / rs_s) if t and rs_s > 0 else "—"
        line += f" {fmt_cell(t)} | {vs} | {torch_ratio_range(name) if t else '—'} |"
    print(line)
for name in numpy_rows:
    if name not in rust_rows:
        print(f"| {name} | {fmt_cell(numpy_rows[name])} | — | — | — |")
for name in rust_rows:
    if name not in numpy_rows:
        print(f"| {name} | — | {fmt_cell(rust_rows[name])} | — | — |" + (" — | — | — |" if torch_rows else ""))
if torch_runs:
    raw = [load(os.path.join(sys.argv[1], f"torch.{r}.jsonl"))[0] for r in range(1, rounds + 1)]
    names = sorted({n for r in raw for n in r if n.startswith("batch_step_")})
    if names:
        print()
        print("PyTorch's batched-step variants (best median over the rounds):")
        for n in names:
            m = min(r[n]["median_s"] for r in raw if n in r)
            print(f"- {n}: {fmt_time(m)}")
PY
