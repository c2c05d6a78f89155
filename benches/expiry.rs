//! Expiry, baseline beside skipstore, at 10k, 100k and 1M live rows:
//!
//! * `evict_expired_1pct`: one `evict_expired` call when 1% more rows have
//!   expired. The expired rows are written (untimed) before each call. The
//!   baseline reads `Instant::now`, so its rows get a 1 ns TTL; skipstore
//!   runs on a `ManualClock` advanced past a 1 ms TTL, so neither waits and
//!   no row expires while the batch is still being written.
//! * `ttl_churn`: `put` of new keys with 1–50 ms TTLs, sweeping with
//!   `evict_expired` every 10 ms as an agent host's timer would.

#![allow(clippy::disallowed_types)] // std Arc is fine outside the library

mod common;

use std::cell::OnceCell;
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use entelix_memory::{InMemoryStore, PutOptions, Store};
use rand::RngExt;
use skipstore::{ManualClock, SkipStore};

use common::{Data, SIZES, Stores, configure, ready, side_by_side};

/// How the expired batch is made to expire for one store.
struct Expiring {
    name: &'static str,
    store: Arc<dyn Store<String>>,
    ttl: Duration,
    clock: Option<ManualClock>,
    filled: OnceCell<()>,
}

impl Expiring {
    /// Writes `count` rows that are expired once this returns.
    fn write_expired(&self, data: &Data, count: u64, rng: &mut rand::rngs::StdRng) {
        for i in 0..count {
            let options = PutOptions::default().with_ttl(self.ttl);
            let ns = data.conversation(rng);
            let key = format!("exp-{i:09}");
            ready(
                self.store
                    .put_with_options(&data.ctx, ns, &key, Data::value(i), options),
            )
            .unwrap_or_else(|e| panic!("put: {e}"));
        }
        match &self.clock {
            Some(clock) => clock.advance(self.ttl * 2),
            // 1 ns has passed by the time the last put returned.
            None => std::thread::sleep(Duration::from_micros(1)),
        }
    }
}

fn evict_one_percent(c: &mut Criterion, data: &Data) {
    let clock = ManualClock::new();
    let skip: SkipStore<String> = SkipStore::builder().clock(clock.clone()).build();
    let stores = [
        Expiring {
            name: "baseline",
            store: Arc::new(InMemoryStore::<String>::new()),
            ttl: Duration::from_nanos(1),
            clock: None,
            filled: OnceCell::new(),
        },
        Expiring {
            name: "skipstore",
            store: Arc::new(skip),
            ttl: Duration::from_millis(1),
            clock: Some(clock),
            filled: OnceCell::new(),
        },
    ];
    let batch = (data.rows / 100).max(1);
    let mut group = c.benchmark_group("evict_expired_1pct");
    configure(&mut group, data.rows);
    group.throughput(Throughput::Elements(batch));
    for s in &stores {
        group.bench_function(BenchmarkId::new(s.name, data.rows), |b| {
            s.filled.get_or_init(|| data.fill(&*s.store));
            let mut rng = Data::rng();
            b.iter_batched(
                || s.write_expired(data, batch, &mut rng),
                |()| black_box(ready(s.store.evict_expired(&data.ctx)).ok()),
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

fn ttl_churn(c: &mut Criterion, data: &Data, stores: &Stores<'_>) {
    const SWEEP_EVERY: Duration = Duration::from_millis(10);
    side_by_side(c, "ttl_churn", stores, 1, |b, store| {
        let mut rng = Data::rng();
        let mut key = String::new();
        let mut n = 0u64;
        b.iter_custom(|iters| {
            let began = Instant::now();
            let mut swept = began;
            for i in 0..iters {
                n += 1;
                key.clear();
                let _ = write!(key, "tmp-{n:012}");
                let ttl = Duration::from_millis(rng.random_range(1..=50));
                let ns = data.conversation(&mut rng);
                let options = PutOptions::default().with_ttl(ttl);
                black_box(
                    ready(store.put_with_options(&data.ctx, ns, &key, Data::value(n), options))
                        .ok(),
                );
                if i % 64 == 0 && swept.elapsed() >= SWEEP_EVERY {
                    black_box(ready(store.evict_expired(&data.ctx)).ok());
                    swept = Instant::now();
                }
            }
            began.elapsed()
        });
    });
}

fn expiry(c: &mut Criterion) {
    for rows in SIZES {
        let data = Data::new(rows);
        evict_one_percent(c, &data);
        let stores = Stores::new(&data);
        ttl_churn(c, &data, &stores);
    }
}

criterion_group!(benches, expiry);
criterion_main!(benches);
