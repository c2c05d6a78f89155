//! What the contract suite cannot show, since it runs one call at a time:
//! each peer adapter stays right when writers, deleters and sweepers race
//! on the same keys (stress checks, bounded in time: a race they look for
//! may go unhit on a busy machine), and moka's own expiry is counted (a
//! deterministic check).
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, PutOptions, Store};
use skipstore_compare::peers::{DashMapStore, MokaStore, SccStore};

/// Runs an in-memory store's future, which is ready at its first poll.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

fn ns() -> Namespace {
    Namespace::new(TenantId::new("acme")).with_scope("agent")
}

fn peers() -> Vec<(&'static str, Arc<dyn Store<u64>>)> {
    vec![
        ("moka", Arc::new(MokaStore::<u64>::new())),
        ("dashmap", Arc::new(DashMapStore::<u64>::new())),
        ("scc", Arc::new(SccStore::<u64>::new())),
    ]
}

const RACE: Duration = Duration::from_millis(300);

/// A row re-put without TTL right after an expired one is never removed by
/// a sweep that saw the expired one (moka's sweep checks, then removes: the
/// `put` must not land in between).
#[test]
fn a_sweep_never_removes_a_row_put_after_it_looked() {
    for (name, store) in peers() {
        let stop = AtomicBool::new(false);
        let ctx = ExecutionContext::new();
        std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    ready(store.evict_expired(&ctx)).unwrap();
                }
            });
            let began = Instant::now();
            let mut i = 0u64;
            while began.elapsed() < RACE {
                let key = format!("k{}", i % 4);
                let expired = PutOptions::default().with_ttl(Duration::ZERO);
                ready(store.put_with_options(&ctx, &ns(), &key, i, expired)).unwrap();
                ready(store.put(&ctx, &ns(), &key, i)).unwrap();
                let got = ready(store.get(&ctx, &ns(), &key)).unwrap();
                assert_eq!(got, Some(i), "{name}: a sweep removed a live row");
                i += 1;
            }
            stop.store(true, Ordering::Relaxed);
        });
    }
}

/// Racing puts and deletes of a few keys leave every store consistent:
/// `list` names exactly the keys `get` finds (scc keeps its ordered index
/// and its map in step under the map's bucket lock).
#[test]
fn racing_puts_and_deletes_leave_listings_and_reads_in_step() {
    for (name, store) in peers() {
        let ctx = ExecutionContext::new();
        std::thread::scope(|s| {
            for t in 0..2u64 {
                let (store, ctx) = (&store, &ctx);
                s.spawn(move || {
                    let began = Instant::now();
                    let mut i = t;
                    while began.elapsed() < RACE {
                        let key = format!("k{}", i % 8);
                        if (i / 8 + t) % 2 == 0 {
                            ready(store.put(ctx, &ns(), &key, i)).unwrap();
                        } else {
                            ready(store.delete(ctx, &ns(), &key)).unwrap();
                        }
                        i += 3;
                    }
                });
            }
        });
        let listed = ready(store.list(&ctx, &ns(), None)).unwrap();
        let present: Vec<String> = (0..8)
            .map(|k| format!("k{k}"))
            .filter(|k| ready(store.get(&ctx, &ns(), k)).unwrap().is_some())
            .collect();
        assert_eq!(listed, present, "{name}");
        for key in &present {
            ready(store.delete(&ctx, &ns(), key)).unwrap();
        }
        assert!(
            ready(store.list(&ctx, &ns(), None)).unwrap().is_empty(),
            "{name}"
        );
    }
}

/// Rows moka drops by itself (its timer wheel, about a second after their
/// deadline) are counted by the next `evict_expired`, once.
#[test]
fn rows_moka_expired_by_itself_are_counted_once() {
    let store = MokaStore::<u64>::new();
    let ctx = ExecutionContext::new();
    let short = PutOptions::default().with_ttl(Duration::from_millis(1));
    for i in 0..10 {
        ready(store.put_with_options(&ctx, &ns(), &format!("k{i}"), i, short.clone())).unwrap();
    }
    ready(store.put(&ctx, &ns(), "kept", 0)).unwrap();
    // Past moka's next wheel tick (2^30 ns); `total_entries` runs moka's
    // pending tasks, which drop the expired rows without our sweep.
    std::thread::sleep(Duration::from_millis(1_200));
    assert_eq!(store.total_entries(), 1, "moka dropped them itself");
    assert_eq!(ready(store.evict_expired(&ctx)).unwrap(), 10);
    assert_eq!(ready(store.evict_expired(&ctx)).unwrap(), 0);
}
