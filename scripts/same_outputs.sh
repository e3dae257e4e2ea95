#!/usr/bin/env bash
# same_outputs.sh OLD_BIN NEW_BIN
#
# Proves that two builds of backprop-oracle behave identically on a fixed list of command
# lines: for every case it runs OLD_BIN, then NEW_BIN, each in a fresh folder at the same
# absolute path holding the same input files, with the same environment (`env -i`, PATH
# plus the case's own variables) and the same argv[0] (`./bin/backprop-oracle`, a symlink
# to a private copy of the binary), so that everything a run may record about itself
# (export's header "command" is the full argv) is the same. It then compares the exit code,
# stdout, stderr and every file left in the folder (recursively; inputs included, so an
# input the binary altered shows up too), byte for byte.
#
# Output: one line per case, `same  <name>` or `DIFF  <name>: <what differs>`, then a
# summary line. Exit status: 0 all cases identical, 1 at least one differs, 2 usage or
# setup error (bad arguments, missing python3/fixtures, OLD_BIN failing to prepare inputs).
#
# Needs only bash, coreutils, python3 (standard library; it writes the input files: the
# model specs taken from tests/fixtures/parity/*.json, the .npy data of the GEMM case,
# the error-case inputs) and the two binaries.
#
# Environment knobs (all optional):
#   SAME_OUTPUTS_ONLY=REGEX   run only the cases whose name matches the bash regex
#   SAME_OUTPUTS_KEEP=1       keep the work folder (results of DIFF cases) and print its path
#   SAME_OUTPUTS_TIMEOUT=SEC  per-run time limit (default 300); a run that hits it is a DIFF
#                             unless both time out
#
# Example (frozen "before" binary vs the working tree):
#   cargo build --release && bash scripts/same_outputs.sh /work/baseline-bin/backprop-oracle target/release/backprop-oracle

set -u
set -o pipefail
export LC_ALL=C

usage() {
    echo "usage: bash scripts/same_outputs.sh OLD_BIN NEW_BIN" >&2
    echo "  runs a fixed list of backprop-oracle command lines with both binaries and compares" >&2
    echo "  exit code, stdout, stderr and output files; exit 0 all same, 1 some differ, 2 usage" >&2
    exit 2
}
die() {
    echo "same_outputs.sh: $*" >&2
    exit 2
}

[ $# -eq 2 ] || usage
for b in "$1" "$2"; do
    [ -f "$b" ] && [ -x "$b" ] || die "not an executable file: $b"
done
command -v python3 >/dev/null 2>&1 || die "python3 not found (needed to write the input files)"
command -v timeout >/dev/null 2>&1 || die "timeout (coreutils) not found"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || die "cannot locate the script's folder"
FIXDIR=$SCRIPT_DIR/../tests/fixtures
[ -d "$FIXDIR/parity" ] || die "no fixtures at $FIXDIR/parity"
[ -d "$FIXDIR/port" ] || die "no fixtures at $FIXDIR/port"

ONLY=${SAME_OUTPUTS_ONLY:-}
KEEP=${SAME_OUTPUTS_KEEP:-0}
TIMEOUT=${SAME_OUTPUTS_TIMEOUT:-300}
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "SAME_OUTPUTS_TIMEOUT must be a whole number of seconds"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/same_outputs.XXXXXX") || die "mktemp failed"
cleanup() {
    if [ "$KEEP" = 1 ]; then
        echo "same_outputs.sh: work folder kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Private copies, so a rebuild of NEW_BIN during the run cannot mix two builds.
mkdir -p "$WORK/bin" "$WORK/in" "$WORK/res" || die "cannot create $WORK"
cp -- "$1" "$WORK/bin/old" && cp -- "$2" "$WORK/bin/new" || die "cannot copy the binaries"
chmod +x "$WORK/bin/old" "$WORK/bin/new"

# Every run happens here (same absolute path for both binaries); afterwards the folder
# is moved into the results.
RUN=$WORK/run

# ---------------------------------------------------------------------------------------
# Input files. Each folder under $WORK/in is a set of files copied into a run folder.
# ---------------------------------------------------------------------------------------
python3 - "$WORK/in" "$FIXDIR" <<'PY' || die "writing the input files failed"
import json, os, struct, sys

inp, fixdir = sys.argv[1], sys.argv[2]

def write(folder, name, data):
    d = os.path.join(inp, folder)
    os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)

def find_spec(doc):
    """The model spec of a parity fixture: its "spec" object (or any object with "sizes")."""
    if isinstance(doc, dict):
        if isinstance(doc.get("spec"), dict):
            return doc["spec"]
        if "sizes" in doc and "activations" in doc:
            return doc
        for v in doc.values():
            s = find_spec(v)
            if s is not None:
                return s
    return None

names = []
pdir = os.path.join(fixdir, "parity")
for fn in sorted(os.listdir(pdir)):
    if not fn.endswith(".json"):
        continue
    with open(os.path.join(pdir, fn)) as f:
        spec = find_spec(json.load(f))
    if spec is None:
        sys.exit(f"{fn}: no model spec found")
    name = fn[:-5]
    write("fx_" + name, "model.json", json.dumps(spec, indent=1) + "\n")
    names.append(name)
if not names:
    sys.exit("no parity fixtures")
write(".", "fixtures.txt", "\n".join(names) + "\n")

# The article's spec (every key), the base of the error-case specs.
article = {"sizes": [2, 3, 1], "activations": ["relu", "identity"], "loss": "mse", "seed": 0,
           "init_scale": 1.0, "x": [[1, 2], [2, 1], [3, 1], [1, 3]], "y": [4, 3, 5, 5],
           "lr": 0.01, "epochs": 1000, "batch_size": 1, "log_every": 100}
write("err_unknown_key", "model.json", json.dumps(dict(article, bogus=1)) + "\n")
write("err_sizes_zero", "model.json", json.dumps(dict(article, sizes=[2, 0, 1])) + "\n")
write("err_shape", "model.json", json.dumps(dict(article, y=[4, 3, 5])) + "\n")

# A 64-128-10 relu/identity net on 256 samples of 64 features, batches of 64, 3 epochs:
# big enough for the fast trainer's GEMM path. Data: a 64-bit LCG, as float64 .npy files.
state = 20240601
def uniform():
    global state
    state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
    return (state >> 11) / 2.0**53 * 2.0 - 1.0

def npy(shape, vals):
    dims = ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "")
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (%s), }" % dims
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return (b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")
            + struct.pack("<%dd" % len(vals), *vals))

n, d, m = 256, 64, 10
x = [uniform() for _ in range(n * d)]
y = [uniform() for _ in range(n * m)]
gemm = {"sizes": [64, 128, 10], "activations": ["relu", "identity"], "seed": 5,
        "init_scale": 0.1, "x": "x.npy", "y": "y.npy", "lr": 0.01, "epochs": 3,
        "batch_size": 64, "log_every": 1}
write("gemm", "model.json", json.dumps(gemm) + "\n")
write("gemm", "x.npy", npy([n, d], x))
write("gemm", "y.npy", npy([n, m], y))

# Port fixtures (candidates for compare), and broken variants of one.
port = os.path.join(fixdir, "port")
for fn in sorted(os.listdir(port)):
    with open(os.path.join(port, fn), "rb") as f:
        write("port", fn, f.read())
with open(os.path.join(port, "numpy_port_trajectory.json"), "rb") as f:
    traj = f.read()
doc = json.loads(traj)
doc["steps"][3]["backward"][0]["dW"][1][0] += 1e-6
write("port_perturbed", "cand.json", json.dumps(doc))
write("garbled", "cand.json", traj[:2000] + b"\x00#@!{[" + traj[2010:])
write("truncated", "cand.json", traj[: len(traj) // 2])
PY

mapfile -t FIXTURES <"$WORK/in/fixtures.txt"
for need in article multi_output_batch4; do
    [ -d "$WORK/in/fx_$need" ] || die "fixture tests/fixtures/parity/$need.json missing"
done

# Golden folders for the compare cases, written by OLD_BIN (so compare is tested on the
# same candidate files with both binaries; export itself has its own cases).
prep_golden() { # prep_golden DEST_FOLDER SOURCE_INPUTS EXPORT_ARGS...
    local dest=$1 src=$2
    shift 2
    rm -rf "$RUN" && mkdir -p "$RUN/bin" || die "cannot create $RUN"
    [ "$src" = - ] || cp -R "$WORK/in/$src/." "$RUN/"
    ln -s "$WORK/bin/old" "$RUN/bin/backprop-oracle"
    (cd "$RUN" && env -i PATH="$PATH" timeout -k 5 "$TIMEOUT" ./bin/backprop-oracle "$@" \
        </dev/null >/dev/null 2>"$WORK/prep.err") ||
        die "setup: OLD_BIN failed: $* ($(head -c 300 "$WORK/prep.err"))"
    rm -f "$RUN/bin/backprop-oracle" && rmdir "$RUN/bin"
    mv "$RUN" "$WORK/in/$dest"
}
for fx in "${FIXTURES[@]}"; do
    prep_golden "gold_$fx" "fx_$fx" export --model model.json --out golden --npy
done
prep_golden gold_default - export --out golden

# ---------------------------------------------------------------------------------------
# Running and comparing.
# ---------------------------------------------------------------------------------------
if command -v cmp >/dev/null 2>&1; then
    same_bytes() { cmp -s -- "$1" "$2"; }
else
    same_bytes() {
        [ "$(wc -c <"$1")" = "$(wc -c <"$2")" ] &&
            [ "$(sha256sum <"$1")" = "$(sha256sum <"$2")" ]
    }
fi

# Where two files first differ, on one line (diagnostics only).
describe() {
    python3 - "$1" "$2" <<'PY'
import sys
a = open(sys.argv[1], "rb").read()
b = open(sys.argv[2], "rb").read()
n = min(len(a), len(b))
lo, hi = 0, n                      # first index where they differ: binary search on prefixes
while lo < hi:
    mid = (lo + hi + 1) // 2
    if a[:mid] == b[:mid]:
        lo = mid
    else:
        hi = mid - 1
i = lo
line = a[:i].count(b"\n") + 1
def ctx(s):
    start = max(0, i - 30, s.rfind(b"\n", 0, i) + 1)
    piece = s[start:i + 50]
    return repr(piece.decode("utf-8", "replace"))[:120]
if i == n:
    print(f"{len(a)} vs {len(b)} bytes, one a prefix of the other (from line {line}, byte {i})")
else:
    print(f"at line {line}, byte {i} ({len(a)} vs {len(b)} bytes): old {ctx(a)} / new {ctx(b)}")
PY
}

list_tree() ( # one line per entry below $1: "d path", "f path" or "l path -> target"
    cd "$1" || exit 1
    shopt -s globstar dotglob nullglob
    for p in **; do
        if [ -L "$p" ]; then
            echo "l $p -> $(readlink -- "$p")"
        elif [ -d "$p" ]; then
            echo "d $p"
        else
            echo "f $p"
        fi
    done
)

run_side() { # run_side SIDE OUTDIR INPUTS ENVS ARGS...
    local side=$1 out=$2 inputs=$3 envs=$4 src
    shift 4
    rm -rf "$RUN"
    mkdir -p "$RUN/bin" "$out"
    for src in $inputs; do
        [ "$src" = - ] || cp -R "$WORK/in/$src/." "$RUN/"
    done
    ln -s "$WORK/bin/$side" "$RUN/bin/backprop-oracle"
    local -a ev=()
    [ "$envs" = - ] || read -r -a ev <<<"$envs"
    (cd "$RUN" && exec env -i PATH="$PATH" ${ev[@]+"${ev[@]}"} \
        timeout -k 5 "$TIMEOUT" ./bin/backprop-oracle "$@" \
        </dev/null >"$out/stdout" 2>"$out/stderr")
    echo $? >"$out/code"
    # conformance's progress lines on stderr carry each case's seconds: masked.
    sed -i -E 's/^(\[[0-9]+\/[0-9]+\] [^ ]+: (pass|fail)) \([0-9]+\.[0-9] s\)/\1 (S s)/' "$out/stderr"
    rm -f "$RUN/bin/backprop-oracle"
    rmdir "$RUN/bin" 2>/dev/null
    mv "$RUN" "$out/files"
}

TOTAL=0
NDIFF=0
NOTES=()

# run_case NAME EXPECTED_EXIT INPUTS ENVS -- ARGS...
#   INPUTS: space-separated folders of $WORK/in copied into the run folder, or -
#   ENVS:   space-separated VAR=value for the run (on top of PATH), or -
#   EXPECTED_EXIT only produces a note on stderr when OLD_BIN exits otherwise (the case
#   then does not test what its name says); the verdict is old-vs-new only.
run_case() {
    local name=$1 expect=$2 inputs=$3 envs=$4
    shift 5
    if [ -n "$ONLY" ] && ! [[ $name =~ $ONLY ]]; then
        return 0
    fi
    TOTAL=$((TOTAL + 1))
    local res=$WORK/res/$TOTAL
    run_side old "$res/old" "$inputs" "$envs" "$@"
    run_side new "$res/new" "$inputs" "$envs" "$@"

    local -a what=()
    local co cn
    co=$(<"$res/old/code")
    cn=$(<"$res/new/code")
    if [ "$co" != "$cn" ]; then
        local t=""
        [ "$cn" = 124 ] && t=" (NEW timed out after ${TIMEOUT}s)"
        [ "$co" = 124 ] && t=" (OLD timed out after ${TIMEOUT}s)"
        what+=("exit code $co vs $cn$t")
    elif [ "$co" = 124 ]; then
        what+=("both timed out after ${TIMEOUT}s")
    fi
    [ "$expect" = any ] || [ "$co" = "$expect" ] || NOTES+=("$name: OLD exited $co, the case expects $expect")
    local s
    for s in stdout stderr; do
        same_bytes "$res/old/$s" "$res/new/$s" ||
            what+=("$s differs $(describe "$res/old/$s" "$res/new/$s")")
    done

    local lo ln
    lo=$(list_tree "$res/old/files" | sort)
    ln=$(list_tree "$res/new/files" | sort)
    if [ "$lo" != "$ln" ]; then
        local only_o only_n
        only_o=$(comm -23 <(echo "$lo") <(echo "$ln") | head -n 5 | tr '\n' ' ')
        only_n=$(comm -13 <(echo "$lo") <(echo "$ln") | head -n 5 | tr '\n' ' ')
        what+=("file lists differ: only OLD: [${only_o% }] only NEW: [${only_n% }]")
    fi
    local -a bad=()
    local entry p
    while IFS= read -r entry; do
        [ "${entry:0:2}" = "f " ] || continue
        p=${entry:2}
        [ -f "$res/new/files/$p" ] || continue
        same_bytes "$res/old/files/$p" "$res/new/files/$p" || bad+=("$p")
    done <<<"$lo"
    if [ ${#bad[@]} -gt 0 ]; then
        local more=""
        [ ${#bad[@]} -gt 1 ] && more=" (and ${#bad[@]} files in all: ${bad[*]:0:6})"
        what+=("file ${bad[0]} differs $(describe "$res/old/files/${bad[0]}" "$res/new/files/${bad[0]}")$more")
    fi

    if [ ${#what[@]} -eq 0 ]; then
        echo "same  $name"
        rm -rf "$res"
    else
        NDIFF=$((NDIFF + 1))
        local joined
        joined=$(printf '%s; ' "${what[@]}")
        echo "DIFF  $name: ${joined%; }"
        [ "$KEEP" = 1 ] && printf '%s\n' "$name" "$*" >"$res/case" || rm -rf "$res"
    fi
}

# ---------------------------------------------------------------------------------------
# The cases.
# ---------------------------------------------------------------------------------------
START=$SECONDS

# CLI surface.
run_case version 0 - - -- --version
run_case help 0 - - -- --help
for sub in train gradient-check export compare; do
    run_case "help_$sub" 0 - - -- "$sub" --help
done
run_case no_subcommand 2 - - --

# train: the article (the default model).
run_case train_text 0 - - -- train
run_case train_json 0 - - -- train --format json
run_case train_reference_json 0 - - -- train --reference --format json
run_case train_plot 0 - - -- train --plot curve.svg
run_case train_plot_log_scale 0 - - -- train --plot curve.svg --log-scale
run_case train_plot_json 0 - - -- train --format json --plot curve.svg
OVR=(--seed 1 --epochs 50 --lr 0.05 --batch-size 2 --log-every 5)
run_case train_overrides_text 0 - - -- train "${OVR[@]}"
run_case train_overrides_json 0 - - -- train "${OVR[@]}" --format json
run_case train_overrides_reference_json 0 - - -- train "${OVR[@]}" --reference --format json

# gradient-check on the default article.
run_case gc_text 0 - - -- gradient-check
run_case gc_json 0 - - -- gradient-check --format json
run_case gc_at_epochs_json 0 - - -- gradient-check --at-epochs 0,500,999 --format json
run_case gc_richardson_text 0 - - -- gradient-check --richardson --at-epochs 0,10
run_case gc_step_tols_json 0 - - -- gradient-check --step 1e-4 --fd-rtol 1e-5 --fd-atol 1e-7 \
    --rtol 1e-9 --atol 1e-11 --format json
run_case gc_sampled_text 0 - - -- gradient-check --mode sampled --samples 2 --check-seed 7 --at-epochs 0,3
run_case gc_directional_json 0 - - -- gradient-check --mode directional --directions 3 \
    --check-seed 9 --format json
run_case gc_list_bugs 0 - - -- gradient-check --list-bugs

# export / compare on the default article.
run_case export_default 0 - - -- export --out golden --npy --trace-steps 6
run_case export_force 0 gold_default - -- export --out golden --force --trace-steps 3
run_case compare_default_trajectory_text 0 gold_default - -- compare golden/trajectory.json
run_case compare_default_npz_json 0 gold_default - -- compare golden/reference.npz --format json

# compare on the NumPy port's committed outputs, and broken candidates.
run_case compare_port_trajectory_text 0 port - -- compare numpy_port_trajectory.json
run_case compare_port_trajectory_json 0 port - -- compare numpy_port_trajectory.json --format json
run_case compare_port_npz_json 0 port - -- compare numpy_port_reference.npz --model article --format json
run_case compare_port_npz_without_model 2 port - -- compare numpy_port_reference.npz --format json
run_case compare_port_minibatch_json 0 port - -- compare minibatch_trajectory.json --format json
run_case compare_port_minibatch_with_model 0 port - -- compare minibatch_trajectory.json \
    --model minibatch_spec.json --rtol 1e-12 --atol 0
run_case compare_perturbed_text 1 port_perturbed - -- compare cand.json
run_case compare_perturbed_json 1 port_perturbed - -- compare cand.json --format json

# Every parity fixture's spec.
for fx in "${FIXTURES[@]}"; do
    run_case "$fx:train_text" 0 "fx_$fx" - -- train --model model.json
    run_case "$fx:train_json" 0 "fx_$fx" - -- train --model model.json --format json
    run_case "$fx:train_reference_json" 0 "fx_$fx" - -- train --model model.json --reference --format json
    run_case "$fx:gc_text" 0 "fx_$fx" - -- gradient-check --model model.json
    run_case "$fx:gc_json" 0 "fx_$fx" - -- gradient-check --model model.json --format json
    run_case "$fx:gc_sampled" 0 "fx_$fx" - -- gradient-check --model model.json --mode sampled --at-epochs 0,3
    run_case "$fx:gc_directional" 0 "fx_$fx" - -- gradient-check --model model.json --mode directional
    run_case "$fx:export_npy" 0 "fx_$fx" - -- export --model model.json --out golden --npy
    run_case "$fx:compare_trajectory_text" 0 "gold_$fx" - -- compare golden/trajectory.json
    run_case "$fx:compare_trajectory_json" 0 "gold_$fx" - -- compare golden/trajectory.json --format json
    run_case "$fx:compare_npz_text" 0 "gold_$fx" - -- compare golden/reference.npz --model model.json
    run_case "$fx:compare_npz_json" 0 "gold_$fx" - -- compare golden/reference.npz --model model.json --format json
done

# Every injectable bug, on the article and on a multi-output mini-batch net.
BUGS=(dw-transposed dx-no-transpose relu-mask-inverted derivative-of-a
    activation-derivative-dropped mse-without-2 mse-without-size bias-not-summed
    bias-grad-mean batch-sum-not-mean update-plus stale-weights softmax-no-max-shift
    softmax-jacobian-on-fused softmax-wrong-axis bce-on-probabilities bce-sum-not-mean)
listed=$("$WORK/bin/old" gradient-check --list-bugs 2>/dev/null | while read -r w _; do echo "$w"; done)
[ "$listed" = "$(printf '%s\n' "${BUGS[@]}")" ] ||
    NOTES+=("OLD_BIN's --list-bugs names differ from this script's list: $(echo $listed)")
for bug in "${BUGS[@]}"; do
    # The exit code depends on the bug (some cannot change the article's gradients).
    run_case "bug:$bug:article_text" any - - -- gradient-check --inject-bug "$bug" --at-epochs 0,5
    run_case "bug:$bug:article_json" any - - -- gradient-check --inject-bug "$bug" --format json
    run_case "bug:$bug:multi_output_batch4_text" any fx_multi_output_batch4 - -- \
        gradient-check --model model.json --inject-bug "$bug"
    run_case "bug:$bug:multi_output_batch4_json" any fx_multi_output_batch4 - -- \
        gradient-check --model model.json --inject-bug "$bug" --at-epochs 0,3 --format json
done

# A 64-128-10 net, batches of 64: the GEMM path, with 1 and 2 threads.
run_case gemm:train_json_threads1 0 gemm RAYON_NUM_THREADS=1 -- train --model model.json --format json
run_case gemm:train_json_threads2 0 gemm RAYON_NUM_THREADS=2 -- train --model model.json --format json
run_case gemm:train_text_plot_log_threads2 0 gemm RAYON_NUM_THREADS=2 -- \
    train --model model.json --plot curve.svg --log-scale
run_case gemm:train_reference_json 0 gemm RAYON_NUM_THREADS=2 -- \
    train --model model.json --reference --format json
run_case gemm:gc_sampled_json 0 gemm RAYON_NUM_THREADS=2 -- \
    gradient-check --model model.json --mode sampled --samples 4 --format json
run_case gemm:gc_directional_text 0 gemm RAYON_NUM_THREADS=1 -- \
    gradient-check --model model.json --mode directional --directions 2

# Bad input (exit 2, one line on stderr) and divergence (exit 3).
run_case err:lr_negative 2 - - -- train --lr -1
run_case err:epochs_zero 2 - - -- train --epochs 0
run_case err:bad_format 2 - - -- train --format xml
run_case err:unknown_flag 2 - - -- train --frobnicate
run_case err:unknown_key 2 err_unknown_key - -- train --model model.json
run_case err:sizes_zero 2 err_sizes_zero - -- train --model model.json
run_case err:shape_mismatch 2 err_shape - -- gradient-check --model model.json
run_case err:missing_model 2 - - -- train --model missing.json
run_case err:missing_model_export 2 - - -- export --model missing.json --out golden
run_case err:unknown_bug 2 - - -- gradient-check --inject-bug no-such-bug
run_case err:bad_at_epochs 2 - - -- gradient-check --at-epochs 0,x
run_case err:compare_garbled 2 garbled - -- compare cand.json
run_case err:compare_truncated 2 truncated - -- compare cand.json --format json
run_case err:compare_missing 2 - - -- compare nothing.json
run_case err:compare_npz_without_model 2 gold_minibatch2 - -- compare golden/reference.npz
run_case err:export_exists 2 gold_default - -- export --out golden
run_case diverge:train_text 3 - - -- train --lr 1e10
run_case diverge:train_json 3 - - -- train --lr 1e10 --format json
run_case diverge:gradient_check 3 - - -- gradient-check --lr 1e10 --at-epochs 3
run_case diverge:export 3 - - -- export --lr 1e10 --out golden

# Conformance: the battery, exported cases, and a port (a shell command) on one case,
# passing and failing with its diagnosis (the text scorecard: it prints no times; the
# progress lines on stderr do, masked by run_side).
run_case conformance:list 0 - - -- conformance --list
run_case conformance:export_cases 0 - - -- conformance --export-cases cases \
    --case article --case softmax_cross_entropy --case binary_cross_entropy --trace-steps 2
run_case conformance:copy_port_pass 0 gold_default - -- conformance --case article \
    --port 'test -f {spec} && cp golden/trajectory.json {out}'
run_case conformance:copy_port_fail 1 port_perturbed - -- conformance --case article \
    --port 'test -f {spec} && cp cand.json {out}'
run_case conformance:port_not_found 2 - - -- conformance --case article --port 'no-such-port {spec} {out}'

ELAPSED=$((SECONDS - START))
for n in ${NOTES[@]+"${NOTES[@]}"}; do
    echo "note: $n" >&2
done
echo "$TOTAL cases: $((TOTAL - NDIFF)) same, $NDIFF DIFF (${ELAPSED}s)"
[ "$TOTAL" -gt 0 ] || die "no case matched SAME_OUTPUTS_ONLY=$ONLY"
[ "$NDIFF" -eq 0 ]
