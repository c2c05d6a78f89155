//! TTL churn on one store at a time, for profiling (the compare command
//! runs both stores in one process, which mixes their profiles).
//!
//! ```text
//! cargo run --release -p skipstore-compare --example churn -- skip 2 4
//! cargo run --release -p skipstore-compare --example churn -- base 2 4
//! valgrind --tool=cachegrind target/release/examples/churn det 1 0.3
//! ```
//!
//! Arguments: `skip`, `base`, `null` or `det`; threads; seconds; rows;
//! namespaces (defaults 1, 3, 200000, 2000). `skip` and `base` fill the
//! store, then write new keys with 1-50 ms TTLs from each thread while
//! another thread calls `evict_expired` every 10 ms, and print the write
//! rate. `null` does the same to a store that keeps nothing: what the
//! driver alone costs, the ceiling of any store's rate here.
//!
//! `det-mix` counts the same way for the core operations instead: after the
//! fill, `seconds * 1e6` operations alternating a `get` and an overwriting
//! `put` (no TTL) of uniformly chosen present rows.
//! `det-list` and `det-list-ns` list instead (`seconds * 1e6` listings of
//! a whole namespace, or of one agent's namespaces), on SkipStore only;
//! `det-list-ns-listed` lists every namespace once first; `det-list-put`
//! writes a new row into the namespace before each whole-namespace list
//! (a host that writes a turn and then reads the conversation back).
//!
//! `det-mix-base` runs the same mix on the baseline, for counts side by
//! side. `det-get` and `det-get-base` make every operation a `get`, so
//! that a get's own cost can be told apart from what the overwrites leave
//! behind for it (boxed versions, the epoch's deferred frees).
//!
//! `fill-base`, `fill-skip` and `fill-bound` time a fill of `seconds *
//! 1e6` new rows without a TTL into an empty store instead: the baseline,
//! an unbounded `SkipStore`, and one bounded to `rows` (`max_entries`),
//! which evicts a row for each row written once full (the compare
//! command's `bounded-fill`, without its first half that evicts nothing):
//! `churn fill-bound 1 0.4 100000`.
//!
//! `det` is the deterministic variant, for instruction and cache-miss
//! counts that do not depend on this machine's noise: SkipStore only, one
//! thread, a manual clock moved 1 us per put (or the sixth argument's
//! microseconds: 10 at 10,000 namespaces empties namespaces between their
//! puts as a 100 k puts/s timed run does), `evict_expired` every 10 ms of
//! that clock, `seconds * 1e6` puts. Run it once with 0 puts too and
//! subtract, to leave the fill out.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{InMemoryStore, Namespace, NamespacePrefix, PutOptions, Store};
use skipstore::{Clock, ManualClock, SkipStore};

/// Runs a store future to completion (they never wait).
fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Conversation `c`, shaped as the compare command's fixture shapes it.
fn conversation(c: u64) -> Namespace {
    let agent = c / 50;
    Namespace::new(TenantId::new(format!("tenant-{:04}", agent / 10)))
        .with_scope(format!("agent-{:03}", agent % 10))
        .with_scope(format!("conv-{:04}", c % 50))
}

/// After the fill, `ops` listings: whole namespaces (`det-list`), or the
/// namespaces of one agent (`det-list-ns`, 50 conversations, as the
/// compare command's `list-ns-agent`), chosen at random;
/// `det-list-ns-listed` lists every namespace once before its listings
/// (the compare command runs `list` before `list-ns-*`).
fn deterministic_lists(setup: &Setup, store: &dyn Store<String>, rows: u64, ops: u64, which: &str) {
    setup.fill(store, rows);
    let ctx = ExecutionContext::new();
    let n = setup.namespaces.len() as u64;
    let namespaces = !matches!(which, "det-list" | "det-list-put");
    if which == "det-list-ns-listed" {
        for ns in &setup.namespaces {
            ready(store.list(&ctx, ns, None)).expect("list");
        }
    }
    let mut x = 0x9E37_79B9_7F4A_7C15;
    let mut listed = 0usize;
    for _ in 0..ops {
        let c = next(&mut x) % n;
        if namespaces {
            let agent = c / 50;
            let prefix = NamespacePrefix::new(TenantId::new(format!("tenant-{:04}", agent / 10)))
                .with_scope(format!("agent-{:03}", agent % 10));
            listed += ready(store.list_namespaces(&ctx, &prefix))
                .expect("list_namespaces")
                .len();
        } else {
            let ns = &setup.namespaces[c as usize];
            if which == "det-list-put" {
                let value = setup.values[listed % setup.values.len()].clone();
                ready(store.put(&ctx, ns, &format!("new-{listed:08}"), value)).expect("put");
            }
            listed += ready(store.list(&ctx, ns, None)).expect("list").len();
        }
    }
    println!("{which}: {ops} listings, {listed} items");
}

/// A xorshift step: cheap, seeded, the same on every run.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

struct Setup {
    namespaces: Vec<Namespace>,
    values: Vec<String>,
}

impl Setup {
    fn new(namespaces: u64) -> Self {
        Self {
            namespaces: (0..namespaces).map(conversation).collect(),
            values: (0..256).map(|i| format!("{i:032}")).collect(),
        }
    }

    fn fill(&self, store: &dyn Store<String>, rows: u64) {
        let ctx = ExecutionContext::new();
        let n = self.namespaces.len() as u64;
        for r in 0..rows {
            let ns = &self.namespaces[(r % n) as usize];
            let value = self.values[(r % 256) as usize].clone();
            ready(store.put(&ctx, ns, &format!("msg-{}", r / n), value)).expect("put");
        }
    }

    /// Writes new key number `seq` of `thread` with a TTL of 1-50 ms
    /// (`key` is the caller's buffer, so the driver itself allocates only
    /// the value, as a host would).
    fn churn_one(
        &self,
        store: &dyn Store<String>,
        key: &mut String,
        (thread, seq): (usize, u64),
        x: &mut u64,
    ) {
        key.clear();
        let _ = write!(key, "tmp-{thread:03}-{seq:010}");
        let r = next(x);
        let ns = &self.namespaces[(r % self.namespaces.len() as u64) as usize];
        let value = self.values[((r >> 20) % 256) as usize].clone();
        let ttl = Duration::from_millis(1 + (r >> 40) % 50);
        let options = PutOptions::default().with_ttl(ttl);
        ready(store.put_with_options(&ExecutionContext::new(), ns, key, value, options))
            .expect("put");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: f64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let which = args.get(1).map_or("skip", String::as_str);
    let threads = arg(2, 1.0) as usize;
    let seconds = arg(3, 3.0);
    let rows = arg(4, 200_000.0) as u64;
    let setup = Setup::new(arg(5, 2_000.0) as u64);
    match which {
        "det" => deterministic(&setup, rows, (seconds * 1e6) as u64, arg(6, 1.0) as u64),
        "det-mix" | "det-get" => deterministic_mix(
            &setup,
            &SkipStore::<String>::new(),
            rows,
            (seconds * 1e6) as u64,
            which == "det-mix",
        ),
        "det-mix-base" | "det-get-base" => deterministic_mix(
            &setup,
            &InMemoryStore::<String>::new(),
            rows,
            (seconds * 1e6) as u64,
            which == "det-mix-base",
        ),
        "det-list" | "det-list-ns" | "det-list-ns-listed" | "det-list-put" => deterministic_lists(
            &setup,
            &SkipStore::<String>::new(),
            rows,
            (seconds * 1e6) as u64,
            which,
        ),
        "base" => timed(
            &setup,
            &InMemoryStore::<String>::new(),
            which,
            threads,
            seconds,
            rows,
        ),
        "skip" => timed(
            &setup,
            &SkipStore::<String>::new(),
            which,
            threads,
            seconds,
            rows,
        ),
        "null" => timed(&setup, &Null, which, threads, seconds, rows),
        "fill-base" => fill_timed(&setup, &InMemoryStore::<String>::new(), which, seconds),
        "fill-skip" => fill_timed(&setup, &SkipStore::<String>::new(), which, seconds),
        "fill-bound" => {
            let bounded = SkipStore::<String>::builder()
                .max_entries(rows as usize)
                .build();
            fill_timed(&setup, &bounded, which, seconds);
        }
        other => eprintln!(
            "unknown store {other:?}: skip, base, null, det, det-mix, det-mix-base, fill-base, fill-skip or fill-bound"
        ),
    }
}

/// A store that keeps nothing. Through it a churned put costs only what the
/// driver does per call (the formatted key, the value's clone and drop, the
/// `ExecutionContext`, the boxed future): a store's share of a put is its
/// time less this one.
struct Null;

#[async_trait::async_trait]
impl Store<String> for Null {
    async fn put_with_options(
        &self,
        _: &ExecutionContext,
        _: &Namespace,
        _: &str,
        value: String,
        _: PutOptions,
    ) -> entelix_core::Result<()> {
        drop(value);
        Ok(())
    }

    async fn get(
        &self,
        _: &ExecutionContext,
        _: &Namespace,
        _: &str,
    ) -> entelix_core::Result<Option<String>> {
        Ok(None)
    }

    async fn delete(
        &self,
        _: &ExecutionContext,
        _: &Namespace,
        _: &str,
    ) -> entelix_core::Result<()> {
        Ok(())
    }

    async fn list(
        &self,
        _: &ExecutionContext,
        _: &Namespace,
        _: Option<&str>,
    ) -> entelix_core::Result<Vec<String>> {
        Ok(Vec::new())
    }
}

fn timed(
    setup: &Setup,
    store: &dyn Store<String>,
    name: &str,
    threads: usize,
    secs: f64,
    rows: u64,
) {
    setup.fill(store, rows);
    let stop = AtomicBool::new(false);
    let rate: f64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let stop = &stop;
                s.spawn(move || {
                    let mut x = 0x9E37_79B9_7F4A_7C15 ^ t as u64;
                    let mut key = String::new();
                    let mut seq = 0;
                    let begun = Instant::now();
                    while !stop.load(Ordering::Relaxed) {
                        setup.churn_one(store, &mut key, (t, seq), &mut x);
                        seq += 1;
                    }
                    seq as f64 / begun.elapsed().as_secs_f64()
                })
            })
            .collect();
        s.spawn(|| {
            let ctx = ExecutionContext::new();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
                ready(store.evict_expired(&ctx)).expect("evict");
            }
        });
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    println!("{name} threads={threads}: {:.1} k puts/s", rate / 1e3);
}

/// Fills `store` with `seconds * 1e6` rows from one thread, timed.
fn fill_timed(setup: &Setup, store: &dyn Store<String>, name: &str, seconds: f64) {
    let puts = (seconds * 1e6) as u64;
    let begun = Instant::now();
    setup.fill(store, puts);
    let rate = puts as f64 / begun.elapsed().as_secs_f64();
    println!("{name}: {puts} puts, {:.1} k puts/s", rate / 1e3);
}

fn deterministic(setup: &Setup, rows: u64, puts: u64, step_us: u64) {
    let step_us = step_us.max(1);
    let sweep_every = (10_000 / step_us).max(1);
    let clock = ManualClock::new();
    let store = SkipStore::<String>::builder().clock(clock.clone()).build();
    setup.fill(&store, rows);
    let mut x = 0x9E37_79B9_7F4A_7C15;
    let mut key = String::new();
    for seq in 0..puts {
        setup.churn_one(&store, &mut key, (0, seq), &mut x);
        clock.advance(Duration::from_micros(step_us));
        if seq % sweep_every == sweep_every - 1 {
            ready(store.evict_expired(&ExecutionContext::new())).expect("evict");
        }
    }
    println!(
        "det: {puts} puts, {} rows held, clock at {} ms",
        store.total_entries(),
        clock.now_nanos() / 1_000_000
    );
}

fn deterministic_mix(
    setup: &Setup,
    store: &dyn Store<String>,
    rows: u64,
    ops: u64,
    overwrites: bool,
) {
    setup.fill(store, rows);
    let ctx = ExecutionContext::new();
    let n = setup.namespaces.len() as u64;
    let mut x = 0x9E37_79B9_7F4A_7C15;
    let mut key = String::new();
    let mut hits = 0u64;
    for op in 0..ops {
        let r = next(&mut x) % rows;
        let ns = &setup.namespaces[(r % n) as usize];
        key.clear();
        let _ = write!(key, "msg-{}", r / n);
        if op % 2 == 0 || !overwrites {
            hits += u64::from(ready(store.get(&ctx, ns, &key)).expect("get").is_some());
        } else {
            let value = setup.values[(r % 256) as usize].clone();
            ready(store.put(&ctx, ns, &key, value)).expect("put");
        }
    }
    let mix = if overwrites { "det-mix" } else { "det-get" };
    println!("{mix}: {ops} operations, {hits} hits");
}
