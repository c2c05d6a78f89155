//! Per-call latency of one Redis store operation, for profiling the client
//! path: `cargo run --release -p skipstore-compare --features redis
//! --example redis_calls -- STORE OP CALLS [TASKS]` with STORE `entelix` or
//! `skipstore`, OP `get`, `put` or `put-ttl`.
//!
//! It starts its own `redis-server`, writes 1,000 rows, then runs CALLS
//! calls on each of TASKS tasks (one by default), and prints the wall µs
//! per call, the calls per second, this process's CPU µs per call and the
//! server's `INFO commandstats` lines for the commands the store sent. Run
//! it under `perf record` or `valgrind --tool=callgrind` to see where a
//! call's time goes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, PutOptions, Store};
use skipstore::redis::RedisStore;
use skipstore::redis::local::LocalRedis;

type Dyn = Arc<dyn Store<String>>;

fn namespace(i: usize) -> Namespace {
    Namespace::new(TenantId::new("calls"))
        .with_scope(format!("agent-{}", i % 10))
        .with_scope(format!("conv-{i}"))
}

fn value(i: usize) -> String {
    format!("{i:08}: {}", "remembered fact ".repeat(6))
}

async fn open(which: &str, url: &str) -> Result<Dyn, String> {
    match which {
        "entelix" => {
            let store = entelix_persistence::redis::RedisPersistence::builder()
                .with_connection_string(url)
                .connect()
                .await
                .map_err(|e| e.to_string())?
                .store::<String>();
            Ok(Arc::new(store))
        }
        "skipstore" => {
            let store: RedisStore<String> =
                RedisStore::connect(url).await.map_err(|e| e.to_string())?;
            Ok(Arc::new(store))
        }
        other => Err(format!("unknown store {other:?}: entelix or skipstore")),
    }
}

async fn call(store: &Dyn, ctx: &ExecutionContext, op: &str, i: usize) -> Result<(), String> {
    let ns = namespace(i % 10);
    let key = format!("memory:{:03}", (i / 10) % 100);
    let e = |e: entelix_core::Error| e.to_string();
    match op {
        "get" => drop(store.get(ctx, &ns, &key).await.map_err(e)?),
        "put" => store.put(ctx, &ns, &key, value(i)).await.map_err(e)?,
        "put-ttl" => {
            let options = PutOptions::default().with_ttl(Duration::from_secs(60));
            store
                .put_with_options(ctx, &ns, &key, value(i), options)
                .await
                .map_err(e)?;
        }
        other => return Err(format!("unknown op {other:?}: get, put or put-ttl")),
    }
    Ok(())
}

async fn run(url: &str, which: &str, op: &str, calls: usize, tasks: usize) -> Result<(), String> {
    let store = open(which, url).await?;
    let ctx = ExecutionContext::new();
    for i in 0..1_000 {
        store
            .put(
                &ctx,
                &namespace(i % 10),
                &format!("memory:{:03}", (i / 10) % 100),
                value(i),
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut admin = redis::Client::open(url)
        .map_err(|e| e.to_string())?
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .exec_async(&mut admin)
        .await
        .map_err(|e| e.to_string())?;
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|t| {
            let store = Arc::clone(&store);
            let op = op.to_owned();
            tokio::spawn(async move {
                let ctx = ExecutionContext::new();
                for i in 0..calls {
                    call(&store, &ctx, &op, i * 7 + t).await?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let total = (calls * tasks) as f64;
    println!(
        "{which} {op} x{calls} on {tasks} task(s): {:.2} µs per call per task, {:.1} k calls/s, \
         client CPU {:.2} µs per call",
        elapsed * 1e6 / calls as f64,
        total / elapsed / 1e3,
        cpu * 1e6 / total
    );
    // What the server did: calls and µs per call of each command, and so
    // rows per script call when puts are batched.
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut admin)
        .await
        .map_err(|e| e.to_string())?;
    for line in stats.lines().filter(|l| {
        ["cmdstat_get:", "cmdstat_set:", "cmdstat_evalsha:"]
            .iter()
            .any(|c| l.starts_with(c))
    }) {
        println!("  {line}");
    }
    Ok(())
}

/// This process's CPU time (user + system, every thread), from
/// `/proc/self/stat` (clock ticks of 10 ms; 0 where it cannot be read).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields 14 and 15 (utime, stime) follow the command name's `)`.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|t| t.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [which, op, calls, rest @ ..] = args.as_slice() else {
        return Err("usage: redis_calls entelix|skipstore get|put|put-ttl CALLS [TASKS]".into());
    };
    let calls: usize = calls.parse().map_err(|e| format!("CALLS: {e}"))?;
    let tasks: usize = match rest.first() {
        Some(t) => t.parse().map_err(|e| format!("TASKS: {e}"))?,
        None => 1,
    };
    let server = LocalRedis::start().map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let out = runtime.block_on(run(&server.url(), which, op, calls, tasks));
    drop(server);
    out
}
