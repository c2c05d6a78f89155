//! What the Redis comparisons (`--redis`, `--near`) share: the server they
//! run against (a throwaway local one or a URL), the rows they write, and
//! the server's version and clean-up.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use entelix_core::ExecutionContext;
use entelix_memory::{Namespace, Store};
use skipstore::redis::local::LocalRedis;

/// A store under comparison, as every subject is driven.
pub type Dyn = Arc<dyn Store<String>>;

/// Keys per namespace in the rows written.
pub const KEYS_PER_NS: usize = 100;

/// The tokio runtime and the Redis server a comparison runs on.
pub struct Server {
    // Declared first so that it is dropped first: the local server stops
    // before the runtime shuts down.
    _local: Option<LocalRedis>,
    runtime: tokio::runtime::Runtime,
    url: String,
}

impl Server {
    /// A multi-threaded runtime, and for `target == "local"` a throwaway
    /// `redis-server` on 127.0.0.1 (stopped on drop); any other `target`
    /// is the URL to use.
    pub fn start(target: &str) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let local = if target == "local" {
            Some(LocalRedis::start().map_err(|e| format!("cannot start redis-server: {e}"))?)
        } else {
            None
        };
        let url = local
            .as_ref()
            .map_or_else(|| target.to_owned(), LocalRedis::url);
        Ok(Self {
            _local: local,
            runtime,
            url,
        })
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `future` to completion on the runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

/// The key of row `j` of a namespace.
pub fn key(j: usize) -> String {
    format!("memory:{j:03}")
}

/// The value of row `i`.
pub fn value(i: usize) -> String {
    format!("{i:08}: {}", "remembered fact ".repeat(6))
}

/// Writes rows `0..rows` into `store` from 32 tasks: row `i` is
/// `key(i % KEYS_PER_NS)` in `namespace(i / KEYS_PER_NS)`.
pub async fn fill(
    store: &Dyn,
    rows: usize,
    namespace: fn(usize) -> Namespace,
) -> Result<(), String> {
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let store = Arc::clone(store);
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                let ctx = ExecutionContext::new();
                loop {
                    let i = usize::try_from(next.fetch_add(1, Ordering::Relaxed))
                        .map_err(|e| e.to_string())?;
                    if i >= rows {
                        return Ok::<(), String>(());
                    }
                    store
                        .put(
                            &ctx,
                            &namespace(i / KEYS_PER_NS),
                            &key(i % KEYS_PER_NS),
                            value(i),
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

async fn connection(url: &str) -> Result<redis::aio::MultiplexedConnection, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())
}

/// The server's `redis_version`, or `?` when INFO does not say.
pub async fn server_version(url: &str) -> Result<String, String> {
    let mut conn = connection(url).await?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("?")
        .trim()
        .to_owned())
}

/// Removes what a run wrote: the keys under `prefix`, and entelix's keys of
/// `tenant`.
pub async fn cleanup(url: &str, prefix: &str, tenant: &str) -> Result<(), String> {
    let mut conn = connection(url).await?;
    for pattern in [format!("{prefix}*"), format!("entelix:store:{tenant}:*")] {
        let mut cursor = 0_u64;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            if !keys.is_empty() {
                let _: i64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(())
}
