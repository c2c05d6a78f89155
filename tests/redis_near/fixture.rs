//! Servers, replicas and plain connections for the near-cache tests.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use entelix_core::TenantId;
use entelix_memory::Namespace;
use redis::aio::MultiplexedConnection;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use skipstore::redis::local::{LocalCluster, LocalRedis};
use skipstore::redis::{NearCache, TRACKING_CLIENT_NAME};

static NEXT_PREFIX: AtomicU64 = AtomicU64::new(0);

/// How long a change may take to reach another replica before a test
/// fails: generous, since this is a correctness check on a loaded machine.
pub const PROPAGATION: Duration = Duration::from_secs(20);

/// A server of this test's own; panics with the install hint without one.
pub fn server() -> LocalRedis {
    LocalRedis::start().unwrap_or_else(|e| panic!("cannot start redis-server: {e}"))
}

/// A fresh key prefix, so that tests never meet each other's rows.
pub fn prefix() -> String {
    format!("near{}:", NEXT_PREFIX.fetch_add(1, Ordering::Relaxed))
}

pub fn ns() -> Namespace {
    Namespace::new(TenantId::new("acme")).with_scope("agent")
}

/// The heartbeat of the replicas of these tests: long enough that a
/// loaded machine never misses one. A missed heartbeat (its `PING` answered
/// later than one heartbeat) counts as a lost link and clears the tier, so
/// a short one lets a slow moment clear a replica in the middle of a test
/// that counts hits, waits for an invalidation or counts reconnections
/// (the race tests did fail so under load with 50 ms). The losses these
/// tests cause close connections, which the replicas notice at once; the
/// tests of the heartbeat itself ask for a short one.
pub const QUIET_HEARTBEAT: Duration = Duration::from_secs(30);

/// One replica: its own data and tracking connections, a
/// [`QUIET_HEARTBEAT`], one reconnection attempt (so that fault tests move
/// quickly: a call on a dead server fails in well under a second, where the
/// defaults take about 6 s), and a 5 s connect and 10 s response timeout: a
/// live server can take over a second to accept or answer on a loaded
/// machine (a replica failed to connect with 200 ms, a read to answer with
/// 1 s), while a dead one's port refuses at once, without waiting for them.
pub async fn replica(url: &str, prefix: &str) -> NearCache<String> {
    replica_with_heartbeat(url, prefix, QUIET_HEARTBEAT).await
}

/// [`replica`] with a heartbeat of `every`.
pub async fn replica_with_heartbeat(url: &str, prefix: &str, every: Duration) -> NearCache<String> {
    NearCache::builder()
        .url(url)
        .key_prefix(prefix)
        .heartbeat(every)
        .connect_timeout(Duration::from_secs(5))
        .retries(1)
        .response_timeout(Duration::from_secs(10))
        .build()
        .await
        .unwrap()
}

/// `n` replicas of one prefix on `server`.
pub async fn replicas(server: &LocalRedis, n: usize) -> Vec<NearCache<String>> {
    let prefix = prefix();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(replica(&server.url(), &prefix).await);
    }
    out
}

/// How long a plain connection waits to connect and for each answer:
/// redis-rs's defaults (1 s, 500 ms) were exceeded on a loaded machine.
const PATIENT: Duration = Duration::from_secs(10);

/// A plain connection, as `redis-cli` would use.
pub async fn plain(url: &str) -> MultiplexedConnection {
    let patient = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(PATIENT))
        .set_response_timeout(Some(PATIENT));
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection_with_config(&patient)
        .await
        .unwrap()
}

/// Polls `check` until it holds; panics naming `what` after
/// [`PROPAGATION`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < PROPAGATION,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The client ids of the server's tracking connections (by client name).
pub async fn tracking_ids(conn: &mut MultiplexedConnection) -> Vec<String> {
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(conn)
        .await
        .unwrap();
    let needle = format!("name={TRACKING_CLIENT_NAME}");
    clients
        .lines()
        .filter(|line| line.split(' ').any(|field| field == needle))
        .filter_map(|line| Some(line.split(' ').next()?.strip_prefix("id=")?.to_owned()))
        .collect()
}

/// Kills the connections `ids` and sets `row`'s value to `json` in one
/// transaction on `conn`'s server, so no invalidation of the write reaches
/// the killed links.
pub async fn kill_and_write(
    conn: &mut MultiplexedConnection,
    ids: &[String],
    row: &str,
    json: &str,
) {
    let mut kill_and_write = redis::pipe();
    kill_and_write.atomic();
    for id in ids {
        kill_and_write
            .cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .ignore();
    }
    kill_and_write
        .cmd("SET")
        .arg(row)
        .arg(format!("-;{json}"))
        .ignore();
    let _: () = kill_and_write.query_async(conn).await.unwrap();
}

/// Waits until `replica` (number `i`, for the message) tracks again after
/// a loss.
pub async fn tracks_again(i: usize, replica: &NearCache<String>) {
    eventually(&format!("replica {i} to track again"), || async {
        let stats = replica.stats();
        stats.tracking && stats.reconnects >= 1
    })
    .await;
}

/// A 3-master cluster of this test's own.
pub fn cluster() -> LocalCluster {
    LocalCluster::start().unwrap_or_else(|e| panic!("cannot start a redis cluster: {e}"))
}

/// One replica on a cluster: as [`replica`] (a [`QUIET_HEARTBEAT`], a 10 s
/// response timeout, a 5 s connect timeout).
pub async fn cluster_replica(nodes: &[String], prefix: &str) -> NearCache<String> {
    cluster_replica_with_heartbeat(nodes, prefix, QUIET_HEARTBEAT).await
}

/// [`cluster_replica`] with a heartbeat of `every` (each checks three
/// links and re-reads the masters).
pub async fn cluster_replica_with_heartbeat(
    nodes: &[String],
    prefix: &str,
    every: Duration,
) -> NearCache<String> {
    NearCache::builder()
        .cluster_nodes(nodes.iter().cloned())
        .key_prefix(prefix)
        .heartbeat(every)
        .connect_timeout(Duration::from_secs(5))
        .response_timeout(Duration::from_secs(10))
        .build()
        .await
        .unwrap()
}

/// `n` replicas of one prefix on `cluster`.
pub async fn cluster_replicas(cluster: &LocalCluster, n: usize) -> Vec<NearCache<String>> {
    let prefix = prefix();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(cluster_replica(&cluster.urls(), &prefix).await);
    }
    out
}

/// A plain cluster connection, as `redis-cli -c` would use.
pub async fn plain_cluster(cluster: &LocalCluster) -> ClusterConnection {
    ClusterClient::builder(cluster.urls())
        .connection_timeout(PATIENT)
        .response_timeout(PATIENT)
        .build()
        .unwrap()
        .get_async_connection()
        .await
        .unwrap()
}

/// The index of the node that holds `key` (the others answer `MOVED`).
pub async fn owner(cluster: &LocalCluster, key: &str) -> usize {
    let mut owners = Vec::new();
    for (i, url) in cluster.urls().iter().enumerate() {
        let reply: redis::RedisResult<String> = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut plain(url).await)
            .await;
        if reply.is_ok() {
            owners.push(i);
        }
    }
    assert_eq!(owners.len(), 1, "{key} is held by {owners:?}");
    owners[0]
}
