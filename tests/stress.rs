//! Bounded concurrency stress tests on 4 threads (each with its own
//! current-thread tokio runtime). Every check is exact: a test that only
//! "does not crash" proves little. Each test runs for about `RUN`.
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};
use skipstore::{Clock, ManualClock, SkipStore, Stats};

const THREADS: usize = 4;
const RUN: Duration = Duration::from_millis(800);

/// Runs `f(thread index)` on `THREADS` threads, each inside its own
/// current-thread runtime, all released at once. Panics propagate.
fn on_threads<F, Fut>(f: F)
where
    F: Fn(usize) -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for i in 0..THREADS {
            let (f, start) = (&f, &start);
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                start.wait();
                rt.block_on(f(i));
            });
        }
    });
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn ns(scope: &str) -> Namespace {
    Namespace::new(TenantId::new("t")).with_scope(scope)
}

fn ttl(d: Duration) -> PutOptions {
    PutOptions::default().with_ttl(d)
}

const HOUR: Duration = Duration::from_secs(3600);

/// (a) A key that exists before and after concurrent overwrites never reads
/// as absent (crossbeam-skiplist 0.1.3's re-insert race), and reads are
/// linearizable per key: never older than a write that completed before the
/// read began, never newer than one that had not started.
#[test]
fn get_never_misses_a_key_being_overwritten() {
    const KEYS: usize = 64;
    let store: SkipStore<u64> = SkipStore::builder().clock(ManualClock::new()).build();
    let ctx = ExecutionContext::new();
    let space = ns("a");
    let keys: Vec<String> = (0..KEYS).map(|i| format!("k{i:02}")).collect();
    block_on(async {
        for (i, k) in keys.iter().enumerate() {
            store.put(&ctx, &space, k, (i as u64) << 32).await.unwrap();
        }
    });
    // Highest sequence number whose put has returned, per key.
    let done: Vec<AtomicU64> = (0..KEYS).map(|_| AtomicU64::new(0)).collect();
    let reads = AtomicUsize::new(0);
    on_threads(|me| {
        let (store, ctx, space, keys, done, reads) = (&store, &ctx, &space, &keys, &done, &reads);
        async move {
            let end = Instant::now() + RUN;
            if me < 2 {
                // Writer `me` owns the keys with `i % 2 == me`.
                let mut seq = 0u64;
                while Instant::now() < end {
                    seq += 1;
                    for i in (me..KEYS).step_by(2) {
                        let v = (i as u64) << 32 | seq;
                        if seq.is_multiple_of(2) {
                            store.put(ctx, space, &keys[i], v).await.unwrap();
                        } else {
                            let opts = ttl(HOUR);
                            store
                                .put_with_options(ctx, space, &keys[i], v, opts)
                                .await
                                .unwrap();
                        }
                        done[i].store(seq, Ordering::SeqCst);
                    }
                }
            } else {
                let mut last = [0u64; KEYS];
                let mut n = 0;
                while Instant::now() < end {
                    for i in 0..KEYS {
                        let floor = done[i].load(Ordering::SeqCst);
                        let got = store.get(ctx, space, &keys[i]).await.unwrap();
                        let ceiling = done[i].load(Ordering::SeqCst) + 1;
                        let v = got.unwrap_or_else(|| panic!("{} read as absent", keys[i]));
                        assert_eq!(v >> 32, i as u64, "value of another key");
                        let seq = v & 0xffff_ffff;
                        assert!(seq >= floor, "{}: read {seq}, {floor} was done", keys[i]);
                        assert!(
                            seq <= ceiling,
                            "{}: read {seq}, only {ceiling} started",
                            keys[i]
                        );
                        assert!(
                            seq >= last[i],
                            "{}: went back from {} to {seq}",
                            keys[i],
                            last[i]
                        );
                        last[i] = seq;
                        n += 1;
                    }
                }
                reads.fetch_add(n, Ordering::Relaxed);
            }
        }
    });
    assert!(reads.load(Ordering::Relaxed) > 0);
    block_on(async {
        for (i, k) in keys.iter().enumerate() {
            let want = (i as u64) << 32 | done[i].load(Ordering::SeqCst);
            assert_eq!(store.get(&ctx, &space, k).await.unwrap(), Some(want));
        }
        assert_eq!(store.list(&ctx, &space, None).await.unwrap(), keys);
    });
    assert_eq!(store.total_entries(), KEYS);
}

/// (b) Writers on disjoint keys, sharing namespaces, lose nothing.
#[test]
fn disjoint_writers_lose_nothing() {
    const PER_THREAD: usize = 1500;
    const ROUNDS: u64 = 3;
    const SPACES: usize = 8;
    let store: SkipStore<u64> = SkipStore::builder().clock(ManualClock::new()).build();
    let ctx = ExecutionContext::new();
    let spaces: Vec<Namespace> = (0..SPACES).map(|i| ns(&format!("s{i}"))).collect();
    let key = |t: usize, i: usize| format!("w{t}-{i:04}");
    let value = |t: usize, i: usize, round: u64| ((t * PER_THREAD + i) as u64) << 8 | round;
    on_threads(|me| {
        let (store, ctx, spaces) = (&store, &ctx, &spaces);
        async move {
            for round in 0..ROUNDS {
                for i in 0..PER_THREAD {
                    let (space, k, v) = (&spaces[i % SPACES], key(me, i), value(me, i, round));
                    if (i + round as usize).is_multiple_of(3) {
                        store
                            .put_with_options(ctx, space, &k, v, ttl(HOUR))
                            .await
                            .unwrap();
                    } else {
                        store.put(ctx, space, &k, v).await.unwrap();
                    }
                }
            }
            for i in (0..PER_THREAD).step_by(5) {
                store
                    .delete(ctx, &spaces[i % SPACES], &key(me, i))
                    .await
                    .unwrap();
            }
        }
    });
    let kept = |i: usize| !i.is_multiple_of(5);
    let per_thread_kept = (0..PER_THREAD).filter(|&i| kept(i)).count();
    assert_eq!(store.total_entries(), THREADS * per_thread_kept);
    block_on(async {
        assert_eq!(store.evict_expired(&ctx).await.unwrap(), 0);
        for (s, space) in spaces.iter().enumerate() {
            let mut want = Vec::new();
            for t in 0..THREADS {
                for i in (s..PER_THREAD).step_by(SPACES).filter(|&i| kept(i)) {
                    let got = store.get(&ctx, space, &key(t, i)).await.unwrap();
                    assert_eq!(got, Some(value(t, i, ROUNDS - 1)), "{}", key(t, i));
                    want.push(key(t, i));
                }
            }
            want.sort();
            assert_eq!(store.list(&ctx, space, None).await.unwrap(), want);
        }
        let listed = store
            .list_namespaces(&ctx, &NamespacePrefix::new(TenantId::new("t")))
            .await
            .unwrap();
        assert_eq!(listed, spaces);
    });
}

/// (c) Each thread owns keys spread over three shared namespaces and
/// alternates put and delete on them; its own reads are exact. Namespaces
/// empty and refill constantly, so retiring a node races with writers.
#[test]
fn delete_and_put_on_owned_keys_read_exactly() {
    const OWN: usize = 6;
    let store: SkipStore<u64> = SkipStore::builder().clock(ManualClock::new()).build();
    let ctx = ExecutionContext::new();
    let spaces: Vec<Namespace> = (0..3).map(|i| ns(&format!("shared{i}"))).collect();
    let finals: Mutex<Vec<(usize, String, u64)>> = Mutex::new(Vec::new());
    on_threads(|me| {
        let (store, ctx, spaces, finals) = (&store, &ctx, &spaces, &finals);
        async move {
            let end = Instant::now() + RUN;
            let mine = format!("o{me}-");
            let keys: Vec<String> = (0..OWN).map(|j| format!("{mine}{j}")).collect();
            let home = |j: usize| (me + j) % spaces.len();
            let mut present: Vec<Option<u64>> = vec![None; OWN];
            let mut n = 0u64;
            while Instant::now() < end {
                n += 1;
                let j = (n as usize) % OWN;
                let space = &spaces[home(j)];
                if present[j].is_some() {
                    store.delete(ctx, space, &keys[j]).await.unwrap();
                    present[j] = None;
                    assert_eq!(store.get(ctx, space, &keys[j]).await.unwrap(), None);
                } else {
                    if n.is_multiple_of(3) {
                        store
                            .put_with_options(ctx, space, &keys[j], n, ttl(HOUR))
                            .await
                            .unwrap();
                    } else {
                        store.put(ctx, space, &keys[j], n).await.unwrap();
                    }
                    present[j] = Some(n);
                    assert_eq!(store.get(ctx, space, &keys[j]).await.unwrap(), Some(n));
                }
                // My keys in this namespace, exactly.
                let listed = store.list(ctx, space, Some(&mine)).await.unwrap();
                let want: Vec<String> = (0..OWN)
                    .filter(|&i| home(i) == home(j) && present[i].is_some())
                    .map(|i| keys[i].clone())
                    .collect();
                assert_eq!(listed, want);
            }
            let mut finals = finals.lock().unwrap();
            for j in 0..OWN {
                if let Some(v) = present[j] {
                    finals.push((home(j), keys[j].clone(), v));
                }
            }
        }
    });
    let finals = finals.into_inner().unwrap();
    assert_eq!(store.total_entries(), finals.len());
    block_on(async {
        let mut by_space: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (s, k, v) in &finals {
            assert_eq!(store.get(&ctx, &spaces[*s], k).await.unwrap(), Some(*v));
            by_space.entry(*s).or_default().push(k.clone());
        }
        for (s, space) in spaces.iter().enumerate() {
            let mut want = by_space.remove(&s).unwrap_or_default();
            want.sort();
            assert_eq!(store.list(&ctx, space, None).await.unwrap(), want);
        }
    });
}

/// (d) `list` under concurrent writes: sorted, no duplicates, no keys of
/// another namespace, and every key present throughout is listed.
#[test]
fn list_under_concurrent_writes_is_exact_for_stable_keys() {
    let store: SkipStore<u64> = SkipStore::builder().clock(ManualClock::new()).build();
    let ctx = ExecutionContext::new();
    let home = ns("a");
    // Namespaces whose keys must never show up in `home`'s list: a child, a
    // sibling rendering right after it, and another tenant.
    let foreign = [
        home.clone().with_scope("c"),
        ns("a:b"),
        Namespace::new(TenantId::new("u")).with_scope("a"),
    ];
    let stable: Vec<String> = (0..100).map(|i| format!("p{i:03}")).collect();
    block_on(async {
        for k in &stable {
            store.put(&ctx, &home, k, 0).await.unwrap();
        }
    });
    on_threads(|me| {
        let (store, ctx, home, foreign, stable) = (&store, &ctx, &home, &foreign, &stable);
        async move {
            let end = Instant::now() + RUN;
            let mut n = 0u64;
            while Instant::now() < end {
                n += 1;
                if me < 2 {
                    // Churn own keys in `home`, overwrite stable ones in
                    // place, and write look-alike keys elsewhere.
                    let k = format!("w{me}-{:03}", n % 200);
                    if n.is_multiple_of(2) {
                        store.put(ctx, home, &k, n).await.unwrap();
                    } else {
                        store
                            .delete(ctx, home, &format!("w{me}-{:03}", (n + 101) % 200))
                            .await
                            .unwrap();
                    }
                    let s = &stable[(n as usize * 7) % stable.len()];
                    store
                        .put_with_options(ctx, home, s, n, ttl(HOUR))
                        .await
                        .unwrap();
                    let f = &foreign[n as usize % foreign.len()];
                    let fk = format!("p{:03}x{me}", n % 100);
                    if n % 4 < 2 {
                        store.put(ctx, f, &fk, n).await.unwrap();
                    } else {
                        store.delete(ctx, f, &fk).await.unwrap();
                    }
                } else {
                    let listed = store.list(ctx, home, None).await.unwrap();
                    assert!(
                        listed.windows(2).all(|w| w[0] < w[1]),
                        "unsorted or duplicated"
                    );
                    assert!(
                        listed
                            .iter()
                            .all(|k| k.starts_with('p') || k.starts_with('w'))
                    );
                    let p: Vec<&String> = listed.iter().filter(|k| k.starts_with('p')).collect();
                    assert_eq!(
                        p.len(),
                        stable.len(),
                        "a stable key is missing, or a foreign one shows"
                    );
                    assert!(p.iter().zip(stable).all(|(a, b)| *a == b));
                    let some = store.list(ctx, home, Some("p05")).await.unwrap();
                    assert_eq!(some, &stable[50..60]);
                    let w = store.list(ctx, home, Some("w")).await.unwrap();
                    assert!(
                        w.windows(2).all(|x| x[0] < x[1]) && w.iter().all(|k| k.starts_with('w'))
                    );
                }
            }
        }
    });
    block_on(async {
        let listed = store.list(&ctx, &home, Some("p")).await.unwrap();
        assert_eq!(listed, stable);
    });
}

/// (e) `list_namespaces` while namespaces are emptied and refilled: a
/// namespace that always holds a key is always listed; results are sorted
/// and unique; and each writer's view of its own namespaces is exact (a put
/// racing with the reuse of the emptied, idle node must not be lost).
#[test]
fn list_namespaces_while_namespaces_empty_and_refill() {
    empty_and_refill_namespaces(0);
}

/// (e) again, with the store holding as many idle namespace nodes as it
/// keeps: every emptying then retires an idle node (a churned one, its own
/// or another writer's, or one of the fillers after it), so puts race with
/// retirements, not only with reuse.
#[test]
fn list_namespaces_while_namespaces_empty_and_refill_past_the_idle_bound() {
    empty_and_refill_namespaces(Stats::MAX_IDLE_NAMESPACES);
}

/// Scenario (e), after emptying `idle` filler namespaces (rendered after
/// the churned ones) to leave that many idle nodes behind.
fn empty_and_refill_namespaces(idle: usize) {
    let store: SkipStore<u64> = SkipStore::builder().clock(ManualClock::new()).build();
    let ctx = ExecutionContext::new();
    block_on(async {
        for i in 0..idle {
            let filler = ns(&format!("f{i:05}"));
            store.put(&ctx, &filler, "k", 0).await.unwrap();
            store.delete(&ctx, &filler, "k").await.unwrap();
        }
    });
    assert_eq!(store.stats().idle_namespaces, idle);
    let anchor = ns("a");
    // Churned namespaces: children of the anchor, siblings, and names that
    // render next to the anchor. Writer `w` owns those with `i % 2 == w`.
    let churned: Vec<Namespace> = vec![
        anchor.clone().with_scope("c0"),
        anchor.clone().with_scope("c1"),
        anchor.clone().with_scope(""),
        ns("a:x"),
        ns("a-"),
        ns("b"),
        ns("\\"),
        ns(""),
    ];
    let known: BTreeSet<String> = churned
        .iter()
        .chain([&anchor])
        .map(Namespace::render)
        .collect();
    block_on(store.put(&ctx, &anchor, "permanent", 0)).unwrap();
    on_threads(|me| {
        let (store, ctx, anchor, churned, known) = (&store, &ctx, &anchor, &churned, &known);
        async move {
            let end = Instant::now() + RUN;
            let mut n = 0u64;
            let tenant = NamespacePrefix::new(TenantId::new("t"));
            while Instant::now() < end {
                n += 1;
                if me < 2 {
                    let i = me + 2 * (n as usize % (churned.len() / 2));
                    let space = &churned[i];
                    // The churned namespaces have no children of their own
                    // among the churned set except under the anchor, so the
                    // exact prefix lists only the namespace itself.
                    let own = NamespacePrefix::from(space);
                    let key = format!("k{}", n % 3);
                    if n.is_multiple_of(5) {
                        store
                            .put_with_options(ctx, space, &key, n, ttl(HOUR))
                            .await
                            .unwrap();
                    } else {
                        store.put(ctx, space, &key, n).await.unwrap();
                    }
                    let listed = store.list_namespaces(ctx, &own).await.unwrap();
                    assert_eq!(
                        listed.first(),
                        Some(space),
                        "own namespace missing after put"
                    );
                    assert_eq!(store.get(ctx, space, &key).await.unwrap(), Some(n));
                    store.delete(ctx, space, &key).await.unwrap();
                    let listed = store.list_namespaces(ctx, &own).await.unwrap();
                    assert!(
                        !listed.contains(space),
                        "own namespace listed after emptying it"
                    );
                    assert_eq!(
                        store.list(ctx, space, None).await.unwrap(),
                        Vec::<String>::new()
                    );
                } else {
                    let listed = store.list_namespaces(ctx, &tenant).await.unwrap();
                    let rendered: Vec<String> = listed.iter().map(Namespace::render).collect();
                    assert!(rendered.windows(2).all(|w| w[0] < w[1]), "{rendered:?}");
                    assert!(rendered.iter().all(|r| known.contains(r)), "{rendered:?}");
                    assert!(listed.contains(anchor), "the anchor vanished: {rendered:?}");
                    let under = store
                        .list_namespaces(ctx, &NamespacePrefix::from(anchor))
                        .await
                        .unwrap();
                    assert_eq!(under.first(), Some(anchor));
                    assert!(under[1..].iter().all(|ns| ns.scope().len() == 2));
                }
            }
        }
    });
    block_on(async {
        let listed = store
            .list_namespaces(&ctx, &NamespacePrefix::new(TenantId::new("t")))
            .await
            .unwrap();
        assert_eq!(listed, vec![anchor.clone()]);
    });
    assert_eq!(store.total_entries(), 1);
    assert_eq!(store.stats().namespaces, 1);
    assert!(store.stats().idle_namespaces <= Stats::MAX_IDLE_NAMESPACES);
    assert_eq!(store.check_invariants(), Ok(()));
}

/// (f) TTL churn while another thread advances a manual clock and evicts:
/// once the clock passes a row's deadline it never reads as present again,
/// a timer of an earlier write never removes a later value, and after a
/// final eviction the row count is exact.
#[test]
fn ttl_churn_with_a_moving_clock() {
    let clock = ManualClock::new();
    let store: SkipStore<u64> = SkipStore::builder().clock(clock.clone()).build();
    let ctx = ExecutionContext::new();
    let spaces = [ns("e0"), ns("e1")];
    // Deadline upper bounds of the short-lived keys, once their put returned.
    let deadlines: Mutex<HashMap<String, u64>> = Mutex::new(HashMap::new());
    let kept: Mutex<Vec<(usize, String, u64)>> = Mutex::new(Vec::new());
    // Writes with a one-hour TTL: their timers stay pending to the end.
    let hour_timers = AtomicUsize::new(0);
    on_threads(|me| {
        let (clock, store, ctx, spaces, deadlines, kept, hour_timers) = (
            &clock,
            &store,
            &ctx,
            &spaces,
            &deadlines,
            &kept,
            &hour_timers,
        );
        async move {
            let end = Instant::now() + RUN;
            let mut n = 0u64;
            match me {
                0 => {
                    // Moves time and sweeps.
                    while Instant::now() < end {
                        n += 1;
                        clock.advance(Duration::from_micros(50 + (n * 37) % 400));
                        if n.is_multiple_of(8) {
                            store.evict_expired(ctx).await.unwrap();
                        }
                        std::thread::yield_now();
                    }
                }
                1 | 2 => {
                    let w = me - 1;
                    let space = &spaces[w];
                    let mut mine: Vec<(String, u64)> = Vec::new();
                    let keep = format!("keep{w}");
                    let mut keep_value = None;
                    while Instant::now() < end {
                        n += 1;
                        let key = format!("e{w}-{n:06}");
                        let d = Duration::from_micros(200 + (n * 131) % 4800);
                        store
                            .put_with_options(ctx, space, &key, n, ttl(d))
                            .await
                            .unwrap();
                        let upper = clock.now_nanos() + d.as_nanos() as u64;
                        deadlines.lock().unwrap().insert(key.clone(), upper);
                        mine.push((key, upper));
                        if n.is_multiple_of(16) {
                            // A short TTL superseded at once by a long one
                            // or by none: the short write's timer must not
                            // remove the later value.
                            store
                                .put_with_options(
                                    ctx,
                                    space,
                                    &keep,
                                    0,
                                    ttl(Duration::from_micros(100)),
                                )
                                .await
                                .unwrap();
                            if n.is_multiple_of(32) {
                                store.put(ctx, space, &keep, n).await.unwrap();
                            } else {
                                store
                                    .put_with_options(ctx, space, &keep, n, ttl(HOUR))
                                    .await
                                    .unwrap();
                                hour_timers.fetch_add(1, Ordering::Relaxed);
                            }
                            keep_value = Some(n);
                        } else if let Some(v) = keep_value {
                            assert_eq!(store.get(ctx, space, &keep).await.unwrap(), Some(v));
                        }
                        // Keys whose deadline has passed stay absent.
                        if n.is_multiple_of(4) {
                            let now = clock.now_nanos();
                            let (due, rest): (Vec<_>, Vec<_>) =
                                mine.drain(..).partition(|(_, up)| *up <= now);
                            mine = rest;
                            for (k, _) in due.iter().rev().take(8) {
                                assert_eq!(
                                    store.get(ctx, space, k).await.unwrap(),
                                    None,
                                    "{k} resurrected"
                                );
                            }
                        }
                    }
                    if let Some(v) = keep_value {
                        kept.lock().unwrap().push((w, keep, v));
                    }
                }
                _ => {
                    // Lists never show a key past its deadline.
                    while Instant::now() < end {
                        n += 1;
                        let space = &spaces[n as usize % 2];
                        let now = clock.now_nanos();
                        let listed = store.list(ctx, space, Some("e")).await.unwrap();
                        assert!(listed.windows(2).all(|w| w[0] < w[1]));
                        let deadlines = deadlines.lock().unwrap();
                        for k in &listed {
                            if let Some(up) = deadlines.get(k) {
                                assert!(*up > now, "{k} listed past its deadline");
                            }
                        }
                    }
                }
            }
        }
    });
    // Far past every short deadline, well before the one-hour ones.
    assert!(clock.now_nanos() < 60 * 1_000_000_000);
    clock.advance(Duration::from_secs(10));
    let kept = kept.into_inner().unwrap();
    block_on(async {
        store.evict_expired(&ctx).await.unwrap();
        assert_eq!(store.total_entries(), kept.len());
        // Every short timer fired. The one-hour writes came after a short
        // one on the same key, so each superseded the timer before it: the
        // stale ones wait for a pruning pass, which starts once the timers
        // held outnumber twice the rows plus 64.
        let pending = store.stats().pending_timers;
        assert!(
            pending <= 2 * kept.len() + 64,
            "{pending} timers for {} rows after {} one-hour writes",
            kept.len(),
            hour_timers.load(Ordering::Relaxed)
        );
        for (w, k, v) in &kept {
            assert_eq!(store.get(&ctx, &spaces[*w], k).await.unwrap(), Some(*v));
        }
        for space in &spaces {
            assert!(store.list(&ctx, space, Some("e")).await.unwrap().is_empty());
        }
    });
    assert!(!deadlines.into_inner().unwrap().is_empty());
}

/// Inserts of one new key race (all threads write it at once, into a fresh
/// namespace each round), so all but one lose and retry as overwrites of
/// the winner with a copy of their version. Every write must land: each
/// returns its own version number, and the row ends with the value of the
/// write that returned the version it ends with.
#[test]
fn racing_inserts_of_one_new_key_each_land_once() {
    const ROUNDS: u64 = if cfg!(miri) { 4 } else { 400 };
    let store = SkipStore::<u64>::new();
    let start = Barrier::new(THREADS);
    let versions: Vec<Mutex<Vec<(u64, u64)>>> =
        (0..ROUNDS).map(|_| Mutex::new(Vec::new())).collect();
    std::thread::scope(|s| {
        for t in 0..THREADS as u64 {
            let (store, start, versions) = (&store, &start, &versions);
            s.spawn(move || {
                for round in 0..ROUNDS {
                    let space = ns(&format!("race-{round}"));
                    start.wait();
                    let value = t * 1_000_000 + round;
                    let v = store.put_versioned(&space, "k", value, None);
                    versions[round as usize]
                        .lock()
                        .unwrap()
                        .push((v.as_u64(), value));
                }
            });
        }
    });
    for (round, written) in versions.iter().enumerate() {
        let written = written.lock().unwrap();
        let numbers: BTreeSet<u64> = written.iter().map(|&(v, _)| v).collect();
        assert_eq!(numbers.len(), THREADS, "round {round}: {written:?}");
        assert!(!numbers.contains(&0), "round {round}: a write was refused");
        let (value, last) = store
            .get_versioned(&ns(&format!("race-{round}")), "k")
            .unwrap();
        let want = written.iter().find(|&&(v, _)| v == last.as_u64());
        assert_eq!(want.map(|&(_, x)| x), Some(value), "round {round}");
        assert_eq!(numbers.last(), Some(&last.as_u64()), "round {round}");
    }
}
