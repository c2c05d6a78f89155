//! The string row's TTL transitions (layout version 2): an overwrite is one
//! plain `SET ... XX GET`, and the deadline index holds lower-bound hints
//! that whatever removes rows settles against the row's header. Each
//! transition is checked through the trait (on one server and a cluster)
//! and, on one server, against the indexes themselves: every row with a
//! TTL has a hint at most its deadline, and nothing else lingers.

use std::time::Duration;

use entelix_core::{Error, ExecutionContext, Result, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};
use redis::aio::MultiplexedConnection;
use skipstore::redis::RedisStore;

use super::fixture;

const TENANT: &str = "acme";

fn ns() -> Namespace {
    Namespace::new(TenantId::new(TENANT)).with_scope("agent")
}

fn ttl(d: Duration) -> PutOptions {
    PutOptions::default().with_ttl(d)
}

fn tenant() -> NamespacePrefix {
    NamespacePrefix::new(TenantId::new(TENANT))
}

const SHORT: Duration = Duration::from_millis(40);
const PAST_SHORT: Duration = Duration::from_millis(60);
const LONG: Duration = Duration::from_secs(600);

/// A store under a known prefix, with a plain connection to look at its
/// indexes.
struct Rig {
    _server: skipstore::redis::local::LocalRedis,
    store: RedisStore<u32>,
    prefix: String,
    raw: MultiplexedConnection,
}

impl Rig {
    async fn new() -> Self {
        let server = fixture::server();
        let prefix = fixture::prefix();
        let store = RedisStore::builder()
            .url(server.url())
            .key_prefix(prefix.clone())
            .build()
            .await
            .unwrap();
        let raw = fixture::raw(&server.url()).await;
        Self {
            _server: server,
            store,
            prefix,
            raw,
        }
    }

    fn deadlines(&self) -> String {
        format!("{}{{{TENANT}}}\\d", self.prefix)
    }

    /// The hint of `key` in `ns()`, if any (µs).
    async fn hint(&self, key: &str) -> Option<u64> {
        let mut raw = self.raw.clone();
        redis::cmd("ZSCORE")
            .arg(self.deadlines())
            .arg(format!(":agent\\k{key}"))
            .query_async::<Option<f64>>(&mut raw)
            .await
            .unwrap()
            .map(|s| s as u64)
    }

    async fn hints(&self) -> usize {
        let mut raw = self.raw.clone();
        redis::cmd("ZCARD")
            .arg(self.deadlines())
            .query_async(&mut raw)
            .await
            .unwrap()
    }

    async fn registered(&self) -> bool {
        let mut raw = self.raw.clone();
        redis::cmd("ZSCORE")
            .arg(format!("{}\\t", self.prefix))
            .arg(TENANT)
            .query_async::<Option<f64>>(&mut raw)
            .await
            .unwrap()
            .is_some()
    }

    /// The row's deadline from its header (`None`: absent or no TTL).
    async fn deadline(&self, key: &str) -> Option<u64> {
        let mut raw = self.raw.clone();
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.store.row_key(&ns(), key))
            .query_async(&mut raw)
            .await
            .unwrap();
        let value = value?;
        let end = value.iter().position(|&b| b == b';').unwrap();
        std::str::from_utf8(&value[..end]).unwrap().parse().ok()
    }

    /// Whether the index invariant holds for `key` (see
    /// [`Self::assert_covered`]).
    async fn covered(&self, key: &str) -> bool {
        match self.deadline(key).await {
            Some(deadline) => self.hint(key).await.is_some_and(|h| h <= deadline),
            None => true,
        }
    }

    /// The index invariant: a row with a TTL has a hint at most its
    /// deadline.
    async fn assert_covered(&self, key: &str) {
        if let Some(deadline) = self.deadline(key).await {
            let hint = self.hint(key).await;
            assert!(
                hint.is_some_and(|h| h <= deadline),
                "{key}: deadline {deadline}, hint {hint:?}"
            );
        }
    }
}

/// What a reader sees of `key` once its row is dead: nothing, anywhere.
async fn assert_gone(store: &RedisStore<u32>, key: &str) -> Result<()> {
    let ctx = ExecutionContext::new();
    assert_eq!(store.get(&ctx, &ns(), key).await?, None);
    assert!(
        !store
            .list(&ctx, &ns(), None)
            .await?
            .contains(&key.to_owned())
    );
    Ok(())
}

/// No TTL, then a TTL: the row gains its hint, expires on time everywhere
/// (get, list, list_namespaces), and evict_expired counts it once.
///
/// `Ok(false)` when the machine was too slow to read the row back within
/// its [`SHORT`] TTL (the read found it gone on a loaded machine): that
/// proves nothing, and the caller runs it again on a fresh store.
async fn no_ttl_then_ttl(store: &RedisStore<u32>) -> Result<bool> {
    let ctx = ExecutionContext::new();
    store.put(&ctx, &ns(), "k", 1).await?;
    let written = std::time::Instant::now();
    store
        .put_with_options(&ctx, &ns(), "k", 2, ttl(SHORT))
        .await?;
    let got = store.get(&ctx, &ns(), "k").await?;
    let listed = store.list(&ctx, &ns(), None).await?;
    if written.elapsed() >= SHORT {
        return Ok(false);
    }
    assert_eq!(got, Some(2));
    assert_eq!(listed, ["k"]);
    tokio::time::sleep(PAST_SHORT).await;
    assert_gone(store, "k").await?;
    assert!(store.list_namespaces(&ctx, &tenant()).await?.is_empty());
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    Ok(true)
}

/// How many times a test whose round ran too slowly to prove anything is
/// run again before it gives up.
const ROUNDS: usize = 20;

#[tokio::test]
async fn no_ttl_then_ttl_expires_on_time() -> Result<()> {
    for _ in 0..ROUNDS {
        if no_ttl_then_ttl_round().await? {
            return Ok(());
        }
    }
    panic!("no round kept up with a {SHORT:?} TTL");
}

async fn no_ttl_then_ttl_round() -> Result<bool> {
    let rig = Rig::new().await;
    let ctx = ExecutionContext::new();
    rig.store.put(&ctx, &ns(), "k", 1).await?;
    assert_eq!(rig.hints().await, 0);
    rig.store
        .put_with_options(&ctx, &ns(), "k", 2, ttl(LONG))
        .await?;
    rig.assert_covered("k").await;
    assert!(rig.registered().await, "the tenant joined the registry");
    rig.store.delete(&ctx, &ns(), "k").await?;
    assert_eq!(rig.hints().await, 0);
    if !no_ttl_then_ttl(&rig.store).await? {
        return Ok(false);
    }
    assert_eq!(rig.hints().await, 0);
    assert!(!rig.registered().await, "the tenant left the registry");
    Ok(true)
}

#[tokio::test]
async fn no_ttl_then_ttl_on_a_cluster() -> Result<()> {
    let cluster = fixture::cluster();
    for _ in 0..ROUNDS {
        if no_ttl_then_ttl(&fixture::cluster_store(&cluster).await).await? {
            return Ok(());
        }
    }
    panic!("no round kept up with a {SHORT:?} TTL");
}

/// A TTL, then a longer one: the old hint stays, a lower bound; at the old
/// deadline nothing is removed or counted, and the hint moves to the real
/// deadline.
async fn ttl_then_longer(store: &RedisStore<u32>) -> Result<()> {
    let ctx = ExecutionContext::new();
    store
        .put_with_options(&ctx, &ns(), "k", 1, ttl(SHORT))
        .await?;
    store
        .put_with_options(&ctx, &ns(), "k", 2, ttl(LONG))
        .await?;
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(
        store.evict_expired(&ctx).await?,
        0,
        "a live row was counted"
    );
    assert_eq!(store.get(&ctx, &ns(), "k").await?, Some(2));
    assert_eq!(store.list(&ctx, &ns(), None).await?, ["k"]);
    assert_eq!(store.list_namespaces(&ctx, &tenant()).await?, [ns()]);
    Ok(())
}

#[tokio::test]
async fn a_stale_hint_never_removes_an_extended_row() -> Result<()> {
    let rig = Rig::new().await;
    let ctx = ExecutionContext::new();
    ttl_then_longer(&rig.store).await?;
    let deadline = rig.deadline("k").await.unwrap();
    assert_eq!(
        rig.hint("k").await,
        Some(deadline),
        "evict re-scored the hint"
    );
    // The same through list_namespaces and a write's trim: a fresh stale
    // hint, settled by each.
    rig.store
        .put_with_options(&ctx, &ns(), "l", 1, ttl(SHORT))
        .await?;
    rig.store
        .put_with_options(&ctx, &ns(), "l", 2, ttl(LONG))
        .await?;
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(rig.store.list_namespaces(&ctx, &tenant()).await?, [ns()]);
    assert_eq!(rig.hint("l").await, rig.deadline("l").await);
    assert_eq!(rig.store.get(&ctx, &ns(), "l").await?, Some(2));
    // And by the trim of a write that adds a hint, once the stale one is
    // over a second old.
    rig.store
        .put_with_options(&ctx, &ns(), "m", 1, ttl(SHORT))
        .await?;
    rig.store.put(&ctx, &ns(), "m", 2).await?;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    rig.store
        .put_with_options(&ctx, &ns(), "n", 3, ttl(LONG))
        .await?;
    assert_eq!(rig.hint("m").await, None, "the trim kept a stale hint");
    assert_eq!(rig.store.get(&ctx, &ns(), "m").await?, Some(2));
    assert_eq!(
        rig.store.list(&ctx, &ns(), None).await?,
        ["k", "l", "m", "n"]
    );
    assert_eq!(rig.store.evict_expired(&ctx).await?, 0);
    Ok(())
}

#[tokio::test]
async fn ttl_then_longer_on_a_cluster() -> Result<()> {
    let cluster = fixture::cluster();
    ttl_then_longer(&fixture::cluster_store(&cluster).await).await
}

/// A TTL, then none: the stale hint never removes the row, and leaves at
/// the first sweep past it.
async fn ttl_then_none(store: &RedisStore<u32>) -> Result<()> {
    let ctx = ExecutionContext::new();
    store
        .put_with_options(&ctx, &ns(), "k", 1, ttl(SHORT))
        .await?;
    store.put(&ctx, &ns(), "k", 2).await?;
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(store.list_namespaces(&ctx, &tenant()).await?, [ns()]);
    assert_eq!(
        store.evict_expired(&ctx).await?,
        0,
        "a live row was counted"
    );
    assert_eq!(store.get(&ctx, &ns(), "k").await?, Some(2));
    assert_eq!(store.list(&ctx, &ns(), None).await?, ["k"]);
    Ok(())
}

#[tokio::test]
async fn ttl_then_none_drops_the_stale_hint() -> Result<()> {
    let rig = Rig::new().await;
    ttl_then_none(&rig.store).await?;
    assert_eq!(rig.hints().await, 0);
    let ctx = ExecutionContext::new();
    assert_eq!(rig.store.evict_expired(&ctx).await?, 0);
    assert!(!rig.registered().await, "the tenant left the registry");
    Ok(())
}

#[tokio::test]
async fn ttl_then_none_on_a_cluster() -> Result<()> {
    let cluster = fixture::cluster();
    ttl_then_none(&fixture::cluster_store(&cluster).await).await
}

/// A TTL, then a shorter one: the hint moves down, and the row expires at
/// the shorter deadline everywhere.
async fn ttl_then_shorter(store: &RedisStore<u32>) -> Result<()> {
    let ctx = ExecutionContext::new();
    store
        .put_with_options(&ctx, &ns(), "k", 1, ttl(LONG))
        .await?;
    store
        .put_with_options(&ctx, &ns(), "k", 2, ttl(SHORT))
        .await?;
    tokio::time::sleep(PAST_SHORT).await;
    assert_gone(store, "k").await?;
    assert!(store.list_namespaces(&ctx, &tenant()).await?.is_empty());
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    Ok(())
}

#[tokio::test]
async fn ttl_then_shorter_moves_the_hint_down() -> Result<()> {
    let rig = Rig::new().await;
    let ctx = ExecutionContext::new();
    rig.store
        .put_with_options(&ctx, &ns(), "x", 1, ttl(LONG))
        .await?;
    rig.store
        .put_with_options(&ctx, &ns(), "x", 2, ttl(Duration::from_secs(60)))
        .await?;
    rig.assert_covered("x").await;
    rig.store.delete(&ctx, &ns(), "x").await?;
    ttl_then_shorter(&rig.store).await?;
    assert_eq!(rig.hints().await, 0);
    Ok(())
}

#[tokio::test]
async fn ttl_then_shorter_on_a_cluster() -> Result<()> {
    let cluster = fixture::cluster();
    ttl_then_shorter(&fixture::cluster_store(&cluster).await).await
}

/// Churn over the same keys, TTLs and none alternating: the deadline index
/// never holds more than one hint per row, every TTL row stays covered,
/// and the sweep at the end counts exactly the rows dead by then.
#[tokio::test]
async fn ttl_churn_over_the_same_keys_stays_bounded_and_exact() -> Result<()> {
    let rig = Rig::new().await;
    let ctx = ExecutionContext::new();
    let keys = 50;
    for round in 0..12u32 {
        for i in 0..keys {
            let key = format!("k{i:02}");
            let options = match (round + i) % 4 {
                0 => PutOptions::default(),
                1 => ttl(Duration::from_millis(1)),
                2 => ttl(LONG),
                _ => ttl(Duration::from_millis(20 + u64::from(i))),
            };
            rig.store
                .put_with_options(&ctx, &ns(), &key, round, options)
                .await?;
        }
        assert!(
            rig.hints().await <= keys as usize,
            "{} hints",
            rig.hints().await
        );
    }
    for i in 0..keys {
        rig.assert_covered(&format!("k{i:02}")).await;
    }
    tokio::time::sleep(Duration::from_millis(120)).await;
    // Round 11 wrote (11 + i) % 4: 1 and 3 are dead by now.
    let dead = (0..keys).filter(|i| matches!((11 + i) % 4, 1 | 3)).count();
    let names: Vec<String> = (0..keys).map(|i| format!("k{i:02}")).collect();
    let live = store_live(&rig.store, &names).await?;
    assert_eq!(live, keys as usize - dead);
    assert_eq!(rig.store.evict_expired(&ctx).await?, dead);
    assert_eq!(rig.store.list(&ctx, &ns(), None).await?.len(), live);
    // What is left: one hint per row that has a TTL (the LONG ones).
    let long = (0..keys).filter(|i| (11 + i) % 4 == 2).count();
    assert_eq!(rig.hints().await, long);
    Ok(())
}

async fn store_live(store: &RedisStore<u32>, keys: &[String]) -> Result<usize> {
    let ctx = ExecutionContext::new();
    let mut live = 0;
    for key in keys {
        live += usize::from(store.get(&ctx, &ns(), key).await?.is_some());
    }
    Ok(live)
}

/// Overwrites that give a row a TTL, cancelled at every point of the two
/// steps: each put succeeds or is cancelled, and either way the row is
/// whole (listed when it has a value), covered by its hint once the
/// background step has run, and gone everywhere after its deadline, with
/// nothing left in the indexes after the sweep.
///
/// The checks hold only if the machine keeps up with the TTL: each row is
/// read before its TTL ends, and no row dies before the last put, since a
/// write over a second (the store's trim grace) after a deadline removes
/// that row in passing, uncounted by the sweep. A round that ran slower
/// than that proves nothing either way (it failed so on a loaded machine
/// with a 200 ms TTL): it is run again on a fresh store with twice the TTL.
/// After the puts, nothing but the sweep removes a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_two_step_puts_leave_nothing_behind() -> Result<()> {
    let mut ttl = Duration::from_millis(200);
    loop {
        if cancelled_two_step_puts(ttl).await? {
            return Ok(());
        }
        ttl *= 2;
        assert!(ttl <= Duration::from_secs(60), "no round kept up");
    }
}

/// One round of [`cancelled_two_step_puts_leave_nothing_behind`] with
/// `row_ttl`; `false` if it ran too slowly to prove anything.
async fn cancelled_two_step_puts(row_ttl: Duration) -> Result<bool> {
    let rig = Rig::new().await;
    let ok = ExecutionContext::new();
    let n = 120;
    for i in 0..n {
        rig.store.put(&ok, &ns(), &format!("k{i:03}"), 0).await?;
    }
    let began = std::time::Instant::now();
    let mut cancelled = 0;
    for i in 0..n {
        let ctx = ExecutionContext::new();
        let key = format!("k{i:03}");
        let canceller = {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                for _ in 0..i % 9 {
                    tokio::task::yield_now().await;
                }
                ctx.cancellation().cancel();
            })
        };
        let put_began = std::time::Instant::now();
        let out = rig
            .store
            .put_with_options(&ctx, &ns(), &key, 1, ttl(row_ttl))
            .await;
        canceller.await.unwrap();
        match out {
            Ok(()) => {}
            Err(Error::Cancelled) => cancelled += 1,
            Err(e) => panic!("{e:?}"),
        }
        let value = rig.store.get(&ok, &ns(), &key).await?;
        let listed = rig.store.list(&ok, &ns(), Some(&key)).await?;
        if put_began.elapsed() >= row_ttl {
            return Ok(false);
        }
        assert!(value.is_some(), "{key}: the row was there before");
        assert!(listed.contains(&key));
    }
    if began.elapsed() >= row_ttl {
        return Ok(false);
    }
    // The second steps of cancelled puts finish in the background.
    for i in 0..n {
        let key = format!("k{i:03}");
        let waiting = std::time::Instant::now();
        while !rig.covered(&key).await {
            assert!(
                waiting.elapsed() < Duration::from_secs(20),
                "{key}: never covered"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Past the last deadline (every put returned before now).
    tokio::time::sleep(row_ttl + PAST_SHORT).await;
    // Rows whose `SET` never ran keep their value without a TTL; every
    // other row is dead now, and counted by the sweep, which comes before
    // anything (`list_namespaces`) that removes long-dead rows in passing.
    let keys: Vec<String> = (0..n).map(|i| format!("k{i:03}")).collect();
    let live = store_live(&rig.store, &keys).await?;
    assert_eq!(rig.store.evict_expired(&ok).await?, n - live);
    let listed = rig.store.list_namespaces(&ok, &tenant()).await?;
    assert_eq!(listed.is_empty(), live == 0, "{listed:?}");
    assert_eq!(
        rig.store.list(&ok, &ns(), None).await?.len(),
        live,
        "a dead row is listed"
    );
    assert_eq!(rig.hints().await, 0, "a hint outlived its row");
    assert!(
        cancelled > 0 && live < n,
        "{cancelled} cancelled, {live} live"
    );
    Ok(true)
}
