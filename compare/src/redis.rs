//! `--redis URL|local`: entelix-persistence's `RedisStore` against
//! `skipstore::redis::RedisStore` (JSON and MessagePack) on one Redis server,
//! through the same `Arc<dyn Store<String>>`, with 1 and several client tasks
//! on a tokio runtime.
//!
//! Each store gets `--redis-rows` rows (1,000 conversations of 100 keys
//! under 10 agents), so the server holds three times that; then each
//! workload runs `--rounds` rounds of `--seconds` per store and task count,
//! and the median is shown. `local` starts a throwaway `redis-server` on
//! 127.0.0.1; with a URL, the rows are written under the prefix
//! `skipstore-compare:` and the tenant `compare-bench`, and removed at the
//! end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions};
use skipstore::redis::{Codec, RedisStore};

use crate::cli::Args;
use crate::redis_common::{Dyn, KEYS_PER_NS, Server, cleanup, fill, key, server_version, value};
use crate::report::{human, median};

const TENANT: &str = "compare-bench";
const PREFIX: &str = "skipstore-compare:";
const AGENTS: usize = 10;

/// The Redis workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    Get,
    Put,
    PutTtl,
    List,
    ListNamespaces,
}

impl Work {
    const ALL: [Self; 5] = [
        Self::Get,
        Self::Put,
        Self::PutTtl,
        Self::List,
        Self::ListNamespaces,
    ];

    const fn name(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Put => "put",
            Self::PutTtl => "put-ttl",
            Self::List => "list (100 keys)",
            Self::ListNamespaces => "list_namespaces (agent)",
        }
    }
}

struct Subject {
    name: &'static str,
    store: Dyn,
}

fn namespace(i: usize) -> Namespace {
    Namespace::new(TenantId::new(TENANT))
        .with_scope(format!("agent-{}", i % AGENTS))
        .with_scope(format!("conv-{i}"))
}

/// Runs the Redis comparison and prints its table.
pub fn run(args: &Args, target: &str) -> Result<(), String> {
    let server = Server::start(target)?;
    server.block_on(compare(args, server.url()))
}

async fn subjects(url: &str) -> Result<Vec<Subject>, String> {
    let entelix = entelix_persistence::redis::RedisPersistence::builder()
        .with_connection_string(url)
        .connect()
        .await
        .map_err(|e| format!("entelix RedisStore: {e}"))?
        .store::<String>();
    let mut out = vec![Subject {
        name: "entelix",
        store: Arc::new(entelix),
    }];
    for (name, codec, prefix) in [
        ("skipstore", Codec::Json, format!("{PREFIX}json:")),
        (
            "skipstore-msgpack",
            Codec::MessagePack,
            format!("{PREFIX}mp:"),
        ),
    ] {
        let store: RedisStore<String> = RedisStore::builder()
            .url(url)
            .key_prefix(prefix)
            .codec(codec)
            .build()
            .await
            .map_err(|e| format!("skipstore RedisStore: {e}"))?;
        out.push(Subject {
            name,
            store: Arc::new(store),
        });
    }
    Ok(out)
}

async fn compare(args: &Args, url: &str) -> Result<(), String> {
    let subjects = subjects(url).await?;
    let rows = usize::try_from(args.redis_rows).map_err(|e| e.to_string())?;
    let namespaces = (rows / KEYS_PER_NS).max(1);
    let version = server_version(url).await?;
    println!(
        "redis {version} at {url}; {rows} rows per store ({namespaces} namespaces x {KEYS_PER_NS} keys), 3 stores"
    );
    for s in &subjects {
        let start = Instant::now();
        fill(&s.store, namespaces * KEYS_PER_NS, namespace).await?;
        println!(
            "filled {} in {:.1} s",
            s.name,
            start.elapsed().as_secs_f64()
        );
    }
    println!(
        "\n{:<26} {:>5} {:>14} {:>14} {:>18} {:>9}",
        "workload", "tasks", "entelix/s", "skipstore/s", "skipstore-mp/s", "ratio"
    );
    for work in Work::ALL {
        for &tasks in &args.redis_tasks {
            // Rounds interleave the stores, so load that comes and goes on
            // the machine falls on all of them alike, and each round starts
            // with the next store, so none always runs right after another
            // (or first).
            let mut rounds = vec![Vec::new(); subjects.len()];
            for round in 0..args.rounds {
                let seed = u64::from(round) * 7919 + u64::from(tasks);
                for i in 0..subjects.len() {
                    let at = (i + round as usize) % subjects.len();
                    let store = &subjects[at].store;
                    rounds[at]
                        .push(measure(store, work, tasks, namespaces, args.seconds, seed).await?);
                }
            }
            let medians: Vec<f64> = rounds.iter().map(|r| median(r)).collect();
            println!(
                "{:<26} {:>5} {:>14} {:>14} {:>18} {:>8.2}x",
                work.name(),
                tasks,
                human(medians[0]),
                human(medians[1]),
                human(medians[2]),
                medians[1] / medians[0]
            );
        }
    }
    println!();
    for s in &subjects {
        let ctx = ExecutionContext::new();
        let agent = NamespacePrefix::new(TenantId::new(TENANT)).with_scope("agent-3");
        let found = s
            .store
            .list_namespaces(&ctx, &agent)
            .await
            .map_err(|e| e.to_string())?;
        let expected = (0..namespaces).filter(|i| i % AGENTS == 3).count();
        println!(
            "{}: list_namespaces(agent-3) returned {} namespaces, {} expected: {}",
            s.name,
            found.len(),
            expected,
            if found.len() == expected {
                "right"
            } else {
                "WRONG"
            }
        );
    }
    cleanup(url, PREFIX, TENANT).await
}

/// Operations per second of `work` on `tasks` tasks for `seconds`.
async fn measure(
    store: &Dyn,
    work: Work,
    tasks: u32,
    namespaces: usize,
    seconds: Duration,
    seed: u64,
) -> Result<f64, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|t| {
            let store = Arc::clone(store);
            let stop = Arc::clone(&stop);
            let mut rng = seed ^ (u64::from(t) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            tokio::spawn(async move {
                let ctx = ExecutionContext::new();
                let mut ops = 0_u64;
                // At least one call, so a slow store still reports a rate.
                while ops == 0 || !stop.load(Ordering::Relaxed) {
                    let r = usize::try_from(next(&mut rng) >> 16).unwrap_or(0);
                    one(&store, &ctx, work, r, namespaces).await?;
                    ops += 1;
                    // A call that never awaits the network (entelix's
                    // `list_namespaces` returns at once) never yields: let
                    // the runtime's other tasks in now and then, or the
                    // timer that ends the round never runs and the round
                    // never ends.
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
    r: usize,
    namespaces: usize,
) -> Result<(), String> {
    let ns = namespace(r % namespaces);
    let k = key((r / namespaces) % KEYS_PER_NS);
    let e = |e: entelix_core::Error| e.to_string();
    match work {
        Work::Get => drop(store.get(ctx, &ns, &k).await.map_err(e)?),
        Work::Put => store.put(ctx, &ns, &k, value(r)).await.map_err(e)?,
        Work::PutTtl => {
            // Rows of their own, so the other workloads' data stays put.
            let ns = Namespace::new(TenantId::new(TENANT)).with_scope(format!("ttl-{}", r % 100));
            let options = PutOptions::default().with_ttl(Duration::from_secs(60));
            store
                .put_with_options(ctx, &ns, &key(r % 1000), value(r), options)
                .await
                .map_err(e)?;
        }
        Work::List => drop(store.list(ctx, &ns, None).await.map_err(e)?),
        Work::ListNamespaces => {
            let agent = NamespacePrefix::new(TenantId::new(TENANT))
                .with_scope(format!("agent-{}", r % AGENTS));
            drop(store.list_namespaces(ctx, &agent).await.map_err(e)?);
        }
    }
    Ok(())
}

/// splitmix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
