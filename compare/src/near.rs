//! `--near URL|local`: `skipstore::redis::NearCache` against
//! `skipstore::redis::RedisStore` alone and entelix-persistence's
//! `RedisStore`, on one Redis server, all through `Arc<dyn Store<String>>`,
//! with the client task counts of `--redis-tasks`; then the invalidation
//! latency between two near-cache replicas.
//!
//! Workloads, over `--redis-rows` rows (100 keys per namespace):
//!
//! * `zipf-get`: gets of rows drawn from a Zipf distribution (exponent
//!   1.0) over all rows: the hot set stays local.
//! * `hit90-get`: 90% gets of 1,000 hot rows, 10% gets of absent keys
//!   (never held locally: each is a round trip), built to hit locally 90%
//!   of the time.
//! * `zipf-90/10`: 90% gets, 10% puts, over the same Zipf keys (each put
//!   goes to Redis and invalidates the key locally).
//!
//! Each workload runs unmeasured warm-up, then `--rounds` rounds of
//! `--seconds`; the table shows medians and, for the near cache, the local
//! hit ratio over the measured rounds (local hits / gets).
//!
//! # Warm-up
//!
//! `RedisStore` and entelix's store hold nothing in the process: one round
//! of `--seconds` warms their connections. The near cache's rate depends on
//! how much of the workload's key set its local tier holds, and a host's
//! tier is warm: it has served these rows for minutes. A single short round
//! is not that: one task at ~140k gets/s touches too little of the Zipf
//! tail (19% of the draws fall past the 10,000 hottest of 100,000 rows) in
//! a few seconds, so the measured rounds would count the misses of a cold
//! start. So the near cache warms up in 1 s slices of the same workload
//! (seeds distinct from the measured rounds') until a slice's local hit
//! ratio rises by less than 0.1 point over the slice before: the tier has
//! reached the steady state that the workload, the entry bound and the
//! local TTL cap (60 s, which expires copies a warm host would refill)
//! allow. `--near-warmup` caps it (default 30 s); the table's `warm-up`
//! column says how long it took. The measured rounds are unchanged: the
//! same workload, seeds and lengths as for the other stores.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, Store};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};
use skipstore::redis::{NearCache, RedisStore};

use crate::cli::Args;
use crate::redis_common::{Dyn, KEYS_PER_NS, Server, cleanup, fill, key, server_version, value};
use crate::report::{human, median};

const TENANT: &str = "near-bench";
const PREFIX: &str = "skipstore-near-compare:";
const HOT: usize = 1_000;
/// Invalidation-latency samples.
const SAMPLES: usize = 2_000;
/// One slice of the near cache's warm-up.
const WARMUP_SLICE: Duration = Duration::from_secs(1);
/// The warm-up ends when a slice's hit ratio rises by less than this.
const WARMUP_PLATEAU: f64 = 0.001;
/// Warm-up seeds start here, away from the measured rounds'.
const WARMUP_SEED: u64 = 1 << 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    ZipfGet,
    Hit90,
    Mix,
}

impl Work {
    const ALL: [Self; 3] = [Self::ZipfGet, Self::Hit90, Self::Mix];

    const fn name(self) -> &'static str {
        match self {
            Self::ZipfGet => "zipf-get",
            Self::Hit90 => "hit90-get",
            Self::Mix => "zipf-90/10",
        }
    }
}

fn namespace(i: usize) -> Namespace {
    Namespace::new(TenantId::new(TENANT)).with_scope(format!("conv-{i}"))
}

/// Runs the near-cache comparison and prints its tables.
pub fn run(args: &Args, target: &str) -> Result<(), String> {
    let server = Server::start(target)?;
    server.block_on(compare(args, server.url()))
}

async fn near(url: &str, rows: usize) -> Result<NearCache<String>, String> {
    NearCache::builder()
        .url(url)
        .key_prefix(PREFIX)
        .max_local_entries(rows)
        .build()
        .await
        .map_err(|e| format!("NearCache: {e}"))
}

async fn compare(args: &Args, url: &str) -> Result<(), String> {
    let rows = usize::try_from(args.redis_rows).map_err(|e| e.to_string())?;
    let entelix: Dyn = Arc::new(
        entelix_persistence::redis::RedisPersistence::builder()
            .with_connection_string(url)
            .connect()
            .await
            .map_err(|e| format!("entelix RedisStore: {e}"))?
            .store::<String>(),
    );
    let ours: RedisStore<String> = RedisStore::builder()
        .url(url)
        .key_prefix(PREFIX)
        .build()
        .await
        .map_err(|e| format!("RedisStore: {e}"))?;
    let cache = near(url, rows).await?;
    println!(
        "redis {} at {url}; {rows} rows; load average {}",
        server_version(url).await?,
        load_average()
    );
    let ours: Dyn = Arc::new(ours);
    fill(&entelix, rows, namespace).await?;
    fill(&ours, rows, namespace).await?;
    let subjects: [(&str, Dyn); 3] = [
        ("entelix", entelix),
        ("redis-store", ours),
        ("near-cache", Arc::new(cache.clone())),
    ];
    println!(
        "\n{:<12} {:>5} {:>12} {:>14} {:>13} {:>12} {:>9} {:>8}",
        "workload",
        "tasks",
        "entelix/s",
        "redis-store/s",
        "near-cache/s",
        "near/redis",
        "local hit",
        "warm-up"
    );
    for work in Work::ALL {
        for &tasks in &args.redis_tasks {
            let (medians, ratio, warmed) =
                measure_subjects(&subjects, &cache, (work, tasks, rows), args).await?;
            println!(
                "{:<12} {:>5} {:>12} {:>14} {:>13} {:>11.1}x {:>8.1}% {:>7.0}s",
                work.name(),
                tasks,
                human(medians[0]),
                human(medians[1]),
                human(medians[2]),
                medians[2] / medians[1],
                ratio * 100.0,
                warmed.as_secs_f64()
            );
        }
    }
    let other = near(url, rows).await?;
    let (p50, p99, max) = invalidation_latency(&cache, &other).await?;
    println!(
        "\ninvalidation latency (write acknowledged on one replica until another serves the new value), {SAMPLES} samples: p50 {p50:?}, p99 {p99:?}, max {max:?}"
    );
    println!("load average after: {}", load_average());
    cleanup(url, PREFIX, TENANT).await
}

/// One row of the table: each subject's median rate over `args.rounds`
/// runs of `work` with `tasks` tasks over `rows` rows (the near cache's
/// after its warm-up, the others' after one unrecorded run), the near
/// cache's local hit ratio over those runs, and how long its warm-up took.
async fn measure_subjects(
    subjects: &[(&str, Dyn)],
    cache: &NearCache<String>,
    (work, tasks, rows): (Work, u32, usize),
    args: &Args,
) -> Result<(Vec<f64>, f64, Duration), String> {
    let mut medians = Vec::new();
    let mut ratio = 0.0;
    let mut warmed = Duration::ZERO;
    for (name, store) in subjects {
        if *name == "near-cache" {
            // Until the local tier is as warm as a host's (module docs,
            // "Warm-up").
            warmed = warm_near(cache, store, work, tasks, rows, args.near_warmup).await?;
        } else {
            measure(store, work, tasks, rows, args.seconds, 1).await?;
        }
        let before = cache.stats();
        let mut rounds = Vec::new();
        for round in 0..args.rounds {
            let seed = u64::from(round) * 7919 + u64::from(tasks) + 2;
            rounds.push(measure(store, work, tasks, rows, args.seconds, seed).await?);
        }
        if *name == "near-cache" {
            let after = cache.stats();
            let hits = after.local_hits - before.local_hits;
            let gets = hits + after.misses - before.misses;
            ratio = hits as f64 / gets.max(1) as f64;
        }
        medians.push(median(&rounds));
    }
    Ok((medians, ratio, warmed))
}

/// Runs `work` on the near cache in [`WARMUP_SLICE`]s until a slice's
/// local hit ratio rises by less than [`WARMUP_PLATEAU`] over the slice
/// before, or `longest` has passed; returns how long it ran.
async fn warm_near(
    cache: &NearCache<String>,
    store: &Dyn,
    work: Work,
    tasks: u32,
    rows: usize,
    longest: Duration,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut previous: Option<f64> = None;
    let mut slice = 0_u64;
    while start.elapsed() < longest {
        let before = cache.stats();
        let seed = WARMUP_SEED + slice * 7919 + u64::from(tasks);
        measure(store, work, tasks, rows, WARMUP_SLICE.min(longest), seed).await?;
        slice += 1;
        let after = cache.stats();
        let hits = after.local_hits - before.local_hits;
        let gets = hits + after.misses - before.misses;
        let ratio = hits as f64 / gets.max(1) as f64;
        if previous.is_some_and(|p| ratio - p < WARMUP_PLATEAU) {
            break;
        }
        previous = Some(ratio);
    }
    Ok(start.elapsed())
}

/// Operations per second of `work` on `tasks` tasks for `seconds`.
async fn measure(
    store: &Dyn,
    work: Work,
    tasks: u32,
    rows: usize,
    seconds: Duration,
    seed: u64,
) -> Result<f64, String> {
    let zipf = Zipf::new(rows as f64, 1.0).map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|t| {
            let store = Arc::clone(store);
            let stop = Arc::clone(&stop);
            let mut rng = StdRng::seed_from_u64(seed ^ (u64::from(t) << 32));
            tokio::spawn(async move {
                let ctx = ExecutionContext::new();
                let mut ops = 0_u64;
                while ops == 0 || !stop.load(Ordering::Relaxed) {
                    one(&store, &ctx, work, &mut rng, &zipf, rows).await?;
                    ops += 1;
                    // Local hits never await: let the runtime's other
                    // tasks (the tracking connection) in now and then.
                    if ops.is_multiple_of(64) {
                        tokio::task::yield_now().await;
                    }
                }
                Ok::<u64, String>(ops)
            })
        })
        .collect();
    tokio::time::sleep(seconds).await;
    stop.store(true, Ordering::Relaxed);
    let mut ops = 0;
    for w in workers {
        ops += w.await.map_err(|e| e.to_string())??;
    }
    Ok(ops as f64 / start.elapsed().as_secs_f64())
}

async fn one(
    store: &Dyn,
    ctx: &ExecutionContext,
    work: Work,
    rng: &mut StdRng,
    zipf: &Zipf<f64>,
    rows: usize,
) -> Result<(), String> {
    let e = |e: entelix_core::Error| e.to_string();
    let zipf_row = |rng: &mut StdRng| (zipf.sample(rng) as usize).saturating_sub(1) % rows;
    match work {
        Work::ZipfGet => {
            let i = zipf_row(rng);
            drop(
                store
                    .get(ctx, &namespace(i / KEYS_PER_NS), &key(i % KEYS_PER_NS))
                    .await
                    .map_err(e)?,
            );
        }
        Work::Hit90 => {
            let i = rng.random_range(0..HOT.min(rows));
            let ns = namespace(i / KEYS_PER_NS);
            if rng.random_range(0..10) == 0 {
                drop(store.get(ctx, &ns, "absent").await.map_err(e)?);
            } else {
                drop(
                    store
                        .get(ctx, &ns, &key(i % KEYS_PER_NS))
                        .await
                        .map_err(e)?,
                );
            }
        }
        Work::Mix => {
            let i = zipf_row(rng);
            let (ns, k) = (namespace(i / KEYS_PER_NS), key(i % KEYS_PER_NS));
            if rng.random_range(0..10) == 0 {
                store.put(ctx, &ns, &k, value(i)).await.map_err(e)?;
            } else {
                drop(store.get(ctx, &ns, &k).await.map_err(e)?);
            }
        }
    }
    Ok(())
}

/// p50, p99 and max of: `writer` writes a new value of a row that `reader`
/// holds locally; from the write's acknowledgement until `reader` serves
/// the new value.
async fn invalidation_latency(
    writer: &NearCache<String>,
    reader: &NearCache<String>,
) -> Result<(Duration, Duration, Duration), String> {
    let ctx = ExecutionContext::new();
    let ns = namespace(usize::MAX);
    let e = |e: entelix_core::Error| e.to_string();
    let mut samples = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let old = format!("v{i}");
        writer
            .put(&ctx, &ns, "latency", old.clone())
            .await
            .map_err(e)?;
        // Until the reader holds the value locally.
        let start = Instant::now();
        loop {
            let hits = reader.stats().local_hits;
            let got = reader.get(&ctx, &ns, "latency").await.map_err(e)?;
            if got.as_deref() == Some(old.as_str()) && reader.stats().local_hits > hits {
                break;
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err("the reader never held the value locally".into());
            }
            tokio::task::yield_now().await;
        }
        let new = format!("v{i}+");
        writer
            .put(&ctx, &ns, "latency", new.clone())
            .await
            .map_err(e)?;
        let acked = Instant::now();
        loop {
            let got = reader.get(&ctx, &ns, "latency").await.map_err(e)?;
            if got.as_deref() == Some(new.as_str()) {
                break;
            }
            if acked.elapsed() > Duration::from_secs(10) {
                return Err("the reader kept the old value for 10 s".into());
            }
            tokio::task::yield_now().await;
        }
        samples.push(acked.elapsed());
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    Ok((at(0.5), at(0.99), at(1.0)))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
