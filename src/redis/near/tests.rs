//! The fill/invalidation race, forced: a fill is paused between its answer
//! from Redis and its install (the tier's test gate) while the key is
//! rewritten, then released. These need the crate's test-only gate, so they
//! live here rather than in `tests/`.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, Store};

use super::NearCache;
use super::tier::Gate;
use crate::redis::local::LocalRedis;
use crate::sync::{Arc, lock};

fn ns() -> Namespace {
    Namespace::new(TenantId::new("acme")).with_scope("agent")
}

/// A cache whose heartbeat a loaded machine never misses: a missed one (a
/// `PING` answered later than a heartbeat) counts as a lost link and clears
/// the tier, which in the middle of these tests loses the invalidation they
/// wait for or adds a reconnection they count (they failed so under load
/// with a 50 ms heartbeat). The loss they cause, a killed connection, is
/// noticed at once without it.
async fn cache(server: &LocalRedis) -> NearCache<String> {
    NearCache::builder()
        .url(server.url())
        .key_prefix("race:")
        .heartbeat(Duration::from_secs(30))
        .build()
        .await
        .unwrap()
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Returns once `cache` has processed the invalidations of every write made
/// so far: a later write of another key (of another stripe) is seen, and
/// pushes arrive in order. Without this, the push of an earlier write could
/// move `k`'s generation in the middle of a test.
async fn settle(cache: &NearCache<String>) {
    let tier = &cache.inner.tier;
    let barrier = (0..)
        .map(|i| format!("barrier-{i}"))
        .find(|b| tier.stripe(&ns(), b) != tier.stripe(&ns(), "k"))
        .unwrap();
    let before = tier.generation(&ns(), &barrier);
    let ctx = ExecutionContext::new();
    cache
        .remote()
        .put(&ctx, &ns(), &barrier, "x".into())
        .await
        .unwrap();
    until("the barrier's invalidation", || {
        tier.generation(&ns(), &barrier) != before
    })
    .await;
}

/// Starts `cache.get(k)` with the gate set, and returns once its answer
/// from Redis is in hand (not yet installed).
async fn paused_read(
    cache: &NearCache<String>,
) -> (Arc<Gate>, tokio::task::JoinHandle<Option<String>>) {
    let gate = Arc::new(Gate::default());
    *lock(&cache.inner.tier.gate) = Some(Arc::clone(&gate));
    let reader = tokio::spawn({
        let cache = cache.clone();
        async move {
            cache
                .get(&ExecutionContext::new(), &ns(), "k")
                .await
                .unwrap()
        }
    });
    gate.reached.notified().await;
    (gate, reader)
}

/// The client ids of the server's tracking connections (by client name).
async fn tracking_ids(plain: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(plain)
        .await
        .unwrap();
    let needle = format!("name={}", super::TRACKING_CLIENT_NAME);
    clients
        .lines()
        .filter(|line| line.split(' ').any(|field| field == needle))
        .filter_map(|line| Some(line.split(' ').next()?.strip_prefix("id=")?.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_overtaken_by_an_invalidation_is_not_installed() {
    let server = LocalRedis::start().unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = (cache(&server).await, cache(&server).await);
    let ctx = ExecutionContext::new();
    b.put(&ctx, &ns(), "k", "old".into()).await.unwrap();
    settle(&a).await;
    let (gate, reader) = paused_read(&a).await;
    // B replaces the row while A's answer is in flight; A processes the
    // invalidation before its fill tries to install.
    let generation = a.inner.tier.generation(&ns(), "k");
    b.put(&ctx, &ns(), "k", "new".into()).await.unwrap();
    until("A to process the invalidation", || {
        a.inner.tier.generation(&ns(), "k") != generation
    })
    .await;
    gate.release.notify_one();
    // The read itself was concurrent with the write: either answer is fine.
    assert_eq!(reader.await.unwrap().as_deref(), Some("old"));
    // What matters: the stale answer was not kept.
    assert_eq!(
        a.get(&ctx, &ns(), "k").await.unwrap().as_deref(),
        Some("new")
    );
    assert_eq!(
        a.get(&ctx, &ns(), "k").await.unwrap().as_deref(),
        Some("new")
    );
    assert_eq!(a.stats().fills_discarded, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_from_before_a_loss_of_tracking_is_not_installed_after_it() {
    let server = LocalRedis::start().unwrap_or_else(|e| panic!("{e}"));
    let a = cache(&server).await;
    let ctx = ExecutionContext::new();
    a.put(&ctx, &ns(), "k", "old".into()).await.unwrap();
    settle(&a).await;
    let (gate, reader) = paused_read(&a).await;
    // The tracking link dies and the row changes in one transaction, so no
    // invalidation will ever name the change; then the link comes back.
    // Patient: redis-rs's default 500 ms for an answer is too short on a
    // loaded machine.
    let patient = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(10)))
        .set_response_timeout(Some(Duration::from_secs(10)));
    let client = redis::Client::open(server.url()).unwrap();
    let mut plain = client
        .get_multiplexed_async_connection_with_config(&patient)
        .await
        .unwrap();
    let ids = tracking_ids(&mut plain).await;
    assert_eq!(ids.len(), 1);
    let row = a.remote().row_key(&ns(), "k");
    let _: () = redis::pipe()
        .atomic()
        .cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(&ids[0])
        .ignore()
        .cmd("SET")
        .arg(&row)
        .arg("-;\"new\"")
        .ignore()
        .query_async(&mut plain)
        .await
        .unwrap();
    until("A to track again", || {
        let stats = a.stats();
        stats.reconnects == 1 && stats.tracking
    })
    .await;
    gate.release.notify_one();
    assert_eq!(reader.await.unwrap().as_deref(), Some("old"));
    assert_eq!(
        a.get(&ctx, &ns(), "k").await.unwrap().as_deref(),
        Some("new")
    );
    assert_eq!(
        a.get(&ctx, &ns(), "k").await.unwrap().as_deref(),
        Some("new")
    );
    assert_eq!(a.stats().fills_discarded, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_of_one_key_share_one_request() {
    let server = LocalRedis::start().unwrap_or_else(|e| panic!("{e}"));
    let a = cache(&server).await;
    let ctx = ExecutionContext::new();
    a.put(&ctx, &ns(), "k", "v".into()).await.unwrap();
    settle(&a).await;
    let (gate, leader) = paused_read(&a).await;
    let followers: Vec<_> = (0..3)
        .map(|_| {
            let a = a.clone();
            tokio::spawn(async move { a.get(&ExecutionContext::new(), &ns(), "k").await.unwrap() })
        })
        .collect();
    until("the followers to join", || a.stats().shared_fetches == 3).await;
    gate.release.notify_one();
    assert_eq!(leader.await.unwrap().as_deref(), Some("v"));
    for follower in followers {
        assert_eq!(follower.await.unwrap().as_deref(), Some("v"));
    }
    let stats = a.stats();
    assert_eq!((stats.misses, stats.fills, stats.shared_fetches), (4, 1, 3));
    assert_eq!(a.get(&ctx, &ns(), "k").await.unwrap().as_deref(), Some("v"));
    assert_eq!(a.stats().local_hits, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_leader_lets_its_waiters_fetch_on_their_own() {
    let server = LocalRedis::start().unwrap_or_else(|e| panic!("{e}"));
    let a = cache(&server).await;
    let ctx = ExecutionContext::new();
    a.put(&ctx, &ns(), "k", "v".into()).await.unwrap();
    settle(&a).await;
    let (_gate, leader) = paused_read(&a).await;
    let follower = tokio::spawn({
        let a = a.clone();
        async move { a.get(&ExecutionContext::new(), &ns(), "k").await.unwrap() }
    });
    until("the follower to join", || a.stats().shared_fetches == 1).await;
    leader.abort();
    assert_eq!(follower.await.unwrap().as_deref(), Some("v"));
}
