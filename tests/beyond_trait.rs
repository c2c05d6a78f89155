//! The inherent API beyond the `Store` trait (DESIGN.md, "Beyond the trait"),
//! through the public API only: paginated key and namespace listings, sliding
//! TTL, conditional writes and versions, subtree delete, statistics, the
//! removal listener and the entry bound.
//!
//! Every TTL runs on a `ManualClock`: nothing sleeps for correctness. Every
//! scenario ends with `check_invariants`. Concurrency tests are bounded in
//! time (`RUN`) and check exact properties, not just "no crash".
//!
//! Integration tests build the library without `cfg(test)`, so its
//! production tuning applies here: a namespace's write buffer drains into
//! its ordered keys at 32 new entries (`WRITE_BUFFER`), and writers help
//! sweep every 64 writes per thread once no sweep has caught up for 4 ms of
//! clock time. Tests that count expirations exactly avoid writing between
//! advancing the clock and sweeping, or count removals from every path.
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use entelix_core::TenantId;
use entelix_memory::{Namespace, NamespacePrefix};
use skipstore::{ManualClock, SkipStore};

#[path = "beyond_trait/bound.rs"]
mod bound;
#[path = "beyond_trait/conditional.rs"]
mod conditional;
#[path = "beyond_trait/idle_namespaces.rs"]
mod idle_namespaces;
#[path = "beyond_trait/listener.rs"]
mod listener;
#[path = "beyond_trait/namespaces.rs"]
mod namespaces;
#[path = "beyond_trait/pages.rs"]
mod pages;
#[path = "beyond_trait/sliding.rs"]
mod sliding;
#[path = "beyond_trait/subtree_stats.rs"]
mod subtree_stats;

/// New keys a namespace buffers before they move into its ordered index
/// (the library's production `DRAIN_AT`).
const WRITE_BUFFER: usize = 32;

/// Wall time of each concurrency test.
const RUN: Duration = Duration::from_millis(700);

fn t(s: &str) -> TenantId {
    TenantId::new(s)
}

/// `tenant` with the given scope segments.
fn ns(tenant: &str, scope: &[&str]) -> Namespace {
    scope
        .iter()
        .fold(Namespace::new(t(tenant)), |n, s| n.with_scope(*s))
}

/// A prefix of `tenant` with the given scope segments.
fn prefix(tenant: &str, scope: &[&str]) -> NamespacePrefix {
    scope
        .iter()
        .fold(NamespacePrefix::new(t(tenant)), |p, s| p.with_scope(*s))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A store on a manual clock, and the clock.
fn manual<V: Clone + Send + Sync + 'static>() -> (ManualClock, SkipStore<V>) {
    let clock = ManualClock::new();
    let store = SkipStore::builder().clock(clock.clone()).build();
    (clock, store)
}

/// Asserts the store's structural invariants (call when quiescent).
fn assert_invariants<V: Clone + Send + Sync + 'static>(store: &SkipStore<V>) {
    assert_eq!(store.check_invariants(), Ok(()));
}

/// Runs a trait call to completion. The store is in-memory, so every call
/// finishes in its first poll; anything else is a bug worth a panic.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("an in-memory store call did not finish in one poll"),
    }
}

/// Every key of `ns` under `key_prefix`, walked in pages of `limit` with
/// the cursors the store hands out; checks the page shapes on the way.
fn walk_keys<V: Clone + Send + Sync + 'static>(
    store: &SkipStore<V>,
    ns: &Namespace,
    key_prefix: Option<&str>,
    limit: usize,
) -> Vec<String> {
    assert!(limit > 0);
    let mut out: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.list_page(ns, key_prefix, cursor.as_deref(), limit);
        assert!(page.keys.len() <= limit, "page longer than its limit");
        out.extend(page.keys.iter().cloned());
        match page.next {
            Some(next) => {
                assert_eq!(page.keys.len(), limit, "a page with a successor is full");
                assert_eq!(Some(&next), page.keys.last(), "the cursor is the last key");
                cursor = Some(next);
            }
            None => return out,
        }
    }
}
