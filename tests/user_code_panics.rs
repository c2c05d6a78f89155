//! User code that panics inside the store's removals: a value whose `Clone`
//! panics while the store makes a listener's notice, and a removal listener
//! that panics, each during a sweep, an eviction, a drain of a namespace's
//! write buffer and an overwrite. Afterwards the store must be whole:
//! `check_invariants` passes (it also checks that no buffer was left marked
//! as draining), the counts are exact, the namespace still drains and lists,
//! and every expired row left is still swept.
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};
use skipstore::{ManualClock, RemovalCause, SkipStore};

/// Polls a store future once: an in-memory store never waits.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a SkipStore future returned Pending"),
    }
}

fn ns(scope: &str) -> Namespace {
    Namespace::new(TenantId::new("t")).with_scope(scope)
}

fn ttl(d: Duration) -> PutOptions {
    PutOptions::default().with_ttl(d)
}

/// The tests swap the process's panic hook (to quiet the expected panics):
/// one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where the user code panics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Culprit {
    /// The value's `Clone` (the store clones a removed value for the listener).
    Clone,
    /// The listener itself.
    Listener,
}

/// A value whose `Clone` panics while its switch is on.
#[derive(Debug)]
struct Touchy {
    armed: Arc<AtomicBool>,
}

impl Clone for Touchy {
    fn clone(&self) -> Self {
        assert!(!self.armed.load(Ordering::SeqCst), "Touchy::clone refused");
        Self {
            armed: Arc::clone(&self.armed),
        }
    }
}

/// A store whose listener counts the notices it gets, and a switch that
/// makes either the values' `Clone` or the listener panic.
struct Rig {
    store: SkipStore<Touchy>,
    clock: ManualClock,
    culprit: Culprit,
    clone_armed: Arc<AtomicBool>,
    listener_armed: Arc<AtomicBool>,
    heard: Arc<AtomicUsize>,
    ctx: ExecutionContext,
}

impl Rig {
    fn new(culprit: Culprit, max_entries: Option<usize>) -> Self {
        let clock = ManualClock::new();
        let listener_armed = Arc::new(AtomicBool::new(false));
        let heard = Arc::new(AtomicUsize::new(0));
        let (armed, count) = (Arc::clone(&listener_armed), Arc::clone(&heard));
        let mut builder = SkipStore::builder().clock(clock.clone()).on_removal(
            move |r: skipstore::Removal<'_, Touchy>| {
                assert!(r.cause != RemovalCause::Replaced || !r.key.is_empty());
                count.fetch_add(1, Ordering::SeqCst);
                assert!(!armed.load(Ordering::SeqCst), "listener refused");
            },
        );
        if let Some(max) = max_entries {
            builder = builder.max_entries(max);
        }
        Self {
            store: builder.build(),
            clock,
            culprit,
            clone_armed: Arc::new(AtomicBool::new(false)),
            listener_armed,
            heard,
            ctx: ExecutionContext::new(),
        }
    }

    fn value(&self) -> Touchy {
        Touchy {
            armed: Arc::clone(&self.clone_armed),
        }
    }

    fn put(&self, space: &Namespace, key: &str, opts: PutOptions) {
        ready(
            self.store
                .put_with_options(&self.ctx, space, key, self.value(), opts),
        )
        .unwrap();
    }

    /// Runs `f` with the culprit panicking; returns how many of the calls
    /// `f` makes through `attempt` panicked.
    fn with_culprit_armed(&self, f: impl FnOnce(&dyn Fn(&dyn Fn()))) -> usize {
        let switch = match self.culprit {
            Culprit::Clone => &self.clone_armed,
            Culprit::Listener => &self.listener_armed,
        };
        let panicked = AtomicUsize::new(0);
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        switch.store(true, Ordering::SeqCst);
        let attempt = |call: &dyn Fn()| {
            if catch_unwind(AssertUnwindSafe(call)).is_err() {
                panicked.fetch_add(1, Ordering::SeqCst);
            }
        };
        f(&attempt);
        switch.store(false, Ordering::SeqCst);
        std::panic::set_hook(hook);
        panicked.into_inner()
    }

    fn keys(&self, space: &Namespace) -> Vec<String> {
        ready(self.store.list(&self.ctx, space, None)).unwrap()
    }

    /// The store is whole: invariants, exact counts, the namespace lists
    /// exactly `expect` and still takes (and drains) `fresh` new keys.
    fn assert_whole(&self, space: &Namespace, expect: &[String], fresh: usize) {
        self.store.check_invariants().unwrap();
        let stats = self.store.stats();
        assert_eq!(stats.rows, expect.len(), "row count");
        assert_eq!(self.store.total_entries(), expect.len());
        assert_eq!(self.keys(space), expect);
        // New keys still go through the write buffer into the ordered keys.
        let fresh = names("zz", fresh);
        for key in &fresh {
            self.put(space, key, PutOptions::default());
        }
        self.store.check_invariants().unwrap();
        let mut all = expect.to_vec();
        all.extend(fresh.iter().cloned());
        assert_eq!(self.keys(space), all);
        for key in &fresh {
            ready(self.store.delete(&self.ctx, space, key)).unwrap();
        }
        self.store.check_invariants().unwrap();
        let all = NamespacePrefix::new(TenantId::new("t"));
        let spaces = ready(self.store.list_namespaces(&self.ctx, &all)).unwrap();
        assert_eq!(spaces.contains(space), !expect.is_empty());
    }
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:03}")).collect()
}

/// Rows expire and a sweep removes them while the culprit panics; a second
/// sweep (culprit quiet) finds whatever the first left, and nothing is
/// counted twice or lost.
fn during_a_sweep(culprit: Culprit) {
    let rig = Rig::new(culprit, None);
    let space = ns("swept");
    let (doomed, kept) = (names("t", 100), names("p", 10));
    for key in &doomed {
        rig.put(&space, key, ttl(Duration::from_secs(1)));
    }
    for key in &kept {
        rig.put(&space, key, PutOptions::default());
    }
    rig.clock.advance(Duration::from_secs(2));
    let swept = AtomicUsize::new(0);
    let panicked = rig.with_culprit_armed(|attempt| {
        attempt(&|| {
            let n = ready(rig.store.evict_expired(&rig.ctx)).unwrap();
            swept.fetch_add(n, Ordering::SeqCst);
        });
    });
    let n = ready(rig.store.evict_expired(&rig.ctx)).unwrap();
    let swept = swept.into_inner() + n;
    assert_eq!(panicked, 0, "the sweep failed on user code");
    assert_eq!(swept, doomed.len(), "rows swept");
    let stats = rig.store.stats();
    assert_eq!(stats.expirations, 100);
    assert_eq!(stats.pending_timers, 0);
    // Every removal reached the listener, unless making its notice panicked.
    let heard = rig.heard.load(Ordering::SeqCst);
    match culprit {
        Culprit::Clone => assert_eq!(heard, 0),
        Culprit::Listener => assert_eq!(heard, 100),
    }
    rig.assert_whole(&space, &kept, 100);
}

/// Writes over the bound evict while the culprit panics.
fn during_an_eviction(culprit: Culprit) {
    const MAX: usize = 50;
    let rig = Rig::new(culprit, Some(MAX));
    let space = ns("evicting");
    let first = names("a", MAX);
    for (i, key) in first.iter().enumerate() {
        let opts = if i % 2 == 0 {
            ttl(Duration::from_secs(3600))
        } else {
            PutOptions::default()
        };
        rig.put(&space, key, opts);
    }
    let second = names("b", MAX);
    let panicked = rig.with_culprit_armed(|attempt| {
        for key in &second {
            attempt(&|| rig.put(&space, key, PutOptions::default()));
        }
    });
    assert_eq!(panicked, 0, "writes failed on user code");
    let stats = rig.store.stats();
    assert_eq!(stats.evictions, MAX as u64);
    assert_eq!(stats.rows, MAX);
    let left = rig.keys(&space);
    assert_eq!(left.len(), MAX);
    let heard = rig.heard.load(Ordering::SeqCst);
    match culprit {
        Culprit::Clone => assert_eq!(heard, 0),
        Culprit::Listener => assert_eq!(heard, MAX),
    }
    rig.assert_whole(&space, &left, 0);
    // The hand still moves: the next writes over the bound evict as before.
    for key in &names("c", 10) {
        rig.put(&space, key, PutOptions::default());
    }
    assert_eq!(rig.store.total_entries(), MAX);
    rig.store.check_invariants().unwrap();
}

/// Short-lived rows wait in a namespace's write buffer; the drain that new
/// keys trigger removes them (as their timers would) while the culprit
/// panics.
fn during_a_drain(culprit: Culprit) {
    let rig = Rig::new(culprit, None);
    let space = ns("draining");
    let brief = names("s", 20);
    for key in &brief {
        rig.put(&space, key, ttl(Duration::from_millis(1)));
    }
    rig.clock.advance(Duration::from_millis(10));
    let later = names("l", 80);
    let panicked = rig.with_culprit_armed(|attempt| {
        for key in &later {
            attempt(&|| rig.put(&space, key, PutOptions::default()));
        }
    });
    assert_eq!(panicked, 0, "writes failed on user code");
    // Whatever the drains did not remove, a sweep does.
    ready(rig.store.evict_expired(&rig.ctx)).unwrap();
    let stats = rig.store.stats();
    assert_eq!(stats.expirations, 20);
    assert_eq!(stats.pending_timers, 0);
    rig.assert_whole(&space, &later, 100);
}

/// An overwrite hands the replaced value to the listener.
fn during_an_overwrite(culprit: Culprit) {
    let rig = Rig::new(culprit, None);
    let space = ns("overwritten");
    let keys = names("k", 40);
    for key in &keys {
        rig.put(&space, key, ttl(Duration::from_secs(60)));
    }
    let panicked = rig.with_culprit_armed(|attempt| {
        for key in &keys {
            attempt(&|| rig.put(&space, key, ttl(Duration::from_secs(1))));
        }
    });
    assert_eq!(panicked, 0, "writes failed on user code");
    rig.store.check_invariants().unwrap();
    rig.clock.advance(Duration::from_secs(2));
    // The overwrites' (earlier) expiry holds: every row is swept now.
    assert_eq!(ready(rig.store.evict_expired(&rig.ctx)).unwrap(), 40);
    rig.assert_whole(&space, &[], 100);
}

#[test]
fn a_panicking_clone_during_a_sweep() {
    let _serial = serial();
    during_a_sweep(Culprit::Clone);
}

#[test]
fn a_panicking_listener_during_a_sweep() {
    let _serial = serial();
    during_a_sweep(Culprit::Listener);
}

#[test]
fn a_panicking_clone_during_an_eviction() {
    let _serial = serial();
    during_an_eviction(Culprit::Clone);
}

#[test]
fn a_panicking_listener_during_an_eviction() {
    let _serial = serial();
    during_an_eviction(Culprit::Listener);
}

#[test]
fn a_panicking_clone_during_a_drain() {
    let _serial = serial();
    during_a_drain(Culprit::Clone);
}

#[test]
fn a_panicking_listener_during_a_drain() {
    let _serial = serial();
    during_a_drain(Culprit::Listener);
}

#[test]
fn a_panicking_clone_during_an_overwrite() {
    let _serial = serial();
    during_an_overwrite(Culprit::Clone);
}

#[test]
fn a_panicking_listener_during_an_overwrite() {
    let _serial = serial();
    during_an_overwrite(Culprit::Listener);
}
