//! loom models of skipstore's protocol. The models live in `tests/`; run
//!
//! ```text
//! RUSTFLAGS="--cfg skipstore_loom --cfg crossbeam_loom" cargo test --release --manifest-path loom-tests/Cargo.toml
//! ```
//!
//! Under those cfgs crossbeam-epoch runs in its own loom mode (its atomics
//! and its collector are loom's), so the entry slot and the namespaces'
//! write buffers run as they ship, and every deferred free is part of the
//! model. The hash index ships unchanged too. crossbeam-skiplist and
//! crossbeam-queue (the timer inbox) also ship unchanged, but their own
//! atomics are `core`'s (neither has a loom mode), so loom runs each of
//! their operations as one step between its epoch pins (see `src/index.rs`
//! and `src/expiry.rs` in the main crate). So loom explores the atomics the
//! store's own protocol relies on: entry slot states, the write buffer, the
//! hash index, namespace pins and retirement, the fences between the indexes
//! and every deferred free.
//!
//! Each model states its bounds through [`model`] or [`model_bounded`];
//! `LOOM_MAX_PREEMPTIONS` and `LOOM_MAX_BRANCHES`, when set, override them
//! (for a deeper exploratory run).
#![cfg_attr(not(skipstore_loom), allow(unused))]

use std::future::Future;
use std::time::Duration;

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, PutOptions, Store};
use skipstore::{ManualClock, SkipStore};

/// The preemption bound a model explores unless it names its own.
pub const PREEMPTIONS: usize = 3;

/// Branches (scheduling decisions) one execution may take. A store
/// operation pins crossbeam-epoch (loom atomics) and probes the hash index,
/// so one execution of a store model takes more than loom's default 1,000.
pub const BRANCHES: usize = 20_000;

/// Runs `f` under every interleaving within [`PREEMPTIONS`] preemptions.
pub fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    model_bounded(PREEMPTIONS, f);
}

/// Runs `f` under every interleaving within `preemptions` preemptions and
/// [`BRANCHES`] branches per execution (either overridden by its
/// environment variable when that is set).
pub fn model_bounded<F>(preemptions: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = Some(preemptions);
    }
    if std::env::var_os("LOOM_MAX_BRANCHES").is_none() {
        builder.max_branches = BRANCHES;
    }
    builder.check(f);
}

/// A store on a manual clock, as every model uses.
pub fn store() -> (SkipStore<u32>, ManualClock) {
    let clock = ManualClock::new();
    let store = SkipStore::builder().clock(clock.clone()).build();
    (store, clock)
}

/// The namespace most models use.
pub fn ns(scope: &str) -> Namespace {
    Namespace::new(TenantId::new("t")).with_scope(scope)
}

/// Runs a store future to completion (they never wait on anything).
pub fn run<F: Future>(f: F) -> F::Output {
    loom::future::block_on(f)
}

pub fn put(s: &SkipStore<u32>, ns: &Namespace, key: &str, v: u32, ttl: Option<Duration>) {
    let opts = match ttl {
        Some(t) => PutOptions::default().with_ttl(t),
        None => PutOptions::default(),
    };
    run(s.put_with_options(&ExecutionContext::new(), ns, key, v, opts)).expect("put");
}

/// A thread that does one [`put`] on clones of `s` and `ns`.
pub fn spawn_put(
    s: &SkipStore<u32>,
    ns: &Namespace,
    key: &'static str,
    v: u32,
    ttl: Option<Duration>,
) -> loom::thread::JoinHandle<()> {
    let (s, ns) = (s.clone(), ns.clone());
    loom::thread::spawn(move || put(&s, &ns, key, v, ttl))
}

/// A thread that does one [`delete`] on clones of `s` and `ns`.
pub fn spawn_delete(
    s: &SkipStore<u32>,
    ns: &Namespace,
    key: &'static str,
) -> loom::thread::JoinHandle<()> {
    let (s, ns) = (s.clone(), ns.clone());
    loom::thread::spawn(move || delete(&s, &ns, key))
}

pub fn get(s: &SkipStore<u32>, ns: &Namespace, key: &str) -> Option<u32> {
    run(s.get(&ExecutionContext::new(), ns, key)).expect("get")
}

pub fn delete(s: &SkipStore<u32>, ns: &Namespace, key: &str) {
    run(s.delete(&ExecutionContext::new(), ns, key)).expect("delete");
}

pub fn list(s: &SkipStore<u32>, ns: &Namespace) -> Vec<String> {
    run(s.list(&ExecutionContext::new(), ns, None)).expect("list")
}

pub fn list_namespaces(s: &SkipStore<u32>) -> Vec<Namespace> {
    let p = entelix_memory::NamespacePrefix::new(TenantId::new("t"));
    run(s.list_namespaces(&ExecutionContext::new(), &p)).expect("list_namespaces")
}

pub fn evict(s: &SkipStore<u32>) -> usize {
    run(s.evict_expired(&ExecutionContext::new())).expect("evict")
}

/// Checks a listing taken while other threads ran: it holds every key of
/// `must` (rows that were listable before the race), sorted, each once.
pub fn assert_listed(listed: &[String], must: &[&str]) {
    for key in must {
        assert!(listed.iter().any(|k| k == key), "lost {key}: {listed:?}");
    }
    assert!(
        listed.windows(2).all(|w| w[0] < w[1]),
        "unsorted or duplicated: {listed:?}"
    );
}

/// Checks that every read path agrees about `(ns, key)` after the threads
/// joined: `get`, `list`, `list_namespaces` and the row count.
pub fn assert_settled(s: &SkipStore<u32>, ns: &Namespace, key: &str, expect: Option<u32>) {
    if let Err(e) = s.check_invariants() {
        panic!("invariant broken: {e}");
    }
    assert_eq!(get(s, ns, key), expect, "get");
    let listed = list(s, ns);
    assert_eq!(
        listed.contains(&key.to_owned()),
        expect.is_some(),
        "list: {listed:?}"
    );
    assert_eq!(s.total_entries(), listed.len(), "rows held vs listed");
    let namespaces = list_namespaces(s);
    assert_eq!(
        namespaces.contains(ns),
        !listed.is_empty(),
        "list_namespaces"
    );
}
