//! Conditional writes and versions: `put_if_absent`, `compare_and_swap`,
//! `get_versioned`, `put_versioned`.

use std::collections::HashSet;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};

use entelix_core::ExecutionContext;
use entelix_memory::Store;
use skipstore::{Conflict, SkipStore};

use super::{assert_invariants, manual, ms, ns, prefix, ready};

fn user() -> entelix_memory::Namespace {
    ns("acme", &["user-1"])
}

#[test]
fn put_if_absent_writes_only_when_nothing_live_is_there() {
    let (clock, store) = manual::<u32>();
    // Absent: written.
    let v1 = store.put_if_absent(&user(), "k", 1, None).unwrap();
    assert_eq!(store.get_versioned(&user(), "k"), Some((1, v1)));
    // Present: refused with the live version, value untouched.
    let refused = store.put_if_absent(&user(), "k", 2, None);
    assert_eq!(refused, Err(Conflict { current: Some(v1) }));
    assert_eq!(store.get_versioned(&user(), "k"), Some((1, v1)));
    // Present but expired: written over.
    let e1 = store.put_if_absent(&user(), "e", 10, Some(ms(10))).unwrap();
    assert_eq!(
        store.put_if_absent(&user(), "e", 11, None),
        Err(Conflict { current: Some(e1) })
    );
    clock.advance(ms(10));
    assert_eq!(store.get_versioned(&user(), "e"), None);
    let e2 = store.put_if_absent(&user(), "e", 12, None).unwrap();
    assert_ne!(e2, e1);
    assert_eq!(store.get_versioned(&user(), "e"), Some((12, e2)));
    // Deleted: absent again.
    ready(store.delete(&ExecutionContext::new(), &user(), "k")).unwrap();
    let v2 = store.put_if_absent(&user(), "k", 3, None).unwrap();
    assert_ne!(v2, v1);
    assert_eq!(store.total_entries(), 2);
    assert_invariants(&store);
}

#[test]
fn compare_and_swap_needs_the_live_version() {
    let (clock, store) = manual::<u32>();
    let v1 = store.put_versioned(&user(), "k", 1, None);
    // Match: replaced, with a new version.
    let v2 = store.compare_and_swap(&user(), "k", v1, 2, None).unwrap();
    assert_ne!(v2, v1);
    assert_eq!(store.get_versioned(&user(), "k"), Some((2, v2)));
    // Stale: refused with the version found.
    let stale = store.compare_and_swap(&user(), "k", v1, 3, None);
    assert_eq!(stale, Err(Conflict { current: Some(v2) }));
    assert_eq!(store.get_versioned(&user(), "k"), Some((2, v2)));
    // A plain put also moves the version on.
    let v3 = store.put_versioned(&user(), "k", 4, None);
    assert_eq!(
        store.compare_and_swap(&user(), "k", v2, 5, None),
        Err(Conflict { current: Some(v3) })
    );
    // Absent key: refused, nothing written.
    assert_eq!(
        store.compare_and_swap(&user(), "absent", v3, 6, None),
        Err(Conflict { current: None })
    );
    assert_eq!(store.get_versioned(&user(), "absent"), None);
    // Expired key: refused with no live version, even with the right one.
    let e1 = store.put_versioned(&user(), "e", 7, Some(ms(10)));
    clock.advance(ms(10));
    let expired = store.compare_and_swap(&user(), "e", e1, 8, None);
    assert_eq!(expired, Err(Conflict { current: None }));
    assert_eq!(store.get_versioned(&user(), "e"), None);
    // A swap can set a TTL.
    let v4 = store
        .compare_and_swap(&user(), "k", v3, 9, Some(ms(5)))
        .unwrap();
    assert_eq!(store.get_versioned(&user(), "k"), Some((9, v4)));
    clock.advance(ms(5));
    assert_eq!(store.get_versioned(&user(), "k"), None);
    assert_eq!(
        Conflict { current: None }.to_string(),
        "conditional write refused: entry is absent"
    );
    assert_invariants(&store);
}

/// Versions never repeat for a key: not across overwrites, deletes,
/// re-inserts, expiry, subtree deletes or the namespace being retired and
/// recreated. A version from an earlier life of the key never matches.
#[test]
fn versions_never_repeat_across_delete_and_reinsert() {
    let (clock, store) = manual::<u32>();
    let ctx = ExecutionContext::new();
    let mut seen = HashSet::new();
    let mut fresh = |v: skipstore::EntryVersion| {
        assert!(seen.insert(v), "version {} repeated", v.as_u64());
        v
    };
    let first = fresh(store.put_versioned(&user(), "k", 0, None));
    for round in 0..200u32 {
        let a = fresh(store.put_versioned(&user(), "k", round, None));
        let b = fresh(
            store
                .compare_and_swap(&user(), "k", a, round + 1, None)
                .unwrap(),
        );
        assert_eq!(store.get_versioned(&user(), "k"), Some((round + 1, b)));
        match round % 4 {
            0 => ready(store.delete(&ctx, &user(), "k")).unwrap(),
            1 => assert_eq!(store.delete_subtree(&prefix("acme", &["user-1"])), 1),
            2 => {
                let _ = fresh(store.put_versioned(&user(), "k", 0, Some(ms(1))));
                clock.advance(ms(1));
                ready(store.evict_expired(&ctx)).unwrap();
            }
            _ => {
                let _ = fresh(store.put_versioned(&user(), "k", 0, Some(ms(1))));
                clock.advance(ms(1));
            }
        }
        assert_eq!(
            store.compare_and_swap(&user(), "k", b, 0, None),
            Err(Conflict { current: None })
        );
        let again = fresh(store.put_if_absent(&user(), "k", 0, None).unwrap());
        assert_eq!(
            store.compare_and_swap(&user(), "k", first, 0, None),
            Err(Conflict {
                current: Some(again)
            }),
            "a version of the key's first life matched"
        );
    }
    assert_invariants(&store);
}

/// N threads each add 1 M times with a `get_versioned` /
/// `compare_and_swap` retry loop: no update is lost, and every attempt is
/// accounted for.
#[test]
fn concurrent_read_modify_write_loses_no_update() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 2_500;
    let store: SkipStore<u64> = SkipStore::new();
    let space = ns("acme", &["counters"]);
    store.put_versioned(&space, "hits", 0, None);
    // Neighbouring keys written meanwhile share the namespace.
    let reads = AtomicU64::new(0);
    let conflicts = AtomicU64::new(0);
    let start = Barrier::new(THREADS as usize);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (store, space, reads, conflicts, start) =
                (&store, &space, &reads, &conflicts, &start);
            s.spawn(move || {
                start.wait();
                for i in 0..PER_THREAD {
                    loop {
                        let (value, seen) = store.get_versioned(space, "hits").unwrap();
                        reads.fetch_add(1, Ordering::Relaxed);
                        match store.compare_and_swap(space, "hits", seen, value + 1, None) {
                            Ok(_) => break,
                            Err(Conflict { current }) => {
                                assert_ne!(current, Some(seen));
                                assert!(current.is_some(), "the counter vanished");
                                conflicts.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    if i % 16 == 0 {
                        store.put_versioned(space, &format!("side-{t}-{i}"), i, None);
                    }
                }
            });
        }
    });
    let (value, _) = store.get_versioned(&space, "hits").unwrap();
    assert_eq!(value, THREADS * PER_THREAD);
    let stats = store.stats();
    let side_writes = THREADS * PER_THREAD.div_ceil(16);
    assert_eq!(stats.writes, 1 + THREADS * PER_THREAD + side_writes);
    assert_eq!(stats.hits, reads.load(Ordering::Relaxed) + 1);
    assert_eq!(
        reads.load(Ordering::Relaxed),
        THREADS * PER_THREAD + conflicts.load(Ordering::Relaxed)
    );
    assert_eq!(stats.misses, 0);
    assert_invariants(&store);
}
