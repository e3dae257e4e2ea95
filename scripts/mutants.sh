#!/usr/bin/env bash
# Mutation testing of the math that matters (see .cargo/mutants.toml for the files and
# the tests that judge them). Installs cargo-mutants from crates.io if it is missing.
#
#   bash scripts/mutants.sh            # every mutant, 2 jobs
#   bash scripts/mutants.sh --list     # only list the mutants
#
# Results land in mutants.out/ (caught.txt, missed.txt, unviable.txt, timeout.txt).
# Survivors that are provably equivalent are listed, one line of reason each, in
# scripts/mutants-equivalent.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo mutants --version >/dev/null 2>&1; then
    cargo install cargo-mutants --locked
fi
if [ "${1:-}" = "--list" ]; then
    exec cargo mutants --list
fi
time cargo mutants --jobs 2 --timeout-multiplier 3 "$@"
