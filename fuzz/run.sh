#!/usr/bin/env bash
# Runs one fuzz target for a while, seeded with the checked-in corpus.
#
#   fuzz/run.sh TARGET SECONDS
#
# The checked-in corpus (fuzz/corpus/TARGET) is copied to a temporary working
# corpus, so a run never adds files to it; to keep new inputs, minimize them
# into it by hand (`cargo fuzz cmin`). Any finding (a panic, a sanitizer
# report, a leak, a timeout) fails the run; its input is left in
# fuzz/artifacts/TARGET/ for `cargo fuzz run TARGET <file>` to replay.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 TARGET SECONDS" >&2
    exit 2
fi
target=$1
seconds=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# cargo-fuzz needs nightly features; this lets the stable toolchain build.
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$here/corpus/$target/." "$work/"

cd "$here/.."
cargo fuzz run --debug-assertions "$target" "$work" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=30
