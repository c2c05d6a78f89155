//! The entry bound (`max_entries`): the store stays near it, and chooses
//! what to evict in order: expired rows, then rows closest to expiry, then
//! rows not read recently (a second-chance clock).
//!
//! Tolerances: single-threaded, each write evicts until the store is back
//! at the bound, so the row count never exceeds it; with concurrent
//! writers the bound is approximate (each write evicts at most a few rows,
//! and may find the eviction machinery busy), and the tests allow
//! `CONCURRENT_SLACK` rows over it.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use entelix_core::ExecutionContext;
use entelix_memory::Store;
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use skipstore::{ManualClock, RemovalCause, SkipStore};

use super::{assert_invariants, ms, ns, ready};

/// Rows concurrent writers may hold over the bound (16 writes' worth of
/// evictions, for 2 to 4 writers).
const CONCURRENT_SLACK: usize = 64;

type Evicted = Arc<Mutex<Vec<(String, RemovalCause)>>>;

fn bounded(max: usize) -> (ManualClock, SkipStore<u32>, Evicted) {
    let clock = ManualClock::new();
    let log: Evicted = Arc::default();
    let sink = Arc::clone(&log);
    let store = SkipStore::builder()
        .clock(clock.clone())
        .max_entries(max)
        .on_removal(move |r| sink.lock().unwrap().push((r.key.to_owned(), r.cause)))
        .build();
    (clock, store, log)
}

fn present(store: &SkipStore<u32>, space: &entelix_memory::Namespace, key: &str) -> bool {
    store.get_versioned(space, key).is_some()
}

#[test]
fn filling_past_the_bound_stays_at_the_bound() {
    const MAX: usize = 100;
    let (_clock, store, log) = bounded(MAX);
    let spaces: Vec<_> = (0..10)
        .map(|i| ns("acme", &[&format!("conv-{i}")]))
        .collect();
    for i in 0..1_000u32 {
        let space = &spaces[i as usize % spaces.len()];
        store.put_versioned(space, &format!("k{i:04}"), i, None);
        assert!(
            store.total_entries() <= MAX,
            "{} rows after {i} writes",
            store.total_entries()
        );
    }
    assert_eq!(store.total_entries(), MAX);
    let stats = store.stats();
    assert_eq!((stats.evictions, stats.writes), (900, 1_000));
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 900);
    assert!(log.iter().all(|(_, c)| *c == RemovalCause::Evicted));
    // Overwrites of present keys add no row and evict nothing.
    drop(log);
    let survivors: Vec<String> = spaces
        .iter()
        .flat_map(|s| store.list_page(s, None, None, 1_000).keys)
        .collect();
    assert_eq!(survivors.len(), MAX);
    for (i, space) in spaces.iter().enumerate() {
        for key in store.list_page(space, None, None, 1_000).keys {
            store.put_versioned(space, &key, i as u32, None);
        }
    }
    assert_eq!(store.stats().evictions, 900);
    assert_invariants(&store);
}

/// Writers on 2 threads (the machine's cores) and on 4 (oversubscribed):
/// the row count, sampled after every write, stays within
/// `CONCURRENT_SLACK` of the bound, and so does the count at the end.
#[test]
fn concurrent_fills_stay_near_the_bound() {
    const MAX: usize = 200;
    const PER_THREAD: u32 = 10_000;
    for threads in [2, 4] {
        let (_clock, store, log) = bounded(MAX);
        let peak = AtomicUsize::new(0);
        let start = Barrier::new(threads);
        std::thread::scope(|s| {
            for t in 0..threads {
                let (store, start, peak) = (&store, &start, &peak);
                s.spawn(move || {
                    let space = ns("acme", &[&format!("writer-{t}")]);
                    start.wait();
                    for i in 0..PER_THREAD {
                        store.put_versioned(&space, &format!("k{i:05}"), i, None);
                        peak.fetch_max(store.total_entries(), Ordering::Relaxed);
                    }
                });
            }
        });
        let rows = store.total_entries();
        let written = threads * PER_THREAD as usize;
        let stats = store.stats();
        assert_eq!(stats.evictions as usize, written - rows);
        assert_eq!(log.lock().unwrap().len(), written - rows);
        assert_invariants(&store);
        let peak = peak.load(Ordering::Relaxed);
        assert!(
            peak <= MAX + CONCURRENT_SLACK && rows <= MAX + CONCURRENT_SLACK,
            "{threads} writers, bound {MAX}: peaked at {peak} rows, {rows} at the end"
        );
    }
}

#[test]
fn expired_rows_are_evicted_first() {
    let (clock, store, log) = bounded(100);
    let space = ns("acme", &["a"]);
    for i in 0..50 {
        store.put_versioned(&space, &format!("exp-{i:02}"), i, Some(ms(10)));
        store.put_versioned(&space, &format!("keep-{i:02}"), i, None);
    }
    clock.advance(ms(20));
    for i in 0..50 {
        store.put_versioned(&space, &format!("new-{i:02}"), i, None);
    }
    assert_eq!(store.total_entries(), 100);
    for i in 0..50 {
        assert!(present(&store, &space, &format!("keep-{i:02}")));
        assert!(present(&store, &space, &format!("new-{i:02}")));
    }
    let stats = store.stats();
    assert_eq!((stats.evictions, stats.expirations), (0, 50));
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 50);
    assert!(
        log.iter()
            .all(|(k, c)| k.starts_with("exp-") && *c == RemovalCause::Expired)
    );
    drop(log);
    assert_invariants(&store);
}

#[test]
fn rows_closest_to_expiry_are_evicted_next() {
    let (_clock, store, log) = bounded(40);
    let space = ns("acme", &["a"]);
    // 40 rows expiring 5 s apart (5 s .. 200 s), written in random order.
    let mut order: Vec<u64> = (0..40).collect();
    order.shuffle(&mut StdRng::seed_from_u64(7));
    for &i in &order {
        let ttl = std::time::Duration::from_secs(5 * (i + 1));
        store.put_versioned(&space, &format!("ttl-{i:02}"), i as u32, Some(ttl));
    }
    for i in 0..10 {
        store.put_versioned(&space, &format!("forever-{i}"), i, None);
    }
    assert_eq!(store.total_entries(), 40);
    let evicted: BTreeSet<String> = log.lock().unwrap().iter().map(|(k, _)| k.clone()).collect();
    let soonest: BTreeSet<String> = (0..10).map(|i| format!("ttl-{i:02}")).collect();
    assert_eq!(evicted, soonest);
    for i in 0..10 {
        assert!(present(&store, &space, &format!("forever-{i}")));
    }
    assert_eq!(store.stats().evictions, 10);
    assert_invariants(&store);
}

/// Without TTLs the store approximates least-recently-read: keys read
/// between writes survive, keys never read are evicted.
#[test]
fn rows_read_recently_survive_rows_never_read_do_not() {
    const MAX: usize = 100;
    let (_clock, store, log) = bounded(MAX);
    let ctx = ExecutionContext::new();
    let space = ns("acme", &["a"]);
    let key = |i: usize| format!("k{i:03}");
    for i in 0..MAX {
        store.put_versioned(&space, &key(i), 0, None);
    }
    let hot: Vec<String> = (0..MAX).step_by(5).map(key).collect();
    let cold: Vec<String> = (0..MAX).filter(|i| i % 5 != 0).map(key).collect();
    for n in 0..MAX {
        for k in &hot {
            let _ = ready(store.get(&ctx, &space, k)).unwrap();
        }
        store.put_versioned(&space, &format!("n{n:03}"), 1, None);
    }
    let hot_left = hot.iter().filter(|k| present(&store, &space, k)).count();
    let cold_left = cold.iter().filter(|k| present(&store, &space, k)).count();
    // "Most" hot keys survive and most cold ones go: at least 90% and at
    // most 10% (the clock is an approximation of LRU, not LRU).
    assert!(
        hot_left * 10 >= hot.len() * 9,
        "{hot_left} of {} hot keys left",
        hot.len()
    );
    assert!(
        cold_left * 10 <= cold.len(),
        "{cold_left} of {} cold keys left",
        cold.len()
    );
    assert_eq!(store.total_entries(), MAX);
    assert_eq!(store.stats().evictions, MAX as u64);
    let log = log.lock().unwrap();
    assert_eq!(log.len(), MAX);
    assert!(log.iter().all(|(_, c)| *c == RemovalCause::Evicted));
    drop(log);
    assert_invariants(&store);
}

/// One visit of the clock chooses several victims at once (16), which the
/// writes that follow evict one each. A chosen row deleted meanwhile is not
/// evicted (nor counted) again, one read meanwhile gets its second chance,
/// and when every chosen row is gone the next write visits afresh.
#[test]
fn rows_chosen_by_the_clock_but_deleted_or_read_meanwhile_are_passed_over() {
    const MAX: usize = 40;
    let (_clock, store, log) = bounded(MAX);
    let ctx = ExecutionContext::new();
    let space = ns("acme", &["a"]);
    let key = |i: usize| format!("k{i:02}");
    for i in 0..MAX {
        store.put_versioned(&space, &key(i), 0, None);
    }
    // 41 rows: evicts k00; the same visit chose k01..k15 too.
    store.put_versioned(&space, "n00", 0, None);
    ready(store.delete(&ctx, &space, &key(1))).unwrap();
    assert!(ready(store.get(&ctx, &space, &key(2))).unwrap().is_some());
    // 41 rows again: passes over k01 (deleted) and k02 (read, its second
    // chance), evicts k03.
    store.put_versioned(&space, "n01", 0, None);
    store.put_versioned(&space, "n02", 0, None);
    // The rest of the chosen rows go another way; the next eviction finds
    // none of them alive and visits again: k02 comes first now.
    for i in 4..16 {
        ready(store.delete(&ctx, &space, &key(i))).unwrap();
    }
    for n in 3..16 {
        store.put_versioned(&space, &format!("n{n:02}"), 0, None);
    }
    assert_eq!(store.total_entries(), MAX);
    let log = log.lock().unwrap();
    let evicted: Vec<&str> = log
        .iter()
        .filter(|(_, c)| *c == RemovalCause::Evicted)
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(evicted, ["k00", "k03", "k02"]);
    assert_eq!(log.len(), 3 + 13, "3 evicted and 13 deleted");
    drop(log);
    let stats = store.stats();
    assert_eq!((stats.evictions, stats.deletes), (3, 13));
    assert!(present(&store, &space, &key(16)));
    assert_invariants(&store);
}
