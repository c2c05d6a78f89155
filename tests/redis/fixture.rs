//! Servers and stores for the tests.

use std::sync::atomic::{AtomicU64, Ordering};

use skipstore::redis::RedisStore;
use skipstore::redis::local::{LocalCluster, LocalRedis};

static NEXT_PREFIX: AtomicU64 = AtomicU64::new(0);

/// A fresh key prefix, so stores of one test never meet another's rows.
pub fn prefix() -> String {
    format!("t{}:", NEXT_PREFIX.fetch_add(1, Ordering::Relaxed))
}

/// A server of this test's own; panics with the install hint without one.
pub fn server() -> LocalRedis {
    LocalRedis::start().unwrap_or_else(|e| panic!("cannot start redis-server: {e}"))
}

/// A 3-master cluster of this test's own.
pub fn cluster() -> LocalCluster {
    LocalCluster::start().unwrap_or_else(|e| panic!("cannot start a redis cluster: {e}"))
}

/// A store on `server` under a fresh prefix.
pub async fn store<V>(server: &LocalRedis) -> RedisStore<V>
where
    V: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    RedisStore::builder()
        .url(server.url())
        .key_prefix(prefix())
        .build()
        .await
        .unwrap()
}

/// A store on `cluster` under a fresh prefix.
pub async fn cluster_store<V>(cluster: &LocalCluster) -> RedisStore<V>
where
    V: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    RedisStore::builder()
        .cluster_nodes(cluster.urls())
        .key_prefix(prefix())
        .build()
        .await
        .unwrap()
}

/// A plain connection, as `redis-cli` would use, that waits up to 10 s to
/// connect and for each answer (redis-rs's defaults, 1 s and 500 ms, were
/// exceeded on a loaded machine: "timed out").
pub async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    let patient = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(std::time::Duration::from_secs(10)))
        .set_response_timeout(Some(std::time::Duration::from_secs(10)));
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection_with_config(&patient)
        .await
        .unwrap()
}
