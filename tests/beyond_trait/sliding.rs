//! Sliding TTL (`put_sliding`): reads push the expiry forward, capped by the
//! entry's maximum lifetime; listings never do; sweeps remove the entry only
//! once it truly expired.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use entelix_core::ExecutionContext;
use entelix_memory::{NamespacePrefix, Store};
use skipstore::{ManualClock, RemovalCause, SkipStore};

use super::{RUN, assert_invariants, manual, ms, ns, prefix, ready};

const NS1: Duration = Duration::from_nanos(1);

fn session() -> entelix_memory::Namespace {
    ns("acme", &["session"])
}

fn get(store: &SkipStore<u32>, key: &str) -> Option<u32> {
    ready(store.get(&ExecutionContext::new(), &session(), key)).unwrap()
}

#[test]
fn reads_extend_the_expiry_up_to_the_cap() {
    let (clock, store) = manual::<u32>();
    store.put_sliding(&session(), "token", 7, ms(10), Some(ms(25)));
    clock.advance(ms(8));
    assert_eq!(get(&store, "token"), Some(7)); // now expires at 18 ms
    clock.advance(ms(10) - NS1);
    assert_eq!(
        store.get_versioned(&session(), "token").map(|v| v.0),
        Some(7)
    );
    // Read at 18 ms - 1 ns: 28 ms - 1 ns wanted, capped at 25 ms.
    clock.advance(ms(7) - NS1); // 25 ms - 2 ns
    assert_eq!(get(&store, "token"), Some(7));
    clock.advance(NS1);
    assert_eq!(
        get(&store, "token"),
        Some(7),
        "live until the cap's last nanosecond"
    );
    clock.advance(NS1); // 25 ms
    assert_eq!(
        get(&store, "token"),
        None,
        "the cap holds whatever the reads"
    );
    assert_eq!(store.get_versioned(&session(), "token"), None);
    clock.advance(ms(1));
    assert_eq!(
        get(&store, "token"),
        None,
        "an expired entry never comes back"
    );
    assert_invariants(&store);
}

#[test]
fn an_uncapped_entry_lives_while_read_and_expires_ttl_after_the_last_read() {
    let (clock, store) = manual::<u32>();
    store.put_sliding(&session(), "token", 1, ms(10), None);
    for _ in 0..1_000 {
        clock.advance(ms(10) - NS1);
        assert_eq!(get(&store, "token"), Some(1));
    }
    // The last read was at 9.999999 s: live for exactly 10 ms after it.
    clock.advance(ms(10) - NS1);
    assert_eq!(
        ready(store.list(&ExecutionContext::new(), &session(), None)).unwrap(),
        ["token"]
    );
    clock.advance(NS1);
    assert_eq!(get(&store, "token"), None);
    assert_eq!(
        ready(store.evict_expired(&ExecutionContext::new())).unwrap(),
        1
    );
    assert_eq!(store.total_entries(), 0);
    assert_invariants(&store);
}

#[test]
fn listings_do_not_extend_the_expiry() {
    let (clock, store) = manual::<u32>();
    let ctx = ExecutionContext::new();
    let tenant = prefix("acme", &[]);
    store.put_sliding(&session(), "token", 1, ms(10), None);
    for step in 1..10 {
        clock.advance(ms(1));
        assert_eq!(
            store.list_page(&session(), None, None, 10).keys,
            ["token"],
            "{step}"
        );
        assert_eq!(
            ready(store.list(&ctx, &session(), None)).unwrap(),
            ["token"]
        );
        assert_eq!(
            ready(store.list_namespaces(&ctx, &tenant)).unwrap(),
            [session()]
        );
        let page = store.list_namespaces_page(&tenant, Some(1), None, 10);
        assert_eq!(page.namespaces, [session()]);
    }
    clock.advance(ms(1)); // 10 ms after the write; no read happened
    assert_eq!(get(&store, "token"), None);
    assert!(store.list_page(&session(), None, None, 10).keys.is_empty());
    assert!(
        ready(store.list_namespaces(&ctx, &tenant))
            .unwrap()
            .is_empty()
    );
    assert_invariants(&store);
}

#[test]
fn a_plain_put_ends_sliding_and_put_sliding_starts_it() {
    let (clock, store) = manual::<u32>();
    let ctx = ExecutionContext::new();
    store.put_sliding(&session(), "k", 1, ms(10), None);
    // Overwrite through the trait with a plain 10 ms TTL: reads no longer
    // extend it.
    let opts = entelix_memory::PutOptions::default().with_ttl(ms(10));
    ready(store.put_with_options(&ctx, &session(), "k", 2, opts)).unwrap();
    clock.advance(ms(9));
    assert_eq!(get(&store, "k"), Some(2));
    clock.advance(ms(1));
    assert_eq!(get(&store, "k"), None);
    // The same through the inherent API, and with no TTL at all.
    store.put_sliding(&session(), "v", 1, ms(10), None);
    store.put_versioned(&session(), "v", 2, Some(ms(10)));
    store.put_sliding(&session(), "n", 1, ms(10), None);
    store.put_versioned(&session(), "n", 2, None);
    clock.advance(ms(9));
    assert_eq!(get(&store, "v"), Some(2));
    clock.advance(ms(1));
    assert_eq!(get(&store, "v"), None);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(get(&store, "n"), Some(2), "no TTL: never expires");
    // put_sliding over a plain entry makes it slide.
    store.put_versioned(&session(), "p", 1, Some(ms(10)));
    store.put_sliding(&session(), "p", 2, ms(10), None);
    for _ in 0..5 {
        clock.advance(ms(9));
        assert_eq!(get(&store, "p"), Some(2));
    }
    assert_invariants(&store);
}

/// `max_lifetime` is documented as "never beyond `max_lifetime` after this
/// write": it must also cap the first expiry when it is shorter than `ttl`.
#[test]
fn a_max_lifetime_shorter_than_the_ttl_caps_the_first_expiry() {
    let (clock, store) = manual::<u32>();
    store.put_sliding(&session(), "short", 1, ms(10), Some(ms(5)));
    clock.advance(ms(5) - NS1);
    assert_eq!(store.list_page(&session(), None, None, 10).keys, ["short"]);
    clock.advance(NS1);
    assert!(
        store.list_page(&session(), None, None, 10).keys.is_empty(),
        "listed 5 ms after the write, past its max_lifetime"
    );
    assert_eq!(get(&store, "short"), None, "read 5 ms after the write");
    assert_invariants(&store);
}

/// A clock that, on the first reading after being armed, lets another
/// reader refresh the sliding entry `token` (a nested read on this thread)
/// and then moves time on by 3 ms: it stages, deterministically, a read
/// that loses the processor between loading the entry's expiry and reading
/// the clock while other readers keep the entry alive.
#[derive(Debug, Default)]
struct Race {
    nanos: AtomicU64,
    armed: AtomicBool,
    store: std::sync::OnceLock<SkipStore<u32>>,
}

#[derive(Debug, Clone)]
struct RacingClock(Arc<Race>);

impl skipstore::Clock for RacingClock {
    fn now_nanos(&self) -> u64 {
        let race = &self.0;
        if race.armed.swap(false, Ordering::SeqCst) {
            if let Some(store) = race.store.get() {
                // The other reader: finds it live, pushes it to now + 10 ms.
                assert!(store.get_versioned(&session(), "token").is_some());
            }
            race.nanos.fetch_add(3_000_000, Ordering::SeqCst);
        }
        race.nanos.load(Ordering::SeqCst)
    }
}

/// A store on a racing clock holding `token` (sliding, 10 ms), at 9 ms,
/// with the race armed for the next clock reading. The store holds a clone
/// of itself through the clock (a deliberate leak in these tests).
fn racing() -> SkipStore<u32> {
    let race = Arc::new(Race::default());
    let store = SkipStore::builder()
        .clock(RacingClock(Arc::clone(&race)))
        .build();
    assert!(race.store.set(store.clone()).is_ok());
    store.put_sliding(&session(), "token", 1, ms(10), None);
    race.nanos.store(9_000_000, Ordering::SeqCst);
    race.armed.store(true, Ordering::SeqCst);
    store
}

/// The read starts at 9 ms with the entry live (expiring at 10 ms); before
/// it reads the clock (12 ms), another read pushes the expiry to 19 ms. The
/// entry is live throughout, so the read must find it.
#[test]
fn a_read_racing_a_refresh_finds_the_entry_live() {
    let store = racing();
    assert_eq!(
        store.get_versioned(&session(), "token").map(|v| v.0),
        Some(1)
    );
    assert_invariants(&store);
}

/// The same race on a conditional write: `put_if_absent` must not write
/// over an entry that was live throughout.
#[test]
fn put_if_absent_racing_a_refresh_sees_the_entry_present() {
    let store = racing();
    let refused = store.put_if_absent(&session(), "token", 2, None);
    assert!(refused.is_err(), "wrote over a live entry: {refused:?}");
    assert_eq!(
        store.get_versioned(&session(), "token").map(|v| v.0),
        Some(1)
    );
    assert_invariants(&store);
}

/// A timer armed for the first expiry fires before the extended one: the
/// sweep must re-arm it, not remove the entry.
#[test]
fn evict_expired_removes_a_sliding_entry_only_once_truly_expired() {
    let clock = ManualClock::new();
    let removed = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&removed);
    let store: SkipStore<u32> = SkipStore::builder()
        .clock(clock.clone())
        .on_removal(move |r| log.lock().unwrap().push((r.key.to_owned(), r.cause)))
        .build();
    let ctx = ExecutionContext::new();
    let evict = || ready(store.evict_expired(&ctx)).unwrap();
    store.put_sliding(&session(), "s", 1, ms(10), None);
    clock.advance(ms(8));
    assert_eq!(get(&store, "s"), Some(1)); // expires at 18 ms now
    clock.advance(ms(4)); // 12 ms: the first timer is due
    assert_eq!(evict(), 0);
    assert_eq!(store.total_entries(), 1);
    assert_eq!(store.stats().pending_timers, 1, "re-armed");
    assert_eq!(store.list_page(&session(), None, None, 10).keys, ["s"]);
    clock.advance(ms(6) - NS1); // 18 ms - 1 ns, within the re-armed tick
    assert_eq!(evict(), 0);
    assert_eq!(store.list_page(&session(), None, None, 10).keys, ["s"]);
    assert!(removed.lock().unwrap().is_empty());
    clock.advance(NS1);
    assert_eq!(evict(), 1);
    assert_eq!(store.total_entries(), 0);
    assert_eq!(store.stats().pending_timers, 0);
    assert_eq!(store.stats().expirations, 1);
    assert_eq!(
        *removed.lock().unwrap(),
        [("s".to_owned(), RemovalCause::Expired)]
    );
    assert_invariants(&store);
}

/// Readers keep a sliding entry alive while a controller advances the clock
/// in steps shorter than its TTL, with a sweeper thread, the background
/// sweeper and a TTL writer running: it must never disappear.
#[test]
fn concurrent_reads_keep_a_sliding_entry_alive_through_sweeps() {
    const TTL: Duration = Duration::from_millis(10);
    const STEP: Duration = Duration::from_millis(3);
    let clock = ManualClock::new();
    let store: SkipStore<u32> = SkipStore::builder()
        .clock(clock.clone())
        .background_sweep(ms(1))
        .build();
    let space = session();
    store.put_sliding(&space, "token", 42, TTL, None);
    let stop = AtomicBool::new(false);
    let steps = AtomicU64::new(0);
    let start = Barrier::new(4);
    std::thread::scope(|s| {
        s.spawn(|| {
            start.wait();
            let began = Instant::now();
            while began.elapsed() < RUN {
                // The controller read last at most one step ago: live.
                clock.advance(STEP);
                let got = store.get_versioned(&space, "token");
                assert_eq!(got.map(|v| v.0), Some(42), "gone at step {steps:?}");
                steps.fetch_add(1, Ordering::Relaxed);
            }
            stop.store(true, Ordering::Relaxed);
        });
        s.spawn(|| {
            start.wait();
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(get(&store, "token"), Some(42));
            }
        });
        s.spawn(|| {
            let ctx = ExecutionContext::new();
            start.wait();
            while !stop.load(Ordering::Relaxed) {
                ready(store.evict_expired(&ctx)).unwrap();
                let keys = store.list_page(&space, Some("token"), None, 1).keys;
                assert_eq!(keys, ["token"], "listed as gone after a sweep");
            }
        });
        s.spawn(|| {
            start.wait();
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                n = n.wrapping_add(1);
                let ttl = ms(u64::from(n % 5) + 1);
                store.put_versioned(&space, &format!("tmp-{}", n % 500), n, Some(ttl));
            }
        });
    });
    let lived = STEP * u32::try_from(steps.load(Ordering::Relaxed)).unwrap();
    assert!(lived > TTL * 10, "lived only {lived:?}");
    clock.advance(TTL);
    assert_eq!(store.get_versioned(&space, "token"), None);
    ready(store.evict_expired(&ExecutionContext::new())).unwrap();
    assert_eq!(
        store.total_entries(),
        0,
        "every row had a TTL of at most 10 ms"
    );
    assert!(
        ready(store.list_namespaces(&ExecutionContext::new(), &NamespacePrefix::from(&space)))
            .unwrap()
            .is_empty()
    );
    assert_invariants(&store);
}
