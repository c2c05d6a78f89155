#!/usr/bin/env bash
# Runs every loom model: the store's protocol models (this crate's tests/)
# and the crate-private models of the hash index and the entry slot
# (skipstore's lib, `hashindex::loom` and `slot::loom`), each model in a
# process of its own, JOBS at a time (default 2).
#
#   bash loom-tests/run.sh             # all of them (CI)
#   JOBS=1 bash loom-tests/run.sh      # one at a time
#
# Why a process per model: loom runs each modelled thread on a coroutine
# stack that it maps and unmaps for every execution it explores, so models
# that share a process serialise on the kernel's lock over its address
# space. Two models on two test threads of one process took as long as the
# two one after the other (84 s against 82 s); in two processes, 54 s.
#
# Both builds share target/loom and the profile of this crate's manifest
# (release with debug assertions and overflow checks), so the lib's build
# reuses most of the dependency tree the first one compiled. The protocol
# models state their own preemption and branch bounds (src/lib.rs: `model`,
# `model_bounded`; the env vars would override them), so
# LOOM_MAX_PREEMPTIONS=3 is set for the lib's models only.
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-2}
export RUSTFLAGS="--cfg skipstore_loom --cfg crossbeam_loom"
TARGET=(--release --target-dir target/loom)
# The lib built with this crate's release profile (see above): the
# settings of its [profile.release], read from its manifest so that the two
# builds cannot drift apart, over the workspace's (whose `debug = 1` this
# crate leaves at 0).
PROFILE=(--config profile.release.debug=0)
while read -r setting; do
    PROFILE+=(--config "profile.release.$setting")
done < <(sed -n '/^\[profile\.release\]/,/^\[/{s/ //g;/^[a-z-]*=/p}' loom-tests/Cargo.toml)

jobs=$(mktemp)
built=$(mktemp)
trap 'rm -f "$jobs" "$built"' EXIT

# Builds tests with `cargo test --no-run` (a failed build fails the run)
# and prints the executables it built.
executables() {
    cargo test --no-run --message-format=json "$@" >"$built" || return 1
    grep -o '"executable":"[^"]*"' "$built" | cut -d'"' -f4
}

# One line per model: the preemption bound to set (or "-"), the executable
# and the model's name. The protocol models' build comes first: the lib's
# then reuses its dependencies.
protocol=$(executables "${TARGET[@]}" --manifest-path loom-tests/Cargo.toml)
# `-p skipstore`: the workspace's compare tool pulls crossbeam-channel,
# which does not build in crossbeam's loom mode.
lib=$(executables "${TARGET[@]}" "${PROFILE[@]}" -p skipstore --lib)
for exe in $lib; do
    "$exe" --list 2>/dev/null | sed -n 's/: test$//p' |
        grep -E '^raw::(hashindex|slot|pending)::loom_models::' |
        sed "s|^|3 $exe |" >>"$jobs"
done
for exe in $protocol; do
    "$exe" --list 2>/dev/null | sed -n 's/: test$//p' | sed "s|^|- $exe |" >>"$jobs"
done
if [ ! -s "$jobs" ]; then
    echo "error: no loom models found" >&2
    exit 1
fi
echo "$(wc -l <"$jobs") loom models, $JOBS at a time"

# Runs one model; prints its time, and its whole output if it failed.
run_one() {
    local preemptions=$1 exe=$2 name=$3 out start status=0 bound=()
    [ "$preemptions" = - ] || bound=("LOOM_MAX_PREEMPTIONS=$preemptions")
    out=$(mktemp)
    start=$(date +%s)
    env "${bound[@]}" "$exe" --exact "$name" >"$out" 2>&1 || status=$?
    if [ "$status" -eq 0 ] && grep -q '^test result: ok. 1 passed' "$out"; then
        printf 'ok      %4ss  %s\n' "$(($(date +%s) - start))" "$name"
    else
        printf 'FAILED  %4ss  %s\n' "$(($(date +%s) - start))" "$name"
        cat "$out"
        status=1
    fi
    rm -f "$out"
    return "$status"
}
export -f run_one

# xargs exits non-zero if any model failed.
if xargs -P "$JOBS" -L 1 bash -c 'run_one "$@"' _ <"$jobs"; then
    echo "every loom model passed"
else
    echo "error: a loom model failed (see above)" >&2
    exit 1
fi
