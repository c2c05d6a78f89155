#!/usr/bin/env bash
# Runs the crate's Miri set (issue 13): the unit tests of every module that
# holds `unsafe` under Tree Borrows; the ordered set's tests, the trait
# contract, chosen failure modes and a short concurrent stress run without
# an aliasing model (see NO_ALIASING); the concurrent ones on several
# seeds; then what Stacked Borrows can reach without crossbeam-epoch
# (render, wheel).
#
#   bash miri/run.sh            # the whole set (CI)
#   MIRI_SEEDS=8 bash miri/run.sh
#
# Sizes shrink under `cfg(miri)` in the tests themselves. Miri builds into
# target/miri, apart from the normal build.
#
# Flags:
# * -Zmiri-tree-borrows: crossbeam-epoch breaks Stacked Borrows in its
#   intrusive list of participants (crossbeam issue #545), which every
#   thread's first pin enters; crossbeam runs its own Miri CI under Tree
#   Borrows.
# * No -Zmiri-permissive-provenance: that flag only silences the warning
#   Miri prints at each integer-to-pointer cast (the semantics are the
#   same). crossbeam-epoch's `Atomic` keeps its pointers as `usize`, so its
#   casts warn; our own code uses strict provenance, and `check_provenance`
#   below fails the run if any cast warning points outside crossbeam.
set -euo pipefail
cd "$(dirname "$0")/.."

SEEDS=${MIRI_SEEDS:-2}
TB="-Zmiri-tree-borrows"
# The integration tests reach crossbeam-skiplist 0.1.3, which frees a node
# through a pointer made from a shared reference (`Node::decrement` and
# `decrement_with_pin` defer `Self::finalize(self)` with `self: &Node`);
# Tree Borrows (and Stacked Borrows) forbid deallocating through it. That is
# the dependency's, not ours, and no release changes it, so these binaries
# run without an aliasing model (every other check stays: use after free,
# double free, leaks, data races, uninitialised reads, out-of-bounds and
# provenance, weak memory). Our own unsafe modules are checked for aliasing
# by their unit tests above, which never enter the skiplist.
NO_ALIASING="-Zmiri-disable-stacked-borrows"
# And without the leak check: when an integration binary exits, the versions,
# entries and skiplist nodes retired in its last moments still sit in
# crossbeam-epoch's garbage bags (no thread pins again to collect them), and
# those bags hang off `usize` words the leak checker cannot follow, so they
# read as leaks of our types, indistinguishable from real ones. Leaks of our
# objects stay checked by the unit tests above (which reclaim until their
# counts are back to zero), natively by the failure-mode tests' counting
# allocator, and by the fuzzer's LeakSanitizer.
INTEGRATION="$NO_ALIASING -Zmiri-ignore-leaks"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

step() { printf '\n--- miri: %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

# Runs `cargo miri test` with MIRIFLAGS=$1 and the rest as its arguments,
# keeping its output for the provenance check.
#
# Leaks: Miri checks for leaks when the test binary exits, and counts as
# leaked what it cannot reach from a static or a live thread. crossbeam-epoch
# keeps its participant list and its queue of garbage bags behind `usize`
# words, which the leak checker cannot follow, so the participant record of
# the harness thread and the bags still queued at exit show up as leaked
# (they are reachable, through integers). `-Zmiri-ignore-leaks` would hide
# leaks of our own too, so instead a run that fails is accepted only when its
# tests passed and every error is a leak of crossbeam-epoch's own
# bookkeeping (a participant record or a queue node of its garbage bags, by
# frame 0 of the allocation's backtrace). Our own objects
# stay checked: an entry, a version or a value that leaked would name our
# code or std (`Box::new`, `Arc::new`) as its allocation site.
miri() {
    local flags=$1 out status=0
    shift
    out=$(mktemp)
    MIRIFLAGS="$flags" cargo +nightly miri test "$@" >"$out" 2>&1 || status=$?
    cat "$out" | tee -a "$LOG" >/dev/null
    grep -E '^test |^test result|^error|^running' "$out" | grep -v '^error: memory leaked' || true
    if [ "$status" -ne 0 ] && ! only_epoch_leaks "$out"; then
        cat "$out"
        rm -f "$out"
        echo "error: miri failed (see above)" >&2
        return 1
    fi
    rm -f "$out"
}

# True if the run's tests passed and its only errors are leaks of
# allocations made by crossbeam-epoch.
only_epoch_leaks() {
    grep -q '^test result: ok' "$1" || return 1
    if grep -q '^test result: FAILED\|Undefined Behavior\|panicked' "$1"; then return 1; fi
    awk '
        /^error: memory leaked/ { leaks++; want = 1; next }
        /^error: (aborting due to|test failed, to rerun)/ { next }
        /^error/ { bad++ }
        # Its own types only: a version boxed through `Owned::new` also has
        # `<Version as crossbeam_epoch::Pointable>::init` as frame 0.
        want && /^ *0: / {
            if ($0 !~ /0: <crossbeam_epoch::[a-z_:]*(Local|Node<crossbeam_epoch::[a-z_:]*SealedBag>) as /) {
                bad++; print "leak not of crossbeam-epoch'"'"'s own: " $0
            }
            want = 0
        }
        END { if (bad > 0 || leaks == 0) exit 1; printf "accepted: %d leak(s), all allocated by crossbeam-epoch\n", leaks }
    ' "$1"
}

# Every integer-to-pointer cast Miri saw must be inside crossbeam.
check_provenance() {
    local sites
    sites=$(awk '/warning: integer-to-pointer cast/ { want = 1; next }
                 want && /-->/ { print $2; want = 0 }' "$LOG" | sort -u)
    echo "integer-to-pointer casts seen:"
    echo "${sites:-  (none)}" | sed 's/^/  /'
    if echo "$sites" | grep -v '^$' | grep -v '/crossbeam-'; then
        echo "error: an integer-to-pointer cast outside crossbeam (see above)" >&2
        return 1
    fi
}

# The unit tests whose threads race: every seed.
RACING=(
    slot::tests::racing_writers_readers_and_a_killer_lose_and_repeat_nothing
    pending::tests::drains_keep_exactly_what_they_are_told_under_readers_and_pushers
    pending::tests::sorted_views_under_pushers_and_drains
    hashindex::tests::racing_inserts_of_one_key_admit_one_and_readers_never_miss_stable_keys
)
# render and wheel never enter crossbeam-epoch: they run under Stacked
# Borrows (the stricter model) below instead. The ordered set's tests enter
# crossbeam-skiplist (see NO_ALIASING): they run in a step of their own.
skips=(--skip render:: --skip wheel:: --skip ordered_set_tests::)
for t in "${RACING[@]}"; do skips+=(--skip "$t"); done

step "unit tests (slot, retire, pending, hash index), Tree Borrows"
miri "$TB" --lib -- "${skips[@]}"

# Runs `miri` with MIRIFLAGS=$1 once per seed in 0..SEEDS: seeds one at a
# time (not -Zmiri-many-seeds, which stops at the first run that exits
# non-zero, as each does with crossbeam-epoch's leaks above).
miri_seeds() {
    local flags=$1 seed
    shift
    for seed in $(seq 0 $((SEEDS - 1))); do
        miri "$flags -Zmiri-seed=$seed" "$@"
    done
}

step "racing unit tests, Tree Borrows, seeds 0..$SEEDS"
miri_seeds "$TB" --lib -- "${RACING[@]}"

step "the ordered set (no aliasing model: crossbeam-skiplist), seeds 0..$SEEDS"
# Our use of the skiplist (`index.rs`: a node's one count of its member,
# inserts over gone occupants racing removals), with the leak check on:
# the tests reclaim until every member's count is back to one.
miri_seeds "$NO_ALIASING" --lib -- ordered_set_tests::

step "trait contract on a manual clock (no aliasing model: crossbeam-skiplist)"
# The shared suite's 50 cases through SkipStore on a ManualClock (the same
# cases run natively on the system clock too; interpreted, real time only
# adds sleeps). -Zmiri-disable-isolation: entelix's EntityMemory stamps its
# records with the wall clock (`SystemTime::now`), which isolation refuses.
# Not here: mass_expiry_then_writes_loses_no_row (3,000 rows to overflow one
# bounded sweep step: minutes interpreted; what it checks is the wheel's
# arithmetic, safe code that the native run covers) and
# entity_prune_drops_records_past_ttl (prunes by the wall clock, and
# interpreting one write takes longer than its margin).
miri "$INTEGRATION -Zmiri-disable-isolation" --test trait_contract -- manual_clock:: \
    --skip mass_expiry_then_writes_loses_no_row \
    --skip entity_prune_drops_records_past_ttl

step "failure modes (no aliasing model: crossbeam-skiplist)"
# Not here: the memory-footprint tests (hundreds of thousands of rows,
# measured in bytes: hours under Miri) and one_mebibyte_keys (hashing and
# comparing 1 MiB keys byte by byte under the interpreter: minutes per call).
miri "$INTEGRATION" --test failure_modes -- \
    odd_keys_are_ordinary_keys zero_and_maximal_ttls prefixes_that_match_nothing \
    a_panicking_clone_poisons_nothing dropping_the_store_in_use

step "stress (real threads; no aliasing model: crossbeam-skiplist), seeds 0..$SEEDS"
miri_seeds "$INTEGRATION" --test stress -- get_never_misses_a_key_being_overwritten

step "render and wheel, Stacked Borrows (they never enter crossbeam-epoch)"
miri "" --lib -- render:: wheel::

step "provenance"
check_provenance
