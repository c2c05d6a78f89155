//! The store's behaviour on one server and on a cluster, beyond the shared
//! contract suite: TTL details, eviction counts, index hygiene.

use std::time::Duration;

use entelix_core::{ExecutionContext, Result, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};
use skipstore::redis::RedisStore;

use super::fixture;

fn ns(tenant: &str, scope: &[&str]) -> Namespace {
    scope
        .iter()
        .fold(Namespace::new(TenantId::new(tenant)), |ns, s| {
            ns.with_scope(*s)
        })
}

fn ttl(d: Duration) -> PutOptions {
    PutOptions::default().with_ttl(d)
}

/// Puts, gets, lists, deletes through the trait.
async fn round_trip(store: &RedisStore<String>) -> Result<()> {
    let ctx = ExecutionContext::new();
    let a = ns("acme", &["agent-a"]);
    let child = ns("acme", &["agent-a", "conv"]);
    store.put(&ctx, &a, "b", "2".into()).await?;
    store.put(&ctx, &a, "a", "1".into()).await?;
    store.put(&ctx, &a, "a*", "3".into()).await?;
    store.put(&ctx, &child, "c", "4".into()).await?;
    assert_eq!(store.get(&ctx, &a, "a").await?.as_deref(), Some("1"));
    assert_eq!(store.get(&ctx, &a, "zz").await?, None);
    assert_eq!(store.list(&ctx, &a, None).await?, ["a", "a*", "b"]);
    assert_eq!(store.list(&ctx, &a, Some("a*")).await?, ["a*"]);
    assert_eq!(store.list(&ctx, &a, Some("")).await?, ["a", "a*", "b"]);
    let prefix = NamespacePrefix::new(TenantId::new("acme"));
    assert_eq!(
        store.list_namespaces(&ctx, &prefix).await?,
        [a.clone(), child.clone()]
    );
    let narrow = NamespacePrefix::from(&child);
    assert_eq!(
        store.list_namespaces(&ctx, &narrow).await?,
        std::slice::from_ref(&child)
    );
    store.delete(&ctx, &child, "c").await?;
    store.delete(&ctx, &child, "c").await?;
    assert_eq!(
        store.list_namespaces(&ctx, &prefix).await?,
        std::slice::from_ref(&a)
    );
    assert_eq!(store.get(&ctx, &child, "c").await?, None);
    Ok(())
}

#[tokio::test]
async fn round_trip_on_one_server() -> Result<()> {
    let server = fixture::server();
    round_trip(&fixture::store(&server).await).await
}

#[tokio::test]
async fn round_trip_on_a_cluster() -> Result<()> {
    let cluster = fixture::cluster();
    round_trip(&fixture::cluster_store(&cluster).await).await
}

/// TTL edge cases and exact eviction counts.
async fn ttls(store: &RedisStore<u32>) -> Result<()> {
    let ctx = ExecutionContext::new();
    let n = ns("t", &["s"]);
    store
        .put_with_options(&ctx, &n, "zero", 0, ttl(Duration::ZERO))
        .await?;
    store
        .put_with_options(&ctx, &n, "max", 1, ttl(Duration::MAX))
        .await?;
    store
        .put_with_options(&ctx, &n, "sub", 2, ttl(Duration::from_micros(300)))
        .await?;
    store
        .put_with_options(&ctx, &n, "long", 3, ttl(Duration::from_secs(60)))
        .await?;
    assert_eq!(store.get(&ctx, &n, "zero").await?, None);
    assert_eq!(store.get(&ctx, &n, "max").await?, Some(1));
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(
        store.get(&ctx, &n, "sub").await?,
        None,
        "a 300 us TTL is over"
    );
    assert_eq!(store.list(&ctx, &n, None).await?, ["long", "max"]);
    assert_eq!(store.evict_expired(&ctx).await?, 2);
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    // Only expired rows: the namespace is not listed, then evicted.
    let gone = ns("t", &["gone"]);
    store
        .put_with_options(&ctx, &gone, "k", 4, ttl(Duration::from_millis(1)))
        .await?;
    tokio::time::sleep(Duration::from_millis(3)).await;
    let all = NamespacePrefix::new(TenantId::new("t"));
    assert_eq!(
        store.list_namespaces(&ctx, &all).await?,
        std::slice::from_ref(&n)
    );
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    // A later write replaces an earlier TTL entirely.
    store
        .put_with_options(&ctx, &n, "long", 5, ttl(Duration::from_millis(1)))
        .await?;
    store.put(&ctx, &n, "long", 6).await?;
    tokio::time::sleep(Duration::from_millis(3)).await;
    assert_eq!(store.get(&ctx, &n, "long").await?, Some(6));
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    Ok(())
}

#[tokio::test]
async fn ttls_on_one_server() -> Result<()> {
    let server = fixture::server();
    ttls(&fixture::store(&server).await).await
}

#[tokio::test]
async fn ttls_on_a_cluster() -> Result<()> {
    let cluster = fixture::cluster();
    ttls(&fixture::cluster_store(&cluster).await).await
}

/// Under TTL churn the indexes stay bounded without `evict_expired`: writes
/// with a TTL remove rows expired for over a second.
#[tokio::test]
async fn ttl_churn_keeps_the_indexes_bounded() -> Result<()> {
    let server = fixture::server();
    let prefix = fixture::prefix();
    let store: RedisStore<u32> = RedisStore::builder()
        .url(server.url())
        .key_prefix(prefix.clone())
        .build()
        .await?;
    let ctx = ExecutionContext::new();
    let n = ns("churn", &["s"]);
    let short = ttl(Duration::from_millis(1));
    for i in 0..500 {
        store
            .put_with_options(&ctx, &n, &format!("old{i}"), i, short.clone())
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    for i in 0..200 {
        store
            .put_with_options(&ctx, &n, &format!("new{i}"), i, short.clone())
            .await?;
    }
    let conn = fixture::raw(&server.url()).await;
    let card = |key: String| {
        let mut conn = conn.clone();
        async move {
            redis::cmd("ZCARD")
                .arg(key)
                .query_async::<usize>(&mut conn)
                .await
                .unwrap()
        }
    };
    let deadlines = card(format!("{prefix}{{churn}}\\d")).await;
    let keys = card(format!("{prefix}{{churn}}\\n:s")).await;
    assert!(
        deadlines <= 200 && keys <= 200,
        "{deadlines} deadlines, {keys} keys held"
    );
    // The last rows' 1 ms must be over before they count as expired.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(store.evict_expired(&ctx).await?, deadlines);
    assert_eq!(card(format!("{prefix}{{churn}}\\d")).await, 0);
    assert_eq!(
        card(format!("{prefix}\\t")).await,
        0,
        "the tenant left the registry"
    );
    drop(conn);
    Ok(())
}
