//! Ported: entelix-memory 0.6.1 store.rs `mod tests`.

use super::*;

#[tokio::test]
async fn put_then_get_round_trips() {
    let store: SkipStore<String> = SkipStore::new();
    store.put(&ctx(), &ns(), "k", "v".into()).await.unwrap();
    let got = store.get(&ctx(), &ns(), "k").await.unwrap();
    assert_eq!(got.as_deref(), Some("v"));
}

#[tokio::test]
async fn ttl_expires_on_get() {
    let (clock, store) = manual::<String>();
    store
        .put_with_options(&ctx(), &ns(), "k", "v".into(), ttl(ms(20)))
        .await
        .unwrap();
    assert!(store.get(&ctx(), &ns(), "k").await.unwrap().is_some());
    clock.advance(ms(20) - Duration::from_nanos(1));
    assert!(
        store.get(&ctx(), &ns(), "k").await.unwrap().is_some(),
        "live until the last nanosecond"
    );
    clock.advance(Duration::from_nanos(1));
    // Expired: get returns None although no sweep has run.
    assert!(store.get(&ctx(), &ns(), "k").await.unwrap().is_none());
    assert_eq!(store.total_entries(), 1);
}

#[tokio::test]
async fn evict_expired_returns_count_and_drops_rows() {
    let (clock, store) = manual::<String>();
    store
        .put_with_options(&ctx(), &ns(), "doomed", "v".into(), ttl(ms(10)))
        .await
        .unwrap();
    store.put(&ctx(), &ns(), "alive", "v".into()).await.unwrap();
    clock.advance(ms(30));
    let removed = store.evict_expired(&ctx()).await.unwrap();
    assert_eq!(removed, 1);
    assert_eq!(store.total_entries(), 1);
}

#[tokio::test]
async fn list_namespaces_finds_subscopes_under_prefix() {
    let store: SkipStore<String> = SkipStore::new();
    let ns_a = Namespace::new(t("acme")).with_scope("agent-a");
    let ns_b = Namespace::new(t("acme"))
        .with_scope("agent-a")
        .with_scope("conv-1");
    let ns_other = Namespace::new(t("acme")).with_scope("agent-b");
    store.put(&ctx(), &ns_a, "k", "v".into()).await.unwrap();
    store.put(&ctx(), &ns_b, "k", "v".into()).await.unwrap();
    store.put(&ctx(), &ns_other, "k", "v".into()).await.unwrap();
    let prefix = NamespacePrefix::new(t("acme")).with_scope("agent-a");
    let found = store.list_namespaces(&ctx(), &prefix).await.unwrap();
    // Sorted by rendered form, structurally equal to the originals.
    assert_eq!(found, vec![ns_a, ns_b]);
}

#[tokio::test]
async fn list_namespaces_recovers_escaped_segments() {
    let store: SkipStore<String> = SkipStore::new();
    let ns_colon = Namespace::new(t("acme"))
        .with_scope("agent-a")
        .with_scope("k8s:pod:foo");
    let ns_backslash = Namespace::new(t("acme"))
        .with_scope("agent-a")
        .with_scope("c:\\dir\\");
    store.put(&ctx(), &ns_colon, "k", "v".into()).await.unwrap();
    store
        .put(&ctx(), &ns_backslash, "k", "v".into())
        .await
        .unwrap();
    let prefix = NamespacePrefix::new(t("acme")).with_scope("agent-a");
    let found = store.list_namespaces(&ctx(), &prefix).await.unwrap();
    let mut expected = vec![ns_colon, ns_backslash];
    expected.sort_by_key(Namespace::render);
    assert_eq!(found, expected);
}

#[tokio::test]
async fn delete_then_get_returns_none() {
    let store: SkipStore<String> = SkipStore::new();
    store.put(&ctx(), &ns(), "k", "v".into()).await.unwrap();
    store.delete(&ctx(), &ns(), "k").await.unwrap();
    assert!(store.get(&ctx(), &ns(), "k").await.unwrap().is_none());
    assert_eq!(store.total_entries(), 0);
}
