//! The removal listener (`on_removal`): every cause, with namespace, key and
//! value; delivered outside every lock (a listener may call the store); a
//! panicking listener does not break the store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use entelix_core::ExecutionContext;
use entelix_memory::{Namespace, NamespacePrefix, Store};
use skipstore::{ManualClock, RemovalCause, SkipStore};

use super::{assert_invariants, ms, ns, prefix, ready};

type Log = Arc<Mutex<Vec<(Namespace, String, u32, RemovalCause)>>>;

/// A store on a manual clock whose listener records every removal.
fn recorded(max_entries: Option<usize>) -> (ManualClock, SkipStore<u32>, Log) {
    let clock = ManualClock::new();
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    let mut builder = SkipStore::builder()
        .clock(clock.clone())
        .on_removal(move |r| {
            let row = (r.namespace.clone(), r.key.to_owned(), r.value, r.cause);
            sink.lock().unwrap().push(row);
        });
    if let Some(max) = max_entries {
        builder = builder.max_entries(max);
    }
    (clock, builder.build(), log)
}

fn take(log: &Log) -> Vec<(Namespace, String, u32, RemovalCause)> {
    std::mem::take(&mut *log.lock().unwrap())
}

#[test]
fn every_cause_reaches_the_listener_with_namespace_key_and_value() {
    use RemovalCause::{Deleted, Expired, Replaced};
    let (clock, store, log) = recorded(None);
    let ctx = ExecutionContext::new();
    let a = ns("acme", &["agent", "conv:1"]);
    store.put_versioned(&a, "k", 1, None);
    assert!(take(&log).is_empty(), "a new row removes nothing");
    // Replaced: by a put, a compare-and-swap and the trait's put.
    let v = store.put_versioned(&a, "k", 2, None);
    store.compare_and_swap(&a, "k", v, 3, None).unwrap();
    ready(store.put(&ctx, &a, "k", 4)).unwrap();
    assert_eq!(
        take(&log),
        [
            (a.clone(), "k".to_owned(), 1, Replaced),
            (a.clone(), "k".to_owned(), 2, Replaced),
            (a.clone(), "k".to_owned(), 3, Replaced),
        ]
    );
    // Refused conditional writes remove nothing.
    assert!(store.put_if_absent(&a, "k", 9, None).is_err());
    assert!(store.compare_and_swap(&a, "k", v, 9, None).is_err());
    assert!(take(&log).is_empty());
    // Deleted: by delete (a missing key tells nothing) and delete_subtree.
    ready(store.delete(&ctx, &a, "k")).unwrap();
    ready(store.delete(&ctx, &a, "k")).unwrap();
    assert_eq!(take(&log), [(a.clone(), "k".to_owned(), 4, Deleted)]);
    let deep = a.clone().with_scope("x");
    store.put_versioned(&a, "s1", 5, None);
    store.put_versioned(&deep, "s2", 6, None);
    assert_eq!(store.delete_subtree(&NamespacePrefix::from(&a)), 2);
    let mut got = take(&log);
    got.sort_by(|x, y| x.1.cmp(&y.1));
    assert_eq!(
        got,
        [
            (a.clone(), "s1".to_owned(), 5, Deleted),
            (deep, "s2".to_owned(), 6, Deleted),
        ]
    );
    // Expired: found by evict_expired, and written over after expiry.
    store.put_versioned(&a, "t", 7, Some(ms(10)));
    store.put_versioned(&a, "u", 8, Some(ms(10)));
    clock.advance(ms(10));
    assert_eq!(ready(store.evict_expired(&ctx)).unwrap(), 1 + 1);
    let mut got = take(&log);
    got.sort_by(|x, y| x.1.cmp(&y.1));
    assert_eq!(
        got,
        [
            (a.clone(), "t".to_owned(), 7, Expired),
            (a.clone(), "u".to_owned(), 8, Expired),
        ]
    );
    store.put_versioned(&a, "w", 9, Some(ms(10)));
    clock.advance(ms(10));
    store.put_versioned(&a, "w", 10, None);
    assert_eq!(take(&log), [(a.clone(), "w".to_owned(), 9, Expired)]);
    assert_eq!(
        ready(store.evict_expired(&ctx)).unwrap(),
        0,
        "its timer is stale"
    );
    assert!(take(&log).is_empty());
    assert_invariants(&store);
}

#[test]
fn evictions_reach_the_listener() {
    let (_clock, store, log) = recorded(Some(2));
    let a = ns("acme", &["a"]);
    for (i, key) in ["k1", "k2", "k3", "k4"].into_iter().enumerate() {
        store.put_versioned(&a, key, i as u32, None);
    }
    let got = take(&log);
    assert_eq!(got.len(), 2);
    for (n, key, value, cause) in &got {
        assert_eq!((n, cause), (&a, &RemovalCause::Evicted));
        assert_eq!(
            format!("k{}", value + 1),
            *key,
            "the value of the key evicted"
        );
    }
    assert_eq!(store.total_entries(), 2);
    assert_eq!(store.stats().evictions, 2);
    assert_invariants(&store);
}

/// Runs `f` on another thread and fails (instead of hanging the suite) if
/// it does not finish in time: a listener called under a lock of the store
/// it calls back into would deadlock.
fn within_deadline(f: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_secs(30)) {
        Ok(()) => worker.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The closure panicked: re-raise its panic here.
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("deadlock: a listener call never returned"),
    }
}

/// A listener that calls back into its own store on every removal: `get`,
/// `list_page`, `list_namespaces_page`, `stats`, `evict_expired` and (for
/// removals outside its log namespace) a `put` into a log namespace.
#[test]
fn a_listener_may_call_back_into_the_store() {
    within_deadline(|| {
        let clock = ManualClock::new();
        // The listener reaches the store through this cell (set after the
        // build). The store then owns a clone of itself: a deliberate leak
        // in this test.
        let cell: Arc<OnceLock<SkipStore<u32>>> = Arc::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let (me, counter) = (Arc::clone(&cell), Arc::clone(&calls));
        let store: SkipStore<u32> = SkipStore::builder()
            .clock(clock.clone())
            .max_entries(20)
            .on_removal(move |r| {
                let Some(store) = me.get() else { return };
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let ctx = ExecutionContext::new();
                let _ = store.get_versioned(r.namespace, r.key);
                let _ = store.list_page(r.namespace, None, None, 5);
                let _ = store.list_namespaces_page(&prefix("acme", &[]), Some(1), None, 5);
                let _ = store.stats();
                ready(store.evict_expired(&ctx)).unwrap();
                if r.namespace.tenant_id().as_str() != "log" {
                    store.put_versioned(&ns("log", &[]), &format!("l{}", n % 5), r.value, None);
                }
            })
            .build();
        assert!(cell.set(store.clone()).is_ok());
        let ctx = ExecutionContext::new();
        let a = ns("acme", &["a"]);
        // Replaced, Deleted, Expired (from a sweep and from a write path),
        // Evicted (the bound of 20), all with the listener calling back.
        for i in 0..10 {
            store.put_versioned(&a, &format!("k{i}"), i, None);
            store.put_versioned(&a, &format!("k{i}"), i + 1, None);
        }
        ready(store.delete(&ctx, &a, "k0")).unwrap();
        assert_eq!(store.delete_subtree(&prefix("acme", &["a"])), 9);
        for i in 0..10 {
            store.put_versioned(&a, &format!("t{i}"), i, Some(ms(5)));
        }
        clock.advance(ms(5));
        ready(store.evict_expired(&ctx)).unwrap();
        for i in 0..40 {
            store.put_versioned(&a, &format!("b{i}"), i, None);
        }
        // 10 replaced, 1 + 9 deleted, 10 expired, and at least 25 evicted
        // (45 rows written into a bound of 20), plus the log's own.
        assert!(calls.load(Ordering::SeqCst) >= 10 + 10 + 10 + 25);
        assert!(store.total_entries() <= 20);
        assert_invariants(&store);
    });
}

#[test]
fn a_panicking_listener_breaks_nothing() {
    let clock = ManualClock::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let store: SkipStore<u32> = SkipStore::builder()
        .clock(clock.clone())
        .on_removal(move |r| {
            assert!(r.key != "boom", "listener panics on purpose");
            sink.lock().unwrap().push(r.key.to_owned());
        })
        .build();
    let ctx = ExecutionContext::new();
    let a = ns("acme", &["a"]);
    for key in ["a", "boom", "c"] {
        store.put_versioned(&a, key, 1, None);
    }
    // The panic of one notice does not stop the others, nor the operation.
    store.put_versioned(&a, "boom", 2, None);
    assert_eq!(store.delete_subtree(&prefix("acme", &[])), 3);
    let mut got = seen.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, ["a", "c"]);
    assert_eq!(store.total_entries(), 0);
    // The store works on: writes, TTLs, sweeps.
    store.put_versioned(&a, "boom", 3, Some(ms(1)));
    store.put_versioned(&a, "x", 3, None);
    clock.advance(ms(1));
    assert_eq!(ready(store.evict_expired(&ctx)).unwrap(), 1);
    assert_eq!(ready(store.get(&ctx, &a, "x")).unwrap(), Some(3));
    assert_eq!(store.list_page(&a, None, None, 10).keys, ["x"]);
    assert_invariants(&store);
}
