//! Point operations and isolation: entelix-memory 0.6.1's `tests/basic.rs`,
//! `tests/namespace_collision.rs` and the point cases of `store.rs`'s own
//! tests.

use entelix_memory::{Namespace, NamespacePrefix, PutOptions};

use crate::support::{LONG, PAST_SHORT, SHORT, ctx, ns, t, ttl};
use crate::{CaseResult, Harness};

/// `put`, `get`, `delete`, `get` again.
pub async fn put_get_delete_round_trip<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<i64>().await?;
    let ns = Namespace::new(t("t"));
    let ctx = ctx();
    store.put(&ctx, &ns, "k1", 42).await?;
    assert_eq!(store.get(&ctx, &ns, "k1").await?, Some(42));
    store.delete(&ctx, &ns, "k1").await?;
    assert_eq!(store.get(&ctx, &ns, "k1").await?, None);
    Ok(())
}

/// entelix's `store.rs`: `put_then_get_round_trips`, and a second `put`
/// replaces the value.
pub async fn put_then_get_round_trips<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<String>().await?;
    let ctx = ctx();
    store.put(&ctx, &ns(), "k", "v".into()).await?;
    assert_eq!(store.get(&ctx, &ns(), "k").await?.as_deref(), Some("v"));
    store.put(&ctx, &ns(), "k", "w".into()).await?;
    assert_eq!(store.get(&ctx, &ns(), "k").await?.as_deref(), Some("w"));
    assert_eq!(store.list(&ctx, &ns(), None).await?, vec!["k"]);
    Ok(())
}

/// The same key under two tenants holds two values.
pub async fn tenants_are_isolated<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<i64>().await?;
    let alpha = Namespace::new(t("alpha"));
    let beta = Namespace::new(t("beta"));
    let ctx = ctx();
    store.put(&ctx, &alpha, "k", 1).await?;
    store.put(&ctx, &beta, "k", 2).await?;
    assert_eq!(store.get(&ctx, &alpha, "k").await?, Some(1));
    assert_eq!(store.get(&ctx, &beta, "k").await?, Some(2));
    assert_eq!(store.list(&ctx, &alpha, None).await?, vec!["k"]);
    assert_eq!(store.list(&ctx, &beta, None).await?, vec!["k"]);
    Ok(())
}

/// The same key under two scopes of one tenant holds two values.
pub async fn scope_segments_isolate_namespaces<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<String>().await?;
    let agent_a = Namespace::new(t("tenant")).with_scope("agent-A");
    let agent_b = Namespace::new(t("tenant")).with_scope("agent-B");
    let ctx = ctx();
    store.put(&ctx, &agent_a, "name", "Alice".into()).await?;
    store.put(&ctx, &agent_b, "name", "Bob".into()).await?;
    assert_eq!(
        store.get(&ctx, &agent_a, "name").await?.as_deref(),
        Some("Alice")
    );
    assert_eq!(
        store.get(&ctx, &agent_b, "name").await?.as_deref(),
        Some("Bob")
    );
    Ok(())
}

/// entelix's test sorted the listing itself; the contract here is that
/// `list` is already sorted.
pub async fn list_with_prefix_filters_correctly<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<i32>().await?;
    let ns = Namespace::new(t("t"));
    let ctx = ctx();
    store.put(&ctx, &ns, "user.alice", 1).await?;
    store.put(&ctx, &ns, "user.bob", 2).await?;
    store.put(&ctx, &ns, "agent.helper", 3).await?;
    assert_eq!(
        store.list(&ctx, &ns, Some("user.")).await?,
        vec!["user.alice", "user.bob"]
    );
    assert_eq!(
        store.list(&ctx, &ns, None).await?,
        vec!["agent.helper", "user.alice", "user.bob"]
    );
    Ok(())
}

/// Deleting an absent key succeeds, twice.
pub async fn delete_is_idempotent<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<i32>().await?;
    let ns = Namespace::new(t("t"));
    let ctx = ctx();
    store.delete(&ctx, &ns, "missing").await?;
    store.put(&ctx, &ns, "k", 1).await?;
    store.delete(&ctx, &ns, "k").await?;
    store.delete(&ctx, &ns, "k").await?;
    assert_eq!(store.get(&ctx, &ns, "k").await?, None);
    assert!(store.list(&ctx, &ns, None).await?.is_empty());
    Ok(())
}

/// entelix's `store.rs`: `delete_then_get_returns_none`; the deleted row
/// leaves no listing and no namespace behind.
pub async fn delete_then_get_returns_none<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<String>().await?;
    let ctx = ctx();
    store.put(&ctx, &ns(), "k", "v".into()).await?;
    store.delete(&ctx, &ns(), "k").await?;
    assert!(store.get(&ctx, &ns(), "k").await?.is_none());
    assert!(store.list(&ctx, &ns(), None).await?.is_empty());
    let under_acme = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("acme")))
        .await?;
    assert!(under_acme.is_empty(), "left behind: {under_acme:?}");
    Ok(())
}

/// Every trait method through `Arc<dyn Store<_>>`, `put_with_options` with
/// and without a TTL.
pub async fn dyn_store_supports_every_method<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<String>().await?;
    let ctx = ctx();
    let ns = ns();
    store.put(&ctx, &ns, "a", "1".to_owned()).await?;
    store
        .put_with_options(&ctx, &ns, "b", "2".to_owned(), ttl(LONG))
        .await?;
    store
        .put_with_options(&ctx, &ns, "c", "3".to_owned(), PutOptions::default())
        .await?;
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["a", "b", "c"]);
    assert_eq!(store.get(&ctx, &ns, "b").await?.as_deref(), Some("2"));
    store
        .put_with_options(&ctx, &ns, "b", "2".to_owned(), ttl(SHORT))
        .await?;
    h.advance(PAST_SHORT).await;
    assert_eq!(store.get(&ctx, &ns, "b").await?, None);
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["a", "c"]);
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    assert_eq!(
        store
            .list_namespaces(&ctx, &NamespacePrefix::from(&ns))
            .await?,
        vec![ns.clone()]
    );
    store.delete(&ctx, &ns, "a").await?;
    store.delete(&ctx, &ns, "c").await?;
    assert!(
        store
            .list_namespaces(&ctx, &NamespacePrefix::new(t("acme")))
            .await?
            .is_empty()
    );
    Ok(())
}

/// entelix's `namespace_collision.rs`: two tenants with the same scope and
/// key never see each other's rows, listings or deletes.
pub async fn distinct_tenants_under_identical_scope_are_isolated<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<String>().await?;
    let ctx = ctx();
    let acme = Namespace::new(t("acme")).with_scope("session-42");
    let beta = Namespace::new(t("beta")).with_scope("session-42");
    store
        .put(&ctx, &acme, "msg", "acme private".to_owned())
        .await?;
    store
        .put(&ctx, &beta, "msg", "beta private".to_owned())
        .await?;
    assert_eq!(
        store.get(&ctx, &acme, "msg").await?.as_deref(),
        Some("acme private"),
    );
    assert_eq!(
        store.get(&ctx, &beta, "msg").await?.as_deref(),
        Some("beta private"),
    );
    let leaked = store
        .get(&ctx, &beta, "non-existent-in-beta-but-present-in-acme")
        .await?;
    assert!(leaked.is_none());
    assert_eq!(store.list(&ctx, &acme, None).await?, vec!["msg"]);
    assert_eq!(store.list(&ctx, &beta, None).await?, vec!["msg"]);
    store.delete(&ctx, &acme, "msg").await?;
    assert!(store.get(&ctx, &acme, "msg").await?.is_none());
    assert_eq!(
        store.get(&ctx, &beta, "msg").await?.as_deref(),
        Some("beta private"),
        "delete on tenant A must not touch tenant B",
    );
    Ok(())
}

/// entelix's `namespace_collision.rs`: `t:1`/`a:b` and `t`/`1:a:b` are two
/// namespaces, and neither lists under the other's tenant.
pub async fn colon_bearing_segments_are_isolated_by_escaping<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<String>().await?;
    let ctx = ctx();
    let a = Namespace::new(t("t:1")).with_scope("a:b");
    let b = Namespace::new(t("t")).with_scope("1:a:b");
    assert_ne!(a.render(), b.render());
    store.put(&ctx, &a, "k", "from-a".to_owned()).await?;
    store.put(&ctx, &b, "k", "from-b".to_owned()).await?;
    assert_eq!(store.get(&ctx, &a, "k").await?.as_deref(), Some("from-a"));
    assert_eq!(store.get(&ctx, &b, "k").await?.as_deref(), Some("from-b"));
    let under_t = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("t")))
        .await?;
    assert_eq!(under_t, vec![b]);
    let under_t1 = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("t:1")))
        .await?;
    assert_eq!(under_t1, vec![a]);
    Ok(())
}
