//! A key that `get` can read is reachable by a listing that starts
//! afterwards, and so is its namespace (README, "Guarantees"): one writer
//! inserts new keys (or new namespaces) while a checker reads the key being
//! written and, as soon as it is readable, lists it. The point index resizes
//! many times meanwhile (resizes used to run between an insert's
//! publication in the point index and its arrival in the listings' buffer,
//! which made that window long).
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, Store};
use skipstore::SkipStore;

/// Rows the writer inserts at most (the test also stops after `RUN`).
const ROWS: usize = 400_000;
const RUN: Duration = Duration::from_secs(3);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Runs `write(i)` for rising `i` on one thread (publishing `i` first in
/// `current`) and `check(i)` on the latest `i` on another, until either
/// is done; returns how many checks found the row readable.
fn race(write: impl Fn(usize) + Sync, check: impl Fn(usize) -> bool + Sync) -> usize {
    let current = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let mut hits = 0;
    std::thread::scope(|s| {
        s.spawn(|| {
            let end = Instant::now() + RUN;
            for i in 1..=ROWS {
                current.store(i, Ordering::SeqCst);
                write(i);
                if i % 1024 == 0 && Instant::now() > end {
                    break;
                }
            }
            done.store(true, Ordering::SeqCst);
        });
        while !done.load(Ordering::SeqCst) {
            let i = current.load(Ordering::SeqCst);
            if i > 0 && check(i) {
                hits += 1;
            }
        }
    });
    hits
}

fn key(i: usize) -> String {
    format!("k{i:07}")
}

#[test]
fn a_readable_key_is_listed_by_a_list_that_starts_after_the_read() {
    let store: SkipStore<u64> = SkipStore::new();
    let ctx = ExecutionContext::new();
    let space = Namespace::new(TenantId::new("t")).with_scope("a");
    let rt = runtime();
    let hits = race(
        |i| {
            store.put_versioned(&space, &key(i), i as u64, None);
        },
        |i| {
            let k = key(i);
            if store.get_versioned(&space, &k).is_none() {
                return false;
            }
            let listed = rt.block_on(store.list(&ctx, &space, Some(&k))).unwrap();
            assert_eq!(
                listed,
                std::slice::from_ref(&k),
                "{k} read by get, then not listed"
            );
            true
        },
    );
    assert!(hits > 0, "the checker never caught a row");
    store.check_invariants().unwrap();
}

#[test]
fn a_namespace_written_through_is_listed_by_a_listing_that_starts_after_the_write() {
    let store: SkipStore<u64> = SkipStore::new();
    let ctx = ExecutionContext::new();
    let space = |i: usize| Namespace::new(TenantId::new("t")).with_scope(format!("n{i:07}"));
    let rt = runtime();
    let hits = race(
        |i| {
            store.put_versioned(&space(i), "a", 1, None);
        },
        |i| {
            // Writing into the namespace the writer is creating: this put
            // may find the writer's namespace node and return before the
            // writer is done with it.
            let ns = space(i);
            store.put_versioned(&ns, "b", 2, None);
            let listed = rt
                .block_on(store.list_namespaces(&ctx, &NamespacePrefix::from(&ns)))
                .unwrap();
            assert_eq!(
                listed,
                std::slice::from_ref(&ns),
                "{ns:?} written, then not listed"
            );
            true
        },
    );
    assert!(hits > 0);
    store.check_invariants().unwrap();
}
